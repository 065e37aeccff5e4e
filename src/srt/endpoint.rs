//! One UDP socket's worth of SRT, sans-IO: demultiplexes datagrams to the stateless listener,
//! pending callers and established connections, and collects what they want to send.
//!
//! Owns: the connection table (by local socket id, and by peer address + peer socket id for
//! repeated conclusions), socket id allocation, and counters for every datagram it drops or
//! handshake it rejects. Must not: touch sockets or the clock, or decide policy: whether a
//! caller may publish or play is the application's [`AccessControl`].
//!
//! Drivers (the blocking test driver, the glommio shards) call `handle_datagram`, then
//! `handle_timeout` when `poll_timeout` passes, and drain `poll_transmit` and `poll_event`.
//! None of these visits every connection: each connection's next deadline lives in a heap
//! (`endpoint/schedule.rs`), connections that may have something to send wait in a ready
//! queue, and closed ones in a queue of their own, so the cost of a call follows the
//! connections it concerns, not how many there are (10 000 idle players cost only their own
//! timers).
//! A driver that admits or makes encrypted connections seeds the key generator once with
//! `set_crypto_seed` (32 bytes from the OS); encryption is decided per caller by
//! `Admit::encryption` (see `crypto::handshake` for the libsrt-compatible outcomes).

use std::collections::{HashMap, VecDeque};

use crate::idhash::IdMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod schedule;

use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::srt::connection::UDP_IP_OVERHEAD;
use crate::srt::connection::{
    Arrival, CloseReason, Connection, ConnectionConfig, Delivered, Delivery, SendError, Stats,
};
use crate::srt::crypto::{
    Crypto, Encryption, Initiator, KeyLen, KeyRng, Responder, respond_to_kmreq,
};
use crate::srt::handshake::{
    Caller, CallerConfig, CallerEvent, ConclusionRequest, DropReason, Listener, ListenerAction,
    Negotiated, RejectReason, StreamId, StreamIdError, Transmit as HandshakeReply,
};
use crate::srt::packet::{Control, ControlPacket, HEADER_LEN, HsFlags, Packet, ParseError};
use crate::srt::seq::{SeqNo, Timestamp};

use schedule::Schedule;

/// A connection's handle: its local SRT socket id.
pub type ConnId = u32;

/// The application's admission decision for a conclusion that passed the protocol checks.
pub trait AccessControl {
    /// `Ok` accepts, with how the new connection delivers what it receives; `Err` rejects
    /// with that reason (e.g. 1403, 1404, 1409).
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason>;

    /// Whether the answer is not known yet (an admission callback is on its way): the
    /// conclusion is then left unanswered, and the caller's repetition of it (libsrt repeats
    /// every 250 ms until its connect timeout) asks again. Called before `check`.
    fn pending(&mut self, _req: &ConclusionRequest) -> bool {
        false
    }
}

/// Terms of an accepted connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admit {
    pub delivery: Delivery,
    /// The passphrase (if any) and how strictly it applies. The default, no passphrase and
    /// enforced, is libsrt's: a caller that wants encryption is refused with UNSECURE (1011).
    /// See `crypto::handshake` for every case.
    pub encryption: Encryption,
    /// The caller's packets reach us over several paths with their own delays (an SRTLA
    /// group's links merged into one connection). Its receiver then runs the settings SRTLA
    /// receivers use: no periodic NAK, and none offered in HSRSP (a libsrt sender then
    /// retransmits unacknowledged packets on its own timer, as for any peer without NAK
    /// reports), and no reorder tolerance (`loss_max_ttl` is not applied): each gap is NAKed
    /// once, when it is seen. The bonding sender reads NAKs as losses of the link that carried
    /// the packet (BELABOX's `srtla_send` shrinks that link's window).
    pub bonded: bool,
}

/// Accepts every caller with TSBPD delivery.
pub struct AcceptAll;

impl AccessControl for AcceptAll {
    fn check(&mut self, _req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        Ok(Admit::default())
    }
}

/// One datagram `poll_transmit` wrote: where it goes and from which of the driver's sockets,
/// so the driver never parses what the core built. The core writes one datagram per call;
/// runs of datagrams to one peer come out back to back (a connection is drained before the
/// next), which is what the shard's send batch folds into GSO segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// The driver's socket the peer talks to: the one passed to
    /// [`Endpoint::handle_datagram_on`] with its handshake (0 for `handle_datagram` and for
    /// connections this endpoint calls out).
    pub local_socket: usize,
}

/// A fresh data packet for connection `conn`; `payload` borrows the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub conn: ConnId,
    pub arrival: Arrival,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// A caller was admitted; `stream_id` is what it asked for.
    Accepted {
        id: ConnId,
        peer: SocketAddr,
        stream_id: Option<StreamId>,
    },
    /// A connection we called is established.
    Connected { id: ConnId },
    /// A connection we called failed.
    ConnectFailed { id: ConnId, reason: ConnectError },
    /// A connection ended and was removed.
    Closed {
        id: ConnId,
        reason: CloseReason,
        stats: Box<Stats>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("rejected by the listener: {0}")]
    Rejected(RejectReason),
    #[error("refused the listener's answer: {0}")]
    Refused(RejectReason),
    #[error("no answer before the connect timeout")]
    TimedOut,
}

/// Settings applied to every connection this endpoint creates.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub recv_buffer_pkts: usize,
    pub send_buffer_pkts: usize,
    pub max_payload: usize,
    pub peer_idle_timeout: Duration,
    /// Close connections that were sent data and acknowledged none of it for this long
    /// (`None`: never); see `CloseReason::Unresponsive`.
    pub unresponsive_timeout: Option<Duration>,
    pub loss_max_ttl: u32,
    /// Retransmissions may add this percentage of a connection's input rate
    /// (`ConnectionConfig::rexmit_overhead_pct`).
    pub rexmit_overhead_pct: u32,
    /// Seed for socket ids and initial sequence numbers (injected: the core reads no RNG).
    pub seed: u64,
    /// `(index, count)`: socket ids are allocated congruent to `index` modulo `count`, so
    /// endpoints of different shards never hand out the same id (ids name connections in
    /// metrics and the operator API).
    pub id_space: (u32, u32),
    /// How connections this endpoint calls out deliver what they receive (accepted ones take
    /// it from `AccessControl`). A load generator's players use `CutThrough` to timestamp
    /// arrivals without a second copy.
    pub caller_delivery: Delivery,
    /// The driver's socket that connections this endpoint calls out use: a relay's shard
    /// calls from a socket of its own, outside the `SO_REUSEPORT` group, so the answers
    /// come back to the shard that called.
    pub caller_socket: usize,
    /// How late the coarse timers (keepalive, idle, unresponsive, rate sample:
    /// `Connection::poll_timeouts`) may be served: their deadlines are rounded up to a grid
    /// of this step, so many idle connections share one wake-up. Zero (the default) keeps
    /// every deadline exact, as virtual-time tests want.
    pub timer_slack: Duration,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            recv_buffer_pkts: 8192,
            send_buffer_pkts: 8192,
            max_payload: 1316,
            peer_idle_timeout: Duration::from_secs(5),
            unresponsive_timeout: None,
            loss_max_ttl: 0,
            rexmit_overhead_pct: crate::srt::connection::DEFAULT_REXMIT_OVERHEAD_PCT,
            seed: 0x5EED,
            id_space: (0, 1),
            caller_delivery: Delivery::Tsbpd,
            caller_socket: 0,
            timer_slack: Duration::ZERO,
        }
    }
}

/// What the endpoint dropped or refused, by cause. Nothing is lost silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub parse_errors: u64,
    /// Addressed to a socket id we do not have.
    pub unknown_socket: u64,
    /// Addressed to one of ours from another address than its peer's.
    pub wrong_peer: u64,
    /// Non-handshake packets addressed to socket id 0.
    pub not_handshake: u64,
    pub handshake_drops: HashMap<DropReason, u64>,
    /// Rejections sent, by reason code.
    pub rejections: HashMap<u32, u64>,
    /// Conclusions refused (1400, in `rejections`) for a Stream ID over 512 bytes.
    pub stream_id_too_long: u64,
    /// Conclusions left unanswered while the application's decision was pending.
    pub deferred_conclusions: u64,
    pub accepted: u64,
    pub connected: u64,
    pub connect_failures: u64,
    /// Connections closed because the peer acknowledged none of the data sent to it for the
    /// unresponsive timeout (`CloseReason::Unresponsive`).
    pub closed_unresponsive: u64,
    /// Connections and callers `handle_timeout` visited because a deadline of theirs was due:
    /// the measure that it follows the timers, not the number of connections.
    pub timer_visits: u64,
}

struct Entry {
    conn: Connection,
    peer: SocketAddr,
    local_socket: usize,
}

struct PendingCaller {
    caller: Caller,
    peer: SocketAddr,
    /// Origin of this connection's timestamps, handshake included: the peer derives its TSBPD
    /// time base from the conclusion's timestamp, so data must share it.
    start: Instant,
    /// Header timestamp of the listener's last handshake: the peer's TSBPD time base.
    last_hs_ts: Option<(Instant, Timestamp)>,
    /// Our keys, already in the conclusion's KMREQ; the connection gets them once the
    /// listener echoes the KM.
    crypto: Option<Box<Crypto>>,
}

pub struct Endpoint {
    cfg: EndpointConfig,
    listener: Option<Listener>,
    conns: IdMap<ConnId, Entry>,
    by_peer: HashMap<(SocketAddr, u32), ConnId>,
    callers: IdMap<ConnId, PendingCaller>,
    /// Replies waiting to go out (to, on which socket), with the origin their timestamp
    /// counts from: the new connection's start for an accepted conclusion, the endpoint's
    /// start otherwise.
    replies: VecDeque<(SocketAddr, usize, HandshakeReply, Instant)>,
    events: VecDeque<EndpointEvent>,
    stats: EndpointStats,
    rng: u64,
    /// Source of salts and keys, forked per encrypted connection; `None` until the driver
    /// seeds it (`set_crypto_seed`).
    key_rng: Option<KeyRng>,
    start: Instant,
    /// Deadlines of connections and callers (one id space), and who may have something to
    /// send.
    schedule: Schedule,
    /// Connections that reported `Closed`, in order, until `poll_event` removes them.
    closed: VecDeque<(ConnId, CloseReason)>,
    /// Scratch for the ids one `handle_timeout` (or dirty flush) visits: kept to not allocate
    /// per wake-up.
    visit: Vec<ConnId>,
    coalesce: Coalesce,
}

/// How a connection's deadline is registered: fine timers exactly, coarse ones rounded up to
/// a grid of `slack` steps from `origin` (`EndpointConfig::timer_slack`).
#[derive(Debug, Clone, Copy)]
struct Coalesce {
    slack: Duration,
    origin: Instant,
}

impl Coalesce {
    fn deadline(self, conn: &Connection) -> Option<Instant> {
        let (fine, coarse) = conn.poll_timeouts();
        let coarse = coarse.map(|t| self.round_up(t));
        match (fine, coarse) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn round_up(self, t: Instant) -> Instant {
        let step = self.slack.as_nanos();
        if step == 0 {
            return t;
        }
        let since = t.saturating_duration_since(self.origin).as_nanos();
        let steps = since.div_ceil(step);
        let rounded = u64::try_from(steps * step).unwrap_or(u64::MAX);
        self.origin + Duration::from_nanos(rounded)
    }
}

impl Endpoint {
    /// `listener` is `None` for an endpoint that only calls out.
    pub fn new(cfg: EndpointConfig, listener: Option<Listener>, now: Instant) -> Self {
        let rng = cfg.seed | 1;
        let coalesce = Coalesce {
            slack: cfg.timer_slack,
            origin: now,
        };
        Endpoint {
            cfg,
            listener,
            conns: IdMap::default(),
            by_peer: HashMap::new(),
            callers: IdMap::default(),
            replies: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            rng,
            key_rng: None,
            start: now,
            schedule: Schedule::default(),
            closed: VecDeque::new(),
            visit: Vec::new(),
            coalesce,
        }
    }

    /// Seeds the generator that salts and keys of encrypted connections come from. Drivers
    /// call this once with 32 bytes from the OS (`getrandom`); the core reads no randomness
    /// itself. Until then, any connection that would need fresh keys (a caller with a
    /// passphrase, a listener admitting one) fails with IPE rather than use guessable keys.
    pub fn set_crypto_seed(&mut self, seed: [u8; 32]) {
        self.key_rng = Some(KeyRng::from_seed(seed));
    }

    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// The listener, for a reload of its terms (latency proposal and ceiling).
    pub fn listener_mut(&mut self) -> Option<&mut Listener> {
        self.listener.as_mut()
    }

    pub fn connection(&self, id: ConnId) -> Option<&Connection> {
        self.conns.get(&id).map(|e| &e.conn)
    }

    /// The connection, to change it directly (a relay's `send_at`). It is queued to be asked
    /// for datagrams, and its deadline and close are read again before the endpoint next
    /// answers `poll_timeout`, `handle_timeout` or `poll_event`.
    pub fn connection_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        let e = self.conns.get_mut(&id)?;
        self.schedule.mark_ready(id);
        self.schedule.mark_dirty(id);
        Some(&mut e.conn)
    }

    pub fn connection_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.conns.keys().copied()
    }

    pub fn send(&mut self, id: ConnId, now: Instant, payload: &[u8]) -> Result<SeqNo, SendError> {
        let entry = self.conns.get_mut(&id).ok_or(SendError::Closed)?;
        let sent = entry.conn.send(now, payload);
        self.touch(id);
        sent
    }

    pub fn recv(&mut self, id: ConnId, now: Instant, out: &mut [u8]) -> Option<Delivered> {
        let delivered = self.conns.get_mut(&id)?.conn.recv(now, out);
        // A draining connection closes once its buffer is played out.
        self.touch(id);
        delivered
    }

    pub fn close(&mut self, id: ConnId) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.conn.close();
            self.touch(id);
        }
    }

    /// Starts calling `remote`. The id is reported in `Connected` or `ConnectFailed`.
    pub fn connect(&mut self, now: Instant, mut cfg: CallerConfig) -> Result<ConnId, ConnectError> {
        let id = self.alloc_socket_id();
        cfg.local_socket_id = id;
        cfg.isn = SeqNo::new(self.next_random() as u32);
        let peer = cfg.remote;
        let initiator = match cfg.encryption.passphrase.clone() {
            None => None,
            Some(pass) => {
                let rng = fork_key_rng(&mut self.key_rng)
                    .ok_or(ConnectError::Refused(RejectReason::Ipe))?;
                // libsrt `CCryptoControl::init`: PBKEYLEN 0 means 16 bytes.
                let key_len = KeyLen::from_bytes(usize::from(cfg.pbkeylen))
                    .unwrap_or(KeyLen::Aes128)
                    .max(cfg.encryption.min_key_len);
                cfg.pbkeylen = key_len.bytes() as u8;
                Some(Initiator::new(pass, &cfg.encryption, key_len, rng))
            }
        };
        let mut caller =
            Caller::new(now, cfg).map_err(|_| ConnectError::Refused(RejectReason::Ipe))?;
        let crypto = initiator.map(|i| {
            caller.set_km_request(i.km);
            i.crypto
        });
        self.callers.insert(
            id,
            PendingCaller {
                caller,
                peer,
                start: now,
                last_hs_ts: None,
                crypto,
            },
        );
        self.touch(id);
        Ok(id)
    }

    /// Feeds one received datagram. A data packet seen for the first time is returned with its
    /// payload in clear (cut-through connections hand data over only this way): borrowed from
    /// `datagram`, or on an encrypted connection from the connection's decryption buffer,
    /// which is why the result also borrows the endpoint.
    pub fn handle_datagram<'a>(
        &'a mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
        access: &mut dyn AccessControl,
    ) -> Option<Received<'a>> {
        self.handle_datagram_on(now, 0, from, datagram, access)
    }

    /// [`Endpoint::handle_datagram`] for a driver with several sockets: `local_socket` is the
    /// one the datagram came in on. A connection answers on the socket its handshake came in
    /// on ([`Transmit::local_socket`]).
    pub fn handle_datagram_on<'a>(
        &'a mut self,
        now: Instant,
        local_socket: usize,
        from: SocketAddr,
        datagram: &'a [u8],
        access: &mut dyn AccessControl,
    ) -> Option<Received<'a>> {
        self.stats.datagrams_in += 1;
        let packet = match Packet::parse(datagram) {
            Ok(p) => p,
            Err(
                ParseError::Truncated
                | ParseError::UnknownControlType(_)
                | ParseError::Malformed(_),
            ) => {
                self.stats.parse_errors += 1;
                return None;
            }
        };
        let dest = packet.dest_socket_id();
        if dest == 0 {
            match packet {
                Packet::Control(ControlPacket {
                    timestamp,
                    body: Control::Handshake(hs),
                    ..
                }) => self.on_listener_handshake(now, local_socket, from, timestamp, &hs, access),
                _ => self.stats.not_handshake += 1,
            }
            return None;
        }
        // Looked up twice: returning a borrow out of a `get_mut` branch would keep `self.conns`
        // borrowed on the fall-through path too.
        if self.conns.contains_key(&dest) {
            let entry = self.conns.get_mut(&dest)?;
            if entry.peer != from {
                self.stats.wrong_peer += 1;
                return None;
            }
            let arrival = entry.conn.handle_packet(now, &packet);
            // Inline `touch`: `entry` stays borrowed for the payload it may lend out.
            settle(
                dest,
                &mut entry.conn,
                &mut self.closed,
                &mut self.schedule,
                self.coalesce,
            );
            self.schedule.mark_ready(dest);
            let arrival = arrival?;
            let payload = entry.conn.payload_in_clear(&packet)?;
            return Some(Received {
                conn: dest,
                arrival,
                payload,
            });
        }
        if let Some(pending) = self.callers.get_mut(&dest) {
            if pending.peer != from {
                self.stats.wrong_peer += 1;
                return None;
            }
            if let Packet::Control(ControlPacket {
                timestamp,
                body: Control::Handshake(hs),
                ..
            }) = &packet
            {
                pending.last_hs_ts = Some((now, *timestamp));
                pending.caller.handle(now, hs);
                self.poll_caller(now, dest);
                self.touch(dest);
            }
            return None;
        }
        self.stats.unknown_socket += 1;
        None
    }

    fn on_listener_handshake(
        &mut self,
        now: Instant,
        local_socket: usize,
        from: SocketAddr,
        ts: Timestamp,
        hs: &crate::srt::packet::Handshake,
        access: &mut dyn AccessControl,
    ) {
        let Some(listener) = self.listener.as_ref() else {
            self.stats.unknown_socket += 1;
            return;
        };
        match listener.handle(now, from, hs) {
            ListenerAction::Reply(t) => {
                self.replies.push_back((from, local_socket, t, self.start));
            }
            ListenerAction::Reject { reply, reason } => {
                *self.stats.rejections.entry(reason.code()).or_default() += 1;
                self.replies
                    .push_back((from, local_socket, reply, self.start));
            }
            ListenerAction::Drop(reason) => {
                *self.stats.handshake_drops.entry(reason).or_default() += 1;
            }
            ListenerAction::Conclusion(req) => {
                // A repeated conclusion (our reply was lost): the connection answers again.
                if let Some(&id) = self.by_peer.get(&(from, req.peer_socket_id())) {
                    if let Some(e) = self.conns.get_mut(&id) {
                        let pkt = Packet::Control(ControlPacket {
                            timestamp: ts,
                            dest_socket_id: id,
                            body: Control::Handshake(hs.clone()),
                        });
                        e.conn.handle_packet(now, &pkt);
                        self.touch(id);
                    }
                    return;
                }
                let decision = match req.stream_id() {
                    Err(StreamIdError::TooLong { .. }) => {
                        self.stats.stream_id_too_long += 1;
                        Err(RejectReason::BadRequest)
                    }
                    Err(_) => Err(RejectReason::BadRequest),
                    Ok(_) if access.pending(&req) => {
                        self.stats.deferred_conclusions += 1;
                        return;
                    }
                    Ok(_) => access.check(&req),
                };
                // Then encryption (libsrt checks KMREQ in `interpretSrtHandshake`, after the
                // SID-based access check): a mismatch is a rejection like any other.
                let key_rng = &mut self.key_rng;
                let decision = decision.and_then(|admit| {
                    match respond_to_kmreq(req.km_request(), &admit.encryption, || {
                        fork_key_rng(key_rng)
                    }) {
                        Responder::Accept {
                            crypto,
                            km_response,
                        } => Ok((admit, crypto, km_response)),
                        Responder::Reject(reason) => Err(reason),
                    }
                });
                let (admit, crypto, km_response) = match decision {
                    Ok(accepted) => accepted,
                    Err(reason) => {
                        *self.stats.rejections.entry(reason.code()).or_default() += 1;
                        let reply = listener.reject(req.handshake(), reason);
                        self.replies
                            .push_back((from, local_socket, reply, self.start));
                        return;
                    }
                };
                let id = self.alloc_socket_id();
                let Some(listener) = self.listener.as_ref() else {
                    return;
                };
                let (reply, negotiated) =
                    listener.accept_with_km(&req, id, km_response, admit.bonded);
                let base = crate::srt::connection::tsbpd_time_base(now, ts);
                let mut cfg = self.connection_config(id, &negotiated, now, base);
                cfg.delivery = admit.delivery;
                if admit.bonded {
                    cfg.periodic_nak = false;
                    cfg.loss_max_ttl = 0;
                }
                let mut conn = Connection::new(cfg, now);
                if let Some(crypto) = crypto {
                    conn.set_crypto(crypto);
                }
                conn.set_handshake_reply(reply.hs.clone());
                // The connection's timestamps start now; so does its conclusion response's.
                self.replies.push_back((from, local_socket, reply, now));
                self.conns.insert(
                    id,
                    Entry {
                        conn,
                        peer: from,
                        local_socket,
                    },
                );
                self.touch(id);
                self.by_peer.insert((from, negotiated.peer_socket_id), id);
                self.stats.accepted += 1;
                self.events.push_back(EndpointEvent::Accepted {
                    id,
                    peer: from,
                    stream_id: negotiated.stream_id,
                });
            }
        }
    }

    fn poll_caller(&mut self, now: Instant, id: ConnId) {
        let Some(pending) = self.callers.get_mut(&id) else {
            return;
        };
        let Some(event) = pending.caller.poll_event() else {
            return;
        };
        let pending = self.callers.remove(&id).expect("present: just borrowed");
        match event {
            CallerEvent::Connected(negotiated) => {
                let base = match pending.last_hs_ts {
                    Some((arrival, ts)) => crate::srt::connection::tsbpd_time_base(arrival, ts),
                    None => now,
                };
                let mut cfg = self.connection_config(id, &negotiated, now, base);
                cfg.start_time = pending.start;
                cfg.delivery = self.cfg.caller_delivery;
                let mut conn = Connection::new(cfg, now);
                if let Some(crypto) = pending.crypto {
                    conn.set_crypto(crypto);
                }
                self.conns.insert(
                    id,
                    Entry {
                        conn,
                        peer: pending.peer,
                        local_socket: self.cfg.caller_socket,
                    },
                );
                self.touch(id);
                self.by_peer
                    .insert((pending.peer, negotiated.peer_socket_id), id);
                self.stats.connected += 1;
                self.events.push_back(EndpointEvent::Connected { id });
            }
            CallerEvent::Rejected(r) => self.connect_failed(id, ConnectError::Rejected(r)),
            CallerEvent::Refused(r) => self.connect_failed(id, ConnectError::Refused(r)),
            CallerEvent::TimedOut => self.connect_failed(id, ConnectError::TimedOut),
        }
    }

    fn connect_failed(&mut self, id: ConnId, reason: ConnectError) {
        self.schedule.remove(id);
        self.stats.connect_failures += 1;
        self.events
            .push_back(EndpointEvent::ConnectFailed { id, reason });
    }

    fn connection_config(
        &self,
        id: ConnId,
        n: &Negotiated,
        now: Instant,
        base: Instant,
    ) -> ConnectionConfig {
        let mut c = ConnectionConfig::new(id, n.peer_socket_id, n.isn, now);
        c.peer_time_base = base;
        c.recv_latency = n.recv_latency;
        c.send_latency = n.send_latency;
        c.mss = n.mtu as usize;
        c.peer_flow_window = n.peer_flow_window;
        c.too_late_drop = n.peer_flags.contains(HsFlags::TLPKTDROP);
        c.periodic_nak = n.peer_flags.contains(HsFlags::PERIODICNAK);
        c.recv_buffer_pkts = self.cfg.recv_buffer_pkts;
        c.send_buffer_pkts = self.cfg.send_buffer_pkts;
        // A payload must fit the negotiated MSS with IP/UDP (28) and SRT (16) headers, as
        // libsrt's m_iMaxSRTPayloadSize; larger sends are refused rather than fragmented.
        c.max_payload = self
            .cfg
            .max_payload
            .min((n.mtu as usize).saturating_sub(UDP_IP_OVERHEAD + HEADER_LEN));
        c.peer_idle_timeout = self.cfg.peer_idle_timeout;
        c.unresponsive_timeout = self.cfg.unresponsive_timeout;
        c.loss_max_ttl = self.cfg.loss_max_ttl;
        c.rexmit_overhead_pct = self.cfg.rexmit_overhead_pct;
        c
    }

    /// The earliest instant `handle_timeout` (or, for pacing and handshake resends,
    /// `poll_transmit`) has work: a peek at the deadline heap.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.settle_dirty();
        let replies = (!self.replies.is_empty()).then_some(self.start);
        match (self.schedule.next_deadline(), replies) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`: visits only the connections and callers whose deadline
    /// has come, and queues them to be asked for datagrams.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.settle_dirty();
        let mut visit = std::mem::take(&mut self.visit);
        self.schedule.take_due(now, &mut visit);
        for &id in &visit {
            self.stats.timer_visits += 1;
            if let Some(e) = self.conns.get_mut(&id) {
                // A deadline registered earlier than the connection's current one (it moved
                // later since) is a visit with nothing to run.
                if e.conn.poll_timeout().is_some_and(|t| t <= now) {
                    e.conn.handle_timeout(now);
                }
                settle(
                    id,
                    &mut e.conn,
                    &mut self.closed,
                    &mut self.schedule,
                    self.coalesce,
                );
                self.schedule.mark_ready(id);
            } else if let Some(p) = self.callers.get_mut(&id) {
                if p.caller.poll_timeout().is_some_and(|t| t <= now) {
                    p.caller.handle_timeout(now);
                }
                self.poll_caller(now, id);
                self.touch(id);
            }
        }
        visit.clear();
        self.visit = visit;
    }

    /// Writes the next datagram into `buf`: handshake replies first, then the queue of
    /// callers and connections that may have something to send, each drained before the next.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((to, local_socket, t, origin)) = self.replies.pop_front() {
            return self.emit_handshake(now, origin, to, local_socket, t, buf);
        }
        // Pacing gaps and handshake resends end at a deadline, without any input.
        self.schedule.promote_due(now);
        while let Some(id) = self.schedule.front_ready() {
            if let Some(p) = self.callers.get_mut(&id) {
                if let Some(t) = p.caller.poll_transmit(now) {
                    let (to, origin) = (p.peer, p.start);
                    self.schedule.mark_dirty(id);
                    let sock = self.cfg.caller_socket;
                    return self.emit_handshake(now, origin, to, sock, t, buf);
                }
                self.schedule.pop_ready();
                self.poll_caller(now, id); // poll_transmit may have timed it out: report it now
                self.touch_deadline(id);
                continue;
            }
            if let Some(e) = self.conns.get_mut(&id) {
                if let Some(len) = e.conn.poll_transmit(now, buf) {
                    self.stats.datagrams_out += 1;
                    // Sending moves pacing and keepalive deadlines and may end a closing
                    // connection: read again once it is drained or the driver asks.
                    self.schedule.mark_dirty(id);
                    return Some(Transmit {
                        to: e.peer,
                        len,
                        local_socket: e.local_socket,
                    });
                }
                self.schedule.pop_ready();
                // Nothing to send changes nothing: read it again only if something did.
                if self.schedule.take_dirty_one(id) {
                    settle(
                        id,
                        &mut e.conn,
                        &mut self.closed,
                        &mut self.schedule,
                        self.coalesce,
                    );
                }
                continue;
            }
            self.schedule.pop_ready();
        }
        None
    }

    /// The next event; closed connections are removed here.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.settle_dirty();
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let (id, reason) = self.closed.pop_front()?;
        if reason == CloseReason::Unresponsive {
            self.stats.closed_unresponsive += 1;
        }
        let entry = self.conns.remove(&id)?;
        self.schedule.remove(id);
        self.by_peer
            .remove(&(entry.peer, entry.conn.peer_socket_id()));
        // The table holds connections inline (~1.5 KB each) and never shrinks by itself: after
        // a crowd leaves, give the room back (halving, so a steady churn never rehashes).
        if self.conns.capacity() > 4 * self.conns.len().max(64) {
            self.conns.shrink_to(2 * self.conns.len().max(64));
            self.by_peer.shrink_to(2 * self.by_peer.len().max(64));
        }
        Some(EndpointEvent::Closed {
            id,
            reason,
            stats: Box::new(entry.conn.stats()),
        })
    }

    /// After anything that may have changed `id`'s deadline, queue or state: register its
    /// deadline, collect its close, and queue it to be asked for datagrams.
    fn touch(&mut self, id: ConnId) {
        if self.touch_deadline(id) {
            self.schedule.mark_ready(id);
        }
    }

    /// Whether `id` is still a connection or caller (a failed caller is gone).
    fn touch_deadline(&mut self, id: ConnId) -> bool {
        if let Some(e) = self.conns.get_mut(&id) {
            settle(
                id,
                &mut e.conn,
                &mut self.closed,
                &mut self.schedule,
                self.coalesce,
            );
        } else if let Some(p) = self.callers.get(&id) {
            self.schedule.set_deadline(id, p.caller.poll_timeout());
        } else {
            return false;
        }
        true
    }

    /// Reads again the connections changed behind the endpoint's back.
    fn settle_dirty(&mut self) {
        let mut visit = std::mem::take(&mut self.visit);
        self.schedule.take_dirty(&mut visit);
        for &id in &visit {
            self.touch_deadline(id);
        }
        visit.clear();
        self.visit = visit;
    }

    fn emit_handshake(
        &mut self,
        now: Instant,
        origin: Instant,
        to: SocketAddr,
        local_socket: usize,
        t: HandshakeReply,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let us = now.saturating_duration_since(origin).as_micros() as u32;
        let pkt = ControlPacket {
            timestamp: Timestamp::from_micros(us),
            dest_socket_id: t.dest_socket_id,
            body: Control::Handshake(t.hs),
        };
        match pkt.emit(buf) {
            Ok(len) => {
                self.stats.datagrams_out += 1;
                Some(Transmit {
                    to,
                    len,
                    local_socket,
                })
            }
            Err(_) => None,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: socket ids and ISNs only need to be unpredictable-ish and distinct.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn alloc_socket_id(&mut self) -> ConnId {
        loop {
            // libsrt socket ids are 31-bit positive numbers.
            let (index, count) = self.cfg.id_space;
            let count = count.max(1);
            let id = (self.next_random() >> 33) as u32;
            let id = id - id % count + index % count;
            if id != 0 && !self.conns.contains_key(&id) && !self.callers.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Registers `conn`'s current deadline and moves a `Closed` it reported to `closed` (a free
/// function so `handle_datagram` can call it while it keeps the connection borrowed).
fn settle(
    id: ConnId,
    conn: &mut Connection,
    closed: &mut VecDeque<(ConnId, CloseReason)>,
    schedule: &mut Schedule,
    coalesce: Coalesce,
) {
    while let Some(crate::srt::connection::Event::Closed(reason)) = conn.poll_event() {
        closed.push_back((id, reason));
    }
    schedule.set_deadline(id, coalesce.deadline(conn));
}

/// A generator for one connection's keys, drawn from the endpoint's (so connections share no
/// state); `None` when the driver never seeded it.
fn fork_key_rng(key_rng: &mut Option<KeyRng>) -> Option<KeyRng> {
    match key_rng {
        Some(rng) => {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            Some(KeyRng::from_seed(seed))
        }
        None => {
            log::error!("encryption needs Endpoint::set_crypto_seed; refusing the connection");
            None
        }
    }
}
