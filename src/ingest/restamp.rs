//! Keeps a spliced stream's clock running forward: after a splice, every PTS, DTS and PCR of
//! the new source is shifted by one offset so its first decode time lands one frame after the
//! last one emitted. Without it the timeline jumps to wherever the new source's clock stands
//! (backwards for a restarted encoder or a looped file): ffmpeg then refuses non-monotonic
//! DTS, players hold or drop pictures until their clock catches up, and an HLS segment would
//! span the jump. The discontinuity indicator the splice sets stays: the PCR still steps.
//!
//! One offset keeps the reference PID (video) in step, but two encoders do not start their
//! audio at the same distance from a keyframe: the new source's first audio frame can land
//! at or before the last one emitted, which muxers refuse ("non monotonically increasing
//! dts"). Each other PID's first PES after a splice is therefore checked, and moved to one of
//! its own PES steps past its last one when it would start inside it (a few milliseconds of
//! A/V offset for that source, instead of frames players drop or a muxer refuses).
//!
//! Owns: the reference PID's last decode time and frame step on the output timeline, each
//! PID's last decode time and step and its extra shift for the current source, the current
//! source's offset, rewriting the timestamp fields in place (marker bits kept).
//! Must not: change the length or layout of a packet, or touch the first source (offset 0).

#![deny(clippy::disallowed_methods)]

use crate::media::packet::{self, TsPacket};
use crate::media::ts::TS_PACKET_LEN;

/// Timestamps are 33 bits (ISO/IEC 13818-1 §2.4.3.7).
const WRAP: u64 = 1 << 33;
/// A step between decode times beyond this (1 s) is a jump, not a frame.
const MAX_STEP: u64 = 90_000;
/// Until a step is seen: one frame at 30 fps.
const DEFAULT_STEP: u64 = 3_000;

#[derive(Debug)]
pub struct Restamp {
    /// The PID whose decode times measure the output timeline (video, else the first audio).
    reference: Option<u16>,
    /// Its last decode time emitted (after the offset) and the usual step between two.
    last: Option<u64>,
    step: u64,
    /// Its latest presentation time emitted: with B-frames a frame decoded earlier may show
    /// later than the last decoded one, and the new source's first picture must follow it.
    max_pts: Option<u64>,
    /// Added to every timestamp of the current source, mod 2^33.
    offset: u64,
    /// Every PID's own decode clock (a handful of PIDs: a linear search).
    pids: Vec<PidClock>,
}

/// One PID's decode times on the output timeline.
#[derive(Debug, Clone, Copy)]
struct PidClock {
    pid: u16,
    last: u64,
    step: u64,
    /// Added to this PID's PES timestamps (not the PCR) of the current source on top of
    /// `offset`.
    extra: u64,
    /// Its first frame of the current source was checked against `last`.
    checked: bool,
}

impl Default for Restamp {
    fn default() -> Self {
        Self::new()
    }
}

impl Restamp {
    pub fn new() -> Self {
        Restamp {
            reference: None,
            last: None,
            step: DEFAULT_STEP,
            max_pts: None,
            offset: 0,
            pids: Vec::new(),
        }
    }

    /// The splice point of a new source, `pkt` its first packet (the keyframe): the offset that
    /// puts its decode time one step after the last one emitted. `reference` is the new
    /// source's reference PID.
    pub fn splice(&mut self, pkt: &TsPacket, reference: Option<u16>) {
        self.reference = reference;
        for c in &mut self.pids {
            c.extra = 0;
            c.checked = false;
        }
        let (Some(last), Some(t)) = (self.last, pes_times(pkt)) else {
            self.offset = 0;
            return;
        };
        // The first decode time one step after the last, and its picture one step after the
        // latest shown: whichever needs the larger shift.
        let by_dts = (last + self.step + WRAP - t.decode) % WRAP;
        let by_pts = self
            .max_pts
            .map_or(by_dts, |m| (m + self.step + WRAP - t.present) % WRAP);
        self.offset = if later(by_pts, by_dts) {
            by_pts
        } else {
            by_dts
        };
    }

    /// Shifts one emitted packet's timestamps and follows the reference PID's decode times.
    pub fn apply(&mut self, pkt: &mut TsPacket) {
        if self.offset != 0 {
            shift_pcr(pkt, self.offset);
            shift_pes(pkt, self.offset);
        }
        self.follow_pid(pkt);
        if self.reference.is_some()
            && self.reference == Some(packet::pid(pkt))
            && let Some(t) = pes_times(pkt)
        {
            if let Some(last) = self.last {
                let d = (t.decode + WRAP - last) % WRAP;
                if d > 0 && d <= MAX_STEP {
                    self.step = d;
                }
            }
            self.last = Some(t.decode);
            if self.max_pts.is_none_or(|m| later(t.present, m)) {
                self.max_pts = Some(t.present);
            }
        }
    }

    /// Keeps each PID's decode times going forward across splices (see the module doc).
    fn follow_pid(&mut self, pkt: &mut TsPacket) {
        let Some(t) = pes_times(pkt) else {
            return;
        };
        let pid = packet::pid(pkt);
        let Some(c) = self.pids.iter_mut().find(|c| c.pid == pid) else {
            // Bounded by the 8192 PIDs a stream can have; a real one has a handful.
            if self.pids.len() < 64 {
                self.pids.push(PidClock {
                    pid,
                    last: t.decode,
                    step: 0,
                    extra: 0,
                    checked: true,
                });
            }
            return;
        };
        if !c.checked {
            c.checked = true;
            // The last PES may hold several frames (ffmpeg packs audio): it lasts about one
            // step, and the new source's first PES must not start inside it.
            let due = (c.last + c.step.max(1)) % WRAP;
            if Some(pid) != self.reference && later(due, t.decode) {
                c.extra = (due + WRAP - t.decode) % WRAP;
            }
        }
        let decode = if c.extra != 0 {
            shift_pes(pkt, c.extra);
            (t.decode + c.extra) % WRAP
        } else {
            t.decode
        };
        let d = (decode + WRAP - c.last) % WRAP;
        if d > 0 && d <= MAX_STEP {
            c.step = d;
        }
        c.last = decode;
    }

    /// Names the reference PID of the first source once its PMT is known.
    pub fn set_reference(&mut self, pid: Option<u16>) {
        if self.reference.is_none() {
            self.reference = pid;
        }
    }
}

/// Where a PES header's timestamps are in a packet, and the decode time (DTS, else PTS).
struct PesTimes {
    /// Offset of the PTS field in the packet; the DTS follows at +5 when present.
    at: usize,
    dts: bool,
    decode: u64,
    present: u64,
}

/// Whether `a` is after `b` on the 33-bit circle (within half of it).
fn later(a: u64, b: u64) -> bool {
    let d = (a + WRAP - b) % WRAP;
    d != 0 && d < WRAP / 2
}

/// The PES header at the start of the packet's payload, when it carries a PTS.
fn pes_times(pkt: &TsPacket) -> Option<PesTimes> {
    if !packet::pusi(pkt) {
        return None;
    }
    let body = packet::payload(pkt)?;
    let start = TS_PACKET_LEN - body.len();
    let h = &pkt[start..];
    if h.len() < 14 || h[..3] != [0, 0, 1] {
        return None;
    }
    // §2.4.3.7: these stream ids have no optional header.
    if matches!(h[3], 0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF) {
        return None;
    }
    let flags = h[7] >> 6;
    let at = start + 9;
    match flags {
        2 => {
            let pts = read_ts(&pkt[at..at + 5]);
            Some(PesTimes {
                at,
                dts: false,
                decode: pts,
                present: pts,
            })
        }
        3 if h.len() >= 19 => Some(PesTimes {
            at,
            dts: true,
            decode: read_ts(&pkt[at + 5..at + 10]),
            present: read_ts(&pkt[at..at + 5]),
        }),
        _ => None,
    }
}

fn shift_pes(pkt: &mut TsPacket, offset: u64) {
    let Some(t) = pes_times(pkt) else {
        return;
    };
    let fields = if t.dts { 2 } else { 1 };
    for k in 0..fields {
        let f = &mut pkt[t.at + 5 * k..t.at + 5 * k + 5];
        let v = (read_ts(f) + offset) % WRAP;
        write_ts(f, v);
    }
}

/// §2.4.3.5: PCR = base (33 bits, 90 kHz) * 300 + extension; only the base moves.
fn shift_pcr(pkt: &mut TsPacket, offset: u64) {
    if pkt[3] & 0x20 == 0 || pkt[4] < 7 || pkt[5] & 0x10 == 0 {
        return;
    }
    let b = &mut pkt[6..12];
    let base = (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7);
    let v = (base + offset) % WRAP;
    b[0] = (v >> 25) as u8;
    b[1] = (v >> 17) as u8;
    b[2] = (v >> 9) as u8;
    b[3] = (v >> 1) as u8;
    b[4] = (b[4] & 0x7F) | (((v & 1) as u8) << 7);
}

/// §2.4.3.7: read as the PES parser reads it.
use crate::media::pes::timestamp as read_ts;

/// §2.4.3.7: 4-bit prefix (kept), then 3 + 15 + 15 bits each followed by a marker bit.
fn write_ts(f: &mut [u8], v: u64) {
    f[0] = (f[0] & 0xF0) | (((v >> 30) as u8 & 0x07) << 1) | 1;
    f[1] = (v >> 22) as u8;
    f[2] = (((v >> 15) as u8) << 1) | 1;
    f[3] = (v >> 7) as u8;
    f[4] = ((v as u8) << 1) | 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pes_packet(pid: u16, pts: u64, dts: Option<u64>, pcr: Option<u64>) -> TsPacket {
        let mut p = [0xFFu8; 188];
        p[0] = 0x47;
        p[1] = 0x40 | (pid >> 8) as u8;
        p[2] = pid as u8;
        let mut at = 4;
        if let Some(pcr) = pcr {
            p[3] = 0x30;
            p[4] = 7;
            p[5] = 0x10;
            let b = [
                (pcr >> 25) as u8,
                (pcr >> 17) as u8,
                (pcr >> 9) as u8,
                (pcr >> 1) as u8,
                (((pcr & 1) as u8) << 7) | 0x7E,
                0,
            ];
            p[6..12].copy_from_slice(&b);
            at = 12;
        } else {
            p[3] = 0x10;
        }
        let flags = if dts.is_some() { 0xC0 } else { 0x80 };
        let hlen = if dts.is_some() { 10 } else { 5 };
        p[at..at + 9].copy_from_slice(&[0, 0, 1, 0xE0, 0, 0, 0x80, flags, hlen]);
        let mut f = [0x21u8, 0, 1, 0, 1];
        write_ts(&mut f, pts);
        f[0] = (f[0] & 0x0F) | if dts.is_some() { 0x30 } else { 0x20 };
        p[at + 9..at + 14].copy_from_slice(&f);
        if let Some(d) = dts {
            let mut g = [0x11u8, 0, 1, 0, 1];
            write_ts(&mut g, d);
            g[0] = (g[0] & 0x0F) | 0x10;
            p[at + 14..at + 19].copy_from_slice(&g);
        }
        p
    }

    #[test]
    fn timestamps_round_trip_through_the_field_encoding() {
        for v in [0, 1, 90_000, WRAP - 1, 0x1_2345_6789 % WRAP] {
            let mut f = [0x31u8, 0, 1, 0, 1];
            write_ts(&mut f, v);
            assert_eq!(read_ts(&f), v);
            assert_eq!(f[0] >> 4, 3, "prefix kept");
            assert_eq!(f[0] & 1, 1);
            assert_eq!(f[2] & 1, 1);
            assert_eq!(f[4] & 1, 1);
        }
    }

    #[test]
    fn the_next_source_continues_one_step_after_the_last_decode_time() {
        let mut r = Restamp::new();
        r.set_reference(Some(0x100));
        // The first source: DTS 10 000, 13 000, 16 000 (PTS 3000 later).
        for k in 0..3 {
            let d = 10_000 + 3_000 * k;
            let mut p = pes_packet(0x100, d + 3_000, Some(d), Some(d - 500));
            let before = p;
            r.apply(&mut p);
            assert_eq!(p, before, "the first source is not touched");
        }
        // The new source restarts its clock at 1000.
        let mut key = pes_packet(0x100, 4_000, Some(1_000), Some(500));
        r.splice(&key, Some(0x100));
        r.apply(&mut key);
        let t = pes_times(&key).unwrap();
        // DTS one step after 16 000 would be 19 000 with PTS 22 000, but the latest picture
        // shown was 19 000 (PTS of the DTS-16 000 frame): its PTS must follow that by a step,
        // so the shift is the larger one.
        assert_eq!(
            read_ts(&key[t.at..t.at + 5]),
            22_000,
            "PTS one step after 19 000"
        );
        assert_eq!(t.decode, 19_000);
        let pcr_base = (u64::from(key[6]) << 25)
            | (u64::from(key[7]) << 17)
            | (u64::from(key[8]) << 9)
            | (u64::from(key[9]) << 1)
            | (u64::from(key[10]) >> 7);
        assert_eq!(pcr_base, 18_500, "the PCR keeps its distance to the DTS");
        assert_eq!(key[10] & 0x7E, 0x7E, "reserved bits kept");
        // A later packet of another PID (audio, PTS only) moves by the same offset.
        let mut a = pes_packet(0x101, 2_000, None, None);
        r.apply(&mut a);
        assert_eq!(pes_times(&a).unwrap().decode, 20_000);
    }

    #[test]
    fn b_frames_push_the_new_source_past_the_latest_picture_shown() {
        let mut r = Restamp::new();
        r.set_reference(Some(0x100));
        // Decode order I P B B: DTS 0, 3000, 6000, 9000 with PTS 6000, 15000, 9000, 12000.
        for (pts, dts) in [(6_000, 0), (15_000, 3_000), (9_000, 6_000), (12_000, 9_000)] {
            r.apply(&mut pes_packet(0x100, pts, Some(dts), None));
        }
        // The new keyframe shows 6000 after its decode (two B-frames of reorder).
        let mut key = pes_packet(0x100, 106_000, Some(100_000), None);
        r.splice(&key, Some(0x100));
        r.apply(&mut key);
        let t = pes_times(&key).unwrap();
        assert_eq!(
            t.present, 18_000,
            "one step after the latest picture, 15 000"
        );
        assert_eq!(t.decode, 12_000, "and its decode time after 9000");
    }

    #[test]
    fn offsets_wrap_at_33_bits() {
        let mut r = Restamp::new();
        r.set_reference(Some(0x100));
        let mut p = pes_packet(0x100, WRAP - 1_000, None, None);
        r.apply(&mut p);
        let mut key = pes_packet(0x100, 5_000, None, None);
        r.splice(&key, Some(0x100));
        r.apply(&mut key);
        assert_eq!(
            pes_times(&key).unwrap().decode,
            2_000,
            "(2^33 - 1000 + 3000) mod 2^33"
        );
    }

    #[test]
    fn another_pid_whose_first_frame_would_go_back_moves_one_of_its_steps_past_its_last() {
        let mut r = Restamp::new();
        r.set_reference(Some(0x100));
        // Video every 3000, audio every 1920, audio ending a little after the video.
        for k in 0..3 {
            r.apply(&mut pes_packet(0x100, 10_000 + 3_000 * k, None, None));
        }
        for k in 0..5 {
            r.apply(&mut pes_packet(0x101, 10_500 + 1_920 * k, None, None));
        }
        // Last video 16 000, last audio 18 180. The new source's keyframe lands at 19 000 and
        // its first audio 2000 ticks before its keyframe: 17 000, behind the last audio.
        let mut key = pes_packet(0x100, 50_000, None, None);
        r.splice(&key, Some(0x100));
        r.apply(&mut key);
        assert_eq!(pes_times(&key).unwrap().decode, 19_000);
        let mut a = pes_packet(0x101, 48_000, None, None);
        r.apply(&mut a);
        assert_eq!(
            pes_times(&a).unwrap().decode,
            18_180 + 1_920,
            "one audio step on"
        );
        // The rest of the source's audio keeps that shift; the video is not moved by it.
        let mut a2 = pes_packet(0x101, 49_920, None, None);
        r.apply(&mut a2);
        assert_eq!(pes_times(&a2).unwrap().decode, 18_180 + 2 * 1_920);
        let mut v = pes_packet(0x100, 53_000, None, None);
        r.apply(&mut v);
        assert_eq!(pes_times(&v).unwrap().decode, 22_000);
        // An audio frame that lands after the last one is left where the offset puts it.
        let mut key = pes_packet(0x100, 100_000, None, None);
        r.splice(&key, Some(0x100));
        r.apply(&mut key);
        let mut a3 = pes_packet(0x101, 100_500, None, None);
        r.apply(&mut a3);
        assert_eq!(pes_times(&a3).unwrap().decode, 25_000 + 500);
    }

    #[test]
    fn packets_without_a_pes_header_are_left_alone() {
        let mut r = Restamp::new();
        r.offset = 12_345;
        let mut p = [0u8; 188];
        p[0] = 0x47;
        p[3] = 0x10;
        let before = p;
        r.apply(&mut p);
        assert_eq!(p, before);
    }
}
