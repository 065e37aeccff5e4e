//! The shard's side of its ingest tasks (RTMP connections, pulled inputs):
//! `legs::ingest::IngestHost` over the shard's state. Each call borrows the state once and
//! never across an `.await`.

use crate::legs::ingest::{
    IngestAsk, IngestHost, IngestRef, PayloadBatch, PullState, Refused, SrtCall,
};

use std::cell::RefCell;
use std::rc::Weak;

use super::state::ShardState;

/// Weak: the shard's state holds this host for the inputs it starts on reload.
pub struct ShardIngest {
    pub state: Weak<RefCell<ShardState>>,
}

impl ShardIngest {
    fn state(&self) -> std::rc::Rc<RefCell<ShardState>> {
        self.state
            .upgrade()
            .expect("ingest tasks run on a live shard")
    }
}

impl IngestHost for ShardIngest {
    fn open(&self, ask: IngestAsk<'_>) -> Result<IngestRef, Refused> {
        let now = super::clock();
        self.state().borrow_mut().open_ingest(ask, now)
    }

    fn authorize(&self, ask: crate::webhooks::Ask) -> Option<crate::webhooks::Verdict> {
        let now = super::clock();
        let state = self.state();
        let mut s = state.borrow_mut();
        match s.admission.hooks.as_mut() {
            Some(h) => h.ask(ask, now),
            None => Some(crate::webhooks::Verdict::Allow),
        }
    }

    fn publish(&self, leg: &IngestRef, batch: &PayloadBatch) {
        if batch.is_empty() {
            return;
        }
        let now = super::clock();
        let state = self.state();
        let mut s = state.borrow_mut();
        for (p, origin) in batch.iter() {
            s.ingest_payload(leg, p, origin, now);
        }
        s.finish(now);
        s.counters.busy_ns += super::elapsed_ns(now);
    }

    fn close(&self, leg: &IngestRef, why: &str) {
        let now = super::clock();
        self.state().borrow_mut().close_ingest(leg, why, now);
    }

    fn now(&self) -> std::time::Instant {
        super::clock()
    }

    fn players(&self, name: &str) -> usize {
        self.state().borrow().registry().subscribers_of(name)
    }

    fn srt_call(&self, call: SrtCall) -> Result<u32, String> {
        let now = super::clock();
        self.state().borrow_mut().srt_call(call, now)
    }

    fn srt_pull(&self, id: u32, out: &mut Vec<u8>) -> PullState {
        let now = super::clock();
        self.state().borrow_mut().srt_pull(id, out, now)
    }

    fn srt_hangup(&self, id: u32) {
        let now = super::clock();
        self.state().borrow_mut().srt_hangup(id, now);
    }

    fn srt_push(&self, id: u32, payload: &[u8]) -> crate::legs::ingest::PushOutcome {
        let now = super::clock();
        self.state().borrow_mut().srt_push(id, payload, now)
    }

    fn open_feed(&self, name: &str) -> Option<crate::playback::body::TsBody> {
        let now = super::clock();
        self.state().borrow_mut().open_feed(name, now)
    }

    fn feed_silence(&self, name: &str) -> Option<std::time::Duration> {
        let state = self.state();
        let s = state.borrow();
        s.registry().publisher_silence(name, super::clock())
    }

    fn backup_switch(&self) -> std::time::Duration {
        self.state().borrow().registry().policy().backup_switch
    }
}
