//! Cross-shard handoff: how a stream's packets reach subscribers on other shards.
//!
//! Owns: the [`Handoff`] message (one publisher packet: its place and times, and a handle to
//! the payload the source ring holds, so the bytes cross shards without being copied and the
//! replica stores that same handle), the [`Forwarder`] that
//! turns a cursor on the publisher's ring into messages for one other shard, and applying a
//! message to that shard's [`ReplicaRing`], which its subscribers read like the source ring.
//! Must not: block, allocate per packet, lock, read the clock, or own the queue itself.
//!
//! The queue is one bounded SPSC channel per (publisher shard, subscriber shard) pair, created at
//! start-up and carrying `Handoff`s for every stream: glommio's
//! `channels::shared_channel::new_bounded` (lock-free SPSC across executors, and it wakes the
//! receiving executor, which a hand-rolled std ring could only do by polling; the crate forbids
//! `unsafe`, so a zero-copy ring of our own is out anyway). A message is a few dozen bytes; the
//! payload itself never travels through the queue. The sender only ever uses
//! `ConnectedSender::try_send`. `crossbeam-channel`'s bounded `try_send` would also do outside
//! glommio, at the cost of an MPMC protocol and no executor wake-up.
//!
//! The publisher is never blocked: the forwarder reads the ring through its own [`Cursor`]; when
//! the queue is full it stops and retries on the next pump, so short stalls cost nothing, and a
//! shard that stays behind for a whole ring's worth of packets gets `Lagged(n)` like any slow
//! subscriber (counted) and resumes at the oldest packet held. Packets it never got are gaps in
//! the replica, i.e. loss to that shard's subscribers; later arrivals (retransmissions) still
//! flow through and fill gaps as they do on the source.

// Sans-IO like `src/srt`: times come in as arguments.
#![deny(clippy::disallowed_methods)]

use std::time::Instant;

use super::ring::{Cursor, CursorStats, InsertOutcome, PacketRef, StreamRing};
use crate::buf::Payload;

/// A small per-process id for a stream, agreed between shards (not the stream's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey(pub u32);

/// A ring on a subscriber shard, fed only by [`Handoff::apply`]. Its positions are the source's,
/// so cursors, `start_pos` and subscriber sequence numbers work the same on every shard.
pub type ReplicaRing = StreamRing;

/// One publisher packet on its way to another shard (56 bytes: the payload is a handle).
#[derive(Clone)]
pub struct Handoff {
    pub stream: StreamKey,
    /// Ring position on the source (the publisher's sequence number, extended).
    pub pos: u64,
    pub origin: Instant,
    /// When the publisher's datagram was read on its shard (the relay transit histogram counts
    /// from there), carried into the replica.
    pub arrived: Instant,
    payload: Payload,
}

impl Handoff {
    /// One packet of `stream` from the source ring: shares its payload, copies nothing.
    pub fn new(stream: StreamKey, pkt: &PacketRef<'_>) -> Self {
        Handoff {
            stream,
            pos: pkt.pos,
            origin: pkt.origin,
            arrived: pkt.arrived,
            payload: pkt.handle.clone(),
        }
    }

    pub fn payload(&self) -> &[u8] {
        self.payload.as_slice()
    }

    /// The payload's handle (shared with the source ring).
    pub fn handle(&self) -> &Payload {
        &self.payload
    }

    /// Stores the packet in the receiving shard's replica of `self.stream`, sharing the
    /// source's payload.
    pub fn apply(&self, replica: &mut ReplicaRing) -> InsertOutcome {
        replica.insert_handle(self.pos, self.origin, self.arrived, self.payload.clone())
    }
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("stream", &self.stream)
            .field("pos", &self.pos)
            .field("origin", &self.origin)
            .field("len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// Forwarding of one stream to one other shard, on the publisher's shard.
#[derive(Debug, Clone)]
pub struct Forwarder {
    stream: StreamKey,
    cursor: Cursor,
    sent: u64,
    queue_full: u64,
}

impl Forwarder {
    /// Forwards what `cursor` reads from the source ring (usually `cursor_at_head` when the
    /// other shard gets its first subscriber, or `cursor_at_last` to give it a keyframe).
    pub fn new(stream: StreamKey, cursor: Cursor) -> Self {
        Forwarder {
            stream,
            cursor,
            sent: 0,
            queue_full: 0,
        }
    }

    pub fn stream(&self) -> StreamKey {
        self.stream
    }

    /// Sends up to `budget` packets through `try_send`, which returns `false` when the queue
    /// is full (or closed); the refused packet is sent again on the next pump. Returns how many
    /// were sent. Never waits.
    pub fn pump(
        &mut self,
        ring: &StreamRing,
        budget: usize,
        mut try_send: impl FnMut(Handoff) -> bool,
    ) -> usize {
        let mut n = 0;
        while n < budget {
            let before = self.cursor;
            match ring.read(&mut self.cursor) {
                Ok(pkt) => {
                    if !try_send(Handoff::new(self.stream, &pkt)) {
                        self.cursor = before;
                        self.queue_full += 1;
                        break;
                    }
                    n += 1;
                }
                // Counted in the cursor's stats; carry on from the oldest packet held.
                Err(super::ring::ReadError::Lagged(_)) => {}
                Err(super::ring::ReadError::Empty) => break,
            }
        }
        self.sent += n as u64;
        n
    }

    /// Packets handed to the queue.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Pumps stopped by a full queue.
    pub fn queue_full(&self) -> u64 {
        self.queue_full
    }

    /// The forwarding cursor's counters (`lagged_pkts`: packets the other shard never got).
    pub fn cursor_stats(&self) -> &CursorStats {
        self.cursor.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, sync_channel};
    use std::time::Duration;

    use super::*;
    use crate::relay::ring::Serial;
    use crate::relay::ring::{ReadError, RingConfig};
    use crate::srt::handshake::test_util::t0;

    fn ring(cap: usize) -> StreamRing {
        StreamRing::new(RingConfig {
            capacity_pkts: cap,
            max_jump_pkts: 1 << 20,
        })
    }

    /// The packet the publisher sent as `seq`: (origin, payload).
    fn packet(seq: u32) -> (Instant, Vec<u8>) {
        let mut p = vec![0x47u8; 188];
        p[1..5].copy_from_slice(&seq.to_be_bytes());
        p.truncate(if seq.is_multiple_of(2) { 188 } else { 100 });
        (t0() + Duration::from_millis(u64::from(seq)), p)
    }

    fn put(r: &mut StreamRing, seq: u32) -> InsertOutcome {
        let (origin, payload) = packet(seq);
        r.insert(Serial::new(seq), origin, &payload)
    }

    /// (pos, origin, payload) of everything `c` reads; panics on a lag.
    fn read_all(r: &StreamRing, c: &mut Cursor) -> Vec<(u64, Instant, Vec<u8>)> {
        let mut out = Vec::new();
        loop {
            match r.read(c) {
                Ok(p) => out.push((p.pos, p.origin, p.payload.to_vec())),
                Err(ReadError::Empty) => return out,
                Err(e) => panic!("unexpected {e}"),
            }
        }
    }

    fn deliver(rx: &Receiver<Handoff>, replica: &mut ReplicaRing) -> usize {
        rx.try_iter().map(|h| h.apply(replica)).count()
    }

    #[test]
    fn replica_fed_through_handoff_equals_source() {
        let key = StreamKey(7);
        let mut src = ring(64);
        let mut replica = ring(64);
        let (tx, rx) = sync_channel::<Handoff>(16);
        let mut fwd = Forwarder::new(key, src.cursor_at_head());
        let mut src_cursor = src.cursor_at_head();
        let mut rep_cursor = replica.cursor_at_head();
        let order = [
            Serial::MAX - 1,
            Serial::MAX,
            2,
            3,
            1,
            0,
            3,
            5,
            4,
            6,
            9,
            8,
            7,
        ];
        for s in order {
            put(&mut src, s);
            fwd.pump(&src, usize::MAX, |h| {
                assert_eq!(h.stream, key);
                tx.try_send(h).is_ok()
            });
            deliver(&rx, &mut replica);
        }
        assert_eq!(fwd.sent(), 12, "the duplicate 3 is not an arrival");
        assert_eq!(fwd.queue_full(), 0);
        let from_src = read_all(&src, &mut src_cursor);
        assert_eq!(from_src.len(), 12);
        assert_eq!(read_all(&replica, &mut rep_cursor), from_src);
        assert_eq!(replica.head(), src.head());
        assert_eq!(replica.missing(), src.missing());
        assert_eq!(rep_cursor.start_pos(), src_cursor.start_pos());
    }

    #[test]
    fn full_queue_never_blocks_the_publisher_and_shows_up_as_replica_loss() {
        let key = StreamKey(1);
        let mut src = ring(16);
        let mut replica = ring(16);
        let (tx, rx) = sync_channel::<Handoff>(4);
        let mut fwd = Forwarder::new(key, src.cursor_at_head());
        let mut rep_cursor = replica.cursor_at_head();
        let mut received = Vec::new();
        let mut consume = |replica: &mut ReplicaRing, received: &mut Vec<_>| {
            deliver(&rx, replica);
            // A subscriber on the replica shard that keeps up.
            received.extend(read_all(replica, &mut rep_cursor));
        };
        // Short stall: 10 packets, queue of 4, consumer asleep. Nothing is lost.
        for s in 0..10 {
            assert!(put(&mut src, s).is_stored());
            fwd.pump(&src, usize::MAX, |h| tx.try_send(h).is_ok());
        }
        assert_eq!(fwd.sent(), 4);
        assert!(fwd.queue_full() >= 6);
        for _ in 0..3 {
            consume(&mut replica, &mut received);
            fwd.pump(&src, usize::MAX, |h| tx.try_send(h).is_ok());
        }
        assert_eq!(fwd.sent(), 10);
        assert_eq!(replica.missing(), 0);
        // Long stall: 40 more packets into a 16-slot ring while the consumer sleeps.
        for s in 10..50 {
            assert!(put(&mut src, s).is_stored(), "publisher never refused");
            fwd.pump(&src, usize::MAX, |h| tx.try_send(h).is_ok());
        }
        for _ in 0..10 {
            consume(&mut replica, &mut received);
            fwd.pump(&src, usize::MAX, |h| tx.try_send(h).is_ok());
        }
        let lagged = fwd.cursor_stats().lagged_pkts;
        assert!(lagged > 0);
        assert_eq!(fwd.sent() + lagged, 50);
        assert_eq!(replica.head(), src.head());
        // What never crossed is loss on the replica side (gone out of its window, or still open).
        assert_eq!(replica.stats().lost + replica.missing(), lagged);
        // What did cross reached the replica's subscriber byte-identical, once, in order.
        assert_eq!(received.len() as u64, fwd.sent());
        let mut last = None;
        for (pos, origin, bytes) in received {
            assert!(last < Some(pos));
            last = Some(pos);
            assert_eq!(
                (origin, bytes),
                packet(crate::relay::ring::pos_to_serial(pos).value())
            );
        }
    }

    #[test]
    fn handoff_carries_the_packet_exactly() {
        let mut src = ring(8);
        put(&mut src, 41);
        let pos = src.head().expect("one packet");
        let pkt = src.get(pos).expect("held");
        let h = Handoff::new(StreamKey(3), &pkt);
        assert_eq!((h.stream, h.pos, h.origin), (StreamKey(3), pos, pkt.origin));
        assert_eq!(h.payload(), pkt.payload);
        assert_eq!(h.payload().len(), 100);
        assert!(
            std::mem::size_of::<Handoff>() <= 64,
            "a handle, not the bytes"
        );
    }

    #[test]
    fn steady_state_allocates_nothing_even_with_a_replica_holding_handles() {
        let key = StreamKey(2);
        let mut src = ring(8);
        let mut replica = ring(8);
        let (tx, rx) = sync_channel::<Handoff>(16);
        let mut fwd = Forwarder::new(key, src.cursor_at_head());
        for s in 0..100 {
            put(&mut src, s);
            fwd.pump(&src, usize::MAX, |h| tx.try_send(h).is_ok());
            deliver(&rx, &mut replica);
        }
        // One handle per slot, plus one while the replica still held the first one the
        // source wrapped onto; every other packet refilled a handle in place.
        assert_eq!(src.payload_allocations(), (9, 91));
        assert_eq!(replica.payload_allocations(), (0, 0));
        let pos = src.head().expect("packets");
        assert_eq!(
            replica.get(pos).map(|p| p.payload),
            src.get(pos).map(|p| p.payload)
        );
        assert_eq!(
            replica.get(pos).map(|p| p.payload.to_vec()),
            Some(packet(99).1)
        );
    }

    #[test]
    fn handoff_moves_a_handle_and_the_replica_stores_the_same_bytes() {
        let mut src = ring(8);
        let mut replica = ring(8);
        put(&mut src, 41);
        let pos = src.head().expect("one packet");
        let h = Handoff::new(StreamKey(3), &src.get(pos).expect("held"));
        let source_handle = src.get(pos).expect("held").handle.clone();
        assert!(Payload::same_bytes(h.handle(), &source_handle));
        assert!(h.apply(&mut replica).is_stored());
        drop(h);
        let on_replica = replica.get(pos).expect("stored");
        assert!(
            Payload::same_bytes(on_replica.handle, &source_handle),
            "stored once for both shards"
        );
        // Source ring, replica ring and this test.
        assert_eq!(source_handle.holders(), 3);
        assert_eq!(
            replica.payload_allocations(),
            (0, 0),
            "the replica copied nothing"
        );
        // The source wraps past it; the replica still holds it, so the source does not
        // refill it under the replica's subscribers.
        for s in 42..50 {
            put(&mut src, s);
        }
        assert_eq!(on_replica.payload, packet(41).1.as_slice());
        assert_eq!(src.payload_allocations(), (9, 0));
    }
}
