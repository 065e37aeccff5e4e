//! SRT as a leg kind: an SRT connection is a publisher leg (cut-through into the ring) or a
//! subscriber leg (`send_at` at its own sequence numbers). Owns the mapping between the
//! relay core's neutral types and SRT's: Stream ID resolution (`resolve`), admission at the
//! handshake with the reject codes (`admission`), per-leg passphrases (`encryption`), and the
//! subscriber sink (`sink`).

pub mod admission;
pub mod encryption;
pub mod resolve;
mod sink;

#[cfg(test)]
mod payload_tests;

pub use sink::{SrtSink, sink};

use crate::relay::leg::LegId;
use crate::relay::ring::Serial;
use crate::srt::endpoint::ConnId;
use crate::srt::seq::SeqNo;

/// The leg of an SRT connection.
pub const fn leg(conn: ConnId) -> LegId {
    LegId::srt(conn)
}

/// The ring's serial of an SRT sequence number (both are 31 bits).
pub const fn serial(seq: SeqNo) -> Serial {
    Serial::new(seq.value())
}
