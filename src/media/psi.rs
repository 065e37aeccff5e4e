//! The stream's current PAT and PMTs, kept as the TS packets that carried them.
//!
//! Owns: reassembling PAT (PID 0) and PMT sections across packets (ISO/IEC 13818-1 §2.4.4),
//! checking their CRC, classifying the elementary streams a PMT names, and handing out the
//! latest complete tables as raw 188-byte packets so an HLS segment (or a player joining
//! mid-stream) can begin with them.
//! Must not: look at PES payloads, read the clock, allocate for packets of other PIDs (a
//! complete section costs one buffer), or panic on any input. Memory is bounded: at most [`MAX_PROGRAMS`] PMTs, each at most
//! [`MAX_SECTION_PACKETS`] packets.

#![deny(clippy::disallowed_methods)]

use super::packet::{self, PAT_PID, TsPacket};
use super::ts::TS_PACKET_LEN;

/// A section is kept as at most this many packets (from its PUSI packet to the one where it
/// ends). §2.4.4.4/§2.4.4.9 limit PAT and PMT sections to 1024 bytes, i.e. six packets; more
/// means a broken stream.
pub const MAX_SECTION_PACKETS: usize = 8;
/// Programs beyond this many in a PAT are ignored (counted): a relay stream is a single
/// program in practice, and the bound keeps a hostile PAT from costing 253 PMT buffers.
pub const MAX_PROGRAMS: usize = 16;
/// ES entries kept per PMT; more are ignored (counted).
pub const MAX_STREAMS_PER_PROGRAM: usize = 32;

/// §2.4.4.4, §2.4.4.9: `section_length` of a PAT or PMT "shall not exceed 1021".
const MAX_SECTION_LENGTH: usize = 1021;
const TABLE_ID_PAT: u8 = 0x00;
const TABLE_ID_PMT: u8 = 0x02;
/// A `table_id` of 0xFF is stuffing: no further section in this packet (§2.4.4.1).
const TABLE_ID_STUFFING: u8 = 0xFF;

/// What an elementary stream carries, as far as segmenting cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EsKind {
    Video,
    Audio,
    Other,
}

/// One elementary stream of a PMT's ES loop (§2.4.4.9, Table 2-33).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EsInfo {
    pub pid: u16,
    /// `stream_type` (Table 2-34; 0x1B H.264, 0x24 HEVC, 0x0F AAC ADTS, ...).
    pub stream_type: u8,
    pub kind: EsKind,
}

/// Counters kept by [`PsiCache`]; plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PsiStats {
    /// Complete PAT/PMT sections whose CRC matched.
    pub sections: u64,
    /// Complete sections whose CRC_32 did not match (ignored).
    pub crc_errors: u64,
    /// Sections with impossible framing: pointer past the payload, a length over 1021 or too
    /// short for its table, a syntax indicator of 0, an ES loop overrunning the section, more
    /// than [`MAX_SECTION_PACKETS`] packets.
    pub malformed: u64,
    /// Sections abandoned because a packet of theirs went missing (continuity counter jump).
    pub continuity_breaks: u64,
    /// Valid sections not used: `current_next_indicator` 0, multi-section tables, other
    /// table ids on a PMT PID, programs or streams over the caps.
    pub ignored: u64,
    /// Times the PAT or a PMT changed content (as [`PsiCache::version`]).
    pub changes: u64,
}

/// The latest PAT and PMTs of one stream. Feed it every TS packet with [`PsiCache::observe`].
///
/// The tables are kept as the very packets that carried them, their continuity counters
/// untouched: those are the last counters seen on the PSI PIDs (the PIDs carry nothing else),
/// so a segment that starts with [`PsiCache::header`] after the previous segment's last PAT
/// repeats it as the duplicate §2.4.3.3 allows, and the stream's next PAT continues the count.
#[derive(Debug, Default)]
pub struct PsiCache {
    pat: Option<Table>,
    /// The programs the current PAT names, in its order, at most [`MAX_PROGRAMS`].
    programs: Vec<Program>,
    /// Reassembly state per PSI PID (PID 0 and each distinct PMT PID).
    assemblers: Vec<Assembler>,
    header: Vec<u8>,
    header_ready: bool,
    audio_pids: Vec<u16>,
    video: Option<EsInfo>,
    stats: PsiStats,
}

impl PsiCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one TS packet of the stream. Packets of PIDs other than the PSI ones cost a PID
    /// comparison per PSI PID.
    pub fn observe(&mut self, pkt: &TsPacket) {
        if packet::transport_error(pkt) {
            return;
        }
        let pid = packet::pid(pkt);
        if pid != PAT_PID && !self.programs.iter().any(|p| p.pmt_pid == pid) {
            return;
        }
        let idx = match self.assemblers.iter().position(|a| a.pid == pid) {
            Some(i) => i,
            None => {
                self.assemblers.push(Assembler::new(pid));
                self.assemblers.len() - 1
            }
        };
        let mut done: [Option<Completed>; 4] = Default::default();
        let mut n = 0;
        self.assemblers[idx].feed(pkt, &mut self.stats, |c| {
            // Four sections ending in one packet is already absurd; further ones are dropped.
            if n < done.len() {
                done[n] = Some(c);
                n += 1;
            }
        });
        let mut changed = false;
        for c in done.iter_mut().filter_map(Option::take) {
            changed |= self.on_section(pid, c);
        }
        if changed {
            self.stats.changes += 1;
        }
        if n > 0 {
            self.rebuild_header();
        }
    }

    /// The PAT packets followed by the PMT packets of every program whose PMT is known, whole
    /// 188-byte packets; `None` until the PAT and at least one PMT it names are known.
    pub fn header(&self) -> Option<&[u8]> {
        self.header_ready.then_some(&self.header[..])
    }

    /// The first video stream of the first program that has one.
    pub fn video(&self) -> Option<EsInfo> {
        self.video
    }

    pub fn video_pid(&self) -> Option<u16> {
        self.video.map(|v| v.pid)
    }

    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// `PCR_PID` of the first program whose PMT is known: the PID whose PCRs give the
    /// program's time base (a splice marks the time-base change there). 0x1FFF (no PCR) is
    /// returned as is.
    pub fn pcr_pid(&self) -> Option<u16> {
        self.programs.iter().find_map(|p| p.pcr_pid)
    }

    /// Audio PIDs of every program, in PAT then ES-loop order.
    pub fn audio_pids(&self) -> &[u16] {
        &self.audio_pids
    }

    /// Every elementary stream of every known PMT, in PAT then ES-loop order.
    pub fn streams(&self) -> impl Iterator<Item = &EsInfo> {
        self.programs.iter().flat_map(|p| p.streams.iter())
    }

    /// Whether `pid` carries PSI this cache follows (the PAT or a PMT).
    pub fn is_psi_pid(&self, pid: u16) -> bool {
        pid == PAT_PID || self.programs.iter().any(|p| p.pmt_pid == pid)
    }

    /// Changes whenever the PAT's or a PMT's content changes (not on mere repetitions).
    pub fn version(&self) -> u64 {
        self.stats.changes
    }

    pub fn stats(&self) -> &PsiStats {
        &self.stats
    }

    /// Applies one reassembled section; returns whether a table's content changed.
    fn on_section(&mut self, pid: u16, c: Completed) -> bool {
        let s = &c.section;
        // §2.4.4.2: CRC_32 gives a zero register after the whole section, CRC included.
        if crc32_mpeg2(s) != 0 {
            self.stats.crc_errors += 1;
            return false;
        }
        // Every PAT/PMT field up to last_section_number: 8 bytes, plus the CRC.
        if s.len() < 12 || s[1] & 0x80 == 0 {
            self.stats.malformed += 1;
            return false;
        }
        self.stats.sections += 1;
        let current = s[5] & 0x01 != 0;
        // Multi-section PATs/PMTs do not occur in single-program contribution streams.
        let single = s[6] == 0 && s[7] == 0;
        if !current || !single {
            self.stats.ignored += 1;
            return false;
        }
        match (pid, s[0]) {
            (PAT_PID, TABLE_ID_PAT) => self.on_pat(c),
            (_, TABLE_ID_PMT) if pid != PAT_PID => self.on_pmt(pid, c),
            _ => {
                self.stats.ignored += 1;
                false
            }
        }
    }

    fn on_pat(&mut self, c: Completed) -> bool {
        if let Some(pat) = &mut self.pat
            && pat.section == c.section
        {
            pat.packets = c.packets;
            return false;
        }
        // §2.4.4.3, Table 2-30: 4-byte (program_number, PID) entries between byte 8 and the CRC.
        let body = &c.section[8..c.section.len() - 4];
        let mut programs = Vec::new();
        for e in body.chunks_exact(4) {
            let number = u16::from_be_bytes([e[0], e[1]]);
            let pmt_pid = u16::from_be_bytes([e[2] & 0x1F, e[3]]);
            // Program 0 names the network PID (NIT), not a PMT.
            if number == 0 {
                continue;
            }
            if programs.len() == MAX_PROGRAMS {
                self.stats.ignored += 1;
                break;
            }
            // A PMT the previous PAT also named (same program, same PID) stays valid.
            let kept = self
                .programs
                .iter()
                .position(|p| p.number == number && p.pmt_pid == pmt_pid)
                .map(|i| self.programs.swap_remove(i));
            programs.push(kept.unwrap_or(Program {
                number,
                pmt_pid,
                pmt: None,
                streams: Vec::new(),
                pcr_pid: None,
            }));
        }
        self.programs = programs;
        self.assemblers
            .retain(|a| a.pid == PAT_PID || self.programs.iter().any(|p| p.pmt_pid == a.pid));
        self.pat = Some(Table {
            section: c.section,
            packets: c.packets,
        });
        self.reclassify();
        true
    }

    fn on_pmt(&mut self, pid: u16, c: Completed) -> bool {
        let s = &c.section;
        let number = u16::from_be_bytes([s[3], s[4]]);
        let Some(prog) = self
            .programs
            .iter_mut()
            .find(|p| p.pmt_pid == pid && p.number == number)
        else {
            self.stats.ignored += 1;
            return false;
        };
        if let Some(pmt) = &mut prog.pmt
            && pmt.section == c.section
        {
            pmt.packets = c.packets;
            return false;
        }
        let Some((streams, over_cap)) = parse_pmt_streams(s) else {
            self.stats.malformed += 1;
            return false;
        };
        if over_cap {
            self.stats.ignored += 1;
        }
        prog.streams = streams;
        // Bytes 8..10: 3 reserved bits, then the 13-bit PCR_PID.
        prog.pcr_pid = Some(u16::from_be_bytes([s[8] & 0x1F, s[9]]));
        prog.pmt = Some(Table {
            section: c.section,
            packets: c.packets,
        });
        self.reclassify();
        true
    }

    fn reclassify(&mut self) {
        let video = self.streams().find(|e| e.kind == EsKind::Video).copied();
        self.video = video;
        let audio: Vec<u16> = self
            .streams()
            .filter(|e| e.kind == EsKind::Audio)
            .map(|e| e.pid)
            .collect();
        self.audio_pids = audio;
    }

    fn rebuild_header(&mut self) {
        self.header.clear();
        let Some(pat) = &self.pat else {
            self.header_ready = false;
            return;
        };
        self.header.extend_from_slice(&pat.packets);
        let mut any_pmt = false;
        for pmt in self.programs.iter().filter_map(|p| p.pmt.as_ref()) {
            self.header.extend_from_slice(&pmt.packets);
            any_pmt = true;
        }
        self.header_ready = any_pmt;
    }
}

/// MPEG-2 CRC-32 (ISO/IEC 13818-1 Annex A: polynomial 0x04C11DB7, register preset to all ones,
/// no reflection, no final XOR). Over a whole section including its CRC_32 field it is 0.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize]
    })
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Classifies a `stream_type` (Table 2-34 and the ATSC A/52 user-private values), looking at
/// the ES descriptors only for 0x06 (PES private data), where DVB (EN 300 468) signals AC-3,
/// E-AC-3 and Opus by descriptor.
pub fn classify(stream_type: u8, es_descriptors: &[u8]) -> EsKind {
    match stream_type {
        // MPEG-1/2 video, MPEG-4 visual, H.264, HEVC, VVC, Chinese AVS (0x42) and VC-1 (0xEA),
        // the last two as ffmpeg's muxer writes them.
        0x01 | 0x02 | 0x10 | 0x1B | 0x24 | 0x33 | 0x42 | 0xEA => EsKind::Video,
        // MPEG-1/2 audio, AAC ADTS, AAC LATM, AC-3 and E-AC-3 (ATSC A/52 Annex A).
        0x03 | 0x04 | 0x0F | 0x11 | 0x81 | 0x87 => EsKind::Audio,
        0x06 if private_audio(es_descriptors) => EsKind::Audio,
        _ => EsKind::Other,
    }
}

/// DVB AC-3 (0x6A) or enhanced AC-3 (0x7A) descriptor, the extension descriptor (0x7F) with
/// Opus's tag extension 0x80 (ETSI TS 102 366, EN 300 468 Annex F), or a registration
/// descriptor (0x05, §2.6.8) naming "AC-3", "EAC3" or "Opus".
fn private_audio(mut d: &[u8]) -> bool {
    while let [tag, len, rest @ ..] = d {
        let Some(body) = rest.get(..*len as usize) else {
            return false;
        };
        match (*tag, body) {
            (0x6A | 0x7A, _) => return true,
            (0x7F, [0x80, ..]) => return true,
            (0x05, [a, b, c, e, ..])
                if matches!(&[*a, *b, *c, *e], b"AC-3" | b"EAC3" | b"Opus") =>
            {
                return true;
            }
            _ => {}
        }
        d = &rest[*len as usize..];
    }
    false
}

/// The ES loop of a CRC-checked PMT section (§2.4.4.9, Table 2-33), or `None` when its
/// lengths overrun the section. The flag says entries were dropped over the cap.
fn parse_pmt_streams(s: &[u8]) -> Option<(Vec<EsInfo>, bool)> {
    // table_id..last_section_number (8), PCR_PID (2), program_info_length (2), ..., CRC (4).
    let end = s.len().checked_sub(4)?;
    let info_len = (u16::from_be_bytes([*s.get(10)? & 0x0F, *s.get(11)?])) as usize;
    let mut at = 12usize.checked_add(info_len)?;
    if at > end {
        return None;
    }
    let mut streams = Vec::new();
    let mut over_cap = false;
    while at < end {
        let e = s.get(at..at + 5).filter(|_| at + 5 <= end)?;
        let stream_type = e[0];
        let pid = u16::from_be_bytes([e[1] & 0x1F, e[2]]);
        let es_info_len = u16::from_be_bytes([e[3] & 0x0F, e[4]]) as usize;
        let desc_end = at + 5 + es_info_len;
        if desc_end > end {
            return None;
        }
        if streams.len() < MAX_STREAMS_PER_PROGRAM {
            streams.push(EsInfo {
                pid,
                stream_type,
                kind: classify(stream_type, &s[at + 5..desc_end]),
            });
        } else {
            over_cap = true;
        }
        at = desc_end;
    }
    Some((streams, over_cap))
}

#[derive(Debug)]
struct Table {
    /// The section bytes, CRC included: compared to tell a change from a repetition.
    section: Vec<u8>,
    /// The packets that carried it, concatenated.
    packets: Vec<u8>,
}

#[derive(Debug)]
struct Program {
    number: u16,
    pmt_pid: u16,
    pmt: Option<Table>,
    streams: Vec<EsInfo>,
    /// `PCR_PID` of the current PMT (§2.4.4.9); 0x1FFF means the program has no PCR.
    pcr_pid: Option<u16>,
}

/// A section just reassembled, with its packets.
#[derive(Debug)]
struct Completed {
    section: Vec<u8>,
    packets: Vec<u8>,
}

/// Reassembles the sections of one PID (§2.4.4.1-2: `pointer_field` in packets with PUSI,
/// sections continuing across packets in continuity-counter order).
#[derive(Debug)]
struct Assembler {
    pid: u16,
    /// The section being collected: bytes so far and total length once its 3-byte header is
    /// in.
    section: Vec<u8>,
    need: Option<usize>,
    packets: Vec<u8>,
    in_progress: bool,
    last_cc: Option<u8>,
}

impl Assembler {
    fn new(pid: u16) -> Self {
        Assembler {
            pid,
            section: Vec::new(),
            need: None,
            packets: Vec::new(),
            in_progress: false,
            last_cc: None,
        }
    }

    fn feed(&mut self, pkt: &TsPacket, stats: &mut PsiStats, mut done: impl FnMut(Completed)) {
        let Some(payload) = packet::payload(pkt) else {
            // No payload, no counter step (§2.4.3.3).
            return;
        };
        let cc = packet::continuity_counter(pkt);
        let expected = self.last_cc.map(|c| (c + 1) & 0x0F);
        if self.in_progress && self.last_cc == Some(cc) {
            // §2.4.3.3: a packet may be sent twice; the copy carries nothing new. Outside a
            // section a repeated counter is not skipped: some muxers never advance it on PSI.
            return;
        }
        self.last_cc = Some(cc);
        if self.in_progress && expected != Some(cc) {
            stats.continuity_breaks += 1;
            self.reset();
        }
        let mut rest = payload;
        if packet::pusi(pkt) {
            let pointer = payload[0] as usize;
            let Some(tail) = payload.get(1..1 + pointer) else {
                stats.malformed += 1;
                self.reset();
                return;
            };
            if self.in_progress {
                // The bytes before the pointer finish the section the last packets began.
                if !self.push_packet(pkt, stats) {
                    return;
                }
                self.take(tail, stats, &mut done);
                if self.in_progress {
                    // The pointer says the old section ended, and it was still short.
                    stats.malformed += 1;
                    self.reset();
                }
            }
            rest = &payload[1 + pointer..];
        } else if !self.in_progress {
            // The middle of a section we did not see start.
            return;
        } else {
            if !self.push_packet(pkt, stats) {
                return;
            }
            self.take(rest, stats, &mut done);
            return;
        }
        // Sections starting in this packet: the first at the pointer, further ones right
        // after each other until stuffing (§2.4.4.1).
        while let Some(&table_id) = rest.first() {
            if table_id == TABLE_ID_STUFFING {
                break;
            }
            self.in_progress = true;
            self.section.clear();
            self.need = None;
            self.packets.clear();
            if !self.push_packet(pkt, stats) {
                return;
            }
            rest = self.take(rest, stats, &mut done);
            if self.in_progress {
                break;
            }
        }
    }

    /// Appends `pkt` to the section's packets unless that makes too many.
    fn push_packet(&mut self, pkt: &TsPacket, stats: &mut PsiStats) -> bool {
        if self.packets.len() >= MAX_SECTION_PACKETS * TS_PACKET_LEN {
            stats.malformed += 1;
            self.reset();
            return false;
        }
        self.packets.extend_from_slice(pkt);
        true
    }

    /// Moves section bytes from `bytes`; returns what is left after a section that ended.
    fn take<'a>(
        &mut self,
        mut bytes: &'a [u8],
        stats: &mut PsiStats,
        done: &mut impl FnMut(Completed),
    ) -> &'a [u8] {
        if self.need.is_none() {
            let want = 3 - self.section.len().min(3);
            let n = want.min(bytes.len());
            self.section.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.section.len() < 3 {
                return bytes;
            }
            // §2.4.4.4/§2.4.4.9: 12-bit section_length, first two bits "00", at most 1021.
            let len = (u16::from_be_bytes([self.section[1], self.section[2]]) & 0x0FFF) as usize;
            if len > MAX_SECTION_LENGTH {
                stats.malformed += 1;
                self.reset();
                return &[];
            }
            self.need = Some(3 + len);
        }
        let need = self.need.unwrap_or(0);
        let n = need.saturating_sub(self.section.len()).min(bytes.len());
        self.section.extend_from_slice(&bytes[..n]);
        if self.section.len() == need {
            self.in_progress = false;
            self.need = None;
            done(Completed {
                section: std::mem::take(&mut self.section),
                packets: std::mem::take(&mut self.packets),
            });
        }
        &bytes[n..]
    }

    fn reset(&mut self) {
        self.in_progress = false;
        self.need = None;
        self.section.clear();
        self.packets.clear();
    }
}

#[cfg(test)]
#[path = "psi_tests.rs"]
mod tests;
