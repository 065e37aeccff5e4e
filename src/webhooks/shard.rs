//! A shard's side of the callbacks: its answer cache and the way answers come back (the
//! callback thread calls `deliver`, which puts them in the shard's inbox).

use std::sync::Arc;
use std::time::Instant;

use super::gate::{HookGate, Lookup};
use super::{Ask, Verdict, WebhookClient};

/// Hands an answer (cache key, verdict) to the shard that asked; runs on the callback thread.
pub type Deliver = Arc<dyn Fn(String, Verdict) + Send + Sync>;

pub struct ShardHooks {
    pub client: Arc<WebhookClient>,
    pub gate: HookGate,
    deliver: Deliver,
}

impl ShardHooks {
    pub fn new(client: Arc<WebhookClient>, deliver: Deliver) -> ShardHooks {
        let s = client.settings();
        let gate = HookGate::new(s.allow_cache, s.deny_cache, s.timeout);
        ShardHooks {
            client,
            gate,
            deliver,
        }
    }

    /// The verdict on `ask` if known (an unconfigured callback allows), or `None` while its
    /// callback runs: ask again later (SRT: at the caller's next conclusion; RTMP and HTTP:
    /// polling).
    pub fn ask(&mut self, ask: Ask, now: Instant) -> Option<Verdict> {
        if !self.client.has(ask.hook) {
            return Some(Verdict::Allow);
        }
        let key = ask.key();
        match self.gate.lookup(&key, now) {
            Lookup::Ready(v) => Some(v),
            Lookup::Pending => None,
            Lookup::Ask => {
                let deliver = self.deliver.clone();
                let k = key.clone();
                match self.client.decide(ask, Box::new(move |v| deliver(k, v))) {
                    Ok(()) => None,
                    Err(deny) => {
                        // Not cached: the next attempt may find room.
                        self.gate.forget(&key);
                        Some(Verdict::Deny(deny))
                    }
                }
            }
        }
    }

    /// A fire-and-forget notification.
    pub fn notify(&self, ask: Ask) {
        self.client.notify(ask);
    }
}
