//! The per-shard latency histograms (hdrhistogram), their merge and their summaries.
//!
//! Owns: the ranges and precision of every histogram and the recording helpers. Must not: panic
//! on any value (out-of-range values saturate at the top of the range) or allocate when
//! recording. A shard owns one [`HistogramSet`], records into it on its own thread, and hands
//! a copy to the HTTP side on request.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Two significant digits: 1 % resolution is plenty for latencies and keeps each histogram
/// around 20 KiB, copied once per shard per scrape (three digits would be ~10x that).
const SIGFIG: u8 = 2;
/// Durations are recorded in microseconds, up to a minute: anything longer is a stuck
/// connection, not a latency, and is recorded as a minute.
const MAX_US: u64 = 60_000_000;
/// Lag in packets, up to the largest ring (`streams.ring_packets` <= 2^20).
const MAX_PACKETS: u64 = 1 << 20;

/// Which histogram: the key of [`HistogramSet::get`] and of the API's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Relay transit of live packets, microseconds: from the read of the publisher's datagram
    /// (when its batch came off the socket) to the `sendmmsg` that handed the subscriber's
    /// copy to the kernel. One value per subscriber copy.
    Transit,
    /// The same for the keyframe backlog replayed to a joining subscriber (packets that arrived
    /// before it joined): their age, not the relay's delay, so kept apart from `Transit`.
    BacklogTransit,
    /// Smoothed RTT of publishers, sampled by the shard, microseconds; only connections with a
    /// measured RTT (not the 100 ms initial value).
    RttPublish,
    /// Smoothed RTT of players, microseconds, likewise.
    RttRequest,
    /// How far a subscriber's cursor is behind the ring head when it reads, in packets.
    Lag,
    /// First induction to accepted conclusion, microseconds.
    Handshake,
}

/// The histograms one shard records.
#[derive(Debug, Clone)]
pub struct HistogramSet {
    pub transit_us: Histogram<u64>,
    pub backlog_transit_us: Histogram<u64>,
    pub rtt_publish_us: Histogram<u64>,
    pub rtt_request_us: Histogram<u64>,
    pub lag_packets: Histogram<u64>,
    pub handshake_us: Histogram<u64>,
}

/// A histogram reduced to what the API reports. Values are in the histogram's unit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HistogramSummary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Transit,
        Kind::BacklogTransit,
        Kind::RttPublish,
        Kind::RttRequest,
        Kind::Lag,
        Kind::Handshake,
    ];

    /// The JSON key in `/v1/histograms`, with the unit in the name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Transit => "transit_us",
            Kind::BacklogTransit => "backlog_transit_us",
            Kind::RttPublish => "rtt_publish_us",
            Kind::RttRequest => "rtt_request_us",
            Kind::Lag => "lag_packets",
            Kind::Handshake => "handshake_us",
        }
    }

    /// Whether the values are microseconds (else packets).
    pub fn is_duration(self) -> bool {
        !matches!(self, Kind::Lag)
    }
}

impl HistogramSet {
    pub fn new() -> Self {
        let us = || histogram(MAX_US);
        HistogramSet {
            transit_us: us(),
            backlog_transit_us: us(),
            rtt_publish_us: us(),
            rtt_request_us: us(),
            lag_packets: histogram(MAX_PACKETS),
            handshake_us: us(),
        }
    }

    pub fn record_transit(&mut self, d: Duration) {
        self.transit_us.saturating_record(micros(d));
    }

    /// `count` packets that each took `d` (one wake-up's worth of fan-out).
    pub fn record_transit_n(&mut self, d: Duration, count: u64) {
        self.transit_us.saturating_record_n(micros(d), count);
    }

    /// `count` backlog packets (see [`Kind::BacklogTransit`]) that each took `d`.
    pub fn record_backlog_transit_n(&mut self, d: Duration, count: u64) {
        self.backlog_transit_us
            .saturating_record_n(micros(d), count);
    }

    /// RTT of a publisher (`publish == true`) or a player.
    pub fn record_rtt(&mut self, publish: bool, rtt: Duration) {
        let h = if publish {
            &mut self.rtt_publish_us
        } else {
            &mut self.rtt_request_us
        };
        h.saturating_record(micros(rtt));
    }

    pub fn record_lag(&mut self, packets: u64) {
        self.lag_packets.saturating_record(packets);
    }

    pub fn record_handshake(&mut self, d: Duration) {
        self.handshake_us.saturating_record(micros(d));
    }

    pub fn get(&self, kind: Kind) -> &Histogram<u64> {
        match kind {
            Kind::Transit => &self.transit_us,
            Kind::BacklogTransit => &self.backlog_transit_us,
            Kind::RttPublish => &self.rtt_publish_us,
            Kind::RttRequest => &self.rtt_request_us,
            Kind::Lag => &self.lag_packets,
            Kind::Handshake => &self.handshake_us,
        }
    }

    fn get_mut(&mut self, kind: Kind) -> &mut Histogram<u64> {
        match kind {
            Kind::Transit => &mut self.transit_us,
            Kind::BacklogTransit => &mut self.backlog_transit_us,
            Kind::RttPublish => &mut self.rtt_publish_us,
            Kind::RttRequest => &mut self.rtt_request_us,
            Kind::Lag => &mut self.lag_packets,
            Kind::Handshake => &mut self.handshake_us,
        }
    }

    /// Adds `other`'s counts to this set. Never fails: sets built by [`HistogramSet::new`] have
    /// equal ranges; a histogram built elsewhere with a wider range is folded in value by
    /// value, saturating.
    pub fn merge(&mut self, other: &HistogramSet) {
        for kind in Kind::ALL {
            let (dst, src) = (self.get_mut(kind), other.get(kind));
            if dst.add(src).is_err() {
                for v in src.iter_recorded() {
                    dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
        }
    }

    /// Empties every histogram (a new interval), keeping the allocations.
    pub fn reset(&mut self) {
        for kind in Kind::ALL {
            self.get_mut(kind).reset();
        }
    }

    /// Total values recorded across all histograms.
    pub fn total_count(&self) -> u64 {
        Kind::ALL.iter().map(|k| self.get(*k).len()).sum()
    }
}

impl Default for HistogramSet {
    fn default() -> Self {
        HistogramSet::new()
    }
}

impl HistogramSummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return HistogramSummary::default();
        }
        HistogramSummary {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, SIGFIG).expect("constant bounds: 1 < max, sigfig 2 <= 5")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_saturate_instead_of_panicking() {
        let mut h = HistogramSet::new();
        h.record_transit(Duration::from_secs(3600));
        h.record_transit(Duration::MAX);
        h.record_lag(u64::MAX);
        h.record_lag(0);
        h.record_handshake(Duration::ZERO);
        assert_eq!(h.transit_us.len(), 2);
        // Saturated at the top of the range (to within the 1 % resolution).
        assert!(h.transit_us.max() >= MAX_US && h.transit_us.max() < MAX_US * 102 / 100);
        assert_eq!(h.lag_packets.len(), 2);
        assert_eq!(h.handshake_us.len(), 1);
    }

    #[test]
    fn merge_adds_counts_and_reset_empties() {
        let mut a = HistogramSet::new();
        let mut b = HistogramSet::new();
        for ms in 1..=100 {
            a.record_transit(Duration::from_millis(ms));
        }
        b.record_transit(Duration::from_secs(2));
        b.record_rtt(true, Duration::from_millis(30));
        b.record_rtt(false, Duration::from_millis(80));
        a.merge(&b);
        assert_eq!(a.transit_us.len(), 101);
        assert_eq!(a.rtt_publish_us.len(), 1);
        assert_eq!(a.rtt_request_us.len(), 1);
        let s = HistogramSummary::of(&a.transit_us);
        // The 51st of 101 values is 51 ms; hdr reports its bucket's top, within 1 %.
        assert!((51_000..=51_600).contains(&s.p50), "{s:?}");
        assert!(s.max >= 2_000_000 && s.max < 2_030_000, "{s:?}");
        assert_eq!(a.total_count(), 103);
        a.reset();
        assert_eq!(a.total_count(), 0);
        assert_eq!(
            HistogramSummary::of(&a.transit_us),
            HistogramSummary::default()
        );
    }

    #[test]
    fn merge_folds_a_wider_histogram_by_saturating() {
        let mut a = HistogramSet::new();
        let mut b = HistogramSet::new();
        b.lag_packets = Histogram::new_with_bounds(1, u64::MAX / 4, 2).unwrap();
        b.lag_packets.record(1 << 40).unwrap();
        b.lag_packets.record(5).unwrap();
        a.merge(&b);
        assert_eq!(a.lag_packets.len(), 2);
        assert!(a.lag_packets.max() >= MAX_PACKETS);
    }
}
