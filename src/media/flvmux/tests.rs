//! `TsToFlv` on the ffmpeg fixtures, both ways round (TS -> FLV -> TS with `FlvRemux`, and
//! FLV -> TS -> FLV), and on hand-made streams from `tsgen` for the drops and the timeline.

use super::*;
use crate::media::flv::{self, AudioTag, VideoPacket};
use crate::media::remux::FlvRemux;
use crate::media::remux::fixture_tests::{FLV_FIXTURE, flv_tags};
use crate::media::ts;
use crate::media::tsgen::{self, FFMPEG_FIXTURE, Mux, Start};

/// One PES as read back by a reader independent of the one under test (`pes::pes_start` on
/// its first packet, payloads joined until the next start on the PID).
#[derive(Debug, Clone)]
struct Es {
    pts: u64,
    dts: u64,
    data: Vec<u8>,
}

fn read_pes(stream: &[u8], pid: u16) -> Vec<Es> {
    let mut done = Vec::new();
    let mut open: Option<Es> = None;
    for p in ts::packets(stream) {
        if packet::pid(p) != pid {
            continue;
        }
        let Some(payload) = packet::payload(p) else {
            continue;
        };
        if packet::pusi(p) {
            done.extend(open.take());
            let s = pes::pes_start(p).expect("PES header in its first packet");
            open = Some(Es {
                pts: s.pts.expect("pts"),
                dts: s.decode_time().expect("dts"),
                data: s.es.to_vec(),
            });
        } else if let Some(o) = &mut open {
            o.data.extend_from_slice(payload);
        }
    }
    done.extend(open);
    done
}

/// NAL units of an access unit other than delimiters and parameter sets.
fn coded_units(es: &[u8]) -> Vec<Vec<u8>> {
    avc::nal_units(es)
        .filter(|n| !matches!(n[0] & 0x1F, 7..=9))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Raw AAC frames (ADTS headers off) of an audio PES, split by their frame lengths.
fn adts_frames(es: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 7 <= es.len() {
        let h = &es[at..];
        let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
        let header = if h[1] & 1 == 1 { 7 } else { 9 };
        v.push(es[at + header..at + len].to_vec());
        at += len;
    }
    v
}

fn convert(stream: &[u8]) -> (Vec<FlvTag>, TsToFlvStats) {
    let mut m = TsToFlv::new();
    let mut tags = Vec::new();
    m.push(stream, &mut tags);
    m.flush(&mut tags);
    (tags, *m.stats())
}

/// What `FlvRemux` makes of tags, as an RTMP session would hand them over.
fn remux(tags: &[FlvTag]) -> Vec<u8> {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    for t in tags {
        match t.kind {
            TagKind::Video => r.video(t.timestamp_ms, &t.body, &mut out).expect("video"),
            TagKind::Audio => r.audio(t.timestamp_ms, &t.body, &mut out).expect("audio"),
            TagKind::Script => r.expect_tracks(true, true),
        }
    }
    assert_eq!(r.stats().malformed, 0, "{:?}", r.stats());
    out
}

fn assert_clean(s: &TsToFlvStats) {
    assert_eq!(
        s.sync_losses
            + s.transport_errors
            + s.continuity_errors
            + s.pes_errors
            + s.oversize_pes
            + s.timestamp_jumps
            + s.video_before_keyframe
            + s.no_parameter_sets
            + s.adts_errors
            + s.unsupported_pes,
        0,
        "{s:?}"
    );
}

fn ms(ticks: i64) -> i64 {
    ticks.div_euclid(90)
}

#[test]
fn ffmpeg_ts_round_trip_through_flv_keeps_frames_and_times() {
    let (tags, stats) = convert(FFMPEG_FIXTURE);
    assert_clean(&stats);
    assert_eq!(tags[0].kind, TagKind::Script, "onMetaData first");
    assert!(tags[1].is_sequence_header() && tags[1].kind == TagKind::Video);
    assert!(tags[2].is_keyframe() && !tags[2].is_sequence_header());
    assert_eq!((stats.video_sequence_headers, stats.metadata_out), (1, 1));
    assert_eq!(stats.audio_sequence_headers, 1);

    let src_video = read_pes(FFMPEG_FIXTURE, 0x100);
    let src_audio = read_pes(FFMPEG_FIXTURE, 0x101);
    let out = remux(&tags);
    let back_video = read_pes(&out, crate::media::remux::VIDEO_PID);
    let back_audio = read_pes(&out, crate::media::remux::AUDIO_PID);

    // Every access unit, the same coded NAL units, at the same times relative to the first.
    assert_eq!(src_video.len(), 125, "5 s at 25 fps");
    assert_eq!(back_video.len(), src_video.len());
    assert_eq!(stats.video_frames_out, 125);
    assert_eq!(stats.keyframes_out, 5);
    let (s0, b0) = (src_video[0].dts as i64, back_video[0].dts as i64);
    for (i, (s, b)) in src_video.iter().zip(&back_video).enumerate() {
        assert_eq!(coded_units(&s.data), coded_units(&b.data), "frame {i}");
        assert_eq!(
            ms(s.dts as i64 - s0),
            ms(b.dts as i64 - b0),
            "dts of frame {i}"
        );
        assert_eq!(
            ms(s.pts as i64 - s0),
            ms(b.pts as i64 - b0),
            "pts of frame {i}"
        );
    }

    // Audio: every ADTS frame from the first keyframe on, the same bytes, 64 ms apart (1024
    // samples at 16 kHz) from where the source put them.
    let mut src_frames = Vec::new();
    for e in &src_audio {
        for (n, f) in adts_frames(&e.data).into_iter().enumerate() {
            src_frames.push((e.pts as i64 + n as i64 * 1024 * 90_000 / 16_000, f));
        }
    }
    let kept: Vec<_> = src_frames.iter().filter(|(t, _)| *t >= s0).collect();
    assert_eq!(
        stats.audio_frames_out + stats.audio_before_start,
        src_frames.len() as u64
    );
    assert_eq!(stats.audio_frames_out, kept.len() as u64);
    assert!(kept.len() > 70, "{} audio frames", kept.len());
    assert_eq!(
        back_audio.len(),
        kept.len(),
        "one PES per frame in FlvRemux"
    );
    for (i, ((t, raw), b)) in kept.iter().zip(&back_audio).enumerate() {
        assert_eq!(
            adts_frames(&b.data),
            std::slice::from_ref(raw),
            "audio frame {i}"
        );
        assert_eq!(ms(t - s0), ms(b.pts as i64 - b0), "audio time {i}");
    }
}

#[test]
fn ffmpeg_flv_through_ts_and_back_is_the_same_tags() {
    // The FLV fixture has B-frames: composition times survive the trip.
    let src: Vec<_> = flv_tags(FLV_FIXTURE);
    let mut r = FlvRemux::new();
    r.expect_tracks(true, true);
    let mut stream = Vec::new();
    for t in &src {
        let _ = match t.kind {
            8 => r.audio(t.timestamp_ms, t.body, &mut stream),
            9 => r.video(t.timestamp_ms, t.body, &mut stream),
            _ => Ok(()),
        };
    }
    let (tags, stats) = convert(&stream);
    assert_clean(&stats);
    let src_video: Vec<_> = src
        .iter()
        .filter(|t| t.kind == 9)
        .filter(|t| {
            matches!(
                flv::parse_video(t.body).map(|v| v.packet),
                Ok(VideoPacket::SequenceStart(_) | VideoPacket::Frames { .. })
            )
        })
        .collect();
    let out_video: Vec<_> = tags.iter().filter(|t| t.kind == TagKind::Video).collect();
    assert_eq!(out_video.len(), src_video.len(), "header + 120 frames");
    let (s0, o0) = (src_video[0].timestamp_ms, out_video[0].timestamp_ms);
    assert_eq!(o0, 0, "the timeline starts at the keyframe");
    // The sequence header byte for byte; frames with the same header (frame type, packet
    // type, composition time) and NAL units, plus the SPS and PPS FlvRemux put in front of
    // each keyframe, which stay in band.
    assert_eq!(src_video[0].body, &out_video[0].body[..]);
    for (i, (s, o)) in src_video.iter().zip(&out_video).enumerate().skip(1) {
        assert_eq!(s.body[..5], o.body[..5], "video tag {i} header");
        let units = |b: &[u8]| -> Vec<Vec<u8>> {
            let mut v = Vec::new();
            let mut rest = &b[5..];
            while let [a, b, c, d, tail @ ..] = rest {
                let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
                v.push(tail[..n].to_vec());
                rest = &tail[n..];
            }
            v
        };
        let (ours, theirs) = (units(&o.body), units(s.body));
        let in_band: Vec<_> = ours
            .iter()
            .filter(|u| matches!(u[0] & 0x1F, 7 | 8))
            .collect();
        assert_eq!(
            in_band.len(),
            if s.body[0] >> 4 == 1 { 2 } else { 0 },
            "{i}"
        );
        let coded: Vec<_> = ours
            .into_iter()
            .filter(|u| !matches!(u[0] & 0x1F, 7 | 8))
            .collect();
        assert_eq!(coded, theirs, "video tag {i}");
        assert_eq!(s.timestamp_ms - s0, o.timestamp_ms - o0, "video tag {i}");
    }
    let src_audio: Vec<_> = src
        .iter()
        .filter(|t| t.kind == 8)
        .filter_map(|t| match flv::parse_audio(t.body) {
            Ok(AudioTag::AacRaw(raw)) => Some((t.timestamp_ms, raw)),
            _ => None,
        })
        .filter(|(ts, _)| *ts >= s0)
        .collect();
    let out_audio: Vec<_> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Audio && !t.is_sequence_header())
        .collect();
    assert_eq!(out_audio.len(), src_audio.len());
    for (i, ((ts, raw), o)) in src_audio.iter().zip(&out_audio).enumerate() {
        assert_eq!(&o.body[2..], *raw, "audio tag {i}");
        // The remux's 90 kHz times and the ms floor agree within a millisecond.
        assert!(
            (i64::from(ts - s0) - i64::from(o.timestamp_ms)).abs() <= 1,
            "{i}"
        );
    }
    // The sequence headers are what ffmpeg wrote.
    let asc = src.iter().find_map(|t| match flv::parse_audio(t.body) {
        Ok(AudioTag::AacConfig(c)) if !c.is_empty() => Some(c),
        _ => None,
    });
    let ours = tags
        .iter()
        .find(|t| t.kind == TagKind::Audio)
        .expect("audio");
    assert!(ours.is_sequence_header());
    assert_eq!(Some(&ours.body[2..4]), asc.map(|c| &c[..2]));
}

#[test]
fn any_split_of_the_input_gives_the_same_tags() {
    let (whole, _) = convert(FFMPEG_FIXTURE);
    for piece in [1, 7, 187, 189, 1316, 5000] {
        let mut m = TsToFlv::new();
        let mut tags = Vec::new();
        for c in FFMPEG_FIXTURE.chunks(piece) {
            m.push(c, &mut tags);
        }
        m.flush(&mut tags);
        assert_eq!(tags, whole, "pieces of {piece}");
    }
}

#[test]
fn garbage_between_packets_resyncs() {
    let mut stream = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    stream.extend_from_slice(&FFMPEG_FIXTURE[..188 * 100]);
    stream.extend_from_slice(&[0x00, 0x11, 0x22]);
    stream.extend_from_slice(&FFMPEG_FIXTURE[188 * 100..]);
    let (tags, stats) = convert(&stream);
    assert_eq!(stats.sync_losses, 2);
    assert_eq!(stats.bytes_skipped, 19 + 3);
    assert_eq!(tags, convert(FFMPEG_FIXTURE).0);
}

/// A hand-made program: PAT, PMT with H.264 on 0x100 and AAC on 0x101.
struct Program {
    mux: Mux,
    out: Vec<u8>,
}

const V: u16 = 0x100;
const A: u16 = 0x101;

impl Program {
    fn new(streams: &[(u8, u16, &[u8])]) -> Program {
        let mut mux = Mux::default();
        let mut out = tsgen::concat(&mux.pat(&[(1, 0x1000)]));
        out.extend(tsgen::concat(&mux.pmt(0x1000, streams)));
        Program { mux, out }
    }

    fn av() -> Program {
        Program::new(&[(STREAM_TYPE_H264, V, &[]), (STREAM_TYPE_AAC_ADTS, A, &[])])
    }

    fn video(&mut self, idr: bool, dts: u64) -> &mut Self {
        let au = tsgen::h264_au(idr, 300);
        let p = self
            .mux
            .pes(V, 0xE0, Some(dts + 3600), Some(dts), &au, Start::default());
        self.out.extend(tsgen::concat(&p));
        self
    }

    /// One AAC LC 48 kHz stereo frame of `len` raw bytes.
    fn audio(&mut self, pts: u64, len: usize) -> &mut Self {
        let config = AdtsConfig {
            profile: 1,
            sampling_index: 3,
            channels: 2,
        };
        let mut es = config.header(len).expect("fits").to_vec();
        es.extend(std::iter::repeat_n(0x21, len));
        let p = self
            .mux
            .pes(A, 0xC0, Some(pts), None, &es, Start::default());
        self.out.extend(tsgen::concat(&p));
        self
    }
}

#[test]
fn waits_for_a_keyframe_and_holds_audio_until_then() {
    let mut p = Program::av();
    p.audio(90_000 - 1920, 10)
        .video(false, 90_000 - 3600)
        .audio(90_000, 10)
        .video(true, 90_000)
        .audio(90_000 + 1920, 10)
        .video(false, 93_600);
    let (tags, stats) = convert(&p.out);
    assert_eq!(stats.video_before_keyframe, 1);
    // The audio frame before the keyframe is dropped, the one at its time kept.
    assert_eq!(stats.audio_before_start, 1);
    let kinds: Vec<_> = tags
        .iter()
        .map(|t| (t.kind, t.timestamp_ms, t.is_sequence_header()))
        .collect();
    assert_eq!(
        kinds,
        [
            (TagKind::Script, 0, false),
            (TagKind::Video, 0, true),
            (TagKind::Video, 0, false),
            (TagKind::Audio, 0, true),
            (TagKind::Audio, 0, false),
            (TagKind::Audio, 21, false),
            (TagKind::Video, 40, false),
        ]
    );
    assert_eq!(
        &tags[2].body[..5],
        [0x17, 1, 0, 0, 40],
        "keyframe, CTS 40 ms"
    );
    assert_eq!(tags[3].body, [0xAF, 0, 0x11, 0x90], "AAC LC 48 kHz stereo");
    // The metadata names both codecs.
    let meta = &tags[0].body;
    for key in [&b"videocodecid"[..], b"audiocodecid", b"onMetaData"] {
        assert!(meta.windows(key.len()).any(|w| w == key));
    }
}

#[test]
fn audio_only_program_starts_at_once() {
    let mut p = Program::new(&[(STREAM_TYPE_AAC_ADTS, A, &[])]);
    p.audio(5_000, 50).audio(5_000 + 1920, 50);
    let (tags, stats) = convert(&p.out);
    assert_eq!(stats.audio_frames_out, 2);
    let t: Vec<_> = tags.iter().map(|t| (t.kind, t.timestamp_ms)).collect();
    assert_eq!(
        t,
        [
            (TagKind::Script, 0),
            (TagKind::Audio, 0),
            (TagKind::Audio, 0),
            (TagKind::Audio, 21)
        ]
    );
}

#[test]
fn several_adts_frames_in_one_pes_get_their_own_times() {
    let mut p = Program::new(&[(STREAM_TYPE_AAC_ADTS, A, &[])]);
    let config = AdtsConfig {
        profile: 1,
        sampling_index: 3,
        channels: 2,
    };
    let mut es = Vec::new();
    for n in 0..4u8 {
        es.extend_from_slice(&config.header(5).expect("fits"));
        es.extend_from_slice(&[n; 5]);
    }
    let pes = p.mux.pes(A, 0xC0, Some(0), None, &es, Start::default());
    p.out.extend(tsgen::concat(&pes));
    let (tags, stats) = convert(&p.out);
    assert_eq!(stats.audio_frames_out, 4);
    let frames: Vec<_> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Audio && !t.is_sequence_header())
        .map(|t| (t.timestamp_ms, t.body[2]))
        .collect();
    assert_eq!(frames, [(0, 0), (21, 1), (42, 2), (64, 3)]);
}

#[test]
fn timestamps_stay_monotonic_across_wraps_resets_and_discontinuities() {
    let mut p = Program::av();
    // Across the 33-bit wrap: plain 40 ms steps.
    p.video(true, TIMESTAMP_WRAP - 7_200)
        .video(false, TIMESTAMP_WRAP - 3_600)
        .video(false, 0)
        .video(false, 3_600);
    // The source's clock goes back 10 s: rebased where the stream is.
    p.video(false, TIMESTAMP_WRAP - 900_000)
        .video(false, TIMESTAMP_WRAP - 896_400);
    // A signalled discontinuity 10 s ahead (which without the flag would be a gap kept).
    let au = tsgen::h264_au(false, 300);
    let start = Start {
        rai: true,
        pcr: None,
    };
    let t = TIMESTAMP_WRAP - 896_400 + 900_000;
    let mut pkts = p.mux.pes(V, 0xE0, Some(t), Some(t), &au, start);
    pkts[0][5] |= 0x80;
    p.out.extend(tsgen::concat(&pkts));
    p.video(false, t + 3_600);
    let (tags, stats) = convert(&p.out);
    let times: Vec<u32> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Video && !t.is_sequence_header())
        .map(|t| t.timestamp_ms)
        .collect();
    assert_eq!(times, [0, 40, 80, 120, 120, 160, 160, 200]);
    assert_eq!(stats.timestamp_jumps, 2, "{stats:?}");
    assert_eq!(stats.discontinuities, 1);
}

#[test]
fn changed_parameter_sets_send_a_new_sequence_header() {
    let mut p = Program::av();
    p.video(true, 0).video(false, 3600);
    // A keyframe with another SPS (level byte changed).
    let mut au = tsgen::h264_au(true, 300);
    let at = au.windows(2).position(|w| w == [0x67, 0x42]).expect("SPS");
    au[at + 3] = 0x1F;
    let pes = p
        .mux
        .pes(V, 0xE0, Some(7200), Some(7200), &au, Start::default());
    p.out.extend(tsgen::concat(&pes));
    p.video(true, 10_800).video(false, 14_400);
    let (tags, stats) = convert(&p.out);
    // The third keyframe carries the first SPS again: a change too.
    assert_eq!(stats.video_sequence_headers, 3);
    let headers: Vec<_> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Video && t.is_sequence_header())
        .collect();
    assert_eq!(headers[1].timestamp_ms, 80);
    assert_eq!(headers[1].body[5 + 3], 0x1F, "the new level in the record");
    assert_eq!(stats.keyframes_out, 3);
}

#[test]
fn drops_are_counted_and_bounded() {
    let mut p = Program::new(&[
        (STREAM_TYPE_H264, V, &[]),
        (0x24, 0x102, &[]),
        (STREAM_TYPE_AAC_ADTS, A, &[]),
    ]);
    p.video(true, 0);
    // HEVC PES: counted, not carried.
    let pes = p.mux.pes(
        0x102,
        0xE1,
        Some(0),
        None,
        &[0, 0, 1, 0x26, 1],
        Start::default(),
    );
    p.out.extend(tsgen::concat(&pes));
    // An oversize video PES.
    let big = vec![0xAA; MAX_PES_BYTES + 1000];
    let pes = p.mux.pes(V, 0xE0, Some(3600), None, &big, Start::default());
    p.out.extend(tsgen::concat(&pes));
    p.video(false, 7200);
    // A lost packet in the middle of a PES.
    let mut pkts = p.mux.pes(
        V,
        0xE0,
        Some(10_800),
        None,
        &tsgen::h264_au(false, 1000),
        Start::default(),
    );
    pkts.remove(2);
    p.out.extend(tsgen::concat(&pkts));
    p.video(false, 14_400);
    // A broken ADTS frame.
    let pes = p.mux.pes(
        A,
        0xC0,
        Some(0),
        None,
        &[0xFF, 0xF1, 0, 0],
        Start::default(),
    );
    p.out.extend(tsgen::concat(&pes));
    let (tags, stats) = convert(&p.out);
    assert_eq!(stats.unsupported_pes, 1);
    assert_eq!(stats.oversize_pes, 1);
    assert_eq!(stats.continuity_errors, 1);
    assert_eq!(stats.pes_errors, 1);
    assert_eq!(stats.adts_errors, 1);
    assert_eq!(stats.video_frames_out, 3);
    assert!(tags.iter().all(|t| t.body.len() < 2000));
}

#[test]
fn packets_before_the_tables_are_counted() {
    let mut p = Program::av();
    let mut stream = Vec::new();
    let mut m = Mux::default();
    stream.extend(tsgen::concat(&m.pes(
        V,
        0xE0,
        Some(0),
        None,
        &tsgen::h264_au(true, 100),
        Start::default(),
    )));
    p.video(true, 0).video(false, 3600);
    stream.extend_from_slice(&p.out);
    let (_, stats) = convert(&stream);
    assert_eq!(stats.packets_before_tables, 1);
    assert_eq!(stats.video_frames_out, 2);
}

#[test]
fn video_added_later_waits_for_its_own_keyframe() {
    let mut p = Program::new(&[(STREAM_TYPE_AAC_ADTS, A, &[])]);
    p.audio(0, 10);
    // A new PMT version adds H.264: its first frames before a keyframe go nowhere.
    let pmt = tsgen::pmt_section(
        1,
        1,
        V,
        &[(STREAM_TYPE_H264, V, &[]), (STREAM_TYPE_AAC_ADTS, A, &[])],
    );
    let pkts = p.mux.section(0x1000, &pmt);
    p.out.extend(tsgen::concat(&pkts));
    p.video(false, 3_600)
        .video(true, 7_200)
        .video(false, 10_800);
    p.audio(1_920, 10);
    let (tags, stats) = convert(&p.out);
    assert_eq!(stats.video_before_keyframe, 1);
    assert_eq!((stats.keyframes_out, stats.video_frames_out), (1, 2));
    assert_eq!(stats.metadata_out, 1, "the stream started once");
    let video: Vec<_> = tags
        .iter()
        .filter(|t| t.kind == TagKind::Video)
        .map(|t| (t.timestamp_ms, t.is_sequence_header(), t.is_keyframe()))
        .collect();
    assert_eq!(
        video,
        [(80, true, true), (80, false, true), (120, false, false)]
    );
}
