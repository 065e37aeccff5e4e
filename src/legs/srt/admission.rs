//! A shard's answer to each SRT conclusion: resolve the Stream ID to a stream and a mode, ask
//! the registry, and remember the grant until the endpoint reports the connection accepted.
//!
//! Runs inside `Endpoint::handle_datagram` (the `AccessControl` hook), at handshake time only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::info;

use super::encryption::EncryptionRules;
use super::resolve::resolve;
use crate::access::{Denied, Mode, SessionStore};
use crate::relay::registry::{PublishGrant, Refusal, Registry, SubscribeGrant};
use crate::service::events::{self, Asked};
use crate::srt::connection::Delivery;
use crate::srt::crypto::Encryption;
use crate::srt::endpoint::{AccessControl, Admit};
use crate::srt::handshake::{ConclusionRequest, RejectReason, StreamId, StreamMode};
use crate::webhooks::{Ask, Hook, ShardHooks, Verdict};

/// The SRT code for a registry refusal (libsrt `docs/API/rejection-codes.md`).
pub fn reject_reason(r: Refusal) -> RejectReason {
    match r {
        Refusal::ConnectionLimit
        | Refusal::StreamLimit
        | Refusal::SubscriberLimit
        | Refusal::WaitingLimit => RejectReason::Overload,
        Refusal::PublisherConflict => RejectReason::Conflict,
        Refusal::NoPublisher => RejectReason::NotFound,
    }
}

/// The SRT code for refused credentials: 1401 or 1403.
pub fn denied_reason(d: Denied) -> RejectReason {
    match d {
        Denied::Unauthorized => RejectReason::Unauthorized,
        Denied::Forbidden => RejectReason::Forbidden,
    }
}

/// The session mode a Stream ID mode asks for. `None` for `bidirectional`, which a relay
/// connection does not do.
pub fn access_mode(m: StreamMode) -> Option<Mode> {
    match m {
        StreamMode::Publish => Some(Mode::Publish),
        StreamMode::Request => Some(Mode::Request),
        StreamMode::Bidirectional => None,
    }
}

/// An admission waiting for its `Accepted` event.
#[derive(Debug, Clone)]
pub struct Grant {
    pub name: String,
    pub kind: GrantKind,
    at: Instant,
}

#[derive(Debug, Clone)]
pub enum GrantKind {
    Publish(PublishGrant),
    Subscribe(SubscribeGrant),
}

/// Refusals by cause, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionCounters {
    pub bad_stream_id: u64,
    pub bad_mode: u64,
    /// Refused by `[access]`: no session (1401) or a bad one (1403).
    pub unauthorized: u64,
    pub forbidden: u64,
    pub connection_limit: u64,
    pub stream_limit: u64,
    pub subscriber_limit: u64,
    pub publisher_conflict: u64,
    pub no_publisher: u64,
    /// `limits.max_waiting_players` reached (1402).
    pub waiting_limit: u64,
    /// A publisher whose Stream ID names no resource (1400).
    pub publish_without_resource: u64,
    /// Publishers admitted in place of one silent for `publisher_silence_takeover_ms`.
    pub silent_takeovers: u64,
    /// Grants whose connection never came up (given back to the registry).
    pub abandoned: u64,
    /// Refused by an `on_publish` / `on_play` webhook (its status, a timeout, or overload).
    pub hook_denied: u64,
}

pub struct Admission {
    shard: usize,
    registry: Arc<Registry>,
    sessions: Arc<SessionStore>,
    encryption: Arc<EncryptionRules>,
    /// By caller address and caller socket id: one address may carry several callers.
    grants: HashMap<(SocketAddr, u32), Grant>,
    /// Set by the shard before each `handle_datagram` (the hook gets no time).
    pub now: Instant,
    pub counters: AdmissionCounters,
    /// `[webhooks]` on_publish / on_play, when configured (RTMP and HTTP players use it too).
    pub hooks: Option<ShardHooks>,
    /// The callback's answer `pending` found for the conclusion `check` is about to see.
    decided: Option<Verdict>,
    /// `[srtla]`: the addresses SRTLA groups' merged connections come from.
    pub bonded: Option<crate::srtla::BondedPeers>,
}

/// How long an admission may wait for its connection (it follows within the same datagram;
/// anything older was abandoned by the endpoint).
const GRANT_TTL: Duration = Duration::from_secs(2);

impl Admission {
    pub fn new(
        shard: usize,
        registry: Arc<Registry>,
        sessions: Arc<SessionStore>,
        encryption: Arc<EncryptionRules>,
        now: Instant,
    ) -> Self {
        Admission {
            shard,
            registry,
            sessions,
            encryption,
            grants: HashMap::new(),
            now,
            counters: AdmissionCounters::default(),
            hooks: None,
            decided: None,
            bonded: None,
        }
    }

    /// The `[access]` sessions (HTTP players redeem theirs here too).
    pub fn sessions(&self) -> &Arc<SessionStore> {
        &self.sessions
    }

    /// The grant for the caller at `peer` with socket id `peer_socket_id`, now accepted.
    pub fn take(&mut self, peer: SocketAddr, peer_socket_id: u32) -> Option<Grant> {
        self.grants.remove(&(peer, peer_socket_id))
    }

    /// Gives back registry reservations whose connection never came up.
    pub fn expire(&mut self, now: Instant) {
        let stale: Vec<(SocketAddr, u32)> = self
            .grants
            .iter()
            .filter(|(_, g)| now.saturating_duration_since(g.at) > GRANT_TTL)
            .map(|(&p, _)| p)
            .collect();
        for peer in stale {
            if let Some(g) = self.grants.remove(&peer) {
                self.counters.abandoned += 1;
                self.release(&g);
            }
        }
    }

    fn release(&self, g: &Grant) {
        match &g.kind {
            GrantKind::Publish(p) => {
                self.registry.publisher_left(&g.name, p.key);
            }
            GrantKind::Subscribe(_) => {
                self.registry.subscriber_left(&g.name, self.shard);
            }
        }
    }

    /// A registry refusal: counted, logged, and the code the caller gets.
    fn refuse(&mut self, peer: SocketAddr, asked: Asked<'_>, r: Refusal) -> RejectReason {
        self.count(r);
        let code = reject_reason(r);
        events::rejected(self.now, self.shard, peer, asked, code);
        code
    }

    pub fn count(&mut self, r: Refusal) {
        let c = &mut self.counters;
        match r {
            Refusal::ConnectionLimit => c.connection_limit += 1,
            Refusal::StreamLimit => c.stream_limit += 1,
            Refusal::SubscriberLimit => c.subscriber_limit += 1,
            Refusal::PublisherConflict => c.publisher_conflict += 1,
            Refusal::NoPublisher => c.no_publisher += 1,
            Refusal::WaitingLimit => c.waiting_limit += 1,
        }
    }
}

/// The callback's question about an SRT caller: the stream, and the Stream ID as sent
/// (`raw`) and by key.
pub fn srt_ask(
    hook: Hook,
    name: &str,
    peer: SocketAddr,
    raw: Option<&[u8]>,
    sid: Option<&StreamId>,
) -> Ask {
    let mut ask = Ask::new(hook, "srt", name, Some(peer));
    if let Some(sid) = sid {
        let text = raw.map_or_else(
            || sid.to_string(),
            |r| String::from_utf8_lossy(r).into_owned(),
        );
        ask = ask.with("stream_id", text);
        for (k, v) in [
            ("user", &sid.user),
            ("session", &sid.session),
            ("host", &sid.host),
        ] {
            if let Some(v) = v {
                ask = ask.with(k, v.clone());
            }
        }
        for (k, v) in &sid.extra {
            ask = ask.with(k, v.clone());
        }
    }
    ask
}

impl AccessControl for Admission {
    /// Asks the admission callback, if one is configured for the caller's mode, before
    /// anything else is decided (a session is redeemed only once the callback agreed).
    fn pending(&mut self, req: &ConclusionRequest) -> bool {
        self.decided = None;
        let Some(hooks) = self.hooks.as_mut() else {
            return false;
        };
        let Ok(sid) = req.stream_id() else {
            return false;
        };
        let policy = self.registry.policy();
        let Ok((name, mode)) = resolve(sid.as_ref(), &policy.default_stream) else {
            return false;
        };
        let hook = match mode {
            StreamMode::Publish => Hook::Publish,
            StreamMode::Request => Hook::Play,
            StreamMode::Bidirectional => return false,
        };
        let raw = req.handshake().stream_id();
        match hooks.ask(
            srt_ask(hook, &name, req.peer(), raw, sid.as_ref()),
            self.now,
        ) {
            Some(v) => {
                self.decided = Some(v);
                false
            }
            None => true,
        }
    }

    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let sid = match req.stream_id() {
            Ok(sid) => sid,
            Err(_) => {
                // The endpoint refuses these before asking (and counts over-long ones); kept
                // for an endpoint that does not.
                self.counters.bad_stream_id += 1;
                events::rejected(
                    self.now,
                    self.shard,
                    req.peer(),
                    Asked::Unreadable,
                    RejectReason::BadRequest,
                );
                return Err(RejectReason::BadRequest);
            }
        };
        let policy = self.registry.policy();
        let (name, mode) = match resolve(sid.as_ref(), &policy.default_stream) {
            Ok(r) => r,
            Err(_) => {
                self.counters.publish_without_resource += 1;
                events::rejected(
                    self.now,
                    self.shard,
                    req.peer(),
                    Asked::PublishWithoutResource,
                    RejectReason::BadRequest,
                );
                return Err(RejectReason::BadRequest);
            }
        };
        if sid.is_none() {
            events::default_stream(
                self.now,
                self.shard,
                req.peer(),
                mode == StreamMode::Publish,
                &name,
            );
        }
        if let Some(Verdict::Deny(d)) = self.decided.take() {
            self.counters.hook_denied += 1;
            let code = d.srt_reason();
            info!(
                "shard {}: webhook refused {} for {name:?} from {}: {d:?}",
                self.shard,
                if mode == StreamMode::Publish {
                    "publish"
                } else {
                    "play"
                },
                req.peer()
            );
            events::rejected(self.now, self.shard, req.peer(), asked(mode, &name), code);
            return Err(code);
        }
        // Credentials first: a refused caller must not learn whether the stream exists.
        let session = sid.as_ref().and_then(|s| s.session.as_deref());
        // An edge node of this cluster pulling a stream shows the cluster's secret instead.
        let edge_user = mode == StreamMode::Request
            && sid.as_ref().and_then(|s| s.user.as_deref()) == Some(crate::cluster::EDGE_USER);
        let edge = edge_user
            && session
                .is_some_and(|s| self.registry.cluster().is_some_and(|c| c.is_edge_secret(s)));
        if let Some(m) = access_mode(mode).filter(|_| !edge)
            && let Err(d) = self.sessions.redeem(&name, m, session, self.now)
        {
            match d {
                Denied::Unauthorized => self.counters.unauthorized += 1,
                Denied::Forbidden => self.counters.forbidden += 1,
            }
            let code = denied_reason(d);
            events::rejected(self.now, self.shard, req.peer(), asked(mode, &name), code);
            return Err(code);
        }
        // A caller repeating its conclusion before the answer reached it is answered by the
        // endpoint; a grant left from an earlier attempt of this caller is replaced.
        let key = (req.peer(), req.peer_socket_id());
        if let Some(old) = self.grants.remove(&key) {
            self.release(&old);
        }
        // Under `streams.backup_publisher` a publisher feeds its role's hidden stream and the
        // stream's switch publishes the public one (`src/backup`).
        let stream = match mode {
            StreamMode::Publish if policy.backup_publisher => {
                let user = sid.as_ref().and_then(|s| s.user.as_deref());
                crate::backup::feed_name(&name, crate::backup::Role::from_user(user))
            }
            _ => name.clone(),
        };
        let (kind, delivery) = match mode {
            StreamMode::Publish => {
                match self.registry.admit_publisher(&stream, self.shard, self.now) {
                    // The relay forwards a publisher's packets as they arrive (cut-through).
                    Ok(g) => {
                        if g.displaced_silent_for.is_some() {
                            self.counters.silent_takeovers += 1;
                        }
                        (GrantKind::Publish(g), Delivery::CutThrough)
                    }
                    Err(r) => return Err(self.refuse(req.peer(), Asked::Publish(&name), r)),
                }
            }
            StreamMode::Request => match self.registry.admit_subscriber(&name, self.shard) {
                // A player sends nothing but control packets; TSBPD costs it nothing.
                Ok(g) => (GrantKind::Subscribe(g), Delivery::Tsbpd),
                Err(r) => return Err(self.refuse(req.peer(), Asked::Play(&name), r)),
            },
            // One direction per connection in this relay.
            StreamMode::Bidirectional => {
                self.counters.bad_mode += 1;
                events::rejected(
                    self.now,
                    self.shard,
                    req.peer(),
                    Asked::Unreadable,
                    RejectReason::BadMode,
                );
                return Err(RejectReason::BadMode);
            }
        };
        // Each leg has its own passphrase: the relay decrypts a publisher once and encrypts
        // per subscriber with that subscriber's key; a clear leg costs nothing.
        // A caller under the edges' user name gets the cluster's passphrase when it has one,
        // enforced: only a node of the cluster can read what it pulls, whatever the stream's
        // rule for players says.
        let edge_key = edge_user
            .then(|| self.registry.cluster().and_then(|c| c.edge_passphrase()))
            .flatten();
        let encryption = match edge_key {
            Some(p) => Encryption {
                passphrase: Some(p),
                enforced: true,
                ..Encryption::default()
            },
            None => self.encryption.for_caller(&name, mode),
        };
        self.grants.insert(
            key,
            Grant {
                name: stream,
                kind,
                at: self.now,
            },
        );
        // An SRTLA group's merged connection: its packets come over several links.
        let bonded = self.bonded.as_ref().is_some_and(|b| b.contains(req.peer()));
        Ok(Admit {
            delivery,
            encryption,
            bonded,
        })
    }
}

/// What a caller asked for, for the rejection line.
fn asked(mode: StreamMode, name: &str) -> Asked<'_> {
    match mode {
        StreamMode::Publish => Asked::Publish(name),
        StreamMode::Request => Asked::Play(name),
        StreamMode::Bidirectional => Asked::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutral_refusals_get_libsrt_codes() {
        let code = |r| reject_reason(r).code();
        assert_eq!(code(Refusal::PublisherConflict), 1409);
        assert_eq!(code(Refusal::NoPublisher), 1404);
        for r in [
            Refusal::ConnectionLimit,
            Refusal::StreamLimit,
            Refusal::SubscriberLimit,
            Refusal::WaitingLimit,
        ] {
            assert_eq!(code(r), 1402, "{r:?}");
        }
        assert_eq!(denied_reason(Denied::Unauthorized).code(), 1401);
        assert_eq!(denied_reason(Denied::Forbidden).code(), 1403);
        assert_eq!(access_mode(StreamMode::Bidirectional), None);
        assert_eq!(access_mode(StreamMode::Publish), Some(Mode::Publish));
    }
}
