//! The payload stamp: what a publisher puts in each 1316-byte SRT payload so a subscriber can
//! tell which stream and packet it is and when it was sent, while the payload stays valid
//! MPEG-TS (7 packets of 188 bytes, 0x47 sync) so a relay's TS checks let it through.
//!
//! Owns: the stamp TS packet layout, synthetic payloads, and replaying a TS file with a stamp
//! packet in front of every 6 file packets. Must not: read the clock (the send time comes in as
//! nanoseconds since loadgen started) or allocate per packet.
//!
//! The stamp packet (ISO/IEC 13818-1 §2.4.3.2 header, §2.4.3.4 adaptation field, §2.4.3.6 PES
//! header) on PID [`STAMP_PID`]:
//!
//! ```text
//! 0      1           2       3             4   5     6..15                 15..47   47..188
//! 0x47 | PUSI+PID | PID lo | AFC+CC | AF len | flags | PES 00 00 01 E0 ... | stamp | 0xFF fill
//! ```
//!
//! In synthetic payloads the adaptation field sets `random_access_indicator` and the PES has the
//! video stream id 0xE0, so a relay that starts new viewers at a video keyframe
//! (`srtrelay::media::ts::is_video_random_access`) can start them at any payload. In replayed
//! payloads the flag is left clear: the file's own keyframes are the real ones.
//!
//! The stamp (big-endian): magic `SRLG`, version, 3 reserved bytes, stream index u32, sequence
//! number u64 (0 for a publisher's first payload), send time u64 (ns since loadgen started), and
//! a 32-bit check over those three fields.

use std::fmt;

/// One MPEG-TS packet.
pub const TS_PACKET_LEN: usize = 188;
/// TS packets per SRT payload, as ffmpeg and every live encoder send.
pub const TS_PER_PAYLOAD: usize = 7;
/// The SRT payload loadgen sends (libsrt's live-mode SRTO_PAYLOADSIZE default).
pub const PAYLOAD_LEN: usize = TS_PACKET_LEN * TS_PER_PAYLOAD;
/// The PID of loadgen's own TS packets: a private PID no muxer allocates by default (ffmpeg
/// starts at 0x100, 0x1FFF is the null PID).
pub const STAMP_PID: u16 = 0x1FEE;

const SYNC: u8 = 0x47;
const MAGIC: [u8; 4] = *b"SRLG";
const VERSION: u8 = 1;
/// PES header without optional fields: start code prefix, stream id 0xE0 (video), packet length
/// 0 (allowed for video, §2.4.3.7), '10' marker byte, no PTS/DTS, header data length 0.
const PES_HEADER: [u8; 9] = [0x00, 0x00, 0x01, 0xE0, 0x00, 0x00, 0x80, 0x00, 0x00];
/// Stamp fields after the magic: version + 3 reserved, stream, seq, send time, check.
const STAMP_LEN: usize = 4 + 4 + 4 + 8 + 8 + 4;

/// Who sent a payload and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publisher's stream index.
    pub stream: u32,
    /// Payload number within the stream, from 0.
    pub seq: u64,
    /// When the publisher handed it to SRT, in nanoseconds since loadgen started.
    pub sent_ns: u64,
}

/// Why a payload carries no readable stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampError {
    /// Shorter than one TS packet or no 0x47 sync byte.
    NotTs,
    /// The first TS packet is on another PID.
    WrongPid(u16),
    /// No PES start, or the stamp does not fit where the header says it starts.
    NoPes,
    /// The magic or version differs: some other sender's payload.
    Foreign,
    /// Magic and version match but the check does not: the payload was corrupted.
    BadCheck,
}

impl fmt::Display for StampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StampError::NotTs => write!(f, "not a TS packet"),
            StampError::WrongPid(pid) => write!(f, "first TS packet on PID {pid:#x}"),
            StampError::NoPes => write!(f, "no PES start in the stamp packet"),
            StampError::Foreign => write!(f, "no loadgen stamp"),
            StampError::BadCheck => write!(f, "stamp check mismatch (corrupted payload)"),
        }
    }
}

impl std::error::Error for StampError {}

/// Writes a synthetic payload: the stamp packet then 6 filler packets, all on [`STAMP_PID`], the
/// continuity counter running on from payload to payload (`seq * 7 + i`, mod 16).
pub fn encode_synthetic(out: &mut [u8; PAYLOAD_LEN], stamp: &Stamp) {
    let (first, rest) = out.split_at_mut(TS_PACKET_LEN);
    let cc0 = (stamp.seq.wrapping_mul(TS_PER_PAYLOAD as u64) & 0x0F) as u8;
    write_stamp_packet(first, stamp, cc0, true);
    for (i, pkt) in rest.chunks_exact_mut(TS_PACKET_LEN).enumerate() {
        let cc = (cc0 + 1 + i as u8) & 0x0F;
        pkt[0] = SYNC;
        pkt[1] = (STAMP_PID >> 8) as u8;
        pkt[2] = STAMP_PID as u8;
        // adaptation_field_control '01': payload only (the PES continues).
        pkt[3] = 0x10 | cc;
        pkt[4..].fill(0xFF);
    }
}

/// Writes the stamp packet into the first 188 bytes of `pkt`, with continuity counter `cc` and
/// the random-access flag set or not.
pub fn write_stamp_packet(pkt: &mut [u8], stamp: &Stamp, cc: u8, random_access: bool) {
    let pkt = &mut pkt[..TS_PACKET_LEN];
    pkt[0] = SYNC;
    // payload_unit_start_indicator: a PES starts here.
    pkt[1] = 0x40 | (STAMP_PID >> 8) as u8;
    pkt[2] = STAMP_PID as u8;
    // adaptation_field_control '11': adaptation field then payload.
    pkt[3] = 0x30 | (cc & 0x0F);
    pkt[4] = 1; // adaptation_field_length: the flags byte only
    pkt[5] = if random_access { 0x40 } else { 0x00 };
    let pes = 6;
    pkt[pes..pes + PES_HEADER.len()].copy_from_slice(&PES_HEADER);
    let s = pes + PES_HEADER.len();
    pkt[s..s + 4].copy_from_slice(&MAGIC);
    let f = s + 4;
    pkt[f..f + 4].copy_from_slice(&[VERSION, 0, 0, 0]);
    pkt[f + 4..f + 8].copy_from_slice(&stamp.stream.to_be_bytes());
    pkt[f + 8..f + 16].copy_from_slice(&stamp.seq.to_be_bytes());
    pkt[f + 16..f + 24].copy_from_slice(&stamp.sent_ns.to_be_bytes());
    pkt[f + 24..f + 28].copy_from_slice(&check(stamp).to_be_bytes());
    pkt[s + STAMP_LEN..].fill(0xFF);
}

/// Reads the stamp from the first TS packet of `payload`.
pub fn decode(payload: &[u8]) -> Result<Stamp, StampError> {
    let pkt = payload.get(..TS_PACKET_LEN).ok_or(StampError::NotTs)?;
    if pkt[0] != SYNC {
        return Err(StampError::NotTs);
    }
    let pid = u16::from_be_bytes([pkt[1] & 0x1F, pkt[2]]);
    if pid != STAMP_PID {
        return Err(StampError::WrongPid(pid));
    }
    // Bit 5 of byte 3: an adaptation field (its length byte, then that many bytes) comes first.
    let pes = if pkt[3] & 0x20 != 0 {
        5 + pkt[4] as usize
    } else {
        4
    };
    let s = pes + PES_HEADER.len();
    let Some(region) = pkt.get(s..s + 4 + STAMP_LEN) else {
        return Err(StampError::NoPes);
    };
    if pkt[pes..pes + 3] != PES_HEADER[..3] {
        return Err(StampError::NoPes);
    }
    if region[..4] != MAGIC || region[4] != VERSION {
        return Err(StampError::Foreign);
    }
    let f = &region[4..];
    let stamp = Stamp {
        stream: u32::from_be_bytes(take(f, 4)),
        seq: u64::from_be_bytes(take(f, 8)),
        sent_ns: u64::from_be_bytes(take(f, 16)),
    };
    if u32::from_be_bytes(take(f, 24)) != check(&stamp) {
        return Err(StampError::BadCheck);
    }
    Ok(stamp)
}

/// A TS file replayed in a loop, 6 of its packets per payload behind a stamp packet.
#[derive(Debug, Clone)]
pub struct TsReplay {
    data: std::sync::Arc<Vec<u8>>,
    pos: usize,
}

/// File packets per replayed payload: the seventh slot is the stamp.
pub const REPLAY_TS_PER_PAYLOAD: usize = TS_PER_PAYLOAD - 1;

impl TsReplay {
    /// Checks `data` (whole 188-byte packets with sync bytes, none on [`STAMP_PID`]); a trailing
    /// partial packet is cut off. Clones share the bytes; each starts at the beginning.
    pub fn new(mut data: Vec<u8>) -> Result<TsReplay, String> {
        data.truncate(data.len() / TS_PACKET_LEN * TS_PACKET_LEN);
        if data.is_empty() {
            return Err("the TS file holds no whole 188-byte packet".into());
        }
        for (i, pkt) in data.chunks_exact(TS_PACKET_LEN).enumerate() {
            if pkt[0] != SYNC {
                return Err(format!("TS packet {i} does not start with 0x47"));
            }
            if u16::from_be_bytes([pkt[1] & 0x1F, pkt[2]]) == STAMP_PID {
                return Err(format!("TS packet {i} uses loadgen's PID {STAMP_PID:#x}"));
            }
        }
        Ok(TsReplay {
            data: std::sync::Arc::new(data),
            pos: 0,
        })
    }

    /// Writes the stamp packet then the next 6 file packets (wrapping at the end of the file).
    pub fn fill(&mut self, out: &mut [u8; PAYLOAD_LEN], stamp: &Stamp) {
        write_stamp_packet(out, stamp, (stamp.seq & 0x0F) as u8, false);
        for pkt in out[TS_PACKET_LEN..].chunks_exact_mut(TS_PACKET_LEN) {
            pkt.copy_from_slice(&self.data[self.pos..self.pos + TS_PACKET_LEN]);
            self.pos = (self.pos + TS_PACKET_LEN) % self.data.len();
        }
    }
}

/// Where a publisher's payloads come from.
#[derive(Debug, Clone)]
pub enum PayloadSource {
    Synthetic,
    Replay(TsReplay),
}

impl PayloadSource {
    pub fn fill(&mut self, out: &mut [u8; PAYLOAD_LEN], stamp: &Stamp) {
        match self {
            PayloadSource::Synthetic => encode_synthetic(out, stamp),
            PayloadSource::Replay(r) => r.fill(out, stamp),
        }
    }
}

/// A 32-bit mix of the stamp fields: catches a flipped bit, not an adversary.
fn check(s: &Stamp) -> u32 {
    let mut x = u64::from(s.stream) ^ s.seq.rotate_left(17) ^ s.sent_ns.rotate_left(41);
    // splitmix64 finalizer
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x as u32
}

fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use srtrelay::media::ts;

    const S: Stamp = Stamp {
        stream: 7,
        seq: 123_456_789_012,
        sent_ns: 9_876_543_210,
    };

    #[test]
    fn synthetic_payload_round_trips_and_is_valid_ts() {
        let mut p = [0u8; PAYLOAD_LEN];
        encode_synthetic(&mut p, &S);
        assert_eq!(decode(&p), Ok(S));
        assert_eq!(ts::validate(&p), Ok(TS_PER_PAYLOAD));
        // The first packet looks like a video keyframe to a keyframe-start relay.
        assert!(ts::has_video_random_access(&p));
        let first: &[u8; TS_PACKET_LEN] = p[..TS_PACKET_LEN].try_into().unwrap();
        assert!(ts::is_video_random_access(first));
        for pkt in ts::packets(&p) {
            assert_eq!(u16::from_be_bytes([pkt[1] & 0x1F, pkt[2]]), STAMP_PID);
        }
    }

    #[test]
    fn continuity_counter_runs_on_across_payloads() {
        let mut ccs = Vec::new();
        let mut p = [0u8; PAYLOAD_LEN];
        for seq in 0..5 {
            encode_synthetic(&mut p, &Stamp { seq, ..S });
            ccs.extend(ts::packets(&p).map(|pkt| pkt[3] & 0x0F));
        }
        let want: Vec<u8> = (0..35).map(|i| (i % 16) as u8).collect();
        assert_eq!(ccs, want);
    }

    #[test]
    fn any_flipped_stamp_bit_is_detected() {
        let mut p = [0u8; PAYLOAD_LEN];
        encode_synthetic(&mut p, &S);
        // Stream, sequence number, send time and the check: bytes 23..47 of the first packet.
        for byte in 23..47 {
            for bit in 0..8 {
                let mut q = p;
                q[byte] ^= 1 << bit;
                assert_eq!(
                    decode(&q),
                    Err(StampError::BadCheck),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn other_payloads_are_told_apart() {
        let mut p = [0u8; PAYLOAD_LEN];
        encode_synthetic(&mut p, &S);
        assert_eq!(decode(&p[..100]), Err(StampError::NotTs));
        let mut q = p;
        q[0] = 0;
        assert_eq!(decode(&q), Err(StampError::NotTs));
        let mut q = p;
        q[2] = 0x00;
        assert_eq!(decode(&q), Err(StampError::WrongPid(0x1F00)));
        let mut q = p;
        q[15] = b'X';
        assert_eq!(decode(&q), Err(StampError::Foreign));
        let mut q = p;
        q[8] = 0x02; // PES start code broken
        assert_eq!(decode(&q), Err(StampError::NoPes));
        let mut q = p;
        q[4] = 180; // adaptation field leaves no room for the stamp
        assert_eq!(decode(&q), Err(StampError::NoPes));
    }

    #[test]
    fn replay_interleaves_file_packets_behind_the_stamp_and_wraps() {
        // A 10-packet "file" on PID 0x100 whose byte 4 numbers the packet.
        let mut file = Vec::new();
        for i in 0..10u8 {
            let mut pkt = [0xAAu8; TS_PACKET_LEN];
            pkt[..5].copy_from_slice(&[0x47, 0x01, 0x00, 0x10, i]);
            file.extend_from_slice(&pkt);
        }
        file.extend_from_slice(&[0x47, 1, 2]); // trailing partial packet: cut off
        let mut r = TsReplay::new(file).unwrap();
        let mut p = [0u8; PAYLOAD_LEN];
        let mut order = Vec::new();
        for seq in 0..2 {
            let s = Stamp { seq, ..S };
            r.fill(&mut p, &s);
            assert_eq!(decode(&p), Ok(s));
            assert_eq!(ts::validate(&p), Ok(TS_PER_PAYLOAD));
            assert!(
                !ts::has_video_random_access(&p),
                "replay keeps the file's keyframes"
            );
            order.extend(ts::packets(&p).skip(1).map(|pkt| pkt[4]));
        }
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    }

    #[test]
    fn replay_refuses_non_ts_and_our_pid() {
        assert!(TsReplay::new(vec![0x47; 100]).is_err());
        assert!(TsReplay::new(vec![0x46; TS_PACKET_LEN]).is_err());
        let mut pkt = vec![0xFF; TS_PACKET_LEN];
        pkt[..4].copy_from_slice(&[0x47, 0x1F, 0xEE, 0x10]);
        let err = TsReplay::new(pkt).unwrap_err();
        assert!(err.contains("0x1fee"), "{err}");
    }
}
