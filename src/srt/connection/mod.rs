//! One established SRT connection in live mode, both directions, sans-IO.
//!
//! Owns: the send and receive buffers, loss lists, ACK/NAK/ACKACK, RTT, TSBPD, too-late drop,
//! pacing, keepalive, idle timeout, shutdown and statistics. Must not: touch sockets, read the
//! clock, or know about streams and subscribers.
//!
//! Drive it like quinn-proto's `Connection`: feed datagrams with [`Connection::handle_packet`],
//! call [`Connection::handle_timeout`] when [`Connection::poll_timeout`] passes, then drain
//! [`Connection::poll_transmit`] (datagrams to send), [`Connection::recv`] (payloads due for
//! delivery) and [`Connection::poll_event`].

mod cc;
mod loss;
mod receiver;
mod recv_buffer;
mod rtt;
mod send_buffer;
mod sender;
mod stats;
mod timers;
mod tsbpd;

pub use cc::{DEFAULT_REXMIT_OVERHEAD_PCT, MaxBandwidth};
pub use loss::LossRanges;
pub use recv_buffer::Release;
pub use send_buffer::PushAtError;
pub use stats::Stats;

/// The peer's timestamp origin on our clock, from a handshake that arrived at `arrival` with
/// header timestamp `ts` (libsrt: peer start time = arrival - timestamp).
pub fn tsbpd_time_base(arrival: Instant, ts: Timestamp) -> Instant {
    TsbpdClock::base_from_handshake(arrival, ts)
}

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use self::cc::{LiveCc, RexmitBudget};
use self::recv_buffer::RecvBuffer;
use self::rtt::RttEstimator;
use self::send_buffer::SendBuffer;
use self::timers::{Timer, TimerTable};
use self::tsbpd::TsbpdClock;
use crate::buf::Payload;
use crate::srt::crypto::{Crypto, KmPacket};
use crate::srt::packet::{
    Control, ControlPacket, DataPacket, DropRequest, EmitError, EncryptionKey, HEADER_LEN,
    Handshake, HandshakeType, Packet, ParseError,
};
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

/// IPv4 + UDP header bytes: the SRT packet must fit the MTU with them.
pub const UDP_IP_OVERHEAD: usize = 28;
/// Full ACK period (draft §4.8.1, libsrt COMM_SYN_INTERVAL).
pub const ACK_INTERVAL: Duration = Duration::from_millis(10);
/// A light ACK every this many received packets (draft §4.8.1).
pub const LIGHT_ACK_PACKETS: u32 = 64;
/// Keepalive after this long without sending (libsrt COMM_KEEPALIVE_PERIOD_US).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);

/// How received payloads reach the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Held and released in order at their TSBPD times through [`Connection::recv`].
    #[default]
    Tsbpd,
    /// Handed over the moment they first arrive, in arrival order, through the [`Arrival`]
    /// returned by [`Connection::handle_packet`]; nothing is copied into the receive buffer,
    /// which only tracks what arrived (for ACK, NAK and duplicates) and is released at TSBPD
    /// time. For a relay's publisher leg: late and retransmitted packets are passed on when
    /// they come, and the subscriber's own receiver puts them in order.
    CutThrough,
}

/// A data packet seen for the first time (not a duplicate, not too late).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub seq: SeqNo,
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    /// When the peer sent it, on our clock (TSBPD time base + timestamp + drift): carry it to
    /// subscribers so their TSBPD reproduces the source pacing.
    pub origin: Instant,
}

/// How long past the latency a draining connection waits for its reader.
const DRAIN_SLACK: Duration = Duration::from_millis(100);

/// Everything a connection needs, usually filled from the handshake's negotiated values.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    pub local_socket_id: u32,
    pub peer_socket_id: u32,
    /// Initial sequence number, the same in both directions in HSv5.
    pub isn: SeqNo,
    /// Origin of our packet timestamps.
    pub start_time: Instant,
    /// The peer's timestamp origin on our clock (handshake arrival minus its timestamp).
    pub peer_time_base: Instant,
    /// TSBPD delay for what we receive.
    pub recv_latency: Duration,
    /// TSBPD delay the peer's receiver applies to what we send (drives sender drop).
    pub send_latency: Duration,
    /// Maximum packet size on the wire including IP/UDP headers (SRTO_MSS, 1500).
    pub mss: usize,
    /// Largest payload the application may send (SRTO_PAYLOADSIZE, 1316 in live mode).
    pub max_payload: usize,
    pub recv_buffer_pkts: usize,
    pub send_buffer_pkts: usize,
    /// The peer's flow window from its handshake.
    pub peer_flow_window: u32,
    /// TLPKTDROP negotiated: drop packets that cannot arrive in time on both sides.
    pub too_late_drop: bool,
    /// Periodic NAK reports negotiated.
    pub periodic_nak: bool,
    pub peer_idle_timeout: Duration,
    /// Close the connection when data we sent has gone this long without any ACK from the
    /// peer (`None`: never). See [`CloseReason::Unresponsive`].
    pub unresponsive_timeout: Option<Duration>,
    pub max_bw: MaxBandwidth,
    /// Retransmissions may add at most this percentage of what is queued for sending
    /// (libsrt SRTO_OHEADBW's default, 25), with a floor for low rates and bursts.
    pub rexmit_overhead_pct: u32,
    /// Reorder tolerance ceiling in packets (SRTO_LOSSMAXTTL; 0, libsrt's default, NAKs a gap
    /// at once). When packets are seen arriving out of order, gaps wait for up to this many
    /// further packets before being NAKed.
    pub loss_max_ttl: u32,
    pub delivery: Delivery,
}

impl ConnectionConfig {
    /// Defaults from libsrt's live mode (docs/API/API-socket-options.md).
    pub fn new(local_socket_id: u32, peer_socket_id: u32, isn: SeqNo, now: Instant) -> Self {
        ConnectionConfig {
            local_socket_id,
            peer_socket_id,
            isn,
            start_time: now,
            peer_time_base: now,
            recv_latency: Duration::from_millis(120),
            send_latency: Duration::from_millis(120),
            mss: 1500,
            max_payload: 1316,
            recv_buffer_pkts: 8192,
            send_buffer_pkts: 8192,
            peer_flow_window: 25600,
            too_late_drop: true,
            periodic_nak: true,
            peer_idle_timeout: Duration::from_secs(5),
            unresponsive_timeout: None,
            max_bw: MaxBandwidth::default(),
            rexmit_overhead_pct: DEFAULT_REXMIT_OVERHEAD_PCT,
            loss_max_ttl: 0,
            delivery: Delivery::Tsbpd,
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("closed locally")]
    Local,
    #[error("peer sent SHUTDOWN")]
    PeerShutdown,
    #[error("peer idle for longer than the timeout")]
    IdleTimeout,
    /// The peer kept the connection up (keepalives) but sent no ACK for the unresponsive
    /// timeout while data we sent waited for one. libsrt has no such rule: there any packet,
    /// keepalives included, resets the peer idle timeout, so a receiver that never ACKs keeps
    /// its slot and keeps being sent the stream (a send buffer's worth held for it) for as long
    /// as it sends keepalives. A peer that was sent nothing is never unresponsive: it had
    /// nothing to acknowledge.
    #[error("peer acknowledged no data for longer than the unresponsive timeout")]
    Unresponsive,
    #[error("peer reported error {0}")]
    PeerError(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Closed(CloseReason),
}

/// Why `send` refused a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("payload of {len} bytes exceeds the maximum of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("send buffer full")]
    BufferFull,
    #[error("connection closed")]
    Closed,
    #[error("cannot place the packet: {0}")]
    Position(#[from] PushAtError),
}

/// A payload released by [`Connection::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub seq: SeqNo,
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// SHUTDOWN queued; closed once it is written.
    Closing(CloseReason),
    /// The peer left; what it sent is still played out at its TSBPD times until the deadline,
    /// then closed (whether or not the application read it).
    Draining(CloseReason, Instant),
    Closed(CloseReason),
}

/// What is queued to go out on the next `poll_transmit`, besides data.
#[derive(Debug, Default)]
struct Pending {
    handshake: bool,
    ackacks: VecDeque<u32>,
    full_ack: bool,
    light_ack: bool,
    nak: LossRanges,
    periodic_nak: bool,
    drop_requests: VecDeque<DropRequest>,
    keepalive: bool,
}

pub struct Connection {
    cfg: ConnectionConfig,
    state: State,
    timers: TimerTable,
    rtt: RttEstimator,
    stats: Stats,
    pending: Pending,
    events: VecDeque<Event>,
    /// Our reply to the peer's conclusion, resent if the peer repeats it.
    handshake_reply: Option<Handshake>,
    last_sent: Instant,
    rcv: receiver::Receiver,
    snd: sender::Sender,
    /// Encryption state; `None` on a clear connection, which then pays nothing for it.
    crypto: Option<Box<Crypto>>,
}

impl Connection {
    pub fn new(cfg: ConnectionConfig, now: Instant) -> Self {
        let rcv = receiver::Receiver {
            buf: RecvBuffer::new(cfg.isn, cfg.recv_buffer_pkts),
            loss: LossRanges::new(),
            clock: TsbpdClock::new(cfg.peer_time_base, cfg.recv_latency),
            next_ack_no: 1,
            ack_history: VecDeque::new(),
            last_full_ack: None,
            last_ackacked: cfg.isn,
            since_light_ack: 0,
            rate: receiver::RecvRate::new(now),
            fresh_loss: VecDeque::new(),
            arrivals: 0,
            reorder_tolerance: 0,
        };
        let snd = sender::Sender {
            buf: SendBuffer::new(cfg.isn, cfg.send_buffer_pkts),
            rexmit: LossRanges::new(),
            next_msg_no: MsgNo::new(1),
            peer_avail_buf: cfg.peer_flow_window,
            cc: LiveCc::new(now, cfg.max_bw),
            budget: RexmitBudget::new(now, cfg.rexmit_overhead_pct),
            cap_warned_at: None,
            capped_since_warning: 0,
        };
        let mut timers = TimerTable::default();
        timers.set(Timer::Ack, now + ACK_INTERVAL);
        timers.set(Timer::KeepAlive, now + KEEPALIVE_INTERVAL);
        timers.set(Timer::Idle, now + cfg.peer_idle_timeout);
        timers.set(Timer::RateSample, now + Duration::from_millis(500));
        let rtt = RttEstimator::default();
        if cfg.periodic_nak {
            timers.set(Timer::Nak, now + rtt.nak_interval());
        }
        Connection {
            cfg,
            state: State::Open,
            timers,
            rtt,
            stats: Stats::default(),
            pending: Pending::default(),
            events: VecDeque::new(),
            handshake_reply: None,
            last_sent: now,
            rcv,
            snd,
            crypto: None,
        }
    }

    /// Encrypts what this connection sends and decrypts what it receives from now on (set
    /// by the endpoint from the handshake's key exchange, before any data).
    pub fn set_crypto(&mut self, crypto: Box<Crypto>) {
        self.crypto = Some(crypto);
    }

    pub fn crypto(&self) -> Option<&Crypto> {
        self.crypto.as_deref()
    }

    pub fn config(&self) -> &ConnectionConfig {
        &self.cfg
    }

    pub fn local_socket_id(&self) -> u32 {
        self.cfg.local_socket_id
    }

    pub fn peer_socket_id(&self) -> u32 {
        self.cfg.peer_socket_id
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Remembers the handshake we answered the peer's conclusion with; a repeated conclusion
    /// (our reply was lost) gets it again.
    pub fn set_handshake_reply(&mut self, reply: Handshake) {
        self.handshake_reply = Some(reply);
    }

    /// A snapshot of the statistics with gauges filled in.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.ms_rtt = f64::from(self.rtt.rtt_us()) / 1000.0;
        s.ms_rtt_var = f64::from(self.rtt.rtt_var_us()) / 1000.0;
        s.pkt_snd_buf = self.snd.buf.len() as u64;
        s.ms_snd_buf = u64::from(self.snd.buf.span_us()) / 1000;
        s.pkt_rcv_buf = self.rcv.buf.occupied() as u64;
        s.ms_rcv_buf = self.rcv.buf.span_us() / 1000;
        s.pkt_flow_window = u64::from(self.snd.peer_avail_buf);
        s.ms_rcv_tsbpd_delay = self.cfg.recv_latency.as_millis() as u64;
        s.ms_snd_tsbpd_delay = self.cfg.send_latency.as_millis() as u64;
        s.mbps_input_bw = match self.snd.cc.input_bw() {
            // A leg that only receives data (a relay's publisher) has no sending input: its
            // input is what arrives, the receive rate of the last closed window.
            0 => f64::from(self.rcv.rate.bytes_per_s) * 8.0 / 1_000_000.0,
            bw => bw as f64 * 8.0 / 1_000_000.0,
        };
        if let Some(c) = self.crypto.as_deref() {
            s.km_refresh_sent = c.refreshes_sent;
            s.km_refresh_recv = c.refreshes_recv;
        }
        s.mbps_max_bw = match self.snd.cc.period().as_nanos() {
            0 => 0.0,
            ns => 1360.0 * 8.0 * 1000.0 / ns as f64,
        };
        s
    }

    pub fn rtt(&self) -> Duration {
        self.rtt.rtt()
    }

    /// Heap bytes held by the buffers that grow with traffic (send and receive buffers, loss
    /// lists, pending NAKs), for tests and memory accounting. The fixed part is
    /// `size_of::<Connection>()` plus the crypto state of an encrypted connection.
    pub fn buffer_heap_bytes(&self) -> usize {
        self.snd.buf.heap_bytes()
            + self.rcv.buf.heap_bytes()
            + self.snd.rexmit.heap_bytes()
            + self.rcv.loss.heap_bytes()
            + self.pending.nak.heap_bytes()
    }

    /// Data went out: unless a wait for its ACK is already running, start one.
    fn arm_unresponsive(&mut self, now: Instant) {
        if let Some(timeout) = self.cfg.unresponsive_timeout
            && self.timers.get(Timer::Unresponsive).is_none()
        {
            self.timers.set(Timer::Unresponsive, now + timeout);
        }
    }

    /// Once a second: hands back buffer memory the last period did not need (see
    /// `SendBuffer::trim`, `RecvBuffer::trim`), so a burst does not pin memory for the rest of
    /// the connection's life.
    fn trim_memory(&mut self) {
        self.snd.buf.trim();
        self.rcv.buf.trim();
        self.snd.rexmit.shrink();
        self.rcv.loss.shrink();
        self.pending.nak.shrink();
    }

    /// The RTT estimate once a measurement fed it (an ACKACK, or a peer's measured estimate);
    /// `None` while it is still libsrt's initial 100 ms.
    pub fn measured_rtt(&self) -> Option<Duration> {
        self.rtt.is_measured().then(|| self.rtt.rtt())
    }

    /// Feeds one parsed packet addressed to this connection. A data packet seen for the first
    /// time is reported as an [`Arrival`] (in cut-through mode, that is how its payload, still
    /// in `packet`, reaches the application).
    pub fn handle_packet(&mut self, now: Instant, packet: &Packet<'_>) -> Option<Arrival> {
        if !matches!(self.state, State::Open | State::Closing(_)) {
            return None;
        }
        self.timers
            .set(Timer::Idle, now + self.cfg.peer_idle_timeout);
        // Only these inputs can give a parked ACK timer work (they move the ACK position or
        // the last confirmed ACK), and only data a parked NAK timer (losses): a keepalive
        // leaves both asleep. Resumed with the period in force before this packet changes
        // the RTT.
        let (ack_work, nak_work) = match packet {
            Packet::Data(_) => (true, true),
            Packet::Control(c) => (
                matches!(c.body, Control::DropRequest(_) | Control::AckAck { .. }),
                false,
            ),
        };
        if ack_work {
            self.timers.resume(Timer::Ack, now, ACK_INTERVAL);
        }
        if nak_work && self.cfg.periodic_nak {
            self.timers.resume(Timer::Nak, now, self.rtt.nak_interval());
        }
        match packet {
            Packet::Data(data) => self.on_data(now, data),
            Packet::Control(ctrl) => {
                self.on_control(now, ctrl);
                None
            }
        }
    }

    /// [`Connection::handle_packet`], also returning a fresh data packet's payload in clear:
    /// the packet's own bytes, or on an encrypted connection the decrypted copy the connection
    /// holds until the next packet. Cut-through delivery hands data over this way.
    pub fn handle_packet_payload<'a>(
        &'a mut self,
        now: Instant,
        packet: &Packet<'a>,
    ) -> Option<(Arrival, &'a [u8])> {
        let arrival = self.handle_packet(now, packet)?;
        Some((arrival, self.payload_in_clear(packet)?))
    }

    /// The clear payload of the data packet `handle_packet` just reported as an arrival: its
    /// own bytes, or the decrypted copy this connection holds until the next packet. Split
    /// from `handle_packet_payload` for callers that must look at the connection in between
    /// (the endpoint reads the new deadline before lending the payload out).
    pub fn payload_in_clear<'a>(&'a self, packet: &Packet<'a>) -> Option<&'a [u8]> {
        let Packet::Data(data) = packet else {
            return None;
        };
        Some(match (data.key, self.crypto.as_deref()) {
            (EncryptionKey::None, _) | (_, None) => data.payload,
            (_, Some(crypto)) => crypto.last_decrypted(),
        })
    }

    /// Parses and feeds one datagram.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), ParseError> {
        let packet = Packet::parse(datagram)?;
        let _ = self.handle_packet(now, &packet);
        Ok(())
    }

    /// Queues one live-mode message stamped with the current time.
    pub fn send(&mut self, now: Instant, payload: &[u8]) -> Result<SeqNo, SendError> {
        self.send_with_origin(now, now, payload)
    }

    /// Queues one message whose source time is `origin` (a relay passes the publisher's
    /// packet time so the subscriber's TSBPD reproduces the source pacing).
    pub fn send_with_origin(
        &mut self,
        now: Instant,
        origin: Instant,
        payload: &[u8],
    ) -> Result<SeqNo, SendError> {
        if !matches!(self.state, State::Open) {
            return Err(SendError::Closed);
        }
        if payload.len() > self.cfg.max_payload {
            return Err(SendError::TooLarge {
                len: payload.len(),
                max: self.cfg.max_payload,
            });
        }
        let ts = self.timestamp_at(origin);
        let msg_no = self.snd.next_msg_no;
        let Some(seq) = self.snd.buf.push(msg_no, ts, origin, payload) else {
            self.stats.pkt_snd_overflow += 1;
            return Err(SendError::BufferFull);
        };
        self.snd.next_msg_no = msg_no.next();
        self.snd.cc.on_app_packet(now, payload.len());
        self.snd.budget.on_app_packet(payload.len());
        self.arm_snd_drop();
        Ok(seq)
    }

    /// Places one message at sequence number `seq` instead of the next one: a relay's
    /// subscriber leg maps each publisher packet to `publisher seq + offset`, so a packet that
    /// reaches the relay late fills the hole left for it and the subscriber's receiver restores
    /// the order. Skipped numbers stay holes until filled; holes are never sent and are dropped
    /// with DROPREQ like any packet that grows too old. Do not mix with [`Connection::send`].
    ///
    /// The payload is a shared handle (the relay ring's): the send buffer keeps it, and the
    /// bytes are copied only into the datagram `poll_transmit` writes, or once into a buffer
    /// of the connection's own when it encrypts.
    pub fn send_at(
        &mut self,
        seq: SeqNo,
        origin: Instant,
        payload: Payload,
    ) -> Result<(), SendError> {
        if !matches!(self.state, State::Open) {
            return Err(SendError::Closed);
        }
        if payload.len() > self.cfg.max_payload {
            return Err(SendError::TooLarge {
                len: payload.len(),
                max: self.cfg.max_payload,
            });
        }
        let ts = self.timestamp_at(origin);
        // Live mode sends one packet per message; any non-zero number will do.
        let msg_no = MsgNo::new(seq.value().max(1));
        let len = payload.len();
        if let Err(e) = self.snd.buf.push_at(seq, msg_no, ts, origin, payload) {
            if e == PushAtError::TooFarAhead {
                self.stats.pkt_snd_overflow += 1;
            }
            return Err(e.into());
        }
        // `origin` is the publisher's arrival time: close enough to now for the rate window.
        self.snd.cc.on_app_packet(origin, len);
        self.snd.budget.on_app_packet(len);
        self.arm_snd_drop();
        Ok(())
    }

    /// The sequence number the next `send` would use; before anything is sent, the ISN (where
    /// a relay starts mapping publisher positions for `send_at`).
    pub fn next_send_seq(&self) -> SeqNo {
        self.snd.buf.next_seq()
    }

    /// Pops the next payload due for delivery at `now` into `out`.
    pub fn recv(&mut self, now: Instant, out: &mut [u8]) -> Option<Delivered> {
        if self.cfg.delivery == Delivery::CutThrough {
            return None;
        }
        let draining = match self.state {
            State::Draining(reason, _) => Some(reason),
            _ => None,
        };
        let delivered = self.recv_ready(now, out, draining.is_some());
        if let Some(reason) = draining
            && self.rcv.buf.occupied() == 0
        {
            self.finish(reason);
        }
        delivered
    }

    /// Starts a graceful close: a SHUTDOWN is sent on the next `poll_transmit`.
    pub fn close(&mut self) {
        if matches!(self.state, State::Open) {
            self.state = State::Closing(CloseReason::Local);
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest time `handle_timeout` or (for pacing) `poll_transmit` has work to do.
    /// Delivery to the application is separate: see [`Connection::next_delivery_time`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (fine, coarse) = self.poll_timeouts();
        earliest(fine, coarse)
    }

    /// [`Connection::poll_timeout`] split in two: `fine`, everything whose timing a peer sees
    /// (ACK, NAK, pacing, drops, key refresh, the end of draining), and `coarse`, the
    /// seconds-scale timers (`Timer::is_coarse`: keepalive, idle, unresponsive, rate sample),
    /// which a driver may serve a little late to share one wake-up among many connections.
    pub fn poll_timeouts(&self) -> (Option<Instant>, Option<Instant>) {
        match self.state {
            State::Closed(_) => return (None, None),
            State::Draining(_, deadline) => return (Some(deadline), None),
            State::Open | State::Closing(_) => {}
        }
        let (mut next, coarse) = self.timers.next_deadlines();
        if self.cfg.delivery == Delivery::CutThrough {
            // The receive buffer's bookkeeping is released at TSBPD time in handle_timeout.
            next = earliest(next, self.rcv.next_release_time(self.cfg.too_late_drop));
        }
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        if self.snd.has_data_to_send(self.cfg.peer_flow_window) {
            consider(Some(self.snd.cc.next_send_time().unwrap_or(self.last_sent)));
        }
        if let Some(c) = self.crypto.as_deref() {
            consider(c.next_km_time(self.rtt.rtt(), self.last_sent));
        }
        (next, coarse)
    }

    /// When `recv` will next return something (TSBPD), if anything is buffered. Always
    /// `None` in cut-through mode.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        if self.cfg.delivery == Delivery::CutThrough {
            return None;
        }
        match self.state {
            State::Closed(_) => None,
            State::Draining(..) => self.rcv.next_release_time(true),
            State::Open | State::Closing(_) => self.rcv.next_release_time(self.cfg.too_late_drop),
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Open | State::Closing(_) => {}
            State::Draining(reason, deadline) if deadline <= now => {
                self.finish(reason);
                return;
            }
            State::Draining(..) | State::Closed(_) => return,
        }
        if self.cfg.delivery == Delivery::CutThrough {
            self.release_cut_through(now);
        }
        // Walk the table rather than collect what is due: no allocation per wake-up.
        for timer in timers::ALL {
            if !self.timers.is_expired(timer, now) {
                continue;
            }
            match timer {
                Timer::Ack => {
                    self.on_ack_timer(now);
                    if self.ack_settled() {
                        self.timers.park(Timer::Ack, now);
                    } else {
                        self.timers.set(Timer::Ack, now + ACK_INTERVAL);
                    }
                }
                Timer::Nak => {
                    let held_since = now.checked_sub(self.rtt.nak_interval());
                    if held_since.is_some() {
                        receiver::release_fresh_losses(
                            &mut self.rcv,
                            &mut self.pending.nak,
                            held_since,
                        );
                    }
                    if !self.rcv.loss.is_empty() {
                        self.pending.periodic_nak = true;
                    }
                    if self.rcv.loss.is_empty() && self.rcv.fresh_loss.is_empty() {
                        // Losses come only with input, which resumes the timer.
                        self.timers.park(Timer::Nak, now);
                    } else {
                        self.timers.set(Timer::Nak, now + self.rtt.nak_interval());
                    }
                }
                Timer::KeepAlive => {
                    if now.saturating_duration_since(self.last_sent) >= KEEPALIVE_INTERVAL {
                        self.pending.keepalive = true;
                        self.timers.set(Timer::KeepAlive, now + KEEPALIVE_INTERVAL);
                    } else {
                        self.timers
                            .set(Timer::KeepAlive, self.last_sent + KEEPALIVE_INTERVAL);
                    }
                }
                Timer::Idle => {
                    self.finish(CloseReason::IdleTimeout);
                    return;
                }
                Timer::Unresponsive => {
                    self.timers.stop(Timer::Unresponsive);
                    if self.state == State::Open {
                        // The peer is alive (it keeps the idle timer fed): SHUTDOWN tells it.
                        self.state = State::Closing(CloseReason::Unresponsive);
                        return;
                    }
                }
                Timer::SndDrop => self.on_snd_drop_timer(now),
                Timer::RateSample => {
                    let next = self.snd.cc.on_rate_sample(now);
                    self.snd.budget.on_input_rate(now, self.snd.cc.input_bw());
                    self.rcv.rate.roll(now);
                    self.timers.set(Timer::RateSample, next);
                    self.trim_memory();
                }
            }
        }
    }

    /// Writes the next datagram to send at `now` into `buf` (at least `mss - 28` bytes) and
    /// returns its length. Control packets go first, then retransmissions, then new data as
    /// pacing allows.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self.state {
            State::Closed(_) | State::Draining(..) => return None,
            State::Closing(reason) => {
                let n = self.emit_control(now, Control::Shutdown, buf);
                self.finish(reason);
                return n;
            }
            State::Open => {}
        }
        let n = self.poll_control(now, buf).or_else(|| {
            let sent = self.stats.pkt_sent;
            let n = self.poll_data(now, buf);
            if self.stats.pkt_sent != sent {
                self.arm_unresponsive(now);
            }
            n
        });
        if n.is_some() {
            self.last_sent = now;
        }
        n
    }

    fn poll_control(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if std::mem::take(&mut self.pending.handshake)
            && let Some(reply) = self.handshake_reply.clone()
        {
            return self.emit_control(now, Control::Handshake(reply), buf);
        }
        if let Some(ack_no) = self.pending.ackacks.pop_front() {
            self.stats.pkt_sent_ackack += 1;
            return self.emit_control(now, Control::AckAck { ack_no }, buf);
        }
        if let Some(n) = self.poll_ack(now, buf) {
            return Some(n);
        }
        if let Some(n) = self.poll_nak(now, buf) {
            return Some(n);
        }
        if let Some(req) = self.pending.drop_requests.pop_front() {
            return self.emit_control(now, Control::DropRequest(req), buf);
        }
        if let Some(km) = self
            .crypto
            .as_deref_mut()
            .and_then(|c| c.poll_km(now, self.rtt.rtt()))
        {
            // draft §3.2.2: KMREQ/KMRSP in band are user-defined control packets (0x7FFF)
            // with subtype 3/4; the KM goes as is, not word-swapped (libsrt pre-swaps it).
            let body = Control::UserDefined {
                subtype: km.subtype(),
                type_specific: 0,
                data: km.bytes(),
            };
            return self.emit_control(now, body, buf);
        }
        if std::mem::take(&mut self.pending.keepalive) {
            return self.emit_control(now, Control::KeepAlive, buf);
        }
        None
    }

    /// Emits a control packet addressed to the peer; counts it.
    fn emit_control(&mut self, now: Instant, body: Control<'_>, buf: &mut [u8]) -> Option<usize> {
        let pkt = ControlPacket {
            timestamp: self.timestamp_at(now),
            dest_socket_id: self.cfg.peer_socket_id,
            body,
        };
        match pkt.emit(buf) {
            Ok(n) => {
                self.stats.pkt_sent_ctrl += 1;
                self.stats.byte_sent_ctrl += n as u64;
                Some(n)
            }
            Err(EmitError::BufferTooSmall { .. } | EmitError::FieldOverflow(_)) => {
                debug_assert!(false, "control packet did not fit the transmit buffer");
                None
            }
        }
    }

    fn on_control(&mut self, now: Instant, ctrl: &ControlPacket<'_>) {
        self.stats.pkt_recv_ctrl += 1;
        match &ctrl.body {
            Control::Ack(ack) => {
                // Any ACK shows a live receiver; the next data sent starts a new wait.
                self.timers.stop(Timer::Unresponsive);
                self.on_ack(now, ack);
            }
            Control::Nak(list) => self.on_nak(now, list),
            Control::AckAck { ack_no } => self.on_ackack(now, *ack_no, ctrl.timestamp),
            Control::DropRequest(req) => self.on_drop_request(req),
            Control::Shutdown => {
                // Cut-through already handed everything over: nothing is left to play out.
                if self.rcv.buf.occupied() == 0 || self.cfg.delivery == Delivery::CutThrough {
                    self.finish(CloseReason::PeerShutdown);
                } else {
                    // Everything buffered is due within the latency (plus drift).
                    let deadline = now + self.cfg.recv_latency + DRAIN_SLACK;
                    self.state = State::Draining(CloseReason::PeerShutdown, deadline);
                }
            }
            Control::PeerError { code } => self.finish(CloseReason::PeerError(*code)),
            Control::Handshake(hs) => {
                // A repeated conclusion means our reply was lost: answer the same way.
                if hs.kind == HandshakeType::Conclusion && self.handshake_reply.is_some() {
                    self.pending.handshake = true;
                }
            }
            Control::UserDefined { subtype, data, .. } => {
                match (*subtype, self.crypto.as_deref_mut()) {
                    (KmPacket::KMREQ, Some(c)) => c.on_kmreq(data),
                    (KmPacket::KMRSP, Some(c)) => c.on_kmrsp(data),
                    // A clear connection has no key to take: libsrt without a passphrase answers
                    // NOSECRET unless encryption is enforced, which it is by default; we stay
                    // silent, as that default does.
                    _ => {}
                }
            }
            Control::KeepAlive | Control::CongestionWarning => {}
        }
    }

    fn finish(&mut self, reason: CloseReason) {
        if !self.is_closed() {
            self.state = State::Closed(reason);
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// Our timestamp for an event at `t`: microseconds since our start, wrapping.
    fn timestamp_at(&self, t: Instant) -> Timestamp {
        let us = t.saturating_duration_since(self.cfg.start_time).as_micros();
        Timestamp::from_micros(us as u32)
    }

    /// Largest SRT packet we may emit.
    fn max_packet_len(&self) -> usize {
        self.cfg
            .mss
            .saturating_sub(UDP_IP_OVERHEAD)
            .max(HEADER_LEN + 4)
    }
}

fn emit_data(pkt: &DataPacket<'_>, buf: &mut [u8]) -> Option<usize> {
    match pkt.emit(buf) {
        Ok(n) => Some(n),
        Err(_) => {
            debug_assert!(false, "data packet did not fit the transmit buffer");
            None
        }
    }
}

#[cfg(test)]
mod rexmit_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod memory_tests;

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
