//! The one place loadgen reads the clock. Workers read it once per loop turn and hand `now` to
//! the sans-IO SRT core, as the relay's shards do.

use std::time::Instant;

/// Monotonic now. Every thread's reading is on the same clock, so a send time taken on a
/// publisher thread and an arrival time taken on a subscriber thread subtract meaningfully.
#[allow(clippy::disallowed_methods)] // drivers own the clock (clippy.toml bans it for the core)
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock now in Unix milliseconds: HLS latency compares it with the PROGRAM-DATE-TIME a
/// segmenter wrote from its own wall clock (same machine, so no sync question).
#[allow(clippy::disallowed_methods)] // see `now`
pub fn unix_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}
