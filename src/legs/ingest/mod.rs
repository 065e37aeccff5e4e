//! Publishers that are not SRT, as legs: an RTMP connection (`src/rtmp`) or a pulled input
//! (`src/ingest`). Their bytes become whole TS payloads before they reach here (the remux and
//! `ingest::TsIngest`); the table gives each its ring serials and the close request a
//! takeover or an operator's close sends it. The task that owns the connection or the input
//! holds the leg by `Rc`, reads the request after each wake-up (at least every
//! [`CLOSE_POLL`]), and ends the session itself, so the table never closes a socket.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::idhash::IdMap;
use crate::relay::handoff::StreamKey;
use crate::relay::leg::{LegId, LegKind};
use crate::relay::registry::PublisherActivity;
use crate::relay::ring::Serial;

/// Why an ingest publisher was refused: neutral answers a protocol maps to its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Denied(crate::access::Denied),
    Registry(crate::relay::registry::Refusal),
}

/// Which kind of ingest publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Rtmp,
    Input,
    /// A stream's main/backup switch (`src/backup`).
    Switch,
    /// An edge's pull of a stream another cluster node serves (`src/cluster`).
    Edge,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Rtmp => "rtmp",
            Protocol::Input => "input",
            Protocol::Switch => "switch",
            Protocol::Edge => "edge",
        }
    }
}

/// One ingest publisher's session on its shard.
#[derive(Debug)]
pub struct IngestLeg {
    pub leg: LegId,
    pub name: String,
    pub key: StreamKey,
    pub protocol: Protocol,
    /// The peer (RTMP) or the current upstream, secrets masked.
    pub source: String,
    pub since: Instant,
    /// The ring position the next payload gets (31-bit like SRT's, wrapping).
    next: u32,
    pub payloads: u64,
    pub bytes: u64,
    activity: Arc<PublisherActivity>,
    close_requested: bool,
}

/// How long an ingest task may go without looking at its close request: a takeover or an
/// operator's close ends the old publisher within this.
pub const CLOSE_POLL: Duration = Duration::from_millis(200);

pub type IngestRef = Rc<RefCell<IngestLeg>>;

impl IngestLeg {
    /// The serial for the next payload, counted in.
    pub fn next_serial(&mut self, len: usize, now: Instant) -> Serial {
        let s = Serial::new(self.next);
        self.next = (self.next + 1) & 0x7FFF_FFFF;
        self.payloads += 1;
        self.bytes += len as u64;
        self.activity.on_data(now);
        s
    }

    /// Whether the relay asked this publisher to end (taken over, closed by the operator).
    pub fn close_requested(&self) -> bool {
        self.close_requested
    }
}

/// A shard's ingest publishers.
pub struct IngestLegs {
    legs: IdMap<u32, IngestRef>,
    /// Local ids are `k * shards + shard`: unique across shards.
    next: u32,
    step: u32,
}

impl IngestLegs {
    pub fn new(shard: usize, shards: usize) -> IngestLegs {
        IngestLegs {
            legs: IdMap::default(),
            next: shard as u32,
            step: shards.max(1) as u32,
        }
    }

    /// A new publisher's leg, in the table.
    pub fn insert(
        &mut self,
        name: &str,
        key: StreamKey,
        protocol: Protocol,
        source: String,
        activity: Arc<PublisherActivity>,
        now: Instant,
    ) -> IngestRef {
        let leg = LegId::new(LegKind::Ingest, self.next);
        self.next = self.next.wrapping_add(self.step);
        let r = Rc::new(RefCell::new(IngestLeg {
            leg,
            name: name.to_string(),
            key,
            protocol,
            source,
            since: now,
            next: 0,
            payloads: 0,
            bytes: 0,
            activity,
            close_requested: false,
        }));
        self.legs.insert(leg.local(), r.clone());
        r
    }

    pub fn get(&self, leg: LegId) -> Option<&IngestRef> {
        self.legs.get(&leg.local())
    }

    pub fn remove(&mut self, leg: LegId) -> Option<IngestRef> {
        self.legs.remove(&leg.local())
    }

    /// Asks the publisher's task to end its session.
    pub fn close(&mut self, leg: LegId) {
        if let Some(l) = self.legs.get(&leg.local()) {
            // The owning task borrows its leg only inside a borrow of the shard's state, which a
            // close (called from the shard) excludes.
            if let Ok(mut l) = l.try_borrow_mut() {
                l.close_requested = true;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.legs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.legs.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IngestRef> {
        self.legs.values()
    }
}

/// Payloads made by one wake-up of an ingest task (the remux and `ingest::TsIngest` write
/// here), handed to the shard in one borrow: one copy into the batch, one into the ring.
#[derive(Debug, Default)]
pub struct PayloadBatch {
    data: Vec<u8>,
    items: Vec<(usize, usize, Instant)>,
}

impl PayloadBatch {
    pub fn push(&mut self, payload: &[u8], origin: Instant) {
        let start = self.data.len();
        self.data.extend_from_slice(payload);
        self.items.push((start, payload.len(), origin));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Instant)> {
        self.items
            .iter()
            .map(|&(s, n, t)| (&self.data[s..s + n], t))
    }

    pub fn clear(&mut self) {
        self.data.clear();
        self.items.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// The shard as an ingest task sees it (`shard::engine` implements it over its state), so the
/// RTMP listener and the input runners do not reach into the shard's internals.
pub trait IngestHost {
    /// Admits a publisher (see `ShardState::open_ingest`).
    fn open(&self, ask: IngestAsk<'_>) -> Result<IngestRef, Refused>;
    /// The `[webhooks]` admission callback's verdict on `ask` (an unconfigured one allows),
    /// or `None` while it runs: ask again a little later.
    fn authorize(&self, ask: crate::webhooks::Ask) -> Option<crate::webhooks::Verdict>;
    /// Stores the batch's payloads in the stream's ring and fans them out.
    fn publish(&self, leg: &IngestRef, batch: &PayloadBatch);
    /// Ends the session.
    fn close(&self, leg: &IngestRef, why: &str);
    fn now(&self) -> Instant;
    /// Players of `name`, all shards (SRT and HTTP-TS; HLS clients are not counted).
    fn players(&self, name: &str) -> usize;
    /// Calls an SRT server to pull a stream (an `srt://` input) from the shard's endpoint.
    fn srt_call(&self, call: SrtCall) -> Result<u32, String>;
    /// What call `id` delivered since the last look (appended to `out`) and its state.
    fn srt_pull(&self, id: u32, out: &mut Vec<u8>) -> PullState;
    /// Ends call `id` (SHUTDOWN to the peer).
    fn srt_hangup(&self, id: u32);
    /// Sends `payload` (at most one SRT message) on call `id` (a push output).
    fn srt_push(&self, id: u32, payload: &[u8]) -> PushOutcome;
    /// Reads stream `name` from its last keyframe as a byte stream (a main/backup switch
    /// reading a feed): trusted, no access check; `None` if the registry refuses.
    fn open_feed(&self, name: &str) -> Option<crate::playback::body::TsBody>;
    /// How long `name`'s publisher has sent nothing; `None` without one.
    fn feed_silence(&self, name: &str) -> Option<Duration>;
    /// `streams.backup_switch_ms`.
    fn backup_switch(&self) -> Duration;
}

/// A publisher asking [`IngestHost::open`] for a stream.
#[derive(Debug, Clone)]
pub struct IngestAsk<'a> {
    pub name: &'a str,
    /// An `[access]` session (RTMP `cam1?s=...`).
    pub session: Option<&'a str>,
    /// Whether `[access]` applies (RTMP); configured inputs and switches are trusted.
    pub check_access: bool,
    pub protocol: Protocol,
    /// The peer's address or the upstream (secrets masked), for logs and `/v1/streams`.
    pub source: String,
    /// An encoder's role under `streams.backup_publisher`; `None` for a publisher that never
    /// feeds a switch (inputs, the switch itself).
    pub role: Option<crate::backup::Role>,
}

/// An `srt://` input's call: caller mode, receiving.
#[derive(Debug, Clone)]
pub struct SrtCall {
    pub remote: std::net::SocketAddr,
    pub stream_id: Option<String>,
    pub passphrase: Option<crate::srt::crypto::Passphrase>,
    pub pbkeylen: Option<crate::srt::crypto::KeyLen>,
    /// `None`: `srt.latency.default`.
    pub latency: Option<Duration>,
    pub timeout: Duration,
}

/// What [`IngestHost::srt_push`] did with a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOutcome {
    pub sent: u64,
    /// No room in the send buffer (or larger than the connection takes): dropped.
    pub dropped: u64,
    /// The call is gone.
    pub closed: bool,
}

/// Where an SRT call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullState {
    Connecting,
    /// Connected; the next packet is due for delivery then (TSBPD), if one is buffered.
    Connected {
        next: Option<Instant>,
    },
    Failed(String),
    Closed(String),
}
