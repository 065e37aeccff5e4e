//! The `srtrelay` binary: flags, configuration checking and exit codes, and one relay run on
//! loopback (a publisher and a player without a Stream ID, both our own callers).
// Integration tests drive real processes and sockets: they read the wall clock.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use srtrelay::driver::BlockingDriver;
use srtrelay::srt::endpoint::{AcceptAll, Endpoint, EndpointConfig, EndpointEvent};
use srtrelay::srt::handshake::CallerConfig;
use srtrelay::srt::seq::SeqNo;

const BIN: &str = env!("CARGO_BIN_EXE_srtrelay");
const SHIPPED: &str = include_str!("../config.toml");

fn srtrelay(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run srtrelay")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A config file in cargo's per-test scratch directory.
fn write_config(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

fn check(name: &str, text: &str) -> Output {
    let path = write_config(name, text);
    srtrelay(&[
        "--config",
        path.to_str().expect("utf-8 path"),
        "--check-config",
    ])
}

#[test]
fn version_prints_name_and_version() {
    let o = srtrelay(&["--version"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        format!("srtrelay {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_flag_and_the_exit_codes() {
    let o = srtrelay(&["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    for flag in [
        "--config <FILE>",
        "--check-config",
        "--print-default-config",
        "--version",
        "--help",
        "Exit codes",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
}

#[test]
fn check_config_accepts_the_shipped_file_and_the_embedded_default() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml");
    let o = srtrelay(&["--config", shipped, "--check-config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("configuration ok"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("srt listen: 0.0.0.0:9999"),
        "{}",
        stdout(&o)
    );

    let o = srtrelay(&["--check-config"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("embedded default"), "{}", stdout(&o));
}

#[test]
fn print_default_config_prints_the_shipped_file() {
    let o = srtrelay(&["--print-default-config"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), SHIPPED);
}

#[test]
fn a_bad_value_exits_2_naming_the_key() {
    let o = check("bad-value", "[limits]\nmax_subscribers_per_stream = 0\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid `limits.max_subscribers_per_stream`: must be at least 1"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn an_unknown_key_exits_2_naming_it() {
    let o = check("unknown-key", "[srt]\nlatency_ms = 120\nlatncy_ms = 5\n");
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("`srt.latncy_ms`"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn a_missing_file_and_a_bad_flag_exit_2() {
    let o = srtrelay(&["--config", "/nonexistent/srtrelay.toml", "--check-config"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/srtrelay.toml"),
        "{}",
        stderr(&o)
    );

    let o = srtrelay(&["--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_core_this_machine_lacks_exits_2() {
    let o = check("cores", "[runtime]\ncores = [100000]\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("invalid `runtime.cores`"),
        "{}",
        stderr(&o)
    );
}

/// Kills the relay when the test ends, however it ends.
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on a free loopback port and waits for its "listening" log line.
fn start_relay(config: &str) -> (Relay, SocketAddr) {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let path = write_config(
        "run",
        &format!(
            "[srt]\nlisten = [\"{addr}\"]\n{config}\n[playback]\nenabled = false\n[http]\nenabled = false\n[log]\nlevel = \"info\"\n"
        ),
    );
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn srtrelay");
    let err = child.stderr.take().expect("piped stderr");
    let relay = Relay(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(&format!("listening on {addr}")) => return (relay, addr),
            Ok(_) => {}
            Err(e) => panic!("srtrelay did not report listening on {addr}: {e}"),
        }
    }
}

#[test]
fn the_relay_forwards_a_publisher_to_a_player_without_stream_id() {
    // The player sends no Stream ID, so it gets `streams.default_stream`.
    let (_relay, addr) = start_relay("latency_ms = 40\n[streams]\ndefault_stream = \"cli\"");
    let now = Instant::now();
    // libsrt's 5 s idle timeout is short on a busy machine: one loaded run (load average 8,
    // a large copy saturating the disk) saw 5 s without a packet from the relay right after
    // the handshake. The relay answers within milliseconds when it gets to run.
    let cfg = EndpointConfig {
        peer_idle_timeout: Duration::from_secs(20),
        ..EndpointConfig::default()
    };
    let endpoint = Endpoint::new(cfg, None, now);
    let mut driver = BlockingDriver::bind("127.0.0.1:0".parse().expect("literal"), endpoint)
        .expect("bind caller socket");
    let mut publish = CallerConfig::new(0, SeqNo::new(0), addr);
    publish.stream_id = Some("#!::r=cli,m=publish".into());
    let publisher = driver
        .endpoint
        .connect(now, publish)
        .expect("caller config");
    let player = driver
        .endpoint
        .connect(now, CallerConfig::new(0, SeqNo::new(0), addr))
        .expect("caller config");

    let payload = [0x47u8; 1316];
    let mut connected = Vec::new();
    let mut buf = [0u8; 2048];
    let mut sent = 0u32;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "nothing relayed; connected {connected:?}, {sent} sent"
        );
        driver
            .turn(&mut AcceptAll, Duration::from_millis(2))
            .expect("I/O");
        while let Some(ev) = driver.endpoint.poll_event() {
            match ev {
                EndpointEvent::Connected { id } => connected.push(id),
                other => panic!("unexpected {other:?}"),
            }
        }
        if connected.contains(&publisher) && connected.contains(&player) {
            // The relay registers the player on its Accepted event; keep publishing until
            // packets sent after that come through.
            driver
                .endpoint
                .send(publisher, Instant::now(), &payload)
                .expect("publisher open");
            sent += 1;
        }
        if let Some(d) = driver.endpoint.recv(player, Instant::now(), &mut buf) {
            assert_eq!(&buf[..d.len], &payload[..]);
            return;
        }
    }
}
