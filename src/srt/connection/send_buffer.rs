//! The send buffer: one slot per sequence number from the oldest unacknowledged to the newest
//! queued (draft-sharabayko-srt §4.5.1, §4.6, §4.8).
//!
//! Packets are normally queued at the next sequence number (`push`). A relay's subscriber leg
//! instead places each publisher packet at a sequence number derived from the publisher's
//! (`push_at`), so packets that arrive late at the relay fill the hole left for them and the
//! subscriber's receiver puts them back in order. Holes are never sent; NAKs for them are
//! ignored; sender drop removes them like any old packet.
//!
//! Payloads placed with `push_at` are [`Payload`] handles shared with the relay's ring: the
//! buffer keeps the handle, not a copy, and retransmissions read through it. A packet gets
//! bytes of its own only when the connection encrypts it (in place, on its first transmission,
//! so retransmissions resend that ciphertext) or when it was queued from a slice (`push`).
//! Those own buffers are recycled: released packets return their `Vec` to a pool, so
//! steady-state sending does not allocate. Must not: decide when to send (pacing is `cc`'s
//! job) or read the clock.
//!
//! Memory follows use: nothing is allocated before the first packet (the slot deque grows by
//! doubling, a few times per connection), and [`SendBuffer::trim`], run once a second, hands
//! back slot capacity and pooled payloads that recent traffic did not need. A subscriber that
//! was never sent anything costs no slot.

use std::collections::VecDeque;
use std::time::Instant;

use crate::buf::Payload;
use crate::srt::packet::EncryptionKey;
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Reserved for a packet that has not been handed to us yet.
    Hole,
    /// Queued, never sent.
    Queued,
    Sent,
}

#[derive(Debug)]
pub struct SendSlot {
    pub state: SlotState,
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    /// When the packet originated (its age decides sender drop); for a hole, the origin of
    /// the packet that created it.
    pub origin: Instant,
    /// The payload; ciphertext once sent on an encrypted connection (copied into a buffer of
    /// its own and encrypted in place on its first transmission, so retransmissions resend
    /// the same bytes).
    pub data: SlotData,
    /// KK of the key `data` was encrypted with; `None` until then, or on a clear connection.
    pub key: EncryptionKey,
    /// Which of our sending keys encrypted it (`Crypto::tx_generation`), to know when the
    /// receiver can no longer hold that key.
    pub key_generation: u32,
    /// Last time it went on the wire, original or retransmission.
    pub last_sent: Option<Instant>,
    pub retransmits: u32,
}

/// Where a slot's bytes live.
#[derive(Debug)]
pub enum SlotData {
    /// Shared with whoever wrote the payload (the relay ring): no copy of our own.
    Shared(Payload),
    /// Ours: queued from a slice, or encrypted (holes are empty).
    Owned(Vec<u8>),
}

impl SlotData {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SlotData::Shared(p) => p.as_slice(),
            SlotData::Owned(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Heap bytes this slot owns (a shared payload belongs to its writer).
    fn owned_bytes(&self) -> usize {
        match self {
            SlotData::Shared(_) => 0,
            SlotData::Owned(v) => v.capacity(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushAtError {
    #[error("sequence number already acknowledged or dropped")]
    Stale,
    #[error("sequence number already holds a packet")]
    Duplicate,
    #[error("sequence number beyond the buffer's capacity")]
    TooFarAhead,
}

#[derive(Debug)]
pub struct SendBuffer {
    slots: VecDeque<SendSlot>,
    /// Sequence number of `slots[0]`: the oldest unacknowledged packet.
    first: SeqNo,
    /// Filled slots not yet sent, in the order they were filled.
    queue: VecDeque<SeqNo>,
    /// One past the highest sequence number sent.
    sent_end: SeqNo,
    capacity: usize,
    pool: Vec<Vec<u8>>,
    /// Payload buffers the buffer needed since the last trim (from the pool or new): the pool
    /// keeps no more than that.
    payloads_needed: usize,
    /// Most slots held at once since the last trim.
    peak: usize,
}

/// A range of packets removed by sender drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub first: SeqNo,
    pub last: SeqNo,
    pub last_msg_no: MsgNo,
    pub bytes: u64,
    /// How many of them were holes (never handed to us).
    pub holes: u32,
}

impl SendBuffer {
    /// A buffer of up to `capacity` packets; nothing is allocated until a packet is queued.
    pub fn new(isn: SeqNo, capacity: usize) -> Self {
        SendBuffer {
            slots: VecDeque::new(),
            first: isn,
            queue: VecDeque::new(),
            sent_end: isn,
            capacity: capacity.max(1),
            pool: Vec::new(),
            payloads_needed: 0,
            peak: 0,
        }
    }

    /// Heap bytes held: slots, the unsent queue, payloads owned and pooled (shared payloads
    /// are their writer's).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<SendSlot>()
            + self.queue.capacity() * std::mem::size_of::<SeqNo>()
            + self.pool.capacity() * std::mem::size_of::<Vec<u8>>()
            + self
                .slots
                .iter()
                .map(|s| s.data.owned_bytes())
                .sum::<usize>()
            + self.pool.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Gives back what the last period did not need: pooled payloads beyond how many the
    /// period used, and slot capacity beyond four times the period's peak. Called periodically (once a second), so steady sending keeps what it cycles
    /// through and does not allocate; an idle connection keeps nothing.
    pub fn trim(&mut self) {
        self.pool.truncate(self.payloads_needed);
        if self.pool.is_empty() {
            self.pool = Vec::new();
        }
        self.payloads_needed = 0;
        // Judged on the period's peak, not the moment: a subscriber fully acknowledged at the
        // instant of the trim keeps room for its next burst.
        let peak = self.peak.max(self.slots.len());
        self.peak = self.slots.len();
        shrink_deque(&mut self.slots, peak);
        shrink_deque(&mut self.queue, peak);
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.capacity
    }

    /// Oldest unacknowledged sequence number.
    pub fn first_seq(&self) -> SeqNo {
        self.first
    }

    /// Sequence number the next `push` gets.
    pub fn next_seq(&self) -> SeqNo {
        self.first.add(self.slots.len() as i32)
    }

    /// One past the highest sequence number sent so far.
    pub fn sent_end(&self) -> SeqNo {
        if self.sent_end < self.first {
            self.first
        } else {
            self.sent_end
        }
    }

    pub fn has_unsent(&self) -> bool {
        !self.queue.is_empty()
    }

    pub fn oldest_origin(&self) -> Option<Instant> {
        self.slots.front().map(|s| s.origin)
    }

    /// Timestamp span held, for the `msSndBuf` statistic.
    pub fn span_us(&self) -> u32 {
        match (self.slots.front(), self.slots.back()) {
            (Some(f), Some(b)) => b.timestamp.offset_from(f.timestamp).max(0) as u32,
            _ => 0,
        }
    }

    /// Queues a packet at the next sequence number; `None` when full.
    pub fn push(
        &mut self,
        msg_no: MsgNo,
        timestamp: Timestamp,
        origin: Instant,
        payload: &[u8],
    ) -> Option<SeqNo> {
        if self.is_full() {
            return None;
        }
        let seq = self.next_seq();
        let data = self.owned_copy(payload);
        let slot = new_slot(SlotState::Queued, msg_no, timestamp, origin, data);
        self.slots.push_back(slot);
        self.peak = self.peak.max(self.slots.len());
        self.queue.push_back(seq);
        Some(seq)
    }

    /// Places a packet at `seq`: fills a hole, or extends the buffer, leaving holes for the
    /// sequence numbers skipped. Keeps the handle; copies nothing.
    pub fn push_at(
        &mut self,
        seq: SeqNo,
        msg_no: MsgNo,
        timestamp: Timestamp,
        origin: Instant,
        payload: Payload,
    ) -> Result<(), PushAtError> {
        let off = seq.offset_from(self.first);
        if off < 0 {
            return Err(PushAtError::Stale);
        }
        let off = off as usize;
        if off >= self.capacity {
            return Err(PushAtError::TooFarAhead);
        }
        if let Some(slot) = self.slots.get(off) {
            if slot.state != SlotState::Hole {
                return Err(PushAtError::Duplicate);
            }
            let data = SlotData::Shared(payload);
            let slot = new_slot(SlotState::Queued, msg_no, timestamp, origin, data);
            let old = std::mem::replace(&mut self.slots[off], slot);
            self.recycle(old.data);
        } else {
            while self.slots.len() < off {
                let empty = SlotData::Owned(Vec::new());
                let hole = new_slot(SlotState::Hole, msg_no, timestamp, origin, empty);
                self.slots.push_back(hole);
            }
            let data = SlotData::Shared(payload);
            let slot = new_slot(SlotState::Queued, msg_no, timestamp, origin, data);
            self.slots.push_back(slot);
            self.peak = self.peak.max(self.slots.len());
        }
        self.queue.push_back(seq);
        Ok(())
    }

    /// Takes the next queued packet, marking it sent at `now`. With `own`, a shared payload is
    /// first copied into a buffer of the slot's own (from the pool), so the sender can encrypt
    /// it in place without touching what other subscribers send.
    pub fn next_unsent(&mut self, now: Instant, own: bool) -> Option<(SeqNo, &mut SendSlot)> {
        while let Some(seq) = self.queue.pop_front() {
            let off = seq.offset_from(self.first);
            // Released (acknowledged or dropped) while queued.
            if off < 0 || off as usize >= self.slots.len() {
                continue;
            }
            if seq >= self.sent_end {
                self.sent_end = seq.next();
            }
            let off = off as usize;
            if own && matches!(self.slots[off].data, SlotData::Shared(_)) {
                self.payloads_needed += 1;
                let mut v = self.pool.pop().unwrap_or_default();
                v.clear();
                v.extend_from_slice(self.slots[off].data.as_slice());
                // Dropping the handle here lets the ring refill it sooner.
                self.slots[off].data = SlotData::Owned(v);
            }
            let slot = &mut self.slots[off];
            slot.state = SlotState::Sent;
            slot.last_sent = Some(now);
            return Some((seq, slot));
        }
        None
    }

    /// A packet already sent, for retransmission; `None` when acknowledged, dropped, a hole or
    /// never sent.
    pub fn sent_packet_mut(&mut self, seq: SeqNo) -> Option<&mut SendSlot> {
        let off = seq.offset_from(self.first);
        if off < 0 {
            return None;
        }
        self.slots
            .get_mut(off as usize)
            .filter(|s| s.state == SlotState::Sent)
    }

    /// Releases everything before `ack` (the receiver's next expected). Returns how many were
    /// released; an ACK beyond the buffer is bogus and ignored (`None`).
    pub fn acknowledge(&mut self, ack: SeqNo) -> Option<usize> {
        let off = ack.offset_from(self.first);
        if off < 0 || off as usize > self.slots.len() {
            return None;
        }
        Some(self.release_front(off as usize))
    }

    /// Sender too-late drop (draft §4.6): removes packets whose origin is at or before
    /// `deadline`.
    pub fn drop_older_than(&mut self, deadline: Instant) -> Option<Dropped> {
        let n = self
            .slots
            .iter()
            .take_while(|s| s.origin <= deadline)
            .count();
        if n == 0 {
            return None;
        }
        let first = self.first;
        let last_msg_no = self.slots[n - 1].msg_no;
        let bytes = self.slots.iter().take(n).map(|s| s.data.len() as u64).sum();
        let holes = self
            .slots
            .iter()
            .take(n)
            .filter(|s| s.state == SlotState::Hole)
            .count() as u32;
        self.release_front(n);
        Some(Dropped {
            first,
            last: self.first.prev(),
            last_msg_no,
            bytes,
            holes,
        })
    }

    fn owned_copy(&mut self, payload: &[u8]) -> SlotData {
        self.payloads_needed += 1;
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(payload);
        SlotData::Owned(data)
    }

    fn recycle(&mut self, data: SlotData) {
        if let SlotData::Owned(v) = data
            && self.pool.len() < 64
            && v.capacity() > 0
        {
            self.pool.push(v);
        }
    }

    fn release_front(&mut self, n: usize) -> usize {
        for _ in 0..n {
            if let Some(slot) = self.slots.pop_front() {
                self.recycle(slot.data);
            }
        }
        self.first = self.first.add(n as i32);
        let first = self.first;
        self.queue.retain(|&s| s >= first);
        n
    }
}

fn new_slot(
    state: SlotState,
    msg_no: MsgNo,
    timestamp: Timestamp,
    origin: Instant,
    data: SlotData,
) -> SendSlot {
    SendSlot {
        state,
        msg_no,
        timestamp,
        origin,
        data,
        key: EncryptionKey::None,
        key_generation: 0,
        last_sent: None,
        retransmits: 0,
    }
}

/// Shrinks a deque whose capacity is over four times `peak` (the most it held recently) to
/// twice that, or frees it when it held nothing: capacity follows a burst back down, yet a
/// steady load never reallocates.
fn shrink_deque<T>(q: &mut VecDeque<T>, peak: usize) {
    if peak == 0 && q.is_empty() {
        *q = VecDeque::new();
    } else if q.capacity() > 4 * peak.max(16) {
        q.shrink_to(2 * peak.max(16));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ts() -> Timestamp {
        Timestamp::from_micros(0)
    }

    fn shared(bytes: &[u8]) -> Payload {
        Payload::copy_from_slice(bytes).expect("fits")
    }

    #[test]
    fn placed_payloads_are_shared_not_copied_until_encryption_needs_its_own() {
        let t0 = crate::srt::sim::t0();
        let ring_slot = shared(&[0x47; 1316]);
        let mut subscribers: Vec<SendBuffer> = (0..10)
            .map(|_| SendBuffer::new(SeqNo::new(7), 64))
            .collect();
        for b in &mut subscribers {
            b.push_at(SeqNo::new(7), MsgNo::new(1), ts(), t0, ring_slot.clone())
                .expect("room");
        }
        assert_eq!(
            ring_slot.holders(),
            11,
            "one copy for the ring and ten subscribers"
        );
        for b in &subscribers {
            assert!(b.heap_bytes() < 1316, "a subscriber owns no payload bytes");
        }
        // A clear leg sends through the handle.
        let (_, slot) = subscribers[0].next_unsent(t0, false).expect("queued");
        assert!(matches!(&slot.data, SlotData::Shared(p) if Payload::same_bytes(p, &ring_slot)));
        // An encrypting leg gets bytes of its own to encrypt, and lets go of the handle.
        let (_, slot) = subscribers[1].next_unsent(t0, true).expect("queued");
        let SlotData::Owned(own) = &mut slot.data else {
            panic!("an encrypting leg owns its bytes");
        };
        own[0] = 0;
        assert_eq!(ring_slot.holders(), 10);
        assert_eq!(ring_slot[0], 0x47, "the shared bytes are untouched");
        // Acknowledged: the handles go.
        for b in &mut subscribers {
            b.acknowledge(SeqNo::new(8));
        }
        assert_eq!(ring_slot.holders(), 1);
    }

    #[test]
    fn push_send_ack_drop() {
        let t0 = crate::srt::sim::t0();
        let mut b = SendBuffer::new(SeqNo::new(SeqNo::MAX), 3);
        assert_eq!(
            b.push(MsgNo::new(1), ts(), t0, b"a"),
            Some(SeqNo::new(SeqNo::MAX))
        );
        let t5 = t0 + Duration::from_millis(5);
        assert_eq!(b.push(MsgNo::new(2), ts(), t5, b"bb"), Some(SeqNo::new(0)));
        b.push(MsgNo::new(3), ts(), t0 + Duration::from_millis(10), b"ccc");
        assert!(b.is_full());
        assert!(b.push(MsgNo::new(4), ts(), t0, b"d").is_none());
        let (seq, slot) = b.next_unsent(t0, false).expect("queued");
        assert_eq!(
            (seq, slot.data.as_slice()),
            (SeqNo::new(SeqNo::MAX), &b"a"[..])
        );
        assert!(b.sent_packet_mut(SeqNo::new(0)).is_none(), "not sent yet");
        b.next_unsent(t0, false);
        assert_eq!(b.sent_end(), SeqNo::new(1));
        assert_eq!(
            b.acknowledge(SeqNo::new(3)),
            None,
            "ack beyond the buffer is bogus"
        );
        assert_eq!(b.acknowledge(SeqNo::new(0)), Some(1));
        assert_eq!(b.first_seq(), SeqNo::new(0));
        let d = b
            .drop_older_than(t0 + Duration::from_millis(10))
            .expect("two old packets");
        assert_eq!(
            (d.first, d.last, d.bytes),
            (SeqNo::new(0), SeqNo::new(1), 5)
        );
        assert!(b.is_empty() && !b.has_unsent());
        assert_eq!(b.next_seq(), SeqNo::new(2));
        assert!(
            b.next_unsent(t0, false).is_none(),
            "the dropped packet left the queue too"
        );
    }

    #[test]
    fn push_at_leaves_holes_that_late_packets_fill() {
        let t0 = crate::srt::sim::t0();
        let mut b = SendBuffer::new(SeqNo::new(100), 16);
        b.push_at(SeqNo::new(100), MsgNo::new(1), ts(), t0, shared(b"p0"))
            .unwrap();
        b.push_at(SeqNo::new(103), MsgNo::new(4), ts(), t0, shared(b"p3"))
            .unwrap();
        assert_eq!(b.len(), 4);
        let sent: Vec<u32> =
            std::iter::from_fn(|| b.next_unsent(t0, false).map(|(s, _)| s.value())).collect();
        assert_eq!(sent, vec![100, 103], "holes are not sent");
        assert!(
            b.sent_packet_mut(SeqNo::new(101)).is_none(),
            "a hole cannot be retransmitted"
        );
        b.push_at(SeqNo::new(101), MsgNo::new(2), ts(), t0, shared(b"p1"))
            .unwrap();
        assert_eq!(
            b.push_at(SeqNo::new(101), MsgNo::new(2), ts(), t0, shared(b"p1")),
            Err(PushAtError::Duplicate)
        );
        let (seq, slot) = b.next_unsent(t0, false).expect("late fill queued");
        assert_eq!((seq, slot.data.as_slice()), (SeqNo::new(101), &b"p1"[..]));
        assert_eq!(b.acknowledge(SeqNo::new(102)), Some(2));
        assert_eq!(
            b.push_at(SeqNo::new(101), MsgNo::new(2), ts(), t0, shared(b"x")),
            Err(PushAtError::Stale)
        );
        assert_eq!(
            b.push_at(SeqNo::new(102 + 16), MsgNo::new(9), ts(), t0, shared(b"x")),
            Err(PushAtError::TooFarAhead)
        );
        let d = b.drop_older_than(t0).expect("old");
        assert_eq!(
            (d.first, d.last, d.holes),
            (SeqNo::new(102), SeqNo::new(103), 1)
        );
    }

    #[test]
    fn nothing_allocated_until_used_and_trim_hands_a_burst_back() {
        let t0 = crate::srt::sim::t0();
        let mut b = SendBuffer::new(SeqNo::new(0), 8192);
        assert_eq!(b.heap_bytes(), 0);
        for i in 0..1000u32 {
            b.push(MsgNo::new(i + 1), ts(), t0, &[0x47; 1316])
                .expect("room");
        }
        while b.next_unsent(t0, false).is_some() {}
        let burst = b.heap_bytes();
        assert!(burst > 1000 * 1316, "{burst}");
        // Steady state: ten in flight, acknowledged and replaced; the pool feeds the pushes.
        assert_eq!(b.acknowledge(SeqNo::new(990)), Some(990));
        // The first trim still sees the burst's peak; a period later it is handed back.
        b.trim();
        b.trim();
        let steady = b.heap_bytes();
        assert!(
            steady < burst / 10,
            "{steady} of {burst} kept with 10 in flight"
        );
        let mut next = 1000u32;
        for round in 0..3 {
            for _ in 0..10 {
                b.push(MsgNo::new(next + 1), ts(), t0, &[0x47; 1316])
                    .expect("room");
                next += 1;
            }
            while b.next_unsent(t0, false).is_some() {}
            b.acknowledge(SeqNo::new(next - 10));
            if round == 0 {
                b.trim();
            }
        }
        // Everything acknowledged: a trim leaves nothing but what the last period cycled.
        b.acknowledge(SeqNo::new(next));
        b.trim();
        b.trim();
        assert_eq!(b.heap_bytes(), 0, "idle: nothing kept");
        assert!(b.is_empty());
    }

    #[test]
    fn steady_bursts_keep_their_storage_across_trims() {
        let t0 = crate::srt::sim::t0();
        let mut b = SendBuffer::new(SeqNo::new(0), 8192);
        let mut next = 0u32;
        let mut burst = |b: &mut SendBuffer| {
            for _ in 0..16 {
                b.push(MsgNo::new(next + 1), ts(), t0, &[0x47; 1316])
                    .expect("room");
                next += 1;
            }
            while b.next_unsent(t0, false).is_some() {}
            // Fully acknowledged before the trim looks: the moment says "empty".
            b.acknowledge(SeqNo::new(next));
        };
        burst(&mut b);
        b.trim();
        let kept = (b.slots.capacity(), b.pool.len());
        for _ in 0..5 {
            burst(&mut b);
            b.trim();
            assert_eq!(
                (b.slots.capacity(), b.pool.len()),
                kept,
                "a steady load neither frees nor regrows"
            );
        }
        assert!(kept.0 >= 16 && kept.1 == 16, "{kept:?}");
    }
}
