//! Admitting an HTTP player: the same `[access]` sessions and registry as an SRT player, with
//! HTTP's answers (`playback::Refused` -> 401/403/404/503).

use std::time::Instant;

use crate::access::{Denied, Mode, SessionStore};
use crate::playback::Refused;
use crate::relay::registry::{Refusal, Registry, SubscribeGrant};

/// HTTP's answer to a neutral refusal.
pub fn refused(r: Refusal) -> Refused {
    match r {
        Refusal::NoPublisher => Refused::NotFound,
        Refusal::ConnectionLimit
        | Refusal::StreamLimit
        | Refusal::SubscriberLimit
        | Refusal::WaitingLimit
        | Refusal::PublisherConflict => Refused::Full,
    }
}

pub fn denied(d: Denied) -> Refused {
    match d {
        Denied::Unauthorized => Refused::Unauthorized,
        Denied::Forbidden => Refused::Forbidden,
    }
}

/// Credentials first (a refused caller must not learn whether the stream exists), then the
/// registry. The error keeps the neutral refusal for the shard's counters.
pub fn admit_player(
    sessions: &SessionStore,
    registry: &Registry,
    shard: usize,
    name: &str,
    session: Option<&str>,
    now: Instant,
) -> Result<SubscribeGrant, (Refused, Option<Refusal>)> {
    sessions
        .redeem(name, Mode::Request, session, now)
        .map_err(|d| (denied(d), None))?;
    registry
        .admit_subscriber(name, shard)
        .map_err(|r| (refused(r), Some(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_http_answers() {
        assert_eq!(refused(Refusal::NoPublisher), Refused::NotFound);
        assert_eq!(refused(Refusal::ConnectionLimit), Refused::Full);
        assert_eq!(refused(Refusal::SubscriberLimit), Refused::Full);
        assert_eq!(denied(Denied::Unauthorized), Refused::Unauthorized);
        assert_eq!(denied(Denied::Forbidden), Refused::Forbidden);
    }
}
