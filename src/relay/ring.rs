//! Per-stream packet ring for cut-through fan-out.
//!
//! Owns: the publisher's recent payloads (one slot per publisher packet, so each slot holds
//! whole TS packets), indexed by a 64-bit *ring position* that extends the publisher's 31-bit
//! [`Serial`]; the arrival log that lets every subscriber [`Cursor`] see each stored
//! packet once, in arrival order, late gap fills included; gap and loss counting.
//! Must not: read the clock (origin times come in as arguments), block or wait for anything,
//! allocate in steady state, lock, or know about sockets, shards or SRT wire formats.
//!
//! Payloads are written once: each slot holds a [`Payload`] handle that subscribers' send
//! buffers and cross-shard handoffs clone instead of copying the bytes. A slot's handle is
//! allocated the first time the slot is used (a fresh ring costs its metadata, not 12 MiB of
//! payload room) and, when the ring wraps, refilled in place once no subscriber still holds
//! it ([`PayloadPool`]). A replica stores the source's handles as they come
//! ([`StreamRing::insert_handle`]). [`StreamRing::reset`] readies a ring for another session
//! (see `ring_pool`).
//!
//! Cut-through: a packet is readable as soon as it is inserted; nothing waits for the
//! publisher's TSBPD. A late or retransmitted packet that arrives after its successors is a new
//! arrival and is read by every cursor when it arrives; each subscriber's own SRT receiver puts
//! it back in order. A subscriber numbers what it gets from `pos - start_pos`
//! ([`Cursor::start_pos`]), so the publisher's numbering is kept up to a per-subscriber offset
//! and a position the ring never got shows up to the subscriber as loss.
//! [`OrderedCursor`] reads in position order instead, holding a gap for a while (for receivers
//! without their own reordering).
//!
//! Lagging follows tokio's `sync::broadcast`: the publisher never waits; a cursor whose next
//! packet was overwritten gets [`ReadError::Lagged`] with the number of packets it missed and
//! resumes at the oldest packet still held, so it skips whole SRT packets (= whole TS packets).

// Sans-IO like `src/srt`: times come in as arguments.
#![deny(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use thiserror::Error;

pub use crate::buf::MAX_PAYLOAD;
use crate::buf::{Payload, PayloadPool};

/// A publisher's wrapping packet number, 31 bits, that a leg hands the ring: SRT's sequence
/// number, or a count from 0 for a leg without one. Positions widen it to 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serial(u32);

impl Serial {
    const MODULUS: i64 = 1 << 31;
    pub const MAX: u32 = 0x7FFF_FFFF;

    pub const fn new(v: u32) -> Serial {
        Serial(v & 0x7FFF_FFFF)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    /// `n` later (or earlier, negative), wrapping.
    pub const fn add(self, n: i32) -> Serial {
        Serial((self.0 as i64 + n as i64).rem_euclid(Self::MODULUS) as u32)
    }

    /// Signed distance from `other`, in (-2^30, 2^30].
    pub const fn offset_from(self, other: Serial) -> i32 {
        let mut d = (self.0 as i64 - other.0 as i64).rem_euclid(Self::MODULUS);
        if d > Self::MODULUS / 2 {
            d -= Self::MODULUS;
        }
        d as i32
    }
}

/// Position of the first serial seen is `EPOCH + serial`: positions are then congruent
/// to sequence numbers modulo 2^31 and packets up to 2^30 before the first one do not
/// underflow.
const EPOCH: u64 = 1 << 31;
/// `SlotMeta::pos` of a slot that never held a packet (no position reaches it).
const EMPTY: u64 = u64::MAX;

/// Size and limits of one ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Slots, one per publisher SRT packet; rounded up to a power of two. Memory is about
    /// `capacity * 56` bytes of metadata at construction, plus up to `capacity` payload
    /// handles of `MAX_PAYLOAD` bytes as the slots are first used.
    pub capacity_pkts: usize,
    /// A packet more than this many positions past the head is refused as `TooFarAhead`.
    pub max_jump_pkts: u64,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            // libsrt's default receive buffer (8192 packets): the same reorder horizon.
            capacity_pkts: 8192,
            // A live publisher cannot jump further: a longer outage than its idle timeout (5 s,
            // a few 10^4 packets at 50 Mbit/s) closes the connection. Bigger jumps are a bug
            // upstream; refusing them keeps one bad number from evicting the whole ring.
            max_jump_pkts: 1 << 20,
        }
    }
}

impl RingConfig {
    /// The configuration a ring built from this one has: capacity rounded up to a power of
    /// two, at least 1; a jump limit of at least 1.
    pub fn normalized(self) -> RingConfig {
        RingConfig {
            capacity_pkts: self.capacity_pkts.max(1).next_power_of_two(),
            max_jump_pkts: self.max_jump_pkts.max(1),
        }
    }
}

/// What [`StreamRing::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored past the old head; `skipped` positions in between are now gaps.
    NewHead { pos: u64, skipped: u64 },
    /// Stored behind the head, in a slot that did not hold it yet (late or retransmitted).
    FilledGap { pos: u64 },
    /// Already held; not stored again and not logged as an arrival.
    Duplicate { pos: u64 },
    /// Behind the oldest position the ring can hold.
    TooOld,
    /// More than `max_jump_pkts` past the head.
    TooFarAhead,
    /// Longer than [`MAX_PAYLOAD`].
    Oversized,
}

impl InsertOutcome {
    /// Whether the packet was stored and will be read by cursors.
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            InsertOutcome::NewHead { .. } | InsertOutcome::FilledGap { .. }
        )
    }
}

/// Per-ring counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RingStats {
    /// Packets stored (new heads and gap fills).
    pub inserted: u64,
    pub filled_gaps: u64,
    pub duplicates: u64,
    pub too_old: u64,
    pub too_far_ahead: u64,
    pub oversized: u64,
    /// Positions that left the window without ever arriving.
    pub lost: u64,
}

/// One stored packet, borrowed from the ring (no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRef<'a> {
    pub pos: u64,
    /// The publisher packet's origin time as given to `insert`.
    pub origin: Instant,
    /// When the publisher's datagram was read from the socket (the relay transit histogram
    /// counts from here); `origin` when inserted without one.
    pub arrived: Instant,
    pub payload: &'a [u8],
    /// The same bytes as a handle: clone it to keep them without copying.
    pub handle: &'a Payload,
}

impl PacketRef<'_> {
    /// The publisher's serial of this packet.
    pub fn serial(&self) -> Serial {
        pos_to_serial(self.pos)
    }
}

/// Why [`StreamRing::read`] returned no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReadError {
    /// The cursor has read every arrival.
    #[error("no new packet")]
    Empty,
    /// This many arrivals were overwritten before the cursor read them and are skipped; the
    /// next read returns the oldest packet still held.
    #[error("subscriber lagged: {0} packets skipped")]
    Lagged(u64),
}

/// Per-cursor counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CursorStats {
    pub delivered: u64,
    /// Packets skipped because they were overwritten first (sum of `Lagged(n)`).
    pub lagged_pkts: u64,
    /// Number of `Lagged` results.
    pub lag_events: u64,
    /// Arrivals for positions before the cursor's start (they would map to sequence numbers
    /// before the subscriber's ISN), passed over silently.
    pub before_start: u64,
}

/// One reader's place in a ring's arrival log. Plain data: the subscriber owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Arrival index of the next packet to read.
    next: u64,
    /// First position this reader delivers; `None` until known (cursor on an empty ring).
    start_pos: Option<u64>,
    stats: CursorStats,
}

impl Cursor {
    /// The first position this reader delivers (its subscriber's first packet), once known.
    pub fn start_pos(&self) -> Option<u64> {
        self.start_pos
    }

    /// Arrival index of the next packet to read: `ring.arrivals() - next_arrival()` is how far
    /// behind the head this reader is.
    pub fn next_arrival(&self) -> u64 {
        self.next
    }

    pub fn stats(&self) -> &CursorStats {
        &self.stats
    }
}

/// Why [`StreamRing::read_ordered`] returned no packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OrderedError {
    /// Every position up to the head was read.
    #[error("no new packet")]
    Empty,
    /// The next position is missing and later ones are held: it may still come until `until`.
    #[error("holding a gap")]
    Held { until: Instant },
    /// This many positions were overwritten before the cursor read them; it resumes at the
    /// oldest held.
    #[error("reader lagged: {0} packets skipped")]
    Lagged(u64),
    /// This many missing positions were given up after the hold time.
    #[error("gap of {0} packets given up")]
    Gap(u64),
}

/// Counters of an [`OrderedCursor`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrderedStats {
    pub delivered: u64,
    pub lagged_pkts: u64,
    /// Missing positions passed over after the hold time.
    pub gap_pkts: u64,
}

/// One reader's place in position order (see [`StreamRing::read_ordered`]). Plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderedCursor {
    /// Next position to deliver; `None` until the ring has a packet (then its oldest).
    next: Option<u64>,
    /// The gap at this position is given up at this time.
    gap_until: Option<(u64, Instant)>,
    stats: OrderedStats,
}

impl OrderedCursor {
    /// A reader that starts where `c` starts (its first position), or at the oldest packet
    /// when that is not known yet.
    pub fn from_cursor(c: &Cursor) -> OrderedCursor {
        OrderedCursor {
            next: c.start_pos,
            gap_until: None,
            stats: OrderedStats::default(),
        }
    }

    /// The next position it delivers, once known.
    pub fn next_pos(&self) -> Option<u64> {
        self.next
    }

    pub fn stats(&self) -> &OrderedStats {
        &self.stats
    }
}

#[derive(Debug, Clone, Copy)]
struct SlotMeta {
    pos: u64,
    /// `None` only while `pos == EMPTY`; `Option<Instant>` is the size of `Instant`.
    origin: Option<Instant>,
    /// See [`PacketRef::arrived`].
    arrived: Option<Instant>,
}

/// The ring of one stream (or its replica on another shard).
#[derive(Debug)]
pub struct StreamRing {
    mask: u64,
    max_jump: u64,
    meta: Box<[SlotMeta]>,
    /// Slot `i`'s payload while `meta[i].pos` is a stored position; afterwards the stale handle
    /// stays until the slot is reused (it goes back to `pool` then), so recycling allocates
    /// nothing. `None` for a slot never used.
    payloads: Box<[Option<Payload>]>,
    pool: PayloadPool,
    /// Positions in arrival order; arrival `a` is at `log[a & mask]` while `a` is one of the
    /// last `capacity` arrivals.
    log: Box<[u64]>,
    arrivals: u64,
    head: Option<u64>,
    /// First position stored; gaps are counted from here on.
    base: u64,
    /// Positions in `[max(base, tail), head]` not held.
    missing: u64,
    stats: RingStats,
}

impl StreamRing {
    pub fn new(cfg: RingConfig) -> Self {
        let cfg = cfg.normalized();
        let cap = cfg.capacity_pkts;
        StreamRing {
            mask: cap as u64 - 1,
            max_jump: cfg.max_jump_pkts,
            meta: vec![
                SlotMeta {
                    pos: EMPTY,
                    origin: None,
                    arrived: None,
                };
                cap
            ]
            .into_boxed_slice(),
            payloads: std::iter::repeat_with(|| None).take(cap).collect(),
            pool: PayloadPool::new(),
            log: vec![EMPTY; cap].into_boxed_slice(),
            arrivals: 0,
            head: None,
            base: 0,
            missing: 0,
            stats: RingStats::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// The configuration this ring was built with (`max_jump_pkts` as clamped).
    pub fn config(&self) -> RingConfig {
        RingConfig {
            capacity_pkts: self.capacity(),
            max_jump_pkts: self.max_jump,
        }
    }

    /// Empties the ring for a new session: no position, arrival or counter of the old one is
    /// visible afterwards. The payload handles only this ring holds stay, unreachable, to be
    /// refilled as slots are reused; the others are let go, so a recycled replica never keeps
    /// the source's handles from being refilled (nor their memory alive). O(capacity), no
    /// payload bytes touched.
    pub fn reset(&mut self) {
        for p in self.payloads.iter_mut() {
            if p.as_ref().is_some_and(|h| h.holders() > 1) {
                *p = None;
            }
        }
        self.pool.drop_shared();
        for m in self.meta.iter_mut() {
            *m = SlotMeta {
                pos: EMPTY,
                origin: None,
                arrived: None,
            };
        }
        self.log.fill(EMPTY);
        self.arrivals = 0;
        self.head = None;
        self.base = 0;
        self.missing = 0;
        self.stats = RingStats::default();
    }

    /// Payload handles this ring allocated, and how many times it refilled one in place.
    pub fn payload_allocations(&self) -> (u64, u64) {
        (self.pool.allocated(), self.pool.reused())
    }

    /// Highest position stored.
    pub fn head(&self) -> Option<u64> {
        self.head
    }

    /// The publisher sequence number of the head.
    pub fn head_serial(&self) -> Option<Serial> {
        self.head.map(pos_to_serial)
    }

    /// Oldest position that can still be inserted.
    pub fn tail(&self) -> Option<u64> {
        self.head.map(|h| self.tail_of(h))
    }

    /// Gaps (positions not held) between the first packet or the tail and the head.
    pub fn missing(&self) -> u64 {
        self.missing
    }

    /// Packets stored so far (the arrival index of the next one).
    pub fn arrivals(&self) -> u64 {
        self.arrivals
    }

    pub fn stats(&self) -> &RingStats {
        &self.stats
    }

    /// The ring position of publisher sequence number `seq`: the position congruent to it
    /// modulo 2^31 that is nearest the head (like a timestamp unwrapper).
    pub fn position_of(&self, seq: Serial) -> u64 {
        match self.head {
            None => EPOCH + u64::from(seq.value()),
            // |offset| <= 2^30 < EPOCH <= head, so this neither under- nor overflows.
            Some(h) => h.wrapping_add_signed(i64::from(seq.offset_from(pos_to_serial(h)))),
        }
    }

    /// Stores a publisher packet by its sequence number. `origin` is carried to subscribers.
    pub fn insert(&mut self, seq: Serial, origin: Instant, payload: &[u8]) -> InsertOutcome {
        self.insert_pos(self.position_of(seq), origin, payload)
    }

    /// [`Self::insert`] of a packet whose datagram was read at `arrived`.
    pub fn insert_arrived(
        &mut self,
        seq: Serial,
        origin: Instant,
        arrived: Instant,
        payload: &[u8],
    ) -> InsertOutcome {
        self.insert_pos_arrived(self.position_of(seq), origin, arrived, payload)
    }

    /// [`Self::insert_pos`] of a packet whose datagram was read at `arrived`.
    pub fn insert_pos_arrived(
        &mut self,
        pos: u64,
        origin: Instant,
        arrived: Instant,
        payload: &[u8],
    ) -> InsertOutcome {
        let outcome = self.insert_pos(pos, origin, payload);
        if outcome.is_stored() {
            let i = self.slot(pos);
            self.meta[i].arrived = Some(arrived);
        }
        outcome
    }

    /// Stores a packet whose bytes are already in a handle (a replica storing what the
    /// source ring holds): nothing is copied. Otherwise like [`Self::insert_pos_arrived`].
    pub fn insert_handle(
        &mut self,
        pos: u64,
        origin: Instant,
        arrived: Instant,
        payload: Payload,
    ) -> InsertOutcome {
        let outcome = self.admit(pos);
        if outcome.is_stored() {
            // The handle this replaces belongs to the source's pool: let it go now so the
            // source can refill it, rather than keep it spare here.
            self.store(pos, origin, payload);
            let i = self.slot(pos);
            self.meta[i].arrived = Some(arrived);
        }
        outcome
    }

    /// Stores a packet at ring position `pos` (a replica takes the source's positions as-is).
    /// Positions must all come from one source ring's numbering: [`Self::insert`] and
    /// [`Self::position_of`] assume they are at least 2^30.
    /// O(1), except a jump of `k` positions past the head costs O(min(k, capacity)) to count
    /// the gaps it pushes out of the window.
    pub fn insert_pos(&mut self, pos: u64, origin: Instant, payload: &[u8]) -> InsertOutcome {
        if payload.len() > MAX_PAYLOAD {
            self.stats.oversized += 1;
            return InsertOutcome::Oversized;
        }
        let outcome = self.admit(pos);
        if outcome.is_stored() {
            let i = self.slot(pos);
            if let Some(old) = self.payloads[i].take() {
                self.pool.give_back(old);
            }
            let handle = self
                .pool
                .fill(payload)
                .expect("payload length checked against MAX_PAYLOAD above");
            self.store(pos, origin, handle);
        }
        outcome
    }

    /// Decides where `pos` goes and updates the window and counters; the caller stores the
    /// payload when the outcome says so.
    fn admit(&mut self, pos: u64) -> InsertOutcome {
        match self.head {
            None => {
                self.head = Some(pos);
                self.base = pos;
                InsertOutcome::NewHead { pos, skipped: 0 }
            }
            Some(h) if pos > h => {
                let jump = pos - h;
                if jump > self.max_jump {
                    self.stats.too_far_ahead += 1;
                    return InsertOutcome::TooFarAhead;
                }
                self.missing += jump - 1;
                self.evict(h, pos);
                self.head = Some(pos);
                InsertOutcome::NewHead {
                    pos,
                    skipped: jump - 1,
                }
            }
            Some(h) => {
                if pos < self.tail_of(h) {
                    self.stats.too_old += 1;
                    return InsertOutcome::TooOld;
                }
                if self.meta[self.slot(pos)].pos == pos {
                    self.stats.duplicates += 1;
                    return InsertOutcome::Duplicate { pos };
                }
                if pos >= self.base {
                    self.missing -= 1;
                }
                self.stats.filled_gaps += 1;
                InsertOutcome::FilledGap { pos }
            }
        }
    }

    /// The packet at `pos`, if the ring holds it.
    pub fn get(&self, pos: u64) -> Option<PacketRef<'_>> {
        let i = self.slot(pos);
        let m = &self.meta[i];
        if m.pos != pos {
            return None;
        }
        let origin = m.origin?;
        let handle = self.payloads[i].as_ref()?;
        Some(PacketRef {
            pos,
            origin,
            arrived: m.arrived.unwrap_or(origin),
            payload: handle.as_slice(),
            handle,
        })
    }

    /// A cursor that reads packets stored from now on, for positions after the current head
    /// (older gap fills would map before the subscriber's ISN). O(1).
    pub fn cursor_at_head(&self) -> Cursor {
        Cursor {
            next: self.arrivals,
            start_pos: self.head.map(|h| h + 1),
            stats: CursorStats::default(),
        }
    }

    /// A cursor that reads every packet still held, from the lowest position up, then new
    /// ones. O(capacity).
    pub fn cursor_at_oldest(&self) -> Cursor {
        let mut first = None;
        let mut start_pos: Option<u64> = None;
        for a in self.oldest_arrival()..self.arrivals {
            let pos = self.log[self.slot_of_arrival(a)];
            if self.get(pos).is_some() {
                first.get_or_insert(a);
                start_pos = Some(start_pos.map_or(pos, |s| s.min(pos)));
            }
        }
        Cursor {
            next: first.unwrap_or(self.arrivals),
            start_pos,
            stats: CursorStats::default(),
        }
    }

    /// A cursor that starts at the newest held packet whose payload satisfies `is_start` (for
    /// example [`super::ts::has_video_random_access`]) and reads every held packet at or after
    /// that position, including ones that arrived before it. `None` if no packet matches.
    /// O(capacity).
    pub fn cursor_at_last(&self, is_start: impl Fn(&[u8]) -> bool) -> Option<Cursor> {
        let oldest = self.oldest_arrival();
        let (found, start) = (oldest..self.arrivals).rev().find_map(|a| {
            let p = self.get(self.log[self.slot_of_arrival(a)])?;
            is_start(p.payload).then_some((a, p.pos))
        })?;
        // Packets past `start` may have arrived before it (it was late): begin at the earliest.
        let first = (oldest..found)
            .find(|&a| {
                let pos = self.log[self.slot_of_arrival(a)];
                pos >= start && self.get(pos).is_some()
            })
            .unwrap_or(found);
        Some(Cursor {
            next: first,
            start_pos: Some(start),
            stats: CursorStats::default(),
        })
    }

    /// The cursor's next packet in arrival order, borrowed from the ring. Amortized O(1): each
    /// arrival is looked at once per cursor.
    pub fn read(&self, cursor: &mut Cursor) -> Result<PacketRef<'_>, ReadError> {
        let oldest = self.oldest_arrival();
        let mut skipped = oldest.saturating_sub(cursor.next);
        cursor.next = cursor.next.max(oldest);
        while cursor.next < self.arrivals {
            let pos = self.log[self.slot_of_arrival(cursor.next)];
            if cursor.start_pos.is_some_and(|s| pos < s) {
                cursor.next += 1;
                cursor.stats.before_start += 1;
                continue;
            }
            let Some(pkt) = self.get(pos) else {
                // Overwritten by a position `capacity` later before this cursor got to it.
                skipped += 1;
                cursor.next += 1;
                continue;
            };
            if skipped > 0 {
                // Report the lag now; this packet is the next read.
                break;
            }
            cursor.next += 1;
            cursor.start_pos.get_or_insert(pos);
            cursor.stats.delivered += 1;
            return Ok(pkt);
        }
        if skipped > 0 {
            cursor.stats.lagged_pkts += skipped;
            cursor.stats.lag_events += 1;
            return Err(ReadError::Lagged(skipped));
        }
        Err(ReadError::Empty)
    }

    /// The cursor's next packet in position order: a gap is held until `hold` after the first
    /// later packet arrived, then given up (`Gap`). For receivers that cannot reorder (a TS
    /// byte stream); `read` is the cut-through order. Each position is looked at once, except
    /// that finding the end of a gap scans it (at most the capacity) when it is given up.
    pub fn read_ordered(
        &self,
        cursor: &mut OrderedCursor,
        now: Instant,
        hold: Duration,
    ) -> Result<PacketRef<'_>, OrderedError> {
        let Some(head) = self.head else {
            return Err(OrderedError::Empty);
        };
        let tail = self.tail_of(head).max(self.base);
        let next = *cursor.next.get_or_insert(tail);
        if next > head {
            return Err(OrderedError::Empty);
        }
        if next < tail {
            let n = tail - next;
            cursor.next = Some(tail);
            cursor.gap_until = None;
            cursor.stats.lagged_pkts += n;
            return Err(OrderedError::Lagged(n));
        }
        if let Some(p) = self.get(next) {
            cursor.next = Some(next + 1);
            cursor.gap_until = None;
            cursor.stats.delivered += 1;
            return Ok(p);
        }
        let until = match cursor.gap_until {
            Some((at, until)) if at == next => until,
            _ => {
                // The head is always held, so a later packet exists.
                let later = (next + 1..=head).find_map(|q| self.get(q));
                let until = later.map_or(now, |p| p.arrived) + hold;
                cursor.gap_until = Some((next, until));
                until
            }
        };
        if now < until {
            return Err(OrderedError::Held { until });
        }
        let resume = (next + 1..=head)
            .find(|&q| self.get(q).is_some())
            .unwrap_or(head + 1);
        let n = resume - next;
        cursor.next = Some(resume);
        cursor.gap_until = None;
        cursor.stats.gap_pkts += n;
        Err(OrderedError::Gap(n))
    }

    fn slot(&self, pos: u64) -> usize {
        (pos & self.mask) as usize
    }

    fn slot_of_arrival(&self, a: u64) -> usize {
        (a & self.mask) as usize
    }

    fn oldest_arrival(&self) -> u64 {
        self.arrivals.saturating_sub(self.mask + 1)
    }

    fn tail_of(&self, head: u64) -> u64 {
        (head + 1).saturating_sub(self.mask + 1)
    }

    /// Counts the positions that leave the window when the head moves from `old` to `new`
    /// (before `new` is stored): the ones never filled are lost.
    fn evict(&mut self, old: u64, new: u64) {
        let (old_tail, new_tail) = (self.tail_of(old), self.tail_of(new));
        // Positions that were in the window: look at their slots (at most `capacity`).
        let from = old_tail.max(self.base);
        let to = new_tail.min(old + 1);
        let mut lost = 0;
        for e in from..to.max(from) {
            if self.meta[self.slot(e)].pos != e {
                lost += 1;
            }
        }
        // Positions jumped over and already out of the window: none of them arrived.
        lost += new_tail.saturating_sub(old + 1);
        self.missing -= lost;
        self.stats.lost += lost;
    }

    fn store(&mut self, pos: u64, origin: Instant, payload: Payload) {
        let i = self.slot(pos);
        self.meta[i] = SlotMeta {
            pos,
            origin: Some(origin),
            arrived: None,
        };
        self.payloads[i] = Some(payload);
        let a = self.slot_of_arrival(self.arrivals);
        self.log[a] = pos;
        self.arrivals += 1;
        self.stats.inserted += 1;
    }
}

/// The publisher sequence number of ring position `pos` (positions are congruent to sequence
/// numbers modulo 2^31).
pub fn pos_to_serial(pos: u64) -> Serial {
    Serial::new(pos as u32)
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
