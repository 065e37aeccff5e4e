//! The segmenter on virtual time, fed synthetic streams (tsgen) and the ffmpeg fixture. Every
//! snapshot of every run is checked: the playlist validates, reloads only move forward,
//! each segment is its parts and starts with PAT, PMT and (unless forced) a keyframe.

// One real `Instant` is the origin of each run's virtual time.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::validate::{ParsedPlaylist, check_reload_continuity, validate_media_playlist};
use super::*;
use crate::media::packet::{NULL_PID, TsPacket, pid, pusi};
use crate::media::pes::{TIMESTAMP_WRAP, pes_start};
use crate::media::ts::{is_video_random_access, packets};
use crate::media::tsgen::{FFMPEG_FIXTURE, Mux, Start, h264_au};

const VIDEO: u16 = 0x100;
const AUDIO: u16 = 0x101;
const PMT: u16 = 0x1000;
const FRAME_25: u64 = 3600;
const PT: u64 = 29_970;

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A synthetic encoder: PAT/PMT every 5 frames, one video PES per frame, one AAC PES every
/// other frame.
struct Source {
    mux: Mux,
    frame_ticks: u64,
    /// Frames per keyframe; 0: none ever.
    gop: u64,
    frame: u64,
    pts0: u64,
    video_type: Option<u8>,
    audio: bool,
    rai: bool,
    au_size: usize,
    /// Pushed packets (nulls excluded), to check nothing is lost or duplicated.
    log: Vec<TsPacket>,
    nulls: bool,
}

impl Source {
    fn new(frame_ticks: u64, gop: u64) -> Source {
        Source {
            mux: Mux::default(),
            frame_ticks,
            gop,
            frame: 0,
            pts0: 900_000,
            video_type: Some(0x1B),
            audio: true,
            rai: true,
            au_size: 600,
            log: Vec::new(),
            nulls: false,
        }
    }

    fn time(&self) -> u64 {
        self.frame * self.frame_ticks
    }

    fn next_frame(&mut self) -> Vec<TsPacket> {
        let mut out = Vec::new();
        let pts = (self.pts0 + self.time()) % TIMESTAMP_WRAP;
        if self.frame.is_multiple_of(5) {
            out.extend(self.mux.pat(&[(1, PMT)]));
            let mut streams: Vec<(u8, u16, &[u8])> = Vec::new();
            if let Some(st) = self.video_type {
                streams.push((st, VIDEO, &[]));
            }
            if self.audio {
                streams.push((0x0F, AUDIO, &[]));
            }
            out.extend(self.mux.pmt(PMT, &streams));
        }
        if let Some(st) = self.video_type {
            let key = self.gop > 0 && self.frame.is_multiple_of(self.gop);
            let au = match st {
                0x24 => hevc_au(key, self.au_size),
                _ => h264_au(key, self.au_size),
            };
            let start = Start {
                rai: key && self.rai,
                pcr: Some(pts * 300),
            };
            out.extend(self.mux.pes(VIDEO, 0xE0, Some(pts), None, &au, start));
        }
        if self.audio && self.frame.is_multiple_of(2) {
            out.extend(self.mux.pes(
                AUDIO,
                0xC0,
                Some(pts),
                None,
                &[0xFF, 0xF1, 0x50],
                Start::default(),
            ));
        }
        if self.nulls {
            out.push(null_packet());
        }
        self.frame += 1;
        out
    }
}

fn null_packet() -> TsPacket {
    let mut p = [0xFF; 188];
    p[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
    p
}

fn hevc_au(key: bool, size: usize) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 35 << 1, 1, 0x50];
    if key {
        v.extend_from_slice(&[0, 0, 0, 1, 32 << 1, 1, 0x0C, 0, 0, 0, 1, 33 << 1, 1, 0x01]);
        v.extend_from_slice(&[0, 0, 1, 19 << 1, 1, 0xAF]);
    } else {
        v.extend_from_slice(&[0, 0, 1, 1 << 1, 1, 0xD0]);
    }
    v.resize(size.max(v.len()), 0xAA);
    v
}

/// Feeds a segmenter in 7-packet payloads on virtual time and checks every new snapshot.
struct Harness {
    seg: Segmenter,
    t0: Instant,
    carry: Vec<u8>,
    last: Option<ParsedPlaylist>,
    last_gen: u64,
    snapshots: usize,
    /// Segments below this msn had their bytes checked already.
    checked_below: u64,
    /// Header length per segment msn is 2 packets (PAT, PMT) for synthetic streams.
    header_packets: usize,
    expect_keyframes: bool,
}

impl Harness {
    fn new(cfg: HlsConfig) -> Harness {
        let t0 = Instant::now();
        Harness {
            seg: Segmenter::new(cfg, (t0, wall())),
            t0,
            carry: Vec::new(),
            last: None,
            last_gen: 0,
            snapshots: 0,
            checked_below: 0,
            header_packets: 2,
            expect_keyframes: true,
        }
    }

    fn ll() -> Harness {
        Harness::new(HlsConfig::default())
    }

    fn feed(&mut self, pkts: &[TsPacket], arrival: Instant) {
        for p in pkts {
            self.carry.extend_from_slice(p);
            if self.carry.len() == 7 * 188 {
                let payload = std::mem::take(&mut self.carry);
                self.seg.push(&payload, arrival);
                self.check();
            }
        }
    }

    fn run(&mut self, src: &mut Source, frames: u64) {
        for _ in 0..frames {
            let at = self.t0 + Duration::from_nanos(src.time() * 100_000 / 9);
            let pkts = src.next_frame();
            src.log.extend(pkts.iter().filter(|p| pid(p) != NULL_PID));
            self.feed(&pkts, at);
        }
    }

    /// Pushes what is left of the last payload.
    fn flush(&mut self, arrival: Instant) {
        let rest = std::mem::take(&mut self.carry);
        self.seg.push(&rest, arrival);
        self.check();
    }

    fn snap(&self) -> Arc<HlsSnapshot> {
        self.seg.snapshot()
    }

    fn check(&mut self) {
        let s = self.seg.snapshot();
        if s.generation() == self.last_gen {
            return;
        }
        assert_eq!(s.generation(), self.seg.generation());
        self.last_gen = s.generation();
        self.snapshots += 1;
        if !s.is_ready() {
            return;
        }
        let parsed = validate_media_playlist(s.playlist())
            .unwrap_or_else(|e| panic!("{e}\n{}", s.playlist()));
        if let Some(prev) = &self.last {
            check_reload_continuity(prev, &parsed)
                .unwrap_or_else(|e| panic!("{e}\n{}", s.playlist()));
        }
        let below = self.checked_below;
        for seg in s.segments().iter().filter(|g| g.msn >= below) {
            self.checked_below = seg.msn + 1;
            let bytes = s.segment(seg.msn).expect("kept").to_vec();
            assert_eq!(bytes.len(), seg.len);
            let parts: Vec<u8> = seg
                .parts
                .iter()
                .flat_map(|p| p.bytes.iter().copied())
                .collect();
            assert_eq!(bytes, parts, "segment {} is its parts", seg.msn);
            if self.seg.config().part_target.is_some() {
                for (i, p) in seg.parts.iter().enumerate() {
                    assert_eq!(s.part(seg.msn, i as u32).as_ref(), Some(&p.bytes));
                    assert_eq!(p.independent, i == 0 && seg.independent);
                }
            }
            assert!(bytes.len().is_multiple_of(188));
            let pkts: Vec<&TsPacket> = packets(&bytes).collect();
            let h = self.header_packets;
            assert_eq!(pid(pkts[0]), 0, "segment {} starts with the PAT", seg.msn);
            assert!(pkts[1..h].iter().all(|p| pid(p) == PMT || pid(p) == 0x1000));
            if seg.independent {
                let key = pkts[h];
                let es = pid(key) == VIDEO || pid(key) == AUDIO;
                assert!(
                    pusi(key) && es || !self.expect_keyframes,
                    "segment {}",
                    seg.msn
                );
            } else {
                assert!(
                    !self.expect_keyframes,
                    "segment {} is a forced cut",
                    seg.msn
                );
            }
            // The playlist says what the segment is, to the printed precision.
            if let Some(ps) = parsed.segments.iter().find(|p| p.msn == seg.msn) {
                assert_eq!(ps.uri, segment_uri(seg.msn));
                let units = (seg.duration_ticks * 100_000 + 45_000) / 90_000;
                assert_eq!(ps.duration_us, units * 10);
                assert_eq!(ps.discontinuity, seg.discontinuity);
            }
        }
        self.last = Some(parsed);
    }

    /// Every segment and the open parts with their PSI headers cut off, concatenated.
    fn media_without_headers(&self) -> Vec<u8> {
        let s = self.snap();
        let mut out = Vec::new();
        for seg in s.segments() {
            out.extend_from_slice(
                &s.segment(seg.msn).unwrap().to_vec()[self.header_packets * 188..],
            );
        }
        let mut i = 0;
        let next = s.segments().last().map_or(0, |l| l.msn + 1);
        while let Some(p) = s.part(next, i) {
            out.extend_from_slice(if i == 0 {
                &p[self.header_packets * 188..]
            } else {
                &p[..]
            });
            i += 1;
        }
        out
    }
}

#[test]
fn ffmpeg_fixture_segments_start_with_psi_then_the_keyframe() {
    let cfg = HlsConfig {
        target_duration: Duration::from_secs(1),
        ..HlsConfig::default()
    };
    let mut h = Harness::new(cfg);
    let n = FFMPEG_FIXTURE.len() / (7 * 188);
    let mut last_pat = [0u8; 188];
    let mut last_pmt = [0u8; 188];
    let mut expected_headers = Vec::new();
    for (i, chunk) in FFMPEG_FIXTURE.chunks(7 * 188).enumerate() {
        for p in packets(chunk) {
            match pid(p) {
                0 => last_pat = *p,
                0x1000 => last_pmt = *p,
                _ => {}
            }
            if is_video_random_access(p) {
                expected_headers.push([last_pat, last_pmt].concat());
            }
        }
        let at = h.t0 + Duration::from_millis(5000 * i as u64 / n as u64);
        h.seg.push(chunk, at);
        h.check();
    }
    let s = h.snap();
    assert_eq!(
        s.segments().len(),
        4,
        "keyframes at 0-4 s: four finished segments"
    );
    for seg in s.segments() {
        assert_eq!(seg.duration_ticks, 90_000, "segment {}", seg.msn);
        let bytes = s.segment(seg.msn).unwrap().to_vec();
        // The header is the stream's own last PAT and PMT, byte for byte (continuity counter
        // included), so it repeats them as a duplicate packet.
        assert_eq!(bytes[..376], expected_headers[seg.msn as usize][..]);
        let key: &TsPacket = bytes[376..564].try_into().unwrap();
        assert!(is_video_random_access(key));
        assert_eq!(seg.parts.len(), 4, "three 320 ms parts and a 40 ms one");
        for p in &seg.parts[..3] {
            assert_eq!(p.duration_ticks, 8 * FRAME_25);
        }
    }
    assert_eq!(s.target_duration(), Duration::from_secs(1));
    assert_eq!(h.seg.stats().forced_cuts, 0);
    assert!(h.snapshots > 10);
    // Nothing lost, nothing doubled: the segments without their headers are the stream from
    // the first keyframe on.
    let first_key = packets(FFMPEG_FIXTURE)
        .position(is_video_random_access)
        .unwrap();
    let media = h.media_without_headers();
    assert_eq!(
        media,
        FFMPEG_FIXTURE[first_key * 188..first_key * 188 + media.len()]
    );
    // Only a part-so-far of the last segment is missing from `media`.
    assert!(FFMPEG_FIXTURE.len() - first_key * 188 - media.len() < 64 * 188);
}

#[test]
fn fixture_with_two_second_target() {
    let mut h = Harness::ll();
    for chunk in FFMPEG_FIXTURE.chunks(7 * 188) {
        h.seg.push(chunk, h.t0);
        h.check();
    }
    let s = h.snap();
    assert_eq!(
        s.segments()
            .iter()
            .map(|s| s.duration_ticks)
            .collect::<Vec<_>>(),
        [180_000, 180_000]
    );
    assert_eq!(s.target_duration(), Duration::from_secs(2));
}

#[test]
fn segments_are_cut_at_the_first_keyframe_after_the_target() {
    for (gop, want, td) in [
        (25, 180_000, 2),
        (50, 180_000, 2),
        (30, 216_000, 2),
        (40, 288_000, 3),
    ] {
        let mut h = Harness::ll();
        let mut src = Source::new(FRAME_25, gop);
        h.run(&mut src, 400);
        let s = h.snap();
        assert!(s.segments().len() >= 3, "gop {gop}");
        for seg in s.segments() {
            assert_eq!(seg.duration_ticks, want, "gop {gop} segment {}", seg.msn);
        }
        // Set by the first segment, before any playlist was published: it never changed.
        assert_eq!(s.target_duration(), Duration::from_secs(td), "gop {gop}");
        let parsed = validate_media_playlist(s.playlist()).unwrap();
        assert_eq!(parsed.target_duration, td);
        assert!(parsed.independent_segments);
    }
}

#[test]
fn parts_fit_part_target_and_concatenate_to_the_segment() {
    for (frame, want) in [
        (FRAME_25, 8 * FRAME_25),
        (3000, 9 * 3000),
        (3003, 9 * 3003),
        (1500, 19 * 1500),
    ] {
        let mut h = Harness::ll();
        let gop = 2 * 90_000 / frame;
        let mut src = Source::new(frame, gop);
        h.run(&mut src, 12 * 90_000 / frame);
        let s = h.snap();
        for seg in s.segments() {
            let (last, full) = seg.parts.split_last().unwrap();
            for p in full {
                assert_eq!(p.duration_ticks, want, "frame {frame}");
            }
            assert!(last.duration_ticks <= PT && last.duration_ticks > 0);
            assert!(seg.parts[0].independent);
            assert_eq!(seg.parts.iter().filter(|p| p.independent).count(), 1);
        }
        assert!(want <= PT && want * 100 >= PT * 85, "frame {frame}");
    }
}

#[test]
fn nothing_lost_when_keyframes_land_mid_payload() {
    // 5 PSI + video + audio packets a frame make payload boundaries fall anywhere.
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    src.au_size = 900;
    h.run(&mut src, 300);
    let first_key = src
        .log
        .iter()
        .position(|p| pid(p) == VIDEO && pusi(p) && pes_start(p).is_some())
        .unwrap();
    let stream: Vec<u8> = src.log[first_key..].iter().flatten().copied().collect();
    let media = h.media_without_headers();
    assert_eq!(media[..], stream[..media.len()]);
    let s = h.snap();
    // The packets before a keyframe in its payload ended the previous segment.
    for w in s.segments().windows(2) {
        let prev = s.segment(w[0].msn).unwrap().to_vec();
        let next = s.segment(w[1].msn).unwrap().to_vec();
        let key = &next[376..564];
        let at = stream.windows(188).position(|x| x == key).unwrap();
        assert_eq!(prev[prev.len() - 188..], stream[at - 188..at]);
    }
}

#[test]
fn window_slides_and_media_sequence_continues() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    h.run(&mut src, 25 * 40);
    let s = h.snap();
    let parsed = validate_media_playlist(s.playlist()).unwrap();
    assert_eq!(parsed.segments.len(), 6);
    let last = s.segments().last().unwrap().msn;
    assert_eq!(last, 18, "40 s of 2 s segments, the 20th still open");
    assert_eq!(parsed.media_sequence, last - 5);
    assert_eq!(s.media_sequence(), last - 5);
    assert_eq!(
        s.segments().len(),
        8,
        "six listed, two kept after the window"
    );
    assert!(s.segment(last - 7).is_some());
    assert!(s.segment(last - 8).is_none());
    assert_eq!(s.has_segment(last - 8), Availability::Gone);
    assert_eq!(s.has_segment(last - 7), Availability::Ready);
    // Parts are listed for the newest segments only (wholly within 3 target durations).
    let with_parts: Vec<u64> = parsed
        .segments
        .iter()
        .filter(|s| !s.parts.is_empty())
        .map(|s| s.msn)
        .collect();
    assert_eq!(with_parts, [last - 1, last]);
    // Parts of older segments stay downloadable while the segment is kept (§6.2.2).
    assert!(s.part(last - 7, 0).is_some());
    assert!(h.snapshots > 100);
}

#[test]
fn discontinuities_number_and_slide_out() {
    let mut h = Harness::ll();
    let mut a = Source::new(FRAME_25, 25);
    h.run(&mut a, 25 * 5);
    h.seg.discontinuity();
    h.check();
    let closed = h.snap();
    assert!(closed.segments().last().unwrap().duration_ticks > 0);
    assert_eq!(closed.has_part(closed.next_msn, 0), Availability::NotYet);
    // A new publisher: fresh continuity counters, its timestamps from an earlier origin.
    let mut b = Source::new(FRAME_25, 25);
    b.pts0 = 7_000;
    b.frame = 0;
    let offset = Duration::from_secs(6);
    let t0 = h.t0;
    h.t0 = t0 + offset;
    h.run(&mut b, 25 * 30);
    let s = h.snap();
    let disc: Vec<_> = s.segments().iter().filter(|s| s.discontinuity).collect();
    assert!(
        disc.is_empty(),
        "the discontinuity slid out of the kept window"
    );
    let parsed = validate_media_playlist(s.playlist()).unwrap();
    assert_eq!(parsed.discontinuity_sequence, 1);
    assert!(
        parsed
            .segments
            .iter()
            .all(|p| p.discontinuity_sequence == 1)
    );
    assert_eq!(h.seg.stats().discontinuities, 1);
    assert_eq!(h.seg.stats().timestamp_jumps, 0);
}

#[test]
fn discontinuity_is_listed_while_in_the_window() {
    let mut h = Harness::ll();
    let mut a = Source::new(FRAME_25, 25);
    h.run(&mut a, 25 * 7);
    h.seg.discontinuity();
    let mut b = Source::new(FRAME_25, 25);
    b.pts0 = 5;
    h.run(&mut b, 25 * 5);
    let parsed = validate_media_playlist(h.snap().playlist()).unwrap();
    let d: Vec<_> = parsed.segments.iter().filter(|s| s.discontinuity).collect();
    assert_eq!(d.len(), 1);
    assert_eq!(parsed.discontinuity_sequence, 0);
    assert_eq!(d[0].discontinuity_sequence, 1);
    let after = parsed.segments.iter().skip_while(|s| !s.discontinuity);
    assert!(after.clone().all(|s| s.discontinuity_sequence == 1));
    assert!(
        h.snap()
            .playlist()
            .contains("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME")
    );
}

#[test]
fn timestamp_jump_is_a_discontinuity_and_the_wrap_is_not() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    // 33-bit wrap 3 s in.
    src.pts0 = TIMESTAMP_WRAP - 3 * 90_000;
    h.run(&mut src, 25 * 8);
    assert_eq!(h.seg.stats().timestamp_jumps, 0);
    assert!(
        h.snap()
            .segments()
            .iter()
            .all(|s| s.duration_ticks == 180_000)
    );
    // The encoder restarts: its clock jumps an hour ahead.
    src.pts0 += 3600 * 90_000;
    h.run(&mut src, 25 * 6);
    assert_eq!(h.seg.stats().timestamp_jumps, 1);
    assert_eq!(h.seg.stats().discontinuities, 1);
    let parsed = validate_media_playlist(h.snap().playlist()).unwrap();
    assert_eq!(
        parsed.segments.iter().filter(|s| s.discontinuity).count(),
        1
    );
}

#[test]
fn blocking_reload_and_preload_answers() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    // 21.5 s: msn 10 open with parts.
    h.run(&mut src, 25 * 21 + 12);
    let s = h.snap();
    let n = s.next_msn;
    let k = s.open.as_ref().unwrap().parts.len() as u32;
    assert!(k >= 1);
    use Availability::*;
    assert_eq!(s.has(n - 1, None), Ready);
    assert_eq!(
        s.has(0, None),
        Ready,
        "an old msn: the playlist is answered at once"
    );
    assert_eq!(s.has(n, None), NotYet);
    assert_eq!(s.has(n + 1, None), NotYet);
    assert_eq!(
        s.has(n + 2, None),
        TooFarAhead,
        "more than the last segment plus two"
    );
    assert_eq!(s.has(n, Some(k - 1)), Ready);
    assert_eq!(s.has(n, Some(k)), NotYet);
    // Advance Part Limit: 3 / 0.333 s = 9 parts past the last listed one.
    assert_eq!(s.has(n, Some(k - 1 + 9)), NotYet);
    assert_eq!(s.has(n, Some(k + 9)), TooFarAhead);
    // §6.2.5.2: past the last part of a segment means part 0 of the next.
    let parts_prev = s.segments().last().unwrap().parts.len() as u32;
    assert_eq!(s.has(n - 1, Some(parts_prev - 1)), Ready);
    assert_eq!(s.has(n - 1, Some(parts_prev)), s.has(n, Some(0)));
    assert_eq!(s.has(n - 1, Some(parts_prev + 5)), Ready, "n has part 0");
    assert_eq!(s.has(n + 1, Some(0)), NotYet);
    // Part and segment resources.
    assert_eq!(s.has_part(n, k - 1), Ready);
    assert_eq!(s.has_part(n, k), NotYet, "the hinted part");
    assert!(s.playlist().contains(&format!(
        "PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
        part_uri(n, k as usize)
    )));
    assert_eq!(s.has_part(n, k + 1), TooFarAhead);
    assert_eq!(s.has_part(n + 1, 0), TooFarAhead);
    assert_eq!(s.has_part(n - 1, parts_prev - 1), Ready);
    assert_eq!(
        s.has_part(n - 1, parts_prev),
        Gone,
        "a hinted part its segment ended before"
    );
    assert_eq!(s.has_part(0, 0), Gone);
    assert_eq!(s.has_segment(n), NotYet);
    assert_eq!(s.has_segment(n + 1), TooFarAhead);
    assert_eq!(s.has_segment(n - 1), Ready);
    assert!(s.part(n, k).is_none() && s.part(n, k - 1).is_some());
    // The hinted part becomes Ready in a later generation.
    let g = s.generation();
    while h.snap().has_part(n, k) == NotYet {
        h.run(&mut src, 1);
    }
    assert!(h.snap().generation() > g);
    assert_eq!(h.snap().has_part(n, k), Ready);
}

#[test]
fn before_the_first_segment_nothing_is_served() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    h.run(&mut src, 30);
    let s = h.snap();
    assert!(!s.is_ready() && s.playlist().is_empty());
    assert!(s.generation() > 0, "parts were finished");
    assert_eq!(s.has(0, None), Availability::NotYet);
    assert_eq!(s.has(2, None), Availability::TooFarAhead);
    assert_eq!(s.has_part(0, 0), Availability::Ready);
    h.run(&mut src, 30);
    assert!(h.snap().is_ready());
}

#[test]
fn plain_hls_has_segments_only() {
    let mut h = Harness::new(HlsConfig {
        part_target: None,
        ..HlsConfig::default()
    });
    let mut src = Source::new(FRAME_25, 25);
    h.run(&mut src, 25 * 15);
    let s = h.snap();
    let text = s.playlist();
    assert!(
        !text.contains("EXT-X-PART")
            && !text.contains("PRELOAD")
            && !text.contains("SERVER-CONTROL")
    );
    let n = s.next_msn;
    assert_eq!(s.has(n, Some(3)), s.has(n, None), "part is ignored");
    assert_eq!(s.has_part(n - 1, 0), Availability::Gone);
    assert!(s.part(n - 1, 0).is_none());
    assert_eq!(
        s.segment(n - 1).unwrap().len(),
        s.segments().last().unwrap().len
    );
    assert_eq!(h.seg.stats().parts, 0);
    assert!(
        s.segments()
            .iter()
            .all(|s| s.parts.len() == 1 && s.duration_ticks == 180_000)
    );
}

#[test]
fn audio_only_streams_cut_at_audio_pes_starts() {
    let mut h = Harness::ll();
    // AAC at 48 kHz: 1024 samples = 1920 ticks, one PES per frame.
    let mut src = Source::new(1920, 1);
    src.video_type = None;
    src.audio = false;
    let mut mux_audio = Mux::default();
    for frame in 0..(12 * 90_000 / 1920u64) {
        let mut pkts = Vec::new();
        if frame.is_multiple_of(10) {
            pkts.extend(src.mux.pat(&[(1, PMT)]));
            pkts.extend(src.mux.pmt(PMT, &[(0x0F, AUDIO, &[])]));
        }
        let pts = 10_000 + frame * 1920;
        pkts.extend(mux_audio.pes(AUDIO, 0xC0, Some(pts), None, &[0xFF; 300], Start::default()));
        h.feed(
            &pkts,
            h.t0 + Duration::from_nanos(frame * 1920 * 100_000 / 9),
        );
    }
    let s = h.snap();
    assert!(s.segments().len() >= 4);
    for seg in s.segments() {
        // The first PES start at or after 2 s: 94 frames.
        assert_eq!(seg.duration_ticks, 94 * 1920);
        let bytes = s.segment(seg.msn).unwrap().to_vec();
        let first: &TsPacket = bytes[376..564].try_into().unwrap();
        assert!(pid(first) == AUDIO && pusi(first));
        for p in &seg.parts[..seg.parts.len() - 1] {
            assert_eq!(p.duration_ticks, 15 * 1920);
        }
    }
    assert_eq!(h.seg.stats().forced_cuts, 0);
}

#[test]
fn keyframes_found_by_nal_without_the_indicator() {
    for st in [0x1B, 0x24] {
        let mut h = Harness::ll();
        let mut src = Source::new(FRAME_25, 25);
        src.rai = false;
        src.video_type = Some(st);
        h.run(&mut src, 25 * 9);
        let s = h.snap();
        assert_eq!(s.segments().len(), 4, "stream type {st:#x}");
        assert!(
            s.segments()
                .iter()
                .all(|s| s.independent && s.duration_ticks == 180_000)
        );
        assert_eq!(h.seg.stats().forced_cuts, 0);
    }
}

#[test]
fn no_keyframes_cut_at_three_targets_and_memory_stays_bounded() {
    let mut h = Harness::ll();
    h.expect_keyframes = false;
    let mut src = Source::new(FRAME_25, 0);
    h.run(&mut src, 25 * 60);
    let s = h.snap();
    let st = h.seg.stats();
    assert!(st.forced_cuts >= 8, "{st:?}");
    // Waited 3 target durations for a keyframe, then cuts every 3.
    assert!(
        s.segments()
            .iter()
            .all(|s| !s.independent && s.duration_ticks == 3 * 180_000)
    );
    let parsed = validate_media_playlist(s.playlist()).unwrap();
    assert!(!parsed.independent_segments);
    assert_eq!(parsed.target_duration, 6);
    assert!(s.segments().len() <= 6 + 2);
    assert!(!s.playlist().contains("INDEPENDENT=YES"));
}

#[test]
fn byte_cap_bounds_every_segment() {
    let cap = 64 << 10;
    let mut h = Harness::new(HlsConfig {
        max_segment_bytes: cap,
        ..HlsConfig::default()
    });
    h.expect_keyframes = false;
    let mut src = Source::new(FRAME_25, 25);
    src.au_size = 20_000;
    h.run(&mut src, 25 * 30);
    let s = h.snap();
    assert!(h.seg.stats().byte_cap_cuts > 10);
    assert!(s.segments().iter().all(|s| s.len <= cap));
    let kept: usize = s.segments().iter().map(|s| s.len).sum();
    assert!(kept <= (4 * 6 + 2) * cap);
    validate_media_playlist(s.playlist()).unwrap();
}

#[test]
fn program_dates_follow_the_anchor_and_chain() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    // The stream starts 0.6 s after the anchor (frame 15), its first keyframe 1.0 s after.
    src.frame = 15;
    h.t0 -= Duration::from_nanos(15 * FRAME_25 * 100_000 / 9);
    h.seg = Segmenter::new(HlsConfig::default(), (h.t0, wall()));
    h.run(&mut src, 25 * 10);
    let s = h.snap();
    let first = &s.segments()[0];
    // The segment starts with the first keyframe, frame 25: 1.0 s after the anchor, dated
    // when the payload holding it arrived (it fills up with the next frame's packets).
    let late = first
        .program_date_time
        .duration_since(wall() + Duration::from_secs(1))
        .unwrap();
    assert!(late <= Duration::from_millis(40), "{late:?}");
    for w in s.segments().windows(2) {
        assert_eq!(
            w[1].program_date_time,
            w[0].program_date_time + w[0].duration()
        );
    }
    let parsed = validate_media_playlist(s.playlist()).unwrap();
    let date = parsed.segments[0].program_date_time.as_deref().unwrap();
    assert!(date.starts_with("2023-11-14T22:13:21.0"), "{date}");
}

#[test]
fn null_packets_are_left_out() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    src.nulls = true;
    h.run(&mut src, 25 * 5);
    h.flush(h.t0 + Duration::from_secs(5));
    assert_eq!(h.seg.stats().null_packets, 25 * 5);
    let s = h.snap();
    for seg in s.segments() {
        assert!(packets(&s.segment(seg.msn).unwrap().to_vec()).all(|p| pid(p) != NULL_PID));
    }
}

#[test]
fn generation_moves_with_every_finished_part() {
    let mut h = Harness::ll();
    let mut src = Source::new(FRAME_25, 25);
    let mut parts = 0;
    let mut gen_ = 0;
    for _ in 0..250 {
        h.run(&mut src, 1);
        let st = *h.seg.stats();
        if st.parts != parts {
            assert!(h.seg.generation() > gen_);
        } else {
            assert_eq!(h.seg.generation(), gen_);
        }
        parts = st.parts;
        gen_ = h.seg.generation();
    }
    assert!(parts > 20);
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    let mut seed = 0x0123_4567_89AB_CDEFu64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut seg = Segmenter::new(
        HlsConfig {
            max_segment_bytes: 64 << 10,
            ..HlsConfig::default()
        },
        (Instant::now(), wall()),
    );
    let t0 = Instant::now();
    for i in 0..20_000u64 {
        let mut payload = [0u8; 7 * 188];
        for b in payload.iter_mut() {
            *b = rnd() as u8;
        }
        for p in payload.chunks_mut(188) {
            p[0] = 0x47;
        }
        seg.push(&payload, t0 + Duration::from_millis(i));
    }
    // Then a valid stream with bytes flipped: the PSI is found, segments come and go.
    let mut src = Source::new(FRAME_25, 25);
    for f in 0..25 * 60u64 {
        let mut bytes: Vec<u8> = src.next_frame().iter().flatten().copied().collect();
        for _ in 0..(rnd() % 3) {
            let at = (rnd() as usize) % bytes.len();
            bytes[at] ^= 1 << (rnd() % 8);
        }
        let odd = if f % 97 == 0 { 5 } else { 0 };
        seg.push(
            &bytes[..bytes.len() - odd],
            t0 + Duration::from_millis(20_000 + f * 40),
        );
        let s = seg.snapshot();
        let kept: usize = s.segments().iter().map(|s| s.len).sum();
        assert!(kept <= (4 * 6 + 2) * (64 << 10));
        if let Some(last) = s.segments().last() {
            let _ = s.has(last.msn + 1, Some(3));
            let _ = s.has_part(last.msn, 1);
        }
    }
    assert!(seg.stats().segments > 0);
    assert!(seg.stats().bad_packets > 0);
}

#[test]
fn media_bytes_is_a_buf_over_the_parts() {
    use bytes::{Buf, Bytes};
    let part = |b: &'static [u8]| Part {
        bytes: Bytes::from_static(b),
        duration_ticks: 1,
        independent: false,
    };
    let seg = Segment::new(
        0,
        vec![part(b"abc"), part(b"d"), part(b"efgh")],
        false,
        0,
        wall(),
        true,
    );
    let mut m = seg.bytes();
    assert_eq!((m.len(), m.remaining(), m.chunk()), (8, 8, &b"abc"[..]));
    m.advance(2);
    assert_eq!(m.chunk(), b"c");
    m.advance(1);
    assert_eq!(m.chunk(), b"d");
    m.advance(2);
    assert_eq!((m.chunk(), m.remaining()), (&b"fgh"[..], 3));
    assert_eq!(m.to_vec(), b"fgh");
    m.advance(100);
    assert!(m.is_empty() && m.chunk().is_empty());
    assert_eq!(
        seg.bytes().copy_to_bytes(8),
        Bytes::from_static(b"abcdefgh")
    );
}

#[test]
fn a_burst_of_late_packets_does_not_overlap_dates() {
    // The whole fixture arrives at one instant (a backlog): dates follow the media, never
    // stepping back by a second or a whole segment.
    let mut h = Harness::new(HlsConfig {
        target_duration: Duration::from_secs(1),
        ..HlsConfig::default()
    });
    for chunk in FFMPEG_FIXTURE.chunks(7 * 188) {
        h.seg.push(chunk, h.t0);
        h.check();
    }
    let s = h.snap();
    for w in s.segments().windows(2) {
        let end = w[0].program_date_time + w[0].duration();
        assert!(w[1].program_date_time > w[0].program_date_time);
        assert!(
            end.duration_since(w[1].program_date_time)
                .unwrap_or_default()
                <= Duration::from_millis(500)
        );
    }
}
