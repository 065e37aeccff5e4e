//! SRTLA's wire format (BELABOX srtla2, `srtla.h`/`common.h` of the reference): the packets
//! a receiver reads from links and the ones it writes back, and the few SRT header fields it
//! needs to route SRT packets. Parsing borrows the datagram and never panics; anything it does
//! not know is [`Inbound::Srt`] (the SRT server decides) or an error.
//!
//! Every SRTLA packet starts with a 16-bit big-endian type in the range of SRT control types
//! (bit 15 set) that SRT does not use:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        type (0x9xxx)          |   body (by type) ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! REG1, REG2:  type + 256-byte group id              (258 bytes exactly)
//! REG3, REG_ERR, REG_NGP, REG_NAK: type only          (2 bytes)
//! KEEPALIVE:   type + whatever the sender put there   (echoed back as is)
//! ACK:         type (as the upper half of a 32-bit word) + N x 32-bit SRT sequence numbers
//! ```
//!
//! REG1 carries the sender's random id; the receiver keeps its first half and replaces the
//! second with random bytes of its own, so the full id (REG2) is known only to the sender
//! that registered it and the receiver: it is the capability to add links to the group.

/// `SRTLA_TYPE_KEEPALIVE`: sent by the sender when a link is idle; echoed by the receiver.
pub const KEEPALIVE: u16 = 0x9000;
/// `SRTLA_TYPE_ACK`: receiver -> sender, the SRT sequence numbers a link delivered.
pub const ACK: u16 = 0x9100;
/// `SRTLA_TYPE_REG1`: sender -> receiver on one link: register a new group.
pub const REG1: u16 = 0x9200;
/// `SRTLA_TYPE_REG2`: receiver -> sender (the full id), then sender -> receiver on every link.
pub const REG2: u16 = 0x9201;
/// `SRTLA_TYPE_REG3`: receiver -> sender: the link is registered.
pub const REG3: u16 = 0x9202;
/// `SRTLA_TYPE_REG_ERR`: temporary failure (limits, address already in another group).
pub const REG_ERR: u16 = 0x9210;
/// `SRTLA_TYPE_REG_NGP`: REG2 for a group the receiver does not have; register again.
pub const REG_NGP: u16 = 0x9211;
/// `SRTLA_TYPE_REG_NAK`: refused for good (incompatible or denied).
pub const REG_NAK: u16 = 0x9212;

/// `SRTLA_ID_LEN`.
pub const ID_LEN: usize = 256;
/// REG1 and REG2: type + id.
pub const REG_LEN: usize = 2 + ID_LEN;
/// SRT's header (draft-sharabayko-srt §3): anything shorter is not SRT.
pub const SRT_HEADER_LEN: usize = 16;
/// Sequence numbers per SRTLA ACK (`RECV_ACK_INT` in the reference).
pub const ACK_SEQS: usize = 10;
/// An SRTLA ACK: one 32-bit type word and [`ACK_SEQS`] sequence numbers.
pub const ACK_LEN: usize = 4 + 4 * ACK_SEQS;

/// SRT control types the receiver routes specially (draft §3.2).
pub const SRT_ACK: u16 = 0x8002;
pub const SRT_NAK: u16 = 0x8003;

/// A group id as on the wire.
pub type GroupId = [u8; ID_LEN];

/// What a datagram from a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// Register a group; the sender's id (only its first half is kept).
    Reg1(&'a GroupId),
    /// Join the group with this full id.
    Reg2(&'a GroupId),
    /// A keepalive: the whole datagram, to be echoed.
    Keepalive(&'a [u8]),
    /// An SRT packet (at least a header's worth), data or control.
    Srt(&'a [u8]),
}

/// Why a datagram from a link is not one a receiver takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseError {
    #[error("shorter than an SRT header and not a keepalive")]
    Short,
    /// REG1/REG2 with another length than 258.
    #[error("registration packet of the wrong length")]
    BadRegistration,
    /// A type only a receiver sends (REG3, ACK, REG_ERR, ...) or one SRTLA does not define in
    /// its range: never passed to SRT.
    #[error("SRTLA type a receiver does not take")]
    UnexpectedType,
}

/// The 16-bit type field, if the datagram has one.
pub fn packet_type(buf: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]))
}

/// Classifies a datagram a sender sent. Registration packets must have their exact length
/// (the reference ignores others); SRTLA's own range (0x9000..=0x92FF) never reaches SRT.
pub fn parse(buf: &[u8]) -> Result<Inbound<'_>, ParseError> {
    let Some(ty) = packet_type(buf) else {
        return Err(ParseError::Short);
    };
    match ty {
        REG1 | REG2 => {
            let id: &GroupId = buf
                .get(2..)
                .and_then(|b| b.try_into().ok())
                .ok_or(ParseError::BadRegistration)?;
            Ok(if ty == REG1 {
                Inbound::Reg1(id)
            } else {
                Inbound::Reg2(id)
            })
        }
        KEEPALIVE => Ok(Inbound::Keepalive(buf)),
        0x9001..=0x92FF => Err(ParseError::UnexpectedType),
        _ if buf.len() < SRT_HEADER_LEN => Err(ParseError::Short),
        _ => Ok(Inbound::Srt(buf)),
    }
}

/// An SRT data packet's sequence number (F bit clear, draft §3.1), or `None` for control
/// packets and datagrams too short to tell.
pub fn srt_data_seq(buf: &[u8]) -> Option<u32> {
    let word = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?);
    (word & 0x8000_0000 == 0).then_some(word)
}

/// An SRT control packet's type (F bit set), or `None` for data packets.
pub fn srt_control_type(buf: &[u8]) -> Option<u16> {
    let ty = packet_type(buf)?;
    (ty & 0x8000 != 0).then_some(ty)
}

/// Writes a packet that is only a type (REG3, REG_ERR, REG_NGP, REG_NAK); returns its length.
pub fn emit_type(ty: u16, out: &mut [u8; 2]) -> usize {
    *out = ty.to_be_bytes();
    2
}

/// Writes REG2 with the full id.
pub fn emit_reg2(id: &GroupId, out: &mut [u8; REG_LEN]) -> usize {
    out[..2].copy_from_slice(&REG2.to_be_bytes());
    out[2..].copy_from_slice(id);
    REG_LEN
}

/// Writes REG1 (a sender's; used by the test sender and the fuzz checks).
pub fn emit_reg1(id: &GroupId, out: &mut [u8; REG_LEN]) -> usize {
    out[..2].copy_from_slice(&REG1.to_be_bytes());
    out[2..].copy_from_slice(id);
    REG_LEN
}

/// Writes an SRTLA ACK for `seqs` (the reference: `htobe32(SRTLA_TYPE_ACK << 16)`, then each
/// sequence number big-endian, as the link received them).
pub fn emit_ack(seqs: &[u32; ACK_SEQS], out: &mut [u8; ACK_LEN]) -> usize {
    out[..4].copy_from_slice(&(u32::from(ACK) << 16).to_be_bytes());
    for (chunk, seq) in out[4..].chunks_exact_mut(4).zip(seqs) {
        chunk.copy_from_slice(&seq.to_be_bytes());
    }
    ACK_LEN
}

/// The sequence numbers of an SRTLA ACK (for senders and tests); `None` if it is not one.
pub fn parse_ack(buf: &[u8]) -> Option<impl Iterator<Item = u32> + '_> {
    if packet_type(buf)? != ACK || buf.len() < 4 {
        return None;
    }
    Some(
        buf[4..]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_needs_its_exact_length() {
        let mut b = [0u8; REG_LEN];
        let id = [7u8; ID_LEN];
        emit_reg1(&id, &mut b);
        assert_eq!(parse(&b), Ok(Inbound::Reg1(&id)));
        emit_reg2(&id, &mut b);
        assert_eq!(parse(&b), Ok(Inbound::Reg2(&id)));
        for n in 0..REG_LEN {
            let r = parse(&b[..n]);
            assert!(r.is_err() || n < 2, "{n}: {r:?}");
        }
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(parse(&long), Err(ParseError::BadRegistration));
    }

    #[test]
    fn every_prefix_of_anything_is_classified_without_panic() {
        let mut srt = [0u8; 32];
        srt[0] = 0x80;
        srt[1] = 0x02;
        for n in 0..srt.len() {
            let r = parse(&srt[..n]);
            if n < SRT_HEADER_LEN {
                assert_eq!(r, Err(ParseError::Short));
            } else {
                assert_eq!(r, Ok(Inbound::Srt(&srt[..n])));
            }
        }
        assert_eq!(srt_control_type(&srt), Some(SRT_ACK));
        assert_eq!(srt_data_seq(&srt), None);
        assert_eq!(srt_data_seq(&[0, 0, 1, 2]), Some(258));
        assert_eq!(srt_data_seq(&[0, 0, 1]), None);
        assert_eq!(parse(&[0x90, 0x00]), Ok(Inbound::Keepalive(&[0x90, 0x00])));
        for ty in [REG3, REG_ERR, REG_NGP, REG_NAK, ACK, 0x92FF] {
            let mut p = [0u8; 20];
            p[..2].copy_from_slice(&ty.to_be_bytes());
            assert_eq!(parse(&p), Err(ParseError::UnexpectedType), "{ty:#x}");
        }
        assert_eq!(parse(&[]), Err(ParseError::Short));
        assert_eq!(parse(&[0x90]), Err(ParseError::Short));
    }

    #[test]
    fn ack_round_trips_as_the_reference_lays_it_out() {
        let seqs: [u32; ACK_SEQS] = std::array::from_fn(|i| 0x7FFF_FFF0 + i as u32);
        let mut b = [0u8; ACK_LEN];
        assert_eq!(emit_ack(&seqs, &mut b), 44);
        assert_eq!(&b[..4], &[0x91, 0x00, 0x00, 0x00]);
        assert_eq!(&b[4..8], &[0x7F, 0xFF, 0xFF, 0xF0]);
        let back: Vec<u32> = parse_ack(&b).unwrap().collect();
        assert_eq!(back, seqs);
        assert!(parse_ack(&[0x90, 0, 0, 0]).is_none());
        let mut t = [0u8; 2];
        emit_type(REG_NGP, &mut t);
        assert_eq!(t, [0x92, 0x11]);
    }
}
