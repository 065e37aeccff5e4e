#!/bin/bash
# The relay fan-out table in BENCHMARKS.md: the release relay (default config: one shard per
# core) on loopback, one loadgen publisher with 16-packet bursts (a video frame), 1..500
# subscribers at 5 and 20 Mbit/s, 2 s warm-up, 8 s measured. JSON per point in $OUT.
# Build first: cargo build --release --workspace --bins
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "${OUT:-/tmp/srtrelay-sweep}"
# Relay: default config (2 shards on cores 0,1), loopback port 29999, HTTP off.
cd "${OUT:-/tmp/srtrelay-sweep}"
cat > sweep.toml <<'T'
[srt]
listen = ["127.0.0.1:29999"]
[http]
enabled = false
[log]
level = "warn"
T
"$ROOT"/target/release/srtrelay -c sweep.toml > sweep-relay.log 2>&1 &
PID=$!
sleep 0.5
for mbps in 5 20; do for n in 1 10 100 200 500; do
  echo "=== subs $n mbps $mbps"
  timeout 120 "$ROOT"/target/release/loadgen --target 127.0.0.1:29999 --subs $n --bitrate $mbps --burst 16 --duration 8 --warmup 2 --relay-pid $PID --progress 0 --json > run-$n-$mbps.json 2> run-$n-$mbps.err
  echo rc $?
done; done
kill $PID
