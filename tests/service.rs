//! Running under systemd: the shipped unit passes `systemd-analyze verify`, and the binary speaks
//! the sd_notify protocol (READY after its port is bound, WATCHDOG at half the interval,
//! RELOADING/READY around SIGHUP, STOPPING and exit 0 on SIGTERM) to a fake `NOTIFY_SOCKET`.
//!
//! systemd need not be PID 1: `verify` works offline, and the notify socket is ours. A missing
//! `systemd-analyze` is installed with apt-get (never skipped), as `scripts/test.sh` does.
// Integration tests drive real processes and sockets: they read the wall clock.
#![allow(clippy::disallowed_methods)]

#[allow(dead_code)]
#[path = "support/net.rs"]
mod net;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use srtrelay::driver::BlockingDriver;
use srtrelay::service::notify::monotonic_usec;
use srtrelay::srt::endpoint::{AcceptAll, Endpoint, EndpointConfig, EndpointEvent};
use srtrelay::srt::handshake::CallerConfig;
use srtrelay::srt::seq::SeqNo;

const BIN: &str = env!("CARGO_BIN_EXE_srtrelay");
const UNIT: &str = include_str!("../systemd/srtrelay.service");
/// The watchdog interval the fake manager asks for: short, so the test sees a ping every
/// 500 ms, but not so short that a busy machine (a shard thread descheduled for 100 ms, as
/// seen with load ~6 and a 200 ms interval) makes the relay withhold pings.
const WATCHDOG: Duration = Duration::from_secs(1);
/// Pings the watchdog test collects.
const PINGS: usize = 6;

// --- systemd-analyze verify -----------------------------------------------------------------

#[test]
fn the_unit_passes_systemd_analyze_verify_and_a_broken_one_does_not() {
    let analyze = systemd_analyze();
    let dir = scratch("verify");
    // verify checks that ExecStart's binary exists: point a copy at the one cargo built.
    let unit = UNIT.replace("/usr/local/bin/srtrelay", BIN);
    let good = dir.join("srtrelay.service");
    std::fs::write(&good, &unit).expect("write unit");
    let (ok, out) = verify(&analyze, &good);
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("srtrelay.service"))
        .collect();
    assert!(ok && ours.is_empty(), "verify failed or warned:\n{out}");

    // The same check must notice a mistake, or the pass above means nothing.
    let bad_dir = scratch("verify-bad");
    let bad = bad_dir.join("srtrelay.service");
    std::fs::write(&bad, unit.replace("Type=notify", "Type=notifyy")).expect("write unit");
    let (_, out) = verify(&analyze, &bad);
    assert!(
        out.contains("notifyy"),
        "a bad Type= went unnoticed:\n{out}"
    );
}

#[test]
fn the_unit_has_the_settings_the_relay_relies_on() {
    for line in [
        "Type=notify",
        "WatchdogSec=10s",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LimitMEMLOCK=64M",
        "LimitNOFILE=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service io_uring_setup io_uring_enter io_uring_register",
        "--config /etc/srtrelay/config.toml",
    ] {
        assert!(
            UNIT.lines()
                .any(|l| l.starts_with(line) || l.contains(line)),
            "unit lacks {line:?}"
        );
    }
    // Binding below 1024 is opt-in: no capability is granted by default.
    assert!(UNIT.lines().any(|l| l == "CapabilityBoundingSet="));
    assert!(!UNIT.lines().any(|l| l.starts_with("AmbientCapabilities=")));
    // The flags ExecStart passes are ones the binary accepts.
    let o = Command::new(BIN)
        .args(["--log-format", "json", "--check-config"])
        .output()
        .expect("run srtrelay");
    assert!(o.status.success(), "{o:?}");
}

// --- the notify protocol against the real binary --------------------------------------------

#[test]
fn the_binary_notifies_ready_watchdog_reload_and_stop() {
    let dir = scratch("notify");
    let sock_path = dir.join("notify.sock");
    let manager = UnixDatagram::bind(&sock_path).expect("bind fake NOTIFY_SOCKET");
    let messages = listen(manager);

    let addr = SocketAddr::from(([127, 0, 0, 1], net::free_udp_port()));
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[srt]\nlisten = [\"{addr}\"]\n[playback]\nenabled = false\n[http]\nenabled = false\n[log]\nlevel = \"info\"\n"),
    )
    .expect("write config");
    let mut relay = Relay::spawn(&config, &sock_path);
    let pid = relay.0.id();

    // READY first (nothing before it), with the listen address in STATUS.
    let (_, ready) = messages
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no READY=1 within 20 s ({e}); stderr:\n{}", relay.stderr()));
    assert!(ready.starts_with("READY=1\n"), "first message: {ready:?}");
    assert!(
        ready.contains(&format!("STATUS=listening on {addr} with ")),
        "{ready:?}"
    );
    // READY means bound: the port is taken, and a handshake completes.
    let taken = UdpSocket::bind(addr);
    assert!(
        taken.is_err(),
        "port {addr} was free after READY=1: not bound yet"
    );
    handshake(addr);

    // WATCHDOG=1 repeatedly, at about half the interval. A ping held back by a stall
    // comes late, not never: each may take up to 4 intervals, the median gap says the rate.
    let mut pings = Vec::new();
    while pings.len() < PINGS {
        let (at, msg) = messages.recv_timeout(WATCHDOG * 4).unwrap_or_else(|e| {
            panic!(
                "no watchdog ping within 4 intervals ({e}); {} so far",
                pings.len()
            )
        });
        assert_eq!(msg, "WATCHDOG=1");
        pings.push(at);
    }
    let mut gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    assert!(
        median >= WATCHDOG * 2 / 5 && median <= WATCHDOG * 4 / 5,
        "median gap {median:?} between {PINGS} pings (interval {WATCHDOG:?}): {gaps:?}",
    );

    // SIGHUP: RELOADING=1 with the CLOCK_MONOTONIC of the reload's start, then READY=1.
    let before = monotonic_usec();
    signal(pid, "-HUP");
    let reloading = next_state(&messages, "RELOADING=1");
    let after = monotonic_usec();
    let usec: u64 = field(&reloading, "MONOTONIC_USEC")
        .parse()
        .expect("MONOTONIC_USEC is a number");
    assert!(
        (before..=after).contains(&usec),
        "MONOTONIC_USEC={usec} not within [{before}, {after}]"
    );
    let ready = next_state(&messages, "READY=1");
    assert!(field(&ready, "STATUS").ends_with("reloaded"), "{ready:?}");

    // SIGTERM: STOPPING=1, then exit 0 within 1 s; no pings after STOPPING.
    let sent = Instant::now();
    signal(pid, "-TERM");
    next_state(&messages, "STOPPING=1");
    let status = relay.wait(Duration::from_secs(1));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?} {:?} after SIGTERM; stderr:\n{}",
        sent.elapsed(),
        relay.stderr()
    );
    while let Ok((_, msg)) = messages.try_recv() {
        assert_ne!(msg, "WATCHDOG=1", "pinged after STOPPING=1");
    }
}

#[test]
fn peer_garbage_is_warned_about_once_per_interval_with_counts() {
    let dir = scratch("garbage");
    let addr = SocketAddr::from(([127, 0, 0, 1], net::free_udp_port()));
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[srt]\nlisten = [\"{addr}\"]\n[playback]\nenabled = false\n[http]\nenabled = false\n[log]\nlevel = \"info\"\n"),
    )
    .expect("write config");
    // Without a notify socket: the relay runs as it would outside systemd.
    let relay = Relay::spawn(&config, Path::new(""));
    relay.wait_for_line("listening on", Duration::from_secs(20));
    // Too short to be an SRT header: each one counts as a parse error in the shard it hits.
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind peer");
    for _ in 0..50 {
        peer.send_to(b"bad", addr).expect("send");
    }
    let first = relay.wait_for_line("dropped peer input", Duration::from_secs(20));
    assert!(first.contains("unparsable"), "{first}");
    // More garbage within the 10 s interval: counted, not logged.
    for _ in 0..50 {
        peer.send_to(b"bad", addr).expect("send");
    }
    std::thread::sleep(Duration::from_millis(500));
    let later: Vec<String> = relay
        .1
        .try_iter()
        .filter(|l| l.contains("dropped peer input"))
        .collect();
    assert!(
        later.is_empty(),
        "warned again within the interval: {later:?}"
    );
}

// --- helpers --------------------------------------------------------------------------------

/// The relay process; killed if the test ends early. Stderr is collected for failure messages.
struct Relay(Child, mpsc::Receiver<String>);

impl Relay {
    fn spawn(config: &Path, notify: &Path) -> Relay {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(config)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped());
        if !notify.as_os_str().is_empty() {
            cmd.env("NOTIFY_SOCKET", notify)
                .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
        }
        let mut child = cmd.spawn().expect("spawn srtrelay");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Relay(child, rx)
    }

    /// Waits for a stderr line containing `needle` and returns it.
    fn wait_for_line(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.1.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no stderr line with {needle:?} within {timeout:?}: {e}"),
            }
        }
    }

    fn stderr(&self) -> String {
        self.1.try_iter().collect::<Vec<_>>().join("\n")
    }

    fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.0.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every datagram the fake manager receives, with its arrival time.
fn listen(socket: UnixDatagram) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if tx.send((Instant::now(), msg)).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next message that is not a watchdog ping; it must start with `state`.
fn next_state(messages: &mpsc::Receiver<(Instant, String)>, state: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, msg) = messages
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no {state} within 20 s: {e}"));
        if msg != "WATCHDOG=1" {
            assert!(msg.starts_with(state), "expected {state}, got {msg:?}");
            return msg;
        }
    }
}

/// The value of `KEY=` in a notify message.
fn field<'a>(msg: &'a str, key: &str) -> &'a str {
    msg.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{key}= missing from {msg:?}"))
}

fn signal(pid: u32, sig: &str) {
    let s = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(s.success(), "kill {sig} {pid}: {s}");
}

/// An SRT caller (our own endpoint) connects to the relay.
fn handshake(addr: SocketAddr) {
    let now = BlockingDriver::now();
    let endpoint = Endpoint::new(EndpointConfig::default(), None, now);
    let mut driver = BlockingDriver::bind("127.0.0.1:0".parse().expect("literal"), endpoint)
        .expect("bind caller socket");
    let id = driver
        .endpoint
        .connect(now, CallerConfig::new(0, SeqNo::new(0), addr))
        .expect("caller config");
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        driver
            .turn(&mut AcceptAll, Duration::from_millis(5))
            .expect("caller I/O");
        match driver.endpoint.poll_event() {
            Some(EndpointEvent::Connected { id: c }) if c == id => return,
            Some(other) => panic!("handshake with the relay: unexpected {other:?}"),
            None => {}
        }
    }
    panic!("no handshake with the relay at {addr} within 15 s of READY=1");
}

/// A fresh directory under cargo's per-test scratch space (short enough for a unix socket path).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("service-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn verify(analyze: &Path, unit: &Path) -> (bool, String) {
    let o = Command::new(analyze)
        .arg("verify")
        .arg(unit)
        // No pager, no colour; systemd need not be running.
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_COLORS", "0")
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// `systemd-analyze`, installed from Debian's `systemd` package if missing (never skipped).
fn systemd_analyze() -> PathBuf {
    if let Some(p) = on_path("systemd-analyze") {
        return p;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success())
    };
    let installed = apt(&["install", "-y", "-q", "--no-install-recommends", "systemd"])
        || (apt(&["update", "-q"])
            && apt(&["install", "-y", "-q", "--no-install-recommends", "systemd"]));
    assert!(
        installed,
        "systemd-analyze missing and `apt-get install systemd` failed: run ./scripts/test.sh as \
         root, or install the Debian package `systemd`"
    );
    on_path("systemd-analyze").expect("systemd-analyze after installing systemd")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

// --- tuning/nic-layout.sh against a fake /sys and /proc --------------------------------------

/// A two-queue PCI NIC `eth9` (IRQs 40, 41 for its queues, 42 for link status) on a 4-CPU box.
fn fake_host(name: &str) -> PathBuf {
    let root = scratch(name);
    let w = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    };
    w("sys/devices/system/cpu/online", "0-3\n");
    let dev = "sys/devices/pci0000:00/0000:00:03.0";
    for irq in ["40", "41", "42"] {
        w(&format!("{dev}/msi_irqs/{irq}"), "msix\n");
    }
    w("sys/bus/pci/drivers/ixgbe/.keep", "");
    std::os::unix::fs::symlink(
        root.join("sys/bus/pci/drivers/ixgbe"),
        root.join(dev).join("driver"),
    )
    .expect("driver link");
    w("sys/class/net/eth9/queues/rx-0/rps_cpus", "0\n");
    w("sys/class/net/eth9/queues/rx-1/rps_cpus", "0\n");
    w("sys/class/net/eth9/queues/rx-0/rps_flow_cnt", "0\n");
    w("sys/class/net/eth9/queues/rx-1/rps_flow_cnt", "0\n");
    w("sys/class/net/eth9/queues/tx-0/xps_cpus", "0\n");
    w("sys/class/net/eth9/queues/tx-1/xps_cpus", "0\n");
    std::os::unix::fs::symlink(root.join(dev), root.join("sys/class/net/eth9/device"))
        .expect("device link");
    w(
        "proc/interrupts",
        "           CPU0       CPU1       CPU2       CPU3\n \
         40:        100          0          0          0  PCI-MSIX-0000:00:03.0  0-edge  eth9-TxRx-0\n \
         41:          0        200          0          0  PCI-MSIX-0000:00:03.0  1-edge  eth9-TxRx-1\n \
         42:          1          0          0          0  PCI-MSIX-0000:00:03.0  2-edge  eth9\n \
         50:          5          0          0          0  PCI-MSIX-0000:00:04.0  0-edge  nvme0q0\n",
    );
    for irq in ["40", "41", "42", "50"] {
        w(&format!("proc/irq/{irq}/smp_affinity_list"), "0-3\n");
    }
    w("proc/sys/net/core/rps_sock_flow_entries", "0\n");
    root
}

fn nic_layout(root: &Path, args: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/nic-layout.sh");
    let o = Command::new("bash")
        .arg(script)
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run nic-layout.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel))
        .expect("read fake file")
        .trim()
        .to_string()
}

#[test]
fn nic_layout_reports_and_writes_nothing_without_apply() {
    let root = fake_host("nic-dry");
    let (ok, out) = nic_layout(&root, &["--cores", "2-3"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("eth9 (driver ixgbe): 2 rx queue(s), 2 tx queue(s)"),
        "{out}"
    );
    assert!(
        out.contains("eth9-TxRx-1") && out.contains("0/200/0/0"),
        "{out}"
    );
    assert!(
        out.contains("would") && out.contains("nothing was written"),
        "{out}"
    );
    for f in [
        "proc/irq/40/smp_affinity_list",
        "proc/irq/41/smp_affinity_list",
        "proc/irq/42/smp_affinity_list",
    ] {
        assert_eq!(read(&root, f), "0-3", "{f} changed in a dry run");
    }
    assert_eq!(read(&root, "sys/class/net/eth9/queues/tx-0/xps_cpus"), "0");
}

#[test]
fn nic_layout_apply_pins_queue_irqs_and_sets_rps_xps_for_the_shard_cores() {
    let root = fake_host("nic-apply");
    let (ok, out) = nic_layout(&root, &["--apply", "--cores", "2-3"]);
    assert!(ok, "{out}");
    // Queue q's IRQ on shard core q mod 2; the link-status vector and other devices untouched.
    assert_eq!(read(&root, "proc/irq/40/smp_affinity_list"), "2");
    assert_eq!(read(&root, "proc/irq/41/smp_affinity_list"), "3");
    assert_eq!(read(&root, "proc/irq/42/smp_affinity_list"), "0-3");
    assert_eq!(read(&root, "proc/irq/50/smp_affinity_list"), "0-3");
    // As many rx queues as shard cores: RSS spreads, RPS stays off. XPS: tx-j from core j.
    assert_eq!(read(&root, "sys/class/net/eth9/queues/rx-0/rps_cpus"), "0");
    assert_eq!(read(&root, "sys/class/net/eth9/queues/tx-0/xps_cpus"), "4");
    assert_eq!(read(&root, "sys/class/net/eth9/queues/tx-1/xps_cpus"), "8");
    // Applying again finds nothing to change.
    let (ok, out) = nic_layout(&root, &["--apply", "--cores", "2-3"]);
    assert!(ok && out.contains("applied: 0 change(s)"), "{out}");

    // Four shard cores on two rx queues: RPS spreads each queue over all four.
    let (ok, out) = nic_layout(&root, &["--apply", "--cores", "0-3"]);
    assert!(ok, "{out}");
    assert_eq!(read(&root, "sys/class/net/eth9/queues/rx-1/rps_cpus"), "f");
    assert_eq!(read(&root, "sys/class/net/eth9/queues/tx-1/xps_cpus"), "a");
    assert_eq!(read(&root, "proc/irq/41/smp_affinity_list"), "1");
}

#[test]
fn nic_layout_rejects_bad_input_and_is_shellcheck_clean() {
    let root = fake_host("nic-bad");
    let (ok, out) = nic_layout(&root, &["--cores", "3-1"]);
    assert!(!ok && out.contains("bad CPU range"), "{out}");
    let (ok, out) = nic_layout(&root, &["--iface", "nope0"]);
    assert!(!ok && out.contains("nope0: no such interface"), "{out}");
    // shellcheck is optional on a developer machine (the brief: "if available").
    if let Some(sc) = on_path("shellcheck") {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning/nic-layout.sh");
        let o = Command::new(sc)
            .arg(script)
            .output()
            .expect("run shellcheck");
        assert!(
            o.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    } else {
        eprintln!("shellcheck not installed: nic-layout.sh lint not run");
    }
}

// --- tuning/99-srtrelay.conf -------------------------------------------------------------------

#[test]
fn the_sysctl_file_names_real_keys_and_lets_the_default_buffer_request_through() {
    let text = include_str!("../tuning/99-srtrelay.conf");
    // Keys under net.core that only the initial network namespace has: absent in a container
    // with its own namespace, where only the syntax can be checked.
    let init_netns = Path::new("/proc/sys/net/core/netdev_max_backlog").exists();
    let mut values = std::collections::HashMap::new();
    for line in text.lines() {
        // Commented settings (`#key = value`) must be real keys too.
        let setting = line.trim_start_matches('#').trim();
        let Some((key, value)) = setting.split_once(" = ") else {
            continue;
        };
        if !key.starts_with("net.") {
            continue;
        }
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                && value.split_whitespace().all(|v| v.parse::<u64>().is_ok()),
            "malformed line: {line:?}"
        );
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        if init_netns {
            assert!(path.exists(), "{key} is not a sysctl on this kernel");
        }
        if !line.starts_with('#') {
            values.insert(key.to_string(), value.parse::<u64>().unwrap_or(0));
        }
    }
    assert!(values.len() >= 7, "too few active settings: {values:?}");
    // The embedded config's buffer requests must not be clamped by the shipped ceilings.
    let config = srtrelay::config::Config::embedded_default();
    let asked_rx = config
        .runtime
        .socket_recv_buffer_bytes
        .map_or(0, |v| v.get()) as u64;
    let asked_tx = config
        .runtime
        .socket_send_buffer_bytes
        .map_or(0, |v| v.get()) as u64;
    assert!(values["net.core.rmem_max"] >= asked_rx, "{values:?}");
    assert!(values["net.core.wmem_max"] >= asked_tx, "{values:?}");
    assert!(values["net.core.netdev_max_backlog"] > 1000, "{values:?}");
}
