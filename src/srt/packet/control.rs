//! Control packets (draft-sharabayko-srt §3.2) other than the handshake's own body.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |1|         Control Type        |            Subtype            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Type-specific Information                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Timestamp                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Destination Socket ID                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Control Information Field                   |
//! ```

use super::wire::{self, TOP_BIT, header};
use super::{EmitError, HEADER_LEN, Handshake, LossList, ParseError};
use crate::srt::seq::{SeqNo, Timestamp};

/// CIF of the packets that carry no information. libsrt sends 4 zero bytes ("writev does not
/// allow" an empty vector, `CPacket::pack`), the captures confirm 20-byte keepalives,
/// shutdowns and ACKACKs.
const EMPTY_CIF_LEN: usize = 4;
/// ACK CIF sizes (libsrt `srtcore/core.h` ACKD_TOTAL_SIZE_*): light ACK is only the last
/// acknowledged sequence number; small adds RTT, RTT variance and buffer; UDT's full ACK adds
/// receive speed and bandwidth (24 bytes); SRT 1.0.3+ adds the receive rate (28 bytes, what
/// libsrt 1.5.1 sends, see tests/vectors/libsrt/ack_full.hex). SRT 1.0.2 sent a 32-byte
/// variant whose extra word we ignore.
const ACK_LIGHT_LEN: usize = 4;
const ACK_SMALL_LEN: usize = 16;
const ACK_UDT_FULL_LEN: usize = 24;
const ACK_FULL_LEN: usize = 28;
/// DROPREQ CIF: first and last sequence number (draft §3.2.9).
const DROPREQ_LEN: usize = 8;

/// Control type values (draft §3.2, Table 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlType {
    Handshake = 0x0000,
    KeepAlive = 0x0001,
    Ack = 0x0002,
    Nak = 0x0003,
    CongestionWarning = 0x0004,
    Shutdown = 0x0005,
    AckAck = 0x0006,
    DropRequest = 0x0007,
    PeerError = 0x0008,
    UserDefined = 0x7FFF,
}

/// A control packet: header fields plus a typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket<'a> {
    pub timestamp: Timestamp,
    pub dest_socket_id: u32,
    pub body: Control<'a>,
}

/// Typed control bodies. KEEPALIVE, SHUTDOWN and CONGESTION WARNING carry no information; they
/// are emitted with 4 zero bytes of CIF as libsrt does, and parsed whatever their CIF length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control<'a> {
    /// Handshakes are rare, so this one owns its data.
    Handshake(Handshake),
    KeepAlive,
    Ack(Ack),
    /// The loss list borrows the datagram.
    Nak(LossList<'a>),
    CongestionWarning,
    Shutdown,
    /// Type-specific information: the number of the ACK being acknowledged.
    AckAck {
        ack_no: u32,
    },
    DropRequest(DropRequest),
    /// Type-specific information: the error code (libsrt sends 4000 for a file-system error).
    PeerError {
        code: u32,
    },
    /// 0x7FFF with a subtype; libsrt sends KM refresh as subtype 3 (KMREQ) and 4 (KMRSP) here.
    /// `data` is the raw CIF: libsrt converts it word by word to big-endian (`toNL`) except
    /// for KM messages, which it pre-swaps so they arrive in their own byte order.
    UserDefined {
        subtype: u16,
        type_specific: u32,
        data: &'a [u8],
    },
}

/// ACK (draft §3.2.4). Type-specific information is the ACK number (0 in a light ACK).
///
/// CIF length decides the kind: 4 bytes light, 16 bytes small, 28 bytes full (a 24-byte full
/// ACK from old peers parses with `recv_rate_bytes_per_s = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub ack_no: u32,
    /// Last acknowledged packet sequence number: the receiver has everything before it.
    pub last_ack: SeqNo,
    pub info: AckInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckInfo {
    Light,
    Small {
        rtt_us: u32,
        rtt_var_us: u32,
        avail_buf_pkts: u32,
    },
    Full {
        rtt_us: u32,
        rtt_var_us: u32,
        avail_buf_pkts: u32,
        pkt_recv_rate_pps: u32,
        est_link_capacity_pps: u32,
        recv_rate_bytes_per_s: u32,
    },
}

/// DROPREQ (draft §3.2.9): the sender gave up on a message; the receiver stops asking for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropRequest {
    /// Type-specific information: message number (0 when unknown).
    pub msg_no: u32,
    pub first: SeqNo,
    pub last: SeqNo,
}

impl ControlType {
    /// Decodes the 15-bit control type field.
    pub const fn from_wire(v: u16) -> Option<ControlType> {
        Some(match v {
            0x0000 => ControlType::Handshake,
            0x0001 => ControlType::KeepAlive,
            0x0002 => ControlType::Ack,
            0x0003 => ControlType::Nak,
            0x0004 => ControlType::CongestionWarning,
            0x0005 => ControlType::Shutdown,
            0x0006 => ControlType::AckAck,
            0x0007 => ControlType::DropRequest,
            0x0008 => ControlType::PeerError,
            0x7FFF => ControlType::UserDefined,
            _ => return None,
        })
    }
}

impl Ack {
    fn parse(ack_no: u32, cif: &[u8]) -> Result<Ack, ParseError> {
        let word = |i: usize| wire::be_u32(cif, 4 * i);
        let info = match cif.len() {
            0..ACK_LIGHT_LEN => return Err(ParseError::Truncated),
            ACK_LIGHT_LEN => AckInfo::Light,
            ACK_SMALL_LEN => AckInfo::Small {
                rtt_us: word(1)?,
                rtt_var_us: word(2)?,
                avail_buf_pkts: word(3)?,
            },
            ACK_UDT_FULL_LEN.. => AckInfo::Full {
                rtt_us: word(1)?,
                rtt_var_us: word(2)?,
                avail_buf_pkts: word(3)?,
                pkt_recv_rate_pps: word(4)?,
                est_link_capacity_pps: word(5)?,
                // Absent from UDT-era 24-byte full ACKs.
                recv_rate_bytes_per_s: if cif.len() >= ACK_FULL_LEN {
                    word(6)?
                } else {
                    0
                },
            },
            _ => return Err(ParseError::Malformed("ACK CIF is not 4, 16 or 24+ bytes")),
        };
        Ok(Ack {
            ack_no,
            last_ack: SeqNo::new(word(0)?),
            info,
        })
    }

    fn cif_len(&self) -> usize {
        match self.info {
            AckInfo::Light => ACK_LIGHT_LEN,
            AckInfo::Small { .. } => ACK_SMALL_LEN,
            AckInfo::Full { .. } => ACK_FULL_LEN,
        }
    }

    fn emit_cif(&self, cif: &mut [u8]) {
        wire::put_u32(cif, 0, self.last_ack.value());
        let words: &[u32] = match self.info {
            AckInfo::Light => &[],
            AckInfo::Small {
                rtt_us,
                rtt_var_us,
                avail_buf_pkts,
            } => &[rtt_us, rtt_var_us, avail_buf_pkts],
            AckInfo::Full {
                rtt_us,
                rtt_var_us,
                avail_buf_pkts,
                pkt_recv_rate_pps,
                est_link_capacity_pps,
                recv_rate_bytes_per_s,
            } => &[
                rtt_us,
                rtt_var_us,
                avail_buf_pkts,
                pkt_recv_rate_pps,
                est_link_capacity_pps,
                recv_rate_bytes_per_s,
            ],
        };
        for (i, w) in words.iter().enumerate() {
            wire::put_u32(cif, 4 * (i + 1), *w);
        }
    }
}

impl<'a> ControlPacket<'a> {
    /// Parses a whole datagram whose F bit is 1.
    pub fn parse(buf: &'a [u8]) -> Result<ControlPacket<'a>, ParseError> {
        let ([w0, info, timestamp, dest_socket_id], cif) = wire::split_header(buf)?;
        if w0 & TOP_BIT == 0 {
            return Err(ParseError::Malformed("F bit clear in a control packet"));
        }
        let raw_type = ((w0 >> 16) & 0x7FFF) as u16;
        let subtype = w0 as u16;
        let ty =
            ControlType::from_wire(raw_type).ok_or(ParseError::UnknownControlType(raw_type))?;
        let body = match ty {
            ControlType::Handshake => Control::Handshake(Handshake::parse(cif)?),
            ControlType::KeepAlive => Control::KeepAlive,
            ControlType::Ack => Control::Ack(Ack::parse(info, cif)?),
            ControlType::Nak => Control::Nak(LossList::parse(cif)?),
            ControlType::CongestionWarning => Control::CongestionWarning,
            ControlType::Shutdown => Control::Shutdown,
            ControlType::AckAck => Control::AckAck { ack_no: info },
            ControlType::DropRequest => Control::DropRequest(DropRequest {
                msg_no: info,
                first: SeqNo::new(wire::be_u32(cif, 0)?),
                last: SeqNo::new(wire::be_u32(cif, 4)?),
            }),
            ControlType::PeerError => Control::PeerError { code: info },
            ControlType::UserDefined => Control::UserDefined {
                subtype,
                type_specific: info,
                data: cif,
            },
        };
        Ok(ControlPacket {
            timestamp: Timestamp::from_micros(timestamp),
            dest_socket_id,
            body,
        })
    }

    pub fn control_type(&self) -> ControlType {
        match self.body {
            Control::Handshake(_) => ControlType::Handshake,
            Control::KeepAlive => ControlType::KeepAlive,
            Control::Ack(_) => ControlType::Ack,
            Control::Nak(_) => ControlType::Nak,
            Control::CongestionWarning => ControlType::CongestionWarning,
            Control::Shutdown => ControlType::Shutdown,
            Control::AckAck { .. } => ControlType::AckAck,
            Control::DropRequest(_) => ControlType::DropRequest,
            Control::PeerError { .. } => ControlType::PeerError,
            Control::UserDefined { .. } => ControlType::UserDefined,
        }
    }

    pub fn wire_len(&self) -> usize {
        HEADER_LEN + self.cif_len()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if let Control::Nak(list) = &self.body
            && list.as_bytes().is_empty()
        {
            return Err(EmitError::FieldOverflow("NAK with an empty loss list"));
        }
        let len = self.wire_len();
        wire::ensure_room(buf, len)?;
        let (subtype, info) = self.subtype_and_info();
        let w0 = TOP_BIT | (u32::from(self.control_type() as u16) << 16) | u32::from(subtype);
        wire::put_u32(buf, header::WORD0, w0);
        wire::put_header_tail(buf, info, self.timestamp.as_micros(), self.dest_socket_id);
        let cif = &mut buf[HEADER_LEN..len];
        match &self.body {
            Control::Handshake(hs) => {
                hs.emit(cif)?;
            }
            Control::KeepAlive
            | Control::CongestionWarning
            | Control::Shutdown
            | Control::AckAck { .. }
            | Control::PeerError { .. } => cif.fill(0),
            Control::Ack(ack) => ack.emit_cif(cif),
            Control::Nak(list) => cif.copy_from_slice(list.as_bytes()),
            Control::DropRequest(d) => {
                wire::put_u32(cif, 0, d.first.value());
                wire::put_u32(cif, 4, d.last.value());
            }
            Control::UserDefined { data, .. } => cif.copy_from_slice(data),
        }
        Ok(len)
    }

    fn cif_len(&self) -> usize {
        match &self.body {
            Control::Handshake(hs) => hs.wire_len(),
            Control::KeepAlive
            | Control::CongestionWarning
            | Control::Shutdown
            | Control::AckAck { .. }
            | Control::PeerError { .. } => EMPTY_CIF_LEN,
            Control::Ack(ack) => ack.cif_len(),
            Control::Nak(list) => list.as_bytes().len(),
            Control::DropRequest(_) => DROPREQ_LEN,
            Control::UserDefined { data, .. } => data.len(),
        }
    }

    /// Subtype (header bits 15..0) and type-specific information (header word 1).
    fn subtype_and_info(&self) -> (u16, u32) {
        match self.body {
            Control::Ack(ack) => (0, ack.ack_no),
            Control::AckAck { ack_no } => (0, ack_no),
            Control::DropRequest(d) => (0, d.msg_no),
            Control::PeerError { code } => (0, code),
            Control::UserDefined {
                subtype,
                type_specific,
                ..
            } => (subtype, type_specific),
            _ => (0, 0),
        }
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
