//! The process-wide stream registry: which shard publishes each stream, under which session
//! key, how many subscribers each shard holds for it, and the connection count behind the
//! limits.
//!
//! Owns admission decisions that need a view across shards: one publisher per stream (1409 or
//! takeover), unknown streams (1404 or wait), limits (1402), and the bookkeeping that tells a
//! shard whom to notify when a publisher session starts or ends. Must not be touched per packet:
//! it is locked only at handshake time and when a connection closes, so a `Mutex` is the right
//! tool (the packet path never sees it). Must not read the clock or send anything: it answers,
//! and the calling shard acts.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::handoff::StreamKey;
use crate::config::{EncryptionRule, Limits, SecondPublisher, StreamPolicy, UnknownStream};
use crate::srt::crypto::Encryption;
use crate::srt::endpoint::ConnId;
use crate::srt::handshake::RejectReason;
use crate::srt::handshake::StreamMode;

/// Who publishes a stream: shard, connection (once accepted) and session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherRef {
    pub shard: usize,
    /// `None` between admission and the endpoint's `Accepted` event.
    pub conn: Option<ConnId>,
    pub key: StreamKey,
}

/// A publisher admission: its session key and, under takeover, the publisher it displaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishGrant {
    pub key: StreamKey,
    pub displaced: Option<PublisherRef>,
}

/// A subscriber admission: the stream's current publisher, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeGrant {
    pub publisher: Option<PublisherRef>,
    /// This shard had no subscriber of the stream before.
    pub first_on_shard: bool,
}

/// Why the registry refused a caller, for counting; the wire code is `RejectReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ConnectionLimit,
    StreamLimit,
    SubscriberLimit,
    PublisherConflict,
    NoPublisher,
}

impl Refusal {
    pub fn reason(self) -> RejectReason {
        match self {
            Refusal::ConnectionLimit | Refusal::StreamLimit | Refusal::SubscriberLimit => {
                RejectReason::Overload
            }
            Refusal::PublisherConflict => RejectReason::Conflict,
            Refusal::NoPublisher => RejectReason::NotFound,
        }
    }
}

#[derive(Debug)]
struct Entry {
    publisher: Option<PublisherRef>,
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
}

#[derive(Debug)]
struct Inner {
    policy: StreamPolicy,
    limits: Limits,
    /// `[[encryption]]`, first match wins.
    encryption: Vec<EncryptionRule>,
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
}

/// Counts for health checks and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegistryCounts {
    pub connections: usize,
    pub accepted_total: u64,
    pub streams: usize,
    pub publishers: usize,
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
                encryption: Vec::new(),
                streams: HashMap::new(),
                next_key: 1,
                connections: 0,
                accepted_total: 0,
                draining: false,
            }),
        }
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

    /// The `[[encryption]]` rules (at start and on reload).
    pub fn set_encryption(&self, rules: Vec<EncryptionRule>) {
        self.lock().encryption = rules;
    }

    /// The encryption a caller of `name` in `mode` gets: its side of the first matching rule;
    /// the default (none, enforced: encrypting callers are refused) when no rule matches.
    pub fn encryption_for(&self, name: &str, mode: StreamMode) -> Encryption {
        let g = self.lock();
        g.encryption
            .iter()
            .find(|r| r.streams.matches(name))
            .map(|r| match mode {
                StreamMode::Request => r.subscriber.clone(),
                StreamMode::Publish | StreamMode::Bidirectional => r.publisher.clone(),
            })
            .unwrap_or_default()
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
            publishers: g.streams.values().filter(|e| e.publisher.is_some()).count(),
            soft_limit: g.limits.soft_max_connections.get(),
            draining: g.draining,
        }
    }

    /// The current publisher of `name`.
    pub fn publisher_of(&self, name: &str) -> Option<PublisherRef> {
        self.lock().streams.get(name).and_then(|e| e.publisher)
    }

    /// Admits a publisher for `name` on `shard` and reserves the stream for it (confirm with
    /// [`Registry::publisher_accepted`], or give back with [`Registry::publisher_left`]).
    pub fn admit_publisher(&self, name: &str, shard: usize) -> Result<PublishGrant, Refusal> {
        let mut g = self.lock();
        let g = &mut *g;
        check_connection_limit(g)?;
        let existing = g.streams.get(name).and_then(|e| e.publisher);
        if existing.is_some() && g.policy.second_publisher == SecondPublisher::Reject {
            return Err(Refusal::PublisherConflict);
        }
        if !g.streams.contains_key(name) && g.streams.len() >= g.limits.max_streams.get() {
            return Err(Refusal::StreamLimit);
        }
        let key = StreamKey(g.next_key);
        g.next_key = g.next_key.wrapping_add(1).max(1);
        let entry = g.streams.entry(name.to_string()).or_insert_with(|| Entry {
            publisher: None,
            subscribers: vec![0; self.shards],
        });
        entry.publisher = Some(PublisherRef {
            shard,
            conn: None,
            key,
        });
        g.connections += 1;
        g.accepted_total += 1;
        Ok(PublishGrant {
            key,
            displaced: existing,
        })
    }

    /// The admitted publisher's connection is up: records its id and returns the shards that
    /// hold subscribers of the stream (they must switch to the new session).
    pub fn publisher_accepted(&self, name: &str, key: StreamKey, conn: ConnId) -> Vec<usize> {
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
        let shards = e.shards_with_subscribers();
        if e.is_unused() {
            g.streams.remove(name);
        }
        shards
    }

    /// Admits a subscriber of `name` on `shard`.
    pub fn admit_subscriber(&self, name: &str, shard: usize) -> Result<SubscribeGrant, Refusal> {
        let mut g = self.lock();
        let g = &mut *g;
        check_connection_limit(g)?;
        let publisher = g.streams.get(name).and_then(|e| e.publisher);
        if publisher.is_none() && g.policy.unknown_stream == UnknownStream::Reject {
            return Err(Refusal::NoPublisher);
        }
        if !g.streams.contains_key(name) && g.streams.len() >= g.limits.max_streams.get() {
            return Err(Refusal::StreamLimit);
        }
        let max_subs = g.limits.max_subscribers_per_stream.get();
        let entry = g.streams.entry(name.to_string()).or_insert_with(|| Entry {
            publisher: None,
            subscribers: vec![0; self.shards],
        });
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

    fn policy(second: SecondPublisher, unknown: UnknownStream) -> StreamPolicy {
        StreamPolicy {
            default_stream: "live".into(),
            second_publisher: second,
            unknown_stream: unknown,
            publisher_grace: Duration::from_secs(5),
        }
    }

    fn limits(conns: usize, streams: usize, subs: usize) -> Limits {
        let n = |v| NonZeroUsize::new(v).expect("non-zero");
        Limits {
            max_streams: n(streams),
            max_subscribers_per_stream: n(subs),
            max_connections: n(conns),
            soft_max_connections: n(conns),
        }
    }

    fn registry(second: SecondPublisher, unknown: UnknownStream) -> Registry {
        Registry::new(2, policy(second, unknown), limits(100, 10, 10))
    }

    #[test]
    fn second_publisher_is_refused_under_reject_and_displaces_under_takeover() {
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        let g = r.admit_publisher("cam", 0).unwrap();
        r.publisher_accepted("cam", g.key, 7);
        assert_eq!(r.admit_publisher("cam", 1), Err(Refusal::PublisherConflict));
        assert_eq!(Refusal::PublisherConflict.reason().code(), 1409);

        let r = registry(SecondPublisher::Takeover, UnknownStream::Reject);
        let first = r.admit_publisher("cam", 0).unwrap();
        r.publisher_accepted("cam", first.key, 7);
        let second = r.admit_publisher("cam", 1).unwrap();
        assert_ne!(second.key, first.key);
        assert_eq!(
            second.displaced,
            Some(PublisherRef {
                shard: 0,
                conn: Some(7),
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
        assert_eq!(Refusal::NoPublisher.reason().code(), 1404);
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
        let p = r.admit_publisher("later", 0).unwrap();
        assert_eq!(r.publisher_accepted("later", p.key, 9), vec![1]);
    }

    #[test]
    fn subscribers_are_counted_per_shard() {
        let r = registry(SecondPublisher::Reject, UnknownStream::Reject);
        let p = r.admit_publisher("s", 0).unwrap();
        r.publisher_accepted("s", p.key, 1);
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
        r.admit_publisher("a", 0).unwrap();
        r.admit_publisher("b", 0).unwrap();
        assert_eq!(r.admit_publisher("c", 0), Err(Refusal::StreamLimit));
        r.admit_subscriber("a", 0).unwrap();
        assert_eq!(r.admit_subscriber("a", 0), Err(Refusal::ConnectionLimit));
        r.reload(None, Some(limits(10, 2, 1)));
        assert_eq!(r.admit_subscriber("a", 0), Err(Refusal::SubscriberLimit));
        assert_eq!(Refusal::SubscriberLimit.reason().code(), 1402);
        r.set_draining();
        assert_eq!(r.admit_subscriber("b", 0), Err(Refusal::ConnectionLimit));
    }
}
