//! What an MPEG-TS player checks in a byte stream (ISO/IEC 13818-1): 188-byte packets starting
//! with 0x47 at the offsets they should, continuity counters per PID, and whether the first
//! video access unit after the PAT and PMT is a random-access point (the relay promises new
//! players a keyframe start). Independent of the relay's own `media::ts` on purpose: a checker
//! that shared the relay's test would share its mistakes.
//!
//! Owns: packet alignment across reads, the PAT/PMT parse needed to find the video PID, CC
//! bookkeeping. Must not: allocate per packet or read the clock (the caller times events).

use std::fmt;

pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;
const NULL_PID: u16 = 0x1FFF;

/// How the stream started, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeStart {
    /// The first video PES after PAT and PMT starts at a random-access point.
    Yes,
    No,
}

impl fmt::Display for KeyframeStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyframeStart::Yes => "yes",
            KeyframeStart::No => "no",
        })
    }
}

/// Events of one [`TsCheck::feed`] call, for the caller to time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsEvents {
    pub first_pat: bool,
    pub keyframe: Option<KeyframeStart>,
}

#[derive(Debug, Clone)]
pub struct TsCheck {
    partial: [u8; PACKET],
    have: usize,
    /// Whether the next byte should be a packet start; false after a sync loss until a 0x47.
    synced: bool,
    /// (pid, last cc, duplicate seen) for the few PIDs of a stream.
    cc: Vec<(u16, u8, bool)>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    video_type: u8,
    pub packets: u64,
    /// Times the stream lost packet alignment (a byte at a packet start that is not 0x47).
    pub resyncs: u64,
    /// Bytes skipped while looking for sync.
    pub skipped: u64,
    pub cc_errors: u64,
    pub seen_pat: bool,
    pub keyframe: Option<KeyframeStart>,
}

impl Default for TsCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl TsCheck {
    pub fn new() -> TsCheck {
        TsCheck {
            partial: [0; PACKET],
            have: 0,
            synced: true,
            cc: Vec::new(),
            pmt_pid: None,
            video_pid: None,
            video_type: 0,
            packets: 0,
            resyncs: 0,
            skipped: 0,
            cc_errors: 0,
            seen_pat: false,
            keyframe: None,
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> TsEvents {
        let mut ev = TsEvents::default();
        while !data.is_empty() {
            if self.have == 0 {
                if data[0] != SYNC {
                    if self.synced {
                        self.synced = false;
                        self.resyncs += 1;
                    }
                    let skip = data.iter().position(|&b| b == SYNC).unwrap_or(data.len());
                    self.skipped += skip as u64;
                    data = &data[skip..];
                    continue;
                }
                self.synced = true;
                // Whole packets straight from the input, no copy.
                while data.len() >= PACKET && data[0] == SYNC {
                    let (pkt, rest) = data.split_at(PACKET);
                    self.packet(pkt.try_into().expect("188 bytes"), &mut ev);
                    data = rest;
                }
                if data.is_empty() || data[0] != SYNC {
                    continue;
                }
            }
            let take = (PACKET - self.have).min(data.len());
            self.partial[self.have..self.have + take].copy_from_slice(&data[..take]);
            self.have += take;
            data = &data[take..];
            if self.have == PACKET {
                self.have = 0;
                let pkt = self.partial;
                self.packet(&pkt, &mut ev);
            }
        }
        ev
    }

    fn packet(&mut self, p: &[u8; PACKET], ev: &mut TsEvents) {
        self.packets += 1;
        let pusi = p[1] & 0x40 != 0;
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        let afc = (p[3] >> 4) & 3;
        let cc = p[3] & 0x0F;
        let has_af = afc & 2 != 0 && p[4] > 0;
        let discontinuity = has_af && p[5] & 0x80 != 0;
        let rai = has_af && p[5] & 0x40 != 0;
        let payload_at = if afc & 2 != 0 { 5 + p[4] as usize } else { 4 };
        let payload = if afc & 1 != 0 && payload_at < PACKET {
            &p[payload_at..]
        } else {
            &[][..]
        };
        if pid != NULL_PID {
            self.continuity(pid, cc, afc & 1 != 0, discontinuity);
        }
        if pusi && !payload.is_empty() {
            if pid == 0 {
                if let Some(pmt) = parse_pat(payload) {
                    if !self.seen_pat {
                        ev.first_pat = true;
                    }
                    self.seen_pat = true;
                    self.pmt_pid = Some(pmt);
                }
            } else if Some(pid) == self.pmt_pid {
                if let Some((vpid, vtype)) = parse_pmt(payload) {
                    self.video_pid = Some(vpid);
                    self.video_type = vtype;
                }
            } else if Some(pid) == self.video_pid && self.keyframe.is_none() {
                let yes = rai || starts_with_idr(payload, self.video_type);
                let k = if yes {
                    KeyframeStart::Yes
                } else {
                    KeyframeStart::No
                };
                self.keyframe = Some(k);
                ev.keyframe = Some(k);
            }
        }
    }

    /// ISO/IEC 13818-1 §2.4.3.3: the counter goes up by one per packet with payload, stays put
    /// without payload, may repeat once (a duplicate), and may jump where the adaptation field
    /// says discontinuity.
    fn continuity(&mut self, pid: u16, cc: u8, has_payload: bool, discontinuity: bool) {
        let Some(e) = self.cc.iter_mut().find(|e| e.0 == pid) else {
            self.cc.push((pid, cc, false));
            return;
        };
        if discontinuity {
            *e = (pid, cc, false);
            return;
        }
        let last = e.1;
        let ok = if !has_payload {
            cc == last
        } else if cc == (last + 1) & 0x0F {
            e.2 = false;
            true
        } else if cc == last && !e.2 {
            e.2 = true;
            true
        } else {
            false
        };
        if !ok {
            self.cc_errors += 1;
            e.2 = false;
        }
        e.1 = cc;
    }
}

/// The first program's PMT PID from a PAT section starting in this payload.
fn parse_pat(payload: &[u8]) -> Option<u16> {
    let s = section(payload, 0x00)?;
    // After the 8-byte header, 4-byte entries; the CRC's 4 bytes end the section.
    s.get(8..s.len().checked_sub(4)?)?
        .chunks_exact(4)
        .find(|e| u16::from_be_bytes([e[0], e[1]]) != 0)
        .map(|e| u16::from(e[2] & 0x1F) << 8 | u16::from(e[3]))
}

/// The first video elementary stream's PID and stream_type from a PMT section.
fn parse_pmt(payload: &[u8]) -> Option<(u16, u8)> {
    let s = section(payload, 0x02)?;
    let pil = usize::from(u16::from_be_bytes([*s.get(10)?, *s.get(11)?]) & 0x0FFF);
    let mut es = s.get(12 + pil..s.len().checked_sub(4)?)?;
    while es.len() >= 5 {
        let st = es[0];
        let pid = u16::from(es[1] & 0x1F) << 8 | u16::from(es[2]);
        let info = usize::from(u16::from_be_bytes([es[3], es[4]]) & 0x0FFF);
        // MPEG-1/2 video, MPEG-4 part 2, H.264, HEVC (Table 2-34 and its amendments).
        if matches!(st, 0x01 | 0x02 | 0x10 | 0x1B | 0x24) {
            return Some((pid, st));
        }
        es = es.get(5 + info..)?;
    }
    None
}

/// A PSI section with `table_id` starting in a PUSI payload (pointer field first), cut to its
/// section_length; only sections that fit the packet (single-program streams' PAT and PMT do).
fn section(payload: &[u8], table_id: u8) -> Option<&[u8]> {
    let start = 1 + usize::from(*payload.first()?);
    let s = payload.get(start..)?;
    if *s.first()? != table_id {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*s.get(1)?, *s.get(2)?]) & 0x0FFF);
    s.get(..3 + len)
}

/// For encoders that do not set random_access_indicator: an H.264 IDR or SPS, or an HEVC IRAP
/// or VPS/SPS, among the NAL units that start in the first packet of the PES.
fn starts_with_idr(payload: &[u8], stream_type: u8) -> bool {
    // PES header: 00 00 01 id len(2) flags(2) header_data_length, then the data.
    if payload.len() < 9 || payload[..3] != [0, 0, 1] {
        return false;
    }
    let es = match payload.get(9 + usize::from(payload[8])..) {
        Some(es) => es,
        None => return false,
    };
    es.windows(4).any(|w| {
        w[..3] == [0, 0, 1]
            && match stream_type {
                0x1B => matches!(w[3] & 0x1F, 5 | 7),
                0x24 => matches!((w[3] >> 1) & 0x3F, 16..=23 | 32 | 33),
                _ => false,
            }
    })
}

/// Test streams: the packets a minimal H.264 + audio TS starts with (used by this module's and
/// the smoke test's server).
pub mod sample {
    use super::PACKET;

    pub const PMT_PID: u16 = 0x1000;
    pub const VIDEO_PID: u16 = 0x100;
    pub const AUDIO_PID: u16 = 0x101;

    /// A packet on `pid` with the given header bits, `af` the adaptation field body (flags
    /// first), `payload` after it; stuffed to 188 bytes inside the adaptation field.
    pub fn packet(pid: u16, pusi: bool, cc: u8, af: Option<&[u8]>, payload: &[u8]) -> [u8; PACKET] {
        let mut p = [0xFFu8; PACKET];
        p[0] = 0x47;
        p[1] = (if pusi { 0x40 } else { 0 }) | (pid >> 8) as u8 & 0x1F;
        p[2] = pid as u8;
        let room = PACKET - 4 - payload.len();
        assert!(af.is_none() || room > 0, "no room for the adaptation field");
        let need_af = af.is_some() || room > 0;
        let afc = match (need_af, payload.is_empty()) {
            (true, true) => 2,
            (true, false) => 3,
            (false, _) => 1,
        };
        p[3] = afc << 4 | (cc & 0x0F);
        if need_af {
            let af_len = room - 1;
            p[4] = af_len as u8;
            if af_len > 0 {
                let body = af.unwrap_or(&[0x00]);
                p[5..5 + body.len()].copy_from_slice(body);
            }
        }
        p[PACKET - payload.len()..].copy_from_slice(payload);
        p
    }

    /// A PAT naming program 1 at `PMT_PID` (CRC not checked by the reader, zeros here).
    pub fn pat(cc: u8) -> [u8; PACKET] {
        let mut s = vec![0u8, 0x00, 0xB0, 13, 0, 1, 0xC1, 0, 0];
        s.extend_from_slice(&[0, 1, 0xE0 | (PMT_PID >> 8) as u8, PMT_PID as u8]);
        s.extend_from_slice(&[0; 4]);
        section_packet(0, cc, &s)
    }

    /// A PMT with H.264 video on `VIDEO_PID` and AAC on `AUDIO_PID`.
    pub fn pmt(cc: u8) -> [u8; PACKET] {
        let mut s = vec![0u8, 0x02, 0xB0, 23, 0, 1, 0xC1, 0, 0];
        s.extend_from_slice(&[0xE0 | (VIDEO_PID >> 8) as u8, VIDEO_PID as u8, 0xF0, 0]);
        s.extend_from_slice(&[
            0x0F,
            0xE0 | (AUDIO_PID >> 8) as u8,
            AUDIO_PID as u8,
            0xF0,
            0,
        ]);
        s.extend_from_slice(&[
            0x1B,
            0xE0 | (VIDEO_PID >> 8) as u8,
            VIDEO_PID as u8,
            0xF0,
            0,
        ]);
        s.extend_from_slice(&[0; 4]);
        // section_length counts the bytes after its own field (pointer, table_id, length: 4).
        let len = s.len() - 4;
        s[3] = len as u8;
        section_packet(PMT_PID, cc, &s)
    }

    fn section_packet(pid: u16, cc: u8, s: &[u8]) -> [u8; PACKET] {
        let mut p = [0xFFu8; PACKET];
        p[0] = 0x47;
        p[1] = 0x40 | (pid >> 8) as u8;
        p[2] = pid as u8;
        p[3] = 0x10 | (cc & 0x0F);
        p[4..4 + s.len()].copy_from_slice(s);
        p
    }

    /// The first packet of a video PES: `keyframe` sets random_access_indicator and puts an
    /// IDR NAL in it.
    pub fn video_start(cc: u8, keyframe: bool) -> [u8; PACKET] {
        let nal = if keyframe { 0x65 } else { 0x41 };
        let pes = [
            0, 0, 1, 0xE0, 0, 0, 0x80, 0, 0, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, nal,
        ];
        let flags = if keyframe { 0x40 } else { 0x00 };
        packet(VIDEO_PID, true, cc, Some(&[flags]), &pes)
    }

    /// A continuation packet of the current video PES (no adaptation field).
    pub fn video_more(cc: u8) -> [u8; PACKET] {
        packet(VIDEO_PID, false, cc, None, &[0x11; PACKET - 4])
    }
}

#[cfg(test)]
mod tests {
    use super::sample::*;
    use super::*;

    fn stream(pkts: &[[u8; PACKET]]) -> Vec<u8> {
        pkts.iter().flatten().copied().collect()
    }

    #[test]
    fn sample_tables_parse() {
        let pat = pat(0);
        assert_eq!(parse_pat(&pat[4..]), Some(PMT_PID));
        let pmt = pmt(0);
        assert_eq!(
            parse_pmt(&pmt[4..]),
            Some((VIDEO_PID, 0x1B)),
            "audio listed first is skipped"
        );
    }

    #[test]
    fn keyframe_start_after_tables_in_any_split() {
        let s = stream(&[
            pat(0),
            pmt(0),
            video_start(0, true),
            video_more(1),
            video_more(2),
        ]);
        for step in [1, 7, 187, 188, 189, 1000] {
            let mut c = TsCheck::new();
            let mut first_pat = 0;
            let mut key = None;
            for piece in s.chunks(step) {
                let ev = c.feed(piece);
                first_pat += usize::from(ev.first_pat);
                key = key.or(ev.keyframe);
            }
            assert_eq!(
                (c.packets, c.resyncs, c.cc_errors),
                (5, 0, 0),
                "step {step}"
            );
            assert_eq!(
                (first_pat, key),
                (1, Some(KeyframeStart::Yes)),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_start_on_a_delta_frame_is_a_no_and_video_before_the_pmt_does_not_count() {
        let s = stream(&[video_start(0, true), pat(0), pmt(0), video_start(1, false)]);
        let mut c = TsCheck::new();
        assert_eq!(c.feed(&s).keyframe, Some(KeyframeStart::No));
        // Only the first judgement counts.
        assert_eq!(c.feed(&stream(&[video_start(2, true)])).keyframe, None);
        assert_eq!(c.keyframe, Some(KeyframeStart::No));
    }

    #[test]
    fn idr_without_the_indicator_is_a_keyframe() {
        let mut k = video_start(0, true);
        k[5] = 0; // clear random_access_indicator, the IDR NAL stays
        let mut c = TsCheck::new();
        assert_eq!(
            c.feed(&stream(&[pat(0), pmt(0), k])).keyframe,
            Some(KeyframeStart::Yes)
        );
    }

    #[test]
    fn continuity_errors_duplicates_and_discontinuities() {
        let mut c = TsCheck::new();
        c.feed(&stream(&[
            video_more(0),
            video_more(1),
            video_more(1),
            video_more(2),
        ]));
        assert_eq!(c.cc_errors, 0, "one duplicate is allowed");
        c.feed(&stream(&[video_more(2), video_more(2), video_more(4)]));
        assert_eq!(c.cc_errors, 2, "a second duplicate and a skip");
        c.feed(&stream(&[video_more(15), video_more(0)]));
        assert_eq!(c.cc_errors, 3, "jump to 15 is an error, 15 -> 0 wraps fine");
        let disc = packet(VIDEO_PID, false, 9, Some(&[0x80]), &[0x22; 100]);
        c.feed(&disc);
        assert_eq!(c.cc_errors, 3, "discontinuity_indicator allows the jump");
        // Another PID has its own counter; null packets are ignored.
        c.feed(&stream(&[
            packet(AUDIO_PID, false, 7, None, &[0; 184]),
            packet(0x1FFF, false, 3, None, &[0; 184]),
        ]));
        assert_eq!(c.cc_errors, 3);
    }

    #[test]
    fn lost_sync_is_counted_once_per_loss_and_found_again() {
        let mut s = stream(&[pat(0), pmt(0)]);
        s.extend_from_slice(&[1, 2, 3]); // garbage between packets
        s.extend(stream(&[video_start(0, true), video_more(1)]));
        let mut c = TsCheck::new();
        let ev = c.feed(&s);
        assert_eq!((c.resyncs, c.skipped, c.packets), (1, 3, 4));
        assert_eq!(ev.keyframe, Some(KeyframeStart::Yes));
        // A stream that does not start at a packet boundary is a resync too.
        let mut c = TsCheck::new();
        c.feed(&s[5..]);
        assert_eq!(c.resyncs, 2, "the start and the garbage: {c:?}");
    }
}
