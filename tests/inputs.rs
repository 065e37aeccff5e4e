//! Pulled inputs end to end: the in-process engine pulls a TS file from upstreams the test
//! runs (raw TCP, HTTP chunked and close-delimited, a unix socket, a file paced by its PCR),
//! and SRT players (srt-live-transmit) must receive the upstream's bytes unchanged from their
//! join keyframe. Failover: a killed upstream is replaced by the next after `retry_delay_ms`,
//! and the players continue at the new source's keyframe with PAT/PMT and unbroken
//! continuity counters. Bad upstreams (an HTTP error, an HTML page) are skipped with a reason.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::telemetry::InputSnapshot;
use support::media::{self, TsSpec};
use support::recipes::{self, Subscriber};
use support::srt_url::SrtUrl;
use support::tls::TestCa;
use support::upstream::{Framing, Upstream};

const TS: usize = 188;
const PAYLOAD: usize = 7 * TS;
const T: Duration = Duration::from_secs(60);

fn relay(inputs_toml: &str) -> InProcessRelay {
    let toml = format!(
        "[http]\nenabled = false\n[playback]\nenabled = false\n[rtmp]\nenabled = false\n{inputs_toml}"
    );
    InProcessRelay::start(&toml, |c| {
        c.srt.latency.default = Duration::from_millis(300);
    })
}

fn player(relay: &InProcessRelay, name: &str, out: &Path) -> Subscriber {
    let url = SrtUrl::caller(relay.addr).with_streamid(&format!("#!::r={name},m=request"));
    recipes::subscribe_with_srt_live_transmit_no_wait(&url, out)
}

fn inputs(relay: &InProcessRelay) -> Vec<InputSnapshot> {
    relay.reports().into_iter().flat_map(|r| r.inputs).collect()
}

fn input(relay: &InProcessRelay, name: &str) -> InputSnapshot {
    inputs(relay)
        .into_iter()
        .find(|i| i.stream == name)
        .unwrap_or_else(|| panic!("input {name} is reported"))
}

/// Waits until `cond` holds for the input's snapshot.
fn wait_input(
    relay: &InProcessRelay,
    name: &str,
    what: &str,
    cond: impl Fn(&InputSnapshot) -> bool,
) {
    let deadline = Instant::now() + T;
    loop {
        let i = input(relay, name);
        if cond(&i) {
            return;
        }
        assert!(Instant::now() < deadline, "input {name}: {what}: {i:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn wait_live(relay: &InProcessRelay, name: &str) {
    let deadline = Instant::now() + T;
    while relay.engine().registry().publisher_of(name).is_none() {
        assert!(
            Instant::now() < deadline,
            "{name} never went live: {:?}",
            inputs(relay)
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

fn cc(p: &[u8]) -> u8 {
    p[3] & 0x0F
}

fn has_payload(p: &[u8]) -> bool {
    p[3] & 0x10 != 0
}

fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid(p) == 0x100
}

/// Waits for a player's output to hold the file from its join point to the end.
fn wait_whole_rest(sub: &mut Subscriber, file: &[u8], what: &str) {
    sub.wait_for_len(PAYLOAD as u64, T)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let first = std::fs::read(sub.output()).unwrap();
    let at = media::assert_byte_exact_from_keyframe(&first, file, what);
    sub.wait_for_len((file.len() - at) as u64, T)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = std::fs::read(sub.output()).unwrap();
    media::assert_byte_exact_from_keyframe(&out, file, what);
}

/// A file of whole TS packets (ffmpeg's output, padded to payloads by the generator) and the
/// rate that plays it in real time.
fn source(seconds: u32) -> (std::path::PathBuf, Vec<u8>, u64) {
    let path = media::test_ts(TsSpec::seconds(seconds));
    let bytes = std::fs::read(&path).unwrap();
    let rate = bytes.len() as u64 / u64::from(seconds);
    (path, bytes, rate)
}

#[test]
fn tcp_http_unix_and_file_inputs_feed_srt_players_the_upstream_bytes() {
    let (path, file, rate) = source(6);
    let dir = media::scratch_dir("inputs-kinds");
    let tcp = Upstream::tcp(file.clone(), rate, Framing::Raw, false);
    let chunked = Upstream::tcp(file.clone(), rate, Framing::HttpChunked, false);
    let close = Upstream::tcp(file.clone(), rate, Framing::HttpClose, false);
    let unix = Upstream::unix(&dir.join("feed.sock"), file.clone(), rate, false);
    // A long retry delay: each upstream plays once, so the players' bytes end with the file.
    let entry = |name: &str, url: String| {
        format!("[[inputs]]\nstream = \"{name}\"\nurl = \"{url}\"\nretry_delay_ms = 600000\n")
    };
    let toml = [
        entry("in/tcp", format!("tcp://{}", tcp.addr())),
        entry("in/chunked", format!("http://{}/live.ts", chunked.addr())),
        entry("in/close", format!("http://{}/live.ts", close.addr())),
        entry("in/unix", format!("unix://{}", unix.path().display())),
        entry("in/file", format!("file://{}", path.display())),
    ]
    .concat();
    let relay = relay(&toml);
    let names = ["in/tcp", "in/chunked", "in/close", "in/unix", "in/file"];
    let mut subs: Vec<(&str, Subscriber)> = names
        .iter()
        .map(|n| {
            wait_live(&relay, n);
            let out = dir.join(format!("{}.ts", n.replace('/', "-")));
            (*n, player(&relay, n, &out))
        })
        .collect();
    for (name, sub) in &mut subs {
        wait_whole_rest(sub, &file, name);
    }
    for name in names {
        let i = input(&relay, name);
        // The upstream played once and ended; the next try is far away.
        assert!(matches!(i.state, "live" | "waiting"), "{name}: {i:?}");
        assert_eq!(i.connects, 1, "{name}: one upstream session: {i:?}");
        assert_eq!(i.failures, 0, "{name}: {i:?}");
    }
}

#[test]
fn a_killed_upstream_fails_over_to_the_next_at_its_keyframe_with_continuity() {
    let (_path, file, rate) = source(10);
    let dir = media::scratch_dir("inputs-failover");
    let first = Upstream::tcp(file.clone(), rate, Framing::Raw, true);
    let second = Upstream::tcp(file.clone(), rate, Framing::Raw, true);
    let retry = Duration::from_millis(800);
    let toml = format!(
        "[[inputs]]\nstream = \"in/failover\"\nurls = [\"tcp://{}\", \"tcp://{}\"]\nshuffle = false\nretry_delay_ms = {}\nstall_timeout_ms = 2000\n",
        first.addr(),
        second.addr(),
        retry.as_millis()
    );
    let relay = relay(&toml);
    wait_live(&relay, "in/failover");
    let out = dir.join("player.ts");
    let mut sub = player(&relay, "in/failover", &out);
    // Two seconds of the first upstream, then it dies.
    sub.wait_for_len(2 * rate, T).expect("first upstream plays");
    let before = std::fs::read(&out).unwrap();
    let at = media::assert_byte_exact_from_keyframe(&before, &file, "before the failover");
    first.kill();
    let killed = Instant::now();
    wait_input(
        &relay,
        "in/failover",
        "the second upstream takes over",
        |i| i.connects == 2,
    );
    let took = killed.elapsed();
    assert_eq!(
        second
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let second_at = second.connected_at.lock().unwrap()[0];
    assert!(
        second_at.duration_since(killed) >= retry.mul_f64(0.9),
        "the next upstream is tried after retry_delay_ms ({:?} after the kill)",
        second_at.duration_since(killed)
    );
    let i = input(&relay, "in/failover");
    assert_eq!(
        i.upstream.as_deref(),
        Some(format!("tcp://{}", second.addr()).as_str())
    );
    assert_eq!(i.upstreams.len(), 2);
    // Three more seconds from the second upstream.
    let have = media::file_len(&out);
    sub.wait_for_len(have + 3 * rate, T)
        .expect("second upstream plays");
    let out_bytes = std::fs::read(&out).unwrap();
    assert!(out_bytes.len().is_multiple_of(TS));
    // The first source's bytes run unbroken up to the splice...
    let first_run = out_bytes
        .chunks(PAYLOAD)
        .zip(
            file[at..]
                .chunks(PAYLOAD)
                .chain(file.chunks(PAYLOAD).cycle()),
        )
        .take_while(|(a, b)| a == b)
        .count()
        * PAYLOAD;
    assert!(first_run >= before.len(), "unbroken up to the kill");
    // ... then the second source starts at its tables and a keyframe.
    let spliced = &out_bytes[first_run..];
    let pkts: Vec<&[u8]> = spliced.chunks(TS).collect();
    assert!(pkts.len() > 100, "the second source plays");
    assert_eq!(pid(pkts[0]), 0, "PAT first after the splice");
    assert_eq!(pid(pkts[1]), 0x1000, "then the PMT");
    assert!(is_keyframe(pkts[2]), "then a keyframe");
    // Continuity counters run on across the splice on every PID.
    let mut last: std::collections::HashMap<u16, u8> = Default::default();
    for (k, p) in out_bytes.chunks(TS).enumerate() {
        let id = pid(p);
        if id == 0x1FFF || !has_payload(p) {
            continue;
        }
        if let Some(prev) = last.get(&id) {
            assert_eq!(
                cc(p),
                (prev + 1) & 0x0F,
                "pid {id:#x}: CC break at packet {k}"
            );
        }
        last.insert(id, cc(p));
    }
    let i = input(&relay, "in/failover");
    assert_eq!(i.switches, 1, "{i:?}");
    // From the splice on it decodes cleanly; the whole recording decodes too, with at most
    // the frame the crash cut short (its tail never left the dead upstream) concealed.
    // The recording is read while the stream runs: its last frame may be incomplete, so both
    // end before the last video PES start.
    let end = spliced
        .chunks(TS)
        .rposition(|p| pid(p) == 0x100 && p[1] & 0x40 != 0)
        .expect("video")
        * TS;
    let after = dir.join("after-splice.ts");
    std::fs::write(&after, &spliced[..end]).unwrap();
    let whole = dir.join("whole.ts");
    std::fs::write(&whole, &out_bytes[..first_run + end]).unwrap();
    let decode = |path: &Path| {
        support::process::run_bounded(
            "ffmpeg decode",
            std::process::Command::new(support::tools::ffmpeg())
                .args(["-v", "error", "-i"])
                .arg(path)
                .args(["-f", "null", "-"]),
            T,
        )
    };
    let d = decode(&after);
    assert!(
        d.status.success() && d.stderr.trim().is_empty(),
        "ffmpeg decodes the second source from the splice: {}",
        d.stderr
    );
    let d = decode(&whole);
    let unexpected: Vec<&str> = d
        .stderr
        .lines()
        .filter(|l| !l.contains("error while decoding MB") && !l.contains("concealing"))
        .collect();
    assert!(
        d.status.success() && unexpected.is_empty(),
        "ffmpeg decodes across the failover (timestamps continue): {}",
        d.stderr
    );
    eprintln!("failover: second upstream live {took:?} after the kill");
}

#[test]
fn bad_upstreams_are_skipped_with_a_reason_and_the_next_is_used() {
    let (_path, file, rate) = source(4);
    let missing = Upstream::tcp(Vec::new(), rate, Framing::HttpStatus(404), false);
    let html = Upstream::tcp(
        b"<!doctype html><html><body>this is not a video</body></html>".repeat(200),
        rate,
        Framing::HttpClose,
        false,
    );
    let good = Upstream::tcp(file.clone(), rate, Framing::Raw, true);
    let toml = format!(
        "[[inputs]]\nstream = \"in/bad\"\nurls = [\"http://{}/x.ts\", \"http://{}/page\", \"tcp://{}\"]\nshuffle = false\nretry_delay_ms = 500\n",
        missing.addr(),
        html.addr(),
        good.addr()
    );
    let relay = relay(&toml);
    wait_input(&relay, "in/bad", "the third upstream is live", |i| {
        i.state == "live" && i.connects == 1
    });
    let i = input(&relay, "in/bad");
    assert_eq!(i.failures, 2, "{i:?}");
    assert_eq!(
        i.upstream.as_deref(),
        Some(format!("tcp://{}", good.addr()).as_str())
    );
    let why = i.last_error.clone().unwrap_or_default();
    assert!(
        why.to_lowercase().contains("not mpeg-ts"),
        "the HTML page's reason: {why}"
    );
    let dir = media::scratch_dir("inputs-bad");
    let mut sub = player(&relay, "in/bad", &dir.join("player.ts"));
    sub.wait_for_len(rate, T).expect("plays");
    let out = std::fs::read(sub.output()).unwrap();
    media::assert_byte_exact_from_keyframe(&out, &file, "after two bad upstreams");
}

/// https:// upstreams: the relay verifies the server's certificate against the input's
/// `tls_ca_file`. A server whose certificate another CA signed is refused with the reason
/// and the next upstream, signed by the configured CA, plays byte-exact.
#[test]
fn https_upstreams_are_verified_against_the_configured_ca() {
    let (_path, file, rate) = source(4);
    let dir = media::scratch_dir("inputs-https");
    let ours = TestCa::new(&dir, "ours");
    let theirs = TestCa::new(&dir, "theirs");
    let forged = Upstream::tls(
        file.clone(),
        rate,
        Framing::HttpChunked,
        theirs.server_config(),
    );
    let good = Upstream::tls(file.clone(), rate, Framing::HttpClose, ours.server_config());
    let toml = format!(
        "[[inputs]]\nstream = \"in/https\"\nurls = [\"https://{}/live.ts\", \"https://{}/live.ts\"]\n\
         shuffle = false\nretry_delay_ms = 300\ntls_ca_file = \"{}\"\n",
        forged.addr(),
        good.addr(),
        ours.pem_path.display()
    );
    let relay = relay(&toml);
    wait_input(&relay, "in/https", "the second upstream is live", |i| {
        i.state == "live" && i.connects == 1
    });
    let i = input(&relay, "in/https");
    assert_eq!(i.failures, 1, "{i:?}");
    let why = i.last_error.clone().unwrap_or_default();
    assert!(
        why.contains("certificate") && why.contains("UnknownIssuer"),
        "the forged server's reason: {why}"
    );
    assert_eq!(
        good.connections.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let mut sub = player(&relay, "in/https", &dir.join("player.ts"));
    wait_whole_rest(&mut sub, &file, "over https");
}

#[test]
fn srt_inputs_pull_from_a_libsrt_listener_and_from_another_relay() {
    let (path, file, _rate) = source(6);
    let dir = media::scratch_dir("inputs-srt");
    // A libsrt listener that sends the file to whoever calls it.
    let listen = SrtUrl::listener(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let sender = recipes::publish_with_srt_live_transmit(
        &path,
        &listen,
        support::feeder::Pace::realtime(&path, 6, 1.0),
    );
    // Another relay with a publisher on "up/cam", pulled by its Stream ID.
    let origin = relay("");
    let url = SrtUrl::caller(origin.addr).with_streamid("#!::r=up/cam,m=publish");
    let _publisher = recipes::publish_with_srt_live_transmit(
        &path,
        &url,
        support::feeder::Pace::realtime(&path, 6, 1.0),
    );
    wait_live(&origin, "up/cam");
    let toml = format!(
        "[[inputs]]\nstream = \"in/libsrt\"\nurl = \"srt://{}\"\nretry_delay_ms = 600000\n\
         [[inputs]]\nstream = \"in/relay\"\nurl = \"srt://{}?streamid=%23%21%3A%3Ar%3Dup%2Fcam%2Cm%3Drequest\"\nretry_delay_ms = 600000\n",
        sender.addr(),
        origin.addr
    );
    let relay = relay(&toml);
    for name in ["in/libsrt", "in/relay"] {
        wait_live(&relay, name);
        let out = dir.join(format!("{}.ts", name.replace('/', "-")));
        let mut sub = player(&relay, name, &out);
        sub.wait_for_len((file.len() / 3) as u64, T)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = std::fs::read(&out).unwrap();
        media::assert_byte_exact_from_keyframe(&got, &file, name);
        let i = input(&relay, name);
        assert_eq!((i.connects, i.failures), (1, 0), "{name}: {i:?}");
    }
}

#[test]
fn an_on_demand_input_starts_for_its_first_player_and_stops_after_the_last() {
    let (_path, file, rate) = source(4);
    let up = Upstream::tcp(file.clone(), rate, Framing::Raw, true);
    let toml = format!(
        "[[inputs]]\nstream = \"in/demand\"\nurl = \"tcp://{}\"\non_demand = true\nidle_stop_ms = 1000\n",
        up.addr()
    );
    let relay = relay(&toml);
    // Nobody asks: nothing is pulled.
    wait_input(&relay, "in/demand", "parked", |i| i.state == "idle");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(
        relay
            .engine()
            .registry()
            .publisher_of("in/demand")
            .is_none()
    );
    // A player waits for it: the input starts and the player gets the stream.
    let dir = media::scratch_dir("inputs-demand");
    let mut sub = player(&relay, "in/demand", &dir.join("player.ts"));
    sub.wait_for_len(rate, T)
        .expect("the on-demand input plays");
    let out = std::fs::read(sub.output()).unwrap();
    media::assert_byte_exact_from_keyframe(&out, &file, "on demand");
    // The player leaves: after idle_stop_ms the input stops pulling.
    sub.finish();
    wait_input(&relay, "in/demand", "stopped after its last player", |i| {
        i.state == "idle"
    });
    assert!(
        relay
            .engine()
            .registry()
            .publisher_of("in/demand")
            .is_none()
    );
    assert_eq!(up.connections.load(std::sync::atomic::Ordering::Relaxed), 1);
}

/// Sends `file` to each group as 1316-byte datagrams from 127.0.0.1, paced at `rate`, looping
/// until `stop` (the calling thread must be in the namespace).
fn multicast_sender(
    groups: Vec<std::net::SocketAddr>,
    file: Vec<u8>,
    rate: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    s.set_multicast_ttl_v4(1).unwrap();
    socket2::SockRef::from(&s)
        .set_multicast_if_v4(&std::net::Ipv4Addr::LOCALHOST)
        .unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for chunk in file.chunks(PAYLOAD) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let due = start + Duration::from_secs_f64(sent as f64 / rate as f64);
            if let Some(d) = due.checked_duration_since(Instant::now()) {
                thread::sleep(d);
            }
            for g in &groups {
                let _ = s.send_to(chunk, g);
            }
            sent += chunk.len() as u64;
        }
    }
}

#[test]
fn udp_multicast_inputs_inside_a_network_namespace() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (_path, file, rate) = source(6);
    let ns = Arc::new(support::netns::NetNs::new("mcast"));
    let asm: std::net::SocketAddr = "239.255.42.1:5601".parse().unwrap();
    let ssm: std::net::SocketAddr = "232.1.2.3:5602".parse().unwrap();
    let toml = format!(
        "[[inputs]]\nstream = \"in/asm\"\nurl = \"udp://{asm}\"\n\
         [[inputs]]\nstream = \"in/ssm\"\nurl = \"udp://{ssm}?source=127.0.0.1\"\n"
    );
    // The engine's shard threads are made by the thread that starts it: they live in the
    // namespace, and so do their sockets.
    let relay = {
        let ns = ns.clone();
        thread::spawn(move || {
            ns.enter();
            relay(&toml)
        })
        .join()
        .expect("relay starts in the namespace")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (ns, stop, file) = (ns.clone(), stop.clone(), file.clone());
        thread::spawn(move || {
            ns.enter();
            multicast_sender(vec![asm, ssm], file, rate, stop);
        })
    };
    let dir = media::scratch_dir("inputs-mcast");
    for name in ["in/asm", "in/ssm"] {
        // Joined mid-stream: the ring holds a keyframe (GOP 1 s) after two seconds.
        wait_input(&relay, name, "two seconds in", |i| i.bytes >= 2 * rate);
        let out = dir.join(format!("{}.ts", name.replace('/', "-")));
        let url = SrtUrl::caller(relay.addr).with_streamid(&format!("#!::r={name},m=request"));
        let mut cmd = ns.command(&support::tools::require("stdbuf"));
        cmd.args(["-o0"])
            .arg(support::tools::srt_live_transmit())
            .args(["-a", "no", &url.for_srt_live_transmit(), "file://con"])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap());
        let mut p = support::process::Proc::spawn("srt-live-transmit in netns", &mut cmd);
        let deadline = Instant::now() + T;
        while media::file_len(&out) < 2 * rate {
            assert!(
                Instant::now() < deadline && p.try_wait().is_none(),
                "{name}: {} bytes\n{}",
                media::file_len(&out),
                p.diagnostics()
            );
            thread::sleep(Duration::from_millis(20));
        }
        let got = std::fs::read(&out).unwrap();
        // The sender loops the file: compare what the player got against the file repeated.
        let twice = [file.as_slice(), file.as_slice()].concat();
        let at = media::assert_byte_exact_from_keyframe(&got, &twice, name);
        assert!(got.len() <= twice.len() - at, "{name}: within two passes");
        let i = input(&relay, name);
        assert_eq!(
            (i.state, i.connects, i.failures),
            ("live", 1, 0),
            "{name}: {i:?}"
        );
        p.kill();
    }
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    drop(relay);
}

#[test]
fn the_relay_binary_reads_an_input_from_its_stdin() {
    use std::io::Write;
    let (_path, file, rate) = source(6);
    let dir = media::scratch_dir("inputs-stdin");
    let port = support::net::free_udp_port();
    let config = dir.join("relay.toml");
    std::fs::write(
        &config,
        format!(
            "[srt]\nlisten = [\"127.0.0.1:{port}\"]\n[http]\nenabled = false\n[playback]\nenabled = false\n\
             [rtmp]\nenabled = false\n[log]\nlevel = \"info\"\n\
             [[inputs]]\nstream = \"in/stdin\"\nurl = \"stdin\"\nretry_delay_ms = 600000\n"
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_srtrelay"));
    cmd.arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped());
    let mut relay = support::process::Proc::spawn("srtrelay", &mut cmd);
    relay
        .wait_for_stderr("listening on", T)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = relay.take_stdin();
    let feed = {
        let file = file.clone();
        thread::spawn(move || {
            let start = Instant::now();
            for (k, chunk) in file.chunks(PAYLOAD).enumerate() {
                let due = start + Duration::from_secs_f64((k * PAYLOAD) as f64 / rate as f64);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(d);
                }
                if stdin.write_all(chunk).is_err() {
                    return;
                }
            }
            // Kept open: the input then waits instead of ending.
            thread::sleep(Duration::from_secs(30));
        })
    };
    relay
        .wait_for_stderr("input publisher", T)
        .unwrap_or_else(|e| panic!("{e}"));
    let url = SrtUrl::caller(format!("127.0.0.1:{port}").parse().unwrap())
        .with_streamid("#!::r=in/stdin,m=request");
    let mut sub = recipes::subscribe_with_srt_live_transmit_no_wait(&url, &dir.join("player.ts"));
    wait_whole_rest(&mut sub, &file, "stdin");
    relay.terminate(Duration::from_secs(10));
    drop(feed);
}
