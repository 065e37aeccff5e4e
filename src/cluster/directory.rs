//! The node's side of the cluster's stream directory, sans-IO: what to ask etcd next, from
//! what the shards reported (publishers up and down) and what etcd answered.
//!
//! Keys (under the configured prefix): `nodes/{node_id}` and `streams/{stream}`, both holding
//! [`Owner`] as JSON and both under the node's lease, so a node that dies loses them a TTL
//! later. A stream published here is claimed with a put-if-absent; a claim found held by
//! another node is *fencing*: the local publisher is closed (it was admitted before the
//! directory knew, or it kept publishing through a partition while another node took the
//! stream over). etcd unreachable: local streams keep their claims here and are claimed again
//! when etcd answers, so an outage stops nothing that runs. Must not: read the clock or do
//! I/O (the cluster thread runs the [`Op`]s and reports back).

#![deny(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Who serves a stream (or what a node record says).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub node: String,
    /// Where other nodes pull it from: the owner's SRT listener.
    pub advertise: String,
    /// In a node's record: the nodes it pulls through (`cluster.upstream_nodes`), so that
    /// others never pick a tier that would pull back through them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
}

impl Owner {
    /// The value stored in etcd: one fixed rendering, so a claim can be compared.
    pub fn to_value(&self) -> String {
        serde_json::to_string(self).expect("strings serialize")
    }

    pub fn from_value(v: &str) -> Option<Owner> {
        serde_json::from_str(v).ok()
    }
}

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub me: Owner,
    /// Ends with `/`.
    pub prefix: String,
    pub lease_ttl: Duration,
    /// How often the directory is read (owners for lookups and admission).
    pub list_every: Duration,
}

/// What the cluster thread asks etcd for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Grant,
    KeepAlive(i64),
    /// Puts the node's record under the lease.
    Register(i64),
    Claim {
        stream: String,
        lease: i64,
    },
    Release {
        stream: String,
    },
    List,
}

/// A claim of a stream published here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaimState {
    /// To be claimed (new, or again after the lease was lost or etcd came back).
    Wanted,
    Held,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryCounters {
    pub claims_won: u64,
    /// Local publishers closed because another node holds their stream.
    pub fenced: u64,
    pub releases: u64,
    pub leases_granted: u64,
    /// Leases etcd no longer knew (expired while unreachable, or etcd lost its data).
    pub leases_lost: u64,
    pub etcd_errors: u64,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    id: i64,
    renewed: Instant,
}

pub struct Directory {
    cfg: DirectoryConfig,
    lease: Option<Lease>,
    registered: bool,
    next_grant: Instant,
    next_keepalive: Instant,
    next_list: Instant,
    claims: BTreeMap<String, ClaimState>,
    releases: BTreeSet<String>,
    /// The last listing: every stream's owner, ours included.
    owners: BTreeMap<String, Owner>,
    nodes: BTreeMap<String, Owner>,
    fenced: Vec<String>,
    /// etcd answered the last request.
    reachable: bool,
    last_error: Option<String>,
    pub counters: DirectoryCounters,
}

/// After a failed grant, the next try waits this long.
const GRANT_RETRY: Duration = Duration::from_secs(1);

impl Directory {
    pub fn new(cfg: DirectoryConfig, now: Instant) -> Directory {
        Directory {
            cfg,
            lease: None,
            registered: false,
            next_grant: now,
            next_keepalive: now,
            next_list: now,
            claims: BTreeMap::new(),
            releases: BTreeSet::new(),
            owners: BTreeMap::new(),
            nodes: BTreeMap::new(),
            fenced: Vec::new(),
            reachable: false,
            last_error: None,
            counters: DirectoryCounters::default(),
        }
    }

    pub fn stream_key(&self, stream: &str) -> String {
        format!("{}streams/{stream}", self.cfg.prefix)
    }

    pub fn node_key(&self) -> String {
        format!("{}nodes/{}", self.cfg.prefix, self.cfg.me.node)
    }

    pub fn me(&self) -> &Owner {
        &self.cfg.me
    }

    /// A publisher of `stream` started on this node.
    pub fn publisher_up(&mut self, stream: &str) {
        self.releases.remove(stream);
        self.claims
            .entry(stream.to_string())
            .or_insert(ClaimState::Wanted);
    }

    /// The last publisher of `stream` on this node left.
    pub fn publisher_down(&mut self, stream: &str) {
        if self.claims.remove(stream).is_some() {
            self.releases.insert(stream.to_string());
        }
    }

    /// What to ask etcd now, in order.
    pub fn poll(&mut self, now: Instant) -> Vec<Op> {
        let mut ops = Vec::new();
        match self.lease {
            None if now >= self.next_grant => ops.push(Op::Grant),
            None => {}
            Some(l) => {
                if now >= self.next_keepalive {
                    self.next_keepalive = now + self.cfg.lease_ttl / 3;
                    ops.push(Op::KeepAlive(l.id));
                }
                if !self.registered {
                    ops.push(Op::Register(l.id));
                }
                for (s, st) in &self.claims {
                    if *st == ClaimState::Wanted {
                        ops.push(Op::Claim {
                            stream: s.clone(),
                            lease: l.id,
                        });
                    }
                }
            }
        }
        for s in &self.releases {
            ops.push(Op::Release { stream: s.clone() });
        }
        if now >= self.next_list {
            self.next_list = now + self.cfg.list_every;
            ops.push(Op::List);
        }
        ops
    }

    /// The earliest time [`Directory::poll`] has something new to do.
    pub fn deadline(&self) -> Instant {
        let lease = match self.lease {
            None => self.next_grant,
            Some(_) => self.next_keepalive,
        };
        lease.min(self.next_list)
    }

    fn failed(&mut self, what: &str, e: &str) {
        self.counters.etcd_errors += 1;
        self.reachable = false;
        self.last_error = Some(format!("{what}: {e}"));
    }

    fn answered(&mut self) {
        self.reachable = true;
    }

    pub fn on_grant(&mut self, r: Result<i64, String>, now: Instant) {
        match r {
            Ok(id) => {
                self.answered();
                self.counters.leases_granted += 1;
                self.lease = Some(Lease { id, renewed: now });
                self.next_keepalive = now + self.cfg.lease_ttl / 3;
                self.registered = false;
                // Everything held under the old lease is claimed again under this one.
                for st in self.claims.values_mut() {
                    *st = ClaimState::Wanted;
                }
            }
            Err(e) => {
                self.failed("lease grant", &e);
                self.next_grant = now + GRANT_RETRY;
            }
        }
    }

    pub fn on_keepalive(&mut self, r: Result<bool, String>, now: Instant) {
        match r {
            Ok(true) => {
                self.answered();
                if let Some(l) = &mut self.lease {
                    l.renewed = now;
                }
            }
            Ok(false) => {
                self.answered();
                self.lose_lease(now);
            }
            Err(e) => {
                self.failed("lease keepalive", &e);
                // Past its TTL etcd has dropped it: grant a new one once it answers again.
                if self
                    .lease
                    .is_some_and(|l| now.saturating_duration_since(l.renewed) >= self.cfg.lease_ttl)
                {
                    self.lose_lease(now);
                }
            }
        }
    }

    fn lose_lease(&mut self, now: Instant) {
        if self.lease.take().is_some() {
            self.counters.leases_lost += 1;
        }
        self.registered = false;
        self.next_grant = now;
        for st in self.claims.values_mut() {
            *st = ClaimState::Wanted;
        }
    }

    pub fn on_register(&mut self, r: Result<(), String>) {
        match r {
            Ok(()) => {
                self.answered();
                self.registered = true;
            }
            Err(e) => self.failed("node record", &e),
        }
    }

    /// The answer to a claim: `Ok(None)` won, `Ok(Some(holder))` held by that value.
    pub fn on_claim(&mut self, stream: &str, r: Result<Option<String>, String>) {
        match r {
            Ok(None) => {
                self.answered();
                if let Some(st) = self.claims.get_mut(stream) {
                    *st = ClaimState::Held;
                    self.counters.claims_won += 1;
                }
            }
            Ok(Some(holder)) => {
                self.answered();
                // Deleted in between (no holder): claimed again next round.
                let other = Owner::from_value(&holder).filter(|o| o.node != self.cfg.me.node);
                if other.is_some() && self.claims.remove(stream).is_some() {
                    self.counters.fenced += 1;
                    self.fenced.push(stream.to_string());
                }
            }
            Err(e) => self.failed("claim", &e),
        }
    }

    pub fn on_release(&mut self, stream: &str, r: Result<(), String>) {
        match r {
            Ok(()) => {
                self.answered();
                if self.releases.remove(stream) {
                    self.counters.releases += 1;
                }
            }
            Err(e) => self.failed("release", &e),
        }
    }

    /// A listing of every key under the prefix.
    pub fn on_list(&mut self, r: Result<Vec<(String, String)>, String>) {
        let kvs = match r {
            Ok(kvs) => kvs,
            Err(e) => return self.failed("list", &e),
        };
        self.answered();
        let streams = format!("{}streams/", self.cfg.prefix);
        let nodes = format!("{}nodes/", self.cfg.prefix);
        self.owners.clear();
        self.nodes.clear();
        for (k, v) in kvs {
            let Some(o) = Owner::from_value(&v) else {
                continue;
            };
            if let Some(s) = k.strip_prefix(&streams) {
                self.owners.insert(s.to_string(), o);
            } else if let Some(n) = k.strip_prefix(&nodes) {
                self.nodes.insert(n.to_string(), o);
            }
        }
    }

    /// Streams whose local publisher must be closed: another node holds them.
    pub fn take_fenced(&mut self) -> Vec<String> {
        std::mem::take(&mut self.fenced)
    }

    /// Streams served by other nodes, as last listed.
    pub fn remote_owners(&self) -> impl Iterator<Item = (&String, &Owner)> {
        self.owners
            .iter()
            .filter(|(_, o)| o.node != self.cfg.me.node)
    }

    pub fn owners(&self) -> &BTreeMap<String, Owner> {
        &self.owners
    }

    pub fn nodes(&self) -> &BTreeMap<String, Owner> {
        &self.nodes
    }

    pub fn held(&self) -> impl Iterator<Item = &String> {
        self.claims
            .iter()
            .filter(|(_, st)| **st == ClaimState::Held)
            .map(|(s, _)| s)
    }

    pub fn has_lease(&self) -> bool {
        self.lease.is_some()
    }

    pub fn reachable(&self) -> bool {
        self.reachable
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn me(n: &str) -> Owner {
        Owner {
            upstream: Vec::new(),
            node: n.into(),
            advertise: format!("{n}:9000"),
        }
    }

    fn dir(now: Instant) -> Directory {
        Directory::new(
            DirectoryConfig {
                me: me("a"),
                prefix: "/srtrelay/".into(),
                lease_ttl: Duration::from_secs(3),
                list_every: Duration::from_millis(250),
            },
            now,
        )
    }

    #[test]
    fn a_publisher_is_claimed_under_the_lease_and_released_when_it_leaves() {
        let t = Instant::now();
        let mut d = dir(t);
        assert_eq!(d.poll(t), [Op::Grant, Op::List]);
        d.on_grant(Ok(7), t);
        d.publisher_up("cam1");
        assert_eq!(
            d.poll(t),
            [
                Op::Register(7),
                Op::Claim {
                    stream: "cam1".into(),
                    lease: 7
                }
            ]
        );
        d.on_register(Ok(()));
        d.on_claim("cam1", Ok(None));
        assert_eq!(d.held().collect::<Vec<_>>(), ["cam1"]);
        // Keepalives every third of the TTL; listings every 250 ms.
        assert_eq!(d.poll(t + Duration::from_millis(250)), [Op::List]);
        assert_eq!(
            d.poll(t + Duration::from_secs(1)),
            [Op::KeepAlive(7), Op::List]
        );
        d.publisher_down("cam1");
        assert_eq!(
            d.poll(t + Duration::from_millis(1100)),
            [Op::Release {
                stream: "cam1".into()
            }]
        );
        d.on_release("cam1", Ok(()));
        assert!(d.poll(t + Duration::from_millis(1100)).is_empty());
        assert_eq!(d.counters.releases, 1);
    }

    #[test]
    fn a_claim_held_by_another_node_fences_the_local_publisher() {
        let t = Instant::now();
        let mut d = dir(t);
        d.on_grant(Ok(1), t);
        d.publisher_up("cam1");
        d.on_claim("cam1", Ok(Some(me("b").to_value())));
        assert_eq!(d.take_fenced(), ["cam1"]);
        assert_eq!(d.counters.fenced, 1);
        // Our own value (a claim repeated after a lost answer) is not a conflict.
        d.publisher_up("cam2");
        d.on_claim("cam2", Ok(Some(me("a").to_value())));
        assert!(d.take_fenced().is_empty());
    }

    #[test]
    fn etcd_down_keeps_local_claims_and_a_new_lease_claims_them_again() {
        let t = Instant::now();
        let mut d = dir(t);
        d.on_grant(Ok(1), t);
        d.publisher_up("cam1");
        d.on_claim("cam1", Ok(None));
        d.on_register(Ok(()));
        // Unreachable, but within the TTL: the lease is kept.
        d.on_keepalive(Err("refused".into()), t + Duration::from_secs(1));
        assert!(d.has_lease() && !d.reachable());
        // Past the TTL: a new lease is asked for, and the stream stays ours meanwhile.
        d.on_keepalive(Err("refused".into()), t + Duration::from_secs(3));
        assert!(!d.has_lease());
        assert_eq!(d.counters.leases_lost, 1);
        let ops = d.poll(t + Duration::from_secs(3));
        assert_eq!(ops[0], Op::Grant);
        d.on_grant(Err("refused".into()), t + Duration::from_secs(3));
        assert!(!d.poll(t + Duration::from_millis(3500)).contains(&Op::Grant));
        assert!(d.poll(t + Duration::from_secs(4)).contains(&Op::Grant));
        d.on_grant(Ok(2), t + Duration::from_secs(4));
        let ops = d.poll(t + Duration::from_secs(4));
        assert!(ops.contains(&Op::Register(2)), "{ops:?}");
        assert!(ops.contains(&Op::Claim {
            stream: "cam1".into(),
            lease: 2
        }));
        assert!(d.take_fenced().is_empty());
    }

    #[test]
    fn listings_give_the_owners_of_other_nodes() {
        let t = Instant::now();
        let mut d = dir(t);
        d.on_list(Ok(vec![
            ("/srtrelay/streams/cam1".into(), me("b").to_value()),
            ("/srtrelay/streams/live/x".into(), me("a").to_value()),
            ("/srtrelay/nodes/b".into(), me("b").to_value()),
            ("/srtrelay/streams/junk".into(), "not json".into()),
        ]));
        let remote: Vec<_> = d
            .remote_owners()
            .map(|(s, o)| (s.as_str(), o.node.as_str()))
            .collect();
        assert_eq!(remote, [("cam1", "b")]);
        assert_eq!(d.nodes().len(), 1);
        assert_eq!(d.owners().len(), 2);
    }
}
