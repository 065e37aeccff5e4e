//! The protocols' side of the relay core: each leg kind in its own folder (`srt/`, `http/`,
//! `ingest/` for RTMP and pulled inputs), and the shard's leg table that the fan-out feeds, dispatching
//! by [`LegKind`]. A protocol maps the core's neutral answers (`relay::registry::Refusal`,
//! `access::Denied`) to its own codes here, never in `relay/`.

pub mod hls;
pub mod http;
pub mod ingest;
pub mod srt;

use std::cell::RefMut;

use crate::relay::leg::{LegId, LegKind, Offer, Sink, Sinks, Taken};
use crate::srt::endpoint::Endpoint;
use http::HttpLegs;
use http::ts_player::TsPlayer;

/// One shard's legs of every kind, borrowed for a fan-out.
pub struct ShardLegs<'a> {
    pub srt: &'a mut Endpoint,
    pub http: &'a mut HttpLegs,
    /// `None` when `[playback.hls]` is off.
    pub hls: Option<&'a mut hls::HlsLegs>,
    pub ingest: &'a mut ingest::IngestLegs,
    pub record: &'a mut crate::record::leg::RecordLegs,
}

/// One leg for one visit.
pub enum LegSink<'a> {
    Srt(srt::SrtSink<'a>),
    HttpTs(RefMut<'a, TsPlayer>),
    Hls(&'a mut hls::SegmenterLeg),
    Record(RefMut<'a, crate::record::leg::Recorder>),
}

impl Sink for LegSink<'_> {
    fn base(&mut self) -> u64 {
        match self {
            LegSink::Srt(s) => s.base(),
            LegSink::HttpTs(p) => p.base(),
            LegSink::Hls(h) => h.base(),
            LegSink::Record(r) => r.base(),
        }
    }

    fn offer(&mut self, offer: Offer<'_>) -> Taken {
        match self {
            LegSink::Srt(s) => s.offer(offer),
            LegSink::HttpTs(p) => p.offer(offer),
            LegSink::Hls(h) => h.offer(offer),
            LegSink::Record(r) => r.offer(offer),
        }
    }
}

impl Sinks for ShardLegs<'_> {
    type Sink<'s>
        = LegSink<'s>
    where
        Self: 's;

    fn sink(&mut self, leg: LegId) -> Option<LegSink<'_>> {
        match leg.kind() {
            LegKind::Srt => srt::sink(self.srt, leg).map(LegSink::Srt),
            // The body borrows a player only inside its poll, never across the fan-out.
            LegKind::HttpTs => self
                .http
                .get(leg)
                .and_then(|p| p.try_borrow_mut().ok())
                .map(LegSink::HttpTs),
            LegKind::Hls => self.hls.as_mut()?.sink(leg).map(LegSink::Hls),
            LegKind::Record => self.record.sink(leg).map(LegSink::Record),
            // Publishers only: nothing is offered to them.
            LegKind::Ingest => None,
            // Test legs live in the relay core's tests, never on a shard.
            LegKind::Test => None,
        }
    }
}

impl ShardLegs<'_> {
    /// Ends a leg (SRT: SHUTDOWN to the peer; HTTP: the response ends); its departure follows
    /// as the protocol's event.
    pub fn close(&mut self, leg: LegId) {
        match leg.kind() {
            LegKind::Srt => self.srt.close(leg.local()),
            LegKind::HttpTs => self.http.close(leg),
            // Its task ends the session (RTMP: the connection closes; input: it stops).
            LegKind::Ingest => self.ingest.close(leg),
            // A segmenter ends with its publisher's session (`HlsLegs::end`).
            // A recorder ends with its publisher's session or its disk.
            LegKind::Hls | LegKind::Record | LegKind::Test => {}
        }
    }

    /// Whether the leg is still here.
    pub fn contains(&self, leg: LegId) -> bool {
        match leg.kind() {
            LegKind::Srt => self.srt.connection(leg.local()).is_some(),
            LegKind::HttpTs => self.http.get(leg).is_some(),
            LegKind::Hls => self.hls.as_ref().is_some_and(|h| h.contains(leg)),
            LegKind::Ingest => self.ingest.get(leg).is_some(),
            LegKind::Record => self.record.contains(leg),
            LegKind::Test => false,
        }
    }
}
