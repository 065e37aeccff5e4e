//! Round-trip time estimation (draft-sharabayko-srt §4.10).
//!
//! The receiver measures RTT from ACK/ACKACK pairs; a pure sender adopts the receiver's
//! estimate carried in full ACKs. Both are smoothed like TCP (RFC 6298) with libsrt's initial
//! values: RTT 100 ms, RTTVar 50 ms.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RttEstimator {
    rtt_us: u32,
    rtt_var_us: u32,
    has_sample: bool,
    /// A value measured on this path fed the estimate: an ACK/ACKACK pair here, or a peer's
    /// estimate that is not libsrt's initial pair (a peer that never measured reports that).
    measured: bool,
}

/// libsrt's initial RTT and RTTVar; a peer reporting exactly these has no sample of its own.
const INITIAL: (u32, u32) = (100_000, 50_000);

impl Default for RttEstimator {
    fn default() -> Self {
        RttEstimator {
            rtt_us: 100_000,
            rtt_var_us: 50_000,
            has_sample: false,
            measured: false,
        }
    }
}

impl RttEstimator {
    pub fn rtt_us(&self) -> u32 {
        self.rtt_us
    }

    pub fn rtt_var_us(&self) -> u32 {
        self.rtt_var_us
    }

    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us.into())
    }

    /// Whether the estimate rests on a measurement (see `measured`), so it is worth sampling.
    pub fn is_measured(&self) -> bool {
        self.measured
    }

    /// A measured sample (ACK sent -> ACKACK received).
    pub fn on_sample(&mut self, sample: Duration) {
        let sample_us = u32::try_from(sample.as_micros()).unwrap_or(u32::MAX);
        self.measured = true;
        if !self.has_sample {
            // draft §4.10: the first sample initialises RTT, and RTTVar to half of it.
            self.rtt_us = sample_us;
            self.rtt_var_us = sample_us / 2;
            self.has_sample = true;
            return;
        }
        let diff = self.rtt_us.abs_diff(sample_us);
        self.rtt_var_us = ((3 * u64::from(self.rtt_var_us) + u64::from(diff)) / 4) as u32;
        self.rtt_us = ((7 * u64::from(self.rtt_us) + u64::from(sample_us)) / 8) as u32;
    }

    /// The peer's smoothed values from a full ACK (draft §3.2.4: RTT and RTT variance fields).
    pub fn on_peer_estimate(&mut self, rtt_us: u32, rtt_var_us: u32) {
        self.measured |= (rtt_us, rtt_var_us) != INITIAL;
        if !self.has_sample {
            self.rtt_us = rtt_us;
            self.rtt_var_us = rtt_var_us;
            self.has_sample = true;
            return;
        }
        self.rtt_var_us = ((3 * u64::from(self.rtt_var_us) + u64::from(rtt_var_us)) / 4) as u32;
        self.rtt_us = ((7 * u64::from(self.rtt_us) + u64::from(rtt_us)) / 8) as u32;
    }

    /// Periodic NAK interval, draft §4.8.2: max((RTT + 4 * RTTVar) / 2, 20 ms).
    pub fn nak_interval(&self) -> Duration {
        let us = (u64::from(self.rtt_us) + 4 * u64::from(self.rtt_var_us)) / 2;
        Duration::from_micros(us.max(20_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_measurements_count_as_measured() {
        let mut r = RttEstimator::default();
        assert!(!r.is_measured(), "100 ms is a default, not a sample");
        r.on_peer_estimate(100_000, 50_000);
        assert!(!r.is_measured(), "a peer's own initial values");
        r.on_peer_estimate(2_000, 500);
        assert!(r.is_measured());
        let mut r = RttEstimator::default();
        r.on_sample(Duration::from_millis(3));
        assert!(r.is_measured());
    }

    #[test]
    fn first_sample_initialises_then_smooths() {
        let mut r = RttEstimator::default();
        assert_eq!(r.rtt_us(), 100_000);
        r.on_sample(Duration::from_millis(40));
        assert_eq!((r.rtt_us(), r.rtt_var_us()), (40_000, 20_000));
        r.on_sample(Duration::from_millis(80));
        assert_eq!(r.rtt_us(), 45_000);
        assert_eq!(r.rtt_var_us(), (3 * 20_000 + 40_000) / 4);
    }

    #[test]
    fn nak_interval_has_floor() {
        let mut r = RttEstimator::default();
        r.on_sample(Duration::from_millis(1));
        assert_eq!(r.nak_interval(), Duration::from_millis(20));
        let mut r = RttEstimator::default();
        r.on_sample(Duration::from_millis(200));
        assert_eq!(r.nak_interval(), Duration::from_millis(300));
    }
}
