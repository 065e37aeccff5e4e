//! CPU cost per datagram of the UDP send paths a shard can use for fan-out, on loopback.
//!
//! `cargo bench --bench udp_io` prints a markdown table (medians of several runs) for
//! BENCHMARKS.md. Under `cargo test` (no `--bench` argument) it runs every case once with a
//! few hundred datagrams and checks that all of them arrived: a smoke test, no numbers.
//!
//! What is measured: the sending thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) spent inside the
//! send calls only, divided by the datagrams delivered. Not wall time: the machine has 2 shared
//! cores. The sender is pinned to one core and a drainer thread to the other. The sender sends
//! a burst (3200 datagrams, 16 per receiver, well inside each receive buffer) while the drainer
//! sleeps, so it neither pays for waking a receiver nor contends with one on a queue lock; then
//! it waits (unmeasured) while the drainer empties every receiver with `recvmmsg`.
//!
//! Sink mode (`UDP_IO_SINK=198.18.0.2`): the same send cases to 200 ports of an address routed
//! to an `ifb` device in a network namespace of our own, whose driver frees every packet it is
//! given (ifb drops what no tc rule redirected). That is the send half alone, as in front of a
//! NIC, with or without UDP segmentation offload (`ethtool -K ifb0 tx-udp-segmentation off`
//! makes the kernel segment GSO packets in software). Nothing leaves the namespace. See the
//! command in BENCHMARKS.md.
//!
//! On loopback the sender's CPU time also includes the receive half of the stack up to the
//! receiver's socket queue (softirq work runs in the sending thread, and this kernel has no
//! IRQ time accounting), including GSO segmentation when the receiver has no UDP_GRO. Those
//! are the "-> GRO receivers" rows' reason to exist: they show the send side without
//! software segmentation, closer to a NIC with UDP segmentation offload.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use srtrelay::shard::batch::{RecvBatch, SendBatch, enable_gro};
use srtrelay::shard::sys::{set_int_option, thread_cpu_time};

/// 1316-byte SRT payload (7 TS packets) + 16-byte SRT data header.
const DATAGRAM: usize = 1332;
const RECEIVERS: usize = 200;

#[derive(Clone, Copy)]
struct Scale {
    datagrams_per_run: usize,
    burst: usize,
    runs: usize,
}

#[derive(Clone, Copy, Debug)]
enum Path {
    /// One `send_to` per datagram, round robin over the receivers.
    SendTo,
    /// `sendmmsg` of `n` datagrams to `n` different receivers per call.
    Sendmmsg(usize),
    /// One GSO message of `k` segments to one receiver per call.
    Gso(usize),
    /// `sendmmsg` of `m` GSO messages (each `k` segments to its own receiver) per call.
    GsoMmsg { msgs: usize, segs: usize },
    /// glommio `UdpSocket::send_to` from an executor, one datagram per call.
    Glommio,
}

struct Outcome {
    ns_per_datagram: f64,
    syscalls_per_1k: f64,
    sent: u64,
    delivered: u64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full {
        Scale {
            datagrams_per_run: 96_000,
            burst: 3_200,
            runs: 7,
        }
    } else {
        Scale {
            datagrams_per_run: 512,
            burst: 256,
            runs: 1,
        }
    };
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let (send_core, drain_core) = (cores[0], *cores.last().expect("a core"));

    let receivers: Arc<Vec<UdpSocket>> = Arc::new(
        (0..RECEIVERS)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
                s.set_nonblocking(true).expect("nonblocking");
                set_int_option(s.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20)
                    .expect("SO_RCVBUF");
                s
            })
            .collect(),
    );
    let sink: Option<std::net::IpAddr> = std::env::var("UDP_IO_SINK")
        .ok()
        .map(|a| a.parse().expect("UDP_IO_SINK is an IP address"));
    let dests: Vec<SocketAddr> = match sink {
        Some(ip) => (0..RECEIVERS as u16)
            .map(|i| SocketAddr::new(ip, 20000 + i))
            .collect(),
        None => receivers.iter().map(|s| s.local_addr().unwrap()).collect(),
    };
    let drain = Drainer::start(receivers.clone(), drain_core, sink.is_some());
    core_affinity::set_for_current(core_affinity::CoreId { id: send_core });

    let cases: Vec<(Path, bool)> = [
        Path::SendTo,
        Path::Sendmmsg(1),
        Path::Sendmmsg(16),
        Path::Sendmmsg(64),
        Path::Gso(2),
        Path::Gso(4),
        Path::Gso(8),
        Path::Gso(16),
        Path::GsoMmsg { msgs: 16, segs: 4 },
        Path::GsoMmsg { msgs: 16, segs: 8 },
        Path::Glommio,
    ]
    .into_iter()
    .map(|p| (p, false))
    .chain(
        [
            Path::Gso(4),
            Path::Gso(16),
            Path::GsoMmsg { msgs: 16, segs: 8 },
        ]
        .into_iter()
        .map(|p| (p, true)),
    )
    // No receivers in sink mode, so no GRO either.
    .filter(|&(_, gro)| !(gro && sink.is_some()))
    .collect();

    if full {
        println!("| path | receivers | CPU ns/datagram (median) | min..max | syscalls/1k dgrams |");
        println!("|---|---|---:|---:|---:|");
    }
    let mut failures = 0;
    for (path, gro) in cases {
        for r in receivers.iter() {
            set_int_option(r.as_fd(), libc::SOL_UDP, libc::UDP_GRO, gro as i32).expect("UDP_GRO");
        }
        if gro {
            // enable_gro is the public entry point; calling it proves it on a real socket too.
            enable_gro(receivers[0].as_fd()).expect("UDP_GRO");
        }
        let mut outcomes: Vec<Outcome> = (0..scale.runs)
            .map(|_| run(path, &dests, &drain, scale, send_core))
            .collect();
        let lost: u64 = outcomes.iter().map(|o| o.sent - o.delivered).sum();
        if lost > 0 {
            failures += 1;
            eprintln!("{path:?} gro={gro}: {lost} datagrams not delivered");
        }
        outcomes.sort_by(|a, b| a.ns_per_datagram.total_cmp(&b.ns_per_datagram));
        let med = &outcomes[outcomes.len() / 2];
        if full {
            println!(
                "| {} | {} | {:.0} | {:.0}..{:.0} | {:.0} |",
                describe(path),
                match (sink, gro) {
                    (Some(_), _) => "sink (ifb)",
                    (None, true) => "200, UDP_GRO on",
                    (None, false) => "200",
                },
                med.ns_per_datagram,
                outcomes[0].ns_per_datagram,
                outcomes[outcomes.len() - 1].ns_per_datagram,
                med.syscalls_per_1k,
            );
        } else {
            println!("smoke {path:?} gro={gro}: {} delivered", med.delivered);
        }
    }
    drain.stop();
    assert_eq!(failures, 0, "datagrams were lost; numbers would be wrong");
    if sink.is_some() {
        return;
    }

    // The receive side, for the shard's ingest (publisher data, subscribers' ACKs/NAKs): CPU of
    // draining an already-filled socket. On loopback the stack's work was paid by the sender,
    // so this is the syscall and copy cost alone.
    if full {
        println!();
        println!("| receive path | datagram bytes | CPU ns/datagram (median) | min..max |");
        println!("|---|---:|---:|---:|");
    }
    for size in [DATAGRAM, 64] {
        for slots in [1, 16, 64] {
            let mut v: Vec<f64> = (0..scale.runs)
                .map(|_| run_recv(size, slots, scale))
                .collect();
            v.sort_by(f64::total_cmp);
            let what = if slots == 1 {
                "`recv_from`, 1 datagram/call".to_string()
            } else {
                format!("`recvmmsg`, {slots} slots/call")
            };
            if full {
                let (lo, med, hi) = (v[0], v[v.len() / 2], v[v.len() - 1]);
                println!("| {what} | {size} | {med:.0} | {lo:.0}..{hi:.0} |");
            } else {
                println!("smoke receive {what} {size} B: ok");
            }
        }
    }
}

/// CPU ns per datagram to drain a socket holding `FILL` datagrams of `size` bytes from 200
/// source ports, with `slots` = 1 meaning `recv_from`, else a `RecvBatch` of that many slots.
fn run_recv(size: usize, slots: usize, scale: Scale) -> f64 {
    const FILL: usize = 1000;
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
    rx.set_nonblocking(true).unwrap();
    set_int_option(rx.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20).unwrap();
    let to = rx.local_addr().unwrap();
    let senders: Vec<UdpSocket> = (0..RECEIVERS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let payload = vec![0x47u8; size];
    let mut batch = RecvBatch::new(slots, 2048);
    let mut buf = [0u8; 2048];
    let mut cpu = Duration::ZERO;
    let mut total = 0usize;
    let rounds = (scale.datagrams_per_run / FILL).max(1);
    for _ in 0..rounds {
        for i in 0..FILL {
            senders[i % senders.len()].send_to(&payload, to).unwrap();
        }
        let mut got = 0;
        let mut idle = 0u32;
        let t0 = thread_cpu_time();
        while got < FILL && idle < 1_000_000 {
            let n = if slots == 1 {
                rx.recv_from(&mut buf).map(|_| 1)
            } else {
                batch.recv(rx.as_fd())
            };
            match n {
                Ok(n) => got += n,
                Err(_) => idle += 1,
            }
        }
        cpu += thread_cpu_time() - t0;
        assert_eq!(got, FILL, "receive side lost datagrams");
        total += got;
    }
    cpu.as_nanos() as f64 / total as f64
}

fn describe(p: Path) -> String {
    match p {
        Path::SendTo => "`send_to`, 1 datagram/call".into(),
        Path::Sendmmsg(n) => format!("`sendmmsg`, {n} destinations/call"),
        Path::Gso(k) => format!("GSO, {k} segments to 1 destination/call"),
        Path::GsoMmsg { msgs, segs } => {
            format!("`sendmmsg` of {msgs} GSO messages x {segs} segments/call")
        }
        Path::Glommio => "glommio `UdpSocket::send_to` (executor)".into(),
    }
}

/// Where a sender binds: loopback for loopback receivers; any address for the sink (a
/// loopback source cannot reach another interface).
fn sender_bind(dests: &[SocketAddr]) -> &'static str {
    if dests[0].ip().is_loopback() {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    }
}

/// One measured run of `path`: `scale.datagrams_per_run` datagrams in bursts.
fn run(path: Path, dests: &[SocketAddr], drain: &Drainer, scale: Scale, core: usize) -> Outcome {
    if let Path::Glommio = path {
        return run_glommio(dests.to_vec(), drain.clone_handle(), scale, core);
    }
    let sock = UdpSocket::bind(sender_bind(dests)).expect("bind sender");
    sock.set_nonblocking(true).unwrap();
    set_int_option(sock.as_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, 4 << 20).unwrap();
    let payload = [0x47u8; DATAGRAM];
    let (per_call, segs) = match path {
        Path::SendTo | Path::Glommio => (1, 1),
        Path::Sendmmsg(n) => (n, 1),
        Path::Gso(k) => (1, k),
        Path::GsoMmsg { msgs, segs } => (msgs, segs),
    };
    let mut batch = SendBatch::new(per_call * segs, DATAGRAM, segs);
    let mut cpu = Duration::ZERO;
    let mut syscalls = 0u64;
    let mut next_dest = 0usize;
    let base = drain.delivered();
    let mut sent = 0u64;
    // Whole calls only: a burst is a multiple of the datagrams one call carries.
    let chunk = per_call * segs;
    let burst = scale.burst.div_ceil(chunk) * chunk;
    while (sent as usize) < scale.datagrams_per_run {
        let mut done = 0;
        let t0 = thread_cpu_time();
        while done < burst {
            if let Path::SendTo = path {
                sock.send_to(&payload, dests[next_dest]).expect("send_to");
                next_dest = (next_dest + 1) % dests.len();
                done += 1;
                syscalls += 1;
                continue;
            }
            for _ in 0..per_call {
                for _ in 0..segs {
                    batch.push(dests[next_dest], &payload).expect("room");
                }
                next_dest = (next_dest + 1) % dests.len();
            }
            let f = batch.flush(sock.as_fd()).expect("flush");
            assert!(!f.blocked && f.dropped == 0, "{path:?}: {f:?}");
            done += f.datagrams;
            syscalls += f.syscalls as u64;
        }
        cpu += thread_cpu_time() - t0;
        sent += done as u64;
        drain.expect(base + sent);
        drain.wait_for(base + sent);
    }
    let delivered = drain.delivered() - base;
    Outcome {
        ns_per_datagram: cpu.as_nanos() as f64 / sent as f64,
        syscalls_per_1k: syscalls as f64 * 1000.0 / sent as f64,
        sent,
        delivered,
    }
}

fn run_glommio(dests: Vec<SocketAddr>, drain: DrainHandle, scale: Scale, core: usize) -> Outcome {
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(core))
        .io_memory(64 * 1024)
        .spawn(move || async move {
            let sock = glommio::net::UdpSocket::bind(sender_bind(&dests)).expect("bind");
            let payload = [0x47u8; DATAGRAM];
            let base = drain.delivered();
            let mut cpu = Duration::ZERO;
            let mut next = 0usize;
            let mut sent = 0u64;
            while (sent as usize) < scale.datagrams_per_run {
                let burst = scale.burst.min(scale.datagrams_per_run - sent as usize);
                let t0 = thread_cpu_time();
                for _ in 0..burst {
                    sock.send_to(&payload, dests[next]).await.expect("send_to");
                    next = (next + 1) % dests.len();
                }
                cpu += thread_cpu_time() - t0;
                sent += burst as u64;
                drain.expect(base + sent);
                while drain.delivered() < base + sent && !drain.timed_out(base + sent) {
                    glommio::timer::sleep(Duration::from_micros(100)).await;
                }
            }
            (cpu, sent, drain.delivered() - base)
        })
        .expect("spawn executor");
    let (cpu, sent, delivered) = handle.join().expect("executor");
    Outcome {
        ns_per_datagram: cpu.as_nanos() as f64 / sent as f64,
        syscalls_per_1k: 1000.0,
        sent,
        delivered,
    }
}

/// A thread on the other core receiving from all receivers, counting datagrams (GRO segments
/// split). It spins only while datagrams are outstanding.
struct Drainer {
    handle: DrainHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Clone)]
struct DrainHandle(Arc<DrainState>);

struct DrainState {
    /// Sink mode: nothing comes back; everything expected counts as delivered.
    sink: bool,
    expected: AtomicU64,
    delivered: AtomicU64,
    stop: AtomicBool,
}

impl Drainer {
    fn start(receivers: Arc<Vec<UdpSocket>>, core: usize, sink: bool) -> Self {
        let handle = DrainHandle(Arc::new(DrainState {
            sink,
            expected: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }));
        let h = handle.clone();
        let thread = std::thread::spawn(move || {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
            let mut batch = RecvBatch::new(16, 65536);
            while !h.0.stop.load(Ordering::Relaxed) {
                if h.delivered() >= h.expected() {
                    std::thread::sleep(Duration::from_micros(50));
                    continue;
                }
                for r in receivers.iter() {
                    while batch.recv(r.as_fd()).is_ok() {
                        let n: usize = batch.iter().map(|d| d.segments().count()).sum();
                        h.0.delivered.fetch_add(n as u64, Ordering::Release);
                    }
                }
            }
        });
        Drainer {
            handle,
            thread: Some(thread),
        }
    }

    fn clone_handle(&self) -> DrainHandle {
        self.handle.clone()
    }

    fn delivered(&self) -> u64 {
        self.handle.delivered()
    }

    fn expect(&self, n: u64) {
        self.handle.expect(n)
    }

    fn wait_for(&self, n: u64) {
        while self.delivered() < n && !self.handle.timed_out(n) {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn stop(mut self) {
        self.handle.0.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("drainer");
        }
    }
}

impl DrainHandle {
    fn delivered(&self) -> u64 {
        if self.0.sink {
            return self.expected();
        }
        self.0.delivered.load(Ordering::Acquire)
    }

    fn expected(&self) -> u64 {
        self.0.expected.load(Ordering::Acquire)
    }

    /// Tells the drainer that datagrams up to count `n` are on their way (it spins until then).
    fn expect(&self, n: u64) {
        self.0.expected.fetch_max(n, Ordering::AcqRel);
    }

    /// Gives up waiting for count `n` after a second without progress: those were lost.
    fn timed_out(&self, n: u64) -> bool {
        // (target, delivered count last seen, when it was last seen to change)
        type Progress = Option<(u64, u64, Instant)>;
        thread_local! {
            static WAIT: std::cell::Cell<Progress> = const { std::cell::Cell::new(None) };
        }
        #[allow(clippy::disallowed_methods)] // a benchmark's own timeout
        let now = Instant::now();
        let d = self.delivered();
        WAIT.with(|w| match w.get() {
            Some((target, seen, since)) if target == n && seen == d => {
                now.duration_since(since) > Duration::from_secs(1)
            }
            _ => {
                w.set(Some((n, d, now)));
                false
            }
        })
    }
}
