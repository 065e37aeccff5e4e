//! The handshake control packet's body and its extensions (draft-sharabayko-srt §3.2.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Version                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Encryption Field       |        Extension Field        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |0|               Initial Packet Sequence Number                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Maximum Transmission Unit Size                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Maximum Flow Window Size                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Handshake Type                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         SRT Socket ID                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           SYN Cookie                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Peer IP Address (128 bits)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Extension Type        |        Extension Length       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Extension Contents                      |
//! ```

use super::{EmitError, KeyMaterial, KmResponse, ParseError};
use crate::srt::seq::SeqNo;

/// HSv5 induction response magic in the extension field (draft §4.3.1.1).
pub const HS_MAGIC: u16 = 0x4A17;
pub const HS_VERSION_4: u32 = 4;
pub const HS_VERSION_5: u32 = 5;
/// Stream IDs longer than this are malformed (draft §3.2.1.3).
pub const MAX_STREAMID_LEN: usize = 512;

/// Extension types (draft §3.2.1, Table 5).
pub mod ext_type {
    pub const HSREQ: u16 = 1;
    pub const HSRSP: u16 = 2;
    pub const KMREQ: u16 = 3;
    pub const KMRSP: u16 = 4;
    pub const SID: u16 = 5;
    pub const CONGESTION: u16 = 6;
    pub const FILTER: u16 = 7;
    pub const GROUP: u16 = 8;
}

/// Bits of the header's extension field in a conclusion (draft §3.2.1, Table 4).
pub mod ext_flags {
    pub const HSREQ: u16 = 0x1;
    pub const KMREQ: u16 = 0x2;
    pub const CONFIG: u16 = 0x4;
}

/// SRT flags in HSREQ/HSRSP (draft §3.2.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HsFlags(pub u32);

impl HsFlags {
    pub const TSBPDSND: u32 = 0x01;
    pub const TSBPDRCV: u32 = 0x02;
    pub const CRYPT: u32 = 0x04;
    pub const TLPKTDROP: u32 = 0x08;
    pub const PERIODICNAK: u32 = 0x10;
    pub const REXMITFLG: u32 = 0x20;
    pub const STREAM: u32 = 0x40;
    pub const PACKET_FILTER: u32 = 0x80;

    pub const fn contains(self, bit: u32) -> bool {
        self.0 & bit == bit
    }
}

/// Handshake type field (draft §3.2.1). Values from 1000 up are rejections: the wire value is
/// 1000 + reason, where reason is 0..=17 for libsrt's `SRT_REJ_*`, 1000 + HTTP status for
/// server-defined codes (e.g. 1403), 2000+ for user-defined ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeType {
    Done,
    Agreement,
    Conclusion,
    WaveAHand,
    Induction,
    /// The rejection reason (wire value minus 1000).
    Rejection(u32),
}

/// HSREQ/HSRSP body (draft §3.2.1.1): SRT version (e.g. 0x010501 for 1.5.1), flags, and the
/// TSBPD delays in milliseconds (receiver's in the upper 16 bits, sender's in the lower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HsExt {
    pub srt_version: u32,
    pub flags: HsFlags,
    pub recv_tsbpd_delay_ms: u16,
    pub send_tsbpd_delay_ms: u16,
}

/// One extension block, in wire order. Stream ID bytes are stored in reading order (the wire
/// carries them as little-endian 32-bit words), without the zero padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsExtension {
    HsReq(HsExt),
    HsRsp(HsExt),
    KmReq(KeyMaterial),
    KmRsp(KmResponse),
    StreamId(Vec<u8>),
    /// Congestion controller name ("live" or "file"), same word order as the stream ID.
    Congestion(Vec<u8>),
    Filter(Vec<u8>),
    Group(Vec<u8>),
    /// Unknown extension types are kept as raw contents so they round-trip (and are skipped).
    Unknown {
        ext_type: u16,
        data: Vec<u8>,
    },
}

/// The handshake CIF. `peer_ip` is kept as the 16 wire bytes; IPv4 peers put their address in
/// the first 4 (libsrt writes it as one host-order word, so check vectors before interpreting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub version: u32,
    pub encryption_field: u16,
    pub extension_field: u16,
    pub initial_seq: SeqNo,
    pub mtu: u32,
    pub flow_window: u32,
    pub kind: HandshakeType,
    pub socket_id: u32,
    pub syn_cookie: u32,
    pub peer_ip: [u8; 16],
    pub extensions: Vec<HsExtension>,
}

impl Handshake {
    /// Length of the CIF without extensions.
    pub const BASE_LEN: usize = 48;

    /// Parses the CIF (the bytes after the 16-byte control header).
    pub fn parse(cif: &[u8]) -> Result<Handshake, ParseError> {
        todo!()
    }

    pub fn wire_len(&self) -> usize {
        todo!()
    }

    /// Writes the CIF into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }

    pub fn hs_req(&self) -> Option<&HsExt> {
        todo!()
    }

    pub fn hs_rsp(&self) -> Option<&HsExt> {
        todo!()
    }

    pub fn stream_id(&self) -> Option<&[u8]> {
        todo!()
    }
}
