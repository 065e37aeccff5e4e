#!/usr/bin/env bash
# srtrelay against SLS (srt-live-server 1.4.9) in one run, with the libsrt-based lab harness
# (srtload + run.py), so both relays see the same machine load: the only comparison that holds
# on a noisy box is a ratio measured side by side.
#
#   scripts/bench-sls.sh OUT [DURATION [DURATION_1000]]    (seconds measured per point, 15 and 15)
#
# Points, in this order, all 5 Mbit/s per-packet CBR with identical harness options:
#   srtrelay n=200, SLS n=200   -> issue: relay CPU per delivered packet <= 0.40 x SLS, 100 % delivery
#   srtrelay n=1000             -> issue: 100 % delivery, transit p99 <= 5 ms
#   SLS n=300                   -> reference only (SLS breaks at ~300 subscribers)
# Each RESULT line is appended to OUT (after a '#' line naming the run); relay logs go to OUT.logs/.
# Then a table of srtrelay/SLS ratios is printed.
#
# Needs the lab laid out by the harness's own setup script (LAB, default /work/lab):
#   /work/shared/lab/setup.sh "$LAB" SLS_CHECKOUT      (SLS_CHECKOUT: Edward-Wu/srt-live-server)
# run.py pins each relay to CPU 1 and srtload to CPU 0 (RELAY_CPUS / HARNESS_CPUS change that).
# srtrelay's cores = "all" follows its affinity mask, so pinned it runs one shard, as SLS runs
# one worker thread. Extra run.py options for every point (e.g. "--rx-threads 2") go in RUN_OPTS.
# Ports: srtrelay 127.0.0.1:9999 (HTTP API off), SLS 9001, harness 39999 and 40000..40999.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:?usage: bench-sls.sh OUT [DURATION [DURATION_1000]]}")
dur=${2:-15}
dur_1000=${3:-$dur}
lab=${LAB:-/work/lab}
run_py=$lab/harness/run.py
sls=$lab/peers/srt-live-server/bin/sls
sls_conf=$lab/peers/sls.conf

for f in "$run_py" "$lab/harness/srtload" "$sls" "$sls_conf"; do
  [ -e "$f" ] || { echo "bench-sls: $f missing: lab not set up; run /work/shared/lab/setup.sh $lab SLS_CHECKOUT" >&2; exit 1; }
done
# SLS refuses worker_connections above 1024 and then serves nobody.
wconn=$(awk '$1 == "worker_connections" {gsub(";", "", $2); print $2}' "$sls_conf")
[ "${wconn:-0}" -le 1024 ] || { echo "bench-sls: $sls_conf: worker_connections $wconn > 1024, SLS will refuse it" >&2; exit 1; }

relay=$root/target/release/srtrelay
[ -x "$relay" ] || (cd "$root" && cargo build --release --bin srtrelay)

# srtload asks for 32 MB socket buffers; the kernel silently caps them at these sysctls, which
# would make the publisher leg drop under load. Raise them when we may, else say so.
for k in net.core.rmem_max net.core.wmem_max; do
  if [ "$(sysctl -n "$k")" -lt 33554432 ]; then
    sysctl -qw "$k=33554432" 2>/dev/null || echo "bench-sls: warning: $k < 32 MB (not root?); results may show publisher loss" >&2
  fi
done

logs=$out.logs
mkdir -p "$logs"
touch "$out"
# Loopback only and no HTTP API: nothing else on the box is disturbed, and port 9990 stays free.
cat > "$logs/srtrelay.toml" <<'T'
[srt]
listen = ["127.0.0.1:9999"]
[http]
enabled = false
[log]
level = "warn"
T

common=(--mbps 5 --relay-cpus "${RELAY_CPUS:-1}" --harness-cpus "${HARNESS_CPUS:-0}" ${RUN_OPTS:-})
start=$(wc -l < "$out")
echo "# bench-sls.sh $(date -u +%FT%TZ) srtrelay $(git -C "$root" rev-parse --short HEAD 2>/dev/null) dur=$dur dur_1000=$dur_1000 host=$(hostname) RUN_OPTS=${RUN_OPTS:-}" >> "$out"

point() { # PEER N DURATION: one run.py point; a failed point is reported and the others still run
  local peer=$1 n=$2 d=$3 args=()
  if [ "$peer" = srtrelay ]; then
    # srtrelay takes SRT access-control Stream IDs; SLS uses its pub/live/s1 and play/live/s1 (run.py's sls peer).
    args=(--relay-cmd "$relay -c $logs/srtrelay.toml" --pub-port 9999 --sub-port 9999
          --pub-sid '#!::r=live/s1,m=publish' --sub-sid '#!::r=live/s1,m=request')
  fi
  echo "== $peer n=$n ${d}s" >&2
  python3 "$run_py" --peer "$peer" "${args[@]}" -n "$n" --duration "$d" "${common[@]}" \
    --out "$out" --log "$logs/$peer-$n.log" >&2 || echo "bench-sls: $peer n=$n failed (see $logs/$peer-$n.log)" >&2
}

point srtrelay 200 "$dur"
point sls 200 "$dur"
point srtrelay 1000 "$dur_1000"
point sls 300 "$dur"

# Table from this invocation's RESULT lines only (OUT may hold earlier runs).
tail -n +"$((start + 1))" "$out" | python3 -c '
import sys
r = {}
for line in sys.stdin:
    if line.startswith("RESULT"):
        kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        r[(kv.get("peer"), kv.get("n"))] = kv
def g(peer, n, k):
    try: return float(r[(peer, n)][k])
    except (KeyError, ValueError): return float("nan")
keys = [("cpu_s_per_Mpkt", "relay CPU us/pkt"), ("ratio_min", "delivery min"), ("ratio_med", "delivery median"),
        ("rss_max_MB", "rss max MB"), ("delay_p99_ms", "delay p99 ms")]
print("%-18s %10s %10s %8s %12s %10s" % ("n=200", "srtrelay", "SLS", "ratio", "srtrelay1000", "SLS300"))
for k, name in keys:
    a, b = g("srtrelay", "200", k), g("sls", "200", k)
    print("%-18s %10.3f %10.3f %8.3f %12.3f %10.3f" % (name, a, b, a / b if b else float("nan"),
          g("srtrelay", "1000", k), g("sls", "300", k)))
for (p, n), kv in sorted(r.items()):
    if "error" in kv: print("%s n=%s: error=%s" % (p, n, kv["error"]))
c, d = g("srtrelay", "200", "cpu_s_per_Mpkt") / g("sls", "200", "cpu_s_per_Mpkt"), g("srtrelay", "1000", "delay_p99_ms")
print("issue targets: cpu ratio %.3f (<= 0.40): %s; srtrelay delivery n=200 %s, n=1000 %s, p99 %.1f ms (<= 5): %s" % (
    c, "ok" if c <= 0.40 else "NO",
    "ok" if g("srtrelay", "200", "ratio_min") >= 0.9999 else "NO",
    "ok" if g("srtrelay", "1000", "ratio_min") >= 0.9999 else "NO", d, "ok" if d <= 5 else "NO"))
print("(SLS delay includes its 120 ms TSBPD hold; srtrelay forwards on arrival, so delay is compared as is, not as a ratio target)")
'
