//! A bonded SRTLA sender for tests, written from the protocol (BELABOX srtla2): an SRT caller
//! (srt-live-transmit, ffmpeg) sends to its local UDP port as if it were the SRT server; it
//! registers a group (REG1 on the first link, REG2 with the receiver's full id on every link,
//! REG3 back), keeps each link alive with keepalives, spreads the caller's packets over the
//! links that are up, and passes back whatever the receiver sends that is not SRTLA's own.
//!
//! Owns: the local socket, one socket per link (each connected to its target: the receiver, or
//! a lossy proxy in front of it), a thread per socket and a housekeeping thread, counters.
//! A link is up once registered and while it hears from the receiver (its keepalives are
//! echoed every `KEEPALIVE`); one that goes quiet for `LINK_DEAD` gets no more data until it
//! hears again. Must not: depend on the srtrelay crate (it is a peer, like any sender), send
//! anywhere but the targets it was given and the caller that spoke to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const KEEPALIVE_TYPE: u16 = 0x9000;
const ACK_TYPE: u16 = 0x9100;
const REG1: u16 = 0x9200;
const REG2: u16 = 0x9201;
const REG3: u16 = 0x9202;
const REG_ERR: u16 = 0x9210;
const REG_NGP: u16 = 0x9211;
const REG_NAK: u16 = 0x9212;
const ID_LEN: usize = 256;

/// Read timeout: how quickly threads notice the sender being dropped.
const TICK: Duration = Duration::from_millis(20);
/// Keepalives on every link this often (and registration retries).
const KEEPALIVE: Duration = Duration::from_millis(200);
/// A link that heard nothing for this long gets no data.
const LINK_DEAD: Duration = Duration::from_millis(1000);
const MAX_DATAGRAM: usize = 2048;
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// What one link did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub registered: bool,
    /// SRT packets sent on it, and datagrams received on it.
    pub sent: u64,
    pub received: u64,
    pub srtla_acks: u64,
    pub keepalive_echoes: u64,
    pub reg_errors: u64,
    /// Lost on purpose (the lossy path), towards the receiver and back.
    pub lost_out: u64,
    pub lost_in: u64,
}

#[derive(Debug, Clone, Default)]
pub struct SenderStats {
    pub links: Vec<LinkStats>,
    /// Datagrams from the caller, and those no link could take.
    pub from_caller: u64,
    pub unsent: u64,
    /// Datagrams passed back to the caller.
    pub to_caller: u64,
    /// Times the group was registered (REG1 answered with REG2).
    pub groups: u64,
}

struct Link {
    socket: UdpSocket,
    registered: AtomicBool,
    /// Milliseconds since the sender's start when it last heard from the receiver.
    heard_ms: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    /// Datagrams this link's path lost on purpose, each way.
    lost_out: AtomicU64,
    lost_in: AtomicU64,
    acks: AtomicU64,
    echoes: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    start: Instant,
    local: UdpSocket,
    links: Vec<Link>,
    caller: Mutex<Option<SocketAddr>>,
    /// The group's full id once REG2 came back.
    id: Mutex<Option<Vec<u8>>>,
    our_id: [u8; ID_LEN],
    next: AtomicUsize,
    stop: AtomicBool,
    from_caller: AtomicU64,
    unsent: AtomicU64,
    to_caller: AtomicU64,
    groups: AtomicU64,
    /// Percent of each link's datagrams lost each way (a lossy path the kernel cannot make
    /// here: no netem), drawn from `seed`.
    loss_pct: f64,
    rng: Mutex<u64>,
}

/// A running sender; dropping it stops its threads within about [`TICK`].
pub struct SrtlaSender {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn ms_since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

fn bind(addr: SocketAddr) -> UdpSocket {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .expect("udp socket");
    let _ = s.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    s.bind(&addr.into()).expect("bind");
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(TICK)).expect("read timeout");
    s
}

fn ty(buf: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]))
}

impl SrtlaSender {
    /// Listens on 127.0.0.1:0 for the SRT caller; one link per target, each from a socket
    /// of its own (so the receiver sees one address per link). `seed` makes the group id.
    pub fn start(targets: &[SocketAddr], seed: u64) -> SrtlaSender {
        let binds = vec![IpAddr::V4(Ipv4Addr::LOCALHOST); targets.len()];
        SrtlaSender::start_lossy(&binds, targets, 0.0, seed)
    }

    /// Link `i` from `binds[i]` (port 0) to `targets[i]`, each losing `loss_pct` percent of
    /// its datagrams each way (seeded).
    pub fn start_lossy(
        binds: &[IpAddr],
        targets: &[SocketAddr],
        loss_pct: f64,
        seed: u64,
    ) -> SrtlaSender {
        let local = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let links = targets
            .iter()
            .zip(binds)
            .map(|(&t, &ip)| {
                let socket = bind(SocketAddr::new(ip, 0));
                socket.connect(t).expect("connect link");
                Link {
                    socket,
                    registered: AtomicBool::new(false),
                    heard_ms: AtomicU64::new(0),
                    sent: AtomicU64::new(0),
                    received: AtomicU64::new(0),
                    lost_out: AtomicU64::new(0),
                    lost_in: AtomicU64::new(0),
                    acks: AtomicU64::new(0),
                    echoes: AtomicU64::new(0),
                    errors: AtomicU64::new(0),
                }
            })
            .collect();
        let mut our_id = [0u8; ID_LEN];
        let mut x = seed | 1;
        for b in &mut our_id {
            // xorshift64: any bytes will do, different per seed.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let shared = Arc::new(Shared {
            start: Instant::now(),
            local,
            links,
            caller: Mutex::new(None),
            id: Mutex::new(None),
            our_id,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            from_caller: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            to_caller: AtomicU64::new(0),
            groups: AtomicU64::new(0),
            loss_pct,
            rng: Mutex::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        });
        let mut threads = Vec::new();
        for i in 0..targets.len() {
            let s = shared.clone();
            threads.push(thread::spawn(move || link_loop(&s, i)));
        }
        let s = shared.clone();
        threads.push(thread::spawn(move || caller_loop(&s)));
        let s = shared.clone();
        threads.push(thread::spawn(move || housekeeping(&s)));
        SrtlaSender { shared, threads }
    }

    /// Where the SRT caller sends.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local.local_addr().expect("bound")
    }

    /// The links' own addresses, as the receiver sees them without a proxy in between.
    pub fn link_addrs(&self) -> Vec<SocketAddr> {
        self.shared
            .links
            .iter()
            .map(|l| l.socket.local_addr().expect("bound"))
            .collect()
    }

    pub fn stats(&self) -> SenderStats {
        let s = &self.shared;
        SenderStats {
            links: s
                .links
                .iter()
                .map(|l| LinkStats {
                    registered: l.registered.load(Ordering::Relaxed),
                    sent: l.sent.load(Ordering::Relaxed),
                    received: l.received.load(Ordering::Relaxed),
                    srtla_acks: l.acks.load(Ordering::Relaxed),
                    keepalive_echoes: l.echoes.load(Ordering::Relaxed),
                    reg_errors: l.errors.load(Ordering::Relaxed),
                    lost_out: l.lost_out.load(Ordering::Relaxed),
                    lost_in: l.lost_in.load(Ordering::Relaxed),
                })
                .collect(),
            from_caller: s.from_caller.load(Ordering::Relaxed),
            unsent: s.unsent.load(Ordering::Relaxed),
            to_caller: s.to_caller.load(Ordering::Relaxed),
            groups: s.groups.load(Ordering::Relaxed),
        }
    }

    /// Waits until every link is registered.
    pub fn wait_registered(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.stats();
            if st.links.iter().all(|l| l.registered) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("links not registered: {st:?}"));
            }
            thread::sleep(TICK);
        }
    }
}

impl Drop for SrtlaSender {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Whether the lossy path loses the next datagram.
fn lose(s: &Shared) -> bool {
    if s.loss_pct <= 0.0 {
        return false;
    }
    let mut x = s.rng.lock().unwrap();
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    ((*x % 10_000) as f64) < s.loss_pct * 100.0
}

/// Sends on link `i` through its lossy path; a datagram the path loses counts as sent.
fn send(s: &Shared, i: usize, d: &[u8]) -> std::io::Result<usize> {
    if lose(s) {
        s.links[i].lost_out.fetch_add(1, Ordering::Relaxed);
        return Ok(d.len());
    }
    s.links[i].socket.send(d)
}

/// Whether link `i` may carry data now.
fn up(s: &Shared, i: usize) -> bool {
    let l = &s.links[i];
    l.registered.load(Ordering::Relaxed)
        && ms_since(s.start).saturating_sub(l.heard_ms.load(Ordering::Relaxed))
            < LINK_DEAD.as_millis() as u64
}

/// The caller's packets, round robin over the links that are up.
fn caller_loop(s: &Shared) {
    let mut buf = [0u8; MAX_DATAGRAM];
    while !s.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = s.local.recv_from(&mut buf) else {
            continue;
        };
        *s.caller.lock().unwrap() = Some(from);
        s.from_caller.fetch_add(1, Ordering::Relaxed);
        let count = s.links.len();
        let first = s.next.fetch_add(1, Ordering::Relaxed);
        let sent = (0..count)
            .map(|k| (first + k) % count)
            .find(|&i| up(s, i) && send(s, i, &buf[..n]).is_ok());
        match sent {
            Some(i) => {
                s.links[i].sent.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                s.unsent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What the receiver sends on link `i`: SRTLA's own types here, SRT to the caller.
fn link_loop(s: &Shared, i: usize) {
    let l = &s.links[i];
    let mut buf = [0u8; MAX_DATAGRAM];
    while !s.stop.load(Ordering::Relaxed) {
        let n = match l.socket.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        let d = &buf[..n];
        if lose(s) {
            l.lost_in.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        l.received.fetch_add(1, Ordering::Relaxed);
        l.heard_ms.store(ms_since(s.start), Ordering::Relaxed);
        match ty(d) {
            Some(REG2) if n == 2 + ID_LEN => {
                // Ours only if the first half is what we sent.
                if d[2..2 + ID_LEN / 2] == s.our_id[..ID_LEN / 2] {
                    let mut id = s.id.lock().unwrap();
                    if id.is_none() {
                        s.groups.fetch_add(1, Ordering::Relaxed);
                    }
                    *id = Some(d[2..].to_vec());
                    drop(id);
                    register_links(s);
                }
            }
            Some(REG3) => l.registered.store(true, Ordering::Relaxed),
            Some(REG_NGP) => {
                // The group is gone: register again from scratch.
                *s.id.lock().unwrap() = None;
                for l in &s.links {
                    l.registered.store(false, Ordering::Relaxed);
                }
            }
            Some(REG_ERR | REG_NAK) => {
                l.errors.fetch_add(1, Ordering::Relaxed);
            }
            Some(KEEPALIVE_TYPE) => {
                l.echoes.fetch_add(1, Ordering::Relaxed);
            }
            Some(ACK_TYPE) => {
                l.acks.fetch_add(1, Ordering::Relaxed);
            }
            Some(t) if (0x9000..=0x92FF).contains(&t) => {}
            _ => {
                if let Some(c) = *s.caller.lock().unwrap()
                    && s.local.send_to(d, c).is_ok()
                {
                    s.to_caller.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// REG2 with the full id on every link not registered yet.
fn register_links(s: &Shared) {
    let Some(id) = s.id.lock().unwrap().clone() else {
        return;
    };
    let mut reg2 = REG2.to_be_bytes().to_vec();
    reg2.extend_from_slice(&id);
    for (i, l) in s.links.iter().enumerate() {
        if !l.registered.load(Ordering::Relaxed) {
            let _ = send(s, i, &reg2);
        }
    }
}

/// Registration until done (REG1 on the first link, then REG2 everywhere) and keepalives.
fn housekeeping(s: &Shared) {
    while !s.stop.load(Ordering::Relaxed) {
        let has_id = s.id.lock().unwrap().is_some();
        if has_id {
            register_links(s);
        } else {
            let mut reg1 = REG1.to_be_bytes().to_vec();
            reg1.extend_from_slice(&s.our_id);
            let _ = send(s, 0, &reg1);
        }
        for (i, l) in s.links.iter().enumerate() {
            if l.registered.load(Ordering::Relaxed) {
                let _ = send(s, i, &KEEPALIVE_TYPE.to_be_bytes());
            }
        }
        let until = Instant::now() + KEEPALIVE;
        while Instant::now() < until && !s.stop.load(Ordering::Relaxed) {
            thread::sleep(TICK);
        }
    }
}
