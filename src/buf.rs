//! Payload handles: a publisher packet's bytes, written once and shared by reference.
//!
//! Owns: [`Payload`] (an immutable, cheaply cloned handle to at most [`MAX_PAYLOAD`] bytes) and
//! [`PayloadPool`] (reuses a handle's storage once nobody else holds it). Neutral on purpose:
//! the relay ring stores handles, the SRT send buffer (`srt::connection`) holds them, and a
//! cross-shard handoff moves one, so neither `srt` nor `relay` owns the type.
//! Must not: know packets, positions or protocols; read the clock; lock.
//!
//! Why a refcounted handle and not a ring position: a subscriber's send buffer must keep a
//! packet until it is acknowledged or dropped, whatever the ring does meanwhile, and a
//! position would turn every slot the ring recycled under a slow subscriber into a loss. A
//! handle keeps exactly the packets someone still needs, and retransmissions read the bytes
//! that were sent.
//!
//! Why `Arc` and not `Rc`: a replica ring on another shard stores the source shard's very
//! handle (the handoff moves it; the bytes are not copied again), and that shard's subscribers
//! hold it too. An `Rc` would force one copy per shard. The price is an atomic increment per
//! subscriber and packet (uncontended unless both shards touch the same packet at once) and a
//! decrement when it is acknowledged.

use std::collections::VecDeque;
use std::sync::Arc;

/// Largest payload a handle holds: a 1500-byte MTU minus IPv4, UDP and the SRT header
/// (draft-sharabayko-srt §3.1; libsrt's `SRT_LIVE_MAX_PLSIZE`). Whole-TS payloads are at most
/// 7 * 188 = 1316; the rest is room for pass-through payloads.
pub const MAX_PAYLOAD: usize = 1456;

/// A shared, immutable payload. Cloning copies a pointer, never the bytes.
#[derive(Clone)]
pub struct Payload(Arc<Chunk>);

/// One allocation of fixed size, so a pool can refill any chunk with any payload.
struct Chunk {
    len: u16,
    bytes: [u8; MAX_PAYLOAD],
}

impl Payload {
    /// A new handle holding a copy of `bytes` (one allocation); `None` if longer than
    /// [`MAX_PAYLOAD`]. Repeated writers use [`PayloadPool::fill`] instead.
    pub fn copy_from_slice(bytes: &[u8]) -> Option<Payload> {
        let mut chunk = Chunk {
            len: 0,
            bytes: [0; MAX_PAYLOAD],
        };
        chunk.write(bytes)?;
        Some(Payload(Arc::new(chunk)))
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0.bytes[..usize::from(self.0.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.0.len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// How many handles share these bytes (this one included).
    pub fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// Whether both handles share one allocation.
    pub fn same_bytes(a: &Payload, b: &Payload) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// By content: two handles are equal when they hold the same bytes (see
/// [`Payload::same_bytes`] for "the same allocation").
impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Payload {}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("len", &self.len())
            .field("holders", &self.holders())
            .finish_non_exhaustive()
    }
}

impl Chunk {
    fn write(&mut self, bytes: &[u8]) -> Option<()> {
        if bytes.len() > MAX_PAYLOAD {
            return None;
        }
        self.bytes[..bytes.len()].copy_from_slice(bytes);
        // MAX_PAYLOAD < u16::MAX.
        self.len = bytes.len() as u16;
        Some(())
    }
}

/// Handles given back by their writer, reused once every other holder has let go.
///
/// A ring gives back the handle of each slot it overwrites. Subscribers usually released it
/// long before (the ring wraps after seconds, an acknowledgement takes milliseconds), but a
/// replica on another shard lets go only when its own copy of the ring wraps, a little later:
/// so the oldest handles given back are tried first, and a held one waits in line instead of
/// being replaced, up to [`SPARE_LIMIT`] of them.
#[derive(Debug, Default)]
pub struct PayloadPool {
    spare: VecDeque<Payload>,
    allocated: u64,
    reused: u64,
}

/// Handles a pool keeps waiting for their other holders; past it the oldest is let go (freed
/// by whoever holds it last). A few batches of a replica's lag, small next to a ring.
const SPARE_LIMIT: usize = 1024;

impl PayloadPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle holding a copy of `bytes`: the oldest spare one if nobody else holds it, else
    /// a new allocation. `None` if longer than [`MAX_PAYLOAD`].
    pub fn fill(&mut self, bytes: &[u8]) -> Option<Payload> {
        if bytes.len() > MAX_PAYLOAD {
            return None;
        }
        // Two tries: a handle someone keeps for long (a subscriber that never acknowledges)
        // moves to the back instead of blocking the line; O(1) either way.
        for _ in 0..2 {
            let Some(front) = self.spare.front_mut() else {
                break;
            };
            if let Some(chunk) = Arc::get_mut(&mut front.0) {
                chunk.write(bytes)?;
                self.reused += 1;
                return self.spare.pop_front();
            }
            self.spare.rotate_left(1);
        }
        self.allocated += 1;
        Payload::copy_from_slice(bytes)
    }

    /// Takes back a handle its writer no longer needs (other holders may still read it).
    pub fn give_back(&mut self, p: Payload) {
        if self.spare.len() >= SPARE_LIMIT {
            self.spare.pop_front();
        }
        self.spare.push_back(p);
    }

    /// Forgets the spare handles someone else still holds (their memory goes with their last
    /// holder); keeps those only this pool can reach.
    pub fn drop_shared(&mut self) {
        self.spare.retain(|p| p.holders() == 1);
    }

    /// Fresh allocations made by [`Self::fill`].
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Fills that reused a spare handle.
    pub fn reused(&self) -> u64 {
        self.reused
    }

    pub fn spare(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_allocation() {
        let p = Payload::copy_from_slice(b"abc").expect("fits");
        let q = p.clone();
        assert!(Payload::same_bytes(&p, &q));
        assert_eq!((p.holders(), &*q, q.len()), (2, &b"abc"[..], 3));
        drop(q);
        assert_eq!(p.holders(), 1);
        assert!(Payload::copy_from_slice(&[0; MAX_PAYLOAD + 1]).is_none());
        assert!(
            Payload::copy_from_slice(&[])
                .expect("empty fits")
                .is_empty()
        );
    }

    #[test]
    fn pool_reuses_a_handle_only_once_nobody_else_holds_it() {
        let mut pool = PayloadPool::new();
        let a = pool.fill(b"first").expect("fits");
        let reader = a.clone();
        pool.give_back(a);
        // Someone still reads "first": its bytes must not change under them.
        let b = pool.fill(b"second").expect("fits");
        assert_eq!((&*reader, &*b), (&b"first"[..], &b"second"[..]));
        assert_eq!((pool.allocated(), pool.reused(), pool.spare()), (2, 0, 1));
        drop(reader);
        let c = pool.fill(b"third, longer").expect("fits");
        assert_eq!(&*c, b"third, longer");
        assert_eq!((pool.allocated(), pool.reused(), pool.spare()), (2, 1, 0));
        assert!(pool.fill(&[0; MAX_PAYLOAD + 1]).is_none());
    }

    #[test]
    fn a_handle_held_for_long_does_not_block_the_others() {
        let mut pool = PayloadPool::new();
        let kept = pool.fill(b"kept").expect("fits");
        pool.give_back(kept.clone());
        for i in 0..10u8 {
            let p = pool.fill(&[i]).expect("fits");
            pool.give_back(p);
        }
        // One allocation besides `kept`, then the released one is refilled each time.
        assert_eq!((pool.allocated(), pool.reused()), (2, 9));
        assert_eq!(&*kept, b"kept");
    }

    #[test]
    fn spare_handles_are_bounded() {
        let mut pool = PayloadPool::new();
        let held: Vec<Payload> = (0..SPARE_LIMIT + 10)
            .map(|i| {
                let p = pool.fill(&[i as u8]).expect("fits");
                pool.give_back(p.clone());
                p
            })
            .collect();
        assert_eq!(pool.spare(), SPARE_LIMIT);
        let let_go = held.iter().filter(|p| p.holders() == 1).count();
        assert_eq!(let_go, 10, "the pool kept no more than its limit");
    }
}
