#!/usr/bin/env bash
# Builds SLS (srt-live-server 1.4.9, Edward Wu, MIT), vendored in tests/peers/srt-live-server,
# into target/peers/srt-live-server/bin/sls, for tests/outputs.rs's push to SLS. Needs g++,
# make, libsrt-openssl-dev and zlib1g-dev (scripts/test.sh installs them). Rebuilds only when
# the vendored source is newer than the binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=tests/peers/srt-live-server
out=target/peers/srt-live-server
bin=$out/bin/sls
if [[ -x $bin ]] && [[ -z $(find "$src" -newer "$bin" -type f | head -n1) ]]; then
    echo "sls: $bin is up to date"
    exit 0
fi
rm -rf "$out"
mkdir -p "$out"
cp -r "$src"/. "$out"/
mkdir -p "$out/obj" "$out/bin" "$out/logs"
# 2020 code on a newer g++: two headers it relied on getting by accident.
make -C "$out" -j"$(nproc)" CFLAGS="-g -O2 -include ctime -include cstring" >"$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; echo "sls: build failed (log: $out/build.log)" >&2; exit 1; }
echo "sls: built $bin"
