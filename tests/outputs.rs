//! Push outputs (`[[outputs]]`): the relay calls an SRT listener (srt-live-transmit) and
//! sends a live stream to it from its last keyframe, byte-exact after the tables; a target
//! that dies is called again after the backoff and gets the stream from a keyframe again; the
//! output hangs up when the stream ends and waits for the next publisher.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::telemetry::OutputSnapshot;
use support::media::{self, TsSpec};
use support::recipes::{self, Pace, Subscriber};
use support::srt_url::SrtUrl;

const TS: usize = 188;
const PAYLOAD: usize = 7 * TS;
const T: Duration = Duration::from_secs(60);

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid(p) == 0x100
}

fn output(relay: &InProcessRelay) -> Option<OutputSnapshot> {
    relay.reports().into_iter().flat_map(|r| r.outputs).next()
}

fn wait_output(relay: &InProcessRelay, what: &str, cond: impl Fn(&OutputSnapshot) -> bool) {
    let deadline = Instant::now() + T;
    loop {
        let o = output(relay);
        if o.as_ref().is_some_and(&cond) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {o:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// What a target received: the tables (PAT, PMT), then the file from a keyframe's packet (a
/// reader starts there, like an HTTP-TS player), byte for byte. Returns where in the file it
/// starts.
fn assert_tables_then_file(out: &[u8], file: &[u8], what: &str) -> usize {
    assert!(
        out.len() > 2 * TS + PAYLOAD,
        "{what}: only {} bytes",
        out.len()
    );
    assert_eq!(
        (pid(&out[..TS]), pid(&out[TS..2 * TS])),
        (0, 0x1000),
        "{what}: PAT, PMT first"
    );
    let body = &out[2 * TS..];
    assert!(
        is_keyframe(&body[..TS]),
        "{what}: a keyframe after the tables"
    );
    let at = file
        .chunks(TS)
        .enumerate()
        .position(|(k, _)| file[k * TS..].starts_with(&body[..PAYLOAD]))
        .unwrap_or_else(|| panic!("{what}: what follows the tables is not in the file"))
        * TS;
    let want = &file[at..];
    let n = want.len().min(body.len());
    if let Err(m) = media::compare_bytes(&want[..n], &body[..n]) {
        panic!("{what}: not byte-exact from file offset {at}: {m:?}");
    }
    at
}

fn target(port: u16, out: &std::path::Path) -> Subscriber {
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    recipes::subscribe_with_srt_live_transmit_no_wait(&SrtUrl::listener(addr), out)
}

#[test]
fn an_output_pushes_the_live_stream_to_an_srt_listener_and_calls_again_after_it_dies() {
    let dir = media::scratch_dir("outputs-push");
    let first_out = dir.join("first.ts");
    let first = recipes::subscribe_with_srt_live_transmit_no_wait(
        &SrtUrl::listener("127.0.0.1:0".parse().unwrap()),
        &first_out,
    );
    let port = first.addr().port();
    let retry = Duration::from_millis(300);
    let relay = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[srt]\npeer_idle_timeout_ms = 1500\n\
             [[outputs]]\nstream = \"live/out\"\nurl = \"srt://127.0.0.1:{port}?latency=200\"\n\
             retry_delay_ms = {}\nmax_retry_delay_ms = 2000\n",
            retry.as_millis()
        ),
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    // No stream yet: the output waits without calling.
    thread::sleep(Duration::from_millis(300));
    let o = output(&relay).expect("the output runs");
    assert_eq!((o.state, o.connects, o.failures), ("idle", 0, 0), "{o:?}");

    let file_path = media::test_ts(TsSpec::seconds(12));
    let file = std::fs::read(&file_path).unwrap();
    let rate = file.len() as u64 / 12;
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=live/out,m=publish");
    let publisher = recipes::publish_with_srt_live_transmit(
        &file_path,
        &url,
        Pace::realtime(&file_path, 12, 1.0),
    );
    wait_output(&relay, "the output connects", |o| {
        o.state == "live" && o.connects == 1
    });
    let mut first = first;
    first
        .wait_for_len(3 * rate, T)
        .expect("the target receives");
    let got = std::fs::read(&first_out).unwrap();
    assert_tables_then_file(&got, &file, "first target");

    // The target dies: the output loses the call, waits, and calls again until a new target
    // answers on the same port; that one gets the stream from a keyframe too.
    first.proc().kill();
    let killed = Instant::now();
    wait_output(&relay, "the loss is noticed", |o| o.failures >= 1);
    let second_out = dir.join("second.ts");
    let mut second = target(port, &second_out);
    wait_output(&relay, "the output calls again", |o| {
        o.state == "live" && o.connects == 2
    });
    eprintln!(
        "outputs: connected again {:?} after the kill",
        killed.elapsed()
    );
    second
        .wait_for_len(2 * rate, T)
        .expect("the new target receives");
    let got = std::fs::read(&second_out).unwrap();
    let at = assert_tables_then_file(&got, &file, "second target");
    // To the end of the file (the publisher then sends null packets until it is stopped).
    second
        .wait_for_len((2 * TS + file.len() - at) as u64, T)
        .expect("the rest of the file");
    let got = std::fs::read(&second_out).unwrap();
    assert_tables_then_file(&got, &file, "second target, whole");
    let o = output(&relay).unwrap();
    assert_eq!(o.dropped_packets, 0, "{o:?}");
    assert!(o.bytes as usize >= file.len() - at, "{o:?}");

    // The stream ends: the output hangs up (srt-live-transmit -a no then exits) and waits.
    drop(publisher);
    wait_output(&relay, "the output is idle again", |o| o.state == "idle");
    assert!(
        second.wait_exit(T).is_some(),
        "the target sees the call end"
    );
    let o = output(&relay).unwrap();
    assert_eq!(o.connects, 2, "{o:?}");
}

#[test]
fn an_rtmp_output_publishes_to_nginx_rtmp_and_ffmpeg_reads_it_back_whole() {
    use std::process::{Command, Stdio};
    use support::process::Proc;
    use support::tools;
    let nginx = support::nginx_rtmp::Nginx::start("outputs-nginx", 1);
    let relay = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n\
             [streams]\npublisher_grace_ms = 0\n\
             [[outputs]]\nstream = \"live/rt\"\nurl = \"{}\"\n",
            nginx.url("live", "cam")
        ),
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    let o = output(&relay).expect("the output runs");
    assert!(!o.target.contains("cam"), "the stream key is masked: {o:?}");
    let path = media::test_ts(TsSpec::seconds(12));
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=live/rt,m=publish");
    let publisher =
        recipes::publish_with_srt_live_transmit(&path, &url, Pace::realtime(&path, 12, 1.0));
    wait_output(&relay, "the output publishes", |o| {
        o.state == "live" && o.packets > 0
    });
    // ffmpeg plays from nginx (which starts it at a keyframe, wait_key) until the publisher
    // leaves (play_restart).
    let out = media::scratch_dir("outputs-rtmp").join("readback.ts");
    let mut reader = Proc::spawn(
        "ffmpeg reader",
        Command::new(tools::ffmpeg())
            .args([
                "-hide_banner",
                "-nostdin",
                "-loglevel",
                "warning",
                "-y",
                "-i",
            ])
            .arg(nginx.url("live", "cam"))
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(&out)
            .stdin(Stdio::null()),
    );
    // The whole file in (12 s; null packets follow), then the stream ends and the output
    // hangs up.
    let mut publisher = publisher;
    publisher.wait_fed(T).expect("the file is published");
    thread::sleep(Duration::from_secs(1));
    drop(publisher);
    wait_output(&relay, "the output hangs up", |o| o.state == "idle");
    let st = reader
        .wait_timeout(T)
        .expect("ffmpeg ends when the publish ends");
    assert!(
        st.success(),
        "ffmpeg reads it back: {}",
        reader.diagnostics()
    );
    let o = output(&relay).unwrap();
    assert_eq!(
        (o.connects, o.failures, o.dropped_packets),
        (1, 0, 0),
        "{o:?}"
    );
    assert_video_and_audio_decode(&out, &nginx);
    assert!(
        media::file_len(&out) > 500_000,
        "seconds of media read back"
    );
}

#[test]
fn an_rtmp_output_publishes_again_after_nginx_dies_and_comes_back() {
    use std::process::Command;
    use support::process::run_bounded;
    use support::tools;
    let mut nginx = support::nginx_rtmp::Nginx::start("outputs-nginx-again", 1);
    let relay = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n\
             [streams]\npublisher_grace_ms = 0\n\
             [[outputs]]\nstream = \"live/rt2\"\nurl = \"{}\"\n\
             retry_delay_ms = 200\nmax_retry_delay_ms = 1000\n",
            nginx.url("live", "cam")
        ),
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    let path = media::test_ts(TsSpec::seconds(30));
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=live/rt2,m=publish");
    let _publisher =
        recipes::publish_with_srt_live_transmit(&path, &url, Pace::realtime(&path, 30, 1.0));
    wait_output(&relay, "the output publishes", |o| {
        o.state == "live" && o.packets > 0
    });
    nginx.kill();
    let killed = Instant::now();
    wait_output(&relay, "the loss is noticed", |o| o.failures >= 1);
    nginx.restart();
    wait_output(&relay, "the output publishes again", |o| {
        o.state == "live" && o.connects == 2
    });
    eprintln!(
        "rtmp output: publishing again {:?} after nginx was killed",
        killed.elapsed()
    );
    // The new publish is whole: a player of nginx gets video and audio that decode cleanly.
    let out = media::scratch_dir("outputs-rtmp-again").join("readback.ts");
    let r = run_bounded(
        "ffmpeg reader",
        Command::new(tools::ffmpeg())
            .args(["-hide_banner", "-nostdin", "-loglevel", "warning", "-y"])
            .arg("-i")
            .arg(nginx.url("live", "cam"))
            .args(["-t", "4", "-c", "copy", "-f", "mpegts"])
            .arg(&out),
        T,
    );
    assert!(
        r.status.success(),
        "ffmpeg reads the new publish: {}",
        r.stderr
    );
    assert_video_and_audio_decode(&out, &nginx);
    let o = output(&relay).unwrap();
    assert_eq!(o.dropped_packets, 0, "{o:?}");
}

/// SLS as the far end (issue 15's proof): the output publishes to SLS's `pub/live/s1`, and a
/// player of SLS's `play/live/s1` gets SLS's own join packets, then the relay's stream byte
/// for byte, to the end of the file.
#[test]
fn an_srt_output_publishes_to_sls_and_its_players_get_the_stream_byte_exact() {
    let sls = support::sls::Sls::start("outputs-sls");
    let relay = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n\
             [[outputs]]\nstream = \"live/sls\"\n\
             url = \"srt://127.0.0.1:{}?streamid=pub/live/s1&latency=200\"\n",
            sls.port
        ),
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    let path = media::test_ts(TsSpec::seconds(10));
    let file = std::fs::read(&path).unwrap();
    let rate = file.len() as u64 / 10;
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=live/sls,m=publish");
    let mut publisher =
        recipes::publish_with_srt_live_transmit(&path, &url, Pace::realtime(&path, 10, 1.0));
    wait_output(&relay, "the output publishes to SLS", |o| {
        o.state == "live" && o.packets > 0
    });
    let out = media::scratch_dir("outputs-sls").join("player.ts");
    let player = SrtUrl::caller(format!("127.0.0.1:{}", sls.port).parse().unwrap())
        .with_streamid("play/live/s1");
    let mut p = recipes::subscribe_with_srt_live_transmit_no_wait(&player, &out);
    p.wait_for_len(2 * rate, T).expect("SLS's player plays");
    publisher.wait_fed(T).expect("the file is published");
    // To the file's end (the relay's publisher then sends null packets).
    let got = loop {
        let got = std::fs::read(&out).unwrap();
        if got
            .windows(PAYLOAD)
            .any(|w| w == &file[file.len() - PAYLOAD..])
        {
            break got;
        }
        p.wait_for_len(got.len() as u64 + 1, T)
            .expect("SLS goes on to the file's end");
    };
    // SLS's join packets first (tables, a video packet, nulls: a few packets), then a run of
    // the file from wherever SLS was when the player came.
    let (at, from) = (0..64)
        .map(|k| k * TS)
        .find_map(|at| {
            let w = got.get(at..at + PAYLOAD)?;
            let from = file.windows(PAYLOAD).position(|f| f == w)?;
            Some((at, from))
        })
        .expect("the file within SLS's first 64 packets");
    let run = file.len() - from;
    assert_eq!(
        &got[at..at + run],
        &file[from..],
        "SLS's player gets the file byte for byte from byte {from}"
    );
    assert!(
        run as u64 >= 2 * rate,
        "seconds of the file through SLS: {run} bytes"
    );
    let o = output(&relay).unwrap();
    assert_eq!(
        (o.connects, o.failures, o.dropped_packets),
        (1, 0, 0),
        "{o:?}"
    );
    eprintln!("sls: {at} bytes of SLS's own, then {run} bytes of the file from byte {from}");
}

/// What nginx served (`out`, TS) has a video and an audio stream and decodes with an empty
/// `-v error` log.
fn assert_video_and_audio_decode(out: &std::path::Path, nginx: &support::nginx_rtmp::Nginx) {
    use std::process::Command;
    use support::process::run_bounded;
    use support::tools;
    let probe = run_bounded(
        "ffprobe",
        Command::new(tools::ffprobe())
            .args(["-v", "error", "-show_entries", "stream=codec_type"])
            .args(["-of", "csv=p=0"])
            .arg(out),
        T,
    );
    let kinds: Vec<&str> = probe.stdout.lines().map(str::trim).collect();
    assert!(
        kinds.contains(&"video") && kinds.contains(&"audio"),
        "{kinds:?}"
    );
    let d = run_bounded(
        "ffmpeg decode",
        Command::new(tools::ffmpeg())
            .args(["-v", "error", "-i"])
            .arg(out)
            .args(["-f", "null", "-"]),
        T,
    );
    assert!(
        d.status.success() && d.stderr.trim().is_empty(),
        "what nginx gave back decodes without an error: {}\n{}",
        d.stderr,
        nginx.error_log()
    );
}
