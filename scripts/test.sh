#!/usr/bin/env bash
# The one command that runs every check: ./scripts/test.sh
#
# 1. Installs the external tools the interop tests drive (Debian packages `ffmpeg` and
#    `srt-tools`, i.e. ffmpeg/ffprobe built with libsrt and srt-live-transmit), the unit
#    checker (`systemd`, for systemd-analyze) and the playback clients (headless Chromium with
#    chromedriver, VLC, GStreamer) if missing, and the pinned hls.js from npm into
#    target/npm (exported to the tests as SRTRELAY_HLSJS_DIR), and builds SLS from its vendored
#    source (tests/peers, scripts/build-sls.sh) into target/peers (SRTRELAY_SLS).
# 2. cargo fmt --check, cargo clippy -D warnings, cargo build --bins, cargo test, over the whole
#    workspace. The binaries are built first because loadgen's smoke tests run the srtrelay
#    binary (target/debug/srtrelay), which `cargo test` alone does not build for another package.
#
# It never skips: a tool that cannot be installed is a failure, and the interop tests are told
# (SRTRELAY_REQUIRE_INTEROP=1) that the tools must be there. Every step runs even if an earlier
# one failed, so one run shows everything that is wrong; the exit status is non-zero if any
# step failed. Extra arguments go to `cargo test` (e.g. `./scripts/test.sh -- --nocapture`).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export SRTRELAY_REQUIRE_INTEROP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Tests print their own timings; a backtrace makes a harness panic much easier to read.
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

# --- 1. external tools --------------------------------------------------------------------

# command -> Debian package that provides it
declare -A PACKAGE_OF=(
    [ffmpeg]=ffmpeg
    [ffprobe]=ffmpeg
    [srt-live-transmit]=srt-tools
    [stdbuf]=coreutils
    # tests/service.rs runs `systemd-analyze verify` on systemd/srtrelay.service (offline:
    # systemd need not be PID 1).
    [systemd-analyze]=systemd
    # tests/http_hardening.rs starts the relay under a low RLIMIT_NOFILE.
    [prlimit]=util-linux
    # tests/playback.rs fetches the HTTP-TS stream with curl, as an operator would.
    [curl]=curl
    # tests/inputs.rs sends UDP multicast inside a network namespace it creates.
    [ip]=iproute2
    # Playback clients (tests/support/browser.rs, vlc.rs): Chromium driven over WebDriver,
    # VLC (run as nobody through setpriv: it refuses root), GStreamer as a second opinion.
    [chromium]=chromium
    [chromedriver]=chromium-driver
    [cvlc]=vlc-bin
    [gst-launch-1.0]=gstreamer1.0-tools
    [setpriv]=util-linux
    # Process groups: tests/support/pgroup.rs signals a group with procps kill.
    [kill]=procps
    # tests/rtmp_push.rs pushes to nginx-rtmp (the module is libnginx-mod-rtmp, below), as
    # scripts/bench-rtmp.sh does.
    [nginx]=nginx-light
    # hls.js for the player page comes from the npm registry (install_hlsjs below).
    [npm]=npm
    # tests/cluster.rs starts its own etcd on loopback (the package's service is not used).
    [etcd]=etcd-server
    # SLS for tests/outputs.rs is built from its vendored source (scripts/build-sls.sh).
    [g++]=g++
    [make]=make
)

# Packages without a command of their own that the playback tests need: VLC's demuxers and
# decoders (cvlc alone plays nothing), GStreamer's HTTP source (good), TS demuxer and H.264
# parser (bad) and libav decoders, the font of the clock bar's caption, and nginx's RTMP module
# (tests/rtmp_push.rs).
PLUGIN_PACKAGES=(
    vlc-plugin-base
    gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad
    gstreamer1.0-libav
    fonts-dejavu-core
    libnginx-mod-rtmp
    libsrt-openssl-dev
    zlib1g-dev
)

# hls.js, pinned: the player page is tested against this version (the relay serves it).
HLSJS_VERSION=1.7.4
HLSJS_PREFIX=target/npm

package_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

install_missing_tools() {
    local missing=() cmd pkg
    for cmd in "${!PACKAGE_OF[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$cmd]}")
    done
    if command -v dpkg-query >/dev/null 2>&1; then
        for pkg in "${PLUGIN_PACKAGES[@]}"; do
            package_installed "$pkg" || missing+=("$pkg")
        done
    else
        # Not Debian: the tests themselves fail loudly if a plugin is missing.
        log "no dpkg-query: not checking ${PLUGIN_PACKAGES[*]}"
    fi
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "tools present: ${!PACKAGE_OF[*]} (and ${PLUGIN_PACKAGES[*]})"
        return 0
    fi
    # Deduplicate (ffmpeg provides two commands).
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing Debian packages: ${missing[*]}"

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "need root or sudo to install: ${missing[*]} (apt-get install ${missing[*]})"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: install ${missing[*]} (ffmpeg with libsrt, srt-live-transmit) by hand"
    # Update the package lists once, and only because something is missing.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" || die "apt-get install ${missing[*]} failed"

    for cmd in "${!PACKAGE_OF[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing ${missing[*]}"
    done
}

# hls.js from the npm registry into target/npm, only when the pinned version is not there yet.
install_hlsjs() {
    local dir="$HLSJS_PREFIX/node_modules/hls.js"
    local have=""
    if [[ -f $dir/package.json ]]; then
        have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/package.json")
        have=${have%%$'\n'*}
    fi
    if [[ $have != "$HLSJS_VERSION" || ! -f $dir/dist/hls.min.js ]]; then
        log "npm install hls.js@$HLSJS_VERSION into $HLSJS_PREFIX (had: ${have:-none})"
        mkdir -p "$HLSJS_PREFIX"
        # --ignore-scripts: nothing from the package runs here; we only serve its dist/ file.
        npm install --prefix "$HLSJS_PREFIX" --no-save --no-audit --no-fund --ignore-scripts \
            "hls.js@$HLSJS_VERSION" || die "npm install hls.js@$HLSJS_VERSION failed"
        [[ -f $dir/dist/hls.min.js ]] || die "hls.js installed but $dir/dist/hls.min.js is missing"
    fi
    SRTRELAY_HLSJS_DIR="$(pwd)/$dir/dist"
    export SRTRELAY_HLSJS_DIR
    log "hls.js $HLSJS_VERSION: $SRTRELAY_HLSJS_DIR"
}

ensure_rust_components() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (rustup)"
    local comp missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    command -v rustup >/dev/null 2>&1 || die "missing ${missing[*]} and no rustup to add them"
    for comp in "${missing[@]}"; do
        log "rustup component add $comp"
        rustup component add "$comp" || die "rustup component add $comp failed"
    done
}

install_missing_tools
install_hlsjs
# SLS (tests/peers/srt-live-server) into target/peers, for the push to SLS in tests/outputs.rs.
./scripts/build-sls.sh || die "building SLS (scripts/build-sls.sh) failed"
export SRTRELAY_SLS="$(pwd)/target/peers/srt-live-server/bin/sls"
ensure_rust_components
# Capture first, then cut: with pipefail, `tool | head -n1` can fail on SIGPIPE.
ffmpeg_version=$(ffmpeg -hide_banner -version 2>&1 || true)
srt_version=$(srt-live-transmit -version 2>&1 || true)
log "${ffmpeg_version%%$'\n'*}"
log "srt-live-transmit: $(grep -m1 'SRT Library version' <<<"$srt_version" || echo 'version unknown')"

# --- 2. checks ----------------------------------------------------------------------------

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
TEST_LOG="$(mktemp "${TMPDIR:-/tmp}/srtrelay-test.XXXXXX")"
trap 'rm -f "$TEST_LOG"' EXIT

run_step() {
    local name=$1
    shift
    log "$name: $*"
    local start=$SECONDS status=0
    "$@" || status=$?
    STEP_NAMES+=("$name")
    STEP_SECONDS+=($((SECONDS - start)))
    if [[ $status -eq 0 ]]; then STEP_RESULTS+=(ok); else STEP_RESULTS+=("FAILED ($status)"); fi
}

# shellcheck disable=SC2317 # called through run_step
cargo_test() {
    # Keep cargo's own output visible and in a log for the summary counts.
    cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$TEST_LOG"
}

run_step fmt cargo fmt --all -- --check
run_step clippy cargo clippy --workspace --all-targets -- -D warnings
run_step build cargo build --workspace --bins
run_step test cargo_test "$@"

# --- summary ------------------------------------------------------------------------------

passed=0 failed=0 ignored=0
while read -r p f i; do
    passed=$((passed + p)) failed=$((failed + f)) ignored=$((ignored + i))
done < <(sed -n 's/^test result: .*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$TEST_LOG")

overall=0
echo
echo "==================== srtrelay test summary ===================="
for i in "${!STEP_NAMES[@]}"; do
    printf '  %-8s %-12s %5ss\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
    [[ ${STEP_RESULTS[$i]} == ok ]] || overall=1
done
printf '  total time %ss, interop tools required (SRTRELAY_REQUIRE_INTEROP=1)\n' "$SECONDS"
if [[ $overall -eq 0 ]]; then
    echo "  RESULT: OK"
else
    echo "  RESULT: FAILED"
fi
echo "==============================================================="
# Plain closing line for CI log readers (ignored tests count as skipped).
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$overall"
