//! A subscriber leg over SRT: the fan-out's offers become `Connection::send_at` at the
//! subscriber's own sequence numbers, keeping the ring's payload handle (no copy).

use crate::relay::leg::{LegId, Offer, Sink, Taken};
use crate::srt::connection::{Connection, PushAtError, SendError};
use crate::srt::endpoint::Endpoint;
use crate::srt::seq::SeqNo;

pub struct SrtSink<'a> {
    conn: &'a mut Connection,
}

/// The SRT connection behind `leg`, if it is still there.
pub fn sink<'a>(endpoint: &'a mut Endpoint, leg: LegId) -> Option<SrtSink<'a>> {
    endpoint
        .connection_mut(leg.local())
        .map(|conn| SrtSink { conn })
}

impl Sink for SrtSink<'_> {
    /// Its next sequence number: what the subscriber has seen continues unbroken.
    fn base(&mut self) -> u64 {
        u64::from(self.conn.next_send_seq().value())
    }

    fn offer(&mut self, o: Offer<'_>) -> Taken {
        // Numbers wrap at 31 bits like sequence numbers (2^32 is a multiple of 2^31).
        let seq = SeqNo::new(o.number as u32);
        match self.conn.send_at(seq, o.origin, o.payload.clone()) {
            Ok(()) => Taken::Queued,
            // Already acknowledged, dropped or held: nothing to do.
            Err(SendError::Position(PushAtError::Stale | PushAtError::Duplicate)) => {
                Taken::AlreadyHad
            }
            // The subscriber is a whole send buffer behind its acknowledgements, or the
            // payload does not fit its MSS: it misses this packet, nobody else does.
            Err(SendError::Position(PushAtError::TooFarAhead))
            | Err(SendError::BufferFull)
            | Err(SendError::TooLarge { .. }) => Taken::Skipped,
            Err(SendError::Closed) => Taken::Closed,
        }
    }
}
