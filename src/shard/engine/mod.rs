//! The relay engine: one shard per configured core, each running an SRT `Endpoint` over its
//! own `SO_REUSEPORT` socket(s), a table of streams (`relay::fanout`), and handoff queues to
//! every other shard.
//!
//! Owns start-up (binding, channel wiring, executors), the shard tasks, and the handle the
//! binary and the tests drive (stop, reload, reports). Must not hold relay policy (that is the
//! registry and fan-out) or parse SRT.
//!
//! Tasks per shard, sharing one `ShardState` through `Rc<RefCell<_>>`:
//! - one receive task per socket: `recvmmsg` batch -> endpoint -> rings -> subscribers -> flush;
//! - one handoff task per other shard: drain its queue into replica rings -> subscribers ->
//!   flush;
//! - a tick task that sleeps until the endpoint's next protocol deadline (1 to 20 ms): protocol
//!   timers, control inbox, deadlines, forwarder retries;
//! - the main task waits for the stop signal, then closes every connection and flushes.

mod ingest;
mod msg;
mod playback;
mod report;
mod state;
mod view;

pub use crate::legs::srt::admission::AdmissionCounters;
pub use msg::ShardMsg;
pub use view::EngineView;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};
use log::{info, warn};

use crate::access::{KeyedIds, SessionStore};
use crate::config::{Config, UnknownStream};
use crate::legs::srt::encryption::EncryptionRules;
use crate::relay::fanout::{FanoutConfig, ShardStreams};
use crate::relay::handoff::Handoff;
use crate::relay::registry::Registry;
use crate::relay::ring::RingConfig;
use crate::service::Heartbeats;
use crate::shard::batch::{RecvBatch, enable_gro, probe_gso};
use crate::shard::executor::{self, ExecutorConfig, ShardContext, ShardError, Shards, StopSignal};
use crate::shard::socket::{UdpSocketConfig, bind_reuseport_group};
use crate::shard::udp::ShardUdp;
use crate::srt::endpoint::{Endpoint, EndpointConfig};
use crate::srt::handshake::{Listener, ListenerConfig};
use crate::telemetry::ShardSnapshot;

use state::{ShardParts, ShardState};

/// Retry delay after a socket error, and the flush retry step at shutdown.
const TICK: Duration = Duration::from_millis(1);
/// Keepalive, idle, unresponsive and rate-sample timers are served on a 10 ms grid: idle
/// connections then share a shard's wake-ups (at most 100 a second for them, however many
/// there are) instead of each waking it; ACK, NAK and pacing stay exact.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// Handoffs queued per shard pair; a few dozen bytes each (the payload is a shared handle).
const HANDOFF_QUEUE: usize = 4096;
/// Datagrams per `recvmmsg`.
const RECV_BATCH: usize = 64;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("playback.assets_dir {}: {source}", path.display())]
    Assets {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("cannot start the webhook thread: {0}")]
    Webhooks(io::Error),
    #[error("cannot start the cluster thread: {0}")]
    Cluster(io::Error),
    #[error(transparent)]
    Shards(#[from] ShardError),
}

/// A running relay.
pub struct Engine {
    playback_addr: Option<SocketAddr>,
    rtmp_addr: Option<SocketAddr>,
    srtla_addr: Option<SocketAddr>,
    playback: Option<Arc<crate::playback::PlaybackShared>>,
    shards: Shards<()>,
    inboxes: Vec<Sender<ShardMsg>>,
    registry: Arc<Registry>,
    sessions: Arc<SessionStore>,
    encryption: Arc<EncryptionRules>,
    record: Arc<crate::record::RecordShared>,
    addrs: Vec<SocketAddr>,
    heartbeats: Heartbeats,
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Randomness the engine needs (cookie secret, socket-id and ISN seed, session-id key):
/// injected so tests can fix it.
#[derive(Debug, Clone, Copy)]
pub struct Secrets {
    pub cookie: [u8; 16],
    pub seed: u64,
    pub session_key: [u8; 16],
    /// Seeds each shard's key generator for AES session keys (shard `i` mixes in `i`).
    pub crypto_seed: [u8; 32],
}

/// One shard's handoff queues: the sending end to every other shard (`None` at its own
/// index) and the receiving end from every other shard.
type HandoffWiring = (
    Vec<Option<SharedSender<Handoff>>>,
    Vec<SharedReceiver<Handoff>>,
);

impl Engine {
    /// Binds every listen address once per shard and starts the shards.
    pub fn start(config: &Config, secrets: Secrets) -> Result<Engine, EngineError> {
        let cores = config.runtime.cores.clone();
        let n = cores.len();
        // Bind first, so a bad address fails before any thread starts.
        let (per_shard, addrs) = bind_listeners(config, n)?;
        let (mut tcp, playback_addr) = bind_playback(config, n)?;
        let (mut rtmp_tcp, rtmp_addr) = bind_rtmp(config, n)?;
        let bonded = config
            .srtla
            .listen
            .map(|_| crate::srtla::BondedPeers::default());
        let mut srtla = bind_srtla(config, &addrs, bonded.clone(), &secrets)?;
        let srtla_addr = srtla.as_ref().map(|s| s.local_addr);
        let rtmp = config.rtmp.as_ref().map(|cfg| {
            Arc::new(crate::rtmp::server::RtmpShared {
                cfg: cfg.clone(),
                counters: Default::default(),
            })
        });
        #[allow(clippy::disallowed_methods)] // the engine owns the clock
        let anchor = (Instant::now(), std::time::SystemTime::now());
        let playback = match &config.playback {
            Some(cfg) => {
                let assets = match &cfg.assets_dir {
                    Some(dir) => {
                        crate::playback::load_assets(dir).map_err(|source| EngineError::Assets {
                            path: dir.clone(),
                            source,
                        })?
                    }
                    None => Default::default(),
                };
                Some(crate::playback::PlaybackShared::new(
                    cfg.clone(),
                    n,
                    anchor,
                    assets,
                ))
            }
            None => None,
        };
        let Shared {
            registry,
            sessions,
            encryption,
        } = relay_state(config, n, &secrets);
        let record = Arc::new(crate::record::RecordShared::new(
            config.record.clone(),
            anchor,
        ));
        let (inboxes, inbox_rx): (Vec<Sender<ShardMsg>>, Vec<Receiver<ShardMsg>>) =
            (0..n).map(|_| crossbeam_channel::unbounded()).unzip();
        #[allow(clippy::disallowed_methods)] // the engine owns the clock
        let epoch = Instant::now();
        // Each shard's tick bumps its slot; the binary feeds systemd's watchdog from them.
        let heartbeats = Heartbeats::new(n, epoch);
        let webhooks = if config.webhooks.any() {
            Some(
                crate::webhooks::WebhookClient::start(config.webhooks.clone())
                    .map_err(EngineError::Webhooks)?,
            )
        } else {
            None
        };
        if let Some(client) = webhooks
            .as_ref()
            .filter(|c| c.has(crate::webhooks::Hook::RecordDone))
        {
            forward_record_events(record.events(), client.clone())
                .map_err(EngineError::Webhooks)?;
        }
        let policy = &config.streams.policy;
        type Parts = (ShardParts, Vec<std::net::UdpSocket>, Listeners);
        let mut parts: Vec<Option<Parts>> = Vec::new();
        for (i, (sockets, inbox)) in per_shard.into_iter().zip(inbox_rx).enumerate() {
            let shard = ShardParts {
                index: i,
                playback: playback.clone(),
                rtmp: rtmp.clone(),
                input_seed: secrets.seed ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F),
                inputs: config.inputs.clone(),
                outputs: config.outputs.clone(),
                default_latency: config.srt.latency.default,
                can_call: calls_out(config),
                endpoint: srt_endpoint(config, &secrets, i, n, epoch),
                streams: ShardStreams::new(fanout_config(config)),
                inbox,
                peers: inboxes.clone(),
                registry: registry.clone(),
                sessions: sessions.clone(),
                encryption: encryption.clone(),
                record: record.clone(),
                wait: wait_for_publisher(policy.unknown_stream),
                grace: policy.publisher_grace,
                linger: config.streams.fanout_linger,
                gso_segments: gso_segments(&sockets),
                webhooks: webhooks.clone(),
                bonded: bonded.clone(),
            };
            let listeners = Listeners {
                playback: tcp.get_mut(i).and_then(Option::take),
                rtmp: rtmp_tcp.get_mut(i).and_then(Option::take),
                // Shard 0 alone: see `srtla::server` for why it is not sharded.
                srtla: if i == 0 { srtla.take() } else { None },
            };
            parts.push(Some((shard, sockets, listeners)));
        }
        let mut wiring: Vec<Option<HandoffWiring>> =
            handoff_mesh(n).into_iter().map(Some).collect();
        let exec_cfg = ExecutorConfig {
            cores,
            name: "srtrelay".into(),
            ..ExecutorConfig::default()
        };
        let shards = executor::start(&exec_cfg, |i| {
            let (p, sockets, listener) = parts[i].take().expect("each shard is made once");
            let (tx, rx) = wiring[i].take().expect("each shard is wired once");
            let beats = heartbeats.clone();
            move |ctx: ShardContext| run_shard(ctx, p, (sockets, listener), tx, rx, beats)
        })?;
        let listening: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        info!(
            "srtrelay listening on {} with {n} shard(s)",
            listening.join(", ")
        );
        if let Some(a) = playback_addr {
            info!("playback (HTTP-TS, HLS, player page) on http://{a}/");
        }
        if let Some(a) = rtmp_addr {
            info!(
                "RTMP ingest on rtmp://{a}/ (stream key `cam1` in app `live` publishes live/cam1)"
            );
        }
        if let Some(a) = srtla_addr {
            info!("SRTLA (bonded senders) on {a}");
        }
        let cluster = match &config.cluster {
            c if c.enabled => Some(
                crate::cluster::Cluster::start(c.clone(), registry.clone(), inboxes.clone())
                    .map_err(EngineError::Cluster)?,
            ),
            _ => None,
        };
        Ok(Engine {
            cluster,
            rtmp_addr,
            srtla_addr,
            playback_addr,
            playback,
            shards,
            inboxes,
            registry,
            sessions,
            encryption,
            record,
            addrs,
            heartbeats,
        })
    }

    /// The cluster's directory, when `[cluster]` is on.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.as_ref()
    }

    /// The bound SRT addresses (the actual ports when the config asked for port 0).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The RTMP listener's address (the actual port for port 0), when `[rtmp]` is on.
    pub fn rtmp_addr(&self) -> Option<SocketAddr> {
        self.rtmp_addr
    }

    /// The SRTLA receiver's UDP address (the actual port for port 0), when `[srtla]` is on.
    pub fn srtla_addr(&self) -> Option<SocketAddr> {
        self.srtla_addr
    }

    /// The players' HTTP address (the actual port for port 0), when `[playback]` is on.
    pub fn playback_addr(&self) -> Option<SocketAddr> {
        self.playback_addr
    }

    /// The playback listener's shared state (counters, the stream board), when it is on.
    pub fn playback(&self) -> Option<&Arc<crate::playback::PlaybackShared>> {
        self.playback.as_ref()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Access sessions (`[access]`), shared with the operator API.
    pub fn sessions(&self) -> &Arc<SessionStore> {
        &self.sessions
    }

    /// The engine as the operator API sees it.
    pub fn view(&self) -> Arc<EngineView> {
        Arc::new(EngineView::new(self.inboxes.clone(), self.registry.clone()))
    }

    /// Finished recording segments and recordings (`[[record]]`), for a notifier on its own
    /// thread; events nobody takes are dropped beyond a bounded queue (counted).
    pub fn record_events(&self) -> crossbeam_channel::Receiver<crate::record::RecordEvent> {
        self.record.events()
    }

    /// When each shard last ran its tick: a shard has started once its slot is set, and is
    /// alive while it stays fresh (see `service::Supervisor`).
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    pub fn stop_signal(&self) -> StopSignal {
        self.shards.stop_signal()
    }

    /// Control inboxes of the shards, by index.
    pub fn inboxes(&self) -> &[Sender<ShardMsg>] {
        &self.inboxes
    }

    /// Asks every shard for its snapshot; waits at most `timeout` for each.
    pub fn reports(&self, timeout: Duration) -> Vec<ShardSnapshot> {
        view::collect_reports(&self.inboxes, false, timeout)
    }

    /// Applies a reload's policies and limits (see `config::reload`).
    pub fn reload(&self, plan: &crate::config::ReloadPlan) {
        self.registry.reload(plan.policy.clone(), plan.limits);
        if let Some(a) = &plan.access {
            self.sessions.reconfigure(a.clone());
        }
        if let Some(e) = &plan.encryption {
            self.encryption.set(e.clone());
        }
        if let Some(r) = &plan.record {
            self.record.set_rules(r.clone());
        }
        if let Some(l) = plan.latency {
            for inbox in &self.inboxes {
                let _ = inbox.send(ShardMsg::Latency {
                    default: l.default,
                    max: l.max,
                });
            }
        }
        if let Some(list) = &plan.inputs {
            for inbox in &self.inboxes {
                let _ = inbox.send(ShardMsg::Inputs(list.clone()));
            }
        }
        if let Some(list) = &plan.outputs {
            for inbox in &self.inboxes {
                let _ = inbox.send(ShardMsg::Outputs(list.clone()));
            }
        }
        if let Some(p) = &plan.policy {
            let wait = wait_for_publisher(p.unknown_stream);
            for inbox in &self.inboxes {
                let _ = inbox.send(ShardMsg::Policy {
                    wait,
                    grace: p.publisher_grace,
                });
            }
        }
    }

    /// Stops every shard (each sends SHUTDOWN to its peers) and waits for them.
    pub fn stop(self) -> Result<(), ShardError> {
        self.shards.stop();
        self.shards.join().map(|_| ())
    }
}

/// Every listen address bound once per shard (`SO_REUSEPORT`): each shard's sockets, and the
/// addresses they got. With port 0 (tests), every shard's socket shares the port the first one
/// got.
fn bind_listeners(
    config: &Config,
    n: usize,
) -> Result<(Vec<Vec<std::net::UdpSocket>>, Vec<SocketAddr>), EngineError> {
    let rt = &config.runtime;
    let mut per_shard: Vec<Vec<std::net::UdpSocket>> = (0..n).map(|_| Vec::new()).collect();
    let mut addrs = Vec::new();
    for &addr in &config.srt.listen {
        let cfg = UdpSocketConfig {
            addr,
            recv_buffer_bytes: rt.socket_recv_buffer_bytes.map_or(0, |v| v.get()),
            send_buffer_bytes: rt.socket_send_buffer_bytes.map_or(0, |v| v.get()),
            reuse_port: true,
        };
        let group =
            bind_reuseport_group(&cfg, n).map_err(|source| EngineError::Bind { addr, source })?;
        addrs.push(group[0].local_addr);
        // `bind_udp` already warned when the kernel clamped the buffer sizes.
        for (i, b) in group.into_iter().enumerate() {
            per_shard[i].push(b.socket);
        }
    }
    // A call's answers must come back to the shard that called, which a socket of the
    // reuseport group cannot promise (the kernel hashes each datagram to any member): each
    // shard calls from a socket of its own on an ephemeral port. Only when an input calls out,
    // so a relay without one keeps the single-socket send path.
    if calls_out(config) {
        let any: SocketAddr = match config.srt.listen.first() {
            Some(a) if a.is_ipv6() => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            _ => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        };
        for sockets in &mut per_shard {
            let cfg = UdpSocketConfig {
                addr: any,
                recv_buffer_bytes: rt.socket_recv_buffer_bytes.map_or(0, |v| v.get()),
                send_buffer_bytes: rt.socket_send_buffer_bytes.map_or(0, |v| v.get()),
                reuse_port: false,
            };
            let b = crate::shard::socket::bind_udp(&cfg)
                .map_err(|source| EngineError::Bind { addr: any, source })?;
            sockets.push(b.socket);
        }
    }
    Ok((per_shard, addrs))
}

/// Whether an `[[inputs]]` entry pulls over SRT or an `[[outputs]]` entry pushes (the shards
/// then need a caller socket; one of those added by a reload needs a restart).
fn calls_out(config: &Config) -> bool {
    config
        .inputs
        .iter()
        .flat_map(|i| &i.upstreams)
        .any(|u| matches!(u, crate::ingest::upstream::Upstream::Srt { .. }))
        || !config.outputs.is_empty()
        || config.cluster.enabled
}

/// What shard 0 starts the SRTLA receiver from.
struct SrtlaStart {
    cfg: crate::config::SrtlaSettings,
    socket: std::net::UdpSocket,
    local_addr: SocketAddr,
    target: SocketAddr,
    bonded: crate::srtla::BondedPeers,
    seed: [u8; 32],
}

/// The SRTLA socket, when `[srtla]` is on: one socket, no `SO_REUSEPORT` (one shard serves
/// every link). Its groups send to the first SRT listen address.
fn bind_srtla(
    config: &Config,
    srt_addrs: &[SocketAddr],
    bonded: Option<crate::srtla::BondedPeers>,
    secrets: &Secrets,
) -> Result<Option<SrtlaStart>, EngineError> {
    let cfg = &config.srtla;
    let (Some(addr), Some(bonded), Some(&srt)) = (cfg.listen, bonded, srt_addrs.first()) else {
        return Ok(None);
    };
    let rt = &config.runtime;
    let b = crate::shard::socket::bind_udp(&UdpSocketConfig {
        addr,
        recv_buffer_bytes: rt.socket_recv_buffer_bytes.map_or(0, |v| v.get()),
        send_buffer_bytes: rt.socket_send_buffer_bytes.map_or(0, |v| v.get()),
        reuse_port: false,
    })
    .map_err(|source| EngineError::Bind { addr, source })?;
    // The group ids' random halves: from the OS-seeded secret, apart from every shard's key
    // generator (those vary bytes 30 and 31).
    let mut seed = secrets.crypto_seed;
    seed[29] ^= 0xA5;
    Ok(Some(SrtlaStart {
        cfg: cfg.clone(),
        socket: b.socket,
        local_addr: b.local_addr,
        target: crate::srtla::server::upstream_target(srt),
        bonded,
        seed,
    }))
}

/// The players' HTTP listener, one `SO_REUSEPORT` socket per shard (`None`s when it is off).
/// The RTMP listener's socket per shard, when `[rtmp]` is on.
fn bind_rtmp(
    config: &Config,
    n: usize,
) -> Result<(Vec<Option<std::net::TcpListener>>, Option<SocketAddr>), EngineError> {
    let Some(r) = &config.rtmp else {
        return Ok((Vec::new(), None));
    };
    let group =
        crate::shard::tcp::bind_tcp_group(r.listen, n).map_err(|source| EngineError::Bind {
            addr: r.listen,
            source,
        })?;
    let addr = group.first().and_then(|l| l.local_addr().ok());
    Ok((group.into_iter().map(Some).collect(), addr))
}

fn bind_playback(
    config: &Config,
    n: usize,
) -> Result<(Vec<Option<std::net::TcpListener>>, Option<SocketAddr>), EngineError> {
    let Some(p) = &config.playback else {
        return Ok(((0..n).map(|_| None).collect(), None));
    };
    let addr = p.listen;
    let group = crate::shard::tcp::bind_tcp_group(addr, n)
        .map_err(|source| EngineError::Bind { addr, source })?;
    let bound = group[0]
        .local_addr()
        .map_err(|source| EngineError::Bind { addr, source })?;
    Ok((group.into_iter().map(Some).collect(), Some(bound)))
}

/// What all shards share: the registry, the access sessions and the SRT passphrase rules.
struct Shared {
    registry: Arc<Registry>,
    sessions: Arc<SessionStore>,
    encryption: Arc<EncryptionRules>,
}

fn relay_state(config: &Config, n: usize, secrets: &Secrets) -> Shared {
    Shared {
        registry: Arc::new(Registry::new(
            n,
            config.streams.policy.clone(),
            config.limits,
        )),
        sessions: Arc::new(SessionStore::new(
            config.access.clone(),
            Box::new(KeyedIds::new(secrets.session_key)),
        )),
        encryption: Arc::new(EncryptionRules::new(config.encryption.clone())),
    }
}

/// GSO segments each socket may send per message (1: none).
fn gso_segments(sockets: &[std::net::UdpSocket]) -> Vec<usize> {
    sockets
        .iter()
        .map(|s| probe_gso(std::os::fd::AsFd::as_fd(s)))
        .collect()
}

/// One bounded queue per ordered pair of shards; each shard's ends, by shard.
fn handoff_mesh(n: usize) -> Vec<HandoffWiring> {
    let mut senders: Vec<Vec<Option<SharedSender<Handoff>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut receivers: Vec<Vec<SharedReceiver<Handoff>>> = (0..n).map(|_| Vec::new()).collect();
    for (from, row) in senders.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(HANDOFF_QUEUE);
                *slot = Some(tx);
                receivers[to].push(rx);
            }
        }
    }
    senders.into_iter().zip(receivers).collect()
}

/// Shard `i`'s SRT endpoint (of `n`): its protocol settings, a listener, and a crypto seed of
/// its own.
fn srt_endpoint(
    config: &Config,
    secrets: &Secrets,
    i: usize,
    n: usize,
    epoch: Instant,
) -> Endpoint {
    let srt = &config.srt;
    let endpoint_cfg = EndpointConfig {
        recv_buffer_pkts: srt.recv_buffer_pkts,
        send_buffer_pkts: srt.send_buffer_pkts,
        max_payload: srt.max_payload,
        peer_idle_timeout: srt.peer_idle_timeout,
        unresponsive_timeout: srt.unresponsive_subscriber_timeout,
        loss_max_ttl: srt.loss_max_ttl,
        rexmit_overhead_pct: srt.retransmit_overhead_percent,
        seed: secrets.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        id_space: (i as u32, n as u32),
        caller_delivery: crate::srt::connection::Delivery::Tsbpd,
        // `bind_listeners` puts the shard's caller socket after the listen sockets.
        caller_socket: if calls_out(config) {
            srt.listen.len()
        } else {
            0
        },
        timer_slack: TIMER_SLACK,
    };
    let listener_cfg = ListenerConfig {
        recv_latency: srt.latency.default,
        peer_latency: srt.latency.default,
        // libsrt advertises min(SRTO_RCVBUF, SRTO_FC = 25600) packets.
        flow_window: u32::try_from(srt.recv_buffer_pkts.min(25_600)).expect("at most 25600"),
        max_latency: srt.latency.max,
        ..ListenerConfig::default()
    };
    // Same secret and epoch on every shard: a cookie from one is valid on all.
    let listener = Listener::new(secrets.cookie, epoch, listener_cfg);
    let mut endpoint = Endpoint::new(endpoint_cfg, Some(listener), epoch);
    let mut crypto_seed = secrets.crypto_seed;
    crypto_seed[31] ^= i as u8;
    crypto_seed[30] ^= (i >> 8) as u8;
    endpoint.set_crypto_seed(crypto_seed);
    endpoint
}

fn fanout_config(config: &Config) -> FanoutConfig {
    FanoutConfig {
        ring: RingConfig {
            capacity_pkts: config.streams.ring_packets.get(),
            ..RingConfig::default()
        },
        passthrough_non_ts: config.streams.passthrough_non_ts,
    }
}

/// How long a player may wait for a publisher; `None`: it is refused instead.
fn wait_for_publisher(unknown_stream: UnknownStream) -> Option<Duration> {
    match unknown_stream {
        UnknownStream::Wait(d) => Some(d),
        UnknownStream::Reject => None,
    }
}

/// What the shard's tasks share (one thread, so no lock).
type SharedState = Rc<RefCell<ShardState>>;

async fn run_shard(
    ctx: ShardContext,
    parts: ShardParts,
    (sockets, listeners): (Vec<std::net::UdpSocket>, Listeners),
    tx: Vec<Option<SharedSender<Handoff>>>,
    rx: Vec<SharedReceiver<Handoff>>,
    beats: Heartbeats,
) {
    let index = parts.index;
    let udps = match open_sockets(sockets) {
        Ok(v) => v,
        Err(e) => {
            warn!("shard {index}: socket setup failed: {e}");
            ctx.stop.stop();
            return;
        }
    };
    let (handoff_tx, handoff_rx) = connect_handoffs(tx, rx).await;
    let inputs = parts.inputs.clone();
    let outputs = parts.outputs.clone();
    let state = Rc::new(RefCell::new(ShardState::new(
        parts,
        udps.clone(),
        handoff_tx,
        now(),
    )));
    let host: Rc<dyn crate::legs::ingest::IngestHost> = Rc::new(ingest::ShardIngest {
        state: Rc::downgrade(&state),
    });
    state.borrow_mut().ingest_host = Some(host.clone());
    spawn_receivers(&state, &udps, index);
    spawn_handoff_readers(&state, handoff_rx);
    spawn_tick(&state, beats, index);
    spawn_playback(&state, listeners.playback);
    spawn_rtmp(&state, listeners.rtmp, host);
    if let Some(s) = listeners.srtla {
        match crate::srtla::server::start(&s.cfg, s.socket, s.target, s.bonded, s.seed) {
            Ok(server) => state.borrow_mut().srtla = Some(server),
            Err(e) => warn!("shard {index}: SRTLA receiver not started: {e}"),
        }
    }
    state.borrow_mut().apply_inputs(&inputs);
    state.borrow_mut().apply_outputs(&outputs);
    ctx.stop.wait().await;
    drain_on_shutdown(&state).await;
}

/// A shard's TCP listeners, bound before start-up.
struct Listeners {
    playback: Option<std::net::TcpListener>,
    rtmp: Option<std::net::TcpListener>,
    srtla: Option<SrtlaStart>,
}

/// The RTMP listener on this shard, when `[rtmp]` is on.
fn spawn_rtmp(
    state: &SharedState,
    listener: Option<std::net::TcpListener>,
    host: Rc<dyn crate::legs::ingest::IngestHost>,
) {
    let (Some(l), Some(shared)) = (listener, state.borrow().rtmp.clone()) else {
        return;
    };
    let listener = crate::shard::sys::glommio_listener(l);
    glommio::spawn_local(crate::rtmp::server::serve(listener, host, shared)).detach();
}

/// The players' HTTP listener on this shard, when `[playback]` is on.
fn spawn_playback(state: &SharedState, listener: Option<std::net::TcpListener>) {
    let (Some(l), Some(shared)) = (listener, state.borrow().playback.clone()) else {
        return;
    };
    let host = std::rc::Rc::new(playback::ShardPlayback {
        state: state.clone(),
        shared: shared.clone(),
    });
    let listener = crate::shard::sys::glommio_listener(l);
    glommio::spawn_local(crate::playback::server::serve(listener, host, shared)).detach();
}

/// The shard's sockets registered with its executor, GRO on.
fn open_sockets(sockets: Vec<std::net::UdpSocket>) -> io::Result<Vec<Rc<ShardUdp>>> {
    let udps: Vec<Rc<ShardUdp>> = sockets
        .into_iter()
        .map(ShardUdp::new)
        .collect::<io::Result<Vec<_>>>()?
        .into_iter()
        .map(Rc::new)
        .collect();
    for u in &udps {
        // Peers that send GSO (another srtrelay, loadgen) are split by the kernel otherwise.
        let _ = enable_gro(u.fd());
    }
    Ok(udps)
}

async fn connect_handoffs(
    tx: Vec<Option<SharedSender<Handoff>>>,
    rx: Vec<SharedReceiver<Handoff>>,
) -> (
    Vec<Option<ConnectedSender<Handoff>>>,
    Vec<ConnectedReceiver<Handoff>>,
) {
    // Connect every queue concurrently: each end waits for its peer.
    let connect_tx = tx.into_iter().map(|s| async move {
        match s {
            Some(s) => Some(s.connect().await),
            None => None,
        }
    });
    let tx_tasks: Vec<_> = connect_tx.map(glommio::spawn_local).collect();
    let rx_tasks: Vec<_> = rx
        .into_iter()
        .map(|r| glommio::spawn_local(r.connect()))
        .collect();
    let mut handoff_tx = Vec::new();
    for t in tx_tasks {
        handoff_tx.push(t.await);
    }
    let mut handoff_rx: Vec<ConnectedReceiver<Handoff>> = Vec::new();
    for t in rx_tasks {
        handoff_rx.push(t.await);
    }
    (handoff_tx, handoff_rx)
}

/// `on_record_done`: a small thread turns finished segments and recordings into
/// notifications (the callback thread sends them). Ends when the recorders' queue closes.
fn forward_record_events(
    events: crossbeam_channel::Receiver<crate::record::RecordEvent>,
    client: Arc<crate::webhooks::WebhookClient>,
) -> io::Result<()> {
    use crate::record::RecordEvent;
    use crate::webhooks::{Ask, Hook};
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string()
    };
    std::thread::Builder::new()
        .name("record-events".into())
        .spawn(move || {
            for ev in events {
                let ask = match ev {
                    RecordEvent::SegmentFinished(s) => {
                        Ask::new(Hook::RecordDone, "record", &s.stream, None)
                            .with("kind", "segment")
                            .with("path", s.path.display().to_string())
                            .with("started", secs(s.started))
                            .with("duration_ms", s.duration.as_millis().to_string())
                            .with("bytes", s.bytes.to_string())
                    }
                    RecordEvent::RecordingFinished(r) => {
                        let mut a = Ask::new(Hook::RecordDone, "record", &r.stream, None)
                            .with("kind", "recording")
                            .with("template", r.template.clone())
                            .with("started", secs(r.started))
                            .with("duration_ms", r.duration.as_millis().to_string())
                            .with("bytes", r.bytes.to_string())
                            .with("segments", r.segments.to_string());
                        if let Some(p) = &r.last_path {
                            a = a.with("path", p.display().to_string());
                        }
                        if let Some(e) = &r.error {
                            a = a.with("error", format!("{e:?}"));
                        }
                        a
                    }
                };
                client.notify(ask);
            }
        })
        .map(|_| ())
}

/// One receive task per socket.
fn spawn_receivers(state: &SharedState, udps: &[Rc<ShardUdp>], index: usize) {
    for (k, udp) in udps.iter().enumerate() {
        glommio::spawn_local(receive(state.clone(), udp.clone(), k, index)).detach();
    }
}

/// Socket `k`'s loop: a batch in, fanned out and flushed, then a yield.
async fn receive(state: SharedState, udp: Rc<ShardUdp>, k: usize, index: usize) {
    let mut batch = RecvBatch::new(RECV_BATCH, 64 * 1024);
    loop {
        match udp.recv_batch(&mut batch).await {
            Ok(_) => {
                let linger = {
                    let t = now();
                    let mut s = state.borrow_mut();
                    s.ingest(k, &batch, t);
                    s.finish(t);
                    s.counters.busy_ns += elapsed_ns(t);
                    s.take_linger_timer()
                };
                if let Some(at) = linger {
                    glommio::spawn_local(end_linger(state.clone(), at)).detach();
                }
                // A socket that is never empty would otherwise keep this task running
                // (a ready recv does not yield): the tick (ACK timers, control inbox)
                // and the handoff tasks must get their turn.
                futures_lite::future::yield_now().await;
            }
            Err(e) => {
                warn!("shard {index}: receive failed: {e}");
                glommio::timer::sleep(TICK).await;
            }
        }
    }
}

/// Fans out what `streams.fanout_linger_ms` held once it is due, whether or not more input
/// comes first (then this finds nothing left to do). One per linger, not per packet.
async fn end_linger(state: SharedState, at: Instant) {
    glommio::timer::sleep(at.saturating_duration_since(now())).await;
    let t = now();
    let mut s = state.borrow_mut();
    s.finish(t);
    s.counters.busy_ns += elapsed_ns(t);
}

/// One task per other shard, draining its handoff queue.
fn spawn_handoff_readers(state: &SharedState, handoff_rx: Vec<ConnectedReceiver<Handoff>>) {
    for r in handoff_rx {
        glommio::spawn_local(read_handoffs(state.clone(), r)).detach();
    }
}

async fn read_handoffs(state: SharedState, r: ConnectedReceiver<Handoff>) {
    let mut buf: Vec<Handoff> = Vec::with_capacity(256);
    while let Some(h) = r.recv().await {
        buf.push(h);
        // Drain what is already queued without waiting (one wake-up, one flush).
        while buf.len() < 256 {
            match futures_lite::future::poll_once(r.recv()).await {
                Some(Some(h)) => buf.push(h),
                _ => break,
            }
        }
        {
            let t = now();
            let mut s = state.borrow_mut();
            s.on_handoffs(&buf, t);
            s.counters.busy_ns += elapsed_ns(t);
        }
        buf.clear();
        // Same as the receive task: a queue that never empties must not starve the rest.
        futures_lite::future::yield_now().await;
    }
}

/// The tick task: sleeps until the shard's next deadline, serves it, beats.
fn spawn_tick(state: &SharedState, beats: Heartbeats, index: usize) {
    let state = state.clone();
    glommio::spawn_local(async move {
        loop {
            let interval = state.borrow_mut().tick_interval(now());
            glommio::timer::sleep(interval).await;
            let t = now();
            let mut s = state.borrow_mut();
            s.on_tick(t);
            s.counters.busy_ns += elapsed_ns(t);
            // The first beat also tells the binary this shard is fully up (sockets,
            // handoff queues, timers): READY waits for it.
            beats.beat(index, t);
        }
    })
    .detach();
}

/// Closes every connection and flushes the SHUTDOWNs.
async fn drain_on_shutdown(state: &SharedState) {
    state.borrow_mut().shutdown(now());
    // A full socket keeps some SHUTDOWNs queued: give it a few ticks, never more than 200 ms.
    let deadline = now() + Duration::from_millis(200);
    while state.borrow().has_pending_sends() && now() < deadline {
        glommio::timer::sleep(TICK).await;
        state.borrow_mut().transmit(now());
    }
}

#[allow(clippy::disallowed_methods)] // the shard owns the clock
fn now() -> Instant {
    Instant::now()
}

pub(crate) fn clock() -> Instant {
    now()
}

fn elapsed_ns(since: Instant) -> u64 {
    now().saturating_duration_since(since).as_nanos() as u64
}
