//! The TS side of the remux: one program with fixed PIDs, written as whole 188-byte packets.
//!
//! Owns: the PAT and PMT sections (ISO/IEC 13818-1 §2.4.4.3, §2.4.4.8), PES headers with
//! PTS/DTS (§2.4.3.6-7), cutting a PES into TS packets with the random-access indicator and PCR
//! in the first packet's adaptation field and stuffing in the last one's (§2.4.3.4-5), PCR-only
//! packets, and every PID's continuity counter (§2.4.3.3).
//! Must not: decide what to write when (that is `FlvRemux`), read the clock, or panic.

#![deny(clippy::disallowed_methods)]

use crate::media::pes::TIMESTAMP_WRAP;
use crate::media::psi::crc32_mpeg2;
use crate::media::ts::{TS_PACKET_LEN, TS_SYNC_BYTE};

/// PID of the PMT of the one program.
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
pub const PROGRAM_NUMBER: u16 = 1;
/// `stream_type` values (Table 2-34, and ISO/IEC 13818-1 Amd. 3 for HEVC).
pub const STREAM_TYPE_H264: u8 = 0x1B;
pub const STREAM_TYPE_HEVC: u8 = 0x24;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// PES `stream_id` (Table 2-22): the first video and the first audio stream.
pub const STREAM_ID_VIDEO: u8 = 0xE0;
pub const STREAM_ID_AUDIO: u8 = 0xC0;

const PAT_PID: u16 = 0x0000;
const TRANSPORT_STREAM_ID: u16 = 1;

/// The elementary streams the PMT lists.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrackSet {
    /// The video `stream_type`, if video is listed.
    pub video: Option<u8>,
    pub audio: bool,
}

impl TrackSet {
    /// The PID whose packets carry the PCR: video when there is video, else audio.
    pub fn pcr_pid(&self) -> u16 {
        if self.video.is_some() || !self.audio {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }
}

/// What the first TS packet of a PES carries in its adaptation field.
#[derive(Debug, Default, Clone, Copy)]
pub struct Start {
    /// `random_access_indicator`: a decoder can start at this PES.
    pub rai: bool,
    /// PCR in 27 MHz units (wrapped to 33 bits of base on writing).
    pub pcr: Option<u64>,
}

/// Continuity counters of the four PIDs the remux writes.
#[derive(Debug, Default, Clone)]
pub struct TsWriter {
    cc: [u8; 4],
}

impl TsWriter {
    /// A PAT and a PMT for `tracks` (one packet each), the PMT at `version`.
    pub fn psi(&mut self, tracks: TrackSet, version: u8, out: &mut Vec<u8>) -> u64 {
        let mut s = [0u8; 64];
        let n = pat_section(&mut s);
        self.section(PAT_PID, &s[..n], out);
        let n = pmt_section(tracks, version, &mut s);
        self.section(PMT_PID, &s[..n], out);
        2
    }

    /// `pes` (header and data) as TS packets on `pid`; returns how many.
    pub fn pes(&mut self, pid: u16, pes: &[u8], start: Start, out: &mut Vec<u8>) -> u64 {
        out.reserve((pes.len() / 184 + 2) * TS_PACKET_LEN);
        let mut rest = pes;
        let mut first = true;
        let mut packets = 0;
        while first || !rest.is_empty() {
            // The adaptation field after its length byte: flags, PCR.
            let mut af = [0u8; 7];
            let mut af_len = 0;
            if first && (start.rai || start.pcr.is_some()) {
                af[0] = u8::from(start.rai) << 6 | u8::from(start.pcr.is_some()) << 4;
                af_len = 1;
                if let Some(pcr) = start.pcr {
                    af[1..7].copy_from_slice(&pcr_bytes(pcr));
                    af_len = 7;
                }
            }
            let room = TS_PACKET_LEN - 4 - if af_len > 0 { 1 + af_len } else { 0 };
            let take = rest.len().min(room);
            // §2.4.3.5: stuffing is adaptation-field bytes, so the last packet grows one (or
            // grows the one it has) to fill the packet exactly.
            let stuffing = room - take;
            let has_af = af_len > 0 || stuffing > 0;
            let at = out.len();
            out.extend_from_slice(&[
                TS_SYNC_BYTE,
                u8::from(first) << 6 | (pid >> 8) as u8 & 0x1F,
                pid as u8,
                if has_af { 0x30 } else { 0x10 } | self.next_cc(pid),
            ]);
            if has_af {
                if af_len > 0 {
                    out.push((af_len + stuffing) as u8);
                    out.extend_from_slice(&af[..af_len]);
                    out.extend(std::iter::repeat_n(0xFF, stuffing));
                } else {
                    // A field of length 0 is one byte; longer ones start with the flags.
                    out.push((stuffing - 1) as u8);
                    if stuffing > 1 {
                        out.push(0);
                        out.extend(std::iter::repeat_n(0xFF, stuffing - 2));
                    }
                }
            }
            out.extend_from_slice(&rest[..take]);
            debug_assert_eq!(out.len() - at, TS_PACKET_LEN);
            rest = &rest[take..];
            first = false;
            packets += 1;
        }
        packets
    }

    /// A packet on `pid` with only an adaptation field carrying `pcr`: the PCR keeps flowing
    /// when its PID has no PES to carry it. It has no payload, so its continuity counter
    /// repeats the last one (§2.4.3.3).
    pub fn pcr_only(&mut self, pid: u16, pcr: u64, out: &mut Vec<u8>) -> u64 {
        let cc = self.cc[slot(pid)].wrapping_sub(1) & 0x0F;
        out.extend_from_slice(&[
            TS_SYNC_BYTE,
            (pid >> 8) as u8 & 0x1F,
            pid as u8,
            0x20 | cc,
            183,
            0x10,
        ]);
        out.extend_from_slice(&pcr_bytes(pcr));
        out.extend(std::iter::repeat_n(0xFF, TS_PACKET_LEN - 12));
        1
    }

    /// One PSI section that fits a packet, after pointer_field 0, stuffed with 0xFF
    /// (§2.4.4.1: bytes after a section's end up to the packet's end are stuffing).
    fn section(&mut self, pid: u16, section: &[u8], out: &mut Vec<u8>) {
        let at = out.len();
        out.extend_from_slice(&[
            TS_SYNC_BYTE,
            0x40 | (pid >> 8) as u8 & 0x1F,
            pid as u8,
            0x10 | self.next_cc(pid),
            0,
        ]);
        out.extend_from_slice(section);
        out.resize(at + TS_PACKET_LEN, 0xFF);
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let c = &mut self.cc[slot(pid)];
        let v = *c;
        *c = (v + 1) & 0x0F;
        v
    }
}

/// Writes a PES header for `stream_id` into `buf` (cleared first). The DTS is written only
/// when it differs from the PTS (§2.4.3.7). `es_len` is the data length for audio; video gets
/// PES_packet_length 0, "unbounded", which §2.4.3.7 allows only for video in TS.
pub fn pes_header(stream_id: u8, pts: u64, dts: u64, es_len: Option<usize>, buf: &mut Vec<u8>) {
    buf.clear();
    let with_dts = dts != pts;
    let header_len: usize = if with_dts { 10 } else { 5 };
    let packet_len = es_len
        .map(|n| 3 + header_len + n)
        .filter(|&n| n <= 0xFFFF)
        .unwrap_or(0) as u16;
    buf.extend_from_slice(&[0, 0, 1, stream_id]);
    buf.extend_from_slice(&packet_len.to_be_bytes());
    // '10', data_alignment_indicator (an access unit starts here); PTS_DTS_flags.
    buf.extend_from_slice(&[0x84, if with_dts { 0xC0 } else { 0x80 }, header_len as u8]);
    buf.extend_from_slice(&timestamp_bytes(if with_dts { 0x3 } else { 0x2 }, pts));
    if with_dts {
        buf.extend_from_slice(&timestamp_bytes(0x1, dts));
    }
}

/// The PAT (§2.4.4.3) naming the one program; returns the section length with CRC.
fn pat_section(s: &mut [u8; 64]) -> usize {
    let mut w = SectionWriter::new(s, 0x00, TRANSPORT_STREAM_ID, 0);
    w.put(&PROGRAM_NUMBER.to_be_bytes());
    w.put(&(0xE000 | PMT_PID).to_be_bytes());
    w.finish()
}

/// The PMT (§2.4.4.8): PCR PID, no program descriptors, one entry per track.
fn pmt_section(tracks: TrackSet, version: u8, s: &mut [u8; 64]) -> usize {
    let mut w = SectionWriter::new(s, 0x02, PROGRAM_NUMBER, version);
    w.put(&(0xE000 | tracks.pcr_pid()).to_be_bytes());
    w.put(&[0xF0, 0x00]);
    if let Some(stream_type) = tracks.video {
        w.put(&[stream_type]);
        w.put(&(0xE000 | VIDEO_PID).to_be_bytes());
        w.put(&[0xF0, 0x00]);
    }
    if tracks.audio {
        w.put(&[STREAM_TYPE_AAC_ADTS]);
        w.put(&(0xE000 | AUDIO_PID).to_be_bytes());
        w.put(&[0xF0, 0x00]);
    }
    w.finish()
}

/// A long-form PSI section: table_id, section_syntax_indicator 1, section_length, the 16-bit
/// id, reserved, version_number, current_next_indicator 1, section numbers 0/0, body, CRC_32.
struct SectionWriter<'a> {
    s: &'a mut [u8; 64],
    len: usize,
}

impl<'a> SectionWriter<'a> {
    fn new(s: &'a mut [u8; 64], table_id: u8, id: u16, version: u8) -> Self {
        let [hi, lo] = id.to_be_bytes();
        s[..8].copy_from_slice(&[table_id, 0, 0, hi, lo, 0xC1 | (version & 0x1F) << 1, 0, 0]);
        SectionWriter { s, len: 8 }
    }

    fn put(&mut self, b: &[u8]) {
        self.s[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    fn finish(mut self) -> usize {
        // section_length counts the bytes after it, CRC included.
        let section_length = (self.len - 3 + 4) as u16;
        self.s[1] = 0xB0 | (section_length >> 8) as u8;
        self.s[2] = section_length as u8;
        let crc = crc32_mpeg2(&self.s[..self.len]);
        self.put(&crc.to_be_bytes());
        self.len
    }
}

fn slot(pid: u16) -> usize {
    match pid {
        PAT_PID => 0,
        PMT_PID => 1,
        VIDEO_PID => 2,
        _ => 3,
    }
}

/// The 5-byte PTS/DTS coding of §2.4.3.7: a 4-bit prefix, 33 bits with marker bits between.
fn timestamp_bytes(prefix: u8, t: u64) -> [u8; 5] {
    let t = t % TIMESTAMP_WRAP;
    [
        prefix << 4 | ((t >> 29) as u8 & 0x0E) | 1,
        (t >> 22) as u8,
        ((t >> 14) as u8 & 0xFE) | 1,
        (t >> 7) as u8,
        ((t << 1) as u8 & 0xFE) | 1,
    ]
}

/// PCR (27 MHz) as program_clock_reference_base (33 bits, 90 kHz), 6 reserved bits and
/// _extension (9 bits, 0..300), §2.4.3.5.
fn pcr_bytes(pcr: u64) -> [u8; 6] {
    let base = (pcr / 300) % TIMESTAMP_WRAP;
    let ext = pcr % 300;
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        ((base & 1) as u8) << 7 | 0x7E | (ext >> 8) as u8,
        ext as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::packet::{self, TsPacket};
    use crate::media::pes;
    use crate::media::psi::PsiCache;
    use crate::media::ts;

    fn packets(out: &[u8]) -> Vec<TsPacket> {
        assert_eq!(ts::validate(out).map(|n| n * 188), Ok(out.len()));
        ts::packets(out).copied().collect()
    }

    #[test]
    fn psi_parses_with_our_cache() {
        let mut w = TsWriter::default();
        let mut out = Vec::new();
        let both = TrackSet {
            video: Some(STREAM_TYPE_H264),
            audio: true,
        };
        w.psi(both, 3, &mut out);
        let mut cache = PsiCache::new();
        for p in packets(&out) {
            cache.observe(&p);
        }
        assert_eq!(cache.stats().crc_errors, 0);
        assert_eq!(cache.video_pid(), Some(VIDEO_PID));
        assert_eq!(cache.audio_pids(), &[AUDIO_PID]);
        assert_eq!(cache.header().map(<[u8]>::len), Some(376));
        // Audio only: the PCR moves to the audio PID.
        let audio = TrackSet {
            video: None,
            audio: true,
        };
        assert_eq!(audio.pcr_pid(), AUDIO_PID);
        assert_eq!(both.pcr_pid(), VIDEO_PID);
    }

    #[test]
    fn pes_packets_carry_rai_pcr_and_stuffing() {
        let mut w = TsWriter::default();
        let mut hdr = Vec::new();
        pes_header(STREAM_ID_VIDEO, 93_000, 90_000, None, &mut hdr);
        assert_eq!(hdr.len(), 19, "9 fixed bytes, PTS and DTS");
        // Lengths around the packet boundaries: one byte short of full, full, one over.
        for extra in [0usize, 1, 2, 150, 157, 158, 159, 160, 400] {
            let mut data = hdr.clone();
            data.extend(std::iter::repeat_n(0xAB, extra));
            let mut out = Vec::new();
            let start = Start {
                rai: true,
                pcr: Some(81_000 * 300),
            };
            let n = w.pes(VIDEO_PID, &data, start, &mut out);
            let pkts = packets(&out);
            assert_eq!(pkts.len() as u64, n);
            assert!(ts::is_video_random_access(&pkts[0]), "{extra}");
            assert_eq!(pes::pcr(&pkts[0]), Some(81_000 * 300));
            let s = pes::pes_start(&pkts[0]).expect("a PES starts");
            assert_eq!((s.pts, s.dts), (Some(93_000), Some(90_000)));
            let body: Vec<u8> = pkts
                .iter()
                .flat_map(|p| packet::payload(p).unwrap_or(&[]).to_vec())
                .collect();
            assert_eq!(body, data, "{extra}: payloads are the PES, stuffing is not");
            for p in &pkts[1..] {
                assert!(!packet::pusi(p));
            }
        }
    }

    #[test]
    fn continuity_counters_per_pid() {
        let mut w = TsWriter::default();
        let mut out = Vec::new();
        for _ in 0..20 {
            w.psi(TrackSet::default(), 0, &mut out);
            w.pes(
                AUDIO_PID,
                &[0, 0, 1, 0xC0, 0, 0],
                Start::default(),
                &mut out,
            );
        }
        w.pcr_only(AUDIO_PID, 27_000_000, &mut out);
        let mut last = [None::<u8>; 0x2000];
        for p in packets(&out) {
            let pid = packet::pid(&p) as usize;
            let cc = packet::continuity_counter(&p);
            if let Some(prev) = last[pid] {
                let want = if packet::has_payload(&p) {
                    (prev + 1) & 0x0F
                } else {
                    prev
                };
                assert_eq!(cc, want, "pid {pid:#x}");
            }
            last[pid] = Some(cc);
        }
        let pcr_only: TsPacket = out[out.len() - 188..].try_into().expect("a packet");
        assert_eq!(pes::pcr(&pcr_only), Some(27_000_000));
        assert_eq!(packet::payload(&pcr_only), None);
    }

    #[test]
    fn timestamps_wrap_at_33_bits() {
        let mut hdr = Vec::new();
        pes_header(
            STREAM_ID_AUDIO,
            TIMESTAMP_WRAP + 5,
            TIMESTAMP_WRAP + 5,
            Some(10),
            &mut hdr,
        );
        assert_eq!(hdr.len(), 14);
        assert_eq!(u16::from_be_bytes([hdr[4], hdr[5]]), 3 + 5 + 10);
        let mut p = [0xFFu8; 188];
        p[..4].copy_from_slice(&[0x47, 0x41, 0x01, 0x10]);
        p[4..4 + hdr.len()].copy_from_slice(&hdr);
        let s = pes::pes_start(&p).expect("parses");
        assert_eq!((s.pts, s.dts), (Some(5), None));
    }
}
