//! Legs: the ends of a stream that a protocol owns. A publisher leg feeds a stream's ring; a
//! subscriber leg takes what a cursor reads from it. The relay core knows a leg by its
//! [`LegId`] and hands a subscriber leg packets through [`Sinks`]; which protocol is behind
//! it (SRT today, HTTP or RTMP later) is the shard's business (`crate::legs`), dispatched by
//! [`LegKind`], the pattern of smoltcp's `SocketSet` of a socket enum by handle.

use std::fmt;
use std::time::{Duration, Instant};

use crate::buf::Payload;

/// Which protocol owns a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LegKind {
    /// An SRT connection; the local id is its socket id (unique across shards).
    Srt = 1,
    /// An HTTP-TS response; the local id is the shard's player number (unique across shards).
    HttpTs = 2,
    /// A stream's HLS segmenter on its publisher's shard; the local id is its number there.
    Hls = 3,
    /// A publisher that is not SRT: an RTMP connection or a pulled input; the local id is the
    /// shard's ingest number (unique across shards).
    Ingest = 4,
    /// A `[[record]]` recorder on its publisher's shard; the local id is its number there.
    Record = 5,
    /// A leg of the relay core's own tests.
    Test = 0xFE,
}

/// A leg, process-wide: its kind and the owning protocol's id for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(u64);

impl LegId {
    pub const fn new(kind: LegKind, local: u32) -> LegId {
        LegId(((kind as u64) << 32) | local as u64)
    }

    pub const fn srt(socket_id: u32) -> LegId {
        LegId::new(LegKind::Srt, socket_id)
    }

    pub fn kind(self) -> LegKind {
        match (self.0 >> 32) as u8 {
            1 => LegKind::Srt,
            2 => LegKind::HttpTs,
            3 => LegKind::Hls,
            4 => LegKind::Ingest,
            5 => LegKind::Record,
            _ => LegKind::Test,
        }
    }

    /// The owning protocol's id (an SRT socket id).
    pub const fn local(self) -> u32 {
        self.0 as u32
    }
}

/// `{:#x}` prints the protocol's id, as the logs always named SRT sockets.
impl fmt::LowerHex for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.local(), f)
    }
}

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}:{:#x}", self.kind(), self.local())
    }
}

/// How a subscriber leg reads its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOrder {
    /// Every packet as it arrives, late fills included: the receiver reorders (SRT).
    CutThrough,
    /// In position order; a gap is held this long after a later packet arrived, then skipped
    /// (counted): for receivers that cannot reorder (an HTTP byte stream).
    Ordered { hold: Duration },
}

/// One packet offered to a subscriber leg. The payload is the ring's handle: a leg keeps a
/// clone, never a copy.
#[derive(Debug)]
pub struct Offer<'a> {
    /// The leg's own packet number: `base` (from [`Sink::base`] when the leg started reading
    /// this session) plus the distance from its first position, so one leg sees one unbroken
    /// numbering across publisher sessions and a position the ring never got as a hole.
    pub number: u64,
    /// The ring position (the publisher's numbering).
    pub pos: u64,
    /// The publisher's origin time, shifted for a newcomer's backlog (see `fanout`).
    pub origin: Instant,
    pub payload: &'a Payload,
    /// The stream's current PAT and PMT, for legs that start a byte stream on their own
    /// (HTTP); `None` until the ring has seen both.
    pub psi: Option<StreamHeader<'a>>,
}

/// A stream's program tables as TS packets, and what they announce.
#[derive(Debug, Clone, Copy)]
pub struct StreamHeader<'a> {
    /// PAT packets then PMT packets, whole 188-byte TS packets.
    pub header: &'a [u8],
    /// The PMT names a video elementary stream (players then start at a keyframe).
    pub has_video: bool,
}

/// What a leg did with an [`Offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Queued for its peer.
    Queued,
    /// Nothing to do: it has it already or it is behind what the peer acknowledged.
    AlreadyHad,
    /// It could not take it (full, too far ahead, too large): the leg misses this packet.
    Skipped,
    /// The leg is closing: offer nothing more now.
    Closed,
}

/// A subscriber leg, as the fan-out sees it for one visit.
pub trait Sink {
    /// The number its next packet gets ([`Offer::number`]); asked once per session.
    fn base(&mut self) -> u64;
    fn offer(&mut self, offer: Offer<'_>) -> Taken;
}

/// The shard's subscriber legs, by id: what `ShardStreams::fan_out` feeds.
pub trait Sinks {
    type Sink<'a>: Sink
    where
        Self: 'a;

    /// The leg `leg` for one visit; `None` when it is gone.
    fn sink(&mut self, leg: LegId) -> Option<Self::Sink<'_>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_kind_and_local_id() {
        let a = LegId::srt(0x1234_5678);
        assert_eq!(a.kind(), LegKind::Srt);
        assert_eq!(a.local(), 0x1234_5678);
        assert_eq!(format!("{a:#x}"), "0x12345678");
        let t = LegId::new(LegKind::Test, 0x1234_5678);
        assert_eq!(t.kind(), LegKind::Test);
        assert_ne!(a, t, "same local id, other protocol: another leg");
    }
}
