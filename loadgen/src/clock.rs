//! The one place loadgen reads the clock. Workers read it once per loop turn and hand `now` to
//! the sans-IO SRT core, as the relay's shards do.

use std::time::Instant;

/// Monotonic now. Every thread's reading is on the same clock, so a send time taken on a
/// publisher thread and an arrival time taken on a subscriber thread subtract meaningfully.
#[allow(clippy::disallowed_methods)] // drivers own the clock (clippy.toml bans it for the core)
pub fn now() -> Instant {
    Instant::now()
}
