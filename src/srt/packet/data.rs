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

use super::wire::{self, TOP_BIT, header};
use super::{EmitError, HEADER_LEN, ParseError};
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

// Bit layout of header word 1 (draft §3.1; libsrt `srtcore/packet.h` MSGNO_*).
const PP_SHIFT: u32 = 30;
const O_BIT: u32 = 1 << 29;
const KK_SHIFT: u32 = 27;
const R_BIT: u32 = 1 << 26;

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
    /// O: deliver in order. Keep what the peer sent: in the libsrt 1.5.1 captures
    /// (tests/vectors/libsrt) srt-live-transmit sends 0 and ffmpeg sends 1.
    pub in_order: bool,
    pub key: EncryptionKey,
    /// R: this is a retransmission.
    pub retransmitted: bool,
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    pub dest_socket_id: u32,
    pub payload: &'a [u8],
}

impl PacketPosition {
    const fn from_bits(bits: u32) -> PacketPosition {
        match bits & 0b11 {
            0b00 => PacketPosition::Middle,
            0b01 => PacketPosition::Last,
            0b10 => PacketPosition::First,
            _ => PacketPosition::Only,
        }
    }
}

impl EncryptionKey {
    const fn from_bits(bits: u32) -> Option<EncryptionKey> {
        match bits & 0b11 {
            0b00 => Some(EncryptionKey::None),
            0b01 => Some(EncryptionKey::Even),
            0b10 => Some(EncryptionKey::Odd),
            _ => None,
        }
    }
}

impl<'a> DataPacket<'a> {
    /// Parses a whole datagram whose F bit is 0. An empty payload is allowed.
    pub fn parse(buf: &'a [u8]) -> Result<DataPacket<'a>, ParseError> {
        let ([w0, w1, timestamp, dest_socket_id], payload) = wire::split_header(buf)?;
        if w0 & TOP_BIT != 0 {
            return Err(ParseError::Malformed("F bit set in a data packet"));
        }
        let key = EncryptionKey::from_bits(w1 >> KK_SHIFT)
            .ok_or(ParseError::Malformed("data packet KK = 0b11"))?;
        Ok(DataPacket {
            seq: SeqNo::new(w0),
            position: PacketPosition::from_bits(w1 >> PP_SHIFT),
            in_order: w1 & O_BIT != 0,
            key,
            retransmitted: w1 & R_BIT != 0,
            msg_no: MsgNo::new(w1),
            timestamp: Timestamp::from_micros(timestamp),
            dest_socket_id,
            payload,
        })
    }

    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.wire_len();
        wire::ensure_room(buf, len)?;
        self.emit_header(buf)?;
        buf[HEADER_LEN..len].copy_from_slice(self.payload);
        Ok(len)
    }

    /// Writes only the 16-byte header into `buf[..16]`, for callers that place the payload
    /// themselves (zero copy send paths). Returns `HEADER_LEN`.
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        wire::ensure_room(buf, HEADER_LEN)?;
        // SeqNo and MsgNo are already masked to 31 and 26 bits, so F stays 0 and the flags
        // are not clobbered.
        let w1 = ((self.position as u32) << PP_SHIFT)
            | if self.in_order { O_BIT } else { 0 }
            | ((self.key as u32) << KK_SHIFT)
            | if self.retransmitted { R_BIT } else { 0 }
            | self.msg_no.value();
        wire::put_u32(buf, header::WORD0, self.seq.value());
        wire::put_header_tail(buf, w1, self.timestamp.as_micros(), self.dest_socket_id);
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// seq 0x12345678, PP=First, O=1, KK=Odd, R=1, msg 0x00ABCDE, ts 1000, dest 0x01020304.
    const BYTES: [u8; 19] = [
        0x12,
        0x34,
        0x56,
        0x78, //
        0b1011_0100,
        0x00,
        0xAB,
        0xCD, //
        0x00,
        0x00,
        0x03,
        0xE8, //
        0x01,
        0x02,
        0x03,
        0x04, //
        b'a',
        b'b',
        b'c',
    ];

    #[test]
    fn parses_and_emits_every_flag() {
        let p = DataPacket::parse(&BYTES).unwrap();
        assert_eq!(p.seq, SeqNo::new(0x1234_5678));
        assert_eq!(p.position, PacketPosition::First);
        assert!(p.in_order);
        assert_eq!(p.key, EncryptionKey::Odd);
        assert!(p.retransmitted);
        assert_eq!(p.msg_no, MsgNo::new(0xABCD));
        assert_eq!(p.timestamp, Timestamp::from_micros(1000));
        assert_eq!(p.dest_socket_id, 0x0102_0304);
        assert_eq!(p.payload, b"abc");
        let mut out = [0u8; 32];
        assert_eq!(p.emit(&mut out), Ok(BYTES.len()));
        assert_eq!(&out[..BYTES.len()], &BYTES);
        assert_eq!(
            p.emit(&mut out[..BYTES.len() - 1]),
            Err(EmitError::BufferTooSmall {
                needed: BYTES.len()
            })
        );
        assert_eq!(
            p.emit_header(&mut out[..15]),
            Err(EmitError::BufferTooSmall { needed: 16 })
        );
    }

    #[test]
    fn empty_payload_is_allowed_and_short_is_truncated() {
        let p = DataPacket::parse(&BYTES[..16]).unwrap();
        assert!(p.payload.is_empty());
        for len in 0..16 {
            assert_eq!(DataPacket::parse(&BYTES[..len]), Err(ParseError::Truncated));
        }
    }

    #[test]
    fn rejects_kk_both_and_control_bit() {
        let mut b = BYTES;
        b[4] |= 0b0001_1000;
        assert!(matches!(
            DataPacket::parse(&b),
            Err(ParseError::Malformed(_))
        ));
        let mut b = BYTES;
        b[0] |= 0x80;
        assert!(matches!(
            DataPacket::parse(&b),
            Err(ParseError::Malformed(_))
        ));
    }
}
