//! The splice from one source of an ingest to the next: a failover to another upstream, a
//! reconnect, a file that loops.
//!
//! Owns: the continuity counter this ingest last emitted on each PID, the wait for the new
//! source's PAT/PMT and first random-access point, the constant per-PID counter offset that
//! makes every PID continue across the splice (ISO/IEC 13818-1 §2.4.3.3), and the
//! `discontinuity_indicator` that tells players the PCR time base changed (§2.4.3.5); the
//! new source's timestamps are shifted to continue the old timeline (`restamp.rs`).
//! Must not: hold packets back (what precedes the random-access point is dropped, counted),
//! read the clock, or change a byte of the first source: with no earlier output every offset
//! is zero and nothing is marked.

#![deny(clippy::disallowed_methods)]

use super::packetizer::TsIngestStats;
use super::restamp::Restamp;
use crate::media::packet::{self, NULL_PID, TsPacket};
use crate::media::pes;
use crate::media::psi::PsiCache;
use crate::media::ts::{self, TS_PACKET_LEN};

/// One entry per 13-bit PID: a flat table costs 8 KB and no hashing per packet.
const PIDS: usize = 8192;
/// "No counter yet" in the per-PID tables (counters are 4 bits).
const UNSET: u8 = 0xFF;

/// What the ingest does with one packet of the current source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not emitted: the new source has not reached its tables and random-access point yet.
    Drop,
    /// Emit the packet as [`Splice::process`] left it.
    Emit,
    /// The splice point: emit [`Splice::header`] (the new source's PAT and PMT), then the
    /// packet.
    Start,
}

/// Splice state of one ingest across its sources.
#[derive(Debug)]
pub struct Splice {
    /// Between a switch and the new source's random-access point.
    waiting: bool,
    /// Whether anything was ever emitted: a source after an empty one needs no splice.
    emitted_any: bool,
    /// The counter last emitted per PID, `UNSET` if the PID never was.
    last_cc: Box<[u8; PIDS]>,
    /// What the current source's counters get added per PID, `UNSET` until its first packet
    /// on that PID is emitted. Constant for the rest of the source, so the source's own
    /// continuity (or breaks) show through unchanged.
    offset: Box<[u8; PIDS]>,
    /// While waiting: the counter the new source last sent per PID, so the table packets
    /// re-sent at the splice are numbered just before the source's next in-band ones.
    seen_cc: Box<[u8; PIDS]>,
    /// The new source's tables, CRC-checked.
    psi: PsiCache,
    /// The PCR PID whose next packet with an adaptation field gets the discontinuity flag.
    mark_pid: Option<u16>,
    /// The table packets to emit at the splice, renumbered.
    header: Vec<u8>,
    /// The timeline across sources (`restamp.rs`).
    restamp: Restamp,
    /// The first source's tables, to name its reference PID for `restamp`.
    first_psi: Option<PsiCache>,
}

impl Default for Splice {
    fn default() -> Self {
        Self::new()
    }
}

impl Splice {
    pub fn new() -> Self {
        Splice {
            waiting: false,
            emitted_any: false,
            last_cc: Box::new([UNSET; PIDS]),
            offset: Box::new([UNSET; PIDS]),
            seen_cc: Box::new([UNSET; PIDS]),
            psi: PsiCache::new(),
            mark_pid: None,
            header: Vec::new(),
            restamp: Restamp::new(),
            first_psi: Some(PsiCache::new()),
        }
    }

    /// The next packets come from another source. Waits for its tables and random-access
    /// point, unless nothing was emitted yet (then there is nothing to splice onto).
    pub fn switch_source(&mut self, stats: &mut TsIngestStats) {
        stats.switches += 1;
        self.offset.fill(UNSET);
        self.seen_cc.fill(UNSET);
        self.psi = PsiCache::new();
        self.mark_pid = None;
        self.header.clear();
        self.waiting = self.emitted_any;
    }

    /// Whether packets are being dropped until the new source can be spliced in.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Decides about one packet of the current source and rewrites its counter (and maybe
    /// its discontinuity flag) in place.
    pub fn process(&mut self, pkt: &mut TsPacket, stats: &mut TsIngestStats) -> Step {
        if !self.waiting {
            if let Some(psi) = &mut self.first_psi {
                psi.observe(pkt);
                let reference = psi.video_pid().or(psi.audio_pids().first().copied());
                if reference.is_some() {
                    self.restamp.set_reference(reference);
                    self.first_psi = None;
                }
            }
            self.rewrite(pkt, stats);
            return Step::Emit;
        }
        self.psi.observe(pkt);
        if !packet::transport_error(pkt) && packet::has_payload(pkt) {
            self.seen_cc[usize::from(packet::pid(pkt))] = packet::continuity_counter(pkt);
        }
        if !self.is_start(pkt) {
            stats.switch_dropped_packets += 1;
            return Step::Drop;
        }
        self.waiting = false;
        stats.splices += 1;
        // A program without PCR says 0x1FFF (§2.4.4.9): then no time base to mark.
        self.mark_pid = self.psi.pcr_pid().filter(|&p| p != NULL_PID);
        let reference = self
            .psi
            .video_pid()
            .or(self.psi.audio_pids().first().copied());
        self.restamp.splice(pkt, reference);
        self.first_psi = None;
        self.build_header(stats);
        self.rewrite(pkt, stats);
        Step::Start
    }

    /// The new source's PAT and PMT packets, renumbered, to emit before the packet that
    /// returned [`Step::Start`].
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The packet the new source can start with: with video, its first video random-access
    /// point; audio only, the first PES start of the first audio PID; neither, the first
    /// packet after the tables that is not a table.
    fn is_start(&self, pkt: &TsPacket) -> bool {
        if packet::transport_error(pkt) || self.psi.header().is_none() {
            return false;
        }
        let pid = packet::pid(pkt);
        if let Some(video) = self.psi.video_pid() {
            return pid == video && ts::is_video_random_access(pkt);
        }
        if let Some(&audio) = self.psi.audio_pids().first() {
            return pid == audio && pes::pes_start(pkt).is_some();
        }
        pid != NULL_PID && !self.psi.is_psi_pid(pid)
    }

    /// Copies the cached tables and gives each PID's packets the counters the source used
    /// last on it, ending with the last one seen: the source's next table packet then
    /// continues them, and the offset computed from the first header packet holds for it.
    fn build_header(&mut self, stats: &mut TsIngestStats) {
        self.header.clear();
        if let Some(h) = self.psi.header() {
            self.header.extend_from_slice(h);
        }
        let n = self.header.len() / TS_PACKET_LEN;
        for i in 0..n {
            let at = i * TS_PACKET_LEN;
            let mut p: TsPacket = [0; TS_PACKET_LEN];
            p.copy_from_slice(&self.header[at..at + TS_PACKET_LEN]);
            let pid = packet::pid(&p);
            let later = self.header[at + TS_PACKET_LEN..]
                .chunks_exact(TS_PACKET_LEN)
                .filter(|q| pid_of(q) == pid)
                .count();
            let seen = self.seen_cc[usize::from(pid)];
            if seen != UNSET {
                // At most 1 + MAX_PROGRAMS PSI PIDs of MAX_SECTION_PACKETS packets: `later`
                // is small, and only its value mod 16 matters.
                let cc = seen.wrapping_sub((later % 16) as u8) & 0x0F;
                p[3] = (p[3] & 0xF0) | cc;
            }
            self.rewrite(&mut p, stats);
            self.header[at..at + TS_PACKET_LEN].copy_from_slice(&p);
        }
    }

    /// Applies the PID's offset (fixing it on the PID's first packet of this source) and the
    /// pending discontinuity flag, and remembers the counter emitted.
    fn rewrite(&mut self, pkt: &mut TsPacket, stats: &mut TsIngestStats) {
        self.emitted_any = true;
        let pid = packet::pid(pkt);
        // §2.4.3.3: null packets' counters are undefined; nothing to continue.
        if pid == NULL_PID {
            return;
        }
        let i = usize::from(pid);
        let cc = packet::continuity_counter(pkt);
        if self.offset[i] == UNSET {
            self.offset[i] = match self.last_cc[i] {
                UNSET => 0,
                // §2.4.3.3: the counter steps on packets with a payload and repeats on
                // adaptation-field-only ones.
                last => {
                    let want = if packet::has_payload(pkt) {
                        (last + 1) & 0x0F
                    } else {
                        last
                    };
                    want.wrapping_sub(cc) & 0x0F
                }
            };
        }
        let out = (cc + self.offset[i]) & 0x0F;
        pkt[3] = (pkt[3] & 0xF0) | out;
        self.last_cc[i] = out;
        self.restamp.apply(pkt);
        // §2.4.3.5: discontinuity_indicator on the PCR PID: the next PCR is of a new time
        // base. The flag lives in the adaptation field's first byte, so it needs a field of
        // at least one byte; a packet without one waits for the next.
        if self.mark_pid == Some(pid) && packet::adaptation_field(pkt).is_some() {
            pkt[5] |= 0x80;
            self.mark_pid = None;
            stats.discontinuities_marked += 1;
        }
    }
}

/// The PID of a whole packet's bytes (§2.4.3.2).
fn pid_of(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1F, p[2]])
}

#[cfg(test)]
#[path = "splice_tests.rs"]
mod tests;
