//! Admission under attack (issue 10, items 5, 7, 8): what a hostile or careless caller could do
//! to stream slots and publishers, and a second relay on our port.
//!
//! The SRT cases run the engine in this process (two shards) so the tests can read the shard
//! reports, with our own callers (`BlockingDriver`, or the bare handshake `Caller` where a
//! libsrt tool cannot send what the attacker sends). The port cases run the real binary.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::driver::BlockingDriver;
use srtrelay::srt::endpoint::{
    AcceptAll, ConnId, ConnectError, Endpoint, EndpointConfig, EndpointEvent,
};
use srtrelay::srt::handshake::{Caller, CallerConfig, CallerEvent, RejectReason};
use srtrelay::srt::packet::{Control, ControlPacket, HandshakeType, HsExtension, Packet, ext_type};
use srtrelay::srt::seq::{SeqNo, Timestamp};
use srtrelay::telemetry::ShardCounters;

/// Generous for a busy 2-core machine; every wait below polls up to a deadline.
const DEADLINE: Duration = Duration::from_secs(15);

/// An in-process relay on 127.0.0.1 (a free port shared by both shards).
struct TestRelay(InProcessRelay);

impl TestRelay {
    /// `extra` is appended to a config that keeps silent callers connected (they only
    /// handshake) and waiting players waiting for the whole test.
    fn start(extra: &str) -> TestRelay {
        let text = format!(
            "[srt]\npeer_idle_timeout_ms = 60000\n[runtime]\ncores = [0, 1]\n\
             [playback]\nenabled = false\n[http]\nenabled = false\n{extra}"
        );
        TestRelay(InProcessRelay::start(&text, |_| {}))
    }

    fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    /// Admission counters summed over the shards.
    fn admission(&self) -> ShardCounters {
        let reports = self.0.reports();
        let mut sum = ShardCounters::default();
        for r in reports {
            let a = r.counters;
            sum.refused_waiting_limit += a.refused_waiting_limit;
            sum.refused_stream_limit += a.refused_stream_limit;
            sum.refused_publish_without_resource += a.refused_publish_without_resource;
            sum.silent_takeovers += a.silent_takeovers;
            sum.refused_publisher_conflict += a.refused_publisher_conflict;
        }
        sum
    }

    /// Over-long Stream IDs refused, all shards.
    fn stream_id_too_long(&self) -> u64 {
        self.0
            .reports()
            .iter()
            .map(|r| r.endpoint.stream_id_too_long)
            .sum()
    }

    /// Rejections sent with `code`, all shards.
    fn rejections(&self, code: u32) -> u64 {
        self.0
            .reports()
            .iter()
            .map(|r| r.endpoint.rejections.get(&code).copied().unwrap_or(0))
            .sum()
    }
}

/// Our callers: one socket, many connections, driven only while a test calls into it (a
/// connection we stop driving goes silent, like a killed encoder).
struct Callers {
    driver: BlockingDriver,
    relay: SocketAddr,
    connected: Vec<ConnId>,
    failed: Vec<(ConnId, ConnectError)>,
    closed: Vec<ConnId>,
}

impl Callers {
    fn new(relay: SocketAddr) -> Callers {
        let cfg = EndpointConfig {
            // Our side must not time the relay out while a test holds a connection silent.
            peer_idle_timeout: Duration::from_secs(60),
            seed: 99,
            ..EndpointConfig::default()
        };
        let endpoint = Endpoint::new(cfg, None, BlockingDriver::now());
        let driver = BlockingDriver::bind("127.0.0.1:0".parse().expect("literal"), endpoint)
            .expect("bind caller socket");
        Callers {
            driver,
            relay,
            connected: Vec::new(),
            failed: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn turn(&mut self) {
        self.driver
            .turn(&mut AcceptAll, Duration::from_millis(5))
            .expect("I/O");
        while let Some(ev) = self.driver.endpoint.poll_event() {
            match ev {
                EndpointEvent::Connected { id } => self.connected.push(id),
                EndpointEvent::ConnectFailed { id, reason } => self.failed.push((id, reason)),
                EndpointEvent::Closed { id, .. } => self.closed.push(id),
                EndpointEvent::Accepted { .. } => {}
            }
        }
    }

    fn start(&mut self, stream_id: &str) -> ConnId {
        let mut c = CallerConfig::new(0, SeqNo::new(0), self.relay);
        c.stream_id = (!stream_id.is_empty()).then(|| stream_id.to_string());
        // libsrt's 3 s is short on a busy machine; the relay answers at once when it runs.
        c.connect_timeout = DEADLINE;
        self.driver
            .endpoint
            .connect(BlockingDriver::now(), c)
            .expect("caller config")
    }

    /// Connects with `stream_id` and drives until the attempt ends: `Ok` once connected, the
    /// listener's rejection otherwise. `also` runs every turn (e.g. a publisher sending).
    fn call_with(
        &mut self,
        stream_id: &str,
        mut also: impl FnMut(&mut Callers),
    ) -> Result<ConnId, RejectReason> {
        let id = self.start(stream_id);
        let deadline = Instant::now() + DEADLINE;
        loop {
            assert!(Instant::now() < deadline, "no answer to {stream_id:?}");
            self.turn();
            also(self);
            if self.connected.contains(&id) {
                return Ok(id);
            }
            if let Some((_, reason)) = self.failed.iter().find(|(f, _)| *f == id) {
                match reason {
                    ConnectError::Rejected(r) => return Err(*r),
                    other => panic!("{stream_id:?}: {other}"),
                }
            }
        }
    }

    fn call(&mut self, stream_id: &str) -> Result<ConnId, RejectReason> {
        self.call_with(stream_id, |_| {})
    }
}

/// Item 5: players waiting on made-up names (unknown_stream = "wait", no [access]) used to fill
/// `max_streams`, and every real publisher was refused with 1402. Now they have their own cap
/// and a publisher finds room.
#[test]
fn waiting_players_cannot_lock_publishers_out() {
    let relay = TestRelay::start(
        "[streams]\nunknown_stream = \"wait\"\nunknown_stream_wait_ms = 60000\n\
         [limits]\nmax_streams = 3\nmax_waiting_players = 5\n",
    );
    let mut c = Callers::new(relay.addr());
    for i in 0..5 {
        c.call(&format!("#!::r=made-up-{i},m=request"))
            .unwrap_or_else(|r| panic!("waiting player {i} refused with {}", r.code()));
    }
    // The sixth waiting player is over its own cap: refused, counted.
    let sixth = c.call("#!::r=made-up-5,m=request");
    assert_eq!(sixth.map_err(|r| r.code()), Err(1402));
    // Publishers still find every slot of max_streams (the old relay refused the first: the
    // five waiting names had taken all three).
    for name in ["real-0", "real-1", "made-up-0"] {
        c.call(&format!("#!::r={name},m=publish"))
            .unwrap_or_else(|r| panic!("publisher of {name} refused with {}", r.code()));
    }
    let over = c.call("#!::r=real-3,m=publish");
    assert_eq!(
        over.map_err(|r| r.code()),
        Err(1402),
        "max_streams still holds"
    );
    // Counted. At least once each: a caller that repeats its conclusion before the rejection
    // reaches it (a busy machine) is refused, and counted, again.
    let a = relay.admission();
    assert!(a.refused_waiting_limit >= 1, "{a:?}");
    assert!(a.refused_stream_limit >= 1, "{a:?}");
    assert!(relay.rejections(1402) >= 2);
}

/// Item 8a: a Stream ID over 512 bytes (libsrt's limit) used to fail to parse and go
/// unanswered, so the caller waited out its connect timeout. libsrt callers cannot send one,
/// so this is a handcrafted conclusion: it must get a 1400 rejection, and be counted.
#[test]
fn an_overlong_stream_id_is_refused_with_1400() {
    let relay = TestRelay::start("");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let start = Instant::now();
    let mut cfg = CallerConfig::new(0x1234_5678, SeqNo::new(1), relay.addr());
    cfg.stream_id = Some("#!::r=x,m=publish".into());
    cfg.connect_timeout = DEADLINE;
    let mut caller = Caller::new(start, cfg).expect("caller");
    let mut buf = [0u8; 2048];
    let deadline = start + DEADLINE;
    let outcome = loop {
        let now = Instant::now();
        assert!(now < deadline, "no answer to an over-long stream id");
        if let Some(mut t) = caller.poll_transmit(now) {
            if t.hs.kind == HandshakeType::Conclusion {
                // What libsrt would never send: a 600-byte SID block. `Unknown` with the SID
                // type emits the bytes as they are (the typed variant refuses to).
                for e in &mut t.hs.extensions {
                    if matches!(e, HsExtension::StreamId(_)) {
                        *e = HsExtension::Unknown {
                            ext_type: ext_type::SID,
                            data: vec![b'a'; 600],
                        };
                    }
                }
            }
            let pkt = Packet::Control(ControlPacket {
                timestamp: Timestamp::from_micros(now.duration_since(start).as_micros() as u32),
                dest_socket_id: t.dest_socket_id,
                body: Control::Handshake(t.hs),
            });
            let n = pkt.emit(&mut buf).expect("emit");
            sock.send_to(&buf[..n], relay.addr()).expect("send");
        }
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && let Ok(Packet::Control(ControlPacket {
                body: Control::Handshake(hs),
                ..
            })) = Packet::parse(&buf[..n])
        {
            caller.handle(Instant::now(), &hs);
        }
        if let Some(ev) = caller.poll_event() {
            break ev;
        }
    };
    assert_eq!(outcome, CallerEvent::Rejected(RejectReason::BadRequest));
    assert_eq!(RejectReason::BadRequest.code(), 1400);
    // At least once: a repeated conclusion is refused (and counted) again.
    assert!(relay.stream_id_too_long() >= 1);
    assert!(relay.rejections(1400) >= 1);
}

/// Item 8b: `#!::m=publish` and `#!::r=,m=publish` used to publish to the default stream.
/// Publishers are refused with 1400; players without a resource still play the default one.
#[test]
fn a_publisher_without_a_resource_is_refused_players_get_the_default_stream() {
    let relay = TestRelay::start("[streams]\ndefault_stream = \"live\"\n");
    let mut c = Callers::new(relay.addr());
    for sid in ["#!::m=publish", "#!::r=,m=publish", "#!::u=enc,m=publish"] {
        assert_eq!(c.call(sid).map_err(|r| r.code()), Err(1400), "{sid}");
    }
    assert!(relay.admission().refused_publish_without_resource >= 3);
    // The default stream is still there for players (and is free for a named publisher).
    c.call("#!::r=live,m=publish")
        .expect("a named publisher of live");
    c.call("#!::m=request")
        .expect("a player without a resource plays live");
    c.call("").expect("a player without a Stream ID plays live");
}

/// Item 8c: after an encoder is killed its replacement used to be refused with 1409 for the
/// whole peer idle timeout. Under the default `reject` policy a publisher that keeps sending
/// keeps its stream, and one silent for `publisher_silence_takeover_ms` is replaced (closed,
/// counted).
#[test]
fn a_silent_publisher_is_taken_over_an_active_one_is_not() {
    let relay = TestRelay::start("[streams]\npublisher_silence_takeover_ms = 1500\n");
    let mut c = Callers::new(relay.addr());
    let payload = [0x47u8; 188 * 7];
    let first = c.call("#!::r=cam,m=publish").expect("first publisher");
    // Active: it sends every turn for 2.5 s (longer than the silence limit) while a second
    // publisher keeps trying; every try is a conflict.
    let active_until = Instant::now() + Duration::from_millis(2500);
    let mut send = |c: &mut Callers| {
        let _ = c.driver.endpoint.send(first, Instant::now(), &payload);
    };
    while Instant::now() < active_until {
        let r = c.call_with("#!::r=cam,m=publish", &mut send);
        assert_eq!(
            r.map_err(|r| r.code()),
            Err(1409),
            "an active publisher was displaced"
        );
    }
    // Silent from now on (still connected: our endpoint keeps answering its control packets).
    let silent_since = Instant::now();
    let deadline = silent_since + DEADLINE;
    let second = loop {
        assert!(
            Instant::now() < deadline,
            "the silent publisher was never taken over"
        );
        match c.call("#!::r=cam,m=publish") {
            Ok(id) => break id,
            Err(r) => assert_eq!(r.code(), 1409),
        }
    };
    let quiet = silent_since.elapsed();
    assert!(
        quiet >= Duration::from_millis(1400),
        "taken over after {quiet:?} of silence"
    );
    assert!(
        quiet < Duration::from_millis(1500) + DEADLINE / 2,
        "took {quiet:?}"
    );
    // The old publisher is closed through the takeover path (SHUTDOWN), the new one stays.
    let deadline = Instant::now() + DEADLINE;
    while !c.closed.contains(&first) {
        assert!(
            Instant::now() < deadline,
            "the silent publisher was not closed"
        );
        c.turn();
    }
    assert!(!c.closed.contains(&second));
    let a = relay.admission();
    assert_eq!(a.silent_takeovers, 1, "{a:?}");
    assert!(a.refused_publisher_conflict >= 2, "{a:?}");
}

// ---- Item 7: a second relay on a port another process holds ----

const BIN: &str = env!("CARGO_BIN_EXE_srtrelay");

/// The binary, killed when the test ends however it ends, with its stderr lines on a channel.
struct Relay {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Relay {
    fn spawn(args: &[&str]) -> Relay {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn srtrelay");
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().expect("stdout")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Relay {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if self.seen.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(e) => panic!("no {needle:?} ({e}); output:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Waits for the exit, collecting every line printed.
    fn wait_exit(&mut self) -> (i32, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "srtrelay did not exit");
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) {
                self.seen.push(line);
            }
        };
        // The pipes close with the process: drain what is left.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), self.seen.join("\n"))
    }
}

fn write_config(name: &str, addr: SocketAddr) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("attack-{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[srt]\nlisten = [\"{addr}\"]\n[runtime]\ncores = [0, 1]\n[playback]\nenabled = false\n[http]\nenabled = false\n\
             [log]\nlevel = \"info\"\n"
        ),
    )
    .expect("write config");
    path
}

fn free_port() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
}

/// SO_REUSEPORT let a second srtrelay (same user) bind the first one's port, and the kernel
/// then split live flows between the two. The second must exit 2 naming the port and the
/// holder, `--check-config` must say so too, and the first must keep serving.
#[test]
fn a_second_relay_on_a_held_port_exits_2_and_the_first_keeps_working() {
    let addr = free_port();
    let path = write_config("first", addr);
    let path = path.to_str().expect("utf-8");
    let mut first = Relay::spawn(&["--config", path]);
    first.wait_for(&format!("listening on {addr}"));

    let (code, out) = Relay::spawn(&["--config", path]).wait_exit();
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&addr.to_string()), "names the address: {out}");
    assert!(out.contains("in use"), "{out}");
    let pid = first.child.id().to_string();
    assert!(
        out.contains(&format!("pid {pid}")) && out.contains("srtrelay"),
        "names the holder (pid {pid}): {out}"
    );

    let (code, out) = Relay::spawn(&["--config", path, "--check-config"]).wait_exit();
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&addr.to_string()) && out.contains("in use"),
        "{out}"
    );

    // The first relay still answers: a publisher and a player connect.
    assert!(
        first.child.try_wait().expect("wait").is_none(),
        "the first relay died"
    );
    let mut c = Callers::new(addr);
    c.call("#!::r=still,m=publish")
        .expect("publisher on the first relay");
    c.call("#!::r=still,m=request")
        .expect("player on the first relay");

    // A port nobody holds passes the check (the probe released it again).
    let free = free_port();
    let path = write_config("free", free);
    let (code, out) =
        Relay::spawn(&["--config", path.to_str().expect("utf-8"), "--check-config"]).wait_exit();
    assert_eq!(code, 0, "{out}");
}
