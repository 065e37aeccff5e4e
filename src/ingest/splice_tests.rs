//! Splices through the whole pipeline (`TsIngest`): the ffmpeg fixture's first two seconds,
//! then the fixture again from its start as a second source. The output must be one stream
//! a player cannot tell was spliced: tables then a keyframe at the splice, continuous
//! counters on every PID, one time-base discontinuity flagged on the PCR PID, and ffmpeg
//! decoding all of it without a word.

// One real `Instant` is the origin of each test's virtual time.
#![allow(clippy::disallowed_methods)]

use std::process::Command;
use std::time::Instant;

use super::*;
use crate::ingest::packetizer::{TsIngest, TsIngestConfig};
use crate::media::packet::{PAT_PID, adaptation_field, continuity_counter, has_payload, pid};
use crate::media::ts::{is_video_random_access, packets};
use crate::media::tsgen::{FFMPEG_FIXTURE, Mux, Start, concat};

const VIDEO: u16 = 0x100;
const AUDIO: u16 = 0x101;
const PMT: u16 = 0x1000;
/// The fixture's third video keyframe (media time 2 s) is its packet 134.
const TWO_SECONDS: usize = 134 * TS_PACKET_LEN;

/// Runs sources one after the other through one ingest, switching between them, in
/// `chunk`-byte pushes; returns the output and where each source's output began.
fn splice_run(sources: &[&[u8]], chunk: usize) -> (Vec<u8>, Vec<usize>, TsIngest) {
    let t0 = Instant::now();
    let mut ingest = TsIngest::new(TsIngestConfig::default());
    let mut out = Vec::new();
    let mut starts = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        if i > 0 {
            ingest.switch_source(t0, &mut |p: &[u8], _| out.extend_from_slice(p));
        }
        starts.push(out.len());
        for c in src.chunks(chunk) {
            ingest
                .push(c, t0, &mut |p: &[u8], _| {
                    assert!(!p.is_empty() && p.len() <= 7 * TS_PACKET_LEN);
                    out.extend_from_slice(p)
                })
                .expect("TS");
        }
    }
    ingest.flush(t0, &mut |p: &[u8], _| out.extend_from_slice(p));
    (out, starts, ingest)
}

/// Packets (index, PID) whose continuity counter does not follow the previous one on their
/// PID: +1 with a payload, the same without (§2.4.3.3). Null packets are exempt.
fn cc_breaks(ts: &[u8]) -> Vec<(usize, u16)> {
    let mut last = vec![None::<u8>; 8192];
    let mut breaks = Vec::new();
    for (i, p) in packets(ts).enumerate() {
        let id = pid(p);
        if id == NULL_PID {
            continue;
        }
        let cc = continuity_counter(p);
        if let Some(prev) = last[usize::from(id)] {
            let want = if has_payload(p) {
                (prev + 1) & 0x0F
            } else {
                prev
            };
            if cc != want {
                breaks.push((i, id));
            }
        }
        last[usize::from(id)] = Some(cc);
    }
    breaks
}

/// Indices of packets with the discontinuity_indicator set.
fn discontinuities(ts: &[u8], on: u16) -> Vec<usize> {
    packets(ts)
        .enumerate()
        .filter(|(_, p)| pid(p) == on && adaptation_field(p).is_some_and(|af| af[0] & 0x80 != 0))
        .map(|(i, _)| i)
        .collect()
}

/// What ffmpeg makes of `ts`: what `ffmpeg -v error` (decoding everything) and `ffprobe -v
/// error` print, the lines `ffmpeg -v warning` prints, and the video frames ffprobe counts.
struct FfmpegVerdict {
    errors: String,
    warnings: Vec<String>,
    video_frames: u64,
}

fn ffmpeg_verdict(ts: &[u8], name: &str) -> FfmpegVerdict {
    let path =
        std::env::temp_dir().join(format!("srtrelay-splice-{name}-{}.ts", std::process::id()));
    std::fs::write(&path, ts).expect("write temp file");
    let run = |tool: &str, args: &[&str]| {
        let out = Command::new(tool)
            .args(args)
            .arg(&path)
            .args(if tool == "ffmpeg" {
                &["-f", "null", "-"][..]
            } else {
                &[]
            })
            .output()
            .expect("ffmpeg and ffprobe are installed (scripts/test.sh installs them)");
        assert!(out.status.success(), "{tool} failed");
        out
    };
    let decode = run("ffmpeg", &["-nostdin", "-v", "error", "-i"]);
    let warn = run("ffmpeg", &["-nostdin", "-v", "warning", "-i"]);
    let probe = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    std::fs::remove_file(&path).ok();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    FfmpegVerdict {
        errors: text(&decode.stderr) + &text(&probe.stderr),
        warnings: text(&warn.stderr).lines().map(str::to_owned).collect(),
        // The stream shows once inside its program and once on its own: the same count.
        video_frames: text(&probe.stdout)
            .lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().parse().ok())
            .expect("a frame count"),
    }
}

/// ffmpeg decodes it all without an error or a warning: the new source's timestamps continue
/// the old timeline (`restamp.rs`), so not even its DTS-order heuristic (which does not read
/// TS discontinuity flags) sees a jump.
fn assert_decodes_cleanly(ts: &[u8], name: &str, video_frames: u64) {
    let v = ffmpeg_verdict(ts, name);
    assert_eq!(v.errors, "");
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
    assert_eq!(
        v.video_frames, video_frames,
        "every frame of every source decodes"
    );
}

#[test]
fn fixture_spliced_onto_itself_is_one_clean_stream() {
    let first = &FFMPEG_FIXTURE[..TWO_SECONDS];
    for chunk in [1, 1000, 65536] {
        let (out, starts, ingest) = splice_run(&[first, FFMPEG_FIXTURE], chunk);
        assert!(
            out[..TWO_SECONDS] == *first,
            "the first source is byte-exact"
        );
        assert_eq!(starts[1], TWO_SECONDS);
        let after: Vec<&TsPacket> = packets(&out[TWO_SECONDS..]).collect();
        assert_eq!(pid(after[0]), PAT_PID);
        assert_eq!(pid(after[1]), PMT);
        assert!(is_video_random_access(after[2]));
        // SDT, PAT and PMT came before the keyframe (packet 3): dropped; the tables are
        // re-sent from the cache, and everything from the keyframe on follows as it came,
        // but for counters, the one flag and the timestamps (PES headers and PCRs).
        assert_eq!(after.len(), 2 + FFMPEG_FIXTURE.len() / TS_PACKET_LEN - 3);
        for (a, b) in after[2..]
            .iter()
            .zip(packets(&FFMPEG_FIXTURE[3 * TS_PACKET_LEN..]))
        {
            assert_eq!(a[..3], b[..3]);
            let stamped = a[1] & 0x40 != 0 || (a[3] & 0x20 != 0 && a[5] & 0x10 != 0);
            if !stamped {
                assert_eq!(a[4..], b[4..]);
            }
        }
        assert_eq!(cc_breaks(&out), vec![], "chunk {chunk}");
        let flagged = discontinuities(&out, VIDEO);
        assert_eq!(
            flagged,
            vec![TWO_SECONDS / TS_PACKET_LEN + 2],
            "on the keyframe"
        );
        for other in [PAT_PID, PMT, AUDIO, 0x11] {
            assert!(discontinuities(&out, other).is_empty());
        }
        let s = ingest.stats();
        assert_eq!(
            (
                s.switches,
                s.splices,
                s.switch_dropped_packets,
                s.discontinuities_marked
            ),
            (1, 1, 3, 1)
        );
        assert!(!ingest.is_splicing());
        if chunk == 1000 {
            // Two seconds (50 frames) of the first source, all 125 of the second.
            assert_decodes_cleanly(&out, "fixture", 50 + 125);
        }
    }
}

/// A file looped three times (two splices), the source cut mid-packet each time: the partial
/// packet is dropped, counters stay continuous, one flag per splice.
#[test]
fn repeated_splices_after_cuts_mid_packet() {
    let cut = &FFMPEG_FIXTURE[..TWO_SECONDS + 100];
    let (out, starts, ingest) = splice_run(&[cut, cut, FFMPEG_FIXTURE], 777);
    assert_eq!(
        starts,
        vec![0, TWO_SECONDS, 2 * TWO_SECONDS - TS_PACKET_LEN]
    );
    assert_eq!(cc_breaks(&out), vec![]);
    assert_eq!(discontinuities(&out, VIDEO).len(), 2);
    let s = ingest.stats();
    assert_eq!((s.switches, s.splices, s.discontinuities_marked), (2, 2, 2));
    assert_eq!(s.bytes_skipped, 200, "two partial packets of 100 bytes");
    assert_decodes_cleanly(&out, "loops", 50 + 50 + 125);
}

/// An audio-only program starts at the first PES start of its audio PID; a PID new in the
/// second source keeps its own counters; the PCR PID's first packet without an adaptation
/// field is passed over for the flag.
#[test]
fn audio_only_new_pids_and_flag_placement() {
    let audio_src = |mux: &mut Mux, extra_pid: Option<u16>| {
        let mut s = Vec::new();
        // Payload units that are not PES starts: dropped while waiting, even once the
        // tables are known.
        s.extend(mux.payload(AUDIO, &[0xAA; 184], Start::default()));
        s.extend(mux.pat(&[(1, PMT)]));
        let mut streams = vec![(0x0F, AUDIO, &[][..])];
        if let Some(p) = extra_pid {
            streams.push((0x06, p, &[][..]));
        }
        s.extend(mux.pmt(PMT, &streams));
        s.extend(mux.payload(AUDIO, &[0xAB; 300], Start::default()));
        // Three PES of one packet each (14 header bytes + 170, or 162 after an 8-byte
        // adaptation field with the PCR): only the second has an adaptation field.
        for i in 0..3u64 {
            let pcr = (i == 1).then_some(i * 576_000);
            let len = if pcr.is_some() { 162 } else { 170 };
            let start = Start { rai: false, pcr };
            s.extend(mux.pes(AUDIO, 0xC0, Some(i * 1920), None, &vec![0x11; len], start));
        }
        if let Some(p) = extra_pid {
            s.extend(mux.payload(p, &[0x22; 50], Start::default()));
        }
        concat(&s)
    };
    let mut first_mux = Mux::default();
    let a = audio_src(&mut first_mux, None);
    let mut second_mux = Mux::default();
    // Different counters in the second source: its mux has already sent 5 packets per PID.
    for _ in 0..5 {
        second_mux.payload(AUDIO, &[0; 10], Start::default());
        second_mux.payload(0x200, &[0; 10], Start::default());
        second_mux.pat(&[(1, PMT)]);
    }
    let b = audio_src(&mut second_mux, Some(0x200));
    let (out, starts, ingest) = splice_run(&[&a, &b], 188);
    assert!(out[..a.len()] == a);
    let after: Vec<&TsPacket> = packets(&out[starts[1]..]).collect();
    assert_eq!(
        after.iter().map(|p| pid(p)).collect::<Vec<_>>(),
        vec![PAT_PID, PMT, AUDIO, AUDIO, AUDIO, 0x200]
    );
    assert!(crate::media::pes::pes_start(after[2]).is_some());
    assert_eq!(cc_breaks(&out), vec![]);
    assert_eq!(continuity_counter(after[5]), 5, "a new PID starts as it is");
    // The PCR is on AUDIO (the PMT's first stream); the splice packet has no adaptation
    // field, the second PES start has one (with the PCR): the flag is there.
    assert!(adaptation_field(after[2]).is_none());
    let flagged = discontinuities(&out, AUDIO);
    assert_eq!(flagged, vec![starts[1] / TS_PACKET_LEN + 3]);
    assert_eq!(ingest.stats().switch_dropped_packets, 5);
}

/// A source with tables but no keyframe yet drops everything (counted) and stays waiting.
#[test]
fn no_keyframe_no_output() {
    // Packets 0..3 of the fixture then video packets that are not keyframes.
    let mut b = FFMPEG_FIXTURE[..3 * TS_PACKET_LEN].to_vec();
    b.extend_from_slice(&FFMPEG_FIXTURE[4 * TS_PACKET_LEN..60 * TS_PACKET_LEN]);
    let (out, starts, ingest) = splice_run(&[&FFMPEG_FIXTURE[..TWO_SECONDS], &b], 1000);
    assert_eq!(out.len(), starts[1]);
    assert!(ingest.is_splicing());
    assert_eq!(ingest.stats().switch_dropped_packets, 59);
    assert_eq!(ingest.stats().splices, 0);
}

/// The table packets re-sent at the splice are numbered so the source's next in-band table
/// packets continue them, even when the cache holds an older copy than the last one sent.
#[test]
fn header_counters_lead_into_the_next_in_band_tables() {
    let mut splice = Splice::new();
    let mut stats = TsIngestStats::default();
    let mut mux = Mux::default();
    let pat = mux.pat(&[(1, PMT)]);
    let pmt = mux.pmt(PMT, &[(0x1B, VIDEO, &[])]);
    let key = mux.pes(
        VIDEO,
        0xE0,
        Some(0),
        None,
        &[0; 10],
        Start {
            rai: true,
            pcr: Some(0),
        },
    );
    for p in pat.iter().chain(&pmt).chain(&key) {
        let mut p = *p;
        assert_eq!(splice.process(&mut p, &mut stats), Step::Emit);
    }
    splice.switch_source(&mut stats);
    let mut second = Mux::default();
    let pat2 = second.pat(&[(1, PMT)]);
    let pmt2 = second.pmt(PMT, &[(0x1B, VIDEO, &[])]);
    // A corrupt PAT repetition: CRC fails, the cache keeps the first, but the counter moved.
    let mut bad_pat = second.pat(&[(1, PMT)])[0];
    bad_pat[10] ^= 0xFF;
    let key2 = second.pes(
        VIDEO,
        0xE0,
        Some(0),
        None,
        &[0; 10],
        Start {
            rai: true,
            pcr: Some(0),
        },
    );
    let next_pat = second.pat(&[(1, PMT)]);
    for p in [pat2[0], pmt2[0], bad_pat] {
        let mut p = p;
        assert_eq!(splice.process(&mut p, &mut stats), Step::Drop);
    }
    let mut k = key2[0];
    assert_eq!(splice.process(&mut k, &mut stats), Step::Start);
    let header = splice.header().to_vec();
    let mut n = next_pat[0];
    assert_eq!(splice.process(&mut n, &mut stats), Step::Emit);
    let mut all = concat(&[pat[0], pmt[0], key[0]]);
    all.extend_from_slice(&header);
    all.extend_from_slice(&k);
    all.extend_from_slice(&n);
    assert_eq!(cc_breaks(&all), vec![]);
}
