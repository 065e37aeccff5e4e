#!/bin/bash
# Before/after runs for BENCHMARKS.md "Payloads written once": for each point, a fresh release
# relay (default config: one shard per core) on loopback and one loadgen run against it, the
# builds alternating per point so load drifts hit both alike. Prints one line per run.
# Usage: scripts/bench-payload.sh NAME=DIR [NAME=DIR ...]   (DIR holds srtrelay and loadgen)
# Points: POINTS (subscribers:burst, at 5 Mbit/s), 2 s warm-up, DURATION s measured (8),
# ROUNDS rounds (1). RELAY_EXTRA is appended to the relay's config, LOADGEN_EXTRA to loadgen's
# arguments (e.g. an [[encryption]] rule and --sub-passphrase).
set -u
OUT="${OUT:-/tmp/srtrelay-payload}"
mkdir -p "$OUT"
cd "$OUT"
cat > relay.toml <<'T'
[srt]
listen = ["127.0.0.1:29999"]
[http]
enabled = false
[log]
level = "warn"
T
printf '%s\n' "${RELAY_EXTRA:-}" >> relay.toml
echo "build subs burst delivery_pct relay_us_per_pkt relay_cpu_pct rss_start_mb peak_rss_mb transit_p99_ms"
for round in $(seq "${ROUNDS:-1}"); do
for point in ${POINTS:-200:1 200:16 1000:1 1000:16}; do
  n=${point%%:*}; burst=${point##*:}
  for build in "$@"; do
    name=${build%%=*}; dir=${build#*=}
    "$dir"/srtrelay -c relay.toml > "relay-$name.log" 2>&1 &
    pid=$!
    sleep 0.5
    json="run-$name-$n-$burst-$round.json"
    timeout 180 "$dir"/loadgen --target 127.0.0.1:29999 --subs "$n" --bitrate 5 --burst "$burst" \
      --duration "${DURATION:-8}" --warmup 2 --relay-pid "$pid" --progress 0 ${LOADGEN_EXTRA:-} --json > "$json" 2> "${json%.json}.err"
    kill "$pid"; wait "$pid" 2>/dev/null
    python3 - "$json" "$name" "$n" "$burst" <<'P'
import json, sys
j = json.load(open(sys.argv[1])); r = j["relay"]; s = j["subscribers"]
print(sys.argv[2], sys.argv[3], sys.argv[4], "%.2f" % s["delivery_pct"],
      "%.2f" % (r["cpu_us_per_delivered_pkt"] or float("nan")), "%.1f" % r["cpu_pct"],
      "%.1f" % (r["rss_kb_start"] / 1024), "%.1f" % (r["peak_rss_kb"] / 1024),
      "%.2f" % (j["transit"]["p99_us"] / 1000))
P
  done
done
done
