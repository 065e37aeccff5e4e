#!/usr/bin/env bash
# bench-rcvbuf.sh: relay receive-socket drops and SRT recovery against the relay's SO_RCVBUF
# (`runtime.socket_recv_buffer_bytes`), measured with loadgen on loopback. The numbers in
# tuning/README.md come from this script.
#
# Usage: tuning/bench-rcvbuf.sh [SIZE_BYTES...]      (default: 4096 65536 0 4194304; 0 = the
#        kernel default, net.core.rmem_default)
# Environment: SUBS (100), MBPS (5), BURST (16), DURATION (10), WARMUP (2), REPEAT (1),
#              LOADGEN_ARGS (extra loadgen flags).
#
# Every run happens in a private network namespace (`unshare -n`, root needed): only this
# script's traffic touches its loopback, so the namespace's UDP counters are ours alone, and no
# sysctl of the host is changed. Each size needs net.core.rmem_max >= SIZE to be granted; the
# relay warns when the kernel clamps it. Build first: cargo build --release --workspace --bins
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RELAY=${RELAY:-target/release/srtrelay}
LOADGEN=${LOADGEN:-target/release/loadgen}
SUBS=${SUBS:-100} MBPS=${MBPS:-5} BURST=${BURST:-16}
DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} REPEAT=${REPEAT:-1}
PORT=24900

die() { printf 'bench-rcvbuf.sh: %s\n' "$*" >&2; exit 1; }
[[ -x $RELAY && -x $LOADGEN ]] || die "build first: cargo build --release --workspace --bins"
command -v jq >/dev/null || die "needs jq"

if [[ ${1:-} != --in-netns ]]; then
    [[ $(id -u) -eq 0 ]] || die "needs root for unshare -n"
    exec unshare -n "$0" --in-netns "$@"
fi
shift
ip link set lo up

SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(4096 65536 0 4194304)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-rcvbuf.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Drops counted on the relay's sockets (local port $PORT), summed over the shards' sockets.
relay_drops() {
    local hex
    hex=$(printf '%04X' "$PORT")
    awk -v p=":$hex" 'NR > 1 && substr($2, length($2) - 4) == p { d += $NF } END { print d + 0 }' \
        /proc/net/udp
}

# Packets dropped because a CPU's input backlog (net.core.netdev_max_backlog) was full: the
# second column of /proc/net/softnet_stat, summed over CPUs. Host-wide, not per namespace.
backlog_drops() {
    local total=0 v
    while read -r _ v _; do total=$((total + 16#$v)); done </proc/net/softnet_stat
    echo "$total"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rmem_default $(sysctl -n net.core.rmem_default), rmem_max $(sysctl -n net.core.rmem_max);" \
    "loadgen --subs $SUBS --bitrate $MBPS --burst $BURST --duration $DURATION --warmup $WARMUP" \
    "${LOADGEN_ARGS:-}"
printf '| SO_RCVBUF asked | granted | relay socket drops | UdpRcvbufErrors | pub retransmits | sub delivery %% | sub lost | sub rexmit rcvd | backlog drops (host) | relay cpu %% | loadgen saturated |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for size in "${SIZES[@]}"; do
    for ((r = 0; r < REPEAT; r++)); do
        cfg=$WORK/relay.toml
        printf '[srt]\nlisten = ["127.0.0.1:%s"]\n[runtime]\nsocket_recv_buffer_bytes = %s\n[http]\nenabled = false\n[log]\nlevel = "warn"\n' \
            "$PORT" "$size" >"$cfg"
        "$RELAY" --config "$cfg" 2>"$WORK/relay.log" &
        relay=$!
        for _ in $(seq 50); do
            grep -q ":$(printf '%04X' "$PORT") " /proc/net/udp && break
            sleep 0.1
        done
        granted=$(sed -n '/SO_RCVBUF/ s/.*kernel granted \([0-9]*\).*/\1/p' "$WORK/relay.log" | head -n1)
        if [[ $size -eq 0 ]]; then
            granted="$(sysctl -n net.core.rmem_default) (default)"
        fi
        granted=${granted:-$size}
        backlog_before=$(backlog_drops)
        before=$(nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
        # shellcheck disable=SC2086 # LOADGEN_ARGS is a list of flags
        "$LOADGEN" --target "127.0.0.1:$PORT" --subs "$SUBS" --bitrate "$MBPS" --burst "$BURST" \
            --duration "$DURATION" --warmup "$WARMUP" --relay-pid "$relay" --progress 0 --json \
            ${LOADGEN_ARGS:-} >"$WORK/report.json" || true
        drops=$(relay_drops)
        after=$(nstat -az UdpRcvbufErrors | awk '/UdpRcvbufErrors/ { print $2 }')
        backlog=$(($(backlog_drops) - backlog_before))
        kill -TERM "$relay"
        wait "$relay" || true
        jq -r --arg size "$size" --arg granted "$granted" --arg drops "$drops" \
            --arg errs "$((after - before))" --arg backlog "$backlog" \
            '"| \($size) | \($granted) | \($drops) | \($errs) | \(.publishers.srt.pkt_retrans) | \(.subscribers.delivery_pct * 1000 | round / 1000) | \(.subscribers.lost) | \(.subscribers.retransmissions) | \($backlog) | \(.relay.cpu_pct | round) | \(.loadgen.saturated) |"' \
            "$WORK/report.json"
    done
done
