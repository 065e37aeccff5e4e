//! RTMP ingest end to end: ffmpeg publishes H.264 + AAC over RTMP (`-f flv`, as OBS does) to
//! the in-process engine; an SRT player (srt-live-transmit) and an HTTP-TS player receive the
//! remuxed stream, which must start at a keyframe, carry video and audio, and decode with no
//! error. `[access]` sessions guard RTMP stream keys like SRT Stream IDs; garbage and a
//! publisher that stalls mid-handshake are closed and counted.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::access::Mode;
use srtrelay::telemetry::RtmpTotals;
use support::http_client;
use support::media::{self, TsSpec};
use support::process::{Proc, run_bounded};
use support::recipes;
use support::srt_url::SrtUrl;
use support::tools;

const TS: usize = 188;
const T: Duration = Duration::from_secs(60);
const TOKEN: &str = "0123456789abcdef0123";

fn relay(extra: &str) -> InProcessRelay {
    let toml = format!("[http]\nenabled = false\n[rtmp]\nhandshake_timeout_ms = 1500\n{extra}");
    InProcessRelay::start(&toml, |c| {
        c.srt.latency.default = Duration::from_millis(300);
    })
}

/// `ffmpeg -re -i FILE -c copy -f flv rtmp://...`: the README's command.
fn publish(relay: &InProcessRelay, file: &std::path::Path, app_key: &str) -> Proc {
    recipes::publish_flv_with_ffmpeg(file, &format!("rtmp://{}/{app_key}", relay.rtmp_addr()))
}

fn rtmp_totals(relay: &InProcessRelay) -> RtmpTotals {
    let r = relay.reports();
    let mut t = RtmpTotals::default();
    for s in &r {
        let c = s.counters.rtmp;
        t.accepted += c.accepted;
        t.publishes += c.publishes;
        t.publish_refused += c.publish_refused;
        t.protocol_errors += c.protocol_errors;
        t.timeouts += c.timeouts;
        t.remux_errors += c.remux_errors;
    }
    t
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

/// What ffprobe says of a recording: codec types of its streams and whether decoding logged
/// anything.
fn probe(path: &std::path::Path) -> (Vec<String>, String) {
    let p = run_bounded(
        "ffprobe",
        Command::new(tools::ffprobe())
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
        T,
    );
    let kinds = p.stdout.lines().map(|l| l.trim().to_string()).collect();
    let d = run_bounded(
        "ffmpeg decode",
        Command::new(tools::ffmpeg())
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"]),
        T,
    );
    (kinds, d.stderr)
}

/// The first video frame ffprobe reads is a keyframe, and video PTS only go forward.
fn assert_keyframe_first_and_pts_forward(path: &std::path::Path) {
    let p = run_bounded(
        "ffprobe frames",
        Command::new(tools::ffprobe())
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts,flags",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
        T,
    );
    let rows: Vec<(i64, String)> = p
        .stdout
        .lines()
        .filter_map(|l| {
            let mut it = l.split(',');
            Some((it.next()?.parse().ok()?, it.next()?.to_string()))
        })
        .collect();
    assert!(rows.len() > 30, "video packets: {}", p.stdout);
    assert!(
        rows[0].1.starts_with('K'),
        "first video packet is a keyframe: {:?}",
        rows[0]
    );
    // Decode order: PTS may step back by the B-frame reorder, never by more than a second.
    let mut max = rows[0].0;
    for (pts, _) in &rows {
        assert!(*pts > max - 90_000, "PTS jumps back: {pts} after {max}");
        max = max.max(*pts);
    }
}

#[test]
fn ffmpeg_publishes_over_rtmp_and_srt_and_http_players_decode_from_a_keyframe() {
    let relay = relay("");
    let file = media::test_ts(TsSpec::seconds(8));
    let mut publisher = publish(&relay, &file, "live/cam1");
    wait_until("live/cam1 is published", || {
        relay
            .engine()
            .registry()
            .publisher_of("live/cam1")
            .is_some()
    });
    // Players join mid-stream.
    thread::sleep(Duration::from_millis(1500));
    let dir = media::scratch_dir("rtmp-players");
    let srt_out = dir.join("srt.ts");
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=live/cam1,m=request");
    let mut srt = recipes::subscribe_with_srt_live_transmit_no_wait(&url, &srt_out);
    let mut http = http_client::get(relay.playback_addr(), "/live/cam1.ts", T).expect("GET");
    assert_eq!(http.status, 200);
    let http_bytes = http.read_body_until(400 * 1024, T).to_vec();
    srt.wait_for_len(400 * 1024, T)
        .expect("the SRT player gets the stream");
    let st = publisher.wait_timeout(T).expect("ffmpeg finishes");
    assert!(
        st.success(),
        "ffmpeg publishes: {}",
        publisher.diagnostics()
    );
    let http_out = dir.join("http.ts");
    std::fs::write(&http_out, &http_bytes).unwrap();
    // The HTTP player's first packets are the tables, then a keyframe.
    assert_eq!(pid(&http_bytes[..TS]), 0, "PAT first");
    for (what, path) in [("srt", &srt_out), ("http", &http_out)] {
        let (kinds, log) = probe(path);
        assert!(
            kinds.iter().any(|k| k == "video"),
            "{what}: video in {kinds:?}"
        );
        assert!(
            kinds.iter().any(|k| k == "audio"),
            "{what}: audio in {kinds:?}"
        );
        assert!(
            log.trim().is_empty(),
            "{what}: decodes without errors: {log}"
        );
        assert_keyframe_first_and_pts_forward(path);
    }
    let t = rtmp_totals(&relay);
    assert_eq!(t.publishes, 1, "{t:?}");
    assert_eq!(t.remux_errors, 0, "{t:?}");
    assert_eq!(t.protocol_errors, 0, "{t:?}");
    let streams = relay.reports();
    let publisher = streams
        .iter()
        .flat_map(|r| &r.streams)
        .find(|s| s.name == "live/cam1" && !s.replica)
        .and_then(|s| s.ingest.clone());
    assert!(publisher.is_none_or(|p| p.protocol == "rtmp"));
}

#[test]
fn rtmp_stream_keys_take_single_use_sessions() {
    let access = format!(
        "[access]\n[[access.tokens]]\nname = \"studio\"\ntoken = \"{TOKEN}\"\npublish = [\"live/*\"]\nrequest = [\"live/*\"]\n"
    );
    let relay = relay(&access);
    let file = media::test_ts(TsSpec::seconds(2));
    let sessions = relay.engine().sessions();
    let s = sessions
        .issue(TOKEN, "live/cam2", Mode::Publish, Instant::now())
        .expect("a session");
    // No session, then a made-up one: refused, ffmpeg fails.
    for key in ["live/cam2", "live/cam2?s=00112233445566778899aabbccddeeff"] {
        let mut p = publish(&relay, &file, key);
        let st = p.wait_timeout(T).expect("ffmpeg gives up");
        assert!(!st.success(), "{key}: refused");
    }
    // The session publishes once...
    let key = format!("live/cam2?s={}", s.session_id);
    let mut p = publish(&relay, &file, &key);
    let st = p.wait_timeout(T).expect("ffmpeg finishes");
    assert!(st.success(), "the session publishes: {}", p.diagnostics());
    // ... and not twice.
    let mut p = publish(&relay, &file, &key);
    let st = p.wait_timeout(T).expect("ffmpeg gives up");
    assert!(!st.success(), "a used session is refused");
    let t = rtmp_totals(&relay);
    assert_eq!(t.publishes, 1, "{t:?}");
    assert_eq!(t.publish_refused, 3, "{t:?}");
}

#[test]
fn garbage_and_a_stalled_handshake_are_closed_and_counted() {
    let relay = relay("");
    let addr = relay.rtmp_addr();
    // Garbage: not RTMP version 3. Closed at once, long before the handshake deadline.
    let mut g = TcpStream::connect(addr).unwrap();
    g.set_read_timeout(Some(T)).unwrap();
    let started = Instant::now();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut b = [0u8; 4096];
    while let Ok(n) = g.read(&mut b) {
        if n == 0 {
            break;
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "garbage closed at once"
    );
    // A client that sends C0+C1 and then nothing is closed at the handshake deadline.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0u8, 1536));
    s.write_all(&c0c1).unwrap();
    let started = Instant::now();
    let mut got = 0;
    while let Ok(n) = s.read(&mut b) {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(got > 1536, "S0+S1 came back: {got} bytes");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "closed at the deadline, not before"
    );
    wait_until("both counted", || {
        let t = rtmp_totals(&relay);
        t.protocol_errors >= 1 && t.timeouts >= 1
    });
    // The listener still serves a real publisher.
    let file = media::test_ts(TsSpec::seconds(2));
    let mut p = publish(&relay, &file, "live/after");
    let st = p.wait_timeout(T).expect("ffmpeg finishes");
    assert!(st.success(), "{}", p.diagnostics());
}
