//! SRT wire format (draft-sharabayko-srt §3): checked views over received bytes and typed
//! representations that emit back byte for byte.
//!
//! Owns: parsing and emitting every packet type. Must not: allocate on the data path (data,
//! ACK, NAK, ACKACK parse to borrowed views), panic on any input, or know about connection state.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |F|        (Field meaning depends on the packet type)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          (Field meaning depends on the packet type)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Destination Socket ID                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

mod control;
mod data;
mod handshake;
mod key_material;
mod loss_list;
mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod vectors;

pub use control::{Ack, AckInfo, Control, ControlPacket, ControlType, DropRequest};
pub use data::{DataPacket, EncryptionKey, PacketPosition};
pub use handshake::{
    HS_MAGIC, HS_VERSION_4, HS_VERSION_5, Handshake, HandshakeType, HsExt, HsExtension, HsFlags,
    MAX_STREAMID_LEN, ext_flags, ext_type, peer_ip_from_wire, peer_ip_to_wire,
};
pub use key_material::{KeyMaterial, KmResponse};
pub use loss_list::{LossList, LossListBuilder};

/// Length of the common packet header (draft §3).
pub const HEADER_LEN: usize = 16;

/// A typed packet: data or control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Data(DataPacket<'a>),
    Control(ControlPacket<'a>),
}

/// Why bytes did not parse. Small and `Copy`: it sits on the hot path and feeds counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("packet shorter than its header or declared fields")]
    Truncated,
    #[error("unknown control type {0:#06x}")]
    UnknownControlType(u16),
    #[error("malformed field: {0}")]
    Malformed(&'static str),
}

/// Why a packet could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall { needed: usize },
    #[error("field does not fit its wire width: {0}")]
    FieldOverflow(&'static str),
}

impl<'a> Packet<'a> {
    /// Parses a whole datagram; the F bit (draft §3) picks data or control.
    pub fn parse(buf: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        match peek_is_control(buf) {
            None => Err(ParseError::Truncated),
            Some(true) => ControlPacket::parse(buf).map(Packet::Control),
            Some(false) => DataPacket::parse(buf).map(Packet::Data),
        }
    }

    /// Bytes `emit` writes.
    pub fn wire_len(&self) -> usize {
        match self {
            Packet::Data(p) => p.wire_len(),
            Packet::Control(p) => p.wire_len(),
        }
    }

    /// Writes the packet at the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        match self {
            Packet::Data(p) => p.emit(buf),
            Packet::Control(p) => p.emit(buf),
        }
    }

    pub fn dest_socket_id(&self) -> u32 {
        match self {
            Packet::Data(p) => p.dest_socket_id,
            Packet::Control(p) => p.dest_socket_id,
        }
    }

    pub fn timestamp(&self) -> crate::srt::seq::Timestamp {
        match self {
            Packet::Data(p) => p.timestamp,
            Packet::Control(p) => p.timestamp,
        }
    }
}

/// Reads the destination socket id of a datagram without parsing the rest, for demultiplexing.
pub fn peek_dest_socket_id(buf: &[u8]) -> Option<u32> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    wire::be_u32(buf, wire::header::DEST_SOCKET_ID).ok()
}

/// Whether the datagram is a control packet (F bit set); `None` when shorter than a header.
pub fn peek_is_control(buf: &[u8]) -> Option<bool> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    buf.first().map(|b| b & 0x80 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_datagrams_are_truncated() {
        for len in 0..HEADER_LEN {
            let buf = vec![0x80; len];
            assert_eq!(Packet::parse(&buf), Err(ParseError::Truncated), "len {len}");
            assert_eq!(peek_dest_socket_id(&buf), None);
            assert_eq!(peek_is_control(&buf), None);
        }
    }

    #[test]
    fn peeks_read_the_header() {
        let mut buf = [0u8; 20];
        buf[0] = 0x80;
        buf[12..16].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
        assert_eq!(peek_is_control(&buf), Some(true));
        assert_eq!(peek_dest_socket_id(&buf), Some(0xDEAD_BEEF));
        buf[0] = 0x7F;
        assert_eq!(peek_is_control(&buf), Some(false));
    }
}
