//! Per-connection bookkeeping on a worker: a publisher's constant-bitrate schedule and payload
//! source, a subscriber's view of what arrived and what was delivered (stamp decoding,
//! duplicate detection, latency samples).
//!
//! Owns: the schedule arithmetic and the sequence-number window. Must not: touch sockets or the
//! endpoint (the worker loop does), or read the clock.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use srtrelay::srt::connection::Stats;
use srtrelay::srt::endpoint::ConnId;

use crate::stamp::{self, PayloadSource};

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Not asked to connect yet.
    Idle,
    Connecting(ConnId),
    Up(ConnId),
    /// The attempt failed, with the reason.
    Failed(String),
    /// Closed; `by_peer` when it was not loadgen that closed it.
    Closed {
        by_peer: bool,
    },
}

impl ConnState {
    pub fn id(&self) -> Option<ConnId> {
        match self {
            ConnState::Connecting(id) | ConnState::Up(id) => Some(*id),
            _ => None,
        }
    }

    /// Connected, failed or gone: no longer waiting on the handshake.
    pub fn is_settled(&self) -> bool {
        !matches!(self, ConnState::Idle | ConnState::Connecting(_))
    }
}

/// Fields both roles share.
#[derive(Debug)]
pub struct Link {
    pub sock: usize,
    pub state: ConnState,
    pub connect_started: Option<Instant>,
    pub connect_us: Option<u64>,
    /// Ever reached `Up`.
    pub connected: bool,
    /// Final SRT statistics: a snapshot before loadgen closed it, or what the endpoint reported
    /// when the peer closed it.
    pub stats: Option<Stats>,
    /// SRT statistics when the warm-up ended: subtracted from `stats` so counters cover the
    /// measured part only.
    pub stats_at_measure: Option<Stats>,
}

impl Link {
    pub fn new(sock: usize) -> Link {
        Link {
            sock,
            state: ConnState::Idle,
            connect_started: None,
            connect_us: None,
            connected: false,
            stats: None,
            stats_at_measure: None,
        }
    }
}

/// The constant-bitrate schedule: payload `k` is due at
/// `start + offset + floor(k / burst) * burst * interval`, for every due time before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start: Instant,
    pub end: Instant,
    /// Time between payloads at the target rate.
    pub interval: Duration,
    /// Payloads sent back to back at each burst time.
    pub burst: u32,
}

impl Schedule {
    /// When payload `k` is due, or `None` if it falls at or after the end.
    pub fn due(&self, k: u64) -> Option<Instant> {
        let burst = u64::from(self.burst.max(1));
        let slots = k / burst * burst;
        let ns = (self.interval.as_nanos() as u64).saturating_mul(slots);
        let at = self.start + Duration::from_nanos(ns);
        (at < self.end).then_some(at)
    }

    /// How many payloads are due at or before `now` (and before the end).
    pub fn due_count(&self, now: Instant) -> u64 {
        let total = self.total();
        if now < self.start {
            return 0;
        }
        let burst = u64::from(self.burst.max(1));
        let step = (self.interval.as_nanos() as u64)
            .saturating_mul(burst)
            .max(1);
        let elapsed = (now - self.start).as_nanos() as u64;
        ((elapsed / step + 1) * burst).min(total)
    }

    /// How many payloads are due strictly before `t` (and before the end).
    pub fn count_before(&self, t: Instant) -> u64 {
        if t <= self.start {
            return 0;
        }
        let burst = u64::from(self.burst.max(1));
        let step = (self.interval.as_nanos() as u64)
            .saturating_mul(burst)
            .max(1);
        let elapsed = (t - self.start).as_nanos() as u64;
        (elapsed.div_ceil(step) * burst).min(self.total())
    }

    /// Payloads in the whole schedule.
    pub fn total(&self) -> u64 {
        if self.end <= self.start {
            return 0;
        }
        let burst = u64::from(self.burst.max(1));
        let step = (self.interval.as_nanos() as u64)
            .saturating_mul(burst)
            .max(1);
        let span = (self.end - self.start).as_nanos() as u64;
        span.div_ceil(step) * burst
    }
}

pub struct Publisher {
    pub stream: u32,
    pub link: Link,
    pub source: PayloadSource,
    pub schedule: Option<Schedule>,
    /// Payloads the schedule has called for so far (warm-up included).
    pub scheduled: u64,
    /// Payloads SRT accepted (warm-up included).
    pub handed: u64,
    /// First sequence number after the warm-up: what is measured.
    pub measure_from: u64,
    /// One past the last measured sequence number (the cool-down follows).
    pub measure_until: u64,
    /// Payloads in `measure_from..measure_until` that SRT accepted.
    pub handed_measured: u64,
    /// Payloads SRT refused (buffer full, connection down).
    pub send_errors: u64,
}

impl Publisher {
    pub fn new(stream: u32, sock: usize, source: PayloadSource) -> Publisher {
        Publisher {
            stream,
            link: Link::new(sock),
            source,
            schedule: None,
            scheduled: 0,
            handed: 0,
            measure_from: 0,
            measure_until: u64::MAX,
            handed_measured: 0,
            send_errors: 0,
        }
    }

    /// Payloads the schedule called for after the warm-up and before the cool-down.
    pub fn expected(&self) -> u64 {
        self.scheduled
            .min(self.measure_until)
            .saturating_sub(self.measure_from)
    }

    /// When the next payload is due, if any is left.
    pub fn next_due(&self) -> Option<Instant> {
        self.schedule?.due(self.scheduled)
    }
}

/// Window of sequence numbers seen, for duplicate detection without remembering a whole run.
/// Anything older than the window counts as stale.
#[derive(Debug, Clone)]
pub struct SeqWindow {
    base: u64,
    bits: Vec<u64>,
}

/// What [`SeqWindow::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Fresh,
    Duplicate,
    /// Below the window: too old to tell (at 20 Mbit/s the default window is 34 s).
    Stale,
}

impl SeqWindow {
    /// Sequence numbers remembered; a power of two.
    pub const SPAN: u64 = 1 << 16;

    pub fn new() -> SeqWindow {
        SeqWindow {
            base: 0,
            bits: vec![0; (Self::SPAN / 64) as usize],
        }
    }

    pub fn insert(&mut self, seq: u64) -> Seen {
        if seq < self.base {
            return Seen::Stale;
        }
        if seq >= self.base + Self::SPAN {
            let new_base = seq - Self::SPAN + 1;
            if new_base - self.base >= Self::SPAN {
                self.bits.fill(0);
            } else {
                for s in self.base..new_base {
                    self.clear(s);
                }
            }
            self.base = new_base;
        }
        let (w, b) = Self::slot(seq);
        if self.bits[w] & b != 0 {
            Seen::Duplicate
        } else {
            self.bits[w] |= b;
            Seen::Fresh
        }
    }

    fn clear(&mut self, seq: u64) {
        let (w, b) = Self::slot(seq);
        self.bits[w] &= !b;
    }

    fn slot(seq: u64) -> (usize, u64) {
        let i = seq % Self::SPAN;
        ((i / 64) as usize, 1 << (i % 64))
    }
}

impl Default for SeqWindow {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Subscriber {
    pub stream: u32,
    /// Number within its stream's audience (the `{sub}` of the stream ID template).
    pub number: u32,
    pub link: Link,
    pub window: SeqWindow,
    /// Fresh data packets SRT saw (each SRT sequence number once), stamped or not.
    pub arrived: u64,
    /// Distinct payloads of our stream from the measured part (after the warm-up) delivered
    /// to the application.
    pub delivered: u64,
    /// Distinct payloads of the warm-up delivered (not measured).
    pub warmup_delivered: u64,
    /// First measured sequence number of the stream.
    pub measure_from: u64,
    /// One past the last measured one (the cool-down follows).
    pub measure_until: u64,
    pub duplicates: u64,
    pub foreign: u64,
    /// Delivered everything its publisher sent (known once the publisher stopped).
    pub complete: bool,
}

impl Subscriber {
    pub fn new(stream: u32, number: u32, sock: usize) -> Subscriber {
        Subscriber {
            stream,
            number,
            link: Link::new(sock),
            window: SeqWindow::new(),
            arrived: 0,
            delivered: 0,
            warmup_delivered: 0,
            measure_from: 0,
            measure_until: u64::MAX,
            duplicates: 0,
            foreign: 0,
            complete: false,
        }
    }

    /// A data packet reached SRT for the first time at `now_ns` (since loadgen start).
    pub fn on_arrival(&mut self, payload: &[u8], now_ns: u64, transit: &mut Histogram<u64>) {
        self.arrived += 1;
        if let Ok(s) = stamp::decode(payload)
            && s.stream == self.stream
            && (self.measure_from..self.measure_until).contains(&s.seq)
        {
            transit.saturating_record(latency_us(now_ns, s.sent_ns));
        }
    }

    /// SRT delivered a payload to the application at `now_ns`.
    pub fn on_delivered(&mut self, payload: &[u8], now_ns: u64, e2e: &mut Histogram<u64>) {
        match stamp::decode(payload) {
            Ok(s) if s.stream == self.stream => match self.window.insert(s.seq) {
                Seen::Fresh if s.seq < self.measure_from => self.warmup_delivered += 1,
                Seen::Fresh if s.seq >= self.measure_until => {}
                Seen::Fresh => {
                    self.delivered += 1;
                    e2e.saturating_record(latency_us(now_ns, s.sent_ns));
                }
                Seen::Duplicate | Seen::Stale => self.duplicates += 1,
            },
            _ => self.foreign += 1,
        }
    }
}

/// Microseconds from `sent_ns` to `now_ns`, at least 1 (the histogram's lowest value).
fn latency_us(now_ns: u64, sent_ns: u64) -> u64 {
    (now_ns.saturating_sub(sent_ns) / 1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_histogram;
    use crate::stamp::{PAYLOAD_LEN, Stamp, encode_synthetic};

    fn sched(burst: u32) -> Schedule {
        let start = crate::clock::now();
        Schedule {
            start,
            end: start + Duration::from_millis(100),
            interval: Duration::from_millis(10),
            burst,
        }
    }

    #[test]
    fn schedule_paces_and_stops_at_the_end() {
        let s = sched(1);
        let ms = Duration::from_millis;
        assert_eq!(s.total(), 10);
        assert_eq!(s.due(0), Some(s.start));
        assert_eq!(s.due(3), Some(s.start + ms(30)));
        assert_eq!(s.due(9), Some(s.start + ms(90)));
        assert_eq!(s.due(10), None);
        assert_eq!(s.due_count(s.start - ms(1)), 0);
        assert_eq!(s.due_count(s.start), 1);
        assert_eq!(s.due_count(s.start + ms(29)), 3);
        assert_eq!(s.due_count(s.start + ms(30)), 4);
        assert_eq!(s.due_count(s.start + ms(1000)), 10);
        assert_eq!(s.count_before(s.start), 0);
        assert_eq!(s.count_before(s.start + ms(30)), 3);
        assert_eq!(s.count_before(s.start + ms(31)), 4);
        assert_eq!(s.count_before(s.start + ms(1000)), 10);
    }

    #[test]
    fn bursts_keep_the_rate() {
        let s = sched(4);
        let ms = Duration::from_millis;
        // 4 payloads every 40 ms: same 100 payloads/s.
        assert_eq!(s.due(0), Some(s.start));
        assert_eq!(s.due(3), Some(s.start));
        assert_eq!(s.due(4), Some(s.start + ms(40)));
        assert_eq!(s.due_count(s.start), 4);
        assert_eq!(s.due_count(s.start + ms(39)), 4);
        assert_eq!(s.due_count(s.start + ms(40)), 8);
        // Bursts at 0, 40, 80 ms.
        assert_eq!(s.total(), 12);
        assert_eq!(s.due(11), Some(s.start + ms(80)));
        assert_eq!(s.due(12), None);
    }

    #[test]
    fn window_finds_duplicates_and_slides() {
        let mut w = SeqWindow::new();
        assert_eq!(w.insert(5), Seen::Fresh);
        assert_eq!(w.insert(5), Seen::Duplicate);
        assert_eq!(w.insert(0), Seen::Fresh, "out of order is fine");
        let far = SeqWindow::SPAN + 10;
        assert_eq!(w.insert(far), Seen::Fresh);
        assert_eq!(w.insert(5), Seen::Stale, "slid past");
        assert_eq!(
            w.insert(11),
            Seen::Fresh,
            "inside the new window, never seen"
        );
        // Sliding cleared the old numbers' bits but kept the newest one's.
        assert_eq!(w.insert(far), Seen::Duplicate);
        assert_eq!(
            w.insert(10 * SeqWindow::SPAN),
            Seen::Fresh,
            "a jump clears everything"
        );
        assert_eq!(w.insert(10 * SeqWindow::SPAN - 1), Seen::Fresh);
    }

    #[test]
    fn subscriber_counts_by_stamp() {
        let mut sub = Subscriber::new(3, 0, 0);
        let (mut transit, mut e2e) = (new_histogram(), new_histogram());
        let mut p = [0u8; PAYLOAD_LEN];
        encode_synthetic(
            &mut p,
            &Stamp {
                stream: 3,
                seq: 0,
                sent_ns: 1_000_000,
            },
        );
        sub.on_arrival(&p, 3_000_000, &mut transit);
        sub.on_delivered(&p, 5_000_000, &mut e2e);
        sub.on_delivered(&p, 5_000_000, &mut e2e);
        let mut other = [0u8; PAYLOAD_LEN];
        encode_synthetic(
            &mut other,
            &Stamp {
                stream: 4,
                seq: 1,
                sent_ns: 0,
            },
        );
        sub.on_delivered(&other, 5_000_000, &mut e2e);
        sub.on_delivered(&[0u8; 1316], 5_000_000, &mut e2e);
        assert_eq!(
            (sub.arrived, sub.delivered, sub.duplicates, sub.foreign),
            (1, 1, 1, 2)
        );
        assert_eq!(transit.len(), 1);
        assert_eq!(transit.max(), 2000, "2 ms transit in us");
        assert_eq!(e2e.len(), 1);
        assert!((3995..=4005).contains(&e2e.max()), "4 ms end to end");
    }

    #[test]
    fn warmup_payloads_are_counted_apart_and_not_timed() {
        let mut sub = Subscriber::new(0, 0, 0);
        sub.measure_from = 10;
        let (mut transit, mut e2e) = (new_histogram(), new_histogram());
        let mut p = [0u8; PAYLOAD_LEN];
        for seq in [9, 10, 9] {
            encode_synthetic(
                &mut p,
                &Stamp {
                    stream: 0,
                    seq,
                    sent_ns: 0,
                },
            );
            sub.on_arrival(&p, 1_000_000, &mut transit);
            sub.on_delivered(&p, 1_000_000, &mut e2e);
        }
        assert_eq!(
            (sub.warmup_delivered, sub.delivered, sub.duplicates),
            (1, 1, 1)
        );
        assert_eq!((transit.len(), e2e.len()), (1, 1), "only seq 10 is timed");
    }
}
