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

use std::time::Instant;

/// The origin of virtual time in tests: the one place the clock is read.
#[allow(clippy::disallowed_methods)]
pub fn t0() -> Instant {
    Instant::now()
}

/// SplitMix64: small, seedable and good enough to drive loss and jitter decisions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p` (0.0..=1.0).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}
