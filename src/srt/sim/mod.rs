//! Deterministic simulation for tests: virtual time, a seeded lossy link, and a two-endpoint
//! `Pair` (model: quinn-proto `tests/util.rs`, smoltcp `tests/netsim.rs`).
//!
//! Nothing here sleeps or reads the clock except `t0`, which only anchors virtual time.

#[cfg(test)]
mod endpoint_tests;
pub mod endpoints;
pub mod link;
pub mod pair;
mod scenarios;
#[cfg(test)]
mod schedule_tests;

use std::time::Instant;

/// The origin of virtual time in tests: the one place the clock is read.
#[allow(clippy::disallowed_methods)]
pub fn t0() -> Instant {
    Instant::now()
}

pub use crate::rng::Rng;
