//! The process-wide stream registry: which shard publishes each stream, under which session
//! key, how many subscribers each shard holds for it, and the connection count behind the
//! limits.
//!
//! Owns admission decisions that need a view across shards: one publisher per stream (1409 or
//! takeover, and takeover of a publisher silent for `publisher_silence_takeover`), unknown
//! streams (1404 or wait), limits (1402: published streams, waiting players, subscribers,
//! connections), and the bookkeeping that tells a shard whom to notify when a publisher session
//! starts or ends. Must not be touched per packet: it is locked only at handshake time and when
//! a connection closes, so a `Mutex` is the right tool (the packet path never sees it). The one
//! thing the packet path writes is a publisher's [`PublisherActivity`], an atomic the registry
//! only reads. Must not read the clock or send anything: it answers, and the calling shard acts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::handoff::StreamKey;
use super::leg::LegId;
use crate::config::{Limits, SecondPublisher, StreamPolicy, UnknownStream};

/// Who publishes a stream: shard, connection (once accepted) and session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherRef {
    pub shard: usize,
    /// `None` between admission and the endpoint's `Accepted` event.
    pub conn: Option<LegId>,
    pub key: StreamKey,
}

/// A publisher admission: its session key and, under takeover, the publisher it displaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishGrant {
    pub key: StreamKey,
    pub displaced: Option<PublisherRef>,
    /// Set when `displaced` was replaced because it had sent nothing for this long (under
    /// either policy), not because the policy is takeover.
    pub displaced_silent_for: Option<Duration>,
    /// The new publisher's shard records its data arrivals here.
    pub activity: Arc<PublisherActivity>,
}

/// When a publisher last delivered data: written by its shard (at most once per receive
/// batch, a relaxed store to a line nobody else writes) and read at admission of a second
/// publisher, so no lock is taken on the packet path. Times are milliseconds after `since`
/// (the admission), so the value fits an atomic and needs no shared epoch between shards.
#[derive(Debug)]
pub struct PublisherActivity {
    since: Instant,
    /// Milliseconds after `since` of the last data; 0 until the first (silence counts from
    /// admission: a publisher that connects and never sends is as dead as a killed one).
    last_data_ms: AtomicU64,
}

impl PublisherActivity {
    pub fn new(since: Instant) -> PublisherActivity {
        PublisherActivity {
            since,
            last_data_ms: AtomicU64::new(0),
        }
    }

    /// Data arrived at `now`.
    pub fn on_data(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.since).as_millis();
        self.last_data_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// How long no data has arrived, as of `now`.
    pub fn silent_for(&self, now: Instant) -> Duration {
        let last = self.since + Duration::from_millis(self.last_data_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }
}

// Identity, not value: two publishers' records are never "equal" because their times match.
impl PartialEq for PublisherActivity {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for PublisherActivity {}

/// A subscriber admission: the stream's current publisher, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeGrant {
    pub publisher: Option<PublisherRef>,
    /// This shard had no subscriber of the stream before.
    pub first_on_shard: bool,
}

/// Why the registry refused a caller. Neutral: each protocol answers with its own code (SRT:
/// `legs::srt::admission::reject_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConnectionLimit,
    StreamLimit,
    SubscriberLimit,
    PublisherConflict,
    NoPublisher,
    /// `limits.max_waiting_players`: too many players on streams without a publisher.
    WaitingLimit,
}

#[derive(Debug)]
struct Entry {
    publisher: Option<PublisherRef>,
    /// The current publisher's data arrivals (with `publisher`).
    activity: Option<Arc<PublisherActivity>>,
    /// Subscribers per shard.
    subscribers: Vec<u32>,
}

impl Entry {
    fn subscriber_total(&self) -> usize {
        self.subscribers.iter().map(|&n| n as usize).sum()
    }

    fn is_unused(&self) -> bool {
        self.publisher.is_none() && self.subscriber_total() == 0
    }

    fn shards_with_subscribers(&self) -> Vec<usize> {
        (0..self.subscribers.len())
            .filter(|&s| self.subscribers[s] > 0)
            .collect()
    }

    fn new(shards: usize) -> Entry {
        Entry {
            publisher: None,
            activity: None,
            subscribers: vec![0; shards],
        }
    }
}

#[derive(Debug)]
struct Inner {
    policy: StreamPolicy,
    limits: Limits,
    streams: HashMap<String, Entry>,
    next_key: u32,
    connections: usize,
    accepted_total: u64,
    draining: bool,
}

/// Shared by every shard (`Arc<Registry>`).
#[derive(Debug)]
pub struct Registry {
    shards: usize,
    inner: Mutex<Inner>,
    /// The cluster's directory, when `[cluster]` is on: set once at start.
    cluster: std::sync::OnceLock<Arc<dyn ClusterHooks>>,
}

/// What the registry and the shards need of the cluster (`src/cluster`), kept neutral here.
pub trait ClusterHooks: Send + Sync + std::fmt::Debug {
    /// Another node serves `name` (as last read from the directory).
    fn owned_elsewhere(&self, name: &str) -> bool;
    /// `secret` is the cluster's: an edge node pulling a stream from this one.
    fn is_edge_secret(&self, secret: &str) -> bool;
    /// The cluster's passphrase: an edge's pull is encrypted with it, whatever the stream's
    /// `[[encryption]]` rule for players says.
    fn edge_passphrase(&self) -> Option<crate::srt::crypto::Passphrase>;
    /// A player started waiting for `name`, which has no publisher here: a stream another
    /// node serves is pulled now rather than at the next directory read.
    fn player_waiting(&self, name: &str);
    /// A publisher of `name` started on this node (not an edge's pull).
    fn publisher_up(&self, name: &str);
    /// A publisher of `name` on this node left (another one may have taken over).
    fn publisher_down(&self, name: &str);
    /// For `/v1/cluster` and the metrics.
    fn status(&self) -> crate::cluster::ClusterStatus;
}

/// Counts for health checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryCounts {
    pub connections: usize,
    pub accepted_total: u64,
    pub streams: usize,
    pub publishers: usize,
    /// Players on streams without a publisher (`limits.max_waiting_players`).
    pub waiting_players: usize,
    pub soft_limit: usize,
    pub draining: bool,
}

impl Registry {
    pub fn new(shards: usize, policy: StreamPolicy, limits: Limits) -> Registry {
        Registry {
            shards,
            inner: Mutex::new(Inner {
                policy,
                limits,
                streams: HashMap::new(),
                next_key: 1,
                connections: 0,
                accepted_total: 0,
                draining: false,
            }),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// Joins the cluster's directory (at start; later calls are ignored).
    pub fn set_cluster(&self, hooks: Arc<dyn ClusterHooks>) {
        let _ = self.cluster.set(hooks);
    }

    pub fn cluster(&self) -> Option<&Arc<dyn ClusterHooks>> {
        self.cluster.get()
    }

    /// Admits a publisher of `name` that is an edge's pull of a stream another node serves:
    /// as [`Registry::admit_publisher`] without the directory check.
    pub fn admit_replica(
        &self,
        name: &str,
        shard: usize,
        now: Instant,
    ) -> Result<PublishGrant, Refusal> {
        self.admit(name, shard, now, false)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn policy(&self) -> StreamPolicy {
        self.lock().policy.clone()
    }

    /// SIGHUP: new policies and limits for admissions from now on.
    pub fn reload(&self, policy: Option<StreamPolicy>, limits: Option<Limits>) {
        let mut g = self.lock();
        if let Some(p) = policy {
            g.policy = p;
        }
        if let Some(l) = limits {
            g.limits = l;
        }
    }

    /// Refuse every newcomer from now on (shutdown in progress).
    pub fn set_draining(&self) {
        self.lock().draining = true;
    }

    pub fn counts(&self) -> RegistryCounts {
        let g = self.lock();
        RegistryCounts {
            connections: g.connections,
            accepted_total: g.accepted_total,
            streams: g.streams.len(),
            publishers: published_streams(&g),
            waiting_players: waiting_players(&g),
            soft_limit: g.limits.soft_max_connections.get(),
            draining: g.draining,
        }
    }

    /// The current publisher of `name`.
    pub fn publisher_of(&self, name: &str) -> Option<PublisherRef> {
        self.lock().streams.get(name).and_then(|e| e.publisher)
    }

    /// How long `name`'s publisher has sent nothing; `None` without a publisher.
    pub fn publisher_silence(&self, name: &str, now: Instant) -> Option<Duration> {
        let g = self.lock();
        let e = g.streams.get(name)?;
        e.publisher?;
        e.activity.as_ref().map(|a| a.silent_for(now))
    }

    /// Streams that players wait for and nobody publishes (an edge's candidates).
    pub fn waiting_streams(&self) -> Vec<String> {
        self.lock()
            .streams
            .iter()
            .filter(|(_, e)| e.publisher.is_none() && e.subscriber_total() > 0)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Players of `name` on every shard, waiting or playing (an on-demand input starts for
    /// them and stops when none is left).
    pub fn subscribers_of(&self, name: &str) -> usize {
        self.lock()
            .streams
            .get(name)
            .map_or(0, Entry::subscriber_total)
    }

    /// Admits a publisher for `name` on `shard` at `now` and reserves the stream for it
    /// (confirm with [`Registry::publisher_accepted`], or give back with
    /// [`Registry::publisher_left`]). Under `second_publisher = "reject"` a current publisher
    /// that has sent no data for `publisher_silence_takeover` is displaced all the same.
    pub fn admit_publisher(
        &self,
        name: &str,
        shard: usize,
        now: Instant,
    ) -> Result<PublishGrant, Refusal> {
        self.admit(name, shard, now, true)
    }

    fn admit(
        &self,
        name: &str,
        shard: usize,
        now: Instant,
        check_cluster: bool,
    ) -> Result<PublishGrant, Refusal> {
        // Another node serves it: a second publisher anywhere in the cluster is a conflict.
        if check_cluster && self.cluster().is_some_and(|c| c.owned_elsewhere(name)) {
            return Err(Refusal::PublisherConflict);
        }
        let mut g = self.lock();
        let g = &mut *g;
        check_connection_limit(g)?;
        let current = g.streams.get(name);
        let existing = current.and_then(|e| e.publisher);
        let mut displaced_silent_for = None;
        if existing.is_some() {
            let silent_for = current
                .and_then(|e| e.activity.as_ref())
                .map(|a| a.silent_for(now));
            let silent = matches!(
                (g.policy.publisher_silence_takeover, silent_for),
                (Some(limit), Some(quiet)) if quiet >= limit
            );
            if silent {
                displaced_silent_for = silent_for;
            } else if g.policy.second_publisher == SecondPublisher::Reject {
                return Err(Refusal::PublisherConflict);
            }
        } else if published_streams(g) >= g.limits.max_streams.get() {
            // Only published streams count: players waiting on made-up names must not lock
            // publishers out (they have their own cap).
            return Err(Refusal::StreamLimit);
        }
        let key = StreamKey(g.next_key);
        g.next_key = g.next_key.wrapping_add(1).max(1);
        let activity = Arc::new(PublisherActivity::new(now));
        let entry = g
            .streams
            .entry(name.to_string())
            .or_insert_with(|| Entry::new(self.shards));
        entry.publisher = Some(PublisherRef {
            shard,
            conn: None,
            key,
        });
        entry.activity = Some(activity.clone());
        g.connections += 1;
        g.accepted_total += 1;
        Ok(PublishGrant {
            key,
            displaced: existing,
            displaced_silent_for,
            activity,
        })
    }

    /// The admitted publisher's connection is up: records its id and returns the shards that
    /// hold subscribers of the stream (they must switch to the new session).
    pub fn publisher_accepted(&self, name: &str, key: StreamKey, conn: LegId) -> Vec<usize> {
        let mut g = self.lock();
        match g.streams.get_mut(name) {
            Some(e) => {
                if let Some(p) = e.publisher.as_mut().filter(|p| p.key == key) {
                    p.conn = Some(conn);
                }
                e.shards_with_subscribers()
            }
            None => Vec::new(),
        }
    }

    /// A publisher connection of session `key` ended (or its admission was abandoned). Returns
    /// the shards with subscribers when it was the stream's current publisher (they start their
    /// grace period), otherwise nothing (it had been displaced).
    pub fn publisher_left(&self, name: &str, key: StreamKey) -> Vec<usize> {
        let mut g = self.lock();
        g.connections = g.connections.saturating_sub(1);
        let Some(e) = g.streams.get_mut(name) else {
            return Vec::new();
        };
        if e.publisher.is_none_or(|p| p.key != key) {
            return Vec::new();
        }
        e.publisher = None;
        e.activity = None;
        let shards = e.shards_with_subscribers();
        if e.is_unused() {
            g.streams.remove(name);
        }
        shards
    }

    /// Admits a subscriber of `name` on `shard`. One without a publisher (waiting) counts
    /// toward `max_waiting_players`, not `max_streams`.
    pub fn admit_subscriber(&self, name: &str, shard: usize) -> Result<SubscribeGrant, Refusal> {
        let mut g = self.lock();
        let g = &mut *g;
        check_connection_limit(g)?;
        let publisher = g.streams.get(name).and_then(|e| e.publisher);
        if publisher.is_none() {
            if g.policy.unknown_stream == UnknownStream::Reject {
                return Err(Refusal::NoPublisher);
            }
            // This also bounds the entries waiting players create (one per name at most).
            if waiting_players(g) >= g.limits.max_waiting_players.get() {
                return Err(Refusal::WaitingLimit);
            }
        }
        let max_subs = g.limits.max_subscribers_per_stream.get();
        let entry = g
            .streams
            .entry(name.to_string())
            .or_insert_with(|| Entry::new(self.shards));
        if entry.subscriber_total() >= max_subs {
            if entry.is_unused() {
                g.streams.remove(name);
            }
            return Err(Refusal::SubscriberLimit);
        }
        let first_on_shard = entry.subscribers[shard] == 0;
        entry.subscribers[shard] += 1;
        g.connections += 1;
        g.accepted_total += 1;
        if publisher.is_none()
            && let Some(c) = self.cluster.get()
        {
            c.player_waiting(name);
        }
        Ok(SubscribeGrant {
            publisher,
            first_on_shard,
        })
    }

    /// A subscriber of `name` on `shard` ended. Returns whether it was the shard's last one
    /// and the stream's publisher (the shard stops its cross-shard feed).
    pub fn subscriber_left(&self, name: &str, shard: usize) -> (bool, Option<PublisherRef>) {
        let mut g = self.lock();
        g.connections = g.connections.saturating_sub(1);
        let Some(e) = g.streams.get_mut(name) else {
            return (false, None);
        };
        let n = &mut e.subscribers[shard];
        *n = n.saturating_sub(1);
        let last = *n == 0;
        let publisher = e.publisher;
        if e.is_unused() {
            g.streams.remove(name);
        }
        (last, publisher)
    }
}

/// Streams with a publisher (admitted or accepted): what `max_streams` limits. A scan, but the
/// registry is only consulted at handshake time and holds at most `max_streams` published
/// entries plus one per waiting player.
fn published_streams(g: &Inner) -> usize {
    g.streams.values().filter(|e| e.publisher.is_some()).count()
}

/// Players on streams without a publisher: what `max_waiting_players` limits.
fn waiting_players(g: &Inner) -> usize {
    g.streams
        .values()
        .filter(|e| e.publisher.is_none())
        .map(Entry::subscriber_total)
        .sum()
}

fn check_connection_limit(g: &Inner) -> Result<(), Refusal> {
    if g.draining || g.connections >= g.limits.max_connections.get() {
        return Err(Refusal::ConnectionLimit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;
    use std::time::Duration;

    use super::*;
    use crate::relay::test_legs::test_leg;

    fn policy(second: SecondPublisher, unknown: UnknownStream) -> StreamPolicy {
        StreamPolicy {
            default_stream: "live".into(),
            second_publisher: second,
            unknown_stream: unknown,
            publisher_grace: Duration::from_secs(5),
            publisher_silence_takeover: None,
            backup_publisher: false,
            backup_switch: Duration::from_secs(1),
        }
    }

    fn limits(conns: usize, streams: usize, subs: usize) -> Limits {
        let n = |v| NonZeroUsize::new(v).expect("non-zero");
        Limits {
            max_streams: n(streams),
            max_subscribers_per_stream: n(subs),
            max_connections: n(conns),
            soft_max_connections: n(conns),
            max_waiting_players: n(conns),
        }
    }

    /// Registry tests never sleep: times are offsets from one instant.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn registry(second: SecondPublisher, unknown: UnknownStream) -> Registry {
        Registry::new(2, policy(second, unknown), limits(100, 10, 10))
    }

    #[test]
    fn second_publisher_is_refused_under_reject_and_displaces_under_takeover() {
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        let g = r.admit_publisher("cam", 0, t0()).unwrap();
        r.publisher_accepted("cam", g.key, test_leg(7));
        assert_eq!(
            r.admit_publisher("cam", 1, t0()),
            Err(Refusal::PublisherConflict)
        );

        let r = registry(SecondPublisher::Takeover, UnknownStream::Reject);
        let first = r.admit_publisher("cam", 0, t0()).unwrap();
        r.publisher_accepted("cam", first.key, test_leg(7));
        let second = r.admit_publisher("cam", 1, t0()).unwrap();
        assert_ne!(second.key, first.key);
        assert_eq!(
            second.displaced,
            Some(PublisherRef {
                shard: 0,
                conn: Some(test_leg(7)),
                key: first.key
            })
        );
        // The displaced publisher's close does not unpublish the newcomer.
        assert!(r.publisher_left("cam", first.key).is_empty());
        assert_eq!(r.publisher_of("cam").map(|p| p.key), Some(second.key));
    }

    #[test]
    fn unknown_stream_rejects_or_waits_per_policy() {
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        assert_eq!(r.admit_subscriber("nope", 0), Err(Refusal::NoPublisher));
        assert_eq!(
            r.counts().streams,
            0,
            "a refused player leaves nothing behind"
        );

        let r = registry(
            SecondPublisher::Reject,
            UnknownStream::Wait(Duration::from_secs(1)),
        );
        let g = r.admit_subscriber("later", 1).unwrap();
        assert_eq!(g.publisher, None);
        assert!(g.first_on_shard);
        // The publisher that arrives learns which shards wait for it.
        let p = r.admit_publisher("later", 0, t0()).unwrap();
        assert_eq!(r.publisher_accepted("later", p.key, test_leg(9)), vec![1]);
    }

    #[test]
    fn subscribers_are_counted_per_shard() {
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        let p = r.admit_publisher("s", 0, t0()).unwrap();
        r.publisher_accepted("s", p.key, test_leg(1));
        assert!(r.admit_subscriber("s", 1).unwrap().first_on_shard);
        assert!(!r.admit_subscriber("s", 1).unwrap().first_on_shard);
        assert!(r.admit_subscriber("s", 0).unwrap().first_on_shard);
        assert_eq!(r.counts().connections, 4);
        assert!(!r.subscriber_left("s", 1).0);
        let (last, publisher) = r.subscriber_left("s", 1);
        assert!(last);
        assert_eq!(publisher.map(|p| p.shard), Some(0));
        assert_eq!(r.publisher_left("s", p.key), vec![0]);
        r.subscriber_left("s", 0);
        let c = r.counts();
        assert_eq!((c.connections, c.streams), (0, 0));
    }

    #[test]
    fn limits_refuse_with_overload() {
        let r = Registry::new(
            1,
            policy(
                SecondPublisher::Reject,
                UnknownStream::Wait(Duration::from_secs(1)),
            ),
            limits(3, 2, 1),
        );
        r.admit_publisher("a", 0, t0()).unwrap();
        r.admit_publisher("b", 0, t0()).unwrap();
        assert_eq!(r.admit_publisher("c", 0, t0()), Err(Refusal::StreamLimit));
        r.admit_subscriber("a", 0).unwrap();
        assert_eq!(r.admit_subscriber("a", 0), Err(Refusal::ConnectionLimit));
        r.reload(None, Some(limits(10, 2, 1)));
        assert_eq!(r.admit_subscriber("a", 0), Err(Refusal::SubscriberLimit));
        r.set_draining();
        assert_eq!(r.admit_subscriber("b", 0), Err(Refusal::ConnectionLimit));
    }

    #[test]
    fn waiting_players_have_their_own_cap_and_leave_stream_slots_to_publishers() {
        let mut l = limits(100, 2, 10);
        l.max_waiting_players = NonZeroUsize::new(3).expect("non-zero");
        let wait = UnknownStream::Wait(Duration::from_secs(10));
        let r = Registry::new(2, policy(SecondPublisher::Reject, wait), l);
        // Three players on made-up names: more names than max_streams, all admitted.
        for name in ["x", "y", "z"] {
            r.admit_subscriber(name, 0)
                .expect("waiting player admitted");
        }
        assert_eq!(r.counts().waiting_players, 3);
        assert_eq!(r.admit_subscriber("w", 1), Err(Refusal::WaitingLimit));
        assert_eq!(r.admit_subscriber("x", 1), Err(Refusal::WaitingLimit));
        // Publishers still find room up to max_streams, on new names and waited-for ones.
        let a = r.admit_publisher("a", 0, t0()).expect("publisher a");
        let x = r
            .admit_publisher("x", 1, t0())
            .expect("publisher of a waited-for stream");
        assert_eq!(r.publisher_accepted("x", x.key, test_leg(5)), vec![0]);
        assert_eq!(
            r.counts().waiting_players,
            2,
            "x's player is no longer waiting"
        );
        assert_eq!(
            r.admit_publisher("b", 0, t0()),
            Err(Refusal::StreamLimit),
            "max_streams counts published streams"
        );
        // Players of a published stream are not waiting players.
        r.admit_subscriber("x", 0)
            .expect("player of a published stream");
        r.admit_subscriber("w", 0)
            .expect("a waiting slot is free again");
        assert_eq!(r.counts().waiting_players, 3);
        // The publisher leaves: its players wait again (and count).
        assert_eq!(r.publisher_left("x", x.key), vec![0]);
        assert_eq!(r.counts().waiting_players, 5);
        assert_eq!(r.admit_subscriber("v", 0), Err(Refusal::WaitingLimit));
        r.publisher_left("a", a.key);
        r.admit_publisher("b", 0, t0())
            .expect("a freed stream slot");
    }

    #[test]
    fn a_silent_publisher_is_taken_over_under_reject() {
        let mut p = policy(SecondPublisher::Reject, UnknownStream::Reject);
        p.publisher_silence_takeover = Some(Duration::from_millis(1500));
        let r = Registry::new(2, p, limits(100, 10, 10));
        let t = t0();
        let first = r.admit_publisher("cam", 0, t).expect("first");
        r.publisher_accepted("cam", first.key, test_leg(7));
        // Silence counts from admission: 1 s after it, the first still holds the stream.
        assert_eq!(
            r.admit_publisher("cam", 1, t + Duration::from_secs(1)),
            Err(Refusal::PublisherConflict)
        );
        // Data keeps it: 1 s of data, then 1 s of silence is not enough.
        first.activity.on_data(t + Duration::from_secs(2));
        assert_eq!(
            r.admit_publisher("cam", 1, t + Duration::from_secs(3)),
            Err(Refusal::PublisherConflict)
        );
        let at = t + Duration::from_millis(3600);
        let second = r.admit_publisher("cam", 1, at).expect("silent for 1.6 s");
        assert_eq!(
            second.displaced.map(|d| (d.shard, d.conn)),
            Some((0, Some(test_leg(7))))
        );
        assert_eq!(
            second.displaced_silent_for,
            Some(Duration::from_millis(1600))
        );
        // The newcomer has its own record; the old one's close does not unpublish it.
        assert_ne!(second.activity, first.activity);
        assert!(r.publisher_left("cam", first.key).is_empty());
        assert_eq!(r.publisher_of("cam").map(|p| p.key), Some(second.key));
        // Off (None): a silent publisher keeps its stream under reject.
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        r.admit_publisher("cam", 0, t).expect("first");
        assert_eq!(
            r.admit_publisher("cam", 1, t + Duration::from_secs(60)),
            Err(Refusal::PublisherConflict)
        );
    }
}
