//! A worker's sockets and their batched I/O: each socket with its SRT `Endpoint`, its leg
//! impairment and cached deadlines; one shared `RecvBatch`/`SendBatch` per worker used for one
//! socket at a time (a send batch is always flushed before moving to another socket).
//!
//! Owns: binding, feeding datagrams into endpoints, draining `poll_transmit` into the send
//! batch (through the publisher leg's impairment), flushing, and waiting for readability.
//! Must not: know about phases or reports.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use srtrelay::shard::batch::{RecvBatch, SendBatch, enable_gro, probe_gso};
use srtrelay::shard::socket::{UdpSocketConfig, bind_udp};
use srtrelay::shard::sys::poll_readable;
use srtrelay::srt::endpoint::{AcceptAll, ConnId, Endpoint, EndpointConfig};

use super::conns::Subscriber;
use crate::config::RunConfig;
use crate::loss::{DelayLine, Leg, Verdict, derive_seed};
use crate::report::IoStats;
use crate::stamp::PAYLOAD_LEN;

/// Receive buffer of publisher connections, packets: they receive only control packets, so the
/// minimum the core accepts keeps memory down.
pub const PUB_RCVBUF_PKTS: usize = 64;
/// Socket buffers requested per socket. Under the usual `net.core.rmem_max` (4 MiB here), so
/// the request is granted; 2 MiB absorbs a 10 ms stall of 8 subscribers at 200 Mbit/s.
const SOCKET_BUFFER_BYTES: usize = 2 << 20;
/// `recvmmsg` slots per call, each 64 KiB so a GRO-coalesced run fits.
const RECV_SLOTS: usize = 64;
const RECV_SLOT_LEN: usize = 65536;
/// Datagrams the send batch holds before a flush.
const SEND_CAPACITY: usize = 256;
/// Largest datagram loadgen sends: the core's MSS of 1500 minus IP/UDP headers fits.
const MAX_DATAGRAM: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pub,
    Sub,
}

/// A connection on a worker: index into its publishers or subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member {
    Pub(usize),
    Sub(usize),
}

/// A datagram held by a delay line.
pub struct Held {
    pub sock: usize,
    pub addr: SocketAddr,
    pub data: Vec<u8>,
}

pub struct Sock {
    pub udp: std::net::UdpSocket,
    pub ep: Endpoint,
    pub kind: Kind,
    /// Publisher sockets impair what they send, subscriber sockets what they receive.
    pub leg: Leg,
    pub members: Vec<(ConnId, Member)>,
    /// Cached `ep.poll_timeout()`.
    pub deadline: Option<Instant>,
    /// Cached earliest TSBPD delivery over the members (subscriber sockets).
    pub delivery: Option<Instant>,
    /// Touched this turn: transmit, handle events and refresh the caches.
    pub dirty: bool,
    /// Reported readable by the last wait.
    pub readable: bool,
}

impl Sock {
    /// Binds a socket on `cfg.bind_ip` (any port) with its own endpoint and impairment seed.
    pub fn open(
        cfg: &RunConfig,
        kind: Kind,
        worker: usize,
        index: usize,
        now: Instant,
    ) -> anyhow::Result<Sock> {
        let bound = bind_udp(&UdpSocketConfig {
            addr: SocketAddr::new(cfg.bind_ip, 0),
            recv_buffer_bytes: SOCKET_BUFFER_BYTES,
            send_buffer_bytes: SOCKET_BUFFER_BYTES,
            reuse_port: false,
        })
        .with_context(|| format!("bind {}", cfg.bind_ip))?;
        // Without GRO the kernel splits a server's GSO runs; with it they arrive in one slot.
        let _ = enable_gro(bound.socket.as_fd());
        let global = (worker as u64) << 32 | index as u64;
        let ep_cfg = EndpointConfig {
            recv_buffer_pkts: match kind {
                Kind::Pub => PUB_RCVBUF_PKTS,
                Kind::Sub => cfg.rcvbuf_pkts,
            },
            send_buffer_pkts: 8192,
            max_payload: PAYLOAD_LEN,
            peer_idle_timeout: Duration::from_secs(5),
            loss_max_ttl: 0,
            seed: derive_seed(cfg.seed, global),
            ..EndpointConfig::default()
        };
        let (imp, salt) = match kind {
            Kind::Pub => (cfg.pub_leg, 0x5055_4200),
            Kind::Sub => (cfg.sub_leg, 0x5355_4200),
        };
        Ok(Sock {
            udp: bound.socket,
            ep: {
                let mut ep = Endpoint::new(ep_cfg, None, now);
                // Keys for encrypted legs; loadgen is a test tool, so its seed is derived from
                // --seed (reproducible runs), not from the OS.
                let mut key_seed = [0u8; 32];
                for (i, chunk) in key_seed.chunks_mut(8).enumerate() {
                    chunk.copy_from_slice(
                        &derive_seed(cfg.seed ^ 0x4b45_5953, global + i as u64).to_le_bytes(),
                    );
                }
                ep.set_crypto_seed(key_seed);
                ep
            },
            kind,
            leg: Leg::new(imp, derive_seed(cfg.seed ^ salt, global)),
            members: Vec::new(),
            deadline: None,
            delivery: None,
            dirty: true,
            readable: false,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.udp.as_fd()
    }

    /// Recomputes the cached deadlines after the endpoint was touched.
    pub fn refresh(&mut self) {
        self.deadline = self.ep.poll_timeout();
        self.delivery = match self.kind {
            Kind::Pub => None,
            Kind::Sub => self
                .members
                .iter()
                .filter_map(|&(id, _)| self.ep.connection(id)?.next_delivery_time())
                .min(),
        };
        self.dirty = false;
    }
}

/// The worker's batches and socket counters.
pub struct Batches {
    pub rx: RecvBatch,
    pub tx: SendBatch,
    pub stats: IoStats,
}

impl Batches {
    /// GSO is probed on `probe` (any of the worker's sockets; all are alike).
    pub fn new(probe: Option<&std::net::UdpSocket>) -> Batches {
        let gso = probe.map_or(1, |s| probe_gso(s.as_fd()));
        Batches {
            rx: RecvBatch::new(RECV_SLOTS, RECV_SLOT_LEN),
            tx: SendBatch::new(SEND_CAPACITY, MAX_DATAGRAM, gso),
            stats: IoStats::default(),
        }
    }

    /// Sends what is pending on `sock`. A full socket buffer drops the rest (counted): the
    /// batch is shared with other sockets and must be empty before the next one uses it.
    pub fn flush(&mut self, sock: &Sock) -> anyhow::Result<()> {
        if self.tx.is_empty() {
            return Ok(());
        }
        let f = self.tx.flush(sock.fd()).context("sendmmsg")?;
        self.stats.send_syscalls += f.syscalls as u64;
        self.stats.send_datagrams += f.datagrams as u64;
        self.stats.socket_errors += f.dropped as u64;
        if f.blocked {
            self.stats.send_blocked_drops += self.tx.pending_datagrams() as u64;
            self.tx.clear();
        }
        Ok(())
    }
}

/// Feeds one datagram to `sock`'s endpoint; a subscriber's fresh data packet is timed.
pub fn feed(
    sock: &mut Sock,
    subs: &mut [Subscriber],
    transit: &mut Histogram<u64>,
    start: Instant,
    now: Instant,
    from: SocketAddr,
    data: &[u8],
) {
    sock.dirty = true;
    let Some(r) = sock.ep.handle_datagram(now, from, data, &mut AcceptAll) else {
        return;
    };
    if sock.kind != Kind::Sub {
        return;
    }
    if let Some(&(_, Member::Sub(i))) = sock.members.iter().find(|(c, _)| *c == r.conn) {
        let now_ns = now.saturating_duration_since(start).as_nanos() as u64;
        subs[i].on_arrival(r.payload, now_ns, transit);
    }
}

/// Drains `sock`'s endpoint into the send batch and flushes it. On a publisher socket each
/// datagram first meets the publisher leg's impairment: dropped, held in `delayed`, or sent.
pub fn transmit(
    sock: &mut Sock,
    io: &mut Batches,
    delayed: &mut DelayLine<Held>,
    pool: &mut Vec<Vec<u8>>,
    si: usize,
    now: Instant,
) -> anyhow::Result<()> {
    loop {
        let (verdict, to, n) = {
            let Some(spare) = io.tx.spare() else {
                io.flush(sock)?;
                continue;
            };
            let Some(srtrelay::srt::endpoint::Transmit { to, len: n, .. }) =
                sock.ep.poll_transmit(now, spare)
            else {
                break;
            };
            let verdict = if sock.kind == Kind::Pub && sock.leg.is_active() {
                sock.leg.judge(now)
            } else {
                Verdict::Pass
            };
            if let Verdict::Delay(at) = verdict {
                let mut data = pool.pop().unwrap_or_default();
                data.clear();
                data.extend_from_slice(&spare[..n]);
                delayed.push(
                    at,
                    Held {
                        sock: si,
                        addr: to,
                        data,
                    },
                );
            }
            (verdict, to, n)
        };
        if verdict == Verdict::Pass {
            io.tx.commit(to, n);
        }
    }
    io.flush(sock)
}

/// Waits up to `timeout` for any socket to become readable and marks those that are.
pub fn wait_readable(socks: &mut [Sock], timeout: Duration) -> anyhow::Result<()> {
    let fds: Vec<BorrowedFd<'_>> = socks.iter().map(Sock::fd).collect();
    if fds.is_empty() {
        std::thread::sleep(timeout);
        return Ok(());
    }
    let ready = poll_readable(&fds, Some(timeout)).context("poll")?;
    drop(fds);
    for (s, r) in socks.iter_mut().zip(ready) {
        s.readable = r;
    }
    Ok(())
}

/// Socket errors that concern one datagram or an ICMP report, not the socket.
pub fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | HostUnreachable | NetworkUnreachable | Interrupted
    )
}
