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

use super::{EmitError, Handshake, LossList, ParseError};
use crate::srt::seq::{SeqNo, Timestamp};

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

impl<'a> ControlPacket<'a> {
    /// Parses a whole datagram whose F bit is 1.
    pub fn parse(buf: &'a [u8]) -> Result<ControlPacket<'a>, ParseError> {
        todo!()
    }

    pub fn control_type(&self) -> ControlType {
        todo!()
    }

    pub fn wire_len(&self) -> usize {
        todo!()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }
}
