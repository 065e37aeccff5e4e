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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::{self, TOP_BIT};
use super::{EmitError, KeyMaterial, KmResponse, ParseError};
use crate::srt::seq::SeqNo;

/// Byte offsets in the handshake CIF (draft §3.2.1; libsrt `CHandShake::store_to`).
mod field {
    pub const VERSION: usize = 0;
    /// Encryption field (upper 16 bits) and extension field (lower 16 bits).
    pub const ENC_EXT: usize = 4;
    pub const INITIAL_SEQ: usize = 8;
    pub const MTU: usize = 12;
    pub const FLOW_WINDOW: usize = 16;
    pub const KIND: usize = 20;
    pub const SOCKET_ID: usize = 24;
    pub const SYN_COOKIE: usize = 28;
    pub const PEER_IP: usize = 32;
    pub const EXTENSIONS: usize = 48;
}

/// HSREQ/HSRSP body words: version, flags, TSBPD delays (draft §3.2.1.1).
const HS_EXT_LEN: usize = 12;
/// Extension lengths are counted in 32-bit words in a 16-bit field.
const MAX_EXT_LEN: usize = u16::MAX as usize * 4;
/// Wire value of the first rejection (libsrt `URQ_FAILURE_TYPES`).
const REJECTION_BASE: u32 = 1000;

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
///
/// Block header (draft §3.2.1): extension type in the upper 16 bits, content length in 32-bit
/// words in the lower 16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsExtension {
    HsReq(HsExt),
    HsRsp(HsExt),
    KmReq(KeyMaterial),
    KmRsp(KmResponse),
    /// At most `MAX_STREAMID_LEN` bytes once padded. A value ending in NUL bytes does not
    /// round-trip: they are indistinguishable from padding (libsrt reads it with `strlen`).
    StreamId(Vec<u8>),
    /// A SID extension longer than `MAX_STREAMID_LEN` (libsrt's `MAX_SID_LENGTH`): its wire
    /// length in bytes, contents not kept. Parsed rather than failing the whole handshake so
    /// the listener can answer it (1400) instead of leaving the caller to time out; never
    /// emitted (`emit` refuses it as the overflow it is).
    StreamIdTooLong {
        wire_len: usize,
    },
    /// Congestion controller name ("live" or "file"), same word order as the stream ID.
    Congestion(Vec<u8>),
    /// Packet filter configuration (e.g. "fec,cols:10,rows:5"), string coded like the SID.
    Filter(Vec<u8>),
    /// Raw wire bytes, NOT string coded: libsrt's `fillHsExtGroup` writes two host-order words
    /// (group id, then type/flags/weight) that `toNL` turns big-endian, so there is no per-word
    /// swap and no padding to strip.
    Group(Vec<u8>),
    /// Unknown extension types are kept as raw contents so they round-trip (and are skipped).
    /// `ext_type` must not be one of `ext_type::*`, or it parses back as that type; `data` must
    /// be whole 32-bit words to emit.
    Unknown {
        ext_type: u16,
        data: Vec<u8>,
    },
}

/// The handshake CIF. `peer_ip` is kept as the 16 wire bytes; use [`peer_ip_from_wire`] and
/// [`peer_ip_to_wire`] to convert. libsrt stores each 32-bit word of the address
/// byte-reversed (little-endian): 127.0.0.1 is `01 00 00 7f` then 12 zero bytes in the
/// captures (`CIPAddress::ntop` + `toNL`).
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

impl HandshakeType {
    /// Decodes the signed handshake type field (draft §3.2.1, Table 7; libsrt `UDTRequestType`).
    pub const fn from_wire(v: u32) -> Option<HandshakeType> {
        match v {
            0xFFFF_FFFD => Some(HandshakeType::Done),
            0xFFFF_FFFE => Some(HandshakeType::Agreement),
            0xFFFF_FFFF => Some(HandshakeType::Conclusion),
            0 => Some(HandshakeType::WaveAHand),
            1 => Some(HandshakeType::Induction),
            // Only non-negative i32 values: anything at or above 2^31 reads as negative in
            // libsrt and is not a rejection.
            REJECTION_BASE..=0x7FFF_FFFF => Some(HandshakeType::Rejection(v - REJECTION_BASE)),
            _ => None,
        }
    }

    /// Encodes the field; `None` when a rejection reason does not fit a positive `i32`.
    pub const fn to_wire(self) -> Option<u32> {
        match self {
            HandshakeType::Done => Some(0xFFFF_FFFD),
            HandshakeType::Agreement => Some(0xFFFF_FFFE),
            HandshakeType::Conclusion => Some(0xFFFF_FFFF),
            HandshakeType::WaveAHand => Some(0),
            HandshakeType::Induction => Some(1),
            HandshakeType::Rejection(r) if r <= 0x7FFF_FFFF - REJECTION_BASE => {
                Some(r + REJECTION_BASE)
            }
            HandshakeType::Rejection(_) => None,
        }
    }
}

impl HsExt {
    fn parse(body: &[u8]) -> Result<HsExt, ParseError> {
        // libsrt rejects fewer than 3 words (SRT_HS_E_SIZE) and reads only the first three.
        if body.len() < HS_EXT_LEN {
            return Err(ParseError::Malformed("HSREQ/HSRSP shorter than 3 words"));
        }
        let delays = wire::be_u32(body, 8)?;
        Ok(HsExt {
            srt_version: wire::be_u32(body, 0)?,
            flags: HsFlags(wire::be_u32(body, 4)?),
            recv_tsbpd_delay_ms: (delays >> 16) as u16,
            send_tsbpd_delay_ms: delays as u16,
        })
    }

    fn emit(&self, buf: &mut [u8]) {
        wire::put_u32(buf, 0, self.srt_version);
        wire::put_u32(buf, 4, self.flags.0);
        let delays =
            (u32::from(self.recv_tsbpd_delay_ms) << 16) | u32::from(self.send_tsbpd_delay_ms);
        wire::put_u32(buf, 8, delays);
    }
}

impl HsExtension {
    /// The extension type written in the block header.
    pub fn ext_type(&self) -> u16 {
        match self {
            HsExtension::HsReq(_) => ext_type::HSREQ,
            HsExtension::HsRsp(_) => ext_type::HSRSP,
            HsExtension::KmReq(_) => ext_type::KMREQ,
            HsExtension::KmRsp(_) => ext_type::KMRSP,
            HsExtension::StreamId(_) | HsExtension::StreamIdTooLong { .. } => ext_type::SID,
            HsExtension::Congestion(_) => ext_type::CONGESTION,
            HsExtension::Filter(_) => ext_type::FILTER,
            HsExtension::Group(_) => ext_type::GROUP,
            HsExtension::Unknown { ext_type, .. } => *ext_type,
        }
    }

    fn parse(ty: u16, body: &[u8]) -> Result<HsExtension, ParseError> {
        Ok(match ty {
            ext_type::HSREQ => HsExtension::HsReq(HsExt::parse(body)?),
            ext_type::HSRSP => HsExtension::HsRsp(HsExt::parse(body)?),
            ext_type::KMREQ => HsExtension::KmReq(KeyMaterial::parse(body)?),
            ext_type::KMRSP => HsExtension::KmRsp(KmResponse::parse(body)?),
            ext_type::SID => {
                // draft §3.2.1.3 / libsrt MAX_SID_LENGTH: at most 512 bytes on the wire. The
                // body is bounded by the datagram, and not copied.
                if body.len() > MAX_STREAMID_LEN {
                    HsExtension::StreamIdTooLong {
                        wire_len: body.len(),
                    }
                } else {
                    HsExtension::StreamId(decode_string(body))
                }
            }
            ext_type::CONGESTION => HsExtension::Congestion(decode_string(body)),
            ext_type::FILTER => HsExtension::Filter(decode_string(body)),
            ext_type::GROUP => HsExtension::Group(body.to_vec()),
            other => HsExtension::Unknown {
                ext_type: other,
                data: body.to_vec(),
            },
        })
    }

    /// Content length in bytes (a multiple of 4 for everything that emits successfully).
    fn body_len(&self) -> usize {
        match self {
            HsExtension::HsReq(_) | HsExtension::HsRsp(_) => HS_EXT_LEN,
            HsExtension::KmReq(km) => km.wire_len(),
            HsExtension::KmRsp(r) => r.wire_len(),
            HsExtension::StreamId(s) | HsExtension::Congestion(s) | HsExtension::Filter(s) => {
                s.len().div_ceil(4) * 4
            }
            HsExtension::Group(d) | HsExtension::Unknown { data: d, .. } => d.len(),
            HsExtension::StreamIdTooLong { wire_len } => *wire_len,
        }
    }

    fn check(&self) -> Result<(), EmitError> {
        let len = self.body_len();
        if len > MAX_EXT_LEN {
            return Err(EmitError::FieldOverflow(
                "extension longer than 65535 words",
            ));
        }
        match self {
            HsExtension::StreamId(_) if len > MAX_STREAMID_LEN => {
                Err(EmitError::FieldOverflow("stream id longer than 512 bytes"))
            }
            HsExtension::StreamIdTooLong { .. } => {
                Err(EmitError::FieldOverflow("stream id longer than 512 bytes"))
            }
            HsExtension::Group(d) | HsExtension::Unknown { data: d, .. }
                if !d.len().is_multiple_of(4) =>
            {
                Err(EmitError::FieldOverflow(
                    "raw extension not whole 32-bit words",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Writes the body into `buf`, which holds exactly `body_len()` bytes.
    fn emit_body(&self, buf: &mut [u8]) -> Result<(), EmitError> {
        match self {
            HsExtension::HsReq(e) | HsExtension::HsRsp(e) => e.emit(buf),
            HsExtension::KmReq(km) => {
                km.emit(buf)?;
            }
            HsExtension::KmRsp(r) => {
                r.emit(buf)?;
            }
            HsExtension::StreamId(s) | HsExtension::Congestion(s) | HsExtension::Filter(s) => {
                encode_string(s, buf)
            }
            HsExtension::Group(d) | HsExtension::Unknown { data: d, .. } => buf.copy_from_slice(d),
            // `check` refuses it before any byte is written.
            HsExtension::StreamIdTooLong { .. } => {
                return Err(EmitError::FieldOverflow("stream id longer than 512 bytes"));
            }
        }
        Ok(())
    }
}

impl Handshake {
    /// Length of the CIF without extensions.
    pub const BASE_LEN: usize = 48;

    /// Parses the CIF (the bytes after the 16-byte control header).
    ///
    /// Everything after the 48-byte base is read as extension blocks whatever the version and
    /// extension flags say (induction and rejection packets have none); the handshake layer
    /// decides what the flags require. A block header or body running past the end is
    /// `Malformed`.
    pub fn parse(cif: &[u8]) -> Result<Handshake, ParseError> {
        let base = wire::bytes(cif, 0, Self::BASE_LEN)?;
        let enc_ext = wire::be_u32(base, field::ENC_EXT)?;
        let isn = wire::be_u32(base, field::INITIAL_SEQ)?;
        // libsrt `CHandShake::valid` rejects a negative ISN.
        if isn & TOP_BIT != 0 {
            return Err(ParseError::Malformed("initial sequence number top bit set"));
        }
        let kind = HandshakeType::from_wire(wire::be_u32(base, field::KIND)?)
            .ok_or(ParseError::Malformed("handshake type"))?;
        let mut peer_ip = [0u8; 16];
        peer_ip.copy_from_slice(wire::bytes(base, field::PEER_IP, 16)?);

        let mut extensions = Vec::new();
        let mut rest = cif.get(field::EXTENSIONS..).unwrap_or_default();
        while !rest.is_empty() {
            let header = wire::be_u32(rest, 0)
                .map_err(|_| ParseError::Malformed("partial handshake extension header"))?;
            let body_len = usize::from(header as u16) * 4;
            let body = wire::bytes(rest, 4, body_len)
                .map_err(|_| ParseError::Malformed("handshake extension runs past the end"))?;
            extensions.push(HsExtension::parse((header >> 16) as u16, body)?);
            rest = rest.get(4 + body_len..).unwrap_or_default();
        }

        Ok(Handshake {
            version: wire::be_u32(base, field::VERSION)?,
            encryption_field: (enc_ext >> 16) as u16,
            extension_field: enc_ext as u16,
            initial_seq: SeqNo::new(isn),
            mtu: wire::be_u32(base, field::MTU)?,
            flow_window: wire::be_u32(base, field::FLOW_WINDOW)?,
            kind,
            socket_id: wire::be_u32(base, field::SOCKET_ID)?,
            syn_cookie: wire::be_u32(base, field::SYN_COOKIE)?,
            peer_ip,
            extensions,
        })
    }

    pub fn wire_len(&self) -> usize {
        Self::BASE_LEN
            + self
                .extensions
                .iter()
                .map(|e| 4 + e.body_len())
                .sum::<usize>()
    }

    /// Writes the CIF into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let kind = self.kind.to_wire().ok_or(EmitError::FieldOverflow(
            "rejection reason above i32::MAX - 1000",
        ))?;
        for e in &self.extensions {
            e.check()?;
        }
        let len = self.wire_len();
        wire::ensure_room(buf, len)?;
        wire::put_u32(buf, field::VERSION, self.version);
        wire::put_u16(buf, field::ENC_EXT, self.encryption_field);
        wire::put_u16(buf, field::ENC_EXT + 2, self.extension_field);
        wire::put_u32(buf, field::INITIAL_SEQ, self.initial_seq.value());
        wire::put_u32(buf, field::MTU, self.mtu);
        wire::put_u32(buf, field::FLOW_WINDOW, self.flow_window);
        wire::put_u32(buf, field::KIND, kind);
        wire::put_u32(buf, field::SOCKET_ID, self.socket_id);
        wire::put_u32(buf, field::SYN_COOKIE, self.syn_cookie);
        buf[field::PEER_IP..field::EXTENSIONS].copy_from_slice(&self.peer_ip);
        let mut at = field::EXTENSIONS;
        for e in &self.extensions {
            let body_len = e.body_len();
            // `check` bounded body_len to 65535 words.
            wire::put_u16(buf, at, e.ext_type());
            wire::put_u16(buf, at + 2, (body_len / 4) as u16);
            e.emit_body(&mut buf[at + 4..at + 4 + body_len])?;
            at += 4 + body_len;
        }
        Ok(len)
    }

    pub fn hs_req(&self) -> Option<&HsExt> {
        self.extensions.iter().find_map(|e| match e {
            HsExtension::HsReq(h) => Some(h),
            _ => None,
        })
    }

    pub fn hs_rsp(&self) -> Option<&HsExt> {
        self.extensions.iter().find_map(|e| match e {
            HsExtension::HsRsp(h) => Some(h),
            _ => None,
        })
    }

    pub fn stream_id(&self) -> Option<&[u8]> {
        self.extensions.iter().find_map(|e| match e {
            HsExtension::StreamId(s) => Some(s.as_slice()),
            _ => None,
        })
    }
}

/// Decodes the handshake's peer IP field as libsrt writes it: each 32-bit word of the address
/// byte-reversed; IPv4 uses only the first word. The wire does not say which family it is, so
/// the caller passes the family of the address the datagram came from (libsrt `CIPAddress::pton`
/// does the same).
pub fn peer_ip_from_wire(wire: &[u8; 16], ipv6: bool) -> IpAddr {
    let mut b = *wire;
    for word in b.chunks_exact_mut(4) {
        word.reverse();
    }
    if ipv6 {
        IpAddr::V6(Ipv6Addr::from(b))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

/// Encodes an address for the handshake's peer IP field, as libsrt does (see
/// [`peer_ip_from_wire`]).
pub fn peer_ip_to_wire(addr: IpAddr) -> [u8; 16] {
    let mut b = [0u8; 16];
    match addr {
        IpAddr::V4(a) => b[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => b = a.octets(),
    }
    for word in b.chunks_exact_mut(4) {
        word.reverse();
    }
    b
}

/// Stream ID coding (draft §3.2.1.3; libsrt `fillHsExtConfigString`): the string is zero
/// padded to whole words and each 32-bit word is sent byte-reversed, because libsrt copies
/// the bytes into host-order words and `toNL` then swaps every word. The SID
/// `#!::r=live/cam1,m=publish` in the captures starts `3a 3a 21 23` ("::!#").
fn decode_string(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for word in body.chunks(4) {
        out.extend(word.iter().rev());
    }
    // libsrt reads the result with strlen; the padding is the trailing zeros.
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// Inverse of `decode_string`; `buf` holds exactly the padded length.
fn encode_string(s: &[u8], buf: &mut [u8]) {
    buf.fill(0);
    buf[..s.len()].copy_from_slice(s);
    for word in buf.chunks_exact_mut(4) {
        word.reverse();
    }
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
