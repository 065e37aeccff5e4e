//! One `[[outputs]]` entry's task on its stream's shard: waits for the stream to be live,
//! calls the target, reads the stream from its last keyframe and sends it in 7-packet
//! messages; a failed or lost call is retried after the backoff, a stream that ends hangs up.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use log::{info, warn};

use super::SRT_PAYLOAD;
use super::backoff::Backoff;
use crate::config::{OutputConfig, OutputTarget};
use crate::ingest::upstream::Upstream;
use crate::legs::http::ts_player::Chunk;
use crate::legs::ingest::{CLOSE_POLL, IngestHost, PullState, SrtCall};
use crate::playback::body::TsBody;

/// How often the call's state is looked at while data flows.
const TICK: Duration = Duration::from_millis(20);
/// Chunks taken from the reader per wake-up.
const TAKE: usize = 64;

/// What `/v1/streams` and the metrics show of an output.
pub type OutputStatus = crate::telemetry::OutputSnapshot;

/// The shard's handle on a running output.
pub struct OutputHandle {
    pub cfg: OutputConfig,
    pub status: Rc<RefCell<OutputStatus>>,
    stop: Rc<Cell<bool>>,
}

impl OutputHandle {
    pub fn stop(&self) {
        self.stop.set(true);
    }

    pub fn snapshot(&self) -> OutputStatus {
        self.status.borrow().clone()
    }
}

/// Starts `cfg` on the current shard.
pub fn spawn(cfg: OutputConfig, host: Rc<dyn IngestHost>) -> OutputHandle {
    let status = Rc::new(RefCell::new(OutputStatus {
        stream: cfg.stream.clone(),
        target: cfg.target.to_string(),
        state: "idle",
        ..OutputStatus::default()
    }));
    let stop = Rc::new(Cell::new(false));
    let run = Runner {
        backoff: Backoff::new(cfg.retry_delay, cfg.max_retry_delay),
        cfg: cfg.clone(),
        host,
        status: status.clone(),
        stop: stop.clone(),
    };
    // Started from inside the shard's state borrow, and glommio runs a new task at once.
    glommio::spawn_local(async move {
        futures_lite::future::yield_now().await;
        run.run().await
    })
    .detach();
    OutputHandle { cfg, status, stop }
}

/// How one connection ended.
pub(super) enum Turn {
    /// The call failed or was lost: retry after the backoff.
    Failed(String),
    /// The stream ended: wait for it to be live again.
    StreamEnded,
    Stopped,
}

struct Runner {
    cfg: OutputConfig,
    host: Rc<dyn IngestHost>,
    status: Rc<RefCell<OutputStatus>>,
    stop: Rc<Cell<bool>>,
    backoff: Backoff,
}

impl Runner {
    async fn run(mut self) {
        let what = format!("output {:?} -> {}", self.cfg.stream, self.cfg.target);
        loop {
            self.set_state("idle");
            if !self.wait_live().await {
                break;
            }
            self.set_state("connecting");
            match self.turn().await {
                Turn::Stopped => break,
                Turn::StreamEnded => info!("{what}: the stream ended: hung up"),
                Turn::Failed(why) => {
                    let wait = self.backoff.failed();
                    warn!("{what}: {why}; next try in {} ms", wait.as_millis());
                    {
                        let mut st = self.status.borrow_mut();
                        st.failures += 1;
                        st.last_error = Some(why);
                        st.state = "waiting";
                    }
                    if !self.sleep(wait).await {
                        break;
                    }
                }
            }
        }
        self.set_state("stopped");
    }

    fn set_state(&self, s: &'static str) {
        self.status.borrow_mut().state = s;
    }

    /// Until the stream has a publisher; false when stopped meanwhile.
    async fn wait_live(&self) -> bool {
        loop {
            if self.stop.get() {
                return false;
            }
            if self.host.feed_silence(&self.cfg.stream).is_some() {
                return true;
            }
            glommio::timer::sleep(CLOSE_POLL).await;
        }
    }

    async fn sleep(&self, d: Duration) -> bool {
        let until = self.host.now() + d;
        loop {
            if self.stop.get() {
                return false;
            }
            let now = self.host.now();
            if now >= until {
                return true;
            }
            glommio::timer::sleep(until.saturating_duration_since(now).min(CLOSE_POLL)).await;
        }
    }

    async fn turn(&mut self) -> Turn {
        if let OutputTarget::Rtmp(t) = &self.cfg.target {
            let t = t.clone();
            return super::rtmp::push(
                &t,
                &self.cfg,
                &self.host,
                &self.status,
                &self.stop,
                &mut self.backoff,
            )
            .await;
        }
        let OutputTarget::Srt(Upstream::Srt {
            host: name,
            port,
            stream_id,
            passphrase,
            latency,
            pbkeylen,
        }) = &self.cfg.target
        else {
            return Turn::Failed("not an srt:// target".into());
        };
        let remote = match crate::inputs::source::resolve(name, *port).await {
            Ok(a) => a,
            Err(e) => return Turn::Failed(format!("{name}: {e}")),
        };
        let call = SrtCall {
            remote,
            stream_id: stream_id.clone(),
            passphrase: passphrase.clone(),
            pbkeylen: *pbkeylen,
            latency: *latency,
            timeout: self.cfg.connect_timeout,
        };
        let id = match self.host.srt_call(call) {
            Ok(id) => id,
            Err(e) => return Turn::Failed(e),
        };
        let turn = self.push(id).await;
        self.host.srt_hangup(id);
        turn
    }

    /// Connects call `id`, then sends the stream until something ends it.
    async fn push(&mut self, id: u32) -> Turn {
        // The endpoint gives up at the connect timeout and says so; the margin covers a busy
        // shard.
        let deadline = self.host.now() + self.cfg.connect_timeout + Duration::from_secs(1);
        let mut none = Vec::new();
        loop {
            if self.stop.get() {
                return Turn::Stopped;
            }
            match self.host.srt_pull(id, &mut none) {
                PullState::Connected { .. } => break,
                PullState::Connecting if self.host.now() < deadline => {
                    glommio::timer::sleep(Duration::from_millis(5)).await;
                }
                PullState::Connecting => return Turn::Failed("SRT call timed out".into()),
                PullState::Failed(why) | PullState::Closed(why) => {
                    return Turn::Failed(format!("SRT call refused or failed: {why}"));
                }
            }
        }
        let Some(body) = self.host.open_feed(&self.cfg.stream) else {
            return Turn::StreamEnded;
        };
        {
            let mut st = self.status.borrow_mut();
            st.connects += 1;
            st.state = "live";
        }
        info!(
            "output {:?} -> {}: connected",
            self.cfg.stream, self.cfg.target
        );
        let mut chunks = VecDeque::new();
        let mut delivered = false;
        loop {
            if self.stop.get() {
                return Turn::Stopped;
            }
            let finished = take(&body, &mut chunks).await;
            let (mut sent, mut dropped, mut bytes) = (0, 0, 0);
            while let Some(c) = chunks.pop_front() {
                for piece in c.bytes().chunks(SRT_PAYLOAD) {
                    let r = self.host.srt_push(id, piece);
                    sent += r.sent;
                    dropped += r.dropped;
                    bytes += if r.sent > 0 { piece.len() as u64 } else { 0 };
                    if r.closed {
                        break;
                    }
                }
            }
            if sent > 0 && !delivered {
                delivered = true;
                self.backoff.delivered();
            }
            {
                let mut st = self.status.borrow_mut();
                st.packets += sent;
                st.dropped_packets += dropped;
                st.bytes += bytes;
            }
            match self.host.srt_pull(id, &mut none) {
                PullState::Connected { .. } | PullState::Connecting => {}
                PullState::Failed(why) | PullState::Closed(why) => {
                    return Turn::Failed(format!("connection lost: {why}"));
                }
            }
            none.clear();
            if finished {
                return Turn::StreamEnded;
            }
        }
    }
}

/// Waits until the reader has chunks (taken into `out`), it ends (true), or a tick passes.
async fn take(body: &TsBody, out: &mut VecDeque<Chunk>) -> bool {
    let mut finished = false;
    let ready = poll_fn(|cx| {
        finished = body.take(TAKE, cx.waker(), out);
        if finished || !out.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    futures_lite::future::or(ready, async {
        glommio::timer::sleep(TICK).await;
    })
    .await;
    finished
}
