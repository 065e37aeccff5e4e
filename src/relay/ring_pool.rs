//! Rings of ended sessions, kept for the next session or replica on the same shard.
//!
//! Owns: a few reset [`StreamRing`]s and their payload handles. A new session takes one
//! instead of allocating a ring's metadata and, as it fills, a ring's worth of payload handles
//! on the shard thread. Must not: hand out a ring that still shows anything of its previous
//! session (every ring is [`StreamRing::reset`] on the way in), or keep more than
//! [`RING_POOL_LIMIT`] (each can hold a full ring of payloads, 12 MiB at the default size).

// Sans-IO like `src/srt`: times come in as arguments.
#![deny(clippy::disallowed_methods)]

use super::ring::{RingConfig, StreamRing};

/// Spare rings per shard: enough for a publisher that reconnects, or a replica that restarts,
/// while its old ring is still in its grace period.
pub const RING_POOL_LIMIT: usize = 2;

#[derive(Debug, Default)]
pub struct RingPool {
    spare: Vec<StreamRing>,
    created: u64,
    recycled: u64,
}

impl RingPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty ring of `cfg`'s size: a recycled one if there is one, else a new one.
    pub fn take(&mut self, cfg: RingConfig) -> StreamRing {
        let want = cfg.normalized();
        if let Some(i) = self.spare.iter().position(|r| r.config() == want) {
            self.recycled += 1;
            return self.spare.swap_remove(i);
        }
        self.created += 1;
        StreamRing::new(cfg)
    }

    /// Takes back the ring of a session that ended; beyond the limit it is freed.
    pub fn give_back(&mut self, mut ring: StreamRing) {
        if self.spare.len() < RING_POOL_LIMIT {
            ring.reset();
            self.spare.push(ring);
        }
    }

    /// Rings built new, and rings handed out again.
    pub fn counts(&self) -> (u64, u64) {
        (self.created, self.recycled)
    }

    pub fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::relay::ring::ReadError;
    use crate::relay::ring::Serial;
    use crate::srt::sim::t0;

    fn cfg() -> RingConfig {
        RingConfig {
            capacity_pkts: 8,
            max_jump_pkts: 1 << 20,
        }
    }

    #[test]
    fn a_recycled_ring_shows_nothing_of_its_last_session_and_reuses_its_payloads() {
        let mut pool = RingPool::new();
        let mut old = pool.take(cfg());
        for s in 0..8u32 {
            let payload = [0x47, s as u8, 0xAA, 0xBB];
            let at = t0() + Duration::from_millis(u64::from(s));
            assert!(old.insert(Serial::new(1000 + s), at, &payload).is_stored());
        }
        let old_positions: Vec<u64> = (0..8)
            .map(|s| old.position_of(Serial::new(1000 + s)))
            .collect();
        assert_eq!(old.payload_allocations(), (8, 0));
        pool.give_back(old);
        assert_eq!(pool.spare(), 1);

        let mut ring = pool.take(cfg());
        assert_eq!(pool.counts(), (1, 1), "handed out again, not rebuilt");
        assert_eq!((ring.head(), ring.arrivals(), ring.missing()), (None, 0, 0));
        assert_eq!(*ring.stats(), Default::default());
        for pos in &old_positions {
            assert!(
                ring.get(*pos).is_none(),
                "position {pos} of the old session"
            );
        }
        let mut oldest = ring.cursor_at_oldest();
        assert_eq!(ring.read(&mut oldest).map(|p| p.pos), Err(ReadError::Empty));
        assert!(ring.cursor_at_last(|_| true).is_none());

        // A new session whose numbers overlap the old one's sees only its own packets.
        let mut c = ring.cursor_at_oldest();
        assert!(ring.insert(Serial::new(1003), t0(), b"new").is_stored());
        let p = ring.read(&mut c).expect("the new packet");
        assert_eq!((p.payload, p.handle.len()), (&b"new"[..], 3));
        assert_eq!(ring.read(&mut c).map(|p| p.pos), Err(ReadError::Empty));
        assert_eq!(ring.stats().inserted, 1);
        assert_eq!(
            ring.missing(),
            0,
            "no gaps counted against the old session's head"
        );
        assert_eq!(
            ring.payload_allocations(),
            (8, 1),
            "the slot's old handle was refilled, not reallocated"
        );
    }

    #[test]
    fn a_recycled_replica_lets_go_of_the_source_handles() {
        let mut pool = RingPool::new();
        let mut source = StreamRing::new(cfg());
        let mut replica = pool.take(cfg());
        for s in 0..8u32 {
            assert!(
                source
                    .insert(Serial::new(s), t0(), &[0x47, s as u8])
                    .is_stored()
            );
            let p = source.get(source.head().expect("stored")).expect("held");
            let (pos, origin, arrived, h) = (p.pos, p.origin, p.arrived, p.handle.clone());
            assert!(replica.insert_handle(pos, origin, arrived, h).is_stored());
        }
        let head = source.head().expect("stored");
        let held = source.get(head).expect("held").handle.clone();
        assert_eq!(held.holders(), 3, "source, replica and this test");
        pool.give_back(replica);
        assert_eq!(held.holders(), 2, "the pooled replica let go");
        // So the source refills its handles in place as it wraps.
        for s in 8..16u32 {
            assert!(
                source
                    .insert(Serial::new(s), t0(), &[0x47, s as u8])
                    .is_stored()
            );
        }
        // Seven refilled in place; the slot of the handle this test holds got a new one.
        assert_eq!(source.payload_allocations(), (9, 7));
    }

    #[test]
    fn the_pool_is_bounded_and_matches_the_size() {
        let mut pool = RingPool::new();
        for _ in 0..RING_POOL_LIMIT + 2 {
            pool.give_back(StreamRing::new(cfg()));
        }
        assert_eq!(pool.spare(), RING_POOL_LIMIT);
        let big = RingConfig {
            capacity_pkts: 64,
            ..cfg()
        };
        assert_eq!(pool.take(big).capacity(), 64);
        assert_eq!(
            pool.counts(),
            (1, 0),
            "a ring of another size is not reused"
        );
        assert_eq!(pool.take(cfg()).capacity(), 8);
        assert_eq!(pool.counts(), (1, 1));
    }
}
