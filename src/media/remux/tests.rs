//! `FlvRemux` on hand-made messages: every byte it writes is read back with the relay's own TS
//! readers (`packet`, `pes`, `psi`, `ts`) and a small PES reassembler here.

use super::*;
use crate::media::flv::config::tests::X264_AVCC;
use crate::media::packet::{self, TsPacket};
use crate::media::pes::{self, RandomAccess};
use crate::media::psi::PsiCache;
use crate::media::ts;

/// One reassembled PES packet as the output carries it.
#[derive(Debug, Clone)]
pub(super) struct Pes {
    pub pid: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// The elementary stream bytes after the PES header.
    pub es: Vec<u8>,
    /// The first TS packet passes `ts::is_video_random_access`.
    pub video_rai: bool,
    pub pcr: Option<u64>,
    /// Index of its first TS packet in the output.
    pub index: usize,
}

/// A PMT as written: version, PCR PID, `(stream_type, pid)` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pmt {
    pub version: u8,
    pub pcr_pid: u16,
    pub streams: Vec<(u8, u16)>,
    pub index: usize,
}

/// What the output of a run says, read packet by packet.
#[derive(Debug, Default)]
pub(super) struct Demux {
    pub pes: Vec<Pes>,
    pub pmts: Vec<Pmt>,
    pub pat_indices: Vec<usize>,
    /// Every PCR with the index of its packet.
    pub pcrs: Vec<(usize, u64)>,
    pub packets: usize,
}

impl Demux {
    /// Reads `out`, asserting what must hold for any output: whole packets, continuity
    /// counters per PID, a CRC-valid PAT/PMT (checked by `PsiCache`).
    pub fn read(out: &[u8]) -> Demux {
        assert_eq!(
            ts::validate(out).map(|n| n * 188),
            Ok(out.len()),
            "whole TS packets"
        );
        let mut d = Demux::default();
        let mut cache = PsiCache::new();
        let mut cc = [None::<u8>; 0x2000];
        let mut open: Option<(Pes, Vec<u8>)> = None;
        for (i, p) in ts::packets(out).enumerate() {
            d.packets += 1;
            let pid = packet::pid(p);
            let c = packet::continuity_counter(p);
            if let Some(prev) = cc[pid as usize] {
                let want = if packet::has_payload(p) {
                    (prev + 1) & 0x0F
                } else {
                    prev
                };
                assert_eq!(c, want, "continuity on pid {pid:#x} at packet {i}");
            }
            cc[pid as usize] = Some(c);
            if let Some(v) = pes::pcr(p) {
                d.pcrs.push((i, v));
            }
            match pid {
                0 => {
                    cache.observe(p);
                    d.pat_indices.push(i);
                }
                PMT_PID => {
                    cache.observe(p);
                    d.pmts.push(read_pmt(p, i));
                }
                VIDEO_PID | AUDIO_PID => {
                    let Some(payload) = packet::payload(p) else {
                        continue;
                    };
                    if packet::pusi(p) {
                        if let Some((done, bytes)) = open.take() {
                            d.pes.push(finish(done, bytes));
                        }
                        let s = pes::pes_start(p).expect("a PES header in its first packet");
                        let header = payload.len() - s.es.len();
                        let pes = Pes {
                            pid,
                            pts: s.pts,
                            dts: s.dts,
                            es: Vec::new(),
                            video_rai: ts::is_video_random_access(p),
                            pcr: pes::pcr(p),
                            index: i,
                        };
                        open = Some((pes, payload[header..].to_vec()));
                    } else {
                        let (o, bytes) = open.as_mut().expect("a continuation after a start");
                        assert_eq!(o.pid, pid, "one PES at a time: the remux never interleaves");
                        bytes.extend_from_slice(payload);
                    }
                }
                other => panic!("unexpected pid {other:#x}"),
            }
        }
        if let Some((done, bytes)) = open {
            d.pes.push(finish(done, bytes));
        }
        assert_eq!(cache.stats().crc_errors, 0);
        assert_eq!(cache.stats().malformed, 0);
        d
    }

    pub fn video(&self) -> impl Iterator<Item = &Pes> {
        self.pes.iter().filter(|p| p.pid == VIDEO_PID)
    }

    pub fn audio(&self) -> impl Iterator<Item = &Pes> {
        self.pes.iter().filter(|p| p.pid == AUDIO_PID)
    }
}

fn finish(mut p: Pes, es: Vec<u8>) -> Pes {
    p.es = es;
    p
}

fn read_pmt(p: &TsPacket, index: usize) -> Pmt {
    let payload = packet::payload(p).expect("a payload");
    let s = &payload[1 + payload[0] as usize..];
    assert_eq!(s[0], 0x02, "table_id");
    let len = (u16::from_be_bytes([s[1], s[2]]) & 0x0FFF) as usize;
    let section = &s[..3 + len];
    assert_eq!(
        crate::media::psi::crc32_mpeg2(section),
        0,
        "PMT CRC at packet {index}"
    );
    let pcr_pid = u16::from_be_bytes([s[8], s[9]]) & 0x1FFF;
    let info = (u16::from_be_bytes([s[10], s[11]]) & 0x0FFF) as usize;
    let mut at = 12 + info;
    let mut streams = Vec::new();
    while at + 5 <= section.len() - 4 {
        let pid = u16::from_be_bytes([s[at + 1], s[at + 2]]) & 0x1FFF;
        streams.push((s[at], pid));
        at += 5 + (u16::from_be_bytes([s[at + 3], s[at + 4]]) & 0x0FFF) as usize;
    }
    Pmt {
        version: (s[5] >> 1) & 0x1F,
        pcr_pid,
        streams,
        index,
    }
}

/// An AVC sequence header tag around `record`.
fn avc_seq(record: &[u8]) -> Vec<u8> {
    let mut b = vec![0x17, 0, 0, 0, 0];
    b.extend_from_slice(record);
    b
}

/// An AVC frame tag holding `nals` with 4-byte length prefixes.
fn avc_frame(key: bool, composition_ms: i32, nals: &[&[u8]]) -> Vec<u8> {
    let c = composition_ms.to_be_bytes();
    let mut b = vec![if key { 0x17 } else { 0x27 }, 1, c[1], c[2], c[3]];
    for n in nals {
        b.extend_from_slice(&(n.len() as u32).to_be_bytes());
        b.extend_from_slice(n);
    }
    b
}

const IDR: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33];
const SLICE: &[u8] = &[0x41, 0x9A, 0x02];
const SEI: &[u8] = &[0x06, 0x05, 0x01, 0xAA, 0x80];
/// AAC LC, 48 kHz, stereo.
const ASC_48K_STEREO: &[u8] = &[0x11, 0x90];

fn aac_config(asc: &[u8]) -> Vec<u8> {
    let mut b = vec![0xAF, 0];
    b.extend_from_slice(asc);
    b
}

fn aac_raw(raw: &[u8]) -> Vec<u8> {
    let mut b = vec![0xAF, 1];
    b.extend_from_slice(raw);
    b
}

/// Annex B NAL units of an access unit (start codes stripped).
fn annex_b_units(es: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= es.len() {
        if es[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let end = starts.get(k + 1).map_or(es.len(), |&n| n - 3);
            // A 4-byte start code leaves its leading zero at the end of the previous unit.
            let end = if starts.get(k + 1).is_some() && es[end - 1] == 0 {
                end - 1
            } else {
                end
            };
            &es[s..end]
        })
        .collect()
}

fn sps_pps() -> (Vec<u8>, Vec<u8>) {
    let sets = crate::media::flv::config::parse_avc(X264_AVCC).expect("fixture record");
    let units = annex_b_units(&sets.annex_b);
    (units[0].to_vec(), units[1].to_vec())
}

#[test]
fn keyframe_gets_psi_aud_and_parameter_sets() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    assert!(out.is_empty(), "a sequence header writes nothing yet");
    r.video(0, &avc_frame(true, 66, &[SEI, IDR]), &mut out)
        .expect("keyframe");
    r.video(33, &avc_frame(false, 0, &[SLICE]), &mut out)
        .expect("inter frame");
    let d = Demux::read(&out);
    assert_eq!(d.pat_indices, [0]);
    assert_eq!(d.pmts[0].index, 1);
    assert_eq!(
        d.pmts[0].streams,
        [(STREAM_TYPE_H264, VIDEO_PID)],
        "no audio was announced"
    );
    assert_eq!(d.pmts[0].pcr_pid, VIDEO_PID);
    let v: Vec<_> = d.video().collect();
    assert_eq!(v.len(), 2);
    assert!(v[0].video_rai && !v[1].video_rai);
    assert_eq!(v[0].index, 2, "the keyframe right after PAT/PMT");
    let (sps, pps) = sps_pps();
    assert_eq!(
        annex_b_units(&v[0].es),
        [&[0x09, 0xF0][..], &sps, &pps, SEI, IDR],
        "AUD, then the record's SPS/PPS, then the frame"
    );
    assert_eq!(annex_b_units(&v[1].es), [&[0x09, 0xF0][..], SLICE]);
    assert_eq!(
        pes::video_random_access(STREAM_TYPE_H264, &v[0].es),
        RandomAccess::Yes
    );
    // DTS = 1 s offset, PTS = DTS + 66 ms; the PCR 200 ms behind the DTS.
    assert_eq!((v[0].dts, v[0].pts), (Some(90_000), Some(90_000 + 66 * 90)));
    assert_eq!(v[0].pcr, Some((90_000 - 200 * 90) * 300));
    assert_eq!(
        (v[1].pts, v[1].dts),
        (Some(90_000 + 33 * 90), None),
        "no DTS when equal"
    );
    let s = r.stats();
    assert_eq!(
        (
            s.keyframes,
            s.video_frames_out,
            s.parameter_sets_inserted,
            s.sequence_headers
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(s.ts_packets_out as usize, d.packets);
}

#[test]
fn frames_that_carry_parameter_sets_keep_their_own() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    let own_sps: &[u8] = &[0x67, 0x42, 0xC0, 0x1E, 0xD9];
    let own_pps: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];
    // With its own AUD too: that one is dropped for ours.
    r.video(
        0,
        &avc_frame(true, 0, &[&[0x09, 0x10], own_sps, own_pps, IDR]),
        &mut out,
    )
    .expect("keyframe");
    let d = Demux::read(&out);
    let v = d.video().next().expect("one frame");
    assert_eq!(
        annex_b_units(&v.es),
        [&[0x09, 0xF0][..], own_sps, own_pps, IDR]
    );
    assert_eq!(r.stats().parameter_sets_inserted, 0);
}

#[test]
fn frames_before_config_or_keyframe_are_dropped_and_counted() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("dropped, not an error");
    r.audio(0, &aac_raw(&[0x21, 0x00]), &mut out)
        .expect("dropped, not an error");
    assert!(out.is_empty());
    assert_eq!(r.stats().dropped_before_config, 2);
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    // Flagged as a keyframe but without an IDR: not a place to start.
    r.video(10, &avc_frame(true, 0, &[SLICE]), &mut out)
        .expect("dropped");
    r.video(20, &avc_frame(false, 0, &[SLICE]), &mut out)
        .expect("dropped");
    assert!(out.is_empty());
    assert_eq!(r.stats().dropped_before_keyframe, 2);
    r.video(30, &avc_frame(false, 0, &[IDR]), &mut out)
        .expect("an IDR is a keyframe whatever the flag says");
    assert_eq!(Demux::read(&out).video().filter(|p| p.video_rai).count(), 1);
}

#[test]
fn truncated_and_lying_frames_are_refused_whole() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.video(0, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("keyframe");
    let good = out.len();
    let frame = avc_frame(false, 0, &[SLICE, SLICE]);
    // Every cut inside a NAL unit or its length (the 5-byte tag header stays whole; a cut
    // between the two units leaves a whole frame).
    let mut refused = 0;
    for n in (6..frame.len()).filter(|&n| n != 5 + 4 + SLICE.len()) {
        refused += 1;
        let e = r.video(33, &frame[..n], &mut out);
        assert!(
            matches!(e, Err(RemuxError::NalLength { .. })),
            "cut at {n}: {e:?}"
        );
    }
    let mut lying = frame.clone();
    lying[5] = 0x7F; // the first NAL claims two gigabytes
    assert_eq!(
        r.video(33, &lying, &mut out),
        Err(RemuxError::NalLength {
            at: 0,
            len: 0x7F00_0003,
            frame: lying.len() - 5,
        })
    );
    assert_eq!(
        r.video(33, &frame[..5], &mut out),
        Err(RemuxError::EmptyFrame)
    );
    assert_eq!(
        r.video(33, &[], &mut out),
        Err(RemuxError::Tag(FlvError::Empty))
    );
    assert_eq!(
        r.audio(33, &[], &mut out),
        Err(RemuxError::Tag(FlvError::Empty))
    );
    assert!(matches!(
        r.video(33, &avc_seq(&X264_AVCC[..20]), &mut out),
        Err(RemuxError::VideoConfig(_))
    ));
    assert_eq!(out.len(), good, "nothing of a refused message is written");
    assert_eq!(r.stats().malformed, refused + 5);
    // The stream goes on with the last good record.
    r.video(66, &frame, &mut out).expect("whole frame");
    assert_eq!(Demux::read(&out).video().count(), 2);
}

#[test]
fn audio_appearing_after_video_bumps_the_pmt_version() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.video(0, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("keyframe");
    r.video(33, &avc_frame(false, 0, &[SLICE]), &mut out)
        .expect("frame");
    r.audio(40, &aac_config(ASC_48K_STEREO), &mut out)
        .expect("config");
    r.audio(40, &aac_raw(&[0x21, 0x10, 0x04]), &mut out)
        .expect("frame");
    r.video(66, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("keyframe");
    let d = Demux::read(&out);
    let versions: Vec<_> = d
        .pmts
        .iter()
        .map(|p| (p.version, p.streams.len(), p.pcr_pid))
        .collect();
    assert_eq!(
        versions,
        [(0, 1, VIDEO_PID), (1, 2, VIDEO_PID), (1, 2, VIDEO_PID)]
    );
    assert_eq!(
        d.pmts[1].streams,
        [
            (STREAM_TYPE_H264, VIDEO_PID),
            (STREAM_TYPE_AAC_ADTS, AUDIO_PID)
        ]
    );
    // The new PMT comes right before the first audio PES, PAT first.
    let a = d.audio().next().expect("audio");
    assert_eq!(d.pmts[1].index + 1, a.index);
    assert_eq!(d.pat_indices[1] + 1, d.pmts[1].index);
    assert_eq!(r.stats().track_changes, 1);
    // ADTS header then the raw frame.
    assert_eq!(&a.es[..2], &[0xFF, 0xF1]);
    assert_eq!(&a.es[7..], &[0x21, 0x10, 0x04]);
}

#[test]
fn expected_tracks_are_listed_from_the_start() {
    let mut r = FlvRemux::new();
    r.expect_tracks(true, true);
    let mut out = Vec::new();
    r.audio(0, &aac_config(ASC_48K_STEREO), &mut out)
        .expect("config");
    r.audio(0, &aac_raw(&[1, 2, 3]), &mut out).expect("frame");
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.video(10, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("keyframe");
    let d = Demux::read(&out);
    assert!(
        d.pmts
            .iter()
            .all(|p| p.version == 0 && p.streams.len() == 2)
    );
    assert_eq!(r.stats().track_changes, 0);
    // The PCR is on the (silent) video PID before the first video frame.
    assert_eq!(d.pcrs.first().map(|p| p.0), Some(2), "a PCR-only packet");
}

#[test]
fn audio_only_repeats_psi_and_carries_the_pcr() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.audio(0, &aac_config(ASC_48K_STEREO), &mut out)
        .expect("config");
    // 3 s of 48 kHz frames (1024 samples: 21.33 ms).
    for i in 0..141u32 {
        r.audio(i * 64 / 3, &aac_raw(&[0x21, 0, 0, 0]), &mut out)
            .expect("frame");
    }
    let d = Demux::read(&out);
    assert_eq!(d.pmts[0].pcr_pid, AUDIO_PID);
    assert_eq!(d.pmts[0].streams, [(STREAM_TYPE_AAC_ADTS, AUDIO_PID)]);
    // Once at the start and about every 500 ms after that.
    assert_eq!(
        d.pmts.len(),
        6,
        "{:?}",
        d.pmts.iter().map(|p| p.index).collect::<Vec<_>>()
    );
    assert!(d.audio().all(|a| a.pcr.is_some()));
    assert_eq!(d.audio().count(), 141);
}

#[test]
fn timestamps_continue_across_the_32_bit_wrap() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    let start = u32::MAX - 50;
    for i in 0..4u32 {
        let key = i == 0;
        let f = avc_frame(key, 0, &[if key { IDR } else { SLICE }]);
        r.video(start.wrapping_add(i * 33), &f, &mut out)
            .expect("frame");
    }
    let d = Demux::read(&out);
    let pts: Vec<_> = d.video().filter_map(|p| p.pts).collect();
    assert_eq!(
        pts,
        [90_000, 90_000 + 2970, 90_000 + 5940, 90_000 + 8910],
        "33 ms apart, through the wrap"
    );
    assert_eq!(r.stats().timestamp_jumps, 0);
}

#[test]
fn backward_steps_are_held_and_counted() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.video(1000, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("frame");
    r.video(990, &avc_frame(false, 0, &[SLICE]), &mut out)
        .expect("frame");
    let d = Demux::read(&out);
    let pts: Vec<_> = d.video().filter_map(|p| p.pts).collect();
    assert_eq!(pts, [90_000, 90_000]);
    assert_eq!(r.stats().timestamp_jumps, 1);
}

#[test]
fn a_new_sequence_header_takes_effect_at_the_next_keyframe() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.video(0, &avc_frame(true, 0, &[IDR]), &mut out)
        .expect("keyframe");
    // A record with another SPS (level changed) and a 2-byte NAL length.
    let mut other = X264_AVCC.to_vec();
    other[4] = 0xFD;
    other[11] = 0x28;
    r.video(30, &avc_seq(&other), &mut out).expect("new config");
    let short = |key: bool, nal: &[u8]| {
        let mut b = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        b.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        b.extend_from_slice(nal);
        b
    };
    r.video(33, &short(false, SLICE), &mut out).expect("inter");
    r.video(66, &short(true, IDR), &mut out).expect("keyframe");
    let d = Demux::read(&out);
    let v: Vec<_> = d.video().collect();
    assert_eq!(annex_b_units(&v[1].es), [&[0x09, 0xF0][..], SLICE]);
    let units = annex_b_units(&v[2].es);
    assert_eq!(units[1][3], 0x28, "the new SPS before the next keyframe");
    assert_eq!(units[3], IDR);
    assert_eq!(d.pmts.len(), 2, "same codec: PMT repeated, not changed");
    assert!(d.pmts.iter().all(|p| p.version == 0));
}

#[test]
fn hevc_from_enhanced_rtmp() {
    // An hvcC with VPS/SPS/PPS of one byte pair each (the remux does not decode them).
    let mut hvcc = vec![1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0];
    hvcc.extend_from_slice(&[0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 3]);
    for (t, nal) in [(32u8, [0x40, 0x01]), (33, [0x42, 0x01]), (34, [0x44, 0x01])] {
        hvcc.extend_from_slice(&[0x80 | t, 0, 1, 0, 2]);
        hvcc.extend_from_slice(&nal);
    }
    let mut seq = vec![0x90, b'h', b'v', b'c', b'1'];
    seq.extend_from_slice(&hvcc);
    let idr_w_radl: &[u8] = &[0x26, 0x01, 0xAF];
    let mut key = vec![0x91, b'h', b'v', b'c', b'1', 0, 0, 0];
    key.extend_from_slice(&(idr_w_radl.len() as u32).to_be_bytes());
    key.extend_from_slice(idr_w_radl);
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &seq, &mut out).expect("config");
    r.video(0, &key, &mut out).expect("keyframe");
    let d = Demux::read(&out);
    assert_eq!(d.pmts[0].streams, [(STREAM_TYPE_HEVC, VIDEO_PID)]);
    let v = d.video().next().expect("frame");
    assert!(v.video_rai);
    assert_eq!(
        annex_b_units(&v.es),
        [
            &[0x46, 0x01, 0x50][..],
            &[0x40, 0x01],
            &[0x42, 0x01],
            &[0x44, 0x01],
            idr_w_radl
        ]
    );
    assert_eq!(
        pes::video_random_access(STREAM_TYPE_HEVC, &v.es),
        RandomAccess::Yes
    );
}

#[test]
fn unsupported_codecs_are_counted_and_dropped() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &[0x91, b'a', b'v', b'0', b'1', 0x12, 0], &mut out)
        .expect("AV1 counted");
    r.video(0, &[0x22, 0, 0], &mut out)
        .expect("Sorenson counted");
    r.audio(0, &[0x2F, 0xFF, 0xFB], &mut out)
        .expect("MP3 counted");
    // An AudioSpecificConfig ADTS cannot express (AAC-LD); its frames are unsupported.
    r.audio(0, &aac_config(&[0xB9, 0x88]), &mut out)
        .expect("counted");
    r.audio(0, &aac_raw(&[1, 2]), &mut out).expect("counted");
    r.video(0, &[0x17, 2, 0, 0, 0], &mut out)
        .expect("sequence end");
    assert!(out.is_empty());
    let s = r.stats();
    assert_eq!(
        (
            s.unsupported_codec,
            s.rejected_audio_config,
            s.control_tags,
            s.malformed
        ),
        (4, 1, 1, 0)
    );
    assert_eq!(
        r.audio(0, &aac_config(&[0x11]), &mut out),
        Err(RemuxError::AudioConfigTruncated)
    );
    assert_eq!(
        r.audio(0, &aac_raw(&vec![0; 9000]), &mut out),
        Ok(()),
        "still unsupported: no config"
    );
    r.audio(0, &aac_config(ASC_48K_STEREO), &mut out)
        .expect("config");
    assert_eq!(
        r.audio(0, &aac_raw(&vec![0; 9000]), &mut out),
        Err(RemuxError::AudioFrameTooLong(9000))
    );
    assert_eq!(
        r.audio(0, &aac_raw(&[]), &mut out),
        Err(RemuxError::EmptyFrame)
    );
    assert!(out.is_empty());
}

#[test]
fn pcr_flows_between_sparse_video_frames() {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    r.video(0, &avc_seq(X264_AVCC), &mut out).expect("config");
    r.audio(0, &aac_config(ASC_48K_STEREO), &mut out)
        .expect("config");
    // 5 fps video with 48 kHz audio in between.
    for ms in (0..2000u32).step_by(21) {
        if ms % 200 < 21 {
            let key = ms == 0;
            let f = avc_frame(key, 0, &[if key { IDR } else { SLICE }]);
            r.video(ms, &f, &mut out).expect("video");
        }
        r.audio(ms, &aac_raw(&[0x21, 0]), &mut out).expect("audio");
    }
    let d = Demux::read(&out);
    let pcrs: Vec<u64> = d.pcrs.iter().map(|p| p.1).collect();
    assert!(pcrs.windows(2).all(|w| w[1] >= w[0]), "monotonic");
    let max_gap = pcrs.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(max_gap <= 42 * 27_000, "gap {} ms", max_gap / 27_000);
    // Every PES's decode time is ahead of the PCR before it.
    for p in &d.pes {
        let pcr = d
            .pcrs
            .iter()
            .rev()
            .find(|c| c.0 <= p.index)
            .expect("a PCR first")
            .1;
        let dts = p.dts.or(p.pts).expect("timestamps");
        assert!(dts * 300 > pcr, "{p:?}");
    }
}
