//! The players' HTTP listener end to end: a libsrt publisher (srt-live-transmit, byte
//! pass-through) into the in-process engine, HTTP-TS players read by our minimal client (to see
//! the exact bytes), by ffprobe and ffmpeg (to decode), slow and hostile clients beside them.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::config::{Config, UnknownStream};
use srtrelay::playback::PlaybackCounters;
use support::http_client::{self, Response};
use support::media::{self, TsSpec};
use support::process::run_bounded;
use support::recipes::{self, Pace, Publisher};
use support::srt_url::SrtUrl;
use support::tools;

const TS: usize = 188;
const T: Duration = Duration::from_secs(30);

fn relay(tweak: impl FnOnce(&mut Config)) -> InProcessRelay {
    InProcessRelay::start("[http]\nenabled = false", |c| {
        c.srt.latency.default = Duration::from_millis(500);
        c.streams.policy.publisher_grace = Duration::from_millis(300);
        c.streams.policy.unknown_stream = UnknownStream::Reject;
        tweak(c);
    })
}

fn publish(relay: &InProcessRelay, file: &Path, seconds: u32, name: &str) -> Publisher {
    let url = SrtUrl::caller(relay.addr).with_streamid(&format!("#!::r={name},m=publish"));
    recipes::publish_with_srt_live_transmit(file, &url, Pace::realtime(file, seconds, 1.0))
}

/// Waits until the relay stored `bytes` of `name` (the player then joins mid-stream).
fn wait_ingress(relay: &InProcessRelay, name: &str, bytes: u64) {
    let deadline = Instant::now() + T;
    loop {
        let have = relay
            .reports()
            .iter()
            .flat_map(|r| r.streams.iter())
            .filter(|s| s.name == name)
            .map(|s| s.traffic.ingress_bytes)
            .max()
            .unwrap_or(0);
        if have >= bytes {
            return;
        }
        assert!(Instant::now() < deadline, "{have} of {bytes} bytes stored");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the whole file is fed and stored, then stops the publisher (SIGTERM before
/// its last chunk left would cut the stream short, not the relay).
fn end_publisher(relay: &InProcessRelay, mut publisher: Publisher, name: &str, len: usize) {
    publisher.wait_fed(T).expect("file fed");
    wait_ingress(relay, name, len as u64);
    publisher.finish();
}

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

/// A video keyframe start: adaptation field with the random-access indicator, PES start.
fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid(p) == 0x100
}

/// Checks what an HTTP-TS player got: PAT, PMT, a keyframe, then the published bytes
/// unbroken from there to the end of the file. Returns where in the file it joined.
fn assert_joined_cleanly(out: &[u8], file: &[u8]) -> usize {
    assert!(out.len() > 4 * TS, "only {} bytes", out.len());
    assert!(out.len().is_multiple_of(TS), "whole TS packets");
    assert_eq!(pid(&out[..TS]), 0, "PAT first");
    // The PMT PID is whatever the PAT names; ffmpeg's is 0x1000.
    assert_eq!(pid(&out[TS..2 * TS]), 0x1000, "PMT second");
    let rest = &out[2 * TS..];
    assert!(
        is_keyframe(&rest[..TS]),
        "a video keyframe right after the tables"
    );
    let probe = &rest[..7 * TS];
    let at = file
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the bytes after the tables are the publisher's");
    // srt-live-transmit sometimes sends one more chunk of TS null packets after the file
    // (the relay then stores file + 1316 bytes): stuffing, not media.
    let media_len = (file.len() - at).min(rest.len());
    let tail = &rest[media_len..];
    assert!(
        tail.chunks(TS).all(|p| pid(p) == 0x1FFF),
        "only null packets past the end of the file"
    );
    let rest = &rest[..media_len];
    if let Err(m) = media::compare_bytes(&file[at..], rest) {
        panic!("not byte-exact from the join point (file offset {at}) to the end: {m:?}");
    }
    at
}

#[test]
fn http_ts_players_start_at_the_tables_and_a_keyframe_then_get_the_published_bytes() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let file = media::test_ts(TsSpec::seconds(6));
    let bytes = std::fs::read(&file).unwrap();
    let publisher = publish(&relay, &file, 6, "live/cam1");
    wait_ingress(&relay, "live/cam1", bytes.len() as u64 / 4);
    // Several players: the kernel spreads them over both shards (replica and local ring).
    let players: Vec<Response> = (0..6)
        .map(|_| http_client::get(http, "/live/cam1.ts", T).expect("response"))
        .collect();
    for p in &players {
        assert_eq!(p.status, 200);
        assert_eq!(p.header("content-type"), Some("video/mp2t"));
        assert_eq!(p.header("transfer-encoding"), Some("chunked"));
        assert!(p.header("cache-control").unwrap().contains("no-store"));
    }
    let readers: Vec<_> = players
        .into_iter()
        .map(|mut p| {
            thread::spawn(move || {
                let out = p.read_to_end(2 * T).to_vec();
                (out, p.finished())
            })
        })
        .collect();
    // While they read: curl, as an operator would try it: the first bytes are the PAT.
    let curl = run_bounded(
        "curl",
        Command::new("curl").args([
            "-s",
            "--max-time",
            "3",
            "-o",
            "-",
            &format!("http://{http}/live/cam1.ts"),
        ]),
        T,
    );
    let got = curl.stdout.as_bytes();
    assert!(got.len() > 2 * TS, "curl got {} bytes", got.len());
    assert_eq!(got[0], 0x47);
    assert_eq!(pid(&got[..TS]), 0, "curl's first packet is the PAT");
    end_publisher(&relay, publisher, "live/cam1", bytes.len());
    // The publisher left, the grace period passes, the responses end (chunked end).
    for r in readers {
        let (out, finished) = r.join().unwrap();
        assert!(finished, "the response ended after the publisher left");
        let at = assert_joined_cleanly(&out, &bytes);
        assert!(at > 0, "joined mid-stream, at a keyframe");
    }
    let c = &relay.engine().playback().unwrap().counters;
    assert_eq!(
        PlaybackCounters::get(&c.ts_players),
        7,
        "six players and curl"
    );
    let deadline = Instant::now() + T;
    while relay
        .reports()
        .iter()
        .map(|r| r.counters.http_ts_players)
        .sum::<u64>()
        > 0
    {
        assert!(Instant::now() < deadline, "players gone from the shards");
        thread::sleep(Duration::from_millis(20));
    }
    let out: u64 = relay
        .reports()
        .iter()
        .map(|r| r.counters.http_ts_bytes_out)
        .sum();
    assert!(out > 6 * bytes.len() as u64 / 2, "bytes out counted: {out}");
}

#[test]
fn ffprobe_sees_a_keyframe_first_and_ffmpeg_decodes_the_http_stream_without_errors() {
    let relay = relay(|_| {});
    let http = relay.playback_addr();
    let file = media::test_ts(TsSpec::seconds(8));
    let publisher = publish(&relay, &file, 8, "live/cam1");
    wait_ingress(&relay, "live/cam1", media::file_len(&file) / 4);
    let url = format!("http://{http}/live/cam1.ts");
    // Both read until they are done or the stream ends (the publisher leaves below): a
    // probe that wants more media than the rest of the file holds must not wait for a
    // publisher that stays connected, idle.
    let probe_url = url.clone();
    let probe = thread::spawn(move || {
        run_bounded(
            "ffprobe",
            Command::new(tools::ffprobe()).args([
                "-v",
                "error",
                "-analyzeduration",
                "1000000",
                "-select_streams",
                "v",
                "-read_intervals",
                "%+#3",
                "-show_entries",
                "frame=key_frame,pict_type",
                "-of",
                "csv",
                &probe_url,
            ]),
            2 * T,
        )
    });
    // A whole decode to the end of the stream: no decoder complaint at all.
    let decode = thread::spawn(move || {
        run_bounded(
            "ffmpeg decode",
            Command::new(tools::ffmpeg()).args(["-v", "error", "-i", &url, "-f", "null", "-"]),
            2 * T,
        )
    });
    end_publisher(
        &relay,
        publisher,
        "live/cam1",
        media::file_len(&file) as usize,
    );
    let probe = probe.join().unwrap();
    let frames: Vec<&str> = probe
        .stdout
        .lines()
        .filter(|l| l.starts_with("frame"))
        .collect();
    assert!(!frames.is_empty(), "ffprobe read frames: {}", probe.stderr);
    assert_eq!(
        frames[0], "frame,1,I",
        "first video frame is a keyframe: {frames:?}"
    );
    let decode = decode.join().unwrap();
    assert!(decode.status.success(), "ffmpeg: {}", decode.stderr);
    assert_eq!(decode.stderr.trim(), "", "decode errors");
}

#[test]
fn a_slow_reader_is_skipped_or_dropped_while_a_fast_one_gets_every_byte() {
    let relay = relay(|c| {
        let p = c.playback.as_mut().unwrap();
        p.ts_queue_bytes = 512 << 10;
        p.max_lag = Duration::from_millis(2000);
    });
    let http = relay.playback_addr();
    let file = media::test_ts(TsSpec::seconds(8));
    let bytes = std::fs::read(&file).unwrap();
    let publisher = publish(&relay, &file, 8, "live/slow");
    wait_ingress(&relay, "live/slow", 1);
    // The slow one reads 1 KB a second with a small socket buffer; the kernel's buffers then
    // fill and the relay's queue is what overflows.
    let slow = TcpStream::connect(http).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let sock = socket2::SockRef::from(&slow);
    let _ = sock.set_recv_buffer_size(4096);
    (&slow)
        .write_all(b"GET /live/slow.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let slow_reader = thread::spawn(move || {
        let mut slow = slow;
        let mut got = 0usize;
        let end = Instant::now() + Duration::from_secs(12);
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            match slow.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(_) => {}
            }
            thread::sleep(Duration::from_secs(1));
        }
        got
    });
    let mut fast = http_client::get(http, "/live/slow.ts", T).unwrap();
    let fast = thread::spawn(move || fast.read_to_end(2 * T).to_vec());
    end_publisher(&relay, publisher, "live/slow", bytes.len());
    let fast = fast.join().unwrap();
    assert_joined_cleanly(&fast, &bytes);
    let slow_got = slow_reader.join().unwrap();
    let r = relay.reports();
    let resyncs: u64 = r.iter().map(|r| r.counters.http_ts_resyncs).sum();
    let lag_closed: u64 = r.iter().map(|r| r.counters.http_ts_lag_closed).sum();
    let skipped: u64 = r.iter().map(|r| r.counters.http_ts_skipped).sum();
    assert!(
        resyncs + lag_closed >= 1 && skipped > 0,
        "the slow reader was skipped ({resyncs}) or dropped ({lag_closed}); skipped {skipped}; it read {slow_got}"
    );
}

/// One raw exchange; returns the status, or `None` if the relay closed without answering.
fn status_of(addr: SocketAddr, raw: &[u8]) -> Option<u16> {
    http_client::raw_request(addr, raw, T)
        .ok()
        .map(|r| r.status)
}

#[test]
fn refusals_and_hostile_requests_get_clean_answers_and_counters() {
    let relay = relay(|c| {
        let p = c.playback.as_mut().unwrap();
        p.header_timeout = Duration::from_millis(500);
        p.max_connections = 8;
    });
    let http = relay.playback_addr();
    let c = &relay.engine().playback().unwrap().counters;
    assert_eq!(
        status_of(http, b"GET /nope.ts HTTP/1.1\r\nHost: x\r\n\r\n"),
        Some(404)
    );
    assert_eq!(
        status_of(http, b"GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
        Some(404)
    );
    assert_eq!(
        status_of(
            http,
            b"POST /live/cam1.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
        ),
        Some(405)
    );
    assert_eq!(
        status_of(
            http,
            b"GET /x.ts HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        ),
        Some(413)
    );
    let junk = status_of(
        http,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    );
    assert!(matches!(junk, None | Some(400)), "{junk:?}");
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let big = status_of(http, huge.as_bytes());
    assert!(matches!(big, None | Some(431)), "{big:?}");
    // Slowloris: half a head, then silence. Closed at the header deadline.
    let mut s = TcpStream::connect(http).unwrap();
    s.write_all(b"GET /live/cam1.ts HTTP/1.1\r\nHost:").unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let t0 = Instant::now();
    let mut b = [0u8; 64];
    let n = s.read(&mut b).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(PlaybackCounters::get(&c.header_timeouts) >= 1);
    // The connection cap: idle connections beyond it are closed at accept.
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(http).unwrap()).collect();
    let deadline = Instant::now() + T;
    while PlaybackCounters::get(&c.accepted) < 8 + 7 {
        assert!(
            Instant::now() < deadline,
            "accepted {}",
            PlaybackCounters::get(&c.accepted)
        );
        thread::sleep(Duration::from_millis(10));
    }
    let mut extra = TcpStream::connect(http).unwrap();
    extra.set_read_timeout(Some(T)).unwrap();
    assert_eq!(extra.read(&mut b).unwrap_or(0), 0, "closed at once");
    assert!(PlaybackCounters::get(&c.refused_connections) >= 1);
    drop(idle);
    // Still serving afterwards.
    let deadline = Instant::now() + T;
    loop {
        if status_of(http, b"HEAD /nope.ts HTTP/1.1\r\nHost: x\r\n\r\n") == Some(404) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serving again after the idle ones left"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn at_the_connection_limit_players_get_503_or_the_configured_404() {
    for (status, expect) in [(503u16, 503u16), (404, 404)] {
        let relay = relay(|c| {
            c.limits.max_connections = std::num::NonZeroUsize::new(1).unwrap();
            c.limits.soft_max_connections = std::num::NonZeroUsize::new(1).unwrap();
            c.playback.as_mut().unwrap().refused_status = status;
        });
        let http = relay.playback_addr();
        let file = media::test_ts(TsSpec::seconds(6));
        let publisher = publish(&relay, &file, 6, "live/full");
        wait_ingress(&relay, "live/full", 1);
        let r = http_client::get(http, "/live/full.ts", T).unwrap();
        assert_eq!(r.status, expect);
        if expect == 503 {
            assert_eq!(r.header("retry-after"), Some("5"));
        }
        publisher.finish();
    }
}

#[test]
fn under_the_wait_policy_a_player_before_the_publisher_gets_the_stream_when_it_comes() {
    let relay = relay(|c| {
        c.streams.policy.unknown_stream = UnknownStream::Wait(Duration::from_secs(20));
    });
    let http = relay.playback_addr();
    let file = media::test_ts(TsSpec::seconds(6));
    let bytes = std::fs::read(&file).unwrap();
    let early = http_client::get(http, "/live/later.ts", T).expect("answered while waiting");
    assert_eq!(early.status, 200);
    let reader = thread::spawn(move || {
        let mut early = early;
        early.read_to_end(2 * T).to_vec()
    });
    let publisher = publish(&relay, &file, 6, "live/later");
    end_publisher(&relay, publisher, "live/later", bytes.len());
    let out = reader.join().unwrap();
    assert_eq!(
        assert_joined_cleanly(&out, &bytes),
        3 * TS,
        "from the first keyframe on"
    );
}

#[test]
fn http_players_count_toward_the_soft_limit_like_srt_players() {
    let relay = relay(|c| {
        c.limits.max_connections = std::num::NonZeroUsize::new(10).unwrap();
        c.limits.soft_max_connections = std::num::NonZeroUsize::new(3).unwrap();
    });
    let http = relay.playback_addr();
    let file = media::test_ts(TsSpec::seconds(6));
    let publisher = publish(&relay, &file, 6, "live/soft");
    wait_ingress(&relay, "live/soft", 1);
    let players: Vec<Response> = (0..2)
        .map(|_| http_client::get(http, "/live/soft.ts", T).unwrap())
        .collect();
    assert!(players.iter().all(|p| p.status == 200));
    let c = relay.engine().registry().counts();
    assert_eq!(
        c.connections, 3,
        "the publisher and two HTTP players: {c:?}"
    );
    assert!(
        c.connections >= c.soft_limit,
        "/v1/health reports full from here: {c:?}"
    );
    drop(players);
    publisher.finish();
}
