//! Timestamp-based packet delivery clock (draft-sharabayko-srt §4.5, §4.7).
//!
//! Delivery time = time base + packet timestamp + latency + drift. The time base is the peer's
//! start time seen on our clock (handshake arrival minus its timestamp). Timestamps are 32-bit
//! microseconds and wrap every ~71.6 minutes, so each is extended to 64 bits against the latest
//! one seen. Drift is tracked from ACKACK arrivals like libsrt's `DriftTracer<1000, 5000>`:
//! averaged over 1000 samples; beyond 5 ms the excess moves the time base.

use std::time::{Duration, Instant};

use crate::srt::seq::Timestamp;

const DRIFT_SPAN: u32 = 1000;
const MAX_DRIFT_US: i64 = 5_000;

#[derive(Debug, Clone)]
pub struct TsbpdClock {
    base: Instant,
    latency: Duration,
    drift_us: i64,
    drift_sum_us: i64,
    drift_samples: u32,
    newest_raw: u32,
    newest_ext: u64,
    seen_any: bool,
}

impl TsbpdClock {
    /// `base` is when the peer's timestamp 0 happened, on our clock.
    pub fn new(base: Instant, latency: Duration) -> Self {
        TsbpdClock {
            base,
            latency,
            drift_us: 0,
            drift_sum_us: 0,
            drift_samples: 0,
            newest_raw: 0,
            newest_ext: 0,
            seen_any: false,
        }
    }

    /// The time base for a handshake that arrived at `arrival` stamped `ts` by the peer.
    pub fn base_from_handshake(arrival: Instant, ts: Timestamp) -> Instant {
        arrival
            .checked_sub(Duration::from_micros(ts.as_micros().into()))
            .unwrap_or(arrival)
    }

    #[cfg(test)]
    pub fn drift_us(&self) -> i64 {
        self.drift_us
    }

    /// Extends a wire timestamp to 64 bits, relative to the newest one seen (packets may be
    /// reordered by up to ±35 minutes and still extend correctly).
    pub fn extend(&mut self, ts: Timestamp) -> u64 {
        if !self.seen_any {
            self.seen_any = true;
            self.newest_raw = ts.as_micros();
            self.newest_ext = ts.as_micros().into();
            return self.newest_ext;
        }
        let delta = ts.as_micros().wrapping_sub(self.newest_raw) as i32;
        let ext = self.newest_ext.saturating_add_signed(delta.into());
        if delta > 0 {
            self.newest_raw = ts.as_micros();
            self.newest_ext = ext;
        }
        ext
    }

    /// When a packet with extended timestamp `ts_ext` is due for delivery.
    pub fn delivery_time(&self, ts_ext: u64) -> Instant {
        let offset_us = ts_ext as i128 + self.latency.as_micros() as i128 + self.drift_us as i128;
        shift(self.base, offset_us)
    }

    /// Arrival time of a packet with extended timestamp `ts_ext` if there were no delay: the
    /// origin time of the packet on our clock.
    pub fn origin_time(&self, ts_ext: u64) -> Instant {
        shift(self.base, ts_ext as i128 + self.drift_us as i128)
    }

    /// A drift sample: a packet stamped `ts` by the peer (an ACKACK) arrived at `arrival`.
    pub fn on_drift_sample(&mut self, ts: Timestamp, arrival: Instant) {
        let ts_ext = self.extend(ts);
        let expected = shift(self.base, ts_ext as i128);
        let sample_us = if arrival >= expected {
            (arrival - expected).as_micros() as i64
        } else {
            -((expected - arrival).as_micros() as i64)
        };
        self.drift_sum_us += sample_us;
        self.drift_samples += 1;
        if self.drift_samples < DRIFT_SPAN {
            return;
        }
        let mut drift = self.drift_sum_us / i64::from(self.drift_samples);
        self.drift_sum_us = 0;
        self.drift_samples = 0;
        if drift.abs() > MAX_DRIFT_US {
            // Move the base by the overdrift so `drift_us` stays within ±MAX_DRIFT.
            let over = drift.signum() * MAX_DRIFT_US;
            self.base = shift(self.base, over.into());
            drift -= over;
        }
        self.drift_us = drift;
    }
}

fn shift(t: Instant, us: i128) -> Instant {
    if us >= 0 {
        t + Duration::from_micros(us.min(u64::MAX as i128) as u64)
    } else {
        t.checked_sub(Duration::from_micros((-us).min(u64::MAX as i128) as u64))
            .unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_time_is_base_plus_ts_plus_latency() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::from_millis(120));
        let ext = c.extend(Timestamp::from_micros(5_000));
        assert_eq!(c.delivery_time(ext), t0 + Duration::from_micros(125_000));
    }

    #[test]
    fn extends_across_wrap_and_tolerates_reordering() {
        let mut c = TsbpdClock::new(crate::srt::sim::t0(), Duration::ZERO);
        let near_end = u32::MAX - 1_000;
        assert_eq!(
            c.extend(Timestamp::from_micros(near_end)),
            u64::from(near_end)
        );
        let after = c.extend(Timestamp::from_micros(500));
        assert_eq!(after, (1u64 << 32) + 500);
        // A straggler from before the wrap still maps below the wrap.
        assert_eq!(
            c.extend(Timestamp::from_micros(near_end + 10)),
            u64::from(near_end + 10)
        );
        assert_eq!(c.extend(Timestamp::from_micros(600)), (1u64 << 32) + 600);
    }

    #[test]
    fn steady_drift_is_absorbed() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::from_millis(100));
        // Every sample arrives 7 ms later than the base predicts: 5 ms moves the base.
        for i in 0..DRIFT_SPAN {
            let ts = Timestamp::from_micros(i * 10_000);
            c.on_drift_sample(
                ts,
                t0 + Duration::from_micros(u64::from(i) * 10_000 + 7_000),
            );
        }
        assert_eq!(c.drift_us(), 2_000);
        let ext = c.extend(Timestamp::from_micros(0));
        assert_eq!(c.delivery_time(ext), t0 + Duration::from_micros(107_000));
    }
}
