//! The shard's side of the players' HTTP listener: `playback::PlaybackHost` over the shard's
//! state, so a request handler admits a player and adds its leg on the shard it arrived on.

use std::net::SocketAddr;

use crate::playback::body::TsBody;
use crate::playback::{PlaybackHost, PlaybackShared, Refused};

use super::SharedState;
use std::sync::Arc;

pub struct ShardPlayback {
    pub state: SharedState,
    pub shared: Arc<PlaybackShared>,
}

impl PlaybackHost for ShardPlayback {
    fn open_ts(
        &self,
        name: &str,
        session: Option<&str>,
        peer: SocketAddr,
    ) -> Result<TsBody, Refused> {
        let now = super::clock();
        // Request handlers run in their connection's task, never inside a shard borrow.
        let mut s = self.state.borrow_mut();
        let (leg, player, departures) =
            s.open_http_player(name, session, peer, &self.shared.cfg, now)?;
        Ok(TsBody::new(player, leg, departures))
    }

    fn is_live(&self, name: &str) -> bool {
        self.state.borrow().registry().publisher_of(name).is_some()
    }

    fn authorize(&self, ask: crate::webhooks::Ask) -> Option<crate::webhooks::Verdict> {
        let now = super::clock();
        let mut s = self.state.borrow_mut();
        match s.admission.hooks.as_mut() {
            Some(h) => h.ask(ask, now),
            None => Some(crate::webhooks::Verdict::Allow),
        }
    }
}
