//! One shard's streams: publisher sessions and their rings, replica rings fed from other shards,
//! local subscribers with their cursors, and the forwarders feeding other shards.
//!
//! Owns: moving each stored packet to every local subscriber leg (an [`Offer`] numbered from
//! the subscriber's first position, origin time carried; cut-through or in position order
//! with a hold time, as the leg asked), lag handling (a
//! subscriber that falls behind skips whole packets, counted; nobody else notices), switching
//! subscribers to a new publisher session (at its first keyframe unless it starts with tables:
//! `Opening`), and the grace / wait deadlines of subscribers without
//! a publisher. Must not: read the clock, lock, know sockets or other shards' state; the shard
//! loop (`shard::engine`) feeds it and carries its messages.

// Sans-IO like `src/srt`: times come in as arguments.
#![deny(clippy::disallowed_methods)]

mod protocol;
#[cfg(test)]
mod protocol_tests;

use std::collections::HashMap;

use crate::idhash::IdMap;
use std::time::{Duration, Instant};

use super::handoff::{Forwarder, Handoff, StreamKey};
use super::leg::{LegId, Offer, ReadOrder, Sink, Sinks, StreamHeader, Taken};
use super::ring::{
    Cursor, InsertOutcome, OrderedCursor, OrderedError, ReadError, RingConfig, Serial, StreamRing,
};
use super::ring_pool::RingPool;
use crate::media::psi::PsiCache;
use crate::media::ts::{TsFilter, TsStats, has_video_random_access, packets};

pub use protocol::{Outgoing, SessionMsg};

/// Ring size and payload rule for every stream on the shard.
#[derive(Debug, Clone, Copy)]
pub struct FanoutConfig {
    pub ring: RingConfig,
    pub passthrough_non_ts: bool,
}

/// What a leg is to this shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Publisher { name: String, key: StreamKey },
    Subscriber { name: String },
}

/// What a closed leg was, and what the shard must tell others about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub role: Role,
    /// The replica session it was the last local subscriber of, and the shard feeding it.
    pub unforward: Option<(StreamKey, usize)>,
}

/// Per-stream counters (on this shard).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Publisher packets stored in the ring (local publisher) or received from the publishing
    /// shard (replica).
    pub ingress_packets: u64,
    pub ingress_bytes: u64,
    /// Packets handed to a subscriber leg.
    pub forwarded: u64,
    /// Packets a subscriber never got: it lagged a whole ring behind, its send buffer was
    /// beyond its acknowledgements, or (read in order) a gap it held was given up.
    pub skipped: u64,
    /// Packets sent to other shards / received from the publishing shard.
    pub handoffs_out: u64,
    pub handoffs_in: u64,
    /// Packets dropped because the ring refused them (too old, too far ahead, oversized).
    pub ring_refused: u64,
    /// Packets of a new session that subscribers who watched the one before never got: they
    /// start it at its first keyframe (`Opening`), summed over them.
    pub rejoin_skipped: u64,
}

/// A stream's view for metrics and inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamView {
    pub name: String,
    pub key: Option<StreamKey>,
    /// The local publisher leg.
    pub publisher: Option<LegId>,
    /// Fed from another shard.
    pub replica: bool,
    pub subscribers: Vec<LegId>,
    pub forwarding_to: Vec<usize>,
    /// Ingress payload rate over the last sampling interval, bits per second.
    pub ingress_bps: u64,
    pub counters: StreamCounters,
}

#[derive(Debug)]
struct Session {
    key: StreamKey,
    ring: StreamRing,
    /// `Some` when the publisher is on this shard; `None` for a replica.
    publisher: Option<LegId>,
    /// For a replica: the publishing shard that feeds it (where `Unforward` goes).
    source: Option<usize>,
    /// The publisher left (or its shard said so); the ring stays for the grace period.
    ended: bool,
}

#[derive(Debug)]
struct Subscriber {
    leg: LegId,
    order: ReadOrder,
    /// `None` until a session exists.
    cursor: Option<SubCursor>,
    /// The leg's number for the cursor's first position ([`Sink::base`]), taken when the
    /// cursor is first used.
    base: Option<u64>,
    joined: Instant,
    /// When it stops waiting for a publisher, fixed at join time by the policy then in force
    /// (a reload applies to newcomers only); `None` under `unknown_stream = "reject"`.
    wait_until: Option<Instant>,
    /// Added to every origin time this subscriber gets (see `BACKLOG_SHIFT_MIN`); fixed at its
    /// first packet of each session.
    shift: Option<Duration>,
    /// It watched the session before this one: it starts at a place to decode (`Opening`).
    rejoin: bool,
}

/// A newcomer starts at the last keyframe, up to a GOP in the past. Carried unchanged, those
/// origin times are already older than the sender's drop threshold (max(latency, 1 s)), so the
/// relay would drop the backlog it just queued and the player would see a hole right after the
/// keyframe. When a subscriber's first packet is older than this, its origins are shifted
/// forward so that packet plays at join time plus latency: the player then runs that much
/// behind live (at most a GOP), with the source pacing intact. Fresher first packets (a
/// subscriber waiting for its publisher) keep the publisher's time base.
const BACKLOG_SHIFT_MIN: Duration = Duration::from_millis(100);

/// A subscriber's reader: cut-through (arrival order) or in position order.
#[derive(Debug)]
enum SubCursor {
    CutThrough(Cursor),
    /// With the first position it delivered (what its numbering counts from).
    Ordered(OrderedCursor, Option<u64>),
}

impl SubCursor {
    fn new(c: Cursor, order: ReadOrder) -> SubCursor {
        match order {
            ReadOrder::CutThrough => SubCursor::CutThrough(c),
            ReadOrder::Ordered { .. } => SubCursor::Ordered(OrderedCursor::from_cursor(&c), None),
        }
    }

    fn start_pos(&self) -> Option<u64> {
        match self {
            SubCursor::CutThrough(c) => c.start_pos(),
            SubCursor::Ordered(_, first) => *first,
        }
    }

    /// Arrivals (cut-through) or positions (in order) behind the head.
    fn lag(&self, ring: &StreamRing) -> u64 {
        match self {
            SubCursor::CutThrough(c) => ring.arrivals().saturating_sub(c.next_arrival()),
            SubCursor::Ordered(c, _) => match (ring.head(), c.next_pos()) {
                (Some(h), Some(n)) => (h + 1).saturating_sub(n),
                _ => 0,
            },
        }
    }
}

#[derive(Debug)]
struct Stream {
    name: String,
    session: Option<Session>,
    subs: Vec<Subscriber>,
    forwarders: Vec<(usize, Forwarder)>,
    /// When the last publisher session ended; `None` while one is live or before the first.
    idle_since: Option<Instant>,
    dirty: bool,
    /// The earliest held gap of its subscribers reading in order gives up then.
    wake: Option<Instant>,
    counters: StreamCounters,
    /// `ingress_bytes` and time at the last rate sample.
    rate_mark: Option<(u64, Instant)>,
    ingress_bps: u64,
    /// The session's latest PAT/PMT, for legs that start a byte stream on their own.
    psi: PsiCache,
    /// How the session began, for subscribers without a cursor in it.
    opening: Opening,
}

/// Subscribers that watched the session before (a failover, an encoder that reconnected
/// mid-stream) start the new one where a decoder can: at its first packet when it begins as an
/// encoder's output does (tables first: PAT, SDT, any PID below 0x20) or carries no video, else
/// at its first keyframe, waiting for one up to `REJOIN_WAIT`. (A player that waited for the
/// first publisher reads from its first packet.)
#[derive(Debug, Default)]
struct Opening {
    /// The first stored payload begins with a table, or is not TS at all.
    clean: Option<bool>,
    keyframe: bool,
    /// When a subscriber first waited for a place to start.
    since: Option<Instant>,
    /// Subscribers may still wait to rejoin: fan-out looks for them only while this is set.
    pending: bool,
}

/// A session without a keyframe by then is read from its first packet after all.
const REJOIN_WAIT: Duration = Duration::from_secs(2);

impl Opening {
    fn observe(&mut self, payload: &[u8]) {
        if self.clean.is_none() {
            let first = packets(payload).next();
            self.clean = Some(first.is_none_or(|p| crate::media::packet::pid(p) < 0x20));
        }
        if !self.keyframe && has_video_random_access(payload) {
            self.keyframe = true;
        }
    }

    /// Where a subscriber without a cursor starts now; `None`: not yet.
    fn start(&mut self, ring: &StreamRing, video: Option<bool>, now: Instant) -> Option<Cursor> {
        let clean = self.clean?;
        let since = *self.since.get_or_insert(now);
        if clean || video == Some(false) {
            return Some(ring.cursor_at_oldest());
        }
        if self.keyframe {
            return Some(
                ring.cursor_at_last(has_video_random_access)
                    .unwrap_or_else(|| ring.cursor_at_oldest()),
            );
        }
        (now.saturating_duration_since(since) >= REJOIN_WAIT).then(|| ring.cursor_at_oldest())
    }
}

impl Stream {
    /// Stored payloads passed the TS check at ingest (on the publisher's shard, for replicas
    /// too); the cache takes any bytes without harm (fuzzed), so none is checked twice.
    fn observe_psi(&mut self, payload: &[u8]) {
        for p in packets(payload) {
            self.psi.observe(p);
        }
        self.opening.observe(payload);
    }
}

impl Stream {
    fn live_key(&self) -> Option<StreamKey> {
        self.session.as_ref().filter(|s| !s.ended).map(|s| s.key)
    }
}

/// All streams of one shard.
#[derive(Debug)]
pub struct ShardStreams {
    cfg: FanoutConfig,
    /// Slots reused after a stream goes away; indices stay valid while a stream lives.
    slots: Vec<Option<Stream>>,
    by_name: HashMap<String, usize>,
    by_key: HashMap<StreamKey, usize>,
    roles: IdMap<LegId, Role>,
    publishers: IdMap<LegId, usize>,
    dirty: Vec<usize>,
    ts: TsFilter,
    /// Handoffs for a session this shard does not hold (raced with its end).
    unknown_handoffs: u64,
    /// `Forward` requests refused: the session had already ended here.
    forwards_refused: u64,
    /// Hand-overs since the shard last flushed, for the transit histograms.
    transits: TransitLog,
    /// Rings of ended sessions, for the next session or replica.
    rings: RingPool,
    /// (when, stream): a subscriber reading in order holds a gap in that stream until then.
    /// An entry whose time is no longer the stream's `wake` is stale and dropped when due.
    wakes: Vec<(Instant, usize)>,
}

/// Packets handed to subscriber connections since the last drain, as runs of (read time of
/// the publisher's datagram, count): one batch's packets share their read time, so a wake-up
/// that feeds 1000 subscribers the same burst is one run per subscriber, or fewer. Bounded:
/// past `MAX_RUNS` runs further packets join the last run (their time is then approximate).
#[derive(Debug, Default)]
struct TransitLog {
    live: Vec<(Instant, u64)>,
    backlog: Vec<(Instant, u64)>,
}

const MAX_RUNS: usize = 4096;

impl TransitLog {
    fn push(&mut self, backlog: bool, arrived: Instant) {
        let runs = if backlog {
            &mut self.backlog
        } else {
            &mut self.live
        };
        let full = runs.len() >= MAX_RUNS;
        match runs.last_mut() {
            Some((t, n)) if *t == arrived || full => *n += 1,
            _ => runs.push((arrived, 1)),
        }
    }
}

impl ShardStreams {
    pub fn new(cfg: FanoutConfig) -> Self {
        ShardStreams {
            cfg,
            slots: Vec::new(),
            by_name: HashMap::new(),
            by_key: HashMap::new(),
            roles: IdMap::default(),
            publishers: IdMap::default(),
            dirty: Vec::new(),
            ts: TsFilter::new(cfg.passthrough_non_ts),
            unknown_handoffs: 0,
            forwards_refused: 0,
            transits: TransitLog::default(),
            rings: RingPool::new(),
            wakes: Vec::new(),
        }
    }

    pub fn role(&self, conn: LegId) -> Option<&Role> {
        self.roles.get(&conn)
    }

    pub fn ts_stats(&self) -> &TsStats {
        self.ts.stats()
    }

    pub fn unknown_handoffs(&self) -> u64 {
        self.unknown_handoffs
    }

    pub fn forwards_refused(&self) -> u64 {
        self.forwards_refused
    }

    fn stream_mut(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let stream = Stream {
            name: name.to_string(),
            session: None,
            subs: Vec::new(),
            forwarders: Vec::new(),
            idle_since: None,
            dirty: false,
            wake: None,
            counters: StreamCounters::default(),
            rate_mark: None,
            ingress_bps: 0,
            psi: PsiCache::new(),
            opening: Opening::default(),
        };
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(stream);
                i
            }
            None => {
                self.slots.push(Some(stream));
                self.slots.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), i);
        i
    }

    fn get(&mut self, i: usize) -> &mut Stream {
        self.slots[i]
            .as_mut()
            .expect("indices in maps point at live streams")
    }

    /// Forgets a stream that has nothing left on this shard.
    fn collect(&mut self, i: usize) {
        let s = self.slots[i].as_ref().expect("live stream");
        let has_live_session = s.session.as_ref().is_some_and(|x| !x.ended);
        if s.subs.is_empty() && !has_live_session && s.forwarders.is_empty() {
            let s = self.slots[i].take().expect("live stream");
            self.by_name.remove(&s.name);
            if let Some(sess) = s.session {
                self.by_key.remove(&sess.key);
                self.rings.give_back(sess.ring);
            }
        }
    }

    /// Starts a new session for `name`: a fresh ring fed by `publisher` on this shard
    /// (`Some`) or by handoffs from another shard (`None`). Subscribers move to it and continue
    /// their sequence numbers where the previous session left them. Returns `false` when this
    /// session is already the stream's (a repeated notice).
    pub fn start_session(&mut self, name: &str, key: StreamKey, publisher: Option<LegId>) -> bool {
        self.begin(name, key, publisher, None)
    }

    /// Starts a replica session of `name`, fed by handoffs from shard `source`.
    pub fn start_replica(&mut self, name: &str, key: StreamKey, source: usize) -> bool {
        self.begin(name, key, None, Some(source))
    }

    fn begin(
        &mut self,
        name: &str,
        key: StreamKey,
        publisher: Option<LegId>,
        source: Option<usize>,
    ) -> bool {
        let i = self.stream_mut(name);
        if self.get(i).session.as_ref().is_some_and(|x| x.key == key) {
            return false;
        }
        let ring = self.rings.take(self.cfg.ring);
        let s = self.get(i);
        let old = s.session.replace(Session {
            key,
            ring,
            publisher,
            source,
            ended: false,
        });
        s.forwarders.clear();
        s.idle_since = None;
        // A new publisher may announce other tables.
        s.psi = PsiCache::new();
        s.opening = Opening::default();
        for sub in &mut s.subs {
            // Read the new ring from its start (`Opening`); the offset is fixed at first use.
            sub.rejoin = sub.rejoin || sub.cursor.is_some();
            sub.cursor = None;
            sub.base = None;
            sub.shift = None;
        }
        s.opening.pending = s.subs.iter().any(|x| x.rejoin);
        if let Some(old) = old {
            self.by_key.remove(&old.key);
            if let Some(p) = old.publisher {
                self.publishers.remove(&p);
            }
            self.rings.give_back(old.ring);
        }
        self.by_key.insert(key, i);
        if let Some(p) = publisher {
            self.publishers.insert(p, i);
            self.roles.insert(
                p,
                Role::Publisher {
                    name: name.to_string(),
                    key,
                },
            );
        }
        true
    }

    /// The session `key` of `name` ended (its publisher left): subscribers stay for the grace
    /// period; the ring is kept until a new session replaces it.
    pub fn end_session(&mut self, name: &str, key: StreamKey, now: Instant) {
        let Some(&i) = self.by_name.get(name) else {
            return;
        };
        let s = self.get(i);
        // A repeated notice (SessionEnded after a refused Forward) keeps the first deadline.
        let Some(sess) = s.session.as_mut().filter(|x| x.key == key && !x.ended) else {
            return;
        };
        sess.ended = true;
        s.forwarders.clear();
        s.idle_since = Some(now);
        self.collect(i);
    }

    /// The publishing shard refused to feed replica session `key` (it had already ended
    /// there): the replica ends as if told so, and its subscribers get the grace period.
    pub fn end_replica(&mut self, key: StreamKey, now: Instant) {
        let Some(&i) = self.by_key.get(&key) else {
            return;
        };
        let s = self.get(i);
        if s.session.as_ref().is_some_and(|x| x.publisher.is_none()) {
            let name = s.name.clone();
            self.end_session(&name, key, now);
        }
    }

    /// A packet from a local publisher whose datagram was read at `now`. Returns whether it
    /// went into the ring.
    /// `serial` is the leg's 31-bit packet number (SRT: its sequence number); `origin` is the
    /// time the packet stands for at the publisher (carried to subscribers).
    pub fn on_publisher_data(
        &mut self,
        leg: LegId,
        serial: Serial,
        origin: Instant,
        payload: &[u8],
        now: Instant,
    ) -> bool {
        let Some(&i) = self.publishers.get(&leg) else {
            return false;
        };
        if !self.ts.admit(payload) {
            return false;
        }
        let s = self.slots[i].as_mut().expect("live stream");
        let Some(sess) = s.session.as_mut() else {
            return false;
        };
        let outcome = sess.ring.insert_arrived(serial, origin, now, payload);
        let stored = Self::stored(s, i, outcome, payload.len(), &mut self.dirty);
        if stored {
            s.observe_psi(payload);
        }
        stored
    }

    fn stored(
        s: &mut Stream,
        i: usize,
        outcome: InsertOutcome,
        len: usize,
        dirty: &mut Vec<usize>,
    ) -> bool {
        match outcome {
            InsertOutcome::NewHead { .. } | InsertOutcome::FilledGap { .. } => {
                s.counters.ingress_packets += 1;
                s.counters.ingress_bytes += len as u64;
                if !s.dirty {
                    s.dirty = true;
                    dirty.push(i);
                }
                true
            }
            InsertOutcome::Duplicate { .. } => false,
            InsertOutcome::TooOld | InsertOutcome::TooFarAhead | InsertOutcome::Oversized => {
                s.counters.ring_refused += 1;
                false
            }
        }
    }

    /// A packet from the publishing shard, for a replica ring.
    pub fn on_handoff(&mut self, h: &Handoff) -> bool {
        let Some(&i) = self.by_key.get(&h.stream) else {
            self.unknown_handoffs += 1;
            return false;
        };
        let s = self.slots[i].as_mut().expect("live stream");
        let Some(sess) = s.session.as_mut().filter(|x| x.publisher.is_none()) else {
            self.unknown_handoffs += 1;
            return false;
        };
        let outcome = h.apply(&mut sess.ring);
        s.counters.handoffs_in += 1;
        let stored = Self::stored(s, i, outcome, h.payload().len(), &mut self.dirty);
        if stored {
            s.observe_psi(h.payload());
        }
        stored
    }

    /// Starts feeding shard `to` from the local session `key`: from the oldest packet held
    /// (`from_start`), else from the last keyframe held (or the next packet). Returns `false`
    /// if `key` is not a live local session.
    pub fn add_forwarder(&mut self, key: StreamKey, to: usize, from_start: bool) -> bool {
        let Some(&i) = self.by_key.get(&key) else {
            return false;
        };
        let s = self.get(i);
        let Some(sess) = s
            .session
            .as_ref()
            .filter(|x| x.publisher.is_some() && !x.ended)
        else {
            return false;
        };
        if s.forwarders.iter().any(|(t, _)| *t == to) {
            return true;
        }
        let cursor = if from_start {
            sess.ring.cursor_at_oldest()
        } else {
            join_cursor(&sess.ring)
        };
        s.forwarders.push((to, Forwarder::new(key, cursor)));
        true
    }

    pub fn remove_forwarder(&mut self, key: StreamKey, to: usize) {
        if let Some(&i) = self.by_key.get(&key) {
            self.get(i).forwarders.retain(|(t, _)| *t != to);
            self.collect(i);
        }
    }

    /// A new subscriber of `name`. It starts at the last keyframe the ring holds (or at the next
    /// packet) once a session exists.
    pub fn add_subscriber(
        &mut self,
        name: &str,
        leg: LegId,
        order: ReadOrder,
        now: Instant,
        wait: Option<Duration>,
    ) {
        let i = self.stream_mut(name);
        let s = self.get(i);
        let cursor = s
            .session
            .as_ref()
            .map(|x| SubCursor::new(join_cursor(&x.ring), order));
        s.subs.push(Subscriber {
            leg,
            order,
            cursor,
            base: None,
            joined: now,
            wait_until: wait.map(|w| now + w),
            shift: None,
            rejoin: false,
        });
        self.roles.insert(
            leg,
            Role::Subscriber {
                name: name.to_string(),
            },
        );
    }

    /// Whether this shard holds subscribers of `name`.
    pub fn has_subscribers(&self, name: &str) -> bool {
        self.by_name
            .get(name)
            .and_then(|&i| self.slots[i].as_ref())
            .is_some_and(|s| !s.subs.is_empty())
    }

    /// The live session key of `name` on this shard, if any.
    pub fn live_key(&self, name: &str) -> Option<StreamKey> {
        self.by_name
            .get(name)
            .and_then(|&i| self.slots[i].as_ref())
            .and_then(Stream::live_key)
    }

    /// Forgets a closed connection; returns what it was. When it was the last local
    /// subscriber of a live replica, the replica is dropped here and then, and the caller must
    /// send `Unforward` for the returned (session, source shard). Deciding this from the shard's
    /// own subscriber list (not the registry's per-shard count, which also counts admissions
    /// whose connection is not up yet) keeps "fed" and "asked to be fed" the same fact: a
    /// replica left behind after its `Unforward` looked live, so the next player on this shard
    /// asked for nothing and got nothing (the cross-shard stall).
    pub fn remove_connection(&mut self, conn: LegId, now: Instant) -> Option<Departure> {
        let role = self.roles.remove(&conn)?;
        let mut unforward = None;
        match &role {
            Role::Publisher { name, key } => {
                self.publishers.remove(&conn);
                self.end_session(name, *key, now);
            }
            Role::Subscriber { name } => {
                if let Some(&i) = self.by_name.get(name) {
                    let s = self.get(i);
                    s.subs.retain(|s| s.leg != conn);
                    if s.subs.is_empty()
                        && let Some(sess) = s.session.take_if(|x| x.source.is_some() && !x.ended)
                    {
                        unforward = sess.source.map(|src| (sess.key, src));
                        self.by_key.remove(&sess.key);
                        self.rings.give_back(sess.ring);
                    }
                    self.collect(i);
                }
            }
        }
        Some(Departure { role, unforward })
    }

    /// Moves every packet stored since the last call to the local subscribers of the streams
    /// that got any (or whose held gap is due, see [`Self::next_wake`]), and pumps their
    /// forwarders through `handoff(to_shard, msg)` (returns `false` when that queue is full).
    /// Returns packets handed to subscriber legs.
    pub fn fan_out<S: Sinks>(
        &mut self,
        sinks: &mut S,
        now: Instant,
        handoff: &mut dyn FnMut(usize, Handoff) -> bool,
    ) -> u64 {
        self.wake_due(now);
        let mut total = 0;
        while let Some(i) = self.dirty.pop() {
            let Some(s) = self.slots[i].as_mut() else {
                continue;
            };
            s.dirty = false;
            let Some(sess) = s.session.as_ref() else {
                continue;
            };
            let mut wake: Option<Instant> = None;
            let psi = s.psi.header().map(|header| StreamHeader {
                header,
                has_video: s.psi.has_video(),
            });
            // Not a walk over the subscribers per packet: only while some may wait to rejoin.
            let rejoining = if s.opening.pending {
                s.subs
                    .iter()
                    .filter(|x| x.cursor.is_none() && x.rejoin)
                    .count()
            } else {
                0
            };
            s.opening.pending = rejoining > 0;
            let start = if rejoining > 0 {
                let video = psi.map(|p| p.has_video);
                let start = s.opening.start(&sess.ring, video, now);
                // What the keyframe start leaves out: the held positions before it.
                if let (Some(c), Some(oldest)) = (start, sess.ring.cursor_at_oldest().start_pos()) {
                    let before = c.start_pos().map_or(0, |p| p.saturating_sub(oldest));
                    s.counters.rejoin_skipped += before * rejoining as u64;
                }
                start
            } else {
                None
            };
            for sub in &mut s.subs {
                let fed = feed(&sess.ring, sub, sinks, now, &mut self.transits, psi, start);
                s.counters.forwarded += fed.sent;
                s.counters.skipped += fed.skipped;
                total += fed.sent;
                if let Some(t) = fed.held_until {
                    wake = Some(wake.map_or(t, |w| w.min(t)));
                }
            }
            // A gap held over many visits keeps its deadline: one entry, not one per visit.
            if wake != s.wake {
                s.wake = wake;
                if let Some(t) = wake {
                    self.wakes.push((t, i));
                }
            }
            pump(&sess.ring, &mut s.forwarders, &mut s.counters, handoff);
        }
        total
    }

    /// Hands over (and forgets) what was fed to subscribers since the last call, as
    /// `f(backlog, arrived, count)`: `arrived` is when the publisher's datagram was read;
    /// `backlog` marks packets that arrived before the subscriber joined (its keyframe start).
    pub fn drain_transits(&mut self, mut f: impl FnMut(bool, Instant, u64)) {
        for (at, n) in self.transits.live.drain(..) {
            f(false, at, n);
        }
        for (at, n) in self.transits.backlog.drain(..) {
            f(true, at, n);
        }
    }

    /// Retries forwarders that a full queue stopped (call periodically).
    pub fn pump_forwarders(&mut self, handoff: &mut dyn FnMut(usize, Handoff) -> bool) {
        for s in self.slots.iter_mut().flatten() {
            let Some(sess) = s.session.as_ref() else {
                continue;
            };
            pump(&sess.ring, &mut s.forwarders, &mut s.counters, handoff);
        }
    }

    /// Subscribers whose wait for a publisher is over: those that joined a stream without one
    /// and reached their wait deadline, and all of a stream whose publisher left more than
    /// `grace` ago.
    pub fn expired(&self, now: Instant, grace: Duration) -> Vec<LegId> {
        let mut out = Vec::new();
        for s in self.slots.iter().flatten() {
            if s.live_key().is_some() {
                continue;
            }
            for sub in &s.subs {
                let deadline = match s.idle_since {
                    // It was watching when the publisher left: the grace period applies.
                    Some(t) if sub.joined <= t => t + grace,
                    // It arrived with no publisher: it waits (or, under the reject policy,
                    // only raced the publisher's departure and goes with the others).
                    _ => match sub.wait_until {
                        Some(t) => t,
                        None => s.idle_since.map_or(sub.joined, |t| t + grace),
                    },
                };
                if now >= deadline {
                    out.push(sub.leg);
                }
            }
        }
        out
    }

    /// Every stream on this shard.
    pub fn views(&self) -> Vec<StreamView> {
        self.slots
            .iter()
            .flatten()
            .map(|s| StreamView {
                name: s.name.clone(),
                key: s.session.as_ref().map(|x| x.key),
                publisher: s.session.as_ref().and_then(|x| x.publisher),
                replica: s.session.as_ref().is_some_and(|x| x.publisher.is_none()),
                subscribers: s.subs.iter().map(|x| x.leg).collect(),
                forwarding_to: s.forwarders.iter().map(|(t, _)| *t).collect(),
                ingress_bps: s.ingress_bps,
                counters: s.counters,
            })
            .collect()
    }

    /// Updates each stream's ingress rate (call about once a second).
    pub fn sample_rates(&mut self, now: Instant) {
        for s in self.slots.iter_mut().flatten() {
            let bytes = s.counters.ingress_bytes;
            if let Some((before, at)) = s.rate_mark {
                let dt = now.saturating_duration_since(at).as_micros() as u64;
                if let Some(bps) = ((bytes - before) * 8 * 1_000_000).checked_div(dt) {
                    s.ingress_bps = bps;
                }
            }
            s.rate_mark = Some((bytes, now));
        }
    }

    /// Packets behind the ring head for each local subscriber (for the lag histogram).
    pub fn subscriber_lags(&self, mut f: impl FnMut(LegId, u64)) {
        for s in self.slots.iter().flatten() {
            let Some(sess) = s.session.as_ref() else {
                continue;
            };
            for sub in &s.subs {
                if let Some(c) = &sub.cursor {
                    f(sub.leg, c.lag(&sess.ring));
                }
            }
        }
    }

    /// When a subscriber reading in order gives up a gap it holds: `fan_out` must run then
    /// even without new input.
    pub fn next_wake(&self) -> Option<Instant> {
        self.wakes
            .iter()
            .filter(|&&(t, i)| self.wake_is_current(t, i))
            .map(|&(t, _)| t)
            .min()
    }

    fn wake_is_current(&self, t: Instant, i: usize) -> bool {
        self.slots[i].as_ref().is_some_and(|s| s.wake == Some(t))
    }

    /// Marks the streams whose held gap is due for the next fan-out.
    fn wake_due(&mut self, now: Instant) {
        let mut k = 0;
        while k < self.wakes.len() {
            let (t, i) = self.wakes[k];
            if t > now {
                k += 1;
                continue;
            }
            self.wakes.swap_remove(k);
            if !self.wake_is_current(t, i) {
                continue;
            }
            let s = self.get(i);
            s.wake = None;
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(i);
            }
        }
    }
}

/// (session key, ended, (position, payload) of every packet held), for tests.
#[cfg(test)]
pub(crate) type Held = (StreamKey, bool, Vec<(u64, Vec<u8>)>);

#[cfg(test)]
impl ShardStreams {
    /// The session of `name` on this shard (key, ended) and every packet its ring holds, oldest
    /// first, as (position, payload).
    pub(crate) fn held(&self, name: &str) -> Option<Held> {
        let s = self.slots[*self.by_name.get(name)?].as_ref()?;
        let sess = s.session.as_ref()?;
        let mut c = sess.ring.cursor_at_oldest();
        let mut out = Vec::new();
        loop {
            match sess.ring.read(&mut c) {
                Ok(p) => out.push((p.pos, p.payload.to_vec())),
                Err(ReadError::Lagged(_)) => {}
                Err(ReadError::Empty) => return Some((sess.key, sess.ended, out)),
            }
        }
    }

    /// Streams this shard holds, by name.
    pub(crate) fn names(&self) -> Vec<String> {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.name.clone())
            .collect()
    }
}

/// Feeds every forwarder of a stream what it has not sent yet; a full queue stops it until
/// the next call.
fn pump(
    ring: &StreamRing,
    forwarders: &mut [(usize, Forwarder)],
    counters: &mut StreamCounters,
    handoff: &mut dyn FnMut(usize, Handoff) -> bool,
) {
    for (to, fwd) in forwarders {
        let to = *to;
        counters.handoffs_out += fwd.pump(ring, usize::MAX, |h| handoff(to, h)) as u64;
    }
}

/// Where a newcomer starts reading: at the last video keyframe still held, so a player can
/// decode at once, else at the next packet.
fn join_cursor(ring: &StreamRing) -> Cursor {
    ring.cursor_at_last(has_video_random_access)
        .unwrap_or_else(|| ring.cursor_at_head())
}

/// What one visit of a subscriber did.
#[derive(Debug, Default)]
struct Fed {
    sent: u64,
    skipped: u64,
    /// Reading in order, it holds a gap until then.
    held_until: Option<Instant>,
}

/// A packet read for a subscriber, or why none.
enum Next<'r> {
    Packet(crate::relay::ring::PacketRef<'r>),
    Skipped(u64),
    Held(Instant),
    Done,
}

fn next<'r>(
    ring: &'r StreamRing,
    cursor: &mut SubCursor,
    now: Instant,
    order: ReadOrder,
) -> Next<'r> {
    match cursor {
        SubCursor::CutThrough(c) => match ring.read(c) {
            Ok(p) => Next::Packet(p),
            Err(ReadError::Lagged(n)) => Next::Skipped(n),
            Err(ReadError::Empty) => Next::Done,
        },
        SubCursor::Ordered(c, first) => {
            let hold = match order {
                ReadOrder::Ordered { hold } => hold,
                ReadOrder::CutThrough => Duration::ZERO,
            };
            match ring.read_ordered(c, now, hold) {
                Ok(p) => {
                    first.get_or_insert(p.pos);
                    Next::Packet(p)
                }
                Err(OrderedError::Lagged(n) | OrderedError::Gap(n)) => Next::Skipped(n),
                Err(OrderedError::Held { until }) => Next::Held(until),
                Err(OrderedError::Empty) => Next::Done,
            }
        }
    }
}

/// Reads everything new for one subscriber into its leg.
fn feed<S: Sinks>(
    ring: &StreamRing,
    sub: &mut Subscriber,
    sinks: &mut S,
    now: Instant,
    transits: &mut TransitLog,
    psi: Option<StreamHeader<'_>>,
    start: Option<Cursor>,
) -> Fed {
    let mut fed = Fed::default();
    let Some(mut sink) = sinks.sink(sub.leg) else {
        return fed;
    };
    let order = sub.order;
    if sub.cursor.is_none() {
        let c = if sub.rejoin {
            start
        } else {
            Some(ring.cursor_at_oldest())
        };
        sub.cursor = c.map(|c| SubCursor::new(c, order));
        sub.rejoin &= sub.cursor.is_none();
    }
    // Waits for the session's first keyframe (`Opening`).
    let Some(cursor) = sub.cursor.as_mut() else {
        return fed;
    };
    let base = *sub.base.get_or_insert_with(|| sink.base());
    loop {
        let p = match next(ring, cursor, now, order) {
            Next::Packet(p) => p,
            Next::Skipped(n) => {
                fed.skipped += n;
                continue;
            }
            Next::Held(until) => {
                fed.held_until = Some(until);
                return fed;
            }
            Next::Done => return fed,
        };
        let Some(d) = cursor.start_pos().and_then(|s| p.pos.checked_sub(s)) else {
            continue;
        };
        let shift = *sub.shift.get_or_insert_with(|| {
            let age = now.saturating_duration_since(p.origin);
            if age > BACKLOG_SHIFT_MIN {
                age
            } else {
                Duration::ZERO
            }
        });
        let offer = Offer {
            number: base.wrapping_add(d),
            pos: p.pos,
            origin: p.origin + shift,
            payload: p.handle,
            psi,
        };
        match sink.offer(offer) {
            Taken::Queued => {
                fed.sent += 1;
                transits.push(p.arrived < sub.joined, p.arrived);
            }
            Taken::AlreadyHad => {}
            Taken::Skipped => fed.skipped += 1,
            Taken::Closed => return fed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::test_legs::test_leg as l;
    use crate::srt::sim::t0;

    const CUT: ReadOrder = ReadOrder::CutThrough;

    fn streams() -> ShardStreams {
        ShardStreams::new(FanoutConfig {
            ring: RingConfig {
                capacity_pkts: 64,
                ..RingConfig::default()
            },
            passthrough_non_ts: false,
        })
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn waiting_players_expire_at_their_own_deadline_and_grace_applies_after_a_publisher() {
        let (now, grace) = (t0(), 5 * S);
        let mut st = streams();
        st.add_subscriber("cam", l(1), CUT, now, Some(10 * S));
        // A later reload to `reject` does not touch the one already waiting.
        st.add_subscriber("cam", l(2), CUT, now + S, None);
        assert!(
            st.expired(now + 9 * S, grace).contains(&l(2)),
            "reject: no wait"
        );
        assert!(!st.expired(now + 9 * S, grace).contains(&l(1)));
        assert!(st.expired(now + 10 * S, grace).contains(&l(1)));

        // A publisher arrives: nobody expires while it is live.
        assert!(st.start_session("cam", StreamKey(7), Some(l(9))));
        assert!(
            !st.start_session("cam", StreamKey(7), Some(l(9))),
            "repeated notice"
        );
        assert_eq!(st.live_key("cam"), Some(StreamKey(7)));
        assert!(st.expired(now + 60 * S, grace).is_empty());
        // It leaves at 60 s: everyone gets the grace period, a newcomer its own wait.
        st.remove_connection(l(9), now + 60 * S);
        assert_eq!(st.live_key("cam"), None);
        st.add_subscriber("cam", l(3), CUT, now + 61 * S, Some(10 * S));
        let at_grace = st.expired(now + 65 * S, grace);
        assert!(
            at_grace.contains(&l(1)) && at_grace.contains(&l(2)),
            "{at_grace:?}"
        );
        assert!(!at_grace.contains(&l(3)));
        assert!(st.expired(now + 71 * S, grace).contains(&l(3)));
        // A new session within the grace period resumes them.
        assert!(st.start_session("cam", StreamKey(8), Some(l(10))));
        assert!(st.expired(now + 100 * S, grace).is_empty());
    }

    #[test]
    fn publisher_data_is_filtered_counted_and_replicas_only_take_their_session() {
        let now = t0();
        let mut st = streams();
        st.start_session("a", StreamKey(1), Some(l(5)));
        let data = |st: &mut ShardStreams, leg: u32, serial: u32, payload: &[u8]| {
            st.on_publisher_data(l(leg), Serial::new(serial), now, payload, now)
        };
        let ts = [0x47u8; 188 * 7];
        assert!(data(&mut st, 5, 100, &ts));
        assert!(!data(&mut st, 5, 100, &ts), "duplicate");
        assert!(!data(&mut st, 5, 101, &[0u8; 100]), "not TS");
        assert!(!data(&mut st, 6, 102, &ts), "not a publisher");
        assert_eq!(st.ts_stats().dropped_not_aligned, 1);
        let view = &st.views()[0];
        assert_eq!(view.counters.ingress_packets, 1);
        assert_eq!(view.counters.ingress_bytes, ts.len() as u64);

        // Forwarding starts only for a live local session; handoffs only feed replicas.
        assert!(st.add_forwarder(StreamKey(1), 1, false));
        assert!(!st.add_forwarder(StreamKey(2), 1, true));
        let ring = {
            let mut r = StreamRing::new(RingConfig::default());
            r.insert(Serial::new(100), now, &ts);
            r
        };
        let pkt = ring.get(ring.head().expect("one")).expect("held");
        let h = Handoff::new(StreamKey(1), &pkt);
        assert!(!st.on_handoff(&h), "a local session takes no handoffs");
        st.add_subscriber("b", l(3), CUT, now, None);
        st.start_session("b", StreamKey(2), None);
        assert!(st.on_handoff(&Handoff::new(StreamKey(2), &pkt)));
        assert!(!st.on_handoff(&Handoff::new(StreamKey(9), &pkt)));
        assert_eq!(st.unknown_handoffs(), 2);
    }

    /// A 7-packet payload on PID 0x100: a video keyframe start, a continuation, or (`pat`) a
    /// PAT first; byte 10 of each packet carries `tag`.
    fn payload(kind: &str, tag: u8) -> Vec<u8> {
        let mut p = vec![0xFFu8; 188 * 7];
        for k in 0..7 {
            let pkt = &mut p[k * 188..(k + 1) * 188];
            pkt[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x10]);
            pkt[10] = tag;
        }
        match kind {
            "key" => p[..10].copy_from_slice(&[0x47, 0x41, 0x00, 0x30, 0x01, 0x40, 0, 0, 1, 0xE0]),
            "pat" => p[..4].copy_from_slice(&[0x47, 0x40, 0x00, 0x10]),
            _ => {}
        }
        p
    }

    /// Tags of what `leg` got, with its numbers.
    fn tags(legs: &crate::relay::test_legs::TestLegs, leg: LegId) -> Vec<(u64, u8)> {
        legs.received(leg)
            .iter()
            .map(|(n, _, p)| (*n, p[10]))
            .collect()
    }

    #[test]
    fn a_watcher_of_the_session_before_starts_the_next_at_a_keyframe_or_at_its_tables() {
        let t = t0();
        let mut st = streams();
        let mut legs = crate::relay::test_legs::TestLegs::default();
        let (watcher, publisher) = (l(1), l(9));
        legs.add(watcher);
        st.add_subscriber("a", watcher, CUT, t, None);
        let send = |st: &mut ShardStreams, legs: &mut _, serial: u32, p: Vec<u8>, at| {
            assert!(st.on_publisher_data(publisher, Serial::new(serial), at, &p, at));
            st.fan_out(legs, at, &mut |_, _| false);
        };
        // The first publisher: a player that waited reads it from its first packet.
        st.start_session("a", StreamKey(1), Some(publisher));
        send(&mut st, &mut legs, 0, payload("cont", 1), t);
        send(&mut st, &mut legs, 1, payload("key", 2), t);
        assert_eq!(tags(&legs, watcher), [(0, 1), (1, 2)]);

        // Failover to an encoder that goes on mid-GOP: skipped up to its keyframe, numbered on.
        st.end_session("a", StreamKey(1), t);
        st.start_session("a", StreamKey(2), Some(publisher));
        send(&mut st, &mut legs, 50, payload("cont", 3), t);
        send(&mut st, &mut legs, 51, payload("cont", 4), t);
        assert_eq!(tags(&legs, watcher).len(), 2, "nothing before the keyframe");
        send(&mut st, &mut legs, 52, payload("key", 5), t);
        send(&mut st, &mut legs, 53, payload("cont", 6), t);
        assert_eq!(tags(&legs, watcher)[2..], [(2, 5), (3, 6)]);
        assert_eq!(st.views()[0].counters.rejoin_skipped, 2, "counted");

        // An encoder that starts over (tables first) is read from its first packet.
        st.end_session("a", StreamKey(2), t);
        st.start_session("a", StreamKey(3), Some(publisher));
        send(&mut st, &mut legs, 80, payload("pat", 7), t);
        assert_eq!(tags(&legs, watcher)[4..], [(4, 7)]);

        // No keyframe within REJOIN_WAIT: from the session's first packet after all.
        st.end_session("a", StreamKey(3), t);
        st.start_session("a", StreamKey(4), Some(publisher));
        send(&mut st, &mut legs, 90, payload("cont", 8), t);
        send(&mut st, &mut legs, 91, payload("cont", 9), t + S);
        assert_eq!(tags(&legs, watcher).len(), 5);
        send(&mut st, &mut legs, 92, payload("cont", 10), t + REJOIN_WAIT);
        assert_eq!(tags(&legs, watcher)[5..], [(5, 8), (6, 9), (7, 10)]);
    }
}
