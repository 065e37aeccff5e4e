//! Test-only TS muxer: PAT/PMT sections and PES packets cut into TS packets, written from
//! ISO/IEC 13818-1 (§2.4.3 packets and adaptation fields, §2.4.3.6 PES headers, §2.4.4 PSI)
//! so tests can build streams with exactly the properties they check.

// Shared by the tests of several modules; each uses a part.
#![allow(dead_code)]

use super::packet::TsPacket;
use super::psi::crc32_mpeg2;

/// Per-PID continuity counters; each call returns that PID's next packets.
pub struct Mux {
    cc: Vec<u8>,
}

impl Default for Mux {
    fn default() -> Self {
        Mux { cc: vec![0; 8192] }
    }
}

/// Options for the first TS packet of a PES.
#[derive(Debug, Default, Clone, Copy)]
pub struct Start {
    pub rai: bool,
    /// PCR in 27 MHz units.
    pub pcr: Option<u64>,
}

impl Mux {
    pub fn pat(&mut self, programs: &[(u16, u16)]) -> Vec<TsPacket> {
        self.section(0, &pat_section(programs, 0))
    }

    /// PMT of program 1 on `pmt_pid`, PCR on the first stream.
    pub fn pmt(&mut self, pmt_pid: u16, streams: &[(u8, u16, &[u8])]) -> Vec<TsPacket> {
        let pcr = streams.first().map_or(0x1FFF, |s| s.1);
        self.section(pmt_pid, &pmt_section(1, 0, pcr, streams))
    }

    /// One section (CRC included) from a PUSI packet with pointer_field 0, stuffed with 0xFF.
    pub fn section(&mut self, pid: u16, section: &[u8]) -> Vec<TsPacket> {
        let mut data = vec![0u8];
        data.extend_from_slice(section);
        data.chunks(184)
            .enumerate()
            .map(|(i, chunk)| {
                let mut p = [0xFF; 188];
                p[0] = 0x47;
                p[1] = ((i == 0) as u8) << 6 | (pid >> 8) as u8;
                p[2] = pid as u8;
                p[3] = 0x10 | self.next_cc(pid);
                p[4..4 + chunk.len()].copy_from_slice(chunk);
                p
            })
            .collect()
    }

    /// A PES packet (`stream_id`, PTS/DTS in 90 kHz) with `data` as its payload, in TS packets.
    pub fn pes(
        &mut self,
        pid: u16,
        stream_id: u8,
        pts: Option<u64>,
        dts: Option<u64>,
        data: &[u8],
        start: Start,
    ) -> Vec<TsPacket> {
        let pes = pes_packet(stream_id, pts, dts, data);
        self.payload(pid, &pes, start)
    }

    /// `bytes` as one payload unit on `pid`: PUSI on the first packet, adaptation-field
    /// stuffing on the last.
    pub fn payload(&mut self, pid: u16, bytes: &[u8], start: Start) -> Vec<TsPacket> {
        let mut out = Vec::new();
        let mut rest = bytes;
        let mut first = true;
        while first || !rest.is_empty() {
            let mut af: Option<Vec<u8>> = None;
            if first && (start.rai || start.pcr.is_some()) {
                let mut f = vec![(start.rai as u8) << 6 | (start.pcr.is_some() as u8) << 4];
                if let Some(pcr) = start.pcr {
                    f.extend_from_slice(&pcr_bytes(pcr));
                }
                af = Some(f);
            }
            let af_len = af.as_ref().map_or(0, |f| 1 + f.len());
            let space = 184 - af_len;
            if rest.len() < space {
                let stuff = space - rest.len();
                match &mut af {
                    Some(f) => f.extend(std::iter::repeat_n(0xFF, stuff)),
                    None if stuff == 1 => af = Some(Vec::new()),
                    None => {
                        let mut f = vec![0u8];
                        f.extend(std::iter::repeat_n(0xFF, stuff - 2));
                        af = Some(f);
                    }
                }
            }
            let mut p = [0xFF; 188];
            p[0] = 0x47;
            p[1] = (first as u8) << 6 | (pid >> 8) as u8;
            p[2] = pid as u8;
            let mut at = 4;
            p[3] = 0x10 | self.next_cc(pid);
            if let Some(f) = &af {
                p[3] |= 0x20;
                p[4] = f.len() as u8;
                p[5..5 + f.len()].copy_from_slice(f);
                at = 5 + f.len();
            }
            let n = (188 - at).min(rest.len());
            p[at..at + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            out.push(p);
            first = false;
        }
        out
    }

    fn next_cc(&mut self, pid: u16) -> u8 {
        let c = &mut self.cc[pid as usize & 0x1FFF];
        let v = *c;
        *c = (v + 1) & 0x0F;
        v
    }
}

/// A PAT (§2.4.4.3) listing `(program_number, pmt_pid)`, CRC appended.
pub fn pat_section(programs: &[(u16, u16)], version: u8) -> Vec<u8> {
    let mut s = vec![0x00, 0, 0, 0x00, 0x01, 0xC1 | (version & 0x1F) << 1, 0, 0];
    for &(n, pid) in programs {
        s.extend_from_slice(&n.to_be_bytes());
        s.extend_from_slice(&(0xE000 | pid).to_be_bytes());
    }
    with_crc(s)
}

/// A PMT (§2.4.4.9) for `program` with `(stream_type, pid, descriptors)` entries.
pub fn pmt_section(
    program: u16,
    version: u8,
    pcr_pid: u16,
    streams: &[(u8, u16, &[u8])],
) -> Vec<u8> {
    let mut s = vec![0x02, 0, 0];
    s.extend_from_slice(&program.to_be_bytes());
    s.extend_from_slice(&[0xC1 | (version & 0x1F) << 1, 0, 0]);
    s.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
    s.extend_from_slice(&[0xF0, 0x00]);
    for &(st, pid, desc) in streams {
        s.push(st);
        s.extend_from_slice(&(0xE000 | pid).to_be_bytes());
        s.extend_from_slice(&(0xF000 | desc.len() as u16).to_be_bytes());
        s.extend_from_slice(desc);
    }
    with_crc(s)
}

/// Fills in `section_length` (bytes after it, CRC included) and appends the CRC_32.
pub fn with_crc(mut s: Vec<u8>) -> Vec<u8> {
    let len = (s.len() - 3 + 4) as u16;
    s[1] = 0xB0 | (len >> 8) as u8;
    s[2] = len as u8;
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// A PES packet (§2.4.3.6). Video (0xE0..) gets PES_packet_length 0 (unbounded), as muxers
/// write it for video.
pub fn pes_packet(stream_id: u8, pts: Option<u64>, dts: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    let flags = match (pts, dts) {
        (Some(_), Some(_)) => 0xC0,
        (Some(_), None) => 0x80,
        _ => 0x00,
    };
    if let Some(p) = pts {
        h.extend_from_slice(&timestamp_bytes(if dts.is_some() { 0x3 } else { 0x2 }, p));
    }
    if let (Some(_), Some(d)) = (pts, dts) {
        h.extend_from_slice(&timestamp_bytes(0x1, d));
    }
    let mut out = vec![0, 0, 1, stream_id];
    let len = 3 + h.len() + data.len();
    let field = if stream_id & 0xF0 == 0xE0 || len > 0xFFFF {
        0
    } else {
        len as u16
    };
    out.extend_from_slice(&field.to_be_bytes());
    out.extend_from_slice(&[0x80, flags, h.len() as u8]);
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// The 5-byte PTS/DTS coding of §2.4.3.7 with its 4-bit prefix.
pub fn timestamp_bytes(prefix: u8, t: u64) -> [u8; 5] {
    let t = t & 0x1_FFFF_FFFF;
    [
        prefix << 4 | ((t >> 29) as u8 & 0x0E) | 1,
        (t >> 22) as u8,
        ((t >> 14) as u8 & 0xFE) | 1,
        (t >> 7) as u8,
        ((t << 1) as u8 & 0xFE) | 1,
    ]
}

/// PCR (27 MHz) as program_clock_reference_base (33 bits) and _extension (9 bits), §2.4.3.5.
pub fn pcr_bytes(pcr: u64) -> [u8; 6] {
    let base = (pcr / 300) & 0x1_FFFF_FFFF;
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

/// An H.264 access unit in Annex B: AUD, then for an IDR SPS, PPS and an IDR slice (type 5),
/// else a non-IDR slice (type 1), padded to about `size` bytes.
pub fn h264_au(idr: bool, size: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0x09, 0xF0];
    if idr {
        v.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0xD9]);
        v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80]);
        v.extend_from_slice(&[0, 0, 1, 0x65, 0x88]);
    } else {
        v.extend_from_slice(&[0, 0, 1, 0x41, 0x9A]);
    }
    while v.len() < size {
        v.push(0xAA);
    }
    v
}

pub fn concat(pkts: &[TsPacket]) -> Vec<u8> {
    pkts.iter().flatten().copied().collect()
}

/// The ffmpeg fixture (tests/vectors/media/README.md): libx264 (keyframe every 25 frames at
/// 25 fps) and AAC, 5 s.
pub const FFMPEG_FIXTURE: &[u8] = include_bytes!("../../tests/vectors/media/ffmpeg_h264_aac_5s.ts");
