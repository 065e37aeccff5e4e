//! The SRTLA receiver's state machine, sans-IO: groups of links (one bonded sender each),
//! registration, keepalives, per-link SRTLA ACKs, expiry, and where every packet goes.
//!
//! Owns: the group table (capped at `max_groups`), each group's links (capped at
//! `max_links_per_group`), the index from a link's address to its group, the replies it owes
//! senders, and its counters. Must not: touch sockets or the clock (`now` comes in), read
//! randomness itself (the group ids' random halves come from the seeded generator it is
//! given), or know SRT beyond the header fields [`super::packet`] reads.
//!
//! Behaviour follows BELABOX's `srtla_rec.c` (srtla2) with two changes of the maintained forks
//! (irlserver/OpenIRL): SRT NAKs go to every link like ACKs (a NAK that takes a dying link is
//! a retransmission that never happens), and under the group cap a group that never carried
//! SRT data gives its place to a new registration (so a REG1 flood cannot lock a real sender
//! out). A REG1 from the address that registered a group that has no link yet replaces it
//! (its REG2 was lost); the reference answers REG_ERR until the ghost expires.

#![deny(clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use super::packet::{
    self, ACK_LEN, ACK_SEQS, GroupId, ID_LEN, Inbound, REG_ERR, REG_LEN, REG_NGP, REG3, SRT_ACK,
    SRT_NAK,
};

/// Replies waiting to be drained; beyond this they are dropped (counted): a driver drains
/// after every datagram, so only a driver bug gets here.
const MAX_PENDING_REPLIES: usize = 1024;
/// Largest keepalive echoed (a datagram on a 1500-byte path cannot be larger).
const MAX_ECHO: usize = 1500;

/// Limits and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Groups at once (reference: 200).
    pub max_groups: usize,
    /// Links per group (reference: 8; the forks 16).
    pub max_links_per_group: usize,
    /// A link that sends nothing (a sender keeps idle links alive with keepalives every
    /// second) for this long is removed (reference `CONN_TIMEOUT`: 10 s).
    pub link_timeout: Duration,
    /// A group without links (never joined, or all of them gone) is removed this long after
    /// it was created or lost its last link (reference `GROUP_TIMEOUT`: 10 s).
    pub group_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_groups: 200,
            max_links_per_group: 16,
            link_timeout: Duration::from_secs(10),
            group_timeout: Duration::from_secs(10),
        }
    }
}

/// A group's handle: numbered in order of creation, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupHandle(pub u64);

/// What the driver does with a datagram after [`Receiver::handle_datagram`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Send the datagram unchanged to the group's upstream (its SRT server connection).
    Forward(GroupHandle),
    /// Nothing to forward (replies, if any, are in [`Receiver::poll_transmit`]).
    Done,
}

/// One reply for a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub len: usize,
}

/// Changes the driver acts on (the upstream socket's life) or logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    GroupCreated {
        group: GroupHandle,
        by: SocketAddr,
    },
    LinkAdded {
        group: GroupHandle,
        addr: SocketAddr,
    },
    LinkExpired {
        group: GroupHandle,
        addr: SocketAddr,
    },
    /// The group is gone: close its upstream.
    GroupClosed {
        group: GroupHandle,
        why: CloseWhy,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseWhy {
    /// No links for `group_timeout`.
    Expired,
    /// Its place went to a new registration under the group cap (it never carried data).
    Evicted,
    /// Its creator registered again before any link joined.
    Replaced,
    /// The driver closed it ([`Receiver::close_group`]).
    Closed,
}

/// Cumulative counters (gauges: `groups`, `links`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub groups: u64,
    pub links: u64,
    pub groups_created: u64,
    /// REG1 refused: `max_groups` groups, none evictable.
    pub groups_refused_limit: u64,
    pub groups_evicted: u64,
    pub groups_replaced: u64,
    pub groups_expired: u64,
    /// REG1 from an address that is a link (or the creator of a joined group) already.
    pub reg1_refused_registered: u64,
    pub links_added: u64,
    /// REG2 refused: `max_links_per_group` links.
    pub links_refused_limit: u64,
    /// REG2 from an address registered with another group.
    pub links_refused_other_group: u64,
    pub links_expired: u64,
    /// REG2 naming no group we have (answered REG_NGP).
    pub reg2_unknown_group: u64,
    /// Datagrams from an address that is no link (dropped, unanswered).
    pub unknown_source: u64,
    /// Datagrams that do not parse (short, bad registration length, a receiver's type).
    pub malformed: u64,
    pub keepalives: u64,
    /// SRT packets from links, forwarded upstream, and their bytes.
    pub packets_in: u64,
    pub bytes_in: u64,
    /// SRT packets from upstream sent to links (an ACK to three links counts three).
    pub packets_out: u64,
    pub bytes_out: u64,
    pub srtla_acks: u64,
    /// Upstream packets for a group that is gone or has no link.
    pub upstream_unrouted: u64,
    pub replies_dropped: u64,
}

/// One link as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStats {
    pub addr: SocketAddr,
    /// SRT packets and bytes received on this link (keepalives not included).
    pub packets: u64,
    pub bytes: u64,
    /// Since the link registered.
    pub age: Duration,
    /// Since the link last sent anything.
    pub idle: Duration,
}

/// One group as the operator sees it (never its id: that is the capability to join it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupStats {
    pub group: GroupHandle,
    pub age: Duration,
    /// The link the last SRT packet came on (where non-ACK/NAK answers go).
    pub last_link: Option<SocketAddr>,
    pub links: Vec<LinkStats>,
}

#[derive(Debug)]
struct Link {
    addr: SocketAddr,
    since: Instant,
    last_seen: Instant,
    packets: u64,
    bytes: u64,
    /// Sequence numbers received since the last SRTLA ACK.
    acks: [u32; ACK_SEQS],
    pending_acks: usize,
}

#[derive(Debug)]
struct Group {
    id: GroupId,
    created: Instant,
    /// When it last had no links (creation, or the last one left): the group timeout counts
    /// from here.
    empty_since: Instant,
    creator: SocketAddr,
    links: Vec<Link>,
    last_link: Option<SocketAddr>,
    /// Has forwarded an SRT packet: not evictable.
    carried_data: bool,
}

/// What an address is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Sent the REG1 of a group it has not joined (yet).
    Creator,
    Link,
}

/// The receiver. See the module doc.
pub struct Receiver {
    cfg: ReceiverConfig,
    rng: ChaCha20Rng,
    groups: HashMap<GroupHandle, Group>,
    /// Keyed by the first 8 bytes of our random half (we chose them; a sender cannot aim at a
    /// bucket); the full id is then compared in constant time.
    by_key: HashMap<u64, GroupHandle>,
    /// Peers choose addresses: the default SipHash keeps them from aiming at buckets.
    by_addr: HashMap<SocketAddr, (GroupHandle, Role)>,
    next_group: u64,
    replies: VecDeque<(SocketAddr, Range<usize>)>,
    reply_bytes: Vec<u8>,
    events: VecDeque<Event>,
    counters: Counters,
    deadline: Option<Instant>,
}

impl Receiver {
    /// `seed`: 32 bytes from the OS (the random halves of group ids must not be guessable).
    pub fn new(cfg: ReceiverConfig, seed: [u8; 32]) -> Self {
        Receiver {
            cfg,
            rng: ChaCha20Rng::from_seed(seed),
            groups: HashMap::new(),
            by_key: HashMap::new(),
            by_addr: HashMap::new(),
            next_group: 1,
            replies: VecDeque::new(),
            reply_bytes: Vec::new(),
            events: VecDeque::new(),
            counters: Counters::default(),
            deadline: None,
        }
    }

    /// A datagram from `from` on the SRTLA socket.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, buf: &[u8]) -> Handled {
        let parsed = packet::parse(buf);
        match parsed {
            Ok(Inbound::Reg1(id)) => {
                self.on_reg1(now, from, id);
                return Handled::Done;
            }
            Ok(Inbound::Reg2(id)) => {
                self.on_reg2(now, from, id);
                return Handled::Done;
            }
            _ => {}
        }
        let Some(&(handle, Role::Link)) = self.by_addr.get(&from) else {
            self.counters.unknown_source += 1;
            return Handled::Done;
        };
        let Some(group) = self.groups.get_mut(&handle) else {
            self.counters.unknown_source += 1;
            return Handled::Done;
        };
        let Some(link) = group.links.iter_mut().find(|l| l.addr == from) else {
            self.counters.unknown_source += 1;
            return Handled::Done;
        };
        // Anything from a registered link keeps it alive (as the reference's `last_rcvd`).
        link.last_seen = now;
        match parsed {
            Ok(Inbound::Keepalive(ka)) => {
                self.counters.keepalives += 1;
                let ka = &ka[..ka.len().min(MAX_ECHO)];
                self.reply(from, ka);
                Handled::Done
            }
            Ok(Inbound::Srt(srt)) => {
                link.packets += 1;
                link.bytes += srt.len() as u64;
                self.counters.packets_in += 1;
                self.counters.bytes_in += srt.len() as u64;
                group.last_link = Some(from);
                group.carried_data = true;
                if let Some(seq) = packet::srt_data_seq(srt) {
                    link.acks[link.pending_acks] = seq;
                    link.pending_acks += 1;
                    if link.pending_acks == ACK_SEQS {
                        // Reference `register_packet`: every RECV_ACK_INT data packets a link
                        // carried, the link is told which ones arrived (its sender's window).
                        link.pending_acks = 0;
                        let mut b = [0u8; ACK_LEN];
                        packet::emit_ack(&link.acks, &mut b);
                        self.counters.srtla_acks += 1;
                        self.reply(from, &b);
                    }
                }
                Handled::Forward(handle)
            }
            Ok(Inbound::Reg1(_) | Inbound::Reg2(_)) => Handled::Done,
            Err(_) => {
                self.counters.malformed += 1;
                Handled::Done
            }
        }
    }

    /// An SRT packet the group's upstream (the SRT server) sent: pushes the links it goes to
    /// onto `to` (cleared first). ACKs and NAKs go to every link, so they arrive even when
    /// some links are dead; everything else to the link the last SRT packet came on.
    pub fn route_upstream(&mut self, group: GroupHandle, buf: &[u8], to: &mut Vec<SocketAddr>) {
        to.clear();
        let Some(g) = self.groups.get(&group) else {
            self.counters.upstream_unrouted += 1;
            return;
        };
        match packet::srt_control_type(buf) {
            Some(SRT_ACK | SRT_NAK) => to.extend(g.links.iter().map(|l| l.addr)),
            _ => {
                let last = g
                    .last_link
                    .filter(|a| g.links.iter().any(|l| l.addr == *a))
                    .or_else(|| g.links.iter().max_by_key(|l| l.last_seen).map(|l| l.addr));
                to.extend(last);
            }
        }
        if to.is_empty() {
            self.counters.upstream_unrouted += 1;
        }
        self.counters.packets_out += to.len() as u64;
        self.counters.bytes_out += (to.len() * buf.len()) as u64;
    }

    /// Removes a group the driver cannot serve (its upstream socket failed).
    pub fn close_group(&mut self, group: GroupHandle) {
        self.remove_group(group, CloseWhy::Closed);
    }

    /// Expires links and groups due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| d > now) {
            return;
        }
        let (link_timeout, group_timeout) = (self.cfg.link_timeout, self.cfg.group_timeout);
        let mut next: Option<Instant> = None;
        let mut expired_groups = Vec::new();
        for (&handle, g) in &mut self.groups {
            let before = g.links.len();
            g.links.retain(|l| {
                let keep = l.last_seen + link_timeout > now;
                if !keep {
                    self.by_addr.remove(&l.addr);
                    self.events.push_back(Event::LinkExpired {
                        group: handle,
                        addr: l.addr,
                    });
                }
                keep
            });
            let gone = before - g.links.len();
            self.counters.links_expired += gone as u64;
            self.counters.links -= gone as u64;
            if gone > 0 && g.links.is_empty() {
                g.empty_since = now;
            }
            let due = if g.links.is_empty() {
                g.empty_since + group_timeout
            } else {
                g.links.iter().map(|l| l.last_seen).min().unwrap_or(now) + link_timeout
            };
            if g.links.is_empty() && due <= now {
                expired_groups.push(handle);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        for h in expired_groups {
            self.counters.groups_expired += 1;
            self.remove_group(h, CloseWhy::Expired);
        }
        self.deadline = next;
    }

    /// When [`Receiver::handle_timeout`] has work (possibly earlier than needed: links that
    /// were active since are checked then and the deadline moves on).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next reply, written to `buf` (which should hold 1500 bytes; a longer reply is cut).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let Some((to, range)) = self.replies.pop_front() else {
            self.reply_bytes.clear();
            return None;
        };
        let bytes = &self.reply_bytes[range];
        let len = bytes.len().min(buf.len());
        buf[..len].copy_from_slice(&bytes[..len]);
        if self.replies.is_empty() {
            self.reply_bytes.clear();
        }
        Some(Transmit { to, len })
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Every group and link now, oldest group first.
    pub fn stats(&self, now: Instant) -> Vec<GroupStats> {
        let mut out: Vec<GroupStats> = self
            .groups
            .iter()
            .map(|(&group, g)| GroupStats {
                group,
                age: now.saturating_duration_since(g.created),
                last_link: g.last_link,
                links: g
                    .links
                    .iter()
                    .map(|l| LinkStats {
                        addr: l.addr,
                        packets: l.packets,
                        bytes: l.bytes,
                        age: now.saturating_duration_since(l.since),
                        idle: now.saturating_duration_since(l.last_seen),
                    })
                    .collect(),
            })
            .collect();
        out.sort_by_key(|g| g.group);
        out
    }

    /// Whether `addr` is a registered link (of any group).
    pub fn is_link(&self, addr: SocketAddr) -> bool {
        matches!(self.by_addr.get(&addr), Some((_, Role::Link)))
    }

    fn on_reg1(&mut self, now: Instant, from: SocketAddr, sender_id: &GroupId) {
        match self.by_addr.get(&from).copied() {
            Some((h, Role::Creator)) if self.groups.get(&h).is_some_and(|g| g.links.is_empty()) => {
                // Its REG2 was lost and it starts over: the group nobody joined goes.
                self.counters.groups_replaced += 1;
                self.remove_group(h, CloseWhy::Replaced);
            }
            Some(_) => {
                self.counters.reg1_refused_registered += 1;
                self.reply_type(from, REG_ERR);
                return;
            }
            None => {}
        }
        if self.groups.len() >= self.cfg.max_groups {
            match self.evictable() {
                Some(h) => {
                    self.counters.groups_evicted += 1;
                    self.remove_group(h, CloseWhy::Evicted);
                }
                None => {
                    self.counters.groups_refused_limit += 1;
                    self.reply_type(from, REG_ERR);
                    return;
                }
            }
        }
        let mut id = [0u8; ID_LEN];
        let half = ID_LEN / 2;
        id[..half].copy_from_slice(&sender_id[..half]);
        let key = loop {
            self.rng.fill_bytes(&mut id[half..]);
            let key = bucket_key(&id);
            if !self.by_key.contains_key(&key) {
                break key;
            }
        };
        let handle = GroupHandle(self.next_group);
        self.next_group += 1;
        self.groups.insert(
            handle,
            Group {
                id,
                created: now,
                empty_since: now,
                creator: from,
                links: Vec::new(),
                last_link: None,
                carried_data: false,
            },
        );
        self.by_key.insert(key, handle);
        self.by_addr.insert(from, (handle, Role::Creator));
        self.counters.groups_created += 1;
        self.counters.groups += 1;
        self.arm(now + self.cfg.group_timeout);
        self.events.push_back(Event::GroupCreated {
            group: handle,
            by: from,
        });
        let mut b = [0u8; REG_LEN];
        packet::emit_reg2(&id, &mut b);
        self.reply(from, &b);
    }

    fn on_reg2(&mut self, now: Instant, from: SocketAddr, id: &GroupId) {
        let found = self
            .by_key
            .get(&bucket_key(id))
            .copied()
            .filter(|h| self.groups.get(h).is_some_and(|g| ct_eq(&g.id, id)));
        let Some(handle) = found else {
            self.counters.reg2_unknown_group += 1;
            self.reply_type(from, REG_NGP);
            return;
        };
        match self.by_addr.get(&from).copied() {
            Some((h, _)) if h != handle => {
                self.counters.links_refused_other_group += 1;
                self.reply_type(from, REG_ERR);
                return;
            }
            _ => {}
        }
        let max_links = self.cfg.max_links_per_group;
        let Some(g) = self.groups.get_mut(&handle) else {
            return;
        };
        g.last_link = Some(from);
        if let Some(link) = g.links.iter_mut().find(|l| l.addr == from) {
            // Registering again (the sender's side timed the link out): confirm it.
            link.last_seen = now;
        } else {
            if g.links.len() >= max_links {
                self.counters.links_refused_limit += 1;
                self.reply_type(from, REG_ERR);
                return;
            }
            g.links.push(Link {
                addr: from,
                since: now,
                last_seen: now,
                packets: 0,
                bytes: 0,
                acks: [0; ACK_SEQS],
                pending_acks: 0,
            });
            self.by_addr.insert(from, (handle, Role::Link));
            self.counters.links_added += 1;
            self.counters.links += 1;
            self.events.push_back(Event::LinkAdded {
                group: handle,
                addr: from,
            });
            self.arm(now + self.cfg.link_timeout);
        }
        self.reply_type(from, REG3);
    }

    /// The oldest group that never carried SRT data, those without links first.
    fn evictable(&self) -> Option<GroupHandle> {
        self.groups
            .iter()
            .filter(|(_, g)| !g.carried_data)
            .min_by_key(|(h, g)| (!g.links.is_empty(), g.created, **h))
            .map(|(h, _)| *h)
    }

    fn remove_group(&mut self, handle: GroupHandle, why: CloseWhy) {
        let Some(g) = self.groups.remove(&handle) else {
            return;
        };
        self.by_key.remove(&bucket_key(&g.id));
        for l in &g.links {
            self.by_addr.remove(&l.addr);
        }
        if self.by_addr.get(&g.creator) == Some(&(handle, Role::Creator)) {
            self.by_addr.remove(&g.creator);
        }
        self.counters.groups -= 1;
        self.counters.links -= g.links.len() as u64;
        self.events
            .push_back(Event::GroupClosed { group: handle, why });
    }

    fn arm(&mut self, at: Instant) {
        self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
    }

    fn reply_type(&mut self, to: SocketAddr, ty: u16) {
        let mut b = [0u8; 2];
        packet::emit_type(ty, &mut b);
        self.reply(to, &b);
    }

    fn reply(&mut self, to: SocketAddr, bytes: &[u8]) {
        if self.replies.len() >= MAX_PENDING_REPLIES {
            self.counters.replies_dropped += 1;
            return;
        }
        let start = self.reply_bytes.len();
        self.reply_bytes.extend_from_slice(bytes);
        self.replies.push_back((to, start..self.reply_bytes.len()));
    }
}

/// Our random half's first 8 bytes.
fn bucket_key(id: &GroupId) -> u64 {
    let half = ID_LEN / 2;
    let mut k = [0u8; 8];
    k.copy_from_slice(&id[half..half + 8]);
    u64::from_le_bytes(k)
}

/// Compares ids without an early exit, so the time taken says nothing about how much of a
/// guessed id was right (as the reference's `const_time_cmp`).
fn ct_eq(a: &GroupId, b: &GroupId) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "receiver_tests.rs"]
mod tests;
