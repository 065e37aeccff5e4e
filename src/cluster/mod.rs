//! `[cluster]`: relays that find each other's streams through a directory in etcd.
//!
//! Owns: the cluster thread (one OS thread, a current-thread tokio runtime: never a shard)
//! that runs the directory (`directory.rs`, sans-IO) against etcd (`etcd.rs`): the node's
//! lease and record, claims of the streams published here (a second publisher anywhere is
//! refused with 1409 through `relay::registry::ClusterHooks`, a claim lost to another node
//! closes the local publisher), and the edge pulls: a stream another node serves and local
//! players wait for becomes an `[[inputs]]`-like pull from the owner's `advertise` address
//! (`srt://`, Stream ID `#!::r=STREAM,m=request,u=srtrelay-edge,s=SECRET`) on the stream's
//! shard, one per stream per node (through a node of `upstream_nodes` when set: `tiers.rs`),
//! stopped `edge_idle` after its last player; an owner that
//! changes (failover) restarts it against the new owner. Must not: block a shard, or stop
//! local streams when etcd is unreachable.

pub mod directory;
pub mod etcd;
pub mod tiers;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use log::{info, warn};
use tokio::sync::mpsc;

use crate::config::{ClusterConfig, InputConfig};
use crate::ingest::upstream::Upstream;
use crate::relay::registry::{ClusterHooks, Registry};
use crate::shard::engine::ShardMsg;
use directory::{Directory, DirectoryConfig, DirectoryCounters, Op, Owner};
use etcd::{Claim, Etcd};

/// The Stream ID user of an edge's pull.
pub const EDGE_USER: &str = "srtrelay-edge";
/// How often the directory is read when nothing else wakes the thread.
const LIST_EVERY: Duration = Duration::from_millis(250);
/// One etcd request may take this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Repeated etcd errors are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

enum Event {
    Up(String),
    Down(String),
    /// A player waits for a stream here: look at the pulls now.
    Wake,
}

/// `/v1/cluster` and the metrics.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ClusterStatus {
    pub node: String,
    pub advertise: String,
    pub reachable: bool,
    pub has_lease: bool,
    pub last_error: Option<String>,
    pub nodes: BTreeMap<String, Owner>,
    pub owners: BTreeMap<String, Owner>,
    /// Streams this node holds in the directory.
    pub held: Vec<String>,
    /// Streams this node pulls from their owner, with the owner.
    pub pulls: BTreeMap<String, String>,
    pub counters: DirectoryCounters,
    pub edge_pulls_started: u64,
    /// This node's `upstream_nodes`.
    pub upstream_nodes: Vec<String>,
    pub tier_fallbacks: u64,
    /// Pulls started against a stream's new owner (its old one died or gave it up).
    pub failovers: u64,
}

/// The cluster as the rest of the relay sees it.
pub struct Cluster {
    cfg: ClusterConfig,
    events: mpsc::UnboundedSender<Event>,
    /// Streams other nodes serve, as last listed.
    remote: RwLock<HashMap<String, Owner>>,
    status: Mutex<ClusterStatus>,
    /// A `Wake` is queued: a burst of waiting players queues one, not one each.
    wake_queued: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.cfg.node_id)
            .finish_non_exhaustive()
    }
}

impl ClusterHooks for Cluster {
    fn owned_elsewhere(&self, name: &str) -> bool {
        self.remote
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(name)
    }

    fn is_edge_secret(&self, secret: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.cfg
            .secret
            .as_ref()
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(secret.as_bytes())))
    }

    fn edge_passphrase(&self) -> Option<crate::srt::crypto::Passphrase> {
        self.cfg.passphrase.clone()
    }

    fn player_waiting(&self, name: &str) {
        let pullable = match &self.cfg.backend {
            crate::config::ClusterBackend::Static(_) => true,
            _ => self.owned_elsewhere(name),
        };
        if pullable && !self.wake_queued.swap(true, Ordering::AcqRel) {
            let _ = self.events.send(Event::Wake);
        }
    }

    fn publisher_up(&self, name: &str) {
        let _ = self.events.send(Event::Up(name.to_string()));
    }

    fn publisher_down(&self, name: &str) {
        let _ = self.events.send(Event::Down(name.to_string()));
    }

    fn status(&self) -> ClusterStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Cluster {
    pub fn status(&self) -> ClusterStatus {
        ClusterHooks::status(self)
    }

    /// Starts the cluster thread; it joins `registry` (admission checks, publisher events)
    /// and reaches the shards through `inboxes`.
    pub fn start(
        cfg: ClusterConfig,
        registry: Arc<Registry>,
        inboxes: Vec<Sender<ShardMsg>>,
    ) -> std::io::Result<Arc<Cluster>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            cfg: cfg.clone(),
            events: tx,
            remote: RwLock::new(HashMap::new()),
            wake_queued: AtomicBool::new(false),
            status: Mutex::new(ClusterStatus {
                node: cfg.node_id.clone(),
                advertise: cfg.advertise.clone(),
                upstream_nodes: cfg.upstream_nodes.clone(),
                ..ClusterStatus::default()
            }),
        });
        registry.set_cluster(cluster.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let c = cluster.clone();
        std::thread::Builder::new()
            .name("cluster".into())
            .spawn(move || rt.block_on(run(c, registry, inboxes, rx)))?;
        Ok(cluster)
    }
}

#[allow(clippy::disallowed_methods)] // the cluster thread owns its clock
fn now() -> Instant {
    Instant::now()
}

struct Runner {
    cluster: Arc<Cluster>,
    registry: Arc<Registry>,
    inboxes: Vec<Sender<ShardMsg>>,
    dir: Directory,
    etcd: Etcd,
    /// The edge pulls asked of the shards: their input, when each last had a player, and the
    /// owner pulled from (`node@advertise`; the input's URL carries the secret).
    edges: BTreeMap<String, (InputConfig, Instant, String)>,
    pulls_started: u64,
    /// Pulls that went to the owner because no upstream tier node was usable.
    tier_fallbacks: u64,
    /// The owner each stream pulled here last had, and when it was last seen: a pull started
    /// against another owner is a failover. Entries go a minute after the pull did.
    last_owner: HashMap<String, (String, Instant)>,
    failovers: u64,
    last_warn: Option<Instant>,
}

async fn run(
    cluster: Arc<Cluster>,
    registry: Arc<Registry>,
    inboxes: Vec<Sender<ShardMsg>>,
    mut rx: mpsc::UnboundedReceiver<Event>,
) {
    let cfg = cluster.cfg.clone();
    let me = Owner {
        upstream: Vec::new(),
        node: cfg.node_id.clone(),
        advertise: cfg.advertise.clone(),
    };
    let dir = Directory::new(
        DirectoryConfig {
            me,
            prefix: cfg.prefix.clone(),
            lease_ttl: cfg.lease_ttl,
            list_every: LIST_EVERY,
        },
        now(),
    );
    let mut r = Runner {
        cluster,
        registry,
        inboxes,
        dir,
        etcd: Etcd::new(cfg.etcd.clone(), REQUEST_TIMEOUT),
        edges: BTreeMap::new(),
        pulls_started: 0,
        tier_fallbacks: 0,
        last_owner: HashMap::new(),
        failovers: 0,
        last_warn: None,
    };
    if let crate::config::ClusterBackend::Static(origins) = &cfg.backend {
        info!(
            "cluster: node {:?} pulls from a static directory of {} origin rule(s)",
            cfg.node_id,
            origins.len()
        );
        return r.run_static(origins, rx).await;
    }
    info!(
        "cluster: node {:?} (advertise {}) joins the directory at {:?}",
        cfg.node_id, cfg.advertise, cfg.prefix
    );
    loop {
        while let Ok(ev) = rx.try_recv() {
            r.event(ev);
        }
        let t = now();
        for op in r.dir.poll(t) {
            r.execute(op).await;
        }
        r.fence();
        r.publish_view();
        let remote: Vec<(String, Owner)> = r
            .dir
            .remote_owners()
            .map(|(s, o)| (s.clone(), o.clone()))
            .collect();
        r.update_edges(remote);
        r.warn_if_unreachable();
        let wait = r
            .dir
            .deadline()
            .saturating_duration_since(now())
            .min(LIST_EVERY);
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(ev)) => r.event(ev),
            Ok(None) => break,
            Err(_) => {}
        }
    }
}

impl Runner {
    fn event(&mut self, ev: Event) {
        match ev {
            Event::Up(s) => self.dir.publisher_up(&s),
            // A takeover on another shard leaves the stream published here.
            Event::Down(s) if self.registry.publisher_of(&s).is_none() => {
                self.dir.publisher_down(&s)
            }
            Event::Down(_) => {}
            Event::Wake => self.cluster.wake_queued.store(false, Ordering::Release),
        }
    }

    async fn execute(&mut self, op: Op) {
        let t = now();
        match op {
            Op::Grant => {
                let r = self.etcd.grant(self.dir_ttl()).await;
                self.dir.on_grant(r.map_err(|e| e.to_string()), t);
            }
            Op::KeepAlive(id) => {
                let r = self.etcd.keepalive(id).await;
                self.dir.on_keepalive(r.map_err(|e| e.to_string()), now());
            }
            Op::Register(lease) => {
                let key = self.dir.node_key();
                let value = Owner {
                    upstream: self.cluster.cfg.upstream_nodes.clone(),
                    ..self.dir.me().clone()
                }
                .to_value();
                let r = self.etcd.claim(&key, &value, lease).await;
                let r = match r {
                    Ok(Claim::Won) => Ok(()),
                    Ok(Claim::Held(v)) => Err(format!(
                        "node id {:?} is in use by another node ({v})",
                        self.dir.me().node
                    )),
                    Err(e) => Err(e.to_string()),
                };
                self.dir.on_register(r);
            }
            Op::Claim { stream, lease } => {
                let key = self.dir.stream_key(&stream);
                let value = self.dir.me().to_value();
                let r = match self.etcd.claim(&key, &value, lease).await {
                    Ok(Claim::Won) => Ok(None),
                    Ok(Claim::Held(v)) => Ok(Some(v)),
                    Err(e) => Err(e.to_string()),
                };
                self.dir.on_claim(&stream, r);
            }
            Op::Release { stream } => {
                let key = self.dir.stream_key(&stream);
                let value = self.dir.me().to_value();
                let r = self.etcd.release(&key, &value).await;
                self.dir.on_release(&stream, r.map_err(|e| e.to_string()));
            }
            Op::List => {
                let prefix = self.cluster.cfg.prefix.clone();
                let r = self.etcd.list(&prefix).await;
                self.dir.on_list(r.map_err(|e| e.to_string()));
            }
        }
    }

    fn dir_ttl(&self) -> Duration {
        self.cluster.cfg.lease_ttl
    }

    /// Closes local publishers of streams another node holds.
    fn fence(&mut self) {
        for s in self.dir.take_fenced() {
            let Some(p) = self.registry.publisher_of(&s) else {
                continue;
            };
            warn!("cluster: another node holds {s:?}: closing its publisher here (fenced)");
            if let (Some(conn), Some(inbox)) = (p.conn, self.inboxes.get(p.shard)) {
                let _ = inbox.send(ShardMsg::Close {
                    leg: conn,
                    reply: None,
                });
            }
        }
    }

    fn publish_view(&mut self) {
        let remote: HashMap<String, Owner> = self
            .dir
            .remote_owners()
            .map(|(s, o)| (s.clone(), o.clone()))
            .collect();
        *self
            .cluster
            .remote
            .write()
            .unwrap_or_else(|e| e.into_inner()) = remote;
        let mut st = self
            .cluster
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        st.reachable = self.dir.reachable();
        st.has_lease = self.dir.has_lease();
        st.last_error = self.dir.last_error().map(str::to_string);
        st.nodes = self.dir.nodes().clone();
        st.owners = self.dir.owners().clone();
        st.held = self.dir.held().cloned().collect();
        st.pulls = self
            .edges
            .iter()
            .map(|(s, (_, _, owner))| (s.clone(), owner.clone()))
            .collect();
        st.counters = self.dir.counters;
        st.edge_pulls_started = self.pulls_started;
        st.tier_fallbacks = self.tier_fallbacks;
        st.failovers = self.failovers;
    }

    /// The static directory: streams local players wait for (and those pulled already) are
    /// pulled from the first origin whose pattern matches; no claims, no etcd.
    async fn run_static(
        mut self,
        origins: &[crate::config::StaticOrigin],
        mut rx: mpsc::UnboundedReceiver<Event>,
    ) {
        loop {
            // Publisher events matter to claims only.
            while rx.try_recv().is_ok() {}
            self.cluster.wake_queued.store(false, Ordering::Release);
            let mut candidates = self.registry.waiting_streams();
            candidates.extend(self.edges.keys().cloned());
            candidates.sort();
            candidates.dedup();
            let me = &self.cluster.cfg.advertise;
            let remote: Vec<(String, Owner)> = candidates
                .into_iter()
                .filter_map(|s| {
                    let o = origins.iter().find(|o| o.streams.matches(&s))?;
                    // This node is the origin of what it serves: never a pull from itself.
                    (o.advertise != *me).then(|| {
                        let owner = Owner {
                            upstream: Vec::new(),
                            node: "static".into(),
                            advertise: o.advertise.clone(),
                        };
                        (s, owner)
                    })
                })
                .collect();
            self.update_edges(remote);
            {
                let mut st = self
                    .cluster
                    .status
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                st.reachable = true;
                st.pulls = self
                    .edges
                    .iter()
                    .map(|(s, (_, _, owner))| (s.clone(), owner.clone()))
                    .collect();
                st.edge_pulls_started = self.pulls_started;
            }
            if let Ok(None) = tokio::time::timeout(LIST_EVERY, rx.recv()).await {
                break;
            }
        }
    }

    /// Pulls what local players wait for from the node that serves it.
    fn update_edges(&mut self, remote: Vec<(String, Owner)>) {
        let t = now();
        let idle = self.cluster.cfg.edge_idle;
        let mut want: BTreeMap<String, (InputConfig, Instant, String)> = BTreeMap::new();
        let mut fallbacks = std::collections::BTreeSet::new();
        let mut owners_now: Vec<(String, String)> = Vec::new();
        for (stream, owner) in &remote {
            let players = self.registry.subscribers_of(stream);
            let prev = self.edges.get(stream);
            let last = if players > 0 {
                t
            } else {
                match prev {
                    Some((_, last, _)) if t.saturating_duration_since(*last) < idle => *last,
                    _ => continue,
                }
            };
            let source = tiers::pull_source(
                &self.cluster.cfg.node_id,
                stream,
                owner,
                &self.cluster.cfg.upstream_nodes,
                self.dir.nodes(),
            );
            let node = source.node();
            let Some(cfg) = self.edge_input(stream, node) else {
                continue;
            };
            let from = match &source {
                tiers::Source::Owner(_) => format!("{}@{}", node.node, node.advertise),
                tiers::Source::Tier(_) => format!(
                    "{}@{} (upstream tier; owner {})",
                    node.node, node.advertise, owner.node
                ),
                tiers::Source::OwnerFallback(_) => {
                    fallbacks.insert(stream.clone());
                    format!("{}@{} (no upstream node usable)", node.node, node.advertise)
                }
            };
            want.insert(stream.clone(), (cfg, last, from));
            owners_now.push((stream.clone(), owner.node.clone()));
        }
        let changed = want.len() != self.edges.len()
            || want
                .iter()
                .zip(&self.edges)
                .any(|((a, (ca, ..)), (b, (cb, ..)))| a != b || ca != cb);
        if changed {
            for (s, (c, _, from)) in &want {
                if self.edges.get(s).is_none_or(|(old, ..)| old != c) {
                    self.pulls_started += 1;
                    if fallbacks.contains(s) {
                        self.tier_fallbacks += 1;
                        warn!(
                            "cluster: pulling {s:?} from {from}: no node of upstream_nodes {:?} is listed or free of cycles",
                            self.cluster.cfg.upstream_nodes
                        );
                    } else {
                        info!("cluster: pulling {s:?} from {from}");
                    }
                }
            }
            for s in self.edges.keys().filter(|s| !want.contains_key(*s)) {
                info!("cluster: no longer pulling {s:?}");
            }
            let list: Vec<InputConfig> = want.values().map(|(c, ..)| c.clone()).collect();
            for inbox in &self.inboxes {
                let _ = inbox.send(ShardMsg::EdgeInputs(list.clone()));
            }
        }
        self.edges = want;
        for (stream, owner) in owners_now {
            if let Some((old, _)) = self.last_owner.get(&stream)
                && *old != owner
            {
                self.failovers += 1;
                info!("cluster: {stream:?} moved from node {old:?} to {owner:?}: pulling it there");
            }
            self.last_owner.insert(stream, (owner, t));
        }
        self.last_owner
            .retain(|_, (_, seen)| t.saturating_duration_since(*seen) < Duration::from_secs(60));
    }

    fn edge_input(&self, stream: &str, owner: &Owner) -> Option<InputConfig> {
        let (host, port) = owner.advertise.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let mut sid = format!("#!::r={stream},m=request,u={EDGE_USER}");
        if let Some(s) = &self.cluster.cfg.secret {
            sid.push_str(",s=");
            sid.push_str(s);
        }
        Some(InputConfig {
            stream: stream.to_string(),
            upstreams: vec![Upstream::Srt {
                host: host.trim_matches(['[', ']']).to_string(),
                port,
                stream_id: Some(sid),
                passphrase: self.cluster.cfg.passphrase.clone(),
                latency: None,
                pbkeylen: None,
            }],
            shuffle: false,
            retry_delay: Some(Duration::from_millis(500)),
            stall_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(3),
            on_demand: false,
            idle_stop: Duration::from_secs(30),
            looped: false,
            tls_ca_file: None,
            edge: true,
        })
    }

    fn warn_if_unreachable(&mut self) {
        if self.dir.reachable() {
            self.last_warn = None;
            return;
        }
        let t = now();
        if self
            .last_warn
            .is_some_and(|w| t.saturating_duration_since(w) < WARN_EVERY)
        {
            return;
        }
        self.last_warn = Some(t);
        warn!(
            "cluster: etcd unreachable ({}); local streams go on, lookups of other nodes' streams wait",
            self.dir.last_error().unwrap_or("no answer yet")
        );
    }
}
