//! The receive buffer: a ring of packet slots indexed by offset from the next sequence number
//! to deliver, with TSBPD release and too-late drop (draft-sharabayko-srt §4.5, §4.6).
//!
//! Owns payload storage: each slot keeps its `Vec<u8>` after delivery, so a warmed-up buffer
//! receives without allocating. Must not: track losses (the connection's loss list does) or
//! read the clock (`now` comes in).
//!
//! Memory follows use, not the configured bound: the ring starts with no slots, grows in whole
//! chunks (doubling, at least [`GROW_CHUNK`] slots) when a packet lands beyond what it holds,
//! up to the configured capacity, and [`RecvBuffer::trim`] gives slots back when few are in
//! use. A connection that has received nothing costs no slot at all (the bound is 8192 slots,
//! 64 bytes each, plus a payload each: 0.5-11 MB that a silent caller used to pin).

use std::time::Instant;

use super::tsbpd::TsbpdClock;
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored. `gap` is the range skipped between the previous highest and this packet.
    Stored { gap: Option<(SeqNo, SeqNo)> },
    /// Already held (or already dropped): a duplicate.
    Duplicate,
    /// Before the delivery point: it arrived after its slot was delivered or dropped.
    Belated,
    /// Beyond the buffer's capacity.
    Overflow,
}

/// What `pop_ready` yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// A payload was copied out.
    Packet {
        seq: SeqNo,
        msg_no: MsgNo,
        timestamp: Timestamp,
        len: usize,
    },
    /// Missing packets `first..=last` were skipped because a later one is due (too-late drop).
    Dropped { first: SeqNo, last: SeqNo },
    /// The packet arrived after its delivery time, so it was discarded (too-late drop).
    Late { seq: SeqNo },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Empty,
    Filled,
    /// Given up on (DROPREQ from the sender): skipped without waiting.
    Dropped,
}

#[derive(Debug)]
struct Slot {
    state: SlotState,
    ts: Timestamp,
    ts_ext: u64,
    msg_no: MsgNo,
    arrival: Option<Instant>,
    data: Vec<u8>,
}

/// Slots added at least per growth step, and kept at least by a trim that leaves any: 4 KiB
/// of slots, so a stream grows in a handful of steps, never per packet.
pub const GROW_CHUNK: usize = 64;

impl Slot {
    fn empty() -> Slot {
        Slot {
            state: SlotState::Empty,
            ts: Timestamp::default(),
            ts_ext: 0,
            msg_no: MsgNo::default(),
            arrival: None,
            data: Vec::new(),
        }
    }
}

#[derive(Debug)]
pub struct RecvBuffer {
    /// The ring actually allocated: empty until the first packet, at most `bound` slots.
    slots: Vec<Slot>,
    /// The configured capacity: offsets at or beyond it overflow.
    bound: usize,
    /// Most slots addressed at once since the last trim.
    peak: usize,
    /// Ring index of `base`.
    head: usize,
    /// Next sequence number to deliver.
    base: SeqNo,
    /// One past the highest sequence number received (or dropped): `base` when empty.
    max: SeqNo,
}

impl RecvBuffer {
    /// A buffer of up to `capacity` packets; nothing is allocated until a packet arrives.
    pub fn new(isn: SeqNo, capacity: usize) -> Self {
        RecvBuffer {
            slots: Vec::new(),
            bound: capacity.max(2),
            peak: 0,
            head: 0,
            base: isn,
            max: isn,
        }
    }

    /// The configured capacity in packets (what the flow window advertises), not what is
    /// allocated now.
    pub fn capacity(&self) -> usize {
        self.bound
    }

    /// Slots allocated now.
    #[cfg(test)]
    pub fn allocated_slots(&self) -> usize {
        self.slots.len()
    }

    /// Heap bytes held: slots and the payload storage they keep.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.slots.iter().map(|s| s.data.capacity()).sum::<usize>()
    }

    /// Gives memory back when few slots were in use: all of it when nothing is held and
    /// nothing was since the last trim, else down to twice the most held at once in that time
    /// (whole chunks). Called periodically (once a second), not per packet, and judged on the
    /// period's peak rather than the moment, so a bursty but steady stream keeps its slots and
    /// receives without allocating.
    pub fn trim(&mut self) {
        let used = self.occupied();
        let peak = self.peak.max(used);
        self.peak = used;
        if peak == 0 {
            self.slots = Vec::new();
            self.head = 0;
            return;
        }
        let keep = round_up_chunk(peak * 2).min(self.bound);
        if self.slots.len() >= keep * 2 {
            self.relayout(keep);
            self.slots.shrink_to_fit();
        }
    }

    /// Next sequence number to deliver.
    pub fn base(&self) -> SeqNo {
        self.base
    }

    /// One past the highest sequence number received.
    pub fn max(&self) -> SeqNo {
        self.max
    }

    /// Slots in use between the delivery point and the highest received.
    pub fn occupied(&self) -> usize {
        self.max.offset_from(self.base).max(0) as usize
    }

    pub fn available(&self) -> usize {
        self.capacity() - self.occupied()
    }

    /// Timestamp span of what is held, for the `msRcvBuf` statistic.
    pub fn span_us(&self) -> u64 {
        let first = self.slot_at(0).filter(|s| s.state == SlotState::Filled);
        let last_off = self.occupied().checked_sub(1);
        match (first, last_off.and_then(|o| self.slot_at(o))) {
            (Some(f), Some(l)) if l.state == SlotState::Filled => l.ts_ext.saturating_sub(f.ts_ext),
            _ => 0,
        }
    }

    pub fn insert(
        &mut self,
        now: Instant,
        seq: SeqNo,
        msg_no: MsgNo,
        ts: Timestamp,
        ts_ext: u64,
        payload: &[u8],
    ) -> Insert {
        let offset = seq.offset_from(self.base);
        if offset < 0 {
            return Insert::Belated;
        }
        let offset = offset as usize;
        if offset >= self.capacity() {
            return Insert::Overflow;
        }
        self.ensure(offset);
        let gap = if seq >= self.max {
            let gap = (seq != self.max).then(|| (self.max, seq.prev()));
            self.max = seq.next();
            gap
        } else {
            None
        };
        let idx = self.index(offset);
        let slot = &mut self.slots[idx];
        if slot.state != SlotState::Empty {
            return Insert::Duplicate;
        }
        slot.state = SlotState::Filled;
        slot.ts = ts;
        slot.ts_ext = ts_ext;
        slot.msg_no = msg_no;
        slot.arrival = Some(now);
        slot.data.clear();
        slot.data.extend_from_slice(payload);
        Insert::Stored { gap }
    }

    /// Marks missing packets in `first..=last` as dropped (DROPREQ). Returns how many missing
    /// packets that covered; packets already held stay deliverable.
    pub fn drop_range(&mut self, first: SeqNo, last: SeqNo) -> u32 {
        let start = first.offset_from(self.base).max(0);
        let end = last.offset_from(self.base);
        if end < start {
            return 0;
        }
        let end = (end as usize).min(self.capacity() - 1);
        self.ensure(end);
        let mut dropped = 0;
        for off in start as usize..=end {
            let idx = self.index(off);
            if self.slots[idx].state == SlotState::Empty {
                self.slots[idx].state = SlotState::Dropped;
                dropped += 1;
            }
        }
        let new_max = self.base.add(end as i32 + 1);
        if new_max > self.max {
            self.max = new_max;
        }
        dropped
    }

    /// When the next release is due, per TSBPD: the next packet in order, or, with too-late
    /// drop, the first held packet behind a gap. `None` when nothing is held.
    pub fn next_release_time(&self, clock: &TsbpdClock, too_late_drop: bool) -> Option<Instant> {
        // Dropped slots at the head are skipped without waiting, so look past them.
        let off = (0..self.occupied()).find(|&o| self.state_at(o) != SlotState::Dropped)?;
        let due_off = match self.state_at(off) {
            SlotState::Filled => off,
            SlotState::Empty if too_late_drop => {
                (off + 1..self.occupied()).find(|&o| self.state_at(o) == SlotState::Filled)?
            }
            _ => return None,
        };
        Some(clock.delivery_time(self.slots[self.index(due_off)].ts_ext))
    }

    /// Releases the next packet if it is due at `now`, copying its payload into `out`
    /// (truncated to `out.len()`), or reports a too-late drop.
    pub fn pop_ready(
        &mut self,
        now: Instant,
        clock: &TsbpdClock,
        too_late_drop: bool,
        out: &mut [u8],
    ) -> Option<Release> {
        loop {
            if self.base == self.max {
                return None;
            }
            let head_idx = self.head;
            match self.slots[head_idx].state {
                SlotState::Dropped => {
                    self.slots[head_idx].state = SlotState::Empty;
                    self.advance(1);
                    continue;
                }
                SlotState::Filled => {
                    let slot = &mut self.slots[head_idx];
                    let due = clock.delivery_time(slot.ts_ext);
                    if due > now {
                        return None;
                    }
                    if too_late_drop && slot.arrival.is_some_and(|a| a > due) {
                        // draft §4.6: it missed its play time on arrival; a player can only
                        // use it out of time, so it is dropped like a packet that never came.
                        slot.state = SlotState::Empty;
                        let seq = self.base;
                        self.advance(1);
                        return Some(Release::Late { seq });
                    }
                    let len = slot.data.len().min(out.len());
                    out[..len].copy_from_slice(&slot.data[..len]);
                    slot.state = SlotState::Empty;
                    let release = Release::Packet {
                        seq: self.base,
                        msg_no: slot.msg_no,
                        timestamp: slot.ts,
                        len,
                    };
                    self.advance(1);
                    return Some(release);
                }
                SlotState::Empty => {
                    if !too_late_drop {
                        return None;
                    }
                    let off = self.first_filled_after_gap()?;
                    let due = clock.delivery_time(self.slots[self.index(off)].ts_ext);
                    if due > now {
                        return None;
                    }
                    let first = self.base;
                    // Dropped slots inside the gap were already counted when dropped; report
                    // only the range, the connection counts the still-missing ones.
                    for o in 0..off {
                        let idx = self.index(o);
                        self.slots[idx].state = SlotState::Empty;
                    }
                    self.advance(off);
                    return Some(Release::Dropped {
                        first,
                        last: self.base.prev(),
                    });
                }
            }
        }
    }

    fn first_filled_after_gap(&self) -> Option<usize> {
        (1..self.occupied()).find(|&o| self.state_at(o) == SlotState::Filled)
    }

    fn state_at(&self, offset: usize) -> SlotState {
        self.slots[self.index(offset)].state
    }

    fn advance(&mut self, n: usize) {
        // Only called with slots held (n <= occupied <= allocated).
        self.head = (self.head + n) % self.slots.len();
        self.base = self.base.add(n as i32);
    }

    fn index(&self, offset: usize) -> usize {
        (self.head + offset) % self.slots.len()
    }

    /// Makes `offset` (below the bound) addressable: grows the ring to at least twice its size
    /// in whole chunks, so growth happens a few times per stream, not per packet.
    fn ensure(&mut self, offset: usize) {
        self.peak = self.peak.max(offset + 1);
        if offset < self.slots.len() {
            return;
        }
        let want = (offset + 1).max(self.slots.len() * 2);
        self.relayout(round_up_chunk(want).min(self.bound));
    }

    /// Re-lays the ring out with `base` at index 0 and `len` slots; every held slot (offsets
    /// below `occupied`) fits, the slots cut off are empty.
    fn relayout(&mut self, len: usize) {
        debug_assert!(len >= self.occupied());
        self.slots.rotate_left(self.head);
        self.head = 0;
        if len > self.slots.len() {
            self.slots.reserve_exact(len - self.slots.len());
            self.slots.resize_with(len, Slot::empty);
        } else {
            self.slots.truncate(len);
        }
    }

    fn slot_at(&self, offset: usize) -> Option<&Slot> {
        (offset < self.occupied()).then(|| &self.slots[self.index(offset)])
    }
}

fn round_up_chunk(n: usize) -> usize {
    n.div_ceil(GROW_CHUNK).max(1) * GROW_CHUNK
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn s(n: u32) -> SeqNo {
        SeqNo::new(n)
    }

    fn put(b: &mut RecvBuffer, c: &mut TsbpdClock, seq: u32, ts_us: u32) -> Insert {
        let ts = Timestamp::from_micros(ts_us);
        let ext = c.extend(ts);
        b.insert(
            c.origin_time(ext),
            s(seq),
            MsgNo::new(seq),
            ts,
            ext,
            &seq.to_be_bytes(),
        )
    }

    #[test]
    fn releases_in_order_at_delivery_time() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::from_millis(100));
        let mut b = RecvBuffer::new(s(10), 16);
        assert_eq!(
            put(&mut b, &mut c, 11, 1_000),
            Insert::Stored {
                gap: Some((s(10), s(10)))
            }
        );
        assert_eq!(put(&mut b, &mut c, 10, 0), Insert::Stored { gap: None });
        assert_eq!(put(&mut b, &mut c, 10, 0), Insert::Duplicate);
        let mut out = [0u8; 8];
        assert_eq!(
            b.pop_ready(t0 + Duration::from_millis(99), &c, true, &mut out),
            None
        );
        assert_eq!(
            b.next_release_time(&c, true),
            Some(t0 + Duration::from_millis(100))
        );
        let r = b.pop_ready(t0 + Duration::from_millis(100), &c, true, &mut out);
        assert!(matches!(r, Some(Release::Packet { seq, len: 4, .. }) if seq == s(10)));
        assert_eq!(out[..4], 10u32.to_be_bytes());
        assert_eq!(put(&mut b, &mut c, 10, 0), Insert::Belated);
        let r = b.pop_ready(t0 + Duration::from_millis(101), &c, true, &mut out);
        assert!(matches!(r, Some(Release::Packet { seq, .. }) if seq == s(11)));
        assert_eq!(b.occupied(), 0);
    }

    #[test]
    fn too_late_drop_skips_gap_only_when_later_packet_is_due() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::from_millis(100));
        let mut b = RecvBuffer::new(s(0), 16);
        put(&mut b, &mut c, 0, 0);
        put(&mut b, &mut c, 3, 3_000);
        let mut out = [0u8; 8];
        assert!(matches!(
            b.pop_ready(t0 + Duration::from_millis(100), &c, true, &mut out),
            Some(Release::Packet { .. })
        ));
        // Without too-late drop the gap blocks forever.
        assert_eq!(
            b.pop_ready(t0 + Duration::from_secs(9), &c, false, &mut out),
            None
        );
        assert_eq!(
            b.pop_ready(t0 + Duration::from_millis(102), &c, true, &mut out),
            None
        );
        assert_eq!(
            b.pop_ready(t0 + Duration::from_millis(103), &c, true, &mut out),
            Some(Release::Dropped {
                first: s(1),
                last: s(2)
            })
        );
        assert!(
            matches!(b.pop_ready(t0 + Duration::from_millis(103), &c, true, &mut out), Some(Release::Packet { seq, .. }) if seq == s(3))
        );
    }

    #[test]
    fn packet_arriving_after_its_delivery_time_is_dropped() {
        let t0 = crate::srt::sim::t0();
        let c = TsbpdClock::new(t0, Duration::from_millis(100));
        let mut b = RecvBuffer::new(s(0), 16);
        let ts = Timestamp::from_micros(0);
        b.insert(
            t0 + Duration::from_millis(101),
            s(0),
            MsgNo::new(1),
            ts,
            0,
            b"late",
        );
        let mut out = [0u8; 8];
        let r = b.pop_ready(t0 + Duration::from_millis(101), &c, true, &mut out);
        assert_eq!(r, Some(Release::Late { seq: s(0) }));
        // Without too-late drop it is delivered, late.
        b.insert(
            t0 + Duration::from_millis(101),
            s(1),
            MsgNo::new(2),
            ts,
            0,
            b"late",
        );
        let r = b.pop_ready(t0 + Duration::from_millis(101), &c, false, &mut out);
        assert!(matches!(r, Some(Release::Packet { .. })));
    }

    #[test]
    fn overflow_and_drop_request() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::ZERO);
        let mut b = RecvBuffer::new(s(SeqNo::MAX - 1), 4);
        assert_eq!(put(&mut b, &mut c, 2, 0), Insert::Overflow);
        assert_eq!(
            put(&mut b, &mut c, 1, 10),
            Insert::Stored {
                gap: Some((s(SeqNo::MAX - 1), s(0)))
            }
        );
        assert_eq!(b.drop_range(s(SeqNo::MAX - 5), s(0)), 3);
        let mut out = [0u8; 8];
        let r = b.pop_ready(t0, &c, false, &mut out);
        assert!(r.is_none(), "packet 1 is not due until 10 us");
        let r = b.pop_ready(t0 + Duration::from_micros(10), &c, false, &mut out);
        assert!(
            matches!(r, Some(Release::Packet { seq, .. }) if seq == s(1)),
            "{r:?}"
        );
        assert_eq!(b.available(), 4);
    }

    #[test]
    fn ring_is_allocated_on_first_packet_grows_in_chunks_and_trims_back() {
        let t0 = crate::srt::sim::t0();
        let mut c = TsbpdClock::new(t0, Duration::ZERO);
        let mut b = RecvBuffer::new(s(SeqNo::MAX - 9), 8192);
        assert_eq!((b.allocated_slots(), b.heap_bytes()), (0, 0));
        assert_eq!(
            b.available(),
            8192,
            "the flow window is the bound, not the allocation"
        );
        assert_eq!(
            put(&mut b, &mut c, SeqNo::MAX - 9, 0),
            Insert::Stored { gap: None }
        );
        assert_eq!(b.allocated_slots(), GROW_CHUNK);
        // Deliver a few so the ring's head is not at index 0, then jump far ahead (across the
        // sequence wrap): the ring grows, keeping what it holds in order.
        let mut out = [0u8; 8];
        for i in 1..5u32 {
            put(&mut b, &mut c, (SeqNo::MAX - 9 + i) & SeqNo::MAX, i);
        }
        for _ in 0..3 {
            assert!(matches!(
                b.pop_ready(t0 + Duration::from_secs(1), &c, false, &mut out),
                Some(Release::Packet { .. })
            ));
        }
        assert!(matches!(
            put(&mut b, &mut c, 990, 50),
            Insert::Stored { .. }
        ));
        let grown = b.allocated_slots();
        assert!(
            grown > 1000 && grown.is_multiple_of(GROW_CHUNK) && grown <= 8192,
            "{grown}"
        );
        assert_eq!(
            put(&mut b, &mut c, 8300, 60),
            Insert::Overflow,
            "beyond the bound"
        );
        let r = b.pop_ready(t0 + Duration::from_secs(1), &c, false, &mut out);
        assert!(matches!(r, Some(Release::Packet { seq, .. }) if seq == s(SeqNo::MAX - 6)));
        assert_eq!(out[..4], (SeqNo::MAX - 6).to_be_bytes());
        // A span that still needs the slots: trim keeps them.
        b.trim();
        assert_eq!(b.allocated_slots(), grown);
        let r = b.pop_ready(t0 + Duration::from_secs(1), &c, false, &mut out);
        assert!(matches!(r, Some(Release::Packet { seq, .. }) if seq == s(SeqNo::MAX - 5)));
        assert_eq!(
            b.pop_ready(t0 + Duration::from_secs(1), &c, true, &mut out),
            Some(Release::Dropped {
                first: s(SeqNo::MAX - 4),
                last: s(989)
            })
        );
        assert!(matches!(
            b.pop_ready(t0 + Duration::from_secs(1), &c, true, &mut out),
            Some(Release::Packet { seq, .. }) if seq == s(990)
        ));
        // Few held: a trim keeps them, in order, in one chunk, once a whole period saw no more
        // (the first trim still sees the period's peak).
        for seq in 991..996 {
            put(&mut b, &mut c, seq, seq);
        }
        b.trim();
        assert_eq!(
            b.allocated_slots(),
            grown,
            "the last period peaked near 1000"
        );
        b.trim();
        assert_eq!(b.allocated_slots(), GROW_CHUNK);
        for seq in 991..996 {
            let r = b.pop_ready(t0 + Duration::from_secs(1), &c, false, &mut out);
            assert!(matches!(r, Some(Release::Packet { seq: got, .. }) if got == s(seq)));
        }
        // Nothing held for a whole period: nothing kept.
        b.trim();
        assert_eq!(b.allocated_slots(), GROW_CHUNK, "this period held five");
        b.trim();
        assert_eq!((b.allocated_slots(), b.heap_bytes()), (0, 0));
        // And it works again afterwards.
        assert_eq!(put(&mut b, &mut c, 996, 70), Insert::Stored { gap: None });
        assert_eq!(b.allocated_slots(), GROW_CHUNK);
    }

    #[test]
    fn drop_request_far_ahead_grows_within_the_bound_only() {
        let t0 = crate::srt::sim::t0();
        let c = TsbpdClock::new(t0, Duration::ZERO);
        let mut b = RecvBuffer::new(s(0), 100);
        assert_eq!(b.drop_range(s(0), s(1_000_000)), 100);
        assert_eq!(b.allocated_slots(), 100);
        let mut out = [0u8; 8];
        assert_eq!(b.pop_ready(t0, &c, true, &mut out), None);
        assert_eq!(b.occupied(), 0);
    }
}
