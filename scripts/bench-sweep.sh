#!/usr/bin/env bash
# The loadgen benchmark sweep (issue 5 part 2): builds the release binaries, then runs
# `loadgen sweep`, which starts a fresh target/release/srtrelay for every point of
# subscribers (1 10 100 200 500 1000) x bitrate (5, 20 Mbit/s) x random loss (0 %, 5 %, both legs)
# and writes a markdown table.
#
#   ./scripts/bench-sweep.sh                        # the full grid, table to bench-sweep.md
#   ./scripts/bench-sweep.sh --subs 1,10 --mbps 5   # any `loadgen sweep` flag narrows it
#
# Output: bench-sweep.md (the table) and bench-sweep.jsonl (every point's full report), in the
# repository root unless SWEEP_OUT names another directory. The full grid takes about
# 24 x (5 s warm-up + 10 s + connect and drain), ~7 minutes, and at 1000 subscribers x 20 Mbit/s
# asks for ~1.9 M packets/s: expect the top points to show loss (and `loadgen saturated` when
# the load generator, not the relay, was the limit; add --threads 2 --cpus ...). It is a
# benchmark, recorded not asserted: numbers go into BENCHMARKS.md by hand.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
out_dir="${SWEEP_OUT:-.}"
mkdir -p "$out_dir"

cargo build --release --workspace --bins
exec target/release/loadgen sweep \
    --relay-bin target/release/srtrelay \
    --out "$out_dir/bench-sweep.md" \
    --json-out "$out_dir/bench-sweep.jsonl" \
    "$@"
