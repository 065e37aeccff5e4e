//! What the coordinating thread and the workers share: the run's phase, the publishing start
//! time, each stream's final payload count, and per-worker progress counters.
//!
//! Owns: only atomics, written by one side and read by the other (relaxed: each value is
//! independent, and phases move forward only). Must not: hold anything a worker touches per
//! packet (workers publish their counters at most once per loop turn).

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The run's phases, in order. Workers follow the coordinator's lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Publishers call the server (paced by `--connect-rate`).
    ConnectPublishers = 0,
    /// Subscribers call the server; publishers are up and idle.
    ConnectSubscribers = 1,
    /// Publishers send on their schedule, from `publish_start` for `--duration`.
    Publish = 2,
    /// Publishing ended; retransmissions and TSBPD deliveries finish.
    Drain = 3,
    /// Everyone closes (SHUTDOWN) and the workers return their results.
    Close = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::ConnectPublishers,
            1 => Phase::ConnectSubscribers,
            2 => Phase::Publish,
            3 => Phase::Drain,
            _ => Phase::Close,
        }
    }
}

/// Counters one worker publishes for the progress line and the coordinator's waits.
#[derive(Debug, Default)]
pub struct Progress {
    pub pubs_settled: AtomicU64,
    pub pubs_up: AtomicU64,
    pub subs_settled: AtomicU64,
    pub subs_up: AtomicU64,
    pub failed: AtomicU64,
    pub disconnects: AtomicU64,
    /// Payloads handed to SRT by this worker's publishers.
    pub sent: AtomicU64,
    /// Distinct payloads delivered to this worker's subscribers.
    pub delivered: AtomicU64,
    /// Subscribers that delivered everything their publisher sent.
    pub complete: AtomicU64,
    /// Retransmitted packets received by this worker's subscribers (sampled).
    pub sub_retrans: AtomicU64,
}

/// Sums of every worker's [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSum {
    pub pubs_settled: u64,
    pub pubs_up: u64,
    pub subs_settled: u64,
    pub subs_up: u64,
    pub failed: u64,
    pub disconnects: u64,
    pub sent: u64,
    pub delivered: u64,
    pub complete: u64,
    pub sub_retrans: u64,
}

pub struct Shared {
    /// loadgen's time origin: send stamps are nanoseconds since this.
    pub start: Instant,
    phase: AtomicU8,
    /// Nanoseconds from `start` to the first scheduled payload.
    publish_start_ns: AtomicU64,
    /// Per stream: payloads its publisher handed to SRT, `u64::MAX` until it stopped.
    published: Vec<AtomicU64>,
    pub progress: Vec<Progress>,
}

impl Shared {
    pub fn new(start: Instant, streams: usize, workers: usize) -> Shared {
        Shared {
            start,
            phase: AtomicU8::new(Phase::ConnectPublishers as u8),
            publish_start_ns: AtomicU64::new(0),
            published: (0..streams).map(|_| AtomicU64::new(u64::MAX)).collect(),
            progress: (0..workers).map(|_| Progress::default()).collect(),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Relaxed))
    }

    /// Moves forward to `p` (never back).
    pub fn set_phase(&self, p: Phase) {
        self.phase.fetch_max(p as u8, Relaxed);
    }

    /// Sets when publishing starts, then enters [`Phase::Publish`]. The start is written first
    /// and the phase with release ordering, so a worker that sees the phase sees the start.
    pub fn start_publishing(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.start).as_nanos() as u64;
        self.publish_start_ns.store(ns, Relaxed);
        self.phase
            .fetch_max(Phase::Publish as u8, std::sync::atomic::Ordering::Release);
    }

    pub fn publish_start(&self) -> Instant {
        // Pairs with the release in start_publishing.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        self.start + Duration::from_nanos(self.publish_start_ns.load(Relaxed))
    }

    pub fn set_published(&self, stream: u32, count: u64) {
        if let Some(a) = self.published.get(stream as usize) {
            a.store(count, Relaxed);
        }
    }

    /// Payloads stream `stream`'s publisher sent, once it has stopped.
    pub fn published(&self, stream: u32) -> Option<u64> {
        let v = self.published.get(stream as usize)?.load(Relaxed);
        (v != u64::MAX).then_some(v)
    }

    pub fn sum(&self) -> ProgressSum {
        let mut s = ProgressSum::default();
        for p in &self.progress {
            s.pubs_settled += p.pubs_settled.load(Relaxed);
            s.pubs_up += p.pubs_up.load(Relaxed);
            s.subs_settled += p.subs_settled.load(Relaxed);
            s.subs_up += p.subs_up.load(Relaxed);
            s.failed += p.failed.load(Relaxed);
            s.disconnects += p.disconnects.load(Relaxed);
            s.sent += p.sent.load(Relaxed);
            s.delivered += p.delivered.load(Relaxed);
            s.complete += p.complete.load(Relaxed);
            s.sub_retrans += p.sub_retrans.load(Relaxed);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward_and_publish_start_is_kept() {
        let t0 = crate::clock::now();
        let s = Shared::new(t0, 2, 1);
        assert_eq!(s.phase(), Phase::ConnectPublishers);
        s.set_phase(Phase::ConnectSubscribers);
        s.start_publishing(t0 + Duration::from_millis(1500));
        assert_eq!(s.phase(), Phase::Publish);
        assert_eq!(s.publish_start(), t0 + Duration::from_millis(1500));
        s.set_phase(Phase::ConnectPublishers);
        assert_eq!(s.phase(), Phase::Publish, "never back");
        assert_eq!(s.published(1), None);
        s.set_published(1, 42);
        assert_eq!(s.published(1), Some(42));
        assert_eq!(s.published(9), None);
    }
}
