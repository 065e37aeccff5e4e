//! `loadgen http` against a tiny server in this test: a std `TcpListener` with a thread per
//! connection serving a paced, chunked MPEG-TS loop, a live HLS playlist and an LL-HLS playlist
//! with blocking reload and parts, all computed from the time since the server started. The
//! `--json` report's numbers are checked against what the server sent.
//!
//! The server paces with sleeps (that is its job: a live source); the test's waits are the
//! loadgen run's own deadline.
#![allow(clippy::disallowed_methods)] // a server and a test: they read the clock

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use loadgen::http::report::HttpReport;
use loadgen::http::tscheck::{PACKET, sample};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// TS stream: 14 packets every 20 ms = 131 600 bytes/s.
const TS_PACKETS_PER_TICK: usize = 14;
const TS_TICK: Duration = Duration::from_millis(20);
const TS_RATE: f64 = (TS_PACKETS_PER_TICK * PACKET) as f64 / 0.020;
/// HLS: 1 s segments of 4 parts, 40 packets a part.
const SEGMENT: f64 = 1.0;
const PARTS: u64 = 4;
const PART_PACKETS: usize = 40;

struct Server {
    port: u16,
}

struct Clock {
    start: Instant,
    start_unix_ms: f64,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let clock = Arc::new(Clock {
            start: Instant::now(),
            start_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
                * 1000.0,
        });
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let clock = clock.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &clock);
                });
            }
        });
        Server { port }
    }
}

/// Keep-alive request loop of one connection.
fn serve(conn: TcpStream, clock: &Clock) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h == "\r\n" {
                break;
            }
        }
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path.ends_with(".ts") && path.starts_with("/live/") {
            return ts_stream(&mut out);
        }
        let (status, body) = route(path, query, clock);
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        out.write_all(&body)?;
    }
}

/// An endless chunked TS stream: PAT, PMT, a keyframe, then video with PAT/PMT repeated;
/// chunks of odd sizes so packets straddle chunk boundaries.
fn ts_stream(out: &mut TcpStream) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    let (mut cc_pat, mut cc_pmt, mut cc_vid) = (0u8, 0u8, 0u8);
    let mut n = 0u64;
    let mut pending: Vec<u8> = Vec::new();
    let mut next = Instant::now();
    loop {
        for _ in 0..TS_PACKETS_PER_TICK {
            let pkt = match n % 50 {
                0 => {
                    cc_pat = cc_pat.wrapping_add(1);
                    sample::pat(cc_pat)
                }
                1 => {
                    cc_pmt = cc_pmt.wrapping_add(1);
                    sample::pmt(cc_pmt)
                }
                2 => {
                    cc_vid = cc_vid.wrapping_add(1);
                    sample::video_start(cc_vid, true)
                }
                k if k % 10 == 0 => {
                    cc_vid = cc_vid.wrapping_add(1);
                    sample::video_start(cc_vid, false)
                }
                _ => {
                    cc_vid = cc_vid.wrapping_add(1);
                    sample::video_more(cc_vid)
                }
            };
            pending.extend_from_slice(&pkt);
            n += 1;
        }
        // Two chunks per tick, split off the packet grid.
        let cut = 1000.min(pending.len());
        for part in [&pending[..cut], &pending[cut..]] {
            if !part.is_empty() {
                write!(out, "{:x}\r\n", part.len())?;
                out.write_all(part)?;
                out.write_all(b"\r\n")?;
            }
        }
        pending.clear();
        next += TS_TICK;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn media(packets: usize) -> Vec<u8> {
    (0..packets)
        .flat_map(|i| sample::video_more(i as u8))
        .collect()
}

fn route(path: &str, query: &str, clock: &Clock) -> (&'static str, Vec<u8>) {
    let now = clock.start.elapsed().as_secs_f64();
    let complete = (now / SEGMENT) as u64; // segments 0..complete are complete
    let parts_done = ((now / SEGMENT).fract() * PARTS as f64) as u64;
    let not_found = ("404 Not Found", Vec::new());
    match path {
        "/hls/index.m3u8" => ("200 OK", live_playlist(complete, clock, false, 0)),
        "/ll/index.m3u8" => {
            // Blocking reload: wait until the asked-for part exists (at most 3 s).
            let get = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(msn) = get("_HLS_msn") {
                let part = get("_HLS_part").unwrap_or(PARTS - 1);
                let at = (msn as f64 + (part + 1) as f64 / PARTS as f64) * SEGMENT;
                let wait = (at - now).clamp(0.0, 3.0);
                std::thread::sleep(Duration::from_secs_f64(wait));
            }
            let now = clock.start.elapsed().as_secs_f64();
            let complete = (now / SEGMENT) as u64;
            let parts_done = ((now / SEGMENT).fract() * PARTS as f64) as u64;
            ("200 OK", live_playlist(complete, clock, true, parts_done))
        }
        _ => {
            let name = path.rsplit('/').next().unwrap_or("");
            if let Some(msn) = name.strip_prefix("seg").and_then(|s| s.strip_suffix(".ts")) {
                match msn.parse::<u64>() {
                    Ok(m) if m < complete => ("200 OK", media(PART_PACKETS * PARTS as usize)),
                    _ => not_found,
                }
            } else if let Some(p) = name
                .strip_prefix("part")
                .and_then(|s| s.strip_suffix(".ts"))
            {
                let (m, i) = p.split_once('.').unwrap_or(("x", "x"));
                match (m.parse::<u64>(), i.parse::<u64>()) {
                    (Ok(m), Ok(i)) if m < complete || (m == complete && i < parts_done) => {
                        ("200 OK", media(PART_PACKETS))
                    }
                    _ => not_found,
                }
            } else {
                not_found
            }
        }
    }
}

/// The last 4 complete segments (with their parts for LL), then the parts of the one in
/// progress.
fn live_playlist(complete: u64, clock: &Clock, ll: bool, parts_done: u64) -> Vec<u8> {
    let first = complete.saturating_sub(4);
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n");
    if ll {
        s.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.75\n");
        s.push_str("#EXT-X-PART-INF:PART-TARGET=0.25\n");
    }
    s.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n"));
    let part_d = SEGMENT / PARTS as f64;
    for m in first..complete {
        let t = clock.start_unix_ms + m as f64 * SEGMENT * 1000.0;
        s.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", iso(t)));
        if ll {
            for i in 0..PARTS {
                s.push_str(&format!(
                    "#EXT-X-PART:DURATION={part_d:.3},URI=\"part{m}.{i}.ts\"{}\n",
                    if i == 0 { ",INDEPENDENT=YES" } else { "" }
                ));
            }
        }
        s.push_str(&format!("#EXTINF:{SEGMENT:.3},\nseg{m}.ts\n"));
    }
    if ll {
        let t = clock.start_unix_ms + complete as f64 * SEGMENT * 1000.0;
        s.push_str(&format!("#EXT-X-PROGRAM-DATE-TIME:{}\n", iso(t)));
        for i in 0..parts_done {
            s.push_str(&format!(
                "#EXT-X-PART:DURATION={part_d:.3},URI=\"part{complete}.{i}.ts\"\n"
            ));
        }
    }
    s.into_bytes()
}

/// Unix ms as `YYYY-MM-DDThh:mm:ss.mmmZ` (H. Hinnant's `civil_from_days`).
fn iso(ms: f64) -> String {
    let ms = ms as i64;
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn loadgen(args: &[&str]) -> (HttpReport, Output) {
    let mut child = Command::new(LOADGEN)
        .arg("http")
        .args(args)
        .args(["--json", "--progress", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");
    let deadline = Instant::now() + RUN_DEADLINE;
    while child.try_wait().expect("poll loadgen").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "loadgen ran past {RUN_DEADLINE:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}), status {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out)
}

fn near(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= want * tol
}

#[test]
fn iso_dates_round_trip_through_the_playlist_parser() {
    for ms in [0.0, 1_796_276_268_120.0, 951_782_400_000.0] {
        assert_eq!(loadgen::http::m3u8::parse_date_time_ms(&iso(ms)), Some(ms));
    }
}

#[test]
fn ts_players_read_the_chunked_stream_and_slow_ones_hurt_nobody() {
    let server = Server::start();
    let url = format!("http://127.0.0.1:{}/live/cam{{i}}.ts", server.port);
    let slow_rate = 30_000;
    let (r, out) = loadgen(&[
        "--url",
        &url,
        "--mode",
        "ts",
        "--players",
        "6",
        "--read-rate",
        &slow_rate.to_string(),
        "--slow-fraction",
        "0.34",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--bitrate",
        &format!("{}", TS_RATE * 8.0 / 1e6),
        "--expect-delivery",
        "90",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{r:#?}");
    let p = &r.players;
    assert_eq!(
        (p.count, p.slow, p.connected, p.playing_at_end),
        (6, 2, 6, 6),
        "{p:?}"
    );
    assert_eq!((p.disconnects, p.http_errors), (0, 0), "{p:?}");
    assert!(p.failures.is_empty(), "{:?}", p.failures);
    let ts = r.ts.as_ref().expect("ts mode");
    assert_eq!(
        (ts.keyframe_start_yes, ts.keyframe_start_no),
        (6, 0),
        "{ts:?}"
    );
    assert_eq!((ts.cc_errors, ts.resyncs), (0, 0), "{ts:?}");
    assert_eq!((r.ttfb.samples, r.first_pat.samples), (6, 6));
    assert!(r.ttfb.p99_us < 1_000_000, "{:?}", r.ttfb);
    // The normal players get the stream's rate, all of them: the slow ones cost them nothing.
    let n = &r.rates.normal;
    assert_eq!(n.count, 4);
    assert!(near(n.median_bps, TS_RATE, 0.15), "{n:?} vs {TS_RATE}");
    assert!(n.min_bps > TS_RATE * 0.85, "{n:?}");
    // The slow ones get their read rate (the bucket starts with 100 ms of budget).
    let s = &r.rates.slow;
    assert_eq!(s.count, 2);
    assert!(near(s.median_bps, slow_rate as f64, 0.25), "{s:?}");
    assert!(p.delivery_pct > 90.0, "{p:?}");
}

#[test]
fn hls_players_poll_the_live_playlist_and_fetch_every_segment() {
    let server = Server::start();
    // Let a few segments exist before the players come.
    std::thread::sleep(Duration::from_millis(1200));
    let url = format!("http://127.0.0.1:{}/hls/index.m3u8", server.port);
    let (r, out) = loadgen(&[
        "--url",
        &url,
        "--mode",
        "hls",
        "--players",
        "5",
        "--warmup",
        "1",
        "--duration",
        "4",
        "--expect-delivery",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}\n{r:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = &r.players;
    assert_eq!(
        (p.connected, p.playing_at_end, p.http_errors),
        (5, 5, 0),
        "{p:?}"
    );
    let h = r.hls.as_ref().expect("hls mode");
    // 4 s of 1 s segments: 3 to 5 per player, none missed.
    assert!((15..=25).contains(&h.segments), "{h:?}");
    assert_eq!(
        (h.gaps, h.failed_fetches, h.parts, h.blocking_reloads),
        (0, 0, 0, 0),
        "{h:?}"
    );
    assert_eq!(h.latency.samples, h.segments);
    // Reloads wait a target duration after a change: a segment is at most ~1 s old when
    // fetched, plus scheduling.
    assert!(
        h.latency.p50_us < 1_300_000 && h.latency.max_us < 2_000_000,
        "{:?}",
        h.latency
    );
    let seg_bytes = (PART_PACKETS * PARTS as usize * PACKET) as f64;
    assert!(
        near(r.rates.normal.median_bps, seg_bytes / SEGMENT, 0.3),
        "{:?}",
        r.rates
    );
}

#[test]
fn ll_hls_players_block_on_reload_and_fetch_parts() {
    let server = Server::start();
    std::thread::sleep(Duration::from_millis(1200));
    let url = format!("http://127.0.0.1:{}/ll/index.m3u8", server.port);
    let (r, out) = loadgen(&[
        "--url",
        &url,
        "--mode",
        "hls",
        "--players",
        "3",
        "--warmup",
        "1",
        "--duration",
        "3",
        "--expect-delivery",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}\n{r:#?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = r.hls.as_ref().expect("hls mode");
    assert_eq!(
        (h.gaps, h.failed_fetches, r.players.http_errors),
        (0, 0, 0),
        "{h:?} {:?}",
        r.players
    );
    // 3 s of 0.25 s parts: ~12 per player, fetched as they appear.
    assert!(h.parts >= 3 * 9, "{h:?}");
    assert!(
        h.blocking_reloads >= h.parts,
        "one blocking reload per new part: {h:?}"
    );
    assert!(
        h.latency.p50_us < 200_000 && h.latency.p99_us < 500_000,
        "{:?}",
        h.latency
    );
}
