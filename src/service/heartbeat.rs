//! Liveness of the shards as the main thread sees it: one slot per shard holding when that
//! shard last ran its tick, so the watchdog is fed only while every shard is alive.
//!
//! Owns the slots and the freshness rule. Must not read the clock (every call takes `now`) or
//! sit on the packet path: a shard writes its slot once per tick (1 ms busy, 20 ms idle), the main thread reads
//! them every 20 ms. Relaxed atomics suffice: each slot is an independent value, nothing else
//! is published through it, and a reading a few microseconds old changes no decision.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared between the shards (writers, one slot each) and the main thread (reader). Cloning
/// shares the slots.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    start: Instant,
    /// Milliseconds since `start` of the last beat, plus one; 0 = never beaten.
    slots: Arc<[AtomicU64]>,
}

impl Heartbeats {
    /// `shards` silent slots, timed from `start`.
    pub fn new(shards: usize, start: Instant) -> Heartbeats {
        Heartbeats {
            start,
            slots: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Shard `shard` is alive at `now`. An index out of range is ignored (a shard count
    /// mismatch is a wiring bug, not a reason to stop a shard).
    pub fn beat(&self, shard: usize, now: Instant) {
        if let Some(slot) = self.slots.get(shard) {
            slot.store(self.stamp(now), Ordering::Relaxed);
        }
    }

    /// How long ago shard `shard` last beat, at `now`; `None` if it never has.
    pub fn age(&self, shard: usize, now: Instant) -> Option<Duration> {
        let v = self.slots.get(shard)?.load(Ordering::Relaxed);
        (v != 0).then(|| Duration::from_millis(self.stamp(now).saturating_sub(v)))
    }

    /// Every shard has beaten at least once: all of them are past their start-up.
    pub fn all_started(&self) -> bool {
        self.slots.iter().all(|s| s.load(Ordering::Relaxed) != 0)
    }

    /// Shards that have not beaten yet.
    pub fn not_started(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].load(Ordering::Relaxed) == 0)
            .collect()
    }

    /// Shards that never beat or whose last beat is older than `max_age` at `now`.
    pub fn stale(&self, now: Instant, max_age: Duration) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.age(i, now).is_none_or(|a| a > max_age))
            .collect()
    }

    /// Every shard beat within `max_age` of `now`.
    pub fn all_fresh(&self, now: Instant, max_age: Duration) -> bool {
        (0..self.slots.len()).all(|i| self.age(i, now).is_some_and(|a| a <= max_age))
    }

    fn stamp(&self, now: Instant) -> u64 {
        let ms = now.saturating_duration_since(self.start).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a base instant for virtual time
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_shard_that_never_beat_is_neither_started_nor_fresh() {
        let t0 = Instant::now();
        let h = Heartbeats::new(2, t0);
        assert!(!h.all_started());
        h.beat(0, t0 + MS);
        assert!(!h.all_started());
        assert_eq!(h.not_started(), vec![1]);
        assert!(!h.all_fresh(t0 + 2 * MS, Duration::from_secs(2)));
        assert_eq!(h.stale(t0 + 2 * MS, Duration::from_secs(2)), vec![1]);
        // A beat at the very start instant still counts as a beat.
        h.beat(1, t0);
        assert!(h.all_started());
        assert!(h.all_fresh(t0 + 2 * MS, Duration::from_secs(2)));
    }

    #[test]
    fn a_shard_goes_stale_after_max_age_and_recovers_on_its_next_beat() {
        let t0 = Instant::now();
        let h = Heartbeats::new(3, t0);
        for i in 0..3 {
            h.beat(i, t0 + 10 * MS);
        }
        let max = Duration::from_secs(2);
        let later = t0 + 10 * MS + max;
        assert!(h.all_fresh(later, max), "exactly max_age is still fresh");
        assert_eq!(h.age(1, later), Some(max));
        h.beat(0, later + MS);
        h.beat(2, later + MS);
        assert!(!h.all_fresh(later + MS, max));
        assert_eq!(h.stale(later + MS, max), vec![1]);
        h.beat(1, later + 2 * MS);
        assert!(h.all_fresh(later + 2 * MS, max));
        assert!(h.stale(later + 2 * MS, max).is_empty());
    }

    #[test]
    fn clones_share_slots_across_threads_and_bad_indexes_are_ignored() {
        let t0 = Instant::now();
        let h = Heartbeats::new(2, t0);
        let writer = h.clone();
        std::thread::spawn(move || {
            writer.beat(0, t0 + 5 * MS);
            writer.beat(1, t0 + 5 * MS);
            writer.beat(9, t0 + 5 * MS);
        })
        .join()
        .expect("writer thread");
        assert_eq!(h.age(0, t0 + 7 * MS), Some(2 * MS));
        assert_eq!(h.age(9, t0), None);
        assert_eq!(h.len(), 2);
        // `now` before the beat (the reader's clock read raced the writer): age 0, not a wrap.
        assert_eq!(h.age(0, t0), Some(Duration::ZERO));
    }
}
