//! The session protocol between shards, sans-IO: what one shard does when a publisher or a
//! player comes or goes, or a peer shard's notice arrives, and which notices it sends back.
//!
//! Owns: the rules that keep "shard S holds a live replica of session K" and "the publishing
//! shard forwards K to S" the same fact, whatever order the notices cross in. Must not: touch
//! sockets, connections or the clock; the shard loop delivers [`Outgoing`] notices (one FIFO
//! inbox per shard, any sender) and calls in here.
//!
//! The rules, each against a race seen or constructed:
//! - A player's shard asks to be fed (`Forward`) exactly when it starts a replica, and says
//!   `Unforward` exactly when it drops one (its last local player left). Both come from the
//!   shard's own subscriber list; the registry's per-shard count includes admissions whose
//!   connection is not up yet, so it can disagree for a moment.
//! - One shard's notices to another are delivered in order, so an `Unforward` and a later
//!   `Forward` from the same shard cannot swap.
//! - A `Forward` for a session the publishing shard no longer has (it ended, or was replaced
//!   while the notice was in flight) is answered with `ForwardRefused`: the replica ends and
//!   its players get the grace period, instead of waiting forever for a feed that never comes.
//! - `SessionStarted` / `SessionEnded` carry the session key; a notice for a session other than
//!   the replica's current one changes nothing, so a new session's start overtaking the old
//!   one's end (publishers on two shards) is harmless, and a start applies only while the
//!   registry still names that session: a late start must not replace a newer session (seen
//!   in the seeded churn test: a stale replica replaced a local publisher's live session).

use std::time::{Duration, Instant};

use super::{Departure, Role, ShardStreams};
use crate::relay::handoff::StreamKey;
use crate::relay::leg::{LegId, ReadOrder};
use crate::relay::registry::{PublisherRef, Registry};

/// A notice between shards about publisher sessions and who is fed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionMsg {
    /// To the publishing shard: start feeding session `key` to shard `to`: from the oldest
    /// packet held when `to`'s players were waiting for this session (they get all of it, as
    /// the publishing shard's own waiting players do), else from the last keyframe (a player
    /// joining a running session).
    Forward {
        key: StreamKey,
        to: usize,
        from_start: bool,
    },
    /// To the publishing shard: shard `to` dropped its replica of `key`.
    Unforward { key: StreamKey, to: usize },
    /// To a shard that asked for `key`: that session is over here.
    ForwardRefused { key: StreamKey },
    /// To a shard with subscribers of `name`: a publisher session began on `shard`.
    SessionStarted {
        name: String,
        key: StreamKey,
        shard: usize,
    },
    /// To a shard with subscribers of `name`: session `key` ended; its grace period starts.
    SessionEnded { name: String, key: StreamKey },
}

/// A notice to deliver to shard `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: usize,
    pub msg: SessionMsg,
}

impl ShardStreams {
    /// A local publisher's connection is up: its session starts here, and the shards holding
    /// players of `name` are told.
    pub fn publisher_accepted(
        &mut self,
        me: usize,
        registry: &Registry,
        name: &str,
        key: StreamKey,
        conn: LegId,
        out: &mut Vec<Outgoing>,
    ) {
        self.start_session(name, key, Some(conn));
        for s in registry.publisher_accepted(name, key, conn) {
            if s != me {
                out.push(Outgoing {
                    to: s,
                    msg: SessionMsg::SessionStarted {
                        name: name.to_string(),
                        key,
                        shard: me,
                    },
                });
            }
        }
    }

    /// A local player's connection is up. When the stream's current publisher (the registry's
    /// word now, not at admission: it may have moved on) is on another shard and this shard is
    /// not already fed its session, a replica starts and `Forward` goes out.
    // The shard's identity, the registry, the player, how it reads and its wait policy: each is needed, and
    // bundling them for this one call would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn subscriber_accepted(
        &mut self,
        me: usize,
        registry: &Registry,
        name: &str,
        conn: LegId,
        order: ReadOrder,
        now: Instant,
        wait: Option<Duration>,
        out: &mut Vec<Outgoing>,
    ) {
        self.add_subscriber(name, conn, order, now, wait);
        if let Some(PublisherRef { shard, key, .. }) = registry.publisher_of(name)
            && shard != me
            && self.live_key(name) != Some(key)
        {
            self.start_replica(name, key, shard);
            out.push(Outgoing {
                to: shard,
                msg: SessionMsg::Forward {
                    key,
                    to: me,
                    from_start: false,
                },
            });
        }
    }

    /// A local connection closed: the registry forgets it, and the other shards hear what
    /// changed for them. Returns what it was.
    pub fn connection_closed(
        &mut self,
        me: usize,
        registry: &Registry,
        conn: LegId,
        now: Instant,
        out: &mut Vec<Outgoing>,
    ) -> Option<Role> {
        let Departure { role, unforward } = self.remove_connection(conn, now)?;
        match &role {
            Role::Publisher { name, key } => {
                for s in registry.publisher_left(name, *key) {
                    if s != me {
                        out.push(Outgoing {
                            to: s,
                            msg: SessionMsg::SessionEnded {
                                name: name.clone(),
                                key: *key,
                            },
                        });
                    }
                }
            }
            Role::Subscriber { name } => {
                registry.subscriber_left(name, me);
                if let Some((key, source)) = unforward {
                    out.push(Outgoing {
                        to: source,
                        msg: SessionMsg::Unforward { key, to: me },
                    });
                }
            }
        }
        Some(role)
    }

    /// A notice from another shard.
    pub fn on_session_msg(
        &mut self,
        me: usize,
        registry: &Registry,
        msg: SessionMsg,
        now: Instant,
        out: &mut Vec<Outgoing>,
    ) {
        match msg {
            SessionMsg::Forward {
                key,
                to,
                from_start,
            } => {
                if !self.add_forwarder(key, to, from_start) {
                    // A race between shards, at most once per player arrival: debug, counted.
                    self.forwards_refused += 1;
                    log::debug!("forward of {key:?} to shard {to} refused: the session is over");
                    out.push(Outgoing {
                        to,
                        msg: SessionMsg::ForwardRefused { key },
                    });
                }
            }
            SessionMsg::Unforward { key, to } => self.remove_forwarder(key, to),
            SessionMsg::ForwardRefused { key } => self.end_replica(key, now),
            SessionMsg::SessionStarted { name, key, shard } => {
                // A start that was overtaken (that publisher left and another came, maybe on
                // this very shard) must not replace what is live now: the registry says which
                // session is current, and the current one's own notice is on its way.
                let current = registry.publisher_of(&name).is_some_and(|p| p.key == key);
                if current && self.has_subscribers(&name) && self.start_replica(&name, key, shard) {
                    // Its players were here before this session began: all of it, not from a
                    // keyframe the publisher sent while this notice was on its way (seen as
                    // the start of the next session missing after a publisher restart).
                    out.push(Outgoing {
                        to: shard,
                        msg: SessionMsg::Forward {
                            key,
                            to: me,
                            from_start: true,
                        },
                    });
                }
            }
            SessionMsg::SessionEnded { name, key } => self.end_session(&name, key, now),
        }
    }
}
