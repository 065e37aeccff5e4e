#!/usr/bin/env bash
# Cluster benchmark (issue 15), side by side in one run on one machine: PLAYERS SRT players of
# one stream on a single relay, against the same players on an edge that pulls the stream from
# the origin the publisher feeds (etcd directory, one pull), and on an edge of a second tier
# (origin -> edge -> edge, `upstream_nodes`). Only ratios within a run mean
# anything here: absolute figures move ~30 % between runs on this box.
#
#   scripts/bench-cluster.sh [OUT_DIR]    (default /tmp/bench-cluster; writes OUT_DIR/run-<UTC>/)
#
# Points, alternating within each round so drifting load hits both alike:
#   single : loadgen --target A (publisher and players on A)
#   edge   : loadgen --target A --sub-target B (publisher on A, players on B, B pulls from A)
#   chain  : loadgen --target A --sub-target C (players on C, which has upstream_nodes = ["B"]:
#            C pulls from B, B from A)
# Per point: delivery, end-to-end delay p50/p99 of loadgen's stamped payloads in ms (publisher
# to player, through one, two or three relays), relay CPU seconds of A, B and C from /proc over
# the whole loadgen run (connect, warm-up, drain included), and A+B+C CPU microseconds per
# delivered packet.
#
# Knobs: ROUNDS=2 PLAYERS=200 DURATION=15 WARMUP=3 MBPS=2 LEASE_MS=2000
#        LOADGEN / RELAY (default target/release/...)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-/tmp/bench-cluster}")
rounds=${ROUNDS:-2}
players=${PLAYERS:-200}
duration=${DURATION:-15}
warmup=${WARMUP:-3}
mbps=${MBPS:-2}
lease_ms=${LEASE_MS:-2000}
loadgen=${LOADGEN:-$root/target/release/loadgen}
relay=${RELAY:-$root/target/release/srtrelay}
out=$out/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
work=$(mktemp -d /tmp/bench-cluster.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -n "${LOADGEN:-}" ] || (cd "$root" && cargo build --release -p loadgen --bin loadgen)
[ -n "${RELAY:-}" ] || (cd "$root" && cargo build --release -p srtrelay --bin srtrelay)
command -v etcd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2

etcd --name b --data-dir "$work/etcd" --log-level warn \
  --listen-client-urls http://127.0.0.1:23791 --advertise-client-urls http://127.0.0.1:23791 \
  --listen-peer-urls http://127.0.0.1:23801 --initial-advertise-peer-urls http://127.0.0.1:23801 \
  --initial-cluster b=http://127.0.0.1:23801 >"$work/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS -X POST http://127.0.0.1:23791/v3/kv/range -d '{"key":"AA=="}' >/dev/null 2>&1 && break
  sleep 0.1
done

# node NAME SRT_PORT HTTP_PORT [UPSTREAM_NODES]: starts a relay, prints its pid.
node() {
  cat >"$work/$1.toml" <<TOML
[srt]
listen = ["127.0.0.1:$2"]
[http]
listen = "127.0.0.1:$3"
[playback]
enabled = false
[rtmp]
enabled = false
[streams]
publisher_grace_ms = 30000
unknown_stream_wait_ms = 30000
[limits]
max_connections = 20000
[cluster]
enabled = true
node_id = "$1"
advertise = "127.0.0.1:$2"
etcd = ["http://127.0.0.1:23791"]
prefix = "/bench-$$"
lease_ttl_ms = $lease_ms
upstream_nodes = [${4:-}]
TOML
  "$relay" --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  echo $!
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

a=$(node a 19801 19811); pids+=("$a")
b=$(node b 19802 19812); pids+=("$b")
c=$(node c 19803 19813 '"b"'); pids+=("$c")
sleep 1
summary=$out/summary.txt
printf '%-6s %-5s %8s %8s %8s %9s %9s %9s %12s %10s\n' point round deliv% e2e_p50 e2e_p99 cpuA_s cpuB_s cpuC_s us_per_pkt delivered >"$summary"
for r in $(seq "$rounds"); do
  for point in single edge chain; do
    extra=()
    [ "$point" = edge ] && extra=(--sub-target 127.0.0.1:19802)
    [ "$point" = chain ] && extra=(--sub-target 127.0.0.1:19803)
    a0=$(cpu_ticks "$a"); b0=$(cpu_ticks "$b"); c0=$(cpu_ticks "$c")
    "$loadgen" --target 127.0.0.1:19801 "${extra[@]}" --streams 1 --subscribers "$players" \
      --bitrate "$mbps" --duration "$duration" --warmup "$warmup" --stream-name "bench/$point$r" \
      --json >"$out/$point-$r.json" 2>"$out/$point-$r.log" || true
    a1=$(cpu_ticks "$a"); b1=$(cpu_ticks "$b"); c1=$(cpu_ticks "$c")
    python3 - "$out/$point-$r.json" "$point" "$r" "$(( a1 - a0 ))" "$(( b1 - b0 ))" "$(( c1 - c0 ))" "$hz" >>"$summary" <<'PY'
import json, sys
path, point, rnd, ca, cb, cc, hz = sys.argv[1:]
try:
    j = json.load(open(path))
except Exception as e:
    print(f"{point:<6} {rnd:<5} loadgen failed: {e}"); sys.exit()
sub = j.get("subscribers", {}); e2e = j.get("end_to_end", {})
d = sub.get("delivery_pct"); n = sub.get("delivered") or 0
p50 = e2e.get("p50_us"); p99 = e2e.get("p99_us")
f = lambda v: "-" if v is None else f"{v:.2f}"
ms = lambda v: "-" if v is None else f"{v / 1000:.1f}"
a, b, c = int(ca) / int(hz), int(cb) / int(hz), int(cc) / int(hz)
per = lambda c: "-" if not n else f"{c * 1e6 / n:.2f}"
print(f"{point:<6} {rnd:<5} {f(d):>8} {ms(p50):>8} {ms(p99):>8} {a:>9.2f} {b:>9.2f} {c:>9.2f} {per(a + b + c):>12} {n:>10}")
PY
  done
done
cat "$summary"
echo "runs and logs in $out"
