#!/usr/bin/env bash
# RTMP ingest benchmark (issue 14), side by side in one run on one machine. Only ratios from the
# same run mean anything here: absolute figures move ~30 % between runs on this box.
#
#   scripts/bench-rtmp.sh [OUT_DIR]    (default /tmp/bench-rtmp; writes OUT_DIR/run-<UTC>/)
#
# Points, in this order within each round, so drifting load hits every side alike:
#   fanout rtmp  : ffmpeg -re -stream_loop -1 -i SRC -c copy -f flv rtmp://relay/live/cam1,
#                  PLAYERS SRT players (loadgen, --sub-streamid '#!::r=live/cam1,m=request')
#   fanout srt   : the same with ffmpeg ... -f mpegts srt://relay?streamid=#!::r=live/cam1,m=publish
#   ingest rtmp  : the RTMP publish alone, no players: relay CPU per Mbit/s of input
#   ingest srt   : the SRT publish alone
#   ingest idle  : the relay with no publisher: its baseline (timers, ticks)
#   ingest nginx : the same RTMP publish into nginx-rtmp (Debian libnginx-mod-rtmp, no players,
#                  no recording): its CPU per Mbit/s
# loadgen's own publisher runs too (its stream has no players, 0.1 Mbit/s): the same cost on
# both fan-out sides. Its subscribers count the relay's payloads as "foreign" (they carry no
# loadgen stamp): that count is the delivered packets. Relay CPU from /proc over loadgen's
# window (fan-out) or over DURATION (ingest).
#
# Knobs: ROUNDS=3 PLAYERS=200 DURATION=20 WARMUP=5 MBPS=5 SRC=FILE RTMP_PORT=11935
#        SRT_PORT=19998 NGINX_RTMP_PORT=11936 LOADGEN / RELAY (default target/release/...)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-/tmp/bench-rtmp}")
rounds=${ROUNDS:-3}
players=${PLAYERS:-200}
duration=${DURATION:-20}
warmup=${WARMUP:-5}
mbps=${MBPS:-5}
rtmp_port=${RTMP_PORT:-11935}
srt_port=${SRT_PORT:-19998}
nginx_port=${NGINX_RTMP_PORT:-11936}
loadgen=${LOADGEN:-$root/target/release/loadgen}
relay=${RELAY:-$root/target/release/srtrelay}
mkdir -p "$out"
srcdir=$out
out=$out/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
work=$(mktemp -d /tmp/bench-rtmp.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
stop() { local p; for p in "$@"; do kill "$p" 2>/dev/null || true; done; for p in "$@"; do wait "$p" 2>/dev/null || true; done; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# Always built (a no-op when fresh): a stale binary from before [rtmp] refuses the config.
[ -n "${LOADGEN:-}" ] || (cd "$root" && cargo build --release -p loadgen --bin loadgen)
[ -n "${RELAY:-}" ] || (cd "$root" && cargo build --release -p srtrelay --bin srtrelay)
if [ ! -e /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-rtmp >&2
  else
    echo "bench-rtmp: nginx-rtmp missing (apt-get install libnginx-mod-rtmp)" >&2; exit 1
  fi
fi

src=${SRC:-$srcdir/src-${mbps}M.ts}
if [ ! -s "$src" ]; then
  kbit=$(( mbps * 1000 ))
  echo "== making the source: 30 s, 720p30 H.264 CBR ${mbps} Mbit/s, GOP 2 s, AAC" >&2
  ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=1000:sample_rate=48000" \
    -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
    -b:v "${kbit}k" -minrate "${kbit}k" -maxrate "${kbit}k" -bufsize "${kbit}k" -x264-params nal-hrd=cbr \
    -c:a aac -b:a 128k -f mpegts "$src"
fi
src_secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
src_mbps=$(python3 -c "import os; print('%.2f' % (os.path.getsize('$src') * 8 / float('$src_secs') / 1e6))")

cpu_of() { local s=0 p; for p in "$@"; do s=$(( s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$s"; }
ticks=$(getconf CLK_TCK)

# Waits until nothing holds UDP $srt_port or TCP $rtmp_port (the last point's relay): a relay
# that finds its port taken refuses to start, and a point would measure nothing.
ports_free() {
  local end=$(( $(date +%s) + 15 ))
  while ss -Huanl "sport = :$srt_port" | grep -q . || ss -Htanl "sport = :$rtmp_port" | grep -q .; do
    if (( $(date +%s) >= end )); then
      echo "bench-rtmp: ports $srt_port/$rtmp_port still taken:" >&2; ss -uanp "sport = :$srt_port" >&2; exit 1
    fi
    sleep 0.2
  done
}

start_relay() { # LOG
  ports_free
  cat > "$work/relay.toml" <<C
[srt]
listen = ["127.0.0.1:$srt_port"]
[http]
enabled = false
[playback]
enabled = false
[rtmp]
listen = "127.0.0.1:$rtmp_port"
[log]
level = "warn"
C
  "$relay" --config "$work/relay.toml" 2> "$1" &
  relay_pid=$!; pids+=("$relay_pid")
  local end=$(( $(date +%s) + 15 ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$rtmp_port") 2>/dev/null; do
    (( $(date +%s) < end )) || { echo "bench-rtmp: relay did not start" >&2; exit 1; }
    sleep 0.1
  done
}

publish() { # rtmp|srt|nginx LOG
  local url fmt
  case $1 in
    rtmp) url=rtmp://127.0.0.1:$rtmp_port/live/cam1; fmt=flv ;;
    nginx) url=rtmp://127.0.0.1:$nginx_port/live/cam1; fmt=flv ;;
    srt) url="srt://127.0.0.1:$srt_port?streamid=#!::r=live/cam1,m=publish&pkt_size=1316"; fmt=mpegts ;;
  esac
  ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$src" -c copy -f "$fmt" "$url" 2> "$2" &
  pub_pid=$!; pids+=("$pub_pid")
}

results=$out/results.tsv
: > "$results"

fanout_point() { # ROUND rtmp|srt
  local r=$1 how=$2 name=fanout-$2-r$1
  start_relay "$out/$name-relay.log"
  publish "$how" "$out/$name-ffmpeg.log"
  sleep 3
  "$loadgen" --target "127.0.0.1:$srt_port" --subs "$players" --bitrate 0.1 \
    --sub-streamid '#!::r=live/cam1,m=request' --duration "$duration" --warmup "$warmup" \
    --latency 200 --relay-pid "$relay_pid" --json > "$out/$name.json" 2> "$out/$name.err" || true
  python3 - "$out/$name.json" "$how" "$r" >> "$results" <<'P'
import json, sys
j = json.load(open(sys.argv[1]))
s, rel = j["subscribers"], j["relay"] or {}
pkts = s["foreign"]
us = rel.get("cpu_s", 0) * 1e6 / pkts if pkts else float("nan")
print(f"fanout\t{sys.argv[2]}\t{sys.argv[3]}\t{s['connected']}\t{pkts}\t{rel.get('cpu_s', 0):.2f}\t{us:.3f}\t{s.get('retransmissions', 0)}")
P
  stop "$pub_pid" "$relay_pid"
}

ingest_point() { # ROUND rtmp|srt|nginx
  local r=$1 how=$2 name=ingest-$2-r$1 target
  if [ "$how" = idle ]; then
    start_relay "$out/$name-relay.log"
    target=$relay_pid
  elif [ "$how" = nginx ]; then
    mkdir -p "$work/nginx"
    cat > "$work/nginx/nginx.conf" <<C
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $out/$name-nginx.log warn;
events { worker_connections 1024; }
rtmp { server { listen 127.0.0.1:$nginx_port; application live { live on; record off; } } }
C
    nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
    target=$!; pids+=("$target")
    sleep 1
  else
    start_relay "$out/$name-relay.log"
    target=$relay_pid
  fi
  [ "$how" = idle ] || publish "$how" "$out/$name-ffmpeg.log"
  sleep "$warmup"
  local all=$target
  [ "$how" = nginx ] && all="$target $(pgrep -P "$target" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  local c0; c0=$(cpu_of $all); local t0; t0=$(date +%s%N)
  sleep "$duration"
  # shellcheck disable=SC2086
  local c1; c1=$(cpu_of $all); local t1; t1=$(date +%s%N)
  python3 - "$how" "$r" "$c0" "$c1" "$t0" "$t1" "$ticks" "$src_mbps" >> "$results" <<'P'
import sys
how, r, c0, c1, t0, t1, tk, mb = sys.argv[1:]
cpu = (int(c1) - int(c0)) / int(tk)
wall = (int(t1) - int(t0)) / 1e9
pct = cpu * 100 / wall
print(f"ingest\t{how}\t{r}\t-\t-\t{cpu:.2f}\t{pct / float(mb):.3f}")
P
  if [ "$how" = idle ]; then stop "$target"; else stop "$pub_pid" "$target"; fi
}

for r in $(seq 1 "$rounds"); do
  for how in rtmp srt; do fanout_point "$r" "$how"; done
  for how in idle rtmp srt nginx; do ingest_point "$r" "$how"; done
done

python3 - "$results" "$players" "$src_mbps" <<'P' | tee "$out/table.md"
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
def med(kind, how):
    v = [float(r[6]) for r in rows if r[0] == kind and r[1] == how]
    return st.median(v) if v else float("nan"), v
print(f"source {sys.argv[3]} Mbit/s; fan-out to {sys.argv[2]} SRT players; medians over rounds\n")
print("| point | per round | median |")
print("|---|---|---|")
for kind, how, unit in [("fanout", "rtmp", "us/delivered pkt"), ("fanout", "srt", "us/delivered pkt"),
                        ("ingest", "rtmp", "% core per Mbit/s"), ("ingest", "srt", "% core per Mbit/s"),
                        ("ingest", "nginx", "% core per Mbit/s"), ("ingest", "idle", "% core per source Mbit/s, no publisher")]:
    m, v = med(kind, how)
    print(f"| {kind} {how} ({unit}) | {', '.join('%.3f' % x for x in v)} | {m:.3f} |")
fr, fs = med("fanout", "rtmp")[0], med("fanout", "srt")[0]
ir, is_, ing = med("ingest", "rtmp")[0], med("ingest", "srt")[0], med("ingest", "nginx")[0]
idle = med("ingest", "idle")[0]
print(f"\nfan-out RTMP/SRT: {fr / fs:.2f}x; ingest RTMP/SRT: {ir / is_:.2f}x; ingest srtrelay/nginx-rtmp: {ir / ing:.2f}x")
print(f"above the idle relay: ingest RTMP/SRT {(ir - idle) / (is_ - idle):.2f}x; srtrelay/nginx-rtmp {(ir - idle) / ing:.2f}x")
rx = {h: [int(r[7]) for r in rows if r[0] == "fanout" and r[1] == h and len(r) > 7] for h in ("rtmp", "srt")}
print(f"retransmissions the players received per round: rtmp {rx['rtmp']}, srt {rx['srt']}")
P
