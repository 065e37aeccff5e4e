//! `loadgen http` against the srtrelay binary: a thousand HTTP-TS players and a hundred LL-HLS
//! players of one ffmpeg stream on loopback, each checked for a keyframe start, continuity and
//! delivery. The counts the issue asks the relay to serve, small enough for CI's two cores.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::relay_proc::RelayProcess;

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");
const RUN_DEADLINE: Duration = Duration::from_secs(120);

fn relay_bin() -> PathBuf {
    let bin = PathBuf::from(LOADGEN).with_file_name("srtrelay");
    assert!(
        bin.is_file(),
        "relay binary {} is missing: build it first with `cargo build --workspace --bins`",
        bin.display()
    );
    bin
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Publisher(Child);

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small live test pattern (about 300 kbit/s) from ffmpeg into the relay over SRT.
fn publish(relay: &RelayProcess) -> Publisher {
    let url = format!(
        "srt://{}?streamid=#!::r=live/cam1,m=publish&latency=500000",
        relay.addr()
    );
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-b:v", "250k", "-c:a", "aac", "-b:a", "48k", "-t", "90",
        ])
        .args(["-f", "mpegts", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("ffmpeg starts (scripts/test.sh installs it)");
    Publisher(child)
}

/// Waits until `path` answers 200 on the playback port.
fn wait_ok(port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(
                s,
                "HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut b = [0u8; 64];
            if let Ok(n) = s.read(&mut b)
                && b[..n].starts_with(b"HTTP/1.1 200")
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{path} never answered 200");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn start_relay(port: u16) -> RelayProcess {
    // RelayProcess picks the SRT port; the playback port is ours. It waits for the info line
    // that says the relay listens.
    let template = format!(
        "[srt]\nlisten = [\"{{listen}}\"]\nlatency_ms = {{latency_ms}}\n\
         [http]\nenabled = false\n\
         [limits]\nmax_subscribers_per_stream = 5000\n\
         [playback]\nlisten = \"127.0.0.1:{port}\"\nmax_connections = 5000\n\
         [log]\nlevel = \"info\"\n"
    );
    RelayProcess::start(&relay_bin(), &template, 500)
        .unwrap_or_else(|e| panic!("cannot start the relay: {e:#}"))
}

fn run_loadgen(args: &[&str]) -> serde_json::Value {
    let mut child = Command::new(LOADGEN)
        .arg("http")
        .args(args)
        .args(["--json", "--progress", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("loadgen starts");
    let deadline = Instant::now() + RUN_DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("loadgen http did not finish within {RUN_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_thousand_http_ts_players_all_start_at_a_keyframe_and_get_the_stream() {
    let port = free_tcp_port();
    let relay = start_relay(port);
    let _publisher = publish(&relay);
    wait_ok(port, "/live/cam1.ts");
    let url = format!("http://127.0.0.1:{port}/live/cam1.ts");
    let pid = relay.pid().to_string();
    let r = run_loadgen(&[
        "--url",
        &url,
        "--mode",
        "ts",
        "--players",
        "1000",
        "--connect-rate",
        "500",
        "--warmup",
        "3",
        "--duration",
        "5",
        "--timeout",
        "10000",
        "--relay-pid",
        &pid,
    ]);
    let p = &r["players"];
    assert_eq!(p["connected"], 1000, "{r:#}");
    assert_eq!(p["playing_at_end"], 1000, "{r:#}");
    assert_eq!(p["disconnects"], 0, "{r:#}");
    let ts = &r["ts"];
    assert_eq!(
        ts["keyframe_start_yes"], 1000,
        "every player starts at a keyframe: {r:#}"
    );
    assert_eq!(ts["resyncs"], 0, "whole TS packets: {r:#}");
    assert_eq!(
        ts["cc_errors"], 0,
        "every PID continues, the tables sent at the join too: {r:#}"
    );
    // Each player's bytes within a tenth of the median player's.
    let d = p["delivery_pct"].as_f64().unwrap();
    assert!(d >= 90.0, "delivery {d} %: {r:#}");
    eprintln!(
        "1000 HTTP-TS players: relay CPU {} s ({} %), {} s per delivered MB, RSS {} kB per player",
        r["relay"]["cpu_s"],
        r["relay"]["cpu_pct"],
        r["relay"]["cpu_s_per_delivered_mb"],
        r["relay"]["rss_kb_per_player"]
    );
}

#[test]
fn a_hundred_ll_hls_players_follow_the_live_edge_without_gaps() {
    let port = free_tcp_port();
    let relay = start_relay(port);
    let _publisher = publish(&relay);
    wait_ok(port, "/live/cam1.ts");
    wait_ok(port, "/live/cam1/index.m3u8");
    let url = format!("http://127.0.0.1:{port}/live/cam1/index.m3u8");
    let r = run_loadgen(&[
        "--url",
        &url,
        "--mode",
        "hls",
        "--players",
        "100",
        "--connect-rate",
        "100",
        "--warmup",
        "3",
        "--duration",
        "8",
    ]);
    let p = &r["players"];
    assert_eq!(p["connected"], 100, "{r:#}");
    let h = &r["hls"];
    assert_eq!(h["gaps"], 0, "{r:#}");
    assert_eq!(h["failed_fetches"], 0, "{r:#}");
    assert!(
        h["blocking_reloads"].as_u64().unwrap() > 100,
        "LL-HLS blocking reloads: {r:#}"
    );
    assert!(h["parts"].as_u64().unwrap() > 100, "parts fetched: {r:#}");
}
