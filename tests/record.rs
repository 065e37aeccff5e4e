//! Recording end to end: the in-process engine pulls a 30 s TS file paced by its PCR (a
//! live publisher) and `[[record]]` rules write it to disk in 4 s segments. Every segment
//! starts with PAT/PMT and a keyframe and decodes on its own; without their leading tables
//! the segments concatenate to the published bytes from the first keyframe; a second rule
//! with `max_total_bytes` keeps only the newest segments. A rule whose directory is a file
//! stops with its reason and a metric while an SRT player of the stream plays on, byte-exact.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::config::ReloadPlan;
use srtrelay::record::{ErrorReason, RecordEvent, RecordingInfo, SegmentInfo};
use srtrelay::telemetry::RecordTotals;
use support::media::{self, TsSpec};
use support::process::run_bounded;
use support::recipes::{self, Subscriber};
use support::srt_url::SrtUrl;
use support::tools;

const TS: usize = 188;
const PAYLOAD: usize = 7 * TS;
const T: Duration = Duration::from_secs(60);

fn relay(toml: &str) -> InProcessRelay {
    let toml = format!(
        "[http]\nenabled = false\n[playback]\nenabled = false\n[rtmp]\nenabled = false\n{toml}"
    );
    InProcessRelay::start(&toml, |c| {
        c.srt.latency.default = Duration::from_millis(300);
    })
}

/// An input that plays `file` once, paced by its PCR.
fn input(stream: &str, file: &Path) -> String {
    format!(
        "[[inputs]]\nstream = \"{stream}\"\nurl = \"file://{}\"\nretry_delay_ms = 600000\n",
        file.display()
    )
}

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid(p) == 0x100
}

fn totals(relay: &InProcessRelay) -> RecordTotals {
    let mut t = RecordTotals::default();
    for r in relay.reports() {
        let c = r.counters.record;
        t.active += c.active;
        t.segments += c.segments;
        t.bytes += c.bytes;
        t.skipped += c.skipped;
        t.retention_removed += c.retention_removed;
        for (a, b) in t.errors.iter_mut().zip(c.errors) {
            *a += b;
        }
    }
    t
}

/// Segment and recording events until `recordings` recordings have finished.
fn events(relay: &InProcessRelay, recordings: usize) -> (Vec<SegmentInfo>, Vec<RecordingInfo>) {
    let rx = relay.engine().record_events();
    let deadline = Instant::now() + 2 * T;
    let (mut segs, mut recs) = (Vec::new(), Vec::new());
    while recs.len() < recordings {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(RecordEvent::SegmentFinished(s)) => segs.push(s),
            Ok(RecordEvent::RecordingFinished(r)) => recs.push(r),
            Err(e) => panic!("{e}: recordings finished: {recs:?}, segments: {segs:?}"),
        }
    }
    (segs, recs)
}

/// The `.ts` files under `dir`, by name (their names carry their start time).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "ts") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A segment without its leading PAT/PMT, checking they are there and a keyframe follows.
fn without_tables<'a>(seg: &'a [u8], name: &str) -> &'a [u8] {
    assert!(
        seg.len().is_multiple_of(TS) && !seg.is_empty(),
        "{name}: {} bytes",
        seg.len()
    );
    let k = seg
        .chunks(TS)
        .position(is_keyframe)
        .unwrap_or_else(|| panic!("{name}: no keyframe"));
    let lead: Vec<u16> = seg[..k * TS].chunks(TS).map(pid).collect();
    assert!(
        lead.first() == Some(&0) && lead.len() >= 2 && lead.iter().all(|&p| p == 0 || p == 0x1000),
        "{name}: the keyframe is preceded by PAT and PMT only: PIDs {lead:x?}"
    );
    &seg[k * TS..]
}

#[test]
fn a_30_s_stream_is_recorded_in_keyframe_segments_that_concatenate_to_its_bytes() {
    let path = media::test_ts(TsSpec::seconds(30));
    let file = std::fs::read(&path).unwrap();
    let dir = media::scratch_dir("record-segments");
    let (all, kept) = (dir.join("all"), dir.join("kept"));
    // About 2.5 segments of 4 s at ~2 Mbit/s.
    let cap = 2_600_000;
    let toml = format!(
        "{}[[record]]\nstreams = \"rec/*\"\npath = \"{}/{{stream}}/{{date}}/seg-{{time}}.ts\"\nsegment_s = 4\n\
         [[record]]\nstreams = \"rec/cam\"\npath = \"{}/{{stream}}-{{date}}-{{time}}.ts\"\nsegment_s = 4\nmax_total_bytes = {cap}\n",
        input("rec/cam", &path),
        all.display(),
        kept.display()
    );
    let relay = relay(&toml);

    // While it records: both recordings active and listed with the stream.
    let deadline = Instant::now() + T;
    loop {
        let listed: Vec<String> = relay
            .reports()
            .into_iter()
            .flat_map(|r| r.streams)
            .flat_map(|s| s.recordings)
            .collect();
        if listed.len() == 2 {
            assert!(
                listed
                    .iter()
                    .any(|p| p.starts_with(&*all.to_string_lossy()))
            );
            assert_eq!(totals(&relay).active, 2);
            break;
        }
        assert!(Instant::now() < deadline, "recordings listed: {listed:?}");
        thread::sleep(Duration::from_millis(50));
    }

    // The input keeps its publisher session between upstreams: once the file has played,
    // a reload without it ends the session, and with it the recordings.
    let deadline = Instant::now() + 2 * T;
    loop {
        let bytes: u64 = relay
            .reports()
            .into_iter()
            .flat_map(|r| r.inputs)
            .map(|i| i.bytes)
            .sum();
        if bytes >= file.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "the input read {bytes} bytes");
        thread::sleep(Duration::from_millis(50));
    }
    relay.engine().reload(&ReloadPlan {
        changed: vec!["inputs"],
        inputs: Some(Vec::new()),
        ..ReloadPlan::default()
    });
    let (segs, recs) = events(&relay, 2);
    assert!(recs.iter().all(|r| r.error.is_none()), "{recs:?}");
    let mine: Vec<&SegmentInfo> = segs.iter().filter(|s| s.path.starts_with(&all)).collect();
    let segments = files_under(&all);
    assert_eq!(
        segments,
        mine.iter().map(|s| s.path.clone()).collect::<Vec<_>>(),
        "one event per file, in order"
    );
    assert!(segments.len() >= 6, "30 s in 4 s segments: {segments:?}");
    for s in &mine[..mine.len() - 1] {
        assert!(
            s.duration >= Duration::from_secs(4) && s.duration < Duration::from_secs(6),
            "cut at the first keyframe (one a second) after 4 s: {s:?}"
        );
    }

    // Byte-exact: the segments without their tables are the file from its first keyframe.
    let mut joined = Vec::new();
    for p in &segments {
        let seg = std::fs::read(p).unwrap();
        let name = p.display().to_string();
        assert_eq!(
            seg.len() as u64,
            mine.iter().find(|s| s.path == *p).unwrap().bytes
        );
        joined.extend_from_slice(without_tables(&seg, &name));
    }
    let first_key = file
        .chunks(TS)
        .position(is_keyframe)
        .expect("the file has keyframes")
        * TS;
    if let Err(m) = media::compare_bytes(&file[first_key..], &joined) {
        panic!("segments joined are not the published bytes from the first keyframe: {m:?}");
    }
    let recorded: u64 = recs.iter().map(|r| r.bytes).sum();
    assert_eq!(
        recorded,
        totals(&relay).bytes,
        "the metric counts what was written"
    );

    // Each segment plays on its own.
    for p in &segments {
        let probe = run_bounded(
            "ffprobe segment",
            Command::new(tools::ffprobe()).args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv",
                &p.display().to_string(),
            ]),
            T,
        );
        assert!(
            probe.stdout.contains("video") && probe.stdout.contains("audio"),
            "{}: {} {}",
            p.display(),
            probe.stdout,
            probe.stderr
        );
        let decode = run_bounded(
            "ffmpeg decode segment",
            Command::new(tools::ffmpeg()).args([
                "-v",
                "error",
                "-i",
                &p.display().to_string(),
                "-f",
                "null",
                "-",
            ]),
            T,
        );
        assert!(
            decode.status.success() && decode.stderr.trim().is_empty(),
            "{}: {}",
            p.display(),
            decode.stderr
        );
    }

    // Retention: the capped rule cut the same segments and kept only the newest of them.
    let capped: Vec<&SegmentInfo> = segs.iter().filter(|s| s.path.starts_with(&kept)).collect();
    assert_eq!(capped.len(), segments.len(), "same cuts: {capped:?}");
    let left = files_under(&kept);
    let newest: Vec<PathBuf> = capped[capped.len() - left.len()..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(left, newest, "the oldest were removed");
    assert!(
        left.len() >= 2 && left.len() < segments.len() - 2,
        "kept {} of {}",
        left.len(),
        segments.len()
    );
    let size: u64 = left.iter().map(|p| media::file_len(p)).sum();
    assert!(size <= cap, "{size} bytes kept, cap {cap}");
    let t = totals(&relay);
    assert_eq!(t.retention_removed, (segments.len() - left.len()) as u64);
    assert_eq!(t.segments, 2 * segments.len() as u64);
    assert_eq!((t.active, t.errors, t.skipped), (0, [0; 4], 0));
}

#[test]
fn a_recording_that_cannot_write_stops_with_a_reason_while_a_player_plays_on() {
    let path = media::test_ts(TsSpec::seconds(8));
    let file = std::fs::read(&path).unwrap();
    let dir = media::scratch_dir("record-error");
    // A file where the recording's directory should be: no one, root included, can create
    // files below it.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let toml = format!(
        "{}[[record]]\nstreams = \"rec/err\"\npath = \"{}/{{stream}}-{{time}}.ts\"\nsegment_s = 2\n",
        input("rec/err", &path),
        blocker.display()
    );
    let relay = relay(&toml);
    let deadline = Instant::now() + T;
    while relay.engine().registry().publisher_of("rec/err").is_none() {
        assert!(Instant::now() < deadline, "rec/err never went live");
        thread::sleep(Duration::from_millis(10));
    }
    let out = dir.join("player.ts");
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=rec/err,m=request");
    let mut player: Subscriber = recipes::subscribe_with_srt_live_transmit_no_wait(&url, &out);

    let (_, recs) = events(&relay, 1);
    let e = recs[0].error.as_ref().expect("the recording failed");
    assert_eq!(e.reason, ErrorReason::NotADirectory, "{e:?}");
    assert!(e.message.contains("blocker"), "the path is named: {e:?}");
    let deadline = Instant::now() + T;
    loop {
        let t = totals(&relay);
        if t.errors == [0, 0, 1, 0] && t.active == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{t:?}");
        thread::sleep(Duration::from_millis(20));
    }

    // The player got the stream from its join keyframe to the end, unchanged.
    player
        .wait_for_len(PAYLOAD as u64, T)
        .unwrap_or_else(|e| panic!("player: {e}"));
    let first = std::fs::read(player.output()).unwrap();
    let at = file
        .chunks(PAYLOAD)
        .position(|w| w == &first[..PAYLOAD])
        .expect("the player's first payload is one of the file's")
        * PAYLOAD;
    player
        .wait_for_len((file.len() - at) as u64, T)
        .unwrap_or_else(|e| panic!("player: {e}"));
    let got = std::fs::read(player.output()).unwrap();
    if let Err(m) = media::compare_bytes(&file[at..], &got) {
        panic!("the player is not byte-exact from offset {at}: {m:?}");
    }
    assert!(
        !Path::new(&blocker.join("rec_err")).exists(),
        "nothing was written"
    );
}
