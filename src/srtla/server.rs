//! The SRTLA receiver on shard 0: the links' UDP socket, one socket per group towards the
//! relay's own SRT listener, and the [`Receiver`] between them.
//!
//! One socket, one shard, not a `SO_REUSEPORT` group like the SRT listener: the kernel would
//! hash each link (a 4-tuple of its own) to any member, and the links of one sender must all
//! reach the receiver that holds their group (the REG2 of a second link names a group only
//! the first link's receiver knows). SRTLA carries a few bonded publishers, not thousands of
//! connections: one shard's worth of work.
//!
//! Per group, a UDP socket connected to the relay's SRT listener (loopback for a wildcard
//! listen address), opened when its first link joins, carries the merged SRT packets, so to the relay a bonded sender is one SRT
//! caller from that socket's address. Those addresses are in [`BondedPeers`], which every
//! shard's admission consults at handshake time (the listener is on every shard) to run the
//! connection with the settings SRTLA needs (`srt::endpoint::Admit::bonded`). What the relay
//! answers goes back over the links as the receiver says (ACK and NAK over all of them).
//!
//! Owns the sockets and the tasks (links, one per group's socket, the timer). Must not: hold
//! a borrow of the server across an `.await`, or touch the shard's state.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::BondedPeers;
use super::packet::{self, REG1, REG2};
use super::receiver::{CloseWhy, Counters, Event, GroupHandle, Handled, Receiver, ReceiverConfig};
use crate::config::SrtlaSettings;
use crate::service::ratelimit::RateLimited;
use crate::shard::batch::{RecvBatch, SendBatch};
use crate::shard::socket::{UdpSocketConfig, bind_udp};
use crate::shard::udp::ShardUdp;
use crate::telemetry::{SrtlaGroupSnapshot, SrtlaLinkSnapshot, SrtlaTotals};

/// Datagrams per `recvmmsg` on either kind of socket.
const RECV_BATCH: usize = 64;
/// Replies and answers queued for the links before a flush.
const SEND_BATCH: usize = 256;
/// Larger than any datagram on a 1500-byte path: a longer one is truncated, and dropped.
const SLOT_LEN: usize = 2048;
const MAX_DATAGRAM: usize = 1500;
/// The timer task wakes at least this often (expiry is coarse: seconds).
const MAX_TIMER_SLEEP: Duration = Duration::from_secs(1);
/// Back-off after a socket error.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Each group's socket asks for this much buffer each way (a burst of a high-rate stream).
const GROUP_SOCKET_BUFFER: usize = 4 << 20;
/// Refused registrations are logged at most this often (a flood must not flood the log).
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The driver's own drops (the receiver counts the rest).
#[derive(Debug, Clone, Copy, Default)]
struct DriverCounters {
    truncated: u64,
    upstream_send_failed: u64,
    link_send_failed: u64,
    /// Groups closed because their socket could not be opened.
    groups_failed: u64,
}

/// One group's socket towards the relay's SRT listener.
struct Upstream {
    socket: Rc<ShardUdp>,
    local: SocketAddr,
    /// Its receive task; dropping it cancels the task.
    task: Option<glommio::Task<()>>,
}

/// The server's state, shared by its tasks on shard 0.
pub struct Server {
    rx: Receiver,
    links: Rc<ShardUdp>,
    /// The relay's SRT listener as the group sockets reach it.
    target: SocketAddr,
    groups: HashMap<GroupHandle, Upstream>,
    bonded: BondedPeers,
    tx: SendBatch,
    to: Vec<SocketAddr>,
    reply: Vec<u8>,
    counters: DriverCounters,
    refusals: RateLimited,
    /// Groups whose socket was just opened and whose task is to be spawned (outside the
    /// borrow: glommio may run a new task at once).
    to_spawn: Vec<(GroupHandle, Rc<ShardUdp>)>,
}

/// Where the group sockets send: the listener's address, loopback for a wildcard one.
pub fn upstream_target(srt_listen: SocketAddr) -> SocketAddr {
    let ip = match srt_listen.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, srt_listen.port())
}

/// Starts the server's tasks on this shard (call on shard 0's executor). `socket`: the
/// links' socket, bound at start-up; `target`: the relay's SRT listener (see
/// [`upstream_target`]); `seed`: 32 bytes from the OS for the groups' ids.
pub fn start(
    cfg: &SrtlaSettings,
    socket: std::net::UdpSocket,
    target: SocketAddr,
    bonded: BondedPeers,
    seed: [u8; 32],
) -> io::Result<Rc<RefCell<Server>>> {
    let links = Rc::new(ShardUdp::new(socket)?);
    let rx_cfg = ReceiverConfig {
        max_groups: cfg.max_groups,
        max_links_per_group: cfg.max_links_per_group,
        ..ReceiverConfig::default()
    };
    let server = Rc::new(RefCell::new(Server {
        rx: Receiver::new(rx_cfg, seed),
        links: links.clone(),
        target,
        groups: HashMap::new(),
        bonded,
        tx: SendBatch::new(SEND_BATCH, MAX_DATAGRAM, 1),
        to: Vec::new(),
        reply: vec![0; MAX_DATAGRAM],
        counters: DriverCounters::default(),
        refusals: RateLimited::new(REFUSAL_LOG_INTERVAL, 5),
        to_spawn: Vec::new(),
    }));
    info!(
        "SRTLA receiver on {} (merged into the SRT listener at {target})",
        links.local_addr()?
    );
    glommio::spawn_local(serve_links(server.clone(), links)).detach();
    glommio::spawn_local(run_timer(server.clone())).detach();
    Ok(server)
}

impl Server {
    /// Datagrams from links.
    fn on_links(&mut self, batch: &RecvBatch, now: Instant) {
        for d in batch.iter() {
            if d.truncated {
                self.counters.truncated += 1;
                continue;
            }
            for seg in d.segments() {
                self.on_link_datagram(now, d.from, seg);
            }
        }
        self.settle();
    }

    fn on_link_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let registration = matches!(packet::packet_type(data), Some(REG1 | REG2));
        let before = registration.then(|| self.rx.counters());
        if let Handled::Forward(g) = self.rx.handle_datagram(now, from, data) {
            match self.groups.get(&g) {
                // A full socket buffer drops the packet; SRT recovers it like any loss.
                Some(up) => {
                    if up.socket.send(data).is_err() {
                        self.counters.upstream_send_failed += 1;
                    }
                }
                None => self.counters.upstream_send_failed += 1,
            }
        }
        if let Some(before) = before {
            self.log_refusal(now, from, &before);
        }
    }

    /// Says which registration was refused, when the rate limit allows.
    fn log_refusal(&mut self, now: Instant, from: SocketAddr, before: &Counters) {
        let c = self.rx.counters();
        let why = if c.groups_refused_limit > before.groups_refused_limit {
            "new group refused: max_groups groups stream already"
        } else if c.links_refused_limit > before.links_refused_limit {
            "link refused: its group has max_links_per_group links"
        } else if c.links_refused_other_group > before.links_refused_other_group {
            "link refused: the address is a link of another group"
        } else if c.reg1_refused_registered > before.reg1_refused_registered {
            "new group refused: the address is registered already"
        } else if c.reg2_unknown_group > before.reg2_unknown_group {
            // Every srtla_send start does this once per link (REG2 before it has a group).
            debug!("srtla: REG2 for no group we have from {from}: told to register again");
            return;
        } else {
            return;
        };
        if let Some(held) = self.refusals.allow(now) {
            warn!("srtla: {why} ({from}); {held} similar lines held back");
        }
    }

    /// Answers of the relay for group `g`.
    fn on_upstream(&mut self, g: GroupHandle, batch: &RecvBatch) {
        for d in batch.iter() {
            if d.truncated {
                self.counters.truncated += 1;
                continue;
            }
            for seg in d.segments() {
                let mut to = std::mem::take(&mut self.to);
                self.rx.route_upstream(g, seg, &mut to);
                for &addr in &to {
                    self.push(addr, seg);
                }
                self.to = to;
            }
        }
        self.settle();
    }

    fn on_timer(&mut self, now: Instant) {
        if self.rx.poll_timeout().is_some_and(|d| d <= now) {
            self.rx.handle_timeout(now);
        }
        self.settle();
    }

    /// After any input: the receiver's replies go out, its events open and close sockets
    /// (which queue no replies).
    fn settle(&mut self) {
        while let Some(t) = self.rx.poll_transmit(&mut self.reply) {
            let (to, len) = (t.to, t.len);
            let reply = std::mem::take(&mut self.reply);
            self.push(to, &reply[..len]);
            self.reply = reply;
        }
        while let Some(e) = self.rx.poll_event() {
            self.on_event(e);
        }
        self.flush();
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::GroupCreated { group, by } => {
                debug!("srtla: group {} registered by {by}", group.0);
            }
            // The socket towards the relay opens with the group's first link, not its REG1:
            // a REG1 costs a flood no socket (no bind, no task), only a table entry.
            Event::LinkAdded { group, addr } => {
                info!("srtla: group {} has a new link {addr}", group.0);
                if self.groups.contains_key(&group) {
                    return;
                }
                match self.open_upstream() {
                    Ok(up) => {
                        self.bonded.insert(up.local);
                        self.to_spawn.push((group, up.socket.clone()));
                        self.groups.insert(group, up);
                    }
                    Err(e) => {
                        warn!("srtla: cannot open a socket towards {}: {e}", self.target);
                        self.counters.groups_failed += 1;
                        self.rx.close_group(group);
                    }
                }
            }
            Event::LinkExpired { group, addr } => {
                info!(
                    "srtla: group {}: link {addr} went silent and was removed",
                    group.0
                );
            }
            Event::GroupClosed { group, why } => {
                let Some(up) = self.groups.remove(&group) else {
                    return;
                };
                self.bonded.remove(up.local);
                match why {
                    CloseWhy::Expired => info!("srtla: group {} closed: no links left", group.0),
                    _ => debug!("srtla: group {} closed: {why:?}", group.0),
                }
                // Dropping `up` cancels its task and closes the socket; the relay's SRT
                // connection from it ends by its idle timeout.
                drop(up);
            }
        }
    }

    fn open_upstream(&self) -> io::Result<Upstream> {
        let any = match self.target {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        };
        let bound = bind_udp(&UdpSocketConfig {
            addr: any,
            recv_buffer_bytes: GROUP_SOCKET_BUFFER,
            send_buffer_bytes: GROUP_SOCKET_BUFFER,
            reuse_port: false,
        })?;
        bound.socket.connect(self.target)?;
        // After `connect`: the source address the relay sees.
        let local = bound.socket.local_addr()?;
        Ok(Upstream {
            socket: Rc::new(ShardUdp::new(bound.socket)?),
            local,
            task: None,
        })
    }

    fn push(&mut self, to: SocketAddr, data: &[u8]) {
        if self.tx.push(to, data).is_err() {
            self.flush();
            if self.tx.push(to, data).is_err() {
                self.counters.link_send_failed += 1;
            }
        }
    }

    fn flush(&mut self) {
        if self.tx.is_empty() {
            return;
        }
        match self.links.send_batch(&mut self.tx) {
            Ok(f) => {
                self.counters.link_send_failed += f.dropped as u64;
                if f.blocked {
                    // Never wait on the links: what a full socket refused is dropped (SRT
                    // retransmits, SRTLA replies are repeated by the sender).
                    self.counters.link_send_failed += self.tx.pending_datagrams() as u64;
                    self.tx.clear();
                }
            }
            Err(e) => {
                debug!("srtla: send failed: {e}");
                self.counters.link_send_failed += self.tx.pending_datagrams() as u64;
                self.tx.clear();
            }
        }
    }

    /// Counters for the shard's snapshot.
    pub fn totals(&self) -> SrtlaTotals {
        let c = self.rx.counters();
        let d = self.counters;
        SrtlaTotals {
            groups: c.groups,
            links: c.links,
            registrations: [
                c.groups_created,
                c.groups_refused_limit,
                c.reg1_refused_registered,
                c.groups_replaced,
                c.links_added,
                c.links_refused_limit,
                c.links_refused_other_group,
                c.reg2_unknown_group,
            ],
            groups_closed: [
                c.groups_expired,
                c.groups_evicted,
                c.groups_replaced,
                d.groups_failed,
            ],
            links_expired: c.links_expired,
            drops: [
                c.malformed,
                c.unknown_source,
                d.truncated,
                c.upstream_unrouted,
                d.upstream_send_failed,
                d.link_send_failed,
                c.replies_dropped,
            ],
            packets_in: c.packets_in,
            bytes_in: c.bytes_in,
            packets_out: c.packets_out,
            bytes_out: c.bytes_out,
            keepalives: c.keepalives,
            acks: c.srtla_acks,
        }
    }

    /// Every group and link now.
    pub fn groups(&self, now: Instant) -> Vec<SrtlaGroupSnapshot> {
        self.rx
            .stats(now)
            .into_iter()
            .map(|g| SrtlaGroupSnapshot {
                upstream: self.groups.get(&g.group).map(|u| u.local),
                age: g.age,
                links: g
                    .links
                    .iter()
                    .map(|l| SrtlaLinkSnapshot {
                        addr: l.addr,
                        packets: l.packets,
                        bytes: l.bytes,
                        age: l.age,
                        idle: l.idle,
                    })
                    .collect(),
            })
            .collect()
    }

    /// The receive tasks of groups opened since the last call: spawned by the caller once
    /// its borrow has ended, then handed back with [`Server::adopt`].
    fn take_spawns(&mut self) -> Vec<(GroupHandle, Rc<ShardUdp>)> {
        std::mem::take(&mut self.to_spawn)
    }

    fn adopt(&mut self, g: GroupHandle, task: glommio::Task<()>) {
        match self.groups.get_mut(&g) {
            Some(up) => up.task = Some(task),
            // Closed before its task existed: dropping the task cancels it.
            None => drop(task),
        }
    }
}

/// Spawns the receive tasks of the groups `server` opened (outside any borrow of it).
fn spawn_upstreams(server: &Rc<RefCell<Server>>) {
    let spawns = server.borrow_mut().take_spawns();
    for (g, socket) in spawns {
        let task = glommio::spawn_local(serve_upstream(server.clone(), g, socket));
        server.borrow_mut().adopt(g, task);
    }
}

async fn serve_links(server: Rc<RefCell<Server>>, links: Rc<ShardUdp>) {
    let mut batch = RecvBatch::new(RECV_BATCH, SLOT_LEN);
    loop {
        match links.recv_batch(&mut batch).await {
            Ok(_) => {
                server
                    .borrow_mut()
                    .on_links(&batch, crate::shard::engine::clock());
                spawn_upstreams(&server);
            }
            Err(e) => {
                warn!("srtla: receive failed: {e}");
                glommio::timer::sleep(ERROR_BACKOFF).await;
            }
        }
        // A socket that never empties must not starve the shard's other tasks.
        futures_lite::future::yield_now().await;
    }
}

async fn serve_upstream(server: Rc<RefCell<Server>>, g: GroupHandle, socket: Rc<ShardUdp>) {
    let mut batch = RecvBatch::new(RECV_BATCH, SLOT_LEN);
    loop {
        match socket.recv_batch(&mut batch).await {
            Ok(_) => {
                server.borrow_mut().on_upstream(g, &batch);
                spawn_upstreams(&server);
            }
            Err(e) => {
                debug!("srtla: group {}: receive failed: {e}", g.0);
                glommio::timer::sleep(ERROR_BACKOFF).await;
            }
        }
        futures_lite::future::yield_now().await;
    }
}

async fn run_timer(server: Rc<RefCell<Server>>) {
    loop {
        let now = crate::shard::engine::clock();
        let sleep = server
            .borrow()
            .rx
            .poll_timeout()
            .map_or(MAX_TIMER_SLEEP, |d| {
                d.saturating_duration_since(now).min(MAX_TIMER_SLEEP)
            });
        glommio::timer::sleep(sleep.max(Duration::from_millis(1))).await;
        server.borrow_mut().on_timer(crate::shard::engine::clock());
        spawn_upstreams(&server);
    }
}
