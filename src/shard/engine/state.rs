//! Everything one shard owns, and what it does on each kind of wake-up: datagrams in, handoffs
//! in, a timer tick, a control message, shutdown. Every path ends in `transmit`, which drains
//! the endpoint into the send batches and flushes them with one `sendmmsg` each.
//!
//! Single-threaded by construction (one executor), shared between the shard's tasks through
//! `Rc<RefCell<_>>`; no borrow is held across an `.await`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use glommio::channels::shared_channel::ConnectedSender;
use log::{debug, info, warn};

use crate::access::SessionStore;
use crate::legs::ShardLegs;
use crate::legs::hls::HlsLegs;
use crate::legs::http::admission as http_admission;
use crate::legs::http::ts_player::TsPlayer;
use crate::legs::http::{Departures, HttpLegs, PlayerRef};
use crate::legs::ingest::{self as ingest_legs, IngestLegs, IngestRef};
use crate::legs::srt::admission::{Admission, GrantKind};
use crate::legs::srt::encryption::EncryptionRules;
use crate::legs::srt::{leg, serial};
use crate::playback::board::ShardStreamInfo;
use crate::playback::{PlaybackShared, Refused};
use crate::relay::fanout::{Outgoing, Role, ShardStreams};
use crate::relay::handoff::Handoff;
use crate::relay::leg::ReadOrder;
use crate::relay::leg::{LegId, LegKind};
use crate::relay::registry::{PublishGrant, PublisherActivity, Registry};
use crate::service::events::{self, Departure};
use crate::service::ratelimit::{PEER_WARNING_INTERVAL, PeerMisbehaviour};
use crate::shard::batch::{RecvBatch, SendBatch};
use crate::shard::udp::ShardUdp;
use crate::srt::endpoint::{ConnId, Endpoint, EndpointEvent};
use crate::telemetry::{ConnectionSnapshot, HistogramSet, ShardCounters, ShardSnapshot};
use std::cell::RefCell;

use super::msg::ShardMsg;
use super::report;

/// Bounds of the tick's sleep (see `ShardState::tick_interval`): never shorter than the fixed
/// 1 ms tick this replaced (so never more wake-ups), never longer than what the control inbox
/// and handoff retries may wait.
const MIN_TICK: Duration = Duration::from_millis(1);
const MAX_TICK: Duration = Duration::from_millis(20);

/// How often subscriber deadlines and stale grants are checked.
const HOUSEKEEPING: Duration = Duration::from_millis(50);
/// Connections that must have closed since the last heap trim before another one runs.
const TRIM_AFTER_CLOSED: u64 = 64;
/// At most one heap trim per this interval per shard: it walks the allocator's free lists.
const TRIM_INTERVAL: Duration = Duration::from_secs(2);
/// Recorders read in position order, holding a gap this long (as HTTP players by default).
const RECORD_HOLD: Duration = Duration::from_millis(250);
/// A switch's feed reader: queue cap, lag limit (it reads as data comes, so only a stuck
/// shard gets there) and reorder hold (as an HTTP-TS player's default).
const FEED_QUEUE_BYTES: usize = 8 << 20;
const FEED_MAX_LAG: Duration = Duration::from_secs(10);
const FEED_HOLD: Duration = Duration::from_millis(250);

/// How often each connection's RTT and each subscriber's lag are sampled into the histograms.
const SAMPLING: Duration = Duration::from_secs(1);

pub struct ShardState {
    pub index: usize,
    /// The players' HTTP listener's shared state, when `[playback]` is on.
    pub playback: Option<Arc<PlaybackShared>>,
    pub endpoint: Endpoint,
    /// HTTP-TS players on this shard (`src/playback` serves their connections).
    pub http: HttpLegs,
    /// The HLS segmenters of streams published here; `None` without `[playback.hls]`.
    pub hls: Option<HlsLegs>,
    /// RTMP publishers and pulled inputs on this shard (`src/rtmp`, `src/ingest`).
    pub ingest: IngestLegs,
    /// `[[record]]` recorders of streams published here.
    pub record: crate::record::leg::RecordLegs,
    /// The RTMP listener's shared state, when `[rtmp]` is on.
    pub rtmp: Option<Arc<crate::rtmp::server::RtmpShared>>,
    /// The SRTLA receiver, on shard 0 when `[srtla]` is on (its tasks share it; reports read
    /// it).
    pub srtla: Option<Rc<RefCell<crate::srtla::server::Server>>>,
    /// The `[[inputs]]` this shard runs, by stream.
    pub inputs: HashMap<String, crate::inputs::runner::InputHandle>,
    /// The edge pulls `[cluster]` runs here, by stream.
    pub edge_inputs: HashMap<String, crate::inputs::runner::InputHandle>,
    /// The `[[outputs]]` this shard runs, by position in the list and target.
    pub outputs: HashMap<(String, String), crate::outputs::runner::OutputHandle>,
    /// The main/backup switches of streams whose shard (`inputs::shard_of`) this is.
    pub switches: HashMap<String, crate::backup::runner::SwitchHandle>,
    /// What input tasks publish through (set once the shard's state is shared).
    pub ingest_host: Option<Rc<dyn crate::legs::ingest::IngestHost>>,
    /// Seeds each input's upstream shuffle.
    input_seed: u64,
    /// `srt://` inputs' calls from this shard's endpoint, by connection.
    srt_pulls: HashMap<ConnId, ingest_legs::PullState>,
    /// `srt.latency.default`, for calls that name none.
    default_latency: Duration,
    /// Scratch for deliveries to `srt://` inputs.
    pull_buf: Vec<u8>,
    can_call: bool,
    pub admission: Admission,
    pub streams: ShardStreams,
    pub sockets: Vec<Rc<ShardUdp>>,
    tx: Vec<SendBatch>,
    scratch: Vec<u8>,
    handoff_tx: Vec<Option<ConnectedSender<Handoff>>>,
    pub inbox: Receiver<ShardMsg>,
    peers: Vec<Sender<ShardMsg>>,
    registry: Arc<Registry>,
    conns: HashMap<ConnId, (SocketAddr, Instant)>,
    /// This shard's publishers' last-data records, read by admission on any shard to take
    /// over a silent publisher (`streams.publisher_silence_takeover_ms`).
    activity: HashMap<ConnId, Arc<PublisherActivity>>,
    wait: Option<Duration>,
    grace: Duration,
    /// Fan-out (and event handling) waits this long after a publisher packet is stored.
    linger: Duration,
    /// The fan-out held back by the linger is due then.
    linger_until: Option<Instant>,
    /// A linger began and nothing has been asked to wake the shard for its end yet.
    linger_armed: bool,
    next_housekeeping: Instant,
    next_sample: Instant,
    /// Peer misbehaviour (parse errors, unknown ids, ...) is warned about at most once per
    /// `PEER_WARNING_INTERVAL`, with the counts since the last warning.
    misbehaviour: PeerMisbehaviour,
    /// Connections closed since the last heap trim, and when the next one may run.
    closed_since_trim: u64,
    next_trim: Instant,
    /// `counters.handoffs_dropped` at the last tick: a handoff refused since then is
    /// retried at the next tick, which must then come soon.
    refused_at_tick: u64,
    pub counters: ShardCounters,
    pub histograms: HistogramSet,
}

/// What the shard is built from (everything `Send`, moved onto its thread).
pub struct ShardParts {
    pub index: usize,
    pub playback: Option<Arc<PlaybackShared>>,
    pub rtmp: Option<Arc<crate::rtmp::server::RtmpShared>>,
    /// Seeds the upstream shuffle of this shard's inputs.
    pub input_seed: u64,
    /// Every `[[inputs]]` entry (the shard runs its own share).
    pub inputs: Vec<crate::config::InputConfig>,
    /// Every `[[outputs]]` entry (likewise).
    pub outputs: Vec<crate::config::OutputConfig>,
    /// `srt.latency.default`: the latency of `srt://` input calls that name none.
    pub default_latency: Duration,
    /// The shard has a caller socket (an `srt://` input was configured at start).
    pub can_call: bool,
    pub endpoint: Endpoint,
    pub streams: ShardStreams,
    pub inbox: Receiver<ShardMsg>,
    pub peers: Vec<Sender<ShardMsg>>,
    pub registry: Arc<Registry>,
    pub sessions: Arc<SessionStore>,
    pub encryption: Arc<EncryptionRules>,
    /// `[[record]]` rules and the recordings' event queue.
    pub record: Arc<crate::record::RecordShared>,
    pub wait: Option<Duration>,
    pub grace: Duration,
    /// `streams.fanout_linger_ms`.
    pub linger: Duration,
    pub gso_segments: Vec<usize>,
    /// The `[webhooks]` callback thread, when any callback is configured.
    pub webhooks: Option<Arc<crate::webhooks::WebhookClient>>,
    /// `[srtla]`: the addresses of SRTLA groups' merged connections (every shard admits).
    pub bonded: Option<crate::srtla::BondedPeers>,
}

/// Datagrams per send batch: a flush per wake-up carries at most this many before the
/// endpoint is drained further.
const SEND_BATCH: usize = 1024;
const MAX_DATAGRAM: usize = 1500;

impl ShardState {
    pub fn new(
        parts: ShardParts,
        sockets: Vec<Rc<ShardUdp>>,
        handoff_tx: Vec<Option<ConnectedSender<Handoff>>>,
        now: Instant,
    ) -> Self {
        let tx = parts
            .gso_segments
            .iter()
            .map(|&gso| SendBatch::new(SEND_BATCH, MAX_DATAGRAM, gso))
            .collect();
        let hooks = parts.webhooks.clone().map(|client| {
            // Every shard learns every answer: a caller's next attempt may come from another
            // port, which the kernel hashes to another shard.
            let inboxes = parts.peers.clone();
            let deliver: crate::webhooks::shard::Deliver = Arc::new(move |key, verdict| {
                for inbox in &inboxes {
                    let _ = inbox.send(ShardMsg::Hook {
                        key: key.clone(),
                        verdict,
                    });
                }
            });
            crate::webhooks::ShardHooks::new(client, deliver)
        });
        let mut admission = Admission::new(
            parts.index,
            parts.registry.clone(),
            parts.sessions,
            parts.encryption,
            now,
        );
        admission.hooks = hooks;
        admission.bonded = parts.bonded;
        ShardState {
            index: parts.index,
            playback: parts.playback.clone(),
            endpoint: parts.endpoint,
            http: HttpLegs::new(parts.index, parts.peers.len()),
            ingest: IngestLegs::new(parts.index, parts.peers.len()),
            record: crate::record::leg::RecordLegs::new(
                parts.record.clone(),
                parts.index,
                parts.peers.len(),
            ),
            rtmp: parts.rtmp,
            srtla: None,
            inputs: HashMap::new(),
            edge_inputs: HashMap::new(),
            switches: HashMap::new(),
            outputs: HashMap::new(),
            ingest_host: None,
            input_seed: parts.input_seed,
            srt_pulls: HashMap::new(),
            default_latency: parts.default_latency,
            can_call: parts.can_call,
            pull_buf: vec![0; MAX_DATAGRAM],
            hls: parts.playback.as_ref().and_then(|p| {
                p.cfg
                    .hls
                    .map(|h| HlsLegs::new(h, p.anchor, parts.index, parts.peers.len()))
            }),
            admission,
            streams: parts.streams,
            sockets,
            tx,
            scratch: vec![0; MAX_DATAGRAM],
            handoff_tx,
            inbox: parts.inbox,
            peers: parts.peers,
            registry: parts.registry,
            conns: HashMap::new(),
            activity: HashMap::new(),
            wait: parts.wait,
            grace: parts.grace,
            linger: parts.linger,
            linger_until: None,
            linger_armed: false,
            next_housekeeping: now,
            next_sample: now + SAMPLING,
            misbehaviour: PeerMisbehaviour::new(PEER_WARNING_INTERVAL),
            closed_since_trim: 0,
            next_trim: now,
            refused_at_tick: 0,
            counters: ShardCounters::default(),
            histograms: HistogramSet::new(),
        }
    }

    /// A batch of datagrams from socket `sock`.
    /// Feeds a batch to the endpoint and the rings without fanning out (then call
    /// [`ShardState::finish`]). Returns whether a publisher packet was stored. With
    /// `streams.fanout_linger_ms` the fan-out then waits for the rest of the publisher's
    /// burst (longer GSO runs per subscriber); off by default, BENCHMARKS.md has the curve.
    pub fn ingest(&mut self, sock: usize, batch: &RecvBatch, now: Instant) -> bool {
        self.counters.recv_batches += 1;
        self.admission.now = now;
        let mut stored = false;
        // One activity store per run of one publisher's packets, not one per packet.
        let mut last_active = None;
        for d in batch.iter() {
            for seg in d.segments() {
                self.counters.datagrams_in += 1;
                // The endpoint remembers the socket a handshake came in on and answers there.
                if let Some(r) =
                    self.endpoint
                        .handle_datagram_on(now, sock, d.from, seg, &mut self.admission)
                {
                    if last_active != Some(r.conn) {
                        last_active = Some(r.conn);
                        if let Some(a) = self.activity.get(&r.conn) {
                            a.on_data(now);
                        }
                    }
                    stored |= self.streams.on_publisher_data(
                        leg(r.conn),
                        serial(r.arrival.seq),
                        r.arrival.origin,
                        r.payload,
                        now,
                    );
                }
            }
        }
        if stored && !self.linger.is_zero() && self.linger_until.is_none() {
            self.linger_until = Some(now + self.linger);
            self.linger_armed = true;
        }
        stored
    }

    /// Fans out what `ingest` stored and transmits.
    pub fn finish(&mut self, now: Instant) {
        self.drain_inbox(now);
        self.after_input(now);
    }

    /// Handoffs from another shard.
    pub fn on_handoffs(&mut self, handoffs: &[Handoff], now: Instant) {
        self.counters.handoffs_in += handoffs.len() as u64;
        for h in handoffs {
            self.streams.on_handoff(h);
        }
        self.drain_inbox(now);
        self.after_input(now);
    }

    /// The periodic tick: protocol timers, control messages, deadlines, retries.
    pub fn on_tick(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.drain_inbox(now);
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.admission.expire(now);
            for leg in self.record.reap() {
                self.streams.remove_connection(leg, now);
            }
            for l in self.streams.expired(now, self.grace) {
                events::wait_timeout(now, self.index, l, self.streams.role(l));
                self.legs().close(l);
            }
            if let Some(counts) = self.misbehaviour.check(self.endpoint.stats(), now) {
                warn!("shard {}: dropped peer input: {counts}", self.index);
            }
            // After a crowd leaves, glibc keeps the freed buffers resident (scattered medium
            // blocks); measured with tests/attack_memory.rs, a trim gives them back.
            if self.closed_since_trim >= TRIM_AFTER_CLOSED && now >= self.next_trim {
                self.closed_since_trim = 0;
                self.next_trim = now + TRIM_INTERVAL;
                crate::shard::sys::release_free_heap();
            }
            events::endpoint_rejections(now, self.index, &self.endpoint.stats().rejections);
        }
        if now >= self.next_sample {
            self.next_sample = now + SAMPLING;
            self.sample();
            self.streams.sample_rates(now);
            self.post_board(now);
        }
        let (tx, full) = (&self.handoff_tx, &mut self.counters.handoffs_dropped);
        self.refused_at_tick = *full;
        self.streams
            .pump_forwarders(&mut |to, h| try_handoff(tx, full, to, h));
        self.after_input(now);
    }

    /// Control messages (reports, closes, session notices). Served on every wake-up, input
    /// ones included, not only on the tick: the tick may sleep up to `MAX_TICK`, and a
    /// report's snapshots of two shards should be as close in time as they were with a 1 ms
    /// tick. An empty inbox costs one atomic load.
    fn drain_inbox(&mut self, now: Instant) {
        while let Ok(msg) = self.inbox.try_recv() {
            self.on_message(msg, now);
        }
        self.http_departures(now);
    }

    /// Starts an HTTP-TS player of `name` (its connection is on this shard): admitted like an
    /// SRT player, read in position order (a byte stream cannot reorder) with the gap hold.
    pub fn open_http_player(
        &mut self,
        name: &str,
        session: Option<&str>,
        peer: SocketAddr,
        cfg: &crate::config::PlaybackConfig,
        now: Instant,
    ) -> Result<(LegId, PlayerRef, Departures), Refused> {
        let sessions = self.admission.sessions().clone();
        let admitted =
            http_admission::admit_player(&sessions, &self.registry, self.index, name, session, now);
        if let Err((answer, neutral)) = admitted {
            if let Some(r) = neutral {
                self.admission.count(r);
            } else {
                match answer {
                    Refused::Unauthorized => self.admission.counters.unauthorized += 1,
                    _ => self.admission.counters.forbidden += 1,
                }
            }
            info!(
                "shard {}: refused HTTP player for {name:?} from {peer}: {answer:?}",
                self.index
            );
            return Err(answer);
        }
        let leg = self.http.allocate();
        let player = Rc::new(RefCell::new(TsPlayer::new(cfg.ts_queue_bytes, cfg.max_lag)));
        self.http.insert(leg, player.clone());
        info!(
            "shard {}: HTTP player {leg} from {peer} on {name:?}",
            self.index
        );
        let mut out = Vec::new();
        self.streams.subscriber_accepted(
            self.index,
            &self.registry,
            name,
            leg,
            ReadOrder::Ordered {
                hold: cfg.reorder_hold,
            },
            now,
            self.wait,
            &mut out,
        );
        self.deliver(out);
        Ok((leg, player, self.http.departures()))
    }

    /// HTTP players whose connection ended: the relay forgets them like a closed SRT player.
    fn http_departures(&mut self, now: Instant) {
        for (leg, player) in self.http.take_departed() {
            let c = player.borrow().counters;
            self.counters.http_ts_resyncs += c.resyncs;
            self.counters.http_ts_skipped += c.join_skipped + c.resync_skipped;
            self.counters.http_ts_lag_closed += u64::from(c.lag_closed);
            self.counters.http_ts_bytes_out += c.bytes_out;
            let role = self.streams.role(leg).cloned();
            if let Some(r) = &role {
                let why = if c.lag_closed {
                    "fell behind"
                } else {
                    "closed"
                };
                self.notify_departure("http", r, None, None, why);
            }
            let mut out = Vec::new();
            self.streams
                .connection_closed(self.index, &self.registry, leg, now, &mut out);
            self.deliver(out);
            info!(
                "shard {}: HTTP player {leg} left {:?}: {} bytes{}{}",
                self.index,
                role.map(|r| match r {
                    Role::Subscriber { name } | Role::Publisher { name, .. } => name,
                }),
                c.bytes_out,
                if c.resyncs > 0 {
                    format!(", skipped to a keyframe {} times", c.resyncs)
                } else {
                    String::new()
                },
                if c.lag_closed {
                    ", disconnected for lagging"
                } else {
                    ""
                },
            );
        }
    }

    /// This shard's streams for the player page (`playback::board`), once per `SAMPLING`.
    fn post_board(&self, now: Instant) {
        let Some(p) = &self.playback else {
            return;
        };
        let mut m = HashMap::new();
        // A backup stream's feeds are not for players: the page lists the public stream.
        for v in self
            .streams
            .views()
            .into_iter()
            .filter(|v| crate::backup::parse_feed(&v.name).is_none())
        {
            let count = |k: LegKind| v.subscribers.iter().filter(|l| l.kind() == k).count() as u32;
            let info = ShardStreamInfo {
                publishing: v.publisher.and(v.key).map(|k| (k.0, v.ingress_bps)),
                srt_players: count(LegKind::Srt),
                http_ts_players: count(LegKind::HttpTs),
            };
            m.insert(v.name, info);
        }
        p.board.update(self.index, now, m);
        p.hls.prune(now);
    }

    /// RTT per connection role and lag per subscriber, once per `SAMPLING`.
    fn sample(&mut self) {
        for &id in self.conns.keys() {
            let (Some(c), Some(role)) = (self.endpoint.connection(id), self.streams.role(leg(id)))
            else {
                continue;
            };
            // A connection that never measured its RTT (a player waiting for a publisher never
            // acknowledges anything) would add libsrt's initial 100 ms, not a round trip.
            let Some(rtt) = c.measured_rtt() else {
                continue;
            };
            let publish = matches!(role, Role::Publisher { .. });
            self.histograms.record_rtt(publish, rtt);
        }
        let h = &mut self.histograms;
        self.streams.subscriber_lags(|_, lag| h.record_lag(lag));
    }

    /// Handles what the endpoint produced, fans new packets out, transmits. Returns packets
    /// handed to subscribers.
    fn after_input(&mut self, now: Instant) -> u64 {
        if self.lingering(now) {
            // ACKs and NAKs still go out; fan-out and events wait together, so a publisher's
            // SHUTDOWN cannot overtake its last packets (see below).
            self.transmit(now);
            return 0;
        }
        // Fan out before handling events: a publisher's last packets often share a batch with
        // its SHUTDOWN, and ending its session drops the forwarders to other shards, whose
        // subscribers would then never get that tail (seen as a flaky short file).
        let mut forwarded = self.fan_out(now);
        self.process_events(now);
        forwarded += self.fan_out(now);
        self.transmit(now);
        self.record_transits();
        forwarded
    }

    /// Transit of what this wake-up handed to subscribers: from the publisher datagram's read
    /// (on whichever shard it came in) to now, just after the `sendmmsg` that carried it out.
    /// A packet the subscriber's pacing or window held back leaves later than this; on the
    /// live default (1 Gbit/s pacing) that is rare. Backlog replayed to a newcomer (the packets
    /// before its join, from the last keyframe) goes to its own histogram: its age is the
    /// keyframe's, not the relay's delay.
    fn record_transits(&mut self) {
        let sent = crate::shard::engine::clock();
        let h = &mut self.histograms;
        self.streams.drain_transits(|backlog, arrived, n| {
            let d = sent.saturating_duration_since(arrived);
            if backlog {
                h.record_backlog_transit_n(d, n);
            } else {
                h.record_transit_n(d, n);
            }
        });
    }

    fn fan_out(&mut self, now: Instant) -> u64 {
        let (tx, full) = (&self.handoff_tx, &mut self.counters.handoffs_dropped);
        let mut legs = ShardLegs {
            srt: &mut self.endpoint,
            http: &mut self.http,
            hls: self.hls.as_mut(),
            ingest: &mut self.ingest,
            record: &mut self.record,
        };
        let forwarded = self
            .streams
            .fan_out(&mut legs, now, &mut |to, h| try_handoff(tx, full, to, h));
        self.counters.forwarded += forwarded;
        forwarded
    }

    fn send_to(&self, shard: usize, msg: ShardMsg) {
        // A shard that is gone is shutting down with the rest.
        let _ = self.peers[shard].send(msg);
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                EndpointEvent::Accepted {
                    id,
                    peer,
                    stream_id,
                } => {
                    self.conns.insert(id, (peer, now));
                    self.on_accepted(id, peer, now);
                    debug!(
                        "shard {}: {id:#x} from {peer} accepted ({stream_id:?})",
                        self.index
                    );
                }
                EndpointEvent::Closed { id, reason, stats } => {
                    if let Some(p) = self.srt_pulls.get_mut(&id) {
                        // An input's call: its runner reports the end.
                        *p = ingest_legs::PullState::Closed(reason.to_string());
                        continue;
                    }
                    let known = self.conns.remove(&id);
                    self.closed_since_trim += 1;
                    let (peer, since) = (known.map(|k| k.0), known.map(|k| k.1));
                    let role = self.streams.role(leg(id));
                    let d = Departure {
                        id,
                        peer,
                        since,
                        role,
                        reason,
                        stats: &stats,
                    };
                    if let Some(role) = role {
                        let age = since.map(|t| now.saturating_duration_since(t));
                        self.notify_departure("srt", role, peer, age, &reason.to_string());
                    }
                    events::departed(now, self.index, d);
                    debug!("shard {}: {id:#x} closed: {reason}", self.index);
                    self.on_closed(id, now);
                }
                EndpointEvent::Connected { id } => {
                    if let Some(p) = self.srt_pulls.get_mut(&id) {
                        *p = ingest_legs::PullState::Connected { next: None };
                    }
                }
                EndpointEvent::ConnectFailed { id, reason } => {
                    if let Some(p) = self.srt_pulls.get_mut(&id) {
                        *p = ingest_legs::PullState::Failed(reason.to_string());
                    }
                }
            }
        }
    }

    fn on_accepted(&mut self, id: ConnId, peer: SocketAddr, now: Instant) {
        let peer_socket_id = self
            .endpoint
            .connection(id)
            .map_or(0, |c| c.peer_socket_id());
        // Handshake duration as the caller stamped it: its conclusion's timestamp counts from
        // its socket's start (libsrt: when it began connecting), so the TSBPD base derived from
        // it is that start on our clock (plus the one-way delay). The listener keeps no state
        // between induction and conclusion, so this is the only clock that saw both.
        if let Some(c) = self.endpoint.connection(id) {
            let took = now.saturating_duration_since(c.config().peer_time_base);
            self.histograms.record_handshake(took);
        }
        let Some(grant) = self.admission.take(peer, peer_socket_id) else {
            warn!(
                "shard {}: {id:#x} from {peer} accepted without a grant",
                self.index
            );
            self.endpoint.close(id);
            return;
        };
        match grant.kind {
            GrantKind::Publish(g) => {
                info!(
                    "shard {}: publisher {id:#x} from {peer} on {:?}",
                    self.index, grant.name
                );
                self.activity.insert(id, g.activity.clone());
                self.publisher_started(&grant.name, &g, leg(id), now);
            }
            GrantKind::Subscribe(g) => {
                info!(
                    "shard {}: player {id:#x} from {peer} on {:?}",
                    self.index, grant.name
                );
                // Which session feeds it is decided from the registry now, not at admission:
                // the publisher may have changed in between.
                debug!(
                    "shard {}: {id:#x}: publisher at admission {:?}",
                    self.index, g.publisher
                );
                let mut out = Vec::new();
                self.streams.subscriber_accepted(
                    self.index,
                    &self.registry,
                    &grant.name,
                    leg(id),
                    // An SRT player reorders itself: it gets packets as they arrive.
                    ReadOrder::CutThrough,
                    now,
                    self.wait,
                    &mut out,
                );
                self.deliver(out);
            }
        }
    }

    /// A publisher of any protocol is in: its session starts here, the HLS segmenter with it,
    /// and the publisher it displaced (takeover) is asked to end.
    fn publisher_started(&mut self, name: &str, g: &PublishGrant, id: LegId, now: Instant) {
        // The directory claims what is published here: not an edge's pull, not a feed.
        let edge = self
            .ingest
            .get(id)
            .is_some_and(|l| l.borrow().protocol == ingest_legs::Protocol::Edge);
        if let Some(c) = self.registry.cluster()
            && !edge
            && crate::backup::parse_feed(name).is_none()
        {
            c.publisher_up(name);
        }
        if let Some((stream, _)) = crate::backup::parse_feed(name) {
            let home = crate::inputs::shard_of(stream, self.peers.len());
            if home == self.index {
                self.ensure_switch(stream);
            } else {
                self.send_to(
                    home,
                    ShardMsg::Feed {
                        stream: stream.to_string(),
                    },
                );
            }
        }
        let mut out = Vec::new();
        self.streams
            .publisher_accepted(self.index, &self.registry, name, g.key, id, &mut out);
        self.deliver(out);
        self.start_segmenter(name, now);
        if let Some(old) = g.displaced
            && let Some(conn) = old.conn
        {
            match g.displaced_silent_for {
                Some(quiet) => info!(
                    "publisher {id} takes {name:?} over from {conn}, silent for {} ms",
                    quiet.as_millis()
                ),
                None => info!("publisher {id} takes {name:?} over from {conn}"),
            }
            if old.shard == self.index {
                self.legs().close(conn);
            } else {
                self.send_to(
                    old.shard,
                    ShardMsg::Close {
                        leg: conn,
                        reply: None,
                    },
                );
            }
        }
    }

    /// Admits a publisher that is not SRT (an RTMP connection, `check_access`; a configured
    /// input, trusted) on `name`: `[access]` sessions first (a refused caller must not learn
    /// whether the stream exists), then the registry, as for an SRT publisher.
    pub fn open_ingest(
        &mut self,
        ask: ingest_legs::IngestAsk<'_>,
        now: Instant,
    ) -> Result<IngestRef, ingest_legs::Refused> {
        let ingest_legs::IngestAsk {
            name,
            session,
            check_access,
            protocol,
            source,
            role,
        } = ask;
        if check_access {
            let sessions = self.admission.sessions().clone();
            if let Err(d) = sessions.redeem(name, crate::access::Mode::Publish, session, now) {
                match d {
                    crate::access::Denied::Unauthorized => {
                        self.admission.counters.unauthorized += 1
                    }
                    crate::access::Denied::Forbidden => self.admission.counters.forbidden += 1,
                }
                info!(
                    "shard {}: refused {} publisher for {name:?} from {source}: {d:?}",
                    self.index,
                    protocol.as_str()
                );
                return Err(ingest_legs::Refused::Denied(d));
            }
        }
        let feed;
        let name = match role {
            Some(role) if self.registry.policy().backup_publisher => {
                feed = crate::backup::feed_name(name, role);
                feed.as_str()
            }
            _ => name,
        };
        let admitted = if protocol == ingest_legs::Protocol::Edge {
            self.registry.admit_replica(name, self.index, now)
        } else {
            self.registry.admit_publisher(name, self.index, now)
        };
        let g = match admitted {
            Ok(g) => g,
            Err(r) => {
                self.admission.count(r);
                info!(
                    "shard {}: refused {} publisher for {name:?} from {source}: {r:?}",
                    self.index,
                    protocol.as_str()
                );
                return Err(ingest_legs::Refused::Registry(r));
            }
        };
        let leg = self
            .ingest
            .insert(name, g.key, protocol, source, g.activity.clone(), now);
        let id = leg.borrow().leg;
        info!(
            "shard {}: {} publisher {id} from {} on {name:?}",
            self.index,
            protocol.as_str(),
            leg.borrow().source
        );
        self.publisher_started(name, &g, id, now);
        Ok(leg)
    }

    /// One payload (1..=7 whole TS packets) from an ingest publisher, standing for `origin`.
    /// Returns whether the ring took it; call [`ShardState::finish`] after a batch.
    pub fn ingest_payload(
        &mut self,
        leg: &IngestRef,
        payload: &[u8],
        origin: Instant,
        now: Instant,
    ) -> bool {
        let (id, serial) = {
            let mut l = leg.borrow_mut();
            (l.leg, l.next_serial(payload.len(), now))
        };
        self.streams
            .on_publisher_data(id, serial, origin, payload, now)
    }

    /// Starts an `srt://` input's call (caller mode, receiving with TSBPD: the runner reads
    /// the stream in order, as a byte stream, through `srt_pull`).
    pub fn srt_call(&mut self, call: ingest_legs::SrtCall, now: Instant) -> Result<ConnId, String> {
        use crate::srt::handshake::CallerConfig;
        if !self.can_call {
            return Err(
                "srt:// inputs and [[outputs]] added by a reload need a restart (the shards open their \
                 caller sockets at start)"
                    .into(),
            );
        }
        let mut cfg = CallerConfig::new(0, crate::srt::seq::SeqNo::new(0), call.remote);
        cfg.stream_id = call.stream_id;
        let latency = call.latency.unwrap_or(self.default_latency);
        cfg.recv_latency = latency;
        cfg.peer_latency = latency;
        cfg.connect_timeout = call.timeout;
        if let Some(p) = call.passphrase {
            cfg.encryption = crate::srt::crypto::Encryption::with_passphrase(p);
            cfg.pbkeylen = call.pbkeylen.map_or(0, |k| k as u8);
        }
        let id = self.endpoint.connect(now, cfg).map_err(|e| e.to_string())?;
        self.srt_pulls
            .insert(id, ingest_legs::PullState::Connecting);
        self.transmit(now);
        Ok(id)
    }

    /// Delivers what call `id` has due (appended to `out`) and says where it stands.
    pub fn srt_pull(
        &mut self,
        id: ConnId,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> ingest_legs::PullState {
        let Some(state) = self.srt_pulls.get(&id).cloned() else {
            return ingest_legs::PullState::Closed("unknown call".into());
        };
        match state {
            ingest_legs::PullState::Connected { .. } => {
                while let Some(d) = self.endpoint.recv(id, now, &mut self.pull_buf) {
                    out.extend_from_slice(&self.pull_buf[..d.len]);
                }
                let next = self
                    .endpoint
                    .connection(id)
                    .and_then(|c| c.next_delivery_time());
                self.transmit(now);
                ingest_legs::PullState::Connected { next }
            }
            ingest_legs::PullState::Failed(_) | ingest_legs::PullState::Closed(_) => {
                self.srt_pulls.remove(&id);
                state
            }
            ingest_legs::PullState::Connecting => state,
        }
    }

    /// One message on a push output's call.
    pub fn srt_push(
        &mut self,
        id: ConnId,
        payload: &[u8],
        now: Instant,
    ) -> ingest_legs::PushOutcome {
        let mut r = ingest_legs::PushOutcome::default();
        if !self.srt_pulls.contains_key(&id) {
            r.closed = true;
            return r;
        }
        match self.endpoint.send(id, now, payload) {
            Ok(_) => r.sent = 1,
            Err(crate::srt::connection::SendError::Closed) => r.closed = true,
            Err(_) => r.dropped = 1,
        }
        self.transmit(now);
        r
    }

    pub fn srt_hangup(&mut self, id: ConnId, now: Instant) {
        if self.srt_pulls.remove(&id).is_some() {
            self.endpoint.close(id);
            self.transmit(now);
        }
    }

    /// An ingest publisher's session ended (`why` for the log): the relay forgets it like a
    /// closed SRT publisher.
    pub fn close_ingest(&mut self, leg: &IngestRef, why: &str, now: Instant) {
        let id = leg.borrow().leg;
        if self.ingest.remove(id).is_none() {
            return;
        }
        let mut out = Vec::new();
        let role = self
            .streams
            .connection_closed(self.index, &self.registry, id, now, &mut out);
        self.deliver(out);
        let l = leg.borrow();
        info!(
            "shard {}: {} publisher {id} from {} left {:?} after {} ms: {why}; {} payloads, {} bytes",
            self.index,
            l.protocol.as_str(),
            l.source,
            l.name,
            now.saturating_duration_since(l.since).as_millis(),
            l.payloads,
            l.bytes
        );
        let (protocol, age) = (l.protocol.as_str(), now.saturating_duration_since(l.since));
        let peer = l.source.parse().ok();
        drop(l);
        if let Some(role) = &role {
            self.notify_departure(protocol, role, peer, Some(age), why);
        }
        if let Some(Role::Publisher { name, .. }) = role {
            self.end_segmenter(&name, now);
        }
        self.after_input(now);
    }

    /// `on_publish_done` / `on_play_done`, if configured (sent by the callback thread).
    fn notify_departure(
        &self,
        protocol: &'static str,
        role: &Role,
        peer: Option<SocketAddr>,
        age: Option<Duration>,
        why: &str,
    ) {
        let Some(hooks) = &self.admission.hooks else {
            return;
        };
        let (hook, name) = match role {
            Role::Publisher { name, .. } => (crate::webhooks::Hook::PublishDone, name),
            Role::Subscriber { name } => (crate::webhooks::Hook::PlayDone, name),
        };
        // A backup stream's switch and its readers are the relay's own; its encoders are
        // reported on the public stream with their role.
        let feed = crate::backup::parse_feed(name);
        if protocol == ingest_legs::Protocol::Switch.as_str()
            || (feed.is_some() && hook == crate::webhooks::Hook::PlayDone)
        {
            return;
        }
        let name = feed.map_or(name.as_str(), |(stream, _)| stream);
        let mut ask = crate::webhooks::Ask::new(hook, protocol, name, peer).with("reason", why);
        if let Some((_, r)) = feed {
            ask = ask.with("role", r.as_str());
        }
        if let Some(age) = age {
            ask = ask.with("duration_ms", age.as_millis().to_string());
        }
        hooks.notify(ask);
    }

    fn on_closed(&mut self, id: ConnId, now: Instant) {
        self.activity.remove(&id);
        let mut out = Vec::new();
        // The departure line was written when the endpoint reported the close.
        let role =
            self.streams
                .connection_closed(self.index, &self.registry, leg(id), now, &mut out);
        self.deliver(out);
        if let Some(Role::Publisher { name, .. }) = role {
            self.end_segmenter(&name, now);
        }
    }

    /// A publisher session of `name` began here: its HLS segmenter and recorders read the
    /// ring in order.
    fn start_segmenter(&mut self, name: &str, now: Instant) {
        // A backup stream's feeds are recorded and segmented as the public stream, which
        // carries them.
        if crate::backup::parse_feed(name).is_some() {
            return;
        }
        for leg in self.record.start(name, now) {
            self.streams.add_subscriber(
                name,
                leg,
                ReadOrder::Ordered { hold: RECORD_HOLD },
                now,
                None,
            );
        }
        let (Some(h), Some(p)) = (self.hls.as_mut(), self.playback.as_ref()) else {
            return;
        };
        if let Some(leg) = h.start(&p.hls, name) {
            let hold = p.cfg.reorder_hold;
            self.streams
                .add_subscriber(name, leg, ReadOrder::Ordered { hold }, now, None);
        }
    }

    /// `name`'s publisher left: unless another took over here, its segmenter stops and waits
    /// in the stream's HLS entry for the next session.
    fn end_segmenter(&mut self, name: &str, now: Instant) {
        if self.streams.live_key(name).is_some() {
            return;
        }
        if let Some(c) = self.registry.cluster() {
            c.publisher_down(name);
        }
        for leg in self.record.end(name) {
            self.streams.remove_connection(leg, now);
        }
        if let Some(leg) = self.hls.as_mut().and_then(|h| h.end(name, now)) {
            self.streams.remove_connection(leg, now);
        }
    }

    /// Sends session notices to the other shards.
    fn deliver(&self, out: Vec<Outgoing>) {
        for o in out {
            self.send_to(o.to, ShardMsg::Session(o.msg));
        }
    }

    fn on_message(&mut self, msg: ShardMsg, now: Instant) {
        match msg {
            ShardMsg::Session(m) => {
                let mut out = Vec::new();
                self.streams
                    .on_session_msg(self.index, &self.registry, m, now, &mut out);
                self.deliver(out);
            }
            ShardMsg::Close { leg, reply } => {
                let had = self.legs().contains(leg);
                self.legs().close(leg);
                if let Some(r) = reply {
                    let _ = r.send(had);
                }
            }
            ShardMsg::Latency { default, max } => {
                if let Some(l) = self.endpoint.listener_mut() {
                    let c = l.config_mut();
                    c.recv_latency = default;
                    c.peer_latency = default;
                    c.max_latency = max;
                }
            }
            ShardMsg::Policy { wait, grace } => {
                self.wait = wait;
                self.grace = grace;
            }
            ShardMsg::Inputs(list) => self.apply_inputs(&list),
            ShardMsg::EdgeInputs(list) => self.apply_edge_inputs(&list),
            ShardMsg::Outputs(list) => self.apply_outputs(&list),
            ShardMsg::Feed { stream } => self.ensure_switch(&stream),
            ShardMsg::Hook { key, verdict } => {
                if let Some(h) = self.admission.hooks.as_mut() {
                    h.gate.resolve(&key, verdict, now);
                }
            }
            ShardMsg::Report {
                reset_histograms,
                reply,
            } => {
                let report = self.report(now);
                if reset_histograms {
                    self.histograms.reset();
                }
                let _ = reply.send(report);
            }
        }
    }

    pub fn report(&self, now: Instant) -> ShardSnapshot {
        let shard = self.index;
        let connections = self
            .conns
            .iter()
            .filter_map(|(&id, &(peer, since))| {
                let c = self.endpoint.connection(id)?;
                let (role, stream) = report::conn_role(self.streams.role(leg(id)));
                Some(ConnectionSnapshot {
                    id,
                    shard,
                    peer,
                    role,
                    stream,
                    stats: c.stats(),
                    age: now.saturating_duration_since(since),
                })
            })
            .collect();
        let streams = self.streams.views().into_iter();
        let mut counters = report::counters(self.counters, &self.streams, &self.admission.counters);
        counters.http_ts_players = self.http.len() as u64;
        counters.ingest_publishers = self.ingest.len() as u64;
        counters.record = self.record.totals();
        if self.index == 0 {
            counters.record.events_dropped = self.record.events_dropped();
        }
        if let (0, Some(r)) = (self.index, &self.rtmp) {
            counters.rtmp = r.counters.totals();
        }
        // Never borrowed across an await by its tasks, so free whenever a report is made.
        let srtla_groups = match self.srtla.as_ref().and_then(|s| s.try_borrow().ok()) {
            Some(s) => {
                counters.srtla = s.totals();
                s.groups(now)
            }
            None => Vec::new(),
        };
        if let Some(h) = &self.admission.hooks {
            let g = h.gate.counters;
            let w = &mut counters.webhooks;
            (w.cache_hits, w.joined, w.evicted) = (g.cache_hits, g.joined, g.evicted);
            w.srt_denied = self.admission.counters.hook_denied;
            if self.index == 0 {
                w.calls = h.client.counters.totals();
            }
        }
        if let (0, Some(p)) = (self.index, &self.playback) {
            counters.playback = p.counters.totals();
        }
        if let Some(h) = &self.hls {
            let st = h.stats();
            counters.hls_segments = st.segments;
            counters.hls_parts = st.parts;
            counters.hls_forced_cuts = st.forced_cuts;
        }
        for (_, p) in self.http.iter() {
            if let Ok(p) = p.try_borrow() {
                let c = p.counters;
                counters.http_ts_resyncs += c.resyncs;
                counters.http_ts_skipped += c.join_skipped + c.resync_skipped;
                counters.http_ts_bytes_out += c.bytes_out;
            }
        }
        ShardSnapshot {
            shard,
            counters,
            endpoint: self.endpoint.stats().clone(),
            connections,
            streams: streams
                .map(|s| {
                    let hls = self.hls_clients(&s.name, now);
                    let ingest = self.ingest_publisher(s.publisher, now);
                    let mut snap = report::stream(shard, s, hls, ingest);
                    snap.recordings = self.record.recordings(&snap.name);
                    snap
                })
                .collect(),
            histograms: self.histograms.clone(),
            inputs: self
                .inputs
                .values()
                .chain(self.edge_inputs.values())
                .map(|h| h.snapshot())
                .collect(),
            outputs: self.outputs.values().map(|h| h.snapshot()).collect(),
            backups: self
                .switches
                .values()
                .map(|h| h.status.borrow().clone())
                .collect(),
            srtla_groups,
        }
    }

    /// Drains the endpoint into the send batches and flushes them.
    pub fn transmit(&mut self, now: Instant) {
        if self.sockets.len() == 1 {
            loop {
                let Some(buf) = self.tx[0].spare() else {
                    if self.flush_one(0) {
                        continue;
                    }
                    break;
                };
                match self.endpoint.poll_transmit(now, buf) {
                    Some(t) => self.tx[0].commit(t.to, t.len),
                    None => break,
                }
            }
        } else {
            while let Some(t) = self.endpoint.poll_transmit(now, &mut self.scratch) {
                let (sock, datagram) = (t.local_socket, &self.scratch[..t.len]);
                if self.tx[sock].push(t.to, datagram).is_err() {
                    self.flush_one(sock);
                    if self.tx[sock].push(t.to, &self.scratch[..t.len]).is_err() {
                        self.counters.send_dropped += 1;
                    }
                }
            }
        }
        for i in 0..self.tx.len() {
            self.flush_one(i);
        }
    }

    /// Flushes one batch; returns whether it is now empty (room for more).
    fn flush_one(&mut self, i: usize) -> bool {
        if self.tx[i].is_empty() {
            return true;
        }
        match self.sockets[i].send_batch(&mut self.tx[i]) {
            Ok(f) => {
                self.counters.send_batches += 1;
                self.counters.send_syscalls += f.syscalls as u64;
                self.counters.datagrams_out += f.datagrams as u64;
                self.counters.send_dropped += f.dropped as u64;
                if f.blocked {
                    self.counters.send_blocked += 1;
                }
            }
            Err(e) => {
                warn!("shard {}: send failed: {e}", self.index);
                self.counters.send_dropped += self.tx[i].pending_datagrams() as u64;
                self.tx[i].clear();
            }
        }
        self.tx[i].is_empty()
    }

    /// Shutdown: refuse newcomers, SHUTDOWN to every peer, flush.
    pub fn shutdown(&mut self, now: Instant) {
        self.registry.set_draining();
        for h in self.inputs.values().chain(self.edge_inputs.values()) {
            h.stop();
        }
        for h in self.switches.values() {
            h.stop();
        }
        for h in self.outputs.values() {
            h.stop();
        }
        let ids: Vec<ConnId> = self.endpoint.connection_ids().collect();
        for id in &ids {
            self.endpoint.close(*id);
        }
        self.transmit(now);
        info!("shard {}: closed {} connections", self.index, ids.len());
    }

    /// How long the tick may sleep: until the endpoint's next deadline (ACK, NAK, keepalive,
    /// pacing; a heap peek) or the shard's own housekeeping, within [`MIN_TICK`, `MAX_TICK`].
    /// Input does not wait for it: the receive and handoff tasks run on their own wake-ups.
    /// The control inbox is also drained on every input wake-up; on a shard without input it
    /// and the retries of refused handoffs wait at most `MAX_TICK` (`MIN_TICK` while a send
    /// batch or a refused handoff waits).
    /// An idle relay wakes 50 times a second per core (a fixed 1 ms tick measured ~10 % of a
    /// core for two idle shards).
    pub fn tick_interval(&mut self, now: Instant) -> Duration {
        if self.has_pending_sends() || self.counters.handoffs_dropped != self.refused_at_tick {
            return MIN_TICK;
        }
        let mut next = (now + MAX_TICK)
            .min(self.next_housekeeping)
            .min(self.next_sample);
        if let Some(t) = self.endpoint.poll_timeout() {
            next = next.min(t);
        }
        if let Some(t) = self.streams.next_wake() {
            next = next.min(t);
        }
        if let Some(t) = self.linger_until {
            next = next.min(t);
        }
        next.saturating_duration_since(now).max(MIN_TICK)
    }

    /// When a linger that began since the last call ends: the caller wakes the shard then (the
    /// tick may be asleep for longer, and more input may not come).
    pub fn take_linger_timer(&mut self) -> Option<Instant> {
        if !std::mem::take(&mut self.linger_armed) {
            return None;
        }
        self.linger_until
    }

    /// Whether a lingering fan-out is not yet due (and forgets it once it is).
    fn lingering(&mut self, now: Instant) -> bool {
        match self.linger_until {
            Some(t) if now < t => true,
            Some(_) => {
                self.linger_until = None;
                false
            }
            None => false,
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Runs the `[[inputs]]` of `list` that belong to this shard (`inputs::shard_of`): new ones
    /// start, removed ones stop, changed ones restart; unchanged ones keep running.
    pub fn apply_inputs(&mut self, list: &[crate::config::InputConfig]) {
        let mut map = std::mem::take(&mut self.inputs);
        self.apply_input_list(&mut map, list, "input");
        self.inputs = map;
    }

    /// The edge pulls `[cluster]` wants (see [`ShardState::apply_inputs`]).
    pub fn apply_edge_inputs(&mut self, list: &[crate::config::InputConfig]) {
        let mut map = std::mem::take(&mut self.edge_inputs);
        self.apply_input_list(&mut map, list, "edge pull");
        self.edge_inputs = map;
    }

    fn apply_input_list(
        &mut self,
        running: &mut HashMap<String, crate::inputs::runner::InputHandle>,
        list: &[crate::config::InputConfig],
        what: &str,
    ) {
        let Some(host) = self.ingest_host.clone() else {
            return;
        };
        let n = self.peers.len();
        let mine: HashMap<&str, &crate::config::InputConfig> = list
            .iter()
            .filter(|c| crate::inputs::shard_of(&c.stream, n) == self.index)
            .map(|c| (c.stream.as_str(), c))
            .collect();
        let gone: Vec<String> = running
            .iter()
            .filter(|(name, h)| mine.get(name.as_str()).is_none_or(|c| **c != h.cfg))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(h) = running.remove(&name) {
                info!("shard {}: {what} {name:?} stops", self.index);
                h.stop();
            }
        }
        for (name, cfg) in mine {
            if running.contains_key(name) {
                continue;
            }
            info!(
                "shard {}: {what} {name:?} starts with {} upstream(s)",
                self.index,
                cfg.upstreams.len()
            );
            self.input_seed = self.input_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let h = crate::inputs::runner::spawn(cfg.clone(), host.clone(), self.input_seed);
            running.insert(name.to_string(), h);
        }
    }

    /// Runs the `[[outputs]]` of `list` that belong to this shard (their stream's,
    /// `inputs::shard_of`): new ones start, removed ones stop, changed ones restart.
    pub fn apply_outputs(&mut self, list: &[crate::config::OutputConfig]) {
        let Some(host) = self.ingest_host.clone() else {
            return;
        };
        let n = self.peers.len();
        let key = |c: &crate::config::OutputConfig| (c.stream.clone(), c.target.to_string());
        let mine: HashMap<(String, String), &crate::config::OutputConfig> = list
            .iter()
            .filter(|c| crate::inputs::shard_of(&c.stream, n) == self.index)
            .map(|c| (key(c), c))
            .collect();
        let gone: Vec<(String, String)> = self
            .outputs
            .iter()
            .filter(|(k, h)| mine.get(*k).is_none_or(|c| **c != h.cfg))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(h) = self.outputs.remove(&k) {
                info!("shard {}: output {:?} -> {} stops", self.index, k.0, k.1);
                h.stop();
            }
        }
        for (k, cfg) in mine {
            if self.outputs.contains_key(&k) {
                continue;
            }
            info!("shard {}: output {:?} -> {} starts", self.index, k.0, k.1);
            let h = crate::outputs::runner::spawn(cfg.clone(), host.clone());
            self.outputs.insert(k, h);
        }
    }

    /// A feed of `stream` has a publisher: its switch runs here (started unless it does).
    fn ensure_switch(&mut self, stream: &str) {
        let Some(host) = self.ingest_host.clone() else {
            return;
        };
        if self.switches.get(stream).is_some_and(|h| !h.is_done()) {
            return;
        }
        self.switches.retain(|_, h| !h.is_done());
        let h = crate::backup::runner::spawn(stream.to_string(), host);
        self.switches.insert(stream.to_string(), h);
    }

    /// A trusted reader of stream `name` from its last keyframe (a switch reading a feed),
    /// as an HTTP-TS leg: the registry's limits apply, `[access]` does not.
    pub fn open_feed(&mut self, name: &str, now: Instant) -> Option<crate::playback::body::TsBody> {
        if let Err(r) = self.registry.admit_subscriber(name, self.index) {
            self.admission.count(r);
            warn!(
                "shard {}: the registry refused the switch's reader of {}: {r:?}",
                self.index,
                crate::backup::display_name(name)
            );
            return None;
        }
        let leg = self.http.allocate();
        let player = Rc::new(RefCell::new(TsPlayer::new(FEED_QUEUE_BYTES, FEED_MAX_LAG)));
        self.http.insert(leg, player.clone());
        let mut out = Vec::new();
        self.streams.subscriber_accepted(
            self.index,
            &self.registry,
            name,
            leg,
            ReadOrder::Ordered { hold: FEED_HOLD },
            now,
            self.wait,
            &mut out,
        );
        self.deliver(out);
        Some(crate::playback::body::TsBody::new(
            player,
            leg,
            self.http.departures(),
        ))
    }

    /// The stream's publisher as the snapshot shows it, when it is not SRT.
    fn ingest_publisher(
        &self,
        publisher: Option<LegId>,
        now: Instant,
    ) -> Option<crate::telemetry::IngestPublisher> {
        let l = self.ingest.get(publisher?)?.try_borrow().ok()?;
        Some(crate::telemetry::IngestPublisher {
            protocol: l.protocol.as_str(),
            source: l.source.clone(),
            age: now.saturating_duration_since(l.since),
        })
    }

    /// HLS clients of `name`, when its segmenter runs on this shard (one shard reports them).
    fn hls_clients(&self, name: &str, now: Instant) -> u32 {
        match (&self.hls, &self.playback) {
            (Some(h), Some(p)) if h.runs(name) => {
                p.hls.get(name).map_or(0, |s| s.clients(now) as u32)
            }
            _ => 0,
        }
    }

    /// The shard's legs of every kind.
    pub fn legs(&mut self) -> ShardLegs<'_> {
        ShardLegs {
            srt: &mut self.endpoint,
            http: &mut self.http,
            hls: self.hls.as_mut(),
            ingest: &mut self.ingest,
            record: &mut self.record,
        }
    }

    /// Whether datagrams wait in a send batch (the socket was full).
    pub fn has_pending_sends(&self) -> bool {
        self.tx.iter().any(|t| !t.is_empty())
    }
}

fn try_handoff(
    tx: &[Option<ConnectedSender<Handoff>>],
    full: &mut u64,
    to: usize,
    h: Handoff,
) -> bool {
    let Some(Some(sender)) = tx.get(to) else {
        return false;
    };
    match sender.try_send(h) {
        Ok(()) => true,
        Err(_) => {
            *full += 1;
            false
        }
    }
}
