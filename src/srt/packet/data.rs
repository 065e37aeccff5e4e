//! Data packets (draft-sharabayko-srt §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |0|                    Packet Sequence Number                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |P P|O|K K|R|                   Message Number                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Destination Socket ID                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                              Data                             +
//! ```

use super::{EmitError, ParseError};
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

/// PP: where the packet sits in its message. Live mode sends single-packet messages (`Only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketPosition {
    Middle = 0b00,
    Last = 0b01,
    First = 0b10,
    Only = 0b11,
}

/// KK: which key encrypted the payload (draft §3.1). `Both` (0b11) is only valid in key
/// material, so a data packet carrying it fails to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionKey {
    None = 0b00,
    Even = 0b01,
    Odd = 0b10,
}

/// A data packet; `payload` borrows the received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPacket<'a> {
    pub seq: SeqNo,
    pub position: PacketPosition,
    /// O: deliver in order (libsrt sets it in live mode? see libsrt; keep what the peer sent).
    pub in_order: bool,
    pub key: EncryptionKey,
    /// R: this is a retransmission.
    pub retransmitted: bool,
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    pub dest_socket_id: u32,
    pub payload: &'a [u8],
}

impl<'a> DataPacket<'a> {
    /// Parses a whole datagram whose F bit is 0. An empty payload is allowed.
    pub fn parse(buf: &'a [u8]) -> Result<DataPacket<'a>, ParseError> {
        todo!()
    }

    pub fn wire_len(&self) -> usize {
        todo!()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }

    /// Writes only the 16-byte header into `buf[..16]`, for callers that place the payload
    /// themselves (zero copy send paths). Returns `HEADER_LEN`.
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }
}
