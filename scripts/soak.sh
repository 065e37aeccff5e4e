#!/usr/bin/env bash
# The soak run (issue 11): the relay on its default configuration for an hour (or any duration),
# publishers that restart every minute and players that join and leave, as a new user would
# try it. Not a CI test: a script an operator or developer runs before a release.
#
#   ./scripts/soak.sh                 # one hour
#   ./scripts/soak.sh 180             # three minutes, as a smoke
#   SOAK_PLAYERS=8 ./scripts/soak.sh 600
#
# What runs:
#   - srtrelay with the embedded default config.toml, except that it listens on loopback and on
#     free ports (so it can run next to another relay): SRT 127.0.0.1:$SOAK_SRT_PORT, API
#     127.0.0.1:$SOAK_HTTP_PORT. Binary: $SRTRELAY_BIN (default target/release/srtrelay, built
#     when missing).
#   - $SOAK_STREAMS publishers (default 2: streams `live` and `cam2`), each ffmpeg -re looping a
#     generated 10 s H.264/AAC test file, all from the start; each is stopped and restarted
#     every $SOAK_RESTART_S seconds (default 60), staggered across streams, the new one 1 s
#     after the old left (inside streams.publisher_grace_ms, so players stay connected).
#   - $SOAK_PLAYERS players at a time (default 6), each on a random stream for a random
#     15-45 s, alternately srt-live-transmit and ffmpeg, then leaving; a new one takes its place.
#     Their source ports are random, so SO_REUSEPORT spreads them over the shards.
# What it checks at the end (exit 1 if any fails):
#   - every player received data (its output file is not empty); the ones that did not are
#     listed with the stream, tool, start time and the relay's view of their stream;
#   - after everyone left and the grace / wait deadlines passed, GET /v1/streams is empty
#     (polled up to 60 s).
# Processes are stopped with SIGTERM (a script's background jobs ignore SIGINT); ffmpeg and
# srt-live-transmit close their SRT connection on it.
# Output: everything under $SOAK_DIR (default target/soak-<time>): relay.log, players.tsv (one
# line per player: id, tool, stream, start, seconds, bytes), streams-*.json snapshots taken
# every 30 s, and the per-process logs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-3600}"
[[ "$duration" =~ ^[0-9]+$ ]] || { echo "usage: $0 [seconds]" >&2; exit 2; }
players="${SOAK_PLAYERS:-6}"
nstreams="${SOAK_STREAMS:-2}"
restart_s="${SOAK_RESTART_S:-60}"
dir="${SOAK_DIR:-target/soak-$(date -u +%Y%m%dT%H%M%SZ)}"
bin="${SRTRELAY_BIN:-target/release/srtrelay}"

for tool in ffmpeg srt-live-transmit curl jq; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is missing (apt install ffmpeg srt-tools curl jq)" >&2; exit 2; }
done
if [[ ! -x "$bin" ]]; then
    echo "soak: building $bin"
    cargo build --release --bin srtrelay
fi
mkdir -p "$dir/players"

free_port() { # a free loopback port of the given type (udp/tcp), as the OS picks it
    python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=='udp' else socket.SOCK_STREAM); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])" "$1"
}
srt_port="${SOAK_SRT_PORT:-$(free_port udp)}"
http_port="${SOAK_HTTP_PORT:-$(free_port tcp)}"
api="http://127.0.0.1:$http_port"
streams=(live cam2 cam3 cam4 cam5 cam6 cam7 cam8)
streams=("${streams[@]:0:$nstreams}")

# The default config, on loopback and our ports; nothing else changed.
"$bin" --print-default-config \
    | sed -e "s|^listen = \[\"0.0.0.0:9999\"\]|listen = [\"127.0.0.1:$srt_port\"]|" \
          -e "s|^listen = \"127.0.0.1:9990\"|listen = \"127.0.0.1:$http_port\"|" \
    > "$dir/config.toml"
grep -q "127.0.0.1:$srt_port" "$dir/config.toml" && grep -q "127.0.0.1:$http_port" "$dir/config.toml" \
    || { echo "soak: could not set the ports in the default config" >&2; exit 2; }

# A 10 s test file with a keyframe every second, looped by the publishers.
media="$dir/source.ts"
ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=640x360:rate=25" -f lavfi -i "sine=frequency=1000:sample_rate=48000" \
    -t 10 -map 0:v -map 1:a -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 25 -keyint_min 25 \
    -sc_threshold 0 -b:v 1500k -maxrate 1500k -bufsize 1500k -c:a aac -b:a 96k -f mpegts "$media"

pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [[ -n "${relay_pid:-}" ]] && kill "$relay_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

"$bin" --config "$dir/config.toml" 2> "$dir/relay.log" &
relay_pid=$!
for _ in $(seq 100); do
    curl -fsS "$api/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$api/v1/health" >/dev/null || { echo "soak: relay did not come up; see $dir/relay.log" >&2; exit 1; }
echo "soak: relay pid $relay_pid, srt 127.0.0.1:$srt_port, api $api, ${duration}s, $nstreams streams, $players players, output $dir"

start=$(date +%s)
end=$((start + duration))
url() { echo "srt://127.0.0.1:$srt_port?streamid=#!::r=$1,m=$2"; }

# One publisher loop per stream: ffmpeg -re looping the file, restarted every restart_s
# (staggered), the new one 1 s after the previous one left.
publisher_loop() {
    local name=$1 offset=$2 n=0 p run
    while (( $(date +%s) < end )); do
        n=$((n + 1))
        ffmpeg -hide_banner -nostdin -loglevel warning -re -stream_loop -1 -i "$media" -c copy \
            -f mpegts "$(url "$name" publish)" 2> "$dir/publisher-$name-$n.log" &
        p=$!
        # Every stream has a publisher from the start; the first session of stream i is
        # shorter by its offset, so the restarts of different streams do not coincide.
        run=$restart_s
        (( n == 1 && offset > 0 )) && run=$((restart_s - offset))
        local until=$(( $(date +%s) + run ))
        (( until > end )) && until=$end
        while (( $(date +%s) < until )) && kill -0 "$p" 2>/dev/null; do sleep 1; done
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
        echo "$(date -u +%T) publisher $name #$n stopped" >> "$dir/events.log"
        sleep 1
    done
}
for i in "${!streams[@]}"; do
    publisher_loop "${streams[$i]}" $(( i * restart_s / nstreams )) &
    pids+=($!)
done

# Players: keep `players` running; each plays a random stream for 15-45 s, then leaves.
: > "$dir/players.tsv"
player() {
    local id=$1 tool=$2 name=$3 secs=$4 out="$dir/players/$1.ts" t0
    t0=$(date +%s)
    if [[ $tool == slt ]]; then
        timeout -s TERM "$secs" srt-live-transmit -a no "$(url "$name" request)" file://con \
            > "$out" 2> "$dir/players/$id.log" || true
    else
        timeout -s TERM "$secs" ffmpeg -hide_banner -nostdin -loglevel warning \
            -i "$(url "$name" request)" -map 0 -c copy -f mpegts "$out" \
            2> "$dir/players/$id.log" || true
    fi
    local bytes
    bytes=$(stat -c %s "$out" 2>/dev/null || echo 0)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$tool" "$name" "$t0" "$(( $(date +%s) - t0 ))" "$bytes" \
        >> "$dir/players.tsv"
}
sleep 3 # the first publishers connect
next=0
running=()
last_snapshot=0
while (( $(date +%s) < end )); do
    alive=()
    for p in "${running[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    running=("${alive[@]}")
    while (( ${#running[@]} < players )); do
        next=$((next + 1))
        tool=$([[ $((next % 2)) == 0 ]] && echo slt || echo ffmpeg)
        name=${streams[$((RANDOM % nstreams))]}
        secs=$((15 + RANDOM % 31))
        left=$((end - $(date +%s)))
        (( secs > left )) && secs=$left
        (( secs < 5 )) && break 2
        player "p$next" "$tool" "$name" "$secs" &
        running+=($!)
    done
    now=$(date +%s)
    if (( now - last_snapshot >= 30 )); then
        curl -fsS "$api/v1/streams" > "$dir/streams-$((now - start)).json" 2>/dev/null || true
        last_snapshot=$now
    fi
    sleep 1
done

echo "soak: time is up; waiting for players and publishers to leave"
for p in "${running[@]}" "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

fail=0
total=$(wc -l < "$dir/players.tsv")
empty=$(awk -F'\t' '$6 == 0' "$dir/players.tsv")
if [[ -n "$empty" ]]; then
    fail=1
    echo "soak: FAIL: $(echo "$empty" | wc -l) of $total players received nothing:"
    echo "$empty" | while IFS=$'\t' read -r id tool name t0 secs bytes; do
        echo "  $id ($tool) on $name from +$((t0 - start)) s for $secs s; log: $dir/players/$id.log"
    done
else
    echo "soak: every one of $total players received data"
fi
awk -F'\t' '{ n[$3]++; b[$3] += $6 } END { for (s in n) printf "soak:   %s: %d players, %.1f MB\n", s, n[s], b[s] / 1e6 }' \
    "$dir/players.tsv"

# Everyone left: the streams must go once their grace (5 s) and wait (10 s) deadlines pass.
deadline=$(( $(date +%s) + 60 ))
left=""
while (( $(date +%s) < deadline )); do
    left=$(curl -fsS "$api/v1/streams" | jq -c '[.streams[] | {name, subscribers, publisher, shards}]')
    [[ "$left" == "[]" ]] && break
    sleep 1
done
curl -fsS "$api/v1/streams" > "$dir/streams-final.json" || true
if [[ "$left" == "[]" ]]; then
    echo "soak: /v1/streams is empty after everyone left"
else
    fail=1
    echo "soak: FAIL: /v1/streams still lists streams 60 s after everyone left: $left"
    echo "  (full answer: $dir/streams-final.json)"
fi
if ! kill -0 "$relay_pid" 2>/dev/null; then
    fail=1
    echo "soak: FAIL: the relay died; see $dir/relay.log"
fi
echo "soak: relay logged $(grep -c "left after" "$dir/relay.log" || true) departures, \
$(grep -c "refused" "$dir/relay.log" || true) rejections"
exit $fail
