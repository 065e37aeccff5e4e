//! Proves the real-client harness without the relay: ffmpeg writes a live HLS stream with the
//! clock bar into a directory, a test-side static HTTP server serves it with our player page
//! and hls.js, and headless Chromium plays it; VLC and GStreamer play a TS file over HTTP. If
//! these fail, the playback tests against srtrelay cannot be trusted either. The latency the
//! page reads here (ffmpeg's own HLS, no relay) is the baseline for the relay's.

// Deadlines and latency need the wall clock (clippy.toml's ban is meant for the sans-IO core).
#![allow(clippy::disallowed_methods)]

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use support::browser::{self, Browser};
use support::clockbar::{self, Clock, ClockBar};
use support::image::{self, RgbImage};
use support::media::{self, TsSpec};
use support::process::{Proc, run_bounded};
use support::static_http::{Site, StaticServer};
use support::tools;
use support::vlc;

const PLAYER_PAGE: &str = include_str!("../src/playback/page/player.html");
const INDEX_PAGE: &str = include_str!("../src/playback/page/index.html");
const STREAM: &str = "live/test";
/// How long Chromium watches the stream.
const WATCH: Duration = Duration::from_secs(10);
/// ffmpeg's HLS muxer lists a segment once it is complete; hls.js wants three to start near
/// the live edge. 1 s segments at real time: ~4 s, generous for a busy machine.
const PLAYLIST_READY: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// The bits: every value round-trips, every single flipped block is caught by the check.
#[test]
fn clockbar_bits_round_trip_and_catch_flips() {
    for ms in [0, 1, 1_700_000_000_000, now_ms(), (1 << 48) - 1] {
        let bits = clockbar::encode_bits(ms);
        assert_eq!(clockbar::decode_bits(&bits), Some(ms));
        for i in 0..bits.len() {
            let mut flipped = bits;
            flipped[i] = !flipped[i];
            assert_eq!(
                clockbar::decode_bits(&flipped),
                None,
                "{ms}: flip of bit {i}"
            );
        }
    }
}

/// ffmpeg draws the bar, x264 at a modest bitrate encodes it, and the Rust reader gets every
/// frame's time back exactly (the page's reader uses the same rules; the Chromium test checks
/// it on a live stream). A frame without the bar reads as "no bar", not as some time.
#[test]
fn clockbar_survives_x264_and_reads_back() {
    let dir = media::scratch_dir("clockbar_round_trip");
    let start_ms = now_ms();
    let bar = ClockBar {
        clock: Clock::From { start_ms },
        ..ClockBar::live()
    };
    let ts = dir.join("bar.ts");
    let mut encode = Command::new(tools::ffmpeg());
    encode
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &bar.source(),
            "-t",
            "2",
            "-vf",
            &bar.filter(),
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-b:v", "500k", "-maxrate", "500k", "-bufsize", "500k", "-g", "25",
        ])
        .args(["-pix_fmt", "yuv420p", "-f", "mpegts"])
        .arg(&ts);
    let done = run_bounded("ffmpeg encode", &mut encode, Duration::from_secs(60));
    assert!(done.status.success(), "encode failed: {}", done.stderr);

    let raw = dir.join("bar.rgb");
    let mut decode = Command::new(tools::ffmpeg());
    decode
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(&ts)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg(&raw);
    let done = run_bounded("ffmpeg decode", &mut decode, Duration::from_secs(60));
    assert!(done.status.success(), "decode failed: {}", done.stderr);

    let frames = clockbar::read_raw_frames(&raw, bar.width as usize, bar.height as usize);
    assert_eq!(frames.len(), 50, "2 s at 25 fps");
    let interval = 1000 / u64::from(bar.fps);
    for (n, read) in frames.iter().enumerate() {
        let expected = start_ms + n as u64 * interval;
        let got = read
            .as_ref()
            .unwrap_or_else(|e| panic!("frame {n}: no clock: {e}"));
        assert!(
            got.abs_diff(expected) < interval,
            "frame {n}: read {got}, burnt {expected}"
        );
    }

    // The same picture without the bar: the reader must refuse it.
    let plain = dir.join("plain.rgb");
    let mut cmd = Command::new(tools::ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &bar.source(), "-frames:v", "1"])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24"])
        .arg(&plain);
    assert!(
        run_bounded("ffmpeg plain", &mut cmd, Duration::from_secs(30))
            .status
            .success()
    );
    let plain = clockbar::read_raw_frames(&plain, bar.width as usize, bar.height as usize);
    assert!(
        plain[0].is_err(),
        "read a clock from a frame without one: {plain:?}"
    );
    let img = RgbImage::new(
        bar.width as usize,
        bar.height as usize,
        fs::read(dir.join("plain.rgb")).expect("plain frame"),
    )
    .expect("frame size");
    image::shows_test_pattern(&img).expect("testsrc2 itself is the test pattern");
}

/// A live HLS stream, as the relay will serve one: ffmpeg (`-re`, clock bar) writes 1 s
/// segments, six in the playlist, old ones deleted.
struct LiveHls {
    ffmpeg: Proc,
    playlist: PathBuf,
}

impl LiveHls {
    fn start(stream_dir: &Path) -> LiveHls {
        fs::create_dir_all(stream_dir).expect("create stream dir");
        let playlist = stream_dir.join("index.m3u8");
        let mut cmd = Command::new(tools::ffmpeg());
        cmd.args(ClockBar::live().publisher_args())
            .args(["-f", "hls", "-hls_time", "1", "-hls_list_size", "6"])
            // temp_file: a segment appears under its name only when complete.
            .args(["-hls_flags", "delete_segments+temp_file"])
            .arg("-hls_segment_filename")
            .arg(stream_dir.join("seg%05d.ts"))
            .arg(&playlist);
        LiveHls {
            ffmpeg: Proc::spawn("ffmpeg hls", &mut cmd),
            playlist,
        }
    }

    /// Waits until the playlist lists `segments` segments.
    fn wait_segments(&mut self, segments: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let listed = fs::read_to_string(&self.playlist)
                .map(|p| p.matches("#EXTINF").count())
                .unwrap_or(0);
            if listed >= segments {
                return;
            }
            if let Some(status) = self.ffmpeg.try_wait() {
                panic!("ffmpeg exited ({status})\n{}", self.ffmpeg.diagnostics());
            }
            assert!(
                Instant::now() < deadline,
                "{listed} of {segments} segments after {timeout:?}\n{}",
                self.ffmpeg.diagnostics()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What the relay will substitute into player.html (the HTML escaping is the server's job; our
/// test names need none).
fn player_page(hls_js_url: &str, stream: &str, playlist_url: &str) -> String {
    let page = PLAYER_PAGE
        .replace("{{HLS_JS_URL}}", hls_js_url)
        .replace("{{STREAM}}", stream)
        .replace("{{PLAYLIST_URL}}", playlist_url);
    assert!(
        !page.contains("{{"),
        "player.html has a placeholder besides the three"
    );
    page
}

fn streams_json() -> String {
    json!({"streams": [{
        "name": STREAM, "bitrate_kbps": 5012, "uptime_s": 12,
        "players": {"srt": 1, "http_ts": 2, "hls": 3},
        "ts_url": "/live/test.ts", "hls_url": "/live/test/index.m3u8", "page_url": "/live/test",
    }]})
    .to_string()
}

/// Chromium plays the live stream through our page and hls.js: the picture moves, hls.js has
/// no fatal error, the screenshot shows the test pattern, and the clock bar gives a plausible
/// glass-to-glass latency (both readers agreeing). The stream list renders too.
#[test]
fn chromium_plays_live_hls_through_the_player_page() {
    let www = media::scratch_dir("browser_harness_www");
    let hlsjs = fs::read(browser::hlsjs_dir().join("hls.min.js")).expect("read hls.min.js");
    assert!(
        !INDEX_PAGE.contains("{{"),
        "index.html takes no placeholders"
    );
    let server = StaticServer::start(
        Site::dir(&www)
            .route("/", "text/html; charset=utf-8", INDEX_PAGE)
            .route(
                "/live/test",
                "text/html; charset=utf-8",
                player_page("/_/hls.min.js", STREAM, "/live/test/index.m3u8"),
            )
            .route("/_/hls.min.js", "text/javascript", hlsjs)
            .route("/_/streams.json", "application/json", streams_json()),
    );
    let mut live = LiveHls::start(&www.join("live/test"));
    // Chromium starts while ffmpeg fills the playlist.
    let browser = Browser::start("browser_harness");
    live.wait_segments(3, PLAYLIST_READY);

    // The stream list: one row, named and linked as the JSON says.
    browser.navigate(&server.url("/")).expect("load index");
    let rows = wait_for_value(&browser, Duration::from_secs(15), || {
        browser
            .execute(
                "const i = window.srtrelayIndex;
                 if (!i || i.updates < 1) return null;
                 return [...document.querySelectorAll('#streams tr')].map(r =>
                   [...r.querySelectorAll('td')].map(td => td.textContent)
                     .concat([r.querySelector('a').getAttribute('href')]));",
                &[],
            )
            .expect("read index")
    });
    assert_eq!(
        rows,
        json!([[
            "live/test",
            "5.01 Mbit/s",
            "0:12",
            "6",
            "TS · HLS",
            "/live/test"
        ]]),
        "index.html rows"
    );

    let report = browser.play_and_watch(&server.url("/live/test"), WATCH);
    let summary = report.summary();
    eprintln!("{summary}");
    fs::write(www.join("screenshot.png"), &report.screenshot_png).expect("save screenshot");

    assert!(!report.fatal, "hls.js had a fatal error:\n{summary}");
    assert!(
        report.progress() >= WATCH.as_secs_f64() / 2.0,
        "currentTime advanced only {:.2} s in {WATCH:?}:\n{summary}",
        report.progress()
    );
    report
        .screenshot_shows_test_pattern()
        .unwrap_or_else(|e| panic!("{e} (screenshot in {})\n{summary}", www.display()));
    assert!(
        report.latency_ms.len() >= 3,
        "the page read the clock bar only {} times:\n{summary}",
        report.latency_ms.len()
    );
    for &l in &report.latency_ms {
        assert!(
            0 < l && l < 30_000,
            "implausible latency {l} ms:\n{summary}"
        );
    }
    let shot = report
        .screenshot_clock_ms
        .as_ref()
        .unwrap_or_else(|e| panic!("no clock in the screenshot: {e}\n{summary}"));
    let page = report
        .page_clock_ms
        .expect("page read the clock before the screenshot");
    assert!(
        shot.abs_diff(page) < 3000,
        "page read {page}, screenshot shows {shot}:\n{summary}"
    );
    eprintln!(
        "baseline (ffmpeg HLS 1 s segments, hls.js lowLatencyMode, no relay): median \
         glass-to-glass {:?} ms over {} reads, first picture after {:?}",
        report.median_latency_ms(),
        report.latency_ms.len(),
        report.started_after()
    );

    // The page's stats line, from streams.json.
    let stats = browser
        .execute(
            "return ['bitrate', 'players'].map(id => document.getElementById(id).textContent)",
            &[],
        )
        .expect("read stats");
    assert_eq!(stats, json!(["5.01 Mbit/s", "6 (SRT 1, TS 2, HLS 3)"]));

    browser
        .quit()
        .unwrap_or_else(|e| panic!("Chromium did not go away cleanly: {e}"));
    let asked = server.requests();
    assert!(
        asked
            .iter()
            .any(|r| r.starts_with("GET /live/test/seg") && r.ends_with(" 200")),
        "no segment was fetched: {asked:#?}"
    );
}

/// Polls `probe` until it gives a non-null value (bounded).
fn wait_for_value(
    browser: &Browser,
    timeout: Duration,
    mut probe: impl FnMut() -> serde_json::Value,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = probe();
        if !v.is_null() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "page not ready within {timeout:?}: state {:?}, console {:?}",
            browser.execute(
                "return [location.href, document.readyState, JSON.stringify(window.srtrelayIndex \
                 || null), JSON.stringify(window.srtrelayPlayer || null)];",
                &[]
            ),
            browser.console_log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// VLC plays a TS file over HTTP with no complaint about the input and shows the pattern; a
/// damaged copy (TS packets dropped) is reported as broken, so a clean report means something.
/// GStreamer decodes the good file too.
#[test]
fn vlc_and_gstreamer_play_http_ts() {
    let dir = media::scratch_dir("browser_harness_ts");
    let good = media::test_ts(TsSpec::seconds(4));
    let bytes = fs::read(&good).expect("read test TS");
    // Every 97th packet gone: continuity errors in every PID, damaged pictures.
    let damaged: Vec<u8> = bytes
        .chunks(media::TS_PACKET)
        .enumerate()
        .filter(|(i, _)| i % 97 != 50)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    fs::write(dir.join("damaged.ts"), damaged).expect("write damaged TS");
    fs::copy(&good, dir.join("good.ts")).expect("copy test TS");
    let server = StaticServer::start(Site::dir(&dir));
    let run_for = Duration::from_secs(10);

    let clean = vlc::play_http(&server.url("/good.ts"), run_for);
    clean.assert_clean("good.ts");
    clean.assert_started_on_keyframe("good.ts");
    eprintln!(
        "VLC good.ts: ~{} pictures shown, {} late-picture lines",
        clean.pictures_shown(),
        clean.late
    );
    let last = clean.snapshots.last().expect("a snapshot");
    let png = fs::read(last).expect("read snapshot");
    browser::screenshot_shows_test_pattern(&png)
        .unwrap_or_else(|e| panic!("VLC's picture {}: {e}", last.display()));

    let broken = vlc::play_http(&server.url("/damaged.ts"), run_for);
    assert!(
        broken
            .broken_input
            .iter()
            .any(|l| l.contains("discontinuity")),
        "VLC did not report the dropped packets: {:#?}\n{}",
        broken.broken_input,
        broken.log_tail()
    );

    let gst = vlc::gst_play_http(&server.url("/good.ts"), run_for);
    gst.assert_clean("good.ts");
    assert!(
        gst.frames >= 100,
        "GStreamer decoded {} of 120 frames",
        gst.frames
    );
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /good.ts 200"))
            .count()
            >= 2,
        "{:#?}",
        server.requests()
    );
}

/// The classification, on lines VLC 3.0 printed in the runs above and for a file cut mid-GOP:
/// damage is broken input; lateness, start-up noise and AAC priming are not; a mid-GOP start
/// is its own count.
#[test]
fn vlc_log_lines_are_sorted_by_meaning() {
    let log = "\
[000056406b947250] dbus interface error: Failed to connect to the D-Bus session daemon
[00007f6b200c2410] faad decoder warning: decoded zero sample
[h264 @ 0x7f6b100c1fc0] Reinit context to 640x368, pix_fmt: yuv420p
[000056406b93b790] main video output warning: picture is too late to be displayed (missing 36 ms)
[000056406b93b790] main input error: ES_OUT_SET_(GROUP_)PCR  is called too late (pts_delay increased to 1000 ms)
[00007f6b200c2ca0] h264 packetizer warning: waiting for SPS/PPS
[00007f6b200c2ca0] ts demux warning: discontinuity received 0x9 instead of 0x8 (pid=256)
[00007f6b200c2ca0] ts demux error: libdvbpsi error (PSI decoder): TS discontinuity (received 15, expected 14) for PID 0
[h264 @ 0x7f8d0828b180] error while decoding MB 3 0, bytestream 12105
[00007f6b200c2ca0] main decoder error: buffer deadlock prevented
";
    let c = vlc::classify(log);
    assert_eq!(c.late, 2);
    assert_eq!(c.joined_mid_gop, 1);
    let broken: Vec<&str> = c
        .broken_input
        .iter()
        .map(|l| l.split_once("] ").map_or(l.as_str(), |(_, rest)| rest))
        .collect();
    assert_eq!(
        broken,
        [
            "ts demux warning: discontinuity received 0x9 instead of 0x8 (pid=256)",
            "ts demux error: libdvbpsi error (PSI decoder): TS discontinuity (received 15, expected 14) for PID 0",
            "error while decoding MB 3 0, bytestream 12105",
            "main decoder error: buffer deadlock prevented",
        ]
    );
}
