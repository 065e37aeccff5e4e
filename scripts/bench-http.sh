#!/usr/bin/env bash
# HTTP playback side by side (issue 13), in one run on one machine: the usual HLS pipeline
# (ffmpeg segmenting into a tmpfs directory, nginx serving it with sendfile) against srtrelay's
# own playback listener (HTTP-TS and HLS from the SRT stream ffmpeg publishes), with
# `loadgen http` as the players. Only ratios from the same run mean anything here: absolute
# figures move ~30 % between runs on this box.
#
#   scripts/bench-http.sh [OUT_DIR]     (default /tmp/bench-http; each invocation writes into
#                                        OUT_DIR/run-<UTC time>/: table.md, every report as
#                                        NAME.json, logs; the source file is kept in OUT_DIR)
#
# Points, in this order within each round, so drifting load hits both sides alike:
#   for N in PLAYERS: nginx hls N, relay hls N, relay ts N
# The source is one 5 Mbit/s H.264 + AAC MPEG-TS file (made once with ffmpeg from its test
# pattern, CBR with filler so it really is 5 Mbit/s, a keyframe every 2 s), looped with -re and
# -c copy by both pipelines, so both serve the same bytes at the same pace and ffmpeg does no
# encoding while we measure:
#   nginx side: ffmpeg -re -stream_loop -1 -i SRC -c copy -f hls -hls_time 2 -hls_list_size 6
#               -hls_flags delete_segments+program_date_time+independent_segments into tmpfs,
#               nginx (sendfile on, access log off) on 127.0.0.1:NGINX_PORT.
#   relay side: target/release/srtrelay --config CFG with [playback] listen =
#               "127.0.0.1:PLAYBACK_PORT"; ffmpeg -re ... -f mpegts
#               'srt://127.0.0.1:SRT_PORT?streamid=#!::r=live/cam1,m=publish'; players on
#               /live/cam1.ts (HTTP-TS) and /live/cam1/index.m3u8 (HLS).
# ffmpeg's hls muxer (5.1) writes no LL-HLS parts (no EXT-X-PART, no blocking reload), so the
# baseline is plain HLS only. nginx serving a growing .ts file is not a fair HTTP-TS baseline
# (it ends at the file's current size, no live edge, no keyframe start), so HTTP-TS is
# compared with the relay's own SRT path (loadgen's SRT mode, same stream rate) instead.
#
# Knobs (environment):
#   ROUNDS=1            repetitions of the whole point list
#   PLAYERS="100 1000"  player counts
#   SIDES="nginx relay" which sides run (the relay side needs the playback listener)
#   RELAY_MODES="hls ts srt"  relay points per player count; srt = loadgen's own SRT publisher
#                       (a second stream at the source's rate) and N SRT subscribers: the SRT
#                       path the HTTP-TS is compared with
#   DURATION=15 WARMUP=5  measured and warm-up seconds per point
#   MBPS=5              source bitrate (video; AAC 128 kbit/s on top)
#   SRC=FILE            use this TS file instead of making one (then MBPS only labels it)
#   HLS_TIME=2 HLS_LIST=6  ffmpeg's segment length and playlist size
#   NGINX_PORT=18080 PLAYBACK_PORT=18081 SRT_PORT=19999  loopback ports
#   LOADGEN_THREADS=1   loadgen event-loop threads; LOADGEN_CPUS="" pins them (e.g. "1")
#   CONNECT_RATE        players started per second [default: N / HLS_TIME, so the players'
#                       playlist polls are spread over a segment's length as real viewers'
#                       are; started within one instant they would all poll in phase and the
#                       live-edge latency would depend on where that instant fell]
#   RELAY_CONFIG_EXTRA  appended to the relay's config (e.g. a [playback] HLS setting)
#   LOADGEN_EXTRA       appended to every loadgen http command (e.g. "--read-rate 100000
#                       --slow-fraction 0.1": a tenth of the players read at 0.8 Mbit/s)
#   LOADGEN / RELAY     binaries (default target/release/{loadgen,srtrelay}, built if missing)
# Ports are 127.0.0.1 only; nothing but what this script starts is touched, and everything it
# started is stopped on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-/tmp/bench-http}")
rounds=${ROUNDS:-1}
players_list=${PLAYERS:-100 1000}
sides=${SIDES:-nginx relay}
relay_modes=${RELAY_MODES:-hls ts srt}
duration=${DURATION:-15}
warmup=${WARMUP:-5}
mbps=${MBPS:-5}
hls_time=${HLS_TIME:-2}
hls_list=${HLS_LIST:-6}
nginx_port=${NGINX_PORT:-18080}
playback_port=${PLAYBACK_PORT:-18081}
srt_port=${SRT_PORT:-19999}
threads=${LOADGEN_THREADS:-1}
loadgen=${LOADGEN:-$root/target/release/loadgen}
relay=${RELAY:-$root/target/release/srtrelay}

mkdir -p "$out"
srcdir=$out
out=$out/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
# Segments live in tmpfs, so the baseline's disk is not what is measured.
shm=$(mktemp -d /dev/shm/bench-http.XXXXXX)
# nginx workers run as www-data: they must be able to read it.
chmod 755 "$shm"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$shm"
}
trap cleanup EXIT
stop() { # PID...: stop what we started, by id
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# 1000 players are 1000 sockets in loadgen and in the server.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

[ -x "$loadgen" ] || (cd "$root" && cargo build --release -p loadgen --bin loadgen)
if [[ " $sides " == *" nginx "* ]] && ! command -v nginx >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2
  else
    echo "bench-http: nginx missing (apt-get install nginx)" >&2; exit 1
  fi
fi
if [[ " $sides " == *" relay "* ]] && [ ! -x "$relay" ]; then
  (cd "$root" && cargo build --release --bin srtrelay)
fi

# Deadline-bounded wait: CMD succeeds within SECS or we fail with MSG.
wait_for() { # SECS MSG CMD...
  local secs=$1 msg=$2; shift 2
  local end=$(( $(date +%s%N) + secs * 1000000000 ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s%N) > end )); then echo "bench-http: $msg" >&2; return 1; fi
    sleep 0.1
  done
}

src=${SRC:-$srcdir/src-${mbps}M.ts}
if [ ! -s "$src" ]; then
  echo "== making the source: 30 s, 720p30 H.264 CBR ${mbps} Mbit/s, GOP 2 s, AAC" >&2
  kbit=$(python3 -c "print(int(float('$mbps') * 1000))")
  ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=frequency=1000:sample_rate=48000" \
    -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
    -b:v "${kbit}k" -minrate "${kbit}k" -maxrate "${kbit}k" -bufsize "${kbit}k" -x264-params nal-hrd=cbr \
    -c:a aac -b:a 128k -muxrate "$(( kbit * 1000 + 300000 ))" -f mpegts "$src"
fi
src_secs=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$src")
src_mbps=$(python3 -c "import os; print('%.2f' % (os.path.getsize('$src') * 8 / float('$src_secs') / 1e6))")

# /proc/PID/stat utime+stime in seconds, summed over PIDs.
cpu_of() { local s=0 p; for p in "$@"; do s=$(( s + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) )); done; echo "$s"; }

run_loadgen() { # NAME URL MODE N PIDS(comma) [extra...]
  local name=$1 url=$2 mode=$3 n=$4 rpids=$5; shift 5
  local json=$out/$name.json cpus=() connect_rate=${CONNECT_RATE:-}
  [ -n "$connect_rate" ] || connect_rate=$(python3 -c "print(max(1.0, $n / float('$hls_time')))")
  [ -n "${LOADGEN_CPUS:-}" ] && cpus=(--cpus "$LOADGEN_CPUS")
  echo "== $name: loadgen http --mode $mode --players $n" >&2
  "$loadgen" http --url "$url" --mode "$mode" --players "$n" --duration "$duration" \
    --warmup "$warmup" --connect-rate "$connect_rate" --threads "$threads" "${cpus[@]}" \
    --bitrate "$src_mbps" --relay-pid "$rpids" --progress 5 --json ${LOADGEN_EXTRA:-} "$@" > "$json" 2> "$out/$name.err" \
    || echo "bench-http: $name: loadgen exit $? (see $out/$name.err)" >&2
}

nginx_point() { # ROUND N
  local round=$1 n=$2 www=$shm/www dir=$shm/nginx
  rm -rf "$www" "$dir"; mkdir -p "$www/live/cam1" "$dir"
  ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$src" -c copy -f hls \
    -hls_time "$hls_time" -hls_list_size "$hls_list" \
    -hls_flags delete_segments+program_date_time+independent_segments \
    -hls_segment_filename "$www/live/cam1/seg%06d.ts" "$www/live/cam1/index.m3u8" \
    2> "$out/ffmpeg-hls-$n-$round.log" &
  local ff=$!; pids+=("$ff")
  cat > "$dir/nginx.conf" <<C
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $www;
    location ~ \.m3u8\$ { add_header Cache-Control no-cache; }
  }
}
C
  nginx -c "$dir/nginx.conf" -p "$dir" 2> "$out/nginx-$n-$round.log" &
  local ng=$!; pids+=("$ng")
  local url=http://127.0.0.1:$nginx_port/live/cam1/index.m3u8
  # Three segments listed before the players come, as a player would find a running stream.
  wait_for 30 "ffmpeg+nginx: no playlist with 3 segments (see $out/ffmpeg-hls-$n-$round.log)" \
    bash -c "[ \$(curl -fsS '$url' | grep -c '^seg') -ge 3 ]" || { stop "$ng" "$ff"; return; }
  local workers
  workers=$(pgrep -d, -P "$ng" || true)
  local c0 t0 c1 t1
  c0=$(cpu_of "$ff"); t0=$(date +%s%N)
  run_loadgen "nginx-hls-$n-r$round" "$url" hls "$n" "$ng${workers:+,$workers}"
  c1=$(cpu_of "$ff"); t1=$(date +%s%N)
  # ffmpeg's cost does not grow with players: its share of a core over the run, kept apart.
  echo "$(( (c1 - c0) * 10000000000 / (t1 - t0) ))" > "$out/nginx-hls-$n-r$round.ffmpeg_cpu_permille"
  stop "$ng" "$ff"
}

relay_point() { # ROUND N
  local round=$1 n=$2 dir=$shm/relay
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/relay.toml" <<C
[srt]
listen = ["127.0.0.1:$srt_port"]
[http]
enabled = false
[playback]
listen = "127.0.0.1:$playback_port"
[log]
level = "warn"
C
  printf '%s\n' "${RELAY_CONFIG_EXTRA:-}" >> "$dir/relay.toml"
  "$relay" --config "$dir/relay.toml" 2> "$out/relay-$n-$round.log" &
  local rp=$!; pids+=("$rp")
  # Up when the playback port answers HTTP at all; gone if it exits first (a config it refuses).
  local end=$(( $(date +%s) + 15 ))
  until curl -s -o /dev/null "http://127.0.0.1:$playback_port/"; do
    if ! kill -0 "$rp" 2>/dev/null; then
      echo "bench-http: the relay exited at start (no [playback] listener yet?): $(tail -3 "$out/relay-$n-$round.log")" >&2
      return
    fi
    if (( $(date +%s) > end )); then
      echo "bench-http: the relay's playback port $playback_port did not answer within 15 s" >&2
      stop "$rp"; return
    fi
    sleep 0.1
  done
  ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$src" -c copy \
    -f mpegts "srt://127.0.0.1:$srt_port?streamid=#!::r=live/cam1,m=publish&pkt_size=1316" \
    2> "$out/ffmpeg-srt-$n-$round.log" &
  local ff=$!; pids+=("$ff")
  local base=http://127.0.0.1:$playback_port/live/cam1
  if ! wait_for 30 "relay: $base/index.m3u8 never had 3 segments" \
      bash -c "[ \$(curl -fsS '$base/index.m3u8' | grep -vc '^#') -ge 3 ]"; then
    stop "$ff" "$rp"; return
  fi
  local mode
  for mode in $relay_modes; do
    case $mode in
      hls) run_loadgen "relay-hls-$n-r$round" "$base/index.m3u8" hls "$n" "$rp" ;;
      ts) run_loadgen "relay-ts-$n-r$round" "$base.ts" ts "$n" "$rp" ;;
      srt)
        # loadgen's own SRT publisher (a second stream at the same rate) and N SRT players.
        echo "== relay-srt-$n-r$round: loadgen SRT, 1 publisher x $n subscribers" >&2
        "$loadgen" --target "127.0.0.1:$srt_port" --stream-name "live/srt{index}" --subs "$n" \
          --bitrate "$src_mbps" --duration "$duration" --warmup "$warmup" --relay-pid "$rp" \
          --progress 5 --json > "$out/relay-srt-$n-r$round.json" 2> "$out/relay-srt-$n-r$round.err" \
          || echo "bench-http: relay-srt-$n-r$round: loadgen exit $?" >&2 ;;
    esac
  done
  stop "$ff" "$rp"
}

knobs="ROUNDS=$rounds PLAYERS=\"$players_list\" SIDES=\"$sides\" RELAY_MODES=\"$relay_modes\" DURATION=$duration WARMUP=$warmup MBPS=$mbps HLS_TIME=$hls_time HLS_LIST=$hls_list LOADGEN_THREADS=$threads${LOADGEN_CPUS:+ LOADGEN_CPUS=$LOADGEN_CPUS}${CONNECT_RATE:+ CONNECT_RATE=$CONNECT_RATE}${LOADGEN_EXTRA:+ LOADGEN_EXTRA=\"$LOADGEN_EXTRA\"}"
echo "**Run**: $(date -u '+%F %H:%M') UTC, $(hostname), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r), srtrelay $(git -C "$root" rev-parse --short HEAD 2>/dev/null), $(nginx -v 2>&1 | sed 's/.*: //'), $(ffmpeg -version | awk 'NR==1 {print $1, $3}'); source ${src_mbps} Mbit/s (\`$(basename "$src")\`). Command: \`$knobs scripts/bench-http.sh\`" | tee "$out/run.txt" >&2
for round in $(seq "$rounds"); do
  for n in $players_list; do
    [[ " $sides " == *" nginx "* ]] && nginx_point "$round" "$n"
    [[ " $sides " == *" relay "* ]] && relay_point "$round" "$n"
  done
done

python3 - "$out" "$(cat "$out/run.txt")" <<'P' | tee "$out/table.md"
import glob, json, os, sys, statistics
out, header = sys.argv[1], sys.argv[2]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*-r*.json"))):
    name = os.path.basename(f)[:-5]
    side, mode, n, rnd = name.split("-")
    try:
        j = json.load(open(f))
    except Exception:
        continue
    if mode == "srt":
        # loadgen's SRT report, in the same columns: payloads of 1316 bytes.
        s, rl = j["subscribers"], j.get("relay") or {}
        mb = s["delivered"] * 1316 / 1e6
        j = {"players": {"delivery_pct": s["delivery_pct"], "playing_at_end": s["connected"] - s["disconnects"],
                         "http_errors": 0, "failures": {}, "disconnects": s["disconnects"] + s["failed_connects"]},
             "rates": {"total_mbps": mb * 8 / max(j["run"]["publish_s"], 1e-9),
                       "normal": {"min_bps": None, "median_bps": None}},
             "relay": {"cpu_pct": rl.get("cpu_pct"), "rss_kb_end": rl.get("rss_kb_end", 0),
                       "cpu_s_per_delivered_mb": rl["cpu_s"] / mb if mb and rl else None},
             "ttfb": {"p50_us": j["subscribers"]["connect"]["p50_us"], "p99_us": j["subscribers"]["connect"]["p99_us"]},
             "loadgen": {"cpu_pct": j["loadgen"]["cpu_pct"], "saturated": j["loadgen"]["saturated"]}}
    elif not isinstance(j.get("players"), dict):
        continue
    ff = os.path.join(out, name + ".ffmpeg_cpu_permille")
    j["_ffmpeg_pct"] = int(open(ff).read()) / 10 if os.path.exists(ff) else None
    j.setdefault("hls", None); j.setdefault("ts", None)
    rows.setdefault((side, mode, int(n)), []).append(j)
def med(js, get):
    v = [x for x in (get(j) for j in js) if x is not None]
    return statistics.median(v) if v else None
def f(v, fmt):
    return "n/a" if v is None else fmt % v
print(header)
print()
print("| side | mode | players | delivery % | playing | total Mbit/s | per player kbit/s min / median | server CPU % | server CPU ms per delivered MB | ffmpeg CPU % | server RSS MB | RSS kB per player | TTFB p50 / p99 ms | live edge p50 / p99 ms | keyframe starts | errors | loadgen CPU % |")
print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|")
for (side, mode, n), js in sorted(rows.items(), key=lambda kv: (kv[0][2], kv[0][0] != "nginx", kv[0][1])):
    r = lambda j: j.get("relay") or {}
    lat = lambda j, k: (j.get("hls") or {}).get("latency", {}).get(k)
    print("| %s | %s | %d | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s%s |" % (
        side if side == "nginx" else "srtrelay", mode, n,
        f(med(js, lambda j: j["players"]["delivery_pct"]), "%.2f"),
        f(med(js, lambda j: j["players"]["playing_at_end"]), "%d"),
        f(med(js, lambda j: j["rates"]["total_mbps"]), "%.0f"),
        f(med(js, lambda j: j["rates"]["normal"]["min_bps"] and j["rates"]["normal"]["min_bps"] * 8 / 1000), "%.0f"),
        f(med(js, lambda j: j["rates"]["normal"]["median_bps"] and j["rates"]["normal"]["median_bps"] * 8 / 1000), "%.0f"),
        f(med(js, lambda j: r(j).get("cpu_pct")), "%.1f"),
        f(med(js, lambda j: (r(j).get("cpu_s_per_delivered_mb") or 0) * 1000 or None), "%.3f"),
        f(med(js, lambda j: j["_ffmpeg_pct"]), "%.1f"),
        f(med(js, lambda j: r(j).get("rss_kb_end", 0) / 1024 or None), "%.1f"),
        f(med(js, lambda j: r(j).get("rss_kb_per_player")), "%.1f"),
        f(med(js, lambda j: j["ttfb"]["p50_us"] / 1000), "%.1f"),
        f(med(js, lambda j: j["ttfb"]["p99_us"] / 1000), "%.1f"),
        f(med(js, lambda j: lat(j, "p50_us") and lat(j, "p50_us") / 1000), "%.0f"),
        f(med(js, lambda j: lat(j, "p99_us") and lat(j, "p99_us") / 1000), "%.0f"),
        f(med(js, lambda j: (j.get("ts") or {}).get("keyframe_start_yes")), "%d"),
        f(med(js, lambda j: sum(j["players"]["failures"].values()) or j["players"]["disconnects"]), "%d"),
        f(med(js, lambda j: j["loadgen"]["cpu_pct"]), "%.0f"),
        " (saturated)" if any(j["loadgen"]["saturated"] for j in js) else ""))
print()
print("Medians over %s round(s). Ratios srtrelay / nginx, same run:" % max(len(v) for v in rows.values()) if rows else "No results.")
g = lambda js, k: med(js, lambda j: (j.get("relay") or {}).get(k))
for n in sorted({k[2] for k in rows}):
    a, b = rows.get(("relay", "hls", n)), rows.get(("nginx", "hls", n))
    if a and b:
        for k, label in [("cpu_s_per_delivered_mb", "server CPU per delivered MB"), ("rss_kb_per_player", "server RSS per player")]:
            x, y = g(a, k), g(b, k)
            if x is not None and y:
                print("- HLS, %d players, srtrelay / nginx: %s %.2fx" % (n, label, x / y))
    else:
        print("- %d players: no srtrelay/nginx HLS pair in this run" % n)
    a, b = rows.get(("relay", "ts", n)), rows.get(("relay", "srt", n))
    if a and b:
        x, y = g(a, "cpu_s_per_delivered_mb"), g(b, "cpu_s_per_delivered_mb")
        if x is not None and y:
            print("- %d players, srtrelay HTTP-TS / srtrelay SRT: CPU per delivered MB %.2fx" % (n, x / y))
print()
print("MB = 10^6 body bytes. nginx's CPU is its master and workers; ffmpeg's (segmenting, -c copy) is apart and does not grow with players. "
      "srtrelay's includes its SRT ingest and, for HLS, its segmenting. errors: every failure by reason (statuses, disconnects, timeouts), once each; "
      "live edge: normal players only (slow ones in their JSON). srt rows: TTFB = SRT connect time, rate columns n/a. "
      "HLS per-player rates are quantised by whole segments in the window.")
P
