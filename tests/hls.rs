//! HLS/LL-HLS and the player page from the relay, with real clients: the playlists checked
//! against RFC 8216bis rules over many blocking reloads, every segment fetched and checked to
//! start with the tables and a keyframe, ffmpeg decoding the HLS stream, headless Chromium
//! playing the player page with hls.js (the clock bar burnt into the picture gives the
//! glass-to-glass latency), and VLC and GStreamer decoding the HTTP-TS stream.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::config::{Config, UnknownStream};
use srtrelay::media::hls::validate::{
    ParsedPlaylist, check_reload_continuity, validate_media_playlist,
};
use support::browser::{self, Browser};
use support::clockbar::ClockBar;
use support::http_client;
use support::process::run_bounded;
use support::{tools, vlc};

const T: Duration = Duration::from_secs(30);
const TS: usize = 188;

fn relay(tweak: impl FnOnce(&mut Config)) -> InProcessRelay {
    InProcessRelay::start("[http]\nenabled = false", |c| {
        c.srt.latency.default = Duration::from_millis(200);
        c.streams.policy.unknown_stream = UnknownStream::Reject;
        tweak(c);
    })
}

/// ffmpeg's live test pattern with the clock bar, over SRT into the relay, for `seconds`.
struct LivePublisher(Child);

impl LivePublisher {
    fn start(relay: &InProcessRelay, name: &str, seconds: u32) -> LivePublisher {
        let url = format!(
            "srt://{}?streamid=#!::r={name},m=publish&latency=200000",
            relay.addr
        );
        let mut cmd = Command::new(tools::ffmpeg());
        cmd.args(ClockBar::live().publisher_args())
            .args(["-t", &seconds.to_string(), "-f", "mpegts", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        LivePublisher(cmd.spawn().expect("ffmpeg starts"))
    }
}

impl Drop for LivePublisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut r = http_client::get(addr, path, T).expect("response");
    let status = r.status;
    (status, r.text(T))
}

fn get_bytes(addr: SocketAddr, path: &str) -> (u16, Vec<u8>, Option<String>) {
    let mut r = http_client::get(addr, path, T).expect("response");
    let cache = r.header("cache-control").map(str::to_string);
    let status = r.status;
    (status, r.read_to_end(T).to_vec(), cache)
}

/// The playlist, once it lists at least `segments` segments.
fn wait_playlist(addr: SocketAddr, name: &str, segments: usize) -> ParsedPlaylist {
    let deadline = Instant::now() + 2 * T;
    loop {
        let (status, text) = get_text(addr, &format!("/{name}/index.m3u8"));
        if status == 200 {
            let p = validate_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
            if p.segments.len() >= segments {
                return p;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no playlist with {segments} segments: {status} {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0
}

/// A segment starts with PAT, PMT and a video keyframe.
fn assert_segment_starts_cleanly(seg: &[u8], what: &str) {
    assert!(
        seg.len() > 3 * TS && seg.len().is_multiple_of(TS),
        "{what}: {} bytes",
        seg.len()
    );
    assert_eq!(pid(&seg[..TS]), 0, "{what}: PAT first");
    assert_eq!(pid(&seg[TS..2 * TS]), 0x1000, "{what}: PMT second");
    assert!(
        is_keyframe(&seg[2 * TS..3 * TS]),
        "{what}: a keyframe after the tables"
    );
}

#[test]
fn ll_hls_playlists_follow_the_spec_over_blocking_reloads_and_segments_start_on_keyframes() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let _publisher = LivePublisher::start(&relay, "live/cam1", 40);
    let first = wait_playlist(http, "live/cam1", 2);
    assert!(first.can_block_reload, "LL-HLS by default");
    assert_eq!(first.target_duration, 2);
    assert!(first.preload_hint.is_some());

    // Follow the live edge like an LL-HLS client for ~8 s: ask for the next part each time.
    let mut prev = first;
    let mut fetched = std::collections::BTreeSet::new();
    let started = Instant::now();
    let mut reloads = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let last = prev.segments.last().unwrap().msn;
        let (msn, part) = if prev.open_parts.is_empty() {
            (last + 1, 0)
        } else {
            (last + 1, prev.open_parts.len())
        };
        let t0 = Instant::now();
        let (status, text) = get_text(
            http,
            &format!("/live/cam1/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
        );
        assert_eq!(status, 200, "{text}");
        let next = validate_media_playlist(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        check_reload_continuity(&prev, &next)
            .unwrap_or_else(|e| panic!("{e}\nbefore:\n{prev:?}\nafter:\n{text}"));
        // The answer holds what was asked for: segment `msn` is done or has `part` parts.
        let has = next.segments.iter().any(|s| s.msn == msn)
            || (next.segments.last().unwrap().msn + 1 == msn && next.open_parts.len() > part);
        assert!(
            has,
            "blocking reload answered early ({:?}):\n{text}",
            t0.elapsed()
        );
        for s in &next.segments {
            if fetched.insert(s.msn) {
                let (st, seg, cache) = get_bytes(http, &format!("/live/cam1/{}", s.uri));
                assert_eq!(st, 200, "{}", s.uri);
                assert!(cache.unwrap().contains("max-age"), "segments are cacheable");
                assert_segment_starts_cleanly(&seg, &s.uri);
                // Each segment decodes on its own, with no decoder complaint.
                let path = std::env::temp_dir().join(format!(
                    "srtrelay-hls-{}-{}",
                    std::process::id(),
                    s.uri
                ));
                std::fs::write(&path, &seg).unwrap();
                let d = run_bounded(
                    "ffmpeg segment decode",
                    Command::new(tools::ffmpeg())
                        .args(["-v", "error", "-i"])
                        .arg(&path)
                        .args(["-f", "null", "-"]),
                    T,
                );
                let _ = std::fs::remove_file(&path);
                assert!(
                    d.status.success() && d.stderr.trim().is_empty(),
                    "{} does not decode cleanly: {}",
                    s.uri,
                    d.stderr
                );
                // Its parts, when listed, are its bytes.
                if !s.parts.is_empty() {
                    let mut joined = Vec::new();
                    for p in &s.parts {
                        let (st, b, _) = get_bytes(http, &format!("/live/cam1/{}", p.uri));
                        assert_eq!(st, 200, "{}", p.uri);
                        joined.extend_from_slice(&b);
                    }
                    assert_eq!(joined.len(), seg.len(), "{}: parts add up", s.uri);
                    assert!(joined == seg, "{}: the parts are the segment", s.uri);
                }
            }
        }
        prev = next;
        reloads += 1;
    }
    assert!(
        reloads >= 12,
        "only {reloads} blocking reloads in 8 s (parts are 1/3 s)"
    );
    assert!(fetched.len() >= 4, "segments fetched: {fetched:?}");

    // Requests the spec refuses or that cannot exist.
    let far = prev.segments.last().unwrap().msn + 10;
    let (st, _) = get_text(http, &format!("/live/cam1/index.m3u8?_HLS_msn={far}"));
    assert_eq!(st, 400, "more than two segments ahead");
    let (st, _) = get_text(http, "/live/cam1/index.m3u8?_HLS_part=1");
    assert_eq!(st, 400, "_HLS_part without _HLS_msn");
    let (st, _) = get_text(http, "/live/cam1/seg-0.ts");
    assert!(st == 200 || st == 404, "{st}");
    let (st, _) = get_text(http, &format!("/live/cam1/part-{far}-0.ts"));
    assert_eq!(st, 404);
    let (st, _) = get_text(http, "/nope/index.m3u8");
    assert_eq!(st, 404);
    let r = relay.reports();
    let segments: u64 = r.iter().map(|r| r.counters.hls_segments).sum();
    assert!(segments >= 4, "segments counted: {segments}");
    let served: u64 = r.iter().map(|r| r.counters.playback.hls_bytes_out).sum();
    assert!(served > 0, "HLS bytes counted");
}

#[test]
fn ffmpeg_reads_and_decodes_the_hls_stream_without_errors() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let _publisher = LivePublisher::start(&relay, "live/cam1", 40);
    wait_playlist(http, "live/cam1", 2);
    let url = format!("http://{http}/live/cam1/index.m3u8");
    let probe = run_bounded(
        "ffprobe hls",
        Command::new(tools::ffprobe()).args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv",
            &url,
        ]),
        T,
    );
    assert!(
        probe.stdout.contains("video") && probe.stdout.contains("audio"),
        "{} {}",
        probe.stdout,
        probe.stderr
    );
    let decode = run_bounded(
        "ffmpeg hls decode",
        Command::new(tools::ffmpeg())
            .args(["-v", "error", "-i", &url, "-t", "6", "-f", "null", "-"]),
        2 * T,
    );
    assert!(decode.status.success(), "{}", decode.stderr);
    assert_eq!(decode.stderr.trim(), "", "decode errors");
}

#[test]
fn chromium_plays_the_player_page_from_the_relay() {
    let hlsjs = browser::hlsjs_dir();
    let relay = relay(|c| {
        let p = c.playback.as_mut().unwrap();
        p.assets_dir = Some(hlsjs.clone());
        p.hls_js_url = "/_/assets/hls.min.js".into();
    });
    let http = relay.playback_addr();
    let _publisher = LivePublisher::start(&relay, "live/cam1", 60);
    let browser = Browser::start("hls_relay");
    wait_playlist(http, "live/cam1", 2);
    // The stream list names it.
    let (st, json) = get_text(http, "/_/streams.json");
    assert_eq!(st, 200);
    assert!(json.contains(r#""name":"live/cam1""#), "{json}");
    let watch = Duration::from_secs(10);
    let report = browser.play_and_watch(&format!("http://{http}/live/cam1"), watch);
    let summary = report.summary();
    eprintln!("{summary}");
    assert!(!report.fatal, "hls.js had a fatal error:\n{summary}");
    assert!(
        report.progress() >= 0.7 * watch.as_secs_f64(),
        "currentTime advanced {:.2} s in {watch:?}:\n{summary}",
        report.progress()
    );
    report
        .screenshot_shows_test_pattern()
        .unwrap_or_else(|e| panic!("{e}\n{summary}"));
    assert!(
        report.latency_ms.len() >= 3,
        "clock read {} times:\n{summary}",
        report.latency_ms.len()
    );
    let median = report.median_latency_ms().unwrap();
    assert!(
        0 < median && median < 15_000,
        "median glass-to-glass {median} ms:\n{summary}"
    );
    eprintln!(
        "srtrelay LL-HLS (2 s segments, 333 ms parts), hls.js lowLatencyMode: median \
         glass-to-glass {median} ms over {} reads",
        report.latency_ms.len()
    );
    // The player count on the page includes this browser as an HLS client.
    let (_, json) = get_text(http, "/_/streams.json");
    assert!(json.contains(r#""hls":1"#), "{json}");
    browser
        .quit()
        .unwrap_or_else(|e| panic!("Chromium did not go away cleanly: {e}"));
}

#[test]
fn vlc_and_gstreamer_decode_the_http_ts_stream_from_its_first_picture() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let _publisher = LivePublisher::start(&relay, "live/cam1", 40);
    wait_playlist(http, "live/cam1", 1);
    let url = format!("http://{http}/live/cam1.ts");
    let run_for = Duration::from_secs(5);
    let v = vlc::play_http(&url, run_for);
    v.assert_clean("relay HTTP-TS");
    v.assert_started_on_keyframe("relay HTTP-TS");
    assert!(v.pictures_shown() > 0, "VLC showed pictures");
    let g = vlc::gst_play_http(&url, run_for);
    g.assert_clean("relay HTTP-TS");
}

/// Decodes `url` with ffmpeg to raw frames as they come and reads the clock bar in each:
/// (wall clock at decode - clock in the picture) in milliseconds, after a warm-up.
fn decode_latency(url: &str, frames: usize) -> Vec<i64> {
    use std::io::Read;
    use support::clockbar;
    use support::image::RgbImage;
    let bar = ClockBar::live();
    let (w, h) = (bar.width as usize, bar.height as usize);
    let mut child = Command::new(tools::ffmpeg())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-fflags",
            "nobuffer",
            "-flags",
            "low_delay",
        ])
        .args(["-probesize", "32768", "-analyzeduration", "0", "-i", url])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg");
    let mut out = child.stdout.take().unwrap();
    let mut frame = vec![0u8; w * h * 3];
    let mut lat = Vec::new();
    for i in 0..frames {
        if out.read_exact(&mut frame).is_err() {
            break;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let img = RgbImage::new(w, h, frame.clone()).unwrap();
        // The first second is the decoder catching up with its start-up backlog.
        if i >= 25
            && let Ok(ms) = clockbar::read(&img, clockbar::Area::whole(&img))
        {
            lat.push(now - ms as i64);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lat
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Not a test: the latency of each playback path from the same live publisher, for
/// BENCHMARKS.md (`cargo test --release --test hls -- --ignored --nocapture`).
#[test]
#[ignore]
fn latency_of_srt_and_http_ts_playback() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let _publisher = LivePublisher::start(&relay, "live/cam1", 120);
    wait_playlist(http, "live/cam1", 1);
    let srt = format!(
        "srt://{}?streamid=#!::r=live/cam1,m=request&latency=200000",
        relay.addr
    );
    let ts = format!("http://{http}/live/cam1.ts");
    for round in 0..3 {
        let s = decode_latency(&srt, 250);
        let t = decode_latency(&ts, 250);
        eprintln!(
            "round {round}: glass-to-glass (ffmpeg decode) median SRT {:?} ms ({} frames), HTTP-TS {:?} ms ({} frames)",
            median(s.clone()),
            s.len(),
            median(t.clone()),
            t.len()
        );
    }
}
