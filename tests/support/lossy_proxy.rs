//! A UDP proxy on 127.0.0.1 that loses, duplicates and delays datagrams, for SRT over loopback.
//!
//! Owns: one front socket that clients send to; per client (learned from its first datagram) an
//! upstream socket connected to the server, so the server sees one distinct address per client
//! and replies are routed back; seeded loss per direction; counters; a handshake sniffer that
//! records the SRT stream id each caller sends.
//! Must not: use async or extra crates, depend on the wall clock for its random choices (runs
//! with the same seed drop the same packet indices), or block its `Drop` for more than a few
//! tens of milliseconds.

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Socket read timeout: how quickly the threads notice `Drop`.
const TICK: Duration = Duration::from_millis(20);
/// Larger than any SRT datagram (MTU 1500).
const MAX_DATAGRAM: usize = 2048;
/// Socket buffers for the proxy's sockets. The kernel default (208 KiB, ~150 SRT packets)
/// overflows when a tool sends a burst (srt-live-transmit blasts a file read from a pipe)
/// or when the proxy thread is descheduled for a moment on a busy machine; those kernel
/// drops would be loss the test did not ask for. libsrt asks for large buffers too.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client (caller) to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// What the proxy does to traffic.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where datagrams from clients go.
    pub server: SocketAddr,
    /// Percent (0..=100) of client-to-server datagrams dropped.
    pub loss_to_server_pct: f64,
    /// Percent (0..=100) of server-to-client datagrams dropped.
    pub loss_to_client_pct: f64,
    /// Percent of forwarded datagrams (both directions) sent twice.
    pub duplicate_pct: f64,
    /// Fixed one-way delay added to every datagram (order is kept).
    pub delay: Duration,
    /// Never drop SRT control packets (handshake, ACK, NAK, SHUTDOWN...), only data packets.
    /// Off by default: real links lose both. On when a test wants exact timing of connect and
    /// close (a lost SHUTDOWN makes libsrt wait for its 5 s peer idle timeout).
    pub spare_control: bool,
    /// Seed of the loss/duplicate generator; each direction and client gets its own stream.
    pub seed: u64,
}

impl ProxyConfig {
    /// A transparent proxy to `server`.
    pub fn new(server: SocketAddr) -> Self {
        ProxyConfig {
            server,
            loss_to_server_pct: 0.0,
            loss_to_client_pct: 0.0,
            duplicate_pct: 0.0,
            delay: Duration::ZERO,
            spare_control: false,
            seed: 0x5EED,
        }
    }

    /// Same loss percentage both ways.
    pub fn with_loss(mut self, pct: f64) -> Self {
        self.loss_to_server_pct = pct;
        self.loss_to_client_pct = pct;
        self
    }
}

/// Counters for one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams sent on (duplicates not included).
    pub forwarded: u64,
    pub dropped: u64,
    pub duplicated: u64,
    /// SRT data packets seen (forwarded or not), by payload size in bytes.
    pub data_payload_sizes: BTreeMap<usize, u64>,
    /// SRT data packets seen with a non-zero KK field (encrypted with the even or odd key).
    pub encrypted_data: u64,
}

/// A snapshot of the proxy's counters.
#[derive(Clone, Debug, Default)]
pub struct ProxyStats {
    pub to_server: DirectionStats,
    pub to_client: DirectionStats,
    /// Distinct client addresses seen.
    pub clients: usize,
    /// Stream ids sent by callers in their conclusion handshakes, in order of first sight.
    pub stream_ids: Vec<String>,
}

/// A running proxy; dropping it stops its threads within about [`TICK`].
pub struct LossyProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    front_thread: Option<JoinHandle<()>>,
    delay_thread: Option<JoinHandle<()>>,
}

impl LossyProxy {
    /// Binds 127.0.0.1:0 and starts forwarding to `config.server`.
    pub fn start(config: ProxyConfig) -> LossyProxy {
        let front = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy front socket");
        front
            .set_read_timeout(Some(TICK))
            .expect("set read timeout");
        let addr = front.local_addr().expect("proxy address");
        let (delay_tx, delay_rx) = mpsc::channel::<Delayed>();
        let delay_thread = (!config.delay.is_zero())
            .then(|| spawn("proxy-delay", move || run_delay_line(delay_rx)));
        let shared = Arc::new(Shared {
            loss_pct: [
                AtomicU64::new(config.loss_to_server_pct.to_bits()),
                AtomicU64::new(config.loss_to_client_pct.to_bits()),
            ],
            config,
            stop: AtomicBool::new(false),
            stats: Mutex::new(ProxyStats::default()),
            client_threads: Mutex::new(Vec::new()),
        });
        let front = Arc::new(front);
        let front_shared = Arc::clone(&shared);
        let front_thread = spawn("proxy-front", move || {
            run_front(front, front_shared, delay_tx)
        });
        LossyProxy {
            addr,
            shared,
            front_thread: Some(front_thread),
            delay_thread,
        }
    }

    /// The address clients send to (use it in the tool's `srt://` URL).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stats(&self) -> ProxyStats {
        self.shared.stats.lock().expect("proxy stats lock").clone()
    }

    /// Changes the loss percentage of one direction from now on (e.g. a 100% outage).
    pub fn set_loss(&self, direction: Direction, pct: f64) {
        self.shared.loss_pct[direction as usize].store(pct.to_bits(), Ordering::Relaxed);
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        // Front first: once it has exited no new client threads can be added.
        if let Some(t) = self.front_thread.take() {
            let _ = t.join();
        }
        let clients = std::mem::take(
            &mut *self
                .shared
                .client_threads
                .lock()
                .expect("client threads lock"),
        );
        for t in clients {
            let _ = t.join();
        }
        // All senders are gone now, so the delay line drains (at most `delay`) and exits.
        if let Some(t) = self.delay_thread.take() {
            let _ = t.join();
        }
    }
}

struct Shared {
    config: ProxyConfig,
    /// f64 bits, indexed by `Direction as usize`.
    loss_pct: [AtomicU64; 2],
    stop: AtomicBool,
    stats: Mutex<ProxyStats>,
    client_threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Where a datagram goes: through a connected upstream socket, or from the front to a client.
#[derive(Clone)]
enum Route {
    Upstream(Arc<UdpSocket>),
    Client(Arc<UdpSocket>, SocketAddr),
}

struct Delayed {
    due: Instant,
    route: Route,
    bytes: Vec<u8>,
}

/// Loss, duplication and delivery for one direction of one client.
struct Link {
    direction: Direction,
    route: Route,
    rng: SplitMix64,
    shared: Arc<Shared>,
    delay_tx: Sender<Delayed>,
}

impl Link {
    fn handle(&mut self, bytes: &[u8]) {
        let is_control = bytes.first().is_some_and(|b| b & 0x80 != 0);
        // Draw both numbers for every datagram so that the loss pattern of a seed does not
        // depend on the duplicate setting.
        let (loss_roll, dup_roll) = (self.rng.next_pct(), self.rng.next_pct());
        let loss_pct =
            f64::from_bits(self.shared.loss_pct[self.direction as usize].load(Ordering::Relaxed));
        let lose = loss_roll < loss_pct && !(is_control && self.shared.config.spare_control);
        let dup = !lose && dup_roll < self.shared.config.duplicate_pct;
        {
            let mut stats = self.shared.stats.lock().expect("proxy stats lock");
            if self.direction == Direction::ToServer
                && let Some(sid) = handshake_stream_id(bytes)
                && !stats.stream_ids.contains(&sid)
            {
                stats.stream_ids.push(sid);
            }
            let dir = match self.direction {
                Direction::ToServer => &mut stats.to_server,
                Direction::ToClient => &mut stats.to_client,
            };
            if !is_control && bytes.len() >= 16 {
                *dir.data_payload_sizes.entry(bytes.len() - 16).or_default() += 1;
                // draft-sharabayko-srt §3.1: word 1 is PP(2) O(1) KK(2) R(1) msgno(26).
                dir.encrypted_data += u64::from((bytes[4] >> 3) & 0b11 != 0);
            }
            if lose {
                dir.dropped += 1;
                return;
            }
            dir.forwarded += 1;
            dir.duplicated += u64::from(dup);
        }
        for _ in 0..1 + usize::from(dup) {
            self.send(bytes);
        }
    }

    fn send(&self, bytes: &[u8]) {
        let delay = self.shared.config.delay;
        if delay.is_zero() {
            send_now(&self.route, bytes);
        } else {
            let item = Delayed {
                due: Instant::now() + delay,
                route: self.route.clone(),
                bytes: bytes.to_vec(),
            };
            let _ = self.delay_tx.send(item);
        }
    }
}

fn run_front(front: Arc<UdpSocket>, shared: Arc<Shared>, delay_tx: Sender<Delayed>) {
    let mut clients: HashMap<SocketAddr, Link> = HashMap::new();
    let mut buf = [0u8; MAX_DATAGRAM];
    while !shared.stop.load(Ordering::Relaxed) {
        let (n, from) = match front.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            // ECONNREFUSED and the like from an earlier send: keep serving.
            Err(_) => continue,
        };
        let index = clients.len() as u64;
        let link = clients.entry(from).or_insert_with(|| {
            let upstream =
                UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy upstream socket");
            upstream
                .connect(shared.config.server)
                .expect("connect proxy upstream socket");
            upstream
                .set_read_timeout(Some(TICK))
                .expect("set read timeout");
            let upstream = Arc::new(upstream);
            let seed = shared.config.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let back = Link {
                direction: Direction::ToClient,
                route: Route::Client(Arc::clone(&front), from),
                rng: SplitMix64(seed ^ 0xC11E_2700),
                shared: Arc::clone(&shared),
                delay_tx: delay_tx.clone(),
            };
            let back_socket = Arc::clone(&upstream);
            let back_thread = spawn("proxy-back", move || run_back(back_socket, back));
            shared
                .client_threads
                .lock()
                .expect("client threads lock")
                .push(back_thread);
            shared.stats.lock().expect("proxy stats lock").clients += 1;
            Link {
                direction: Direction::ToServer,
                route: Route::Upstream(upstream),
                rng: SplitMix64(seed ^ 0x5E2F_E200),
                shared: Arc::clone(&shared),
                delay_tx: delay_tx.clone(),
            }
        });
        link.handle(&buf[..n]);
    }
}

fn run_back(upstream: Arc<UdpSocket>, mut link: Link) {
    let mut buf = [0u8; MAX_DATAGRAM];
    while !link.shared.stop.load(Ordering::Relaxed) {
        match upstream.recv(&mut buf) {
            Ok(n) => link.handle(&buf[..n]),
            // Timeouts, and ECONNREFUSED while the server is not (yet) listening.
            Err(_) => continue,
        }
    }
}

/// Sends delayed datagrams in order. Every datagram has the same delay, so FIFO order is due
/// order and one sleeping thread suffices.
fn run_delay_line(rx: Receiver<Delayed>) {
    loop {
        match rx.recv_timeout(TICK) {
            Ok(item) => {
                let now = Instant::now();
                if item.due > now {
                    thread::sleep(item.due - now);
                }
                send_now(&item.route, &item.bytes);
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn send_now(route: &Route, bytes: &[u8]) {
    // A send error (peer not listening yet, buffer full) is just another lost datagram.
    let _ = match route {
        Route::Upstream(socket) => socket.send(bytes),
        Route::Client(socket, to) => socket.send_to(bytes, to),
    };
}

/// A UDP socket on 127.0.0.1 with a read timeout of [`TICK`] and big buffers.
fn bind_loopback() -> UdpSocket {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind proxy socket");
    socket
        .set_read_timeout(Some(TICK))
        .expect("set read timeout");
    let size = libc::c_int::try_from(SOCKET_BUFFER_BYTES).expect("buffer size fits c_int");
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // *FORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN (tests run as root in
        // CI); otherwise the plain option gets as much as the sysctl allows.
        if setsockopt_int(&socket, forced, size).is_err() {
            let _ = setsockopt_int(&socket, plain, size);
        }
    }
    socket
}

fn setsockopt_int(
    socket: &UdpSocket,
    option: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is owned by `socket` and open for the duration of the call; the option
    // value is a c_int on the stack and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .expect("spawn proxy thread")
}

/// The stream id in an SRT conclusion handshake, if `bytes` is one and carries it.
///
/// Layout (draft-sharabayko-srt §3.2.1): 16-byte control header (type 0 = handshake), then the
/// 48-byte handshake CIF (handshake type at CIF offset 20, 0xFFFFFFFF = conclusion), then
/// extensions as (type u16, length u16 in 4-byte words, content). Type 5 is the stream id
/// (§3.2.1.3), sent as 32-bit words in little-endian byte order, zero padded.
pub fn handshake_stream_id(bytes: &[u8]) -> Option<String> {
    const CIF: usize = 16;
    const EXTENSIONS: usize = CIF + 48;
    const SRT_CMD_SID: u16 = 5;
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    if word(0)? != 0x8000_0000 || word(CIF)? != 5 || word(CIF + 20)? != 0xFFFF_FFFF {
        return None;
    }
    let mut at = EXTENSIONS;
    while let Some(header) = word(at) {
        let (kind, words) = ((header >> 16) as u16, (header & 0xFFFF) as usize);
        let content = bytes.get(at + 4..at + 4 + words * 4)?;
        if kind == SRT_CMD_SID {
            let raw: Vec<u8> = content
                .chunks_exact(4)
                .flat_map(|w| [w[3], w[2], w[1], w[0]])
                .collect();
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            return Some(String::from_utf8_lossy(&raw[..end]).into_owned());
        }
        at += 4 + words * 4;
    }
    None
}

/// splitmix64 (Steele, Lea, Flood 2014): tiny, fast and well mixed; a fixed seed gives a
/// fixed loss pattern per direction.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 100).
    fn next_pct(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0
    }
}
