//! One pulled input's task on its shard: the failover schedule (`ingest::failover`) picks an
//! upstream, `source.rs` reads it, `ingest::TsIngest` packs the bytes into ring payloads (and
//! splices at each change of upstream: PAT/PMT, keyframe, continuity kept), and the shard
//! stores them as one publisher session that lasts across upstream changes. Players see a
//! failover as a jump to the new source's keyframe, never a reconnect.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::source::{READ_CHUNK, Read, Source};
use crate::config::InputConfig;
use crate::ingest::failover::{Failover, Next};
use crate::ingest::packetizer::{TsIngest, TsIngestConfig};
use crate::legs::ingest::{CLOSE_POLL, IngestAsk, IngestHost, IngestRef, PayloadBatch, Protocol};

/// A partial payload waits at most this long for the rest of its packets.
const MAX_HOLD: Duration = Duration::from_millis(10);

fn new_ingest() -> TsIngest {
    TsIngest::new(TsIngestConfig {
        max_hold: MAX_HOLD,
        ..TsIngestConfig::default()
    })
}

/// What `/v1/streams` shows of an input, kept up to date by its task (`state`: `connecting`,
/// `live`, `waiting` for the retry delay, `idle` (on demand, no player) or `offline`).
pub type InputStatus = crate::telemetry::InputSnapshot;

/// The shard's handle on a running input.
pub struct InputHandle {
    pub cfg: InputConfig,
    pub status: Rc<RefCell<InputStatus>>,
    stop: Rc<Cell<bool>>,
}

impl InputHandle {
    /// Asks the task to end (reload removed or changed the input; shutdown).
    pub fn stop(&self) {
        self.stop.set(true);
    }

    pub fn snapshot(&self) -> crate::telemetry::InputSnapshot {
        self.status.borrow().clone()
    }
}

/// Starts `cfg` on the current shard.
pub fn spawn(cfg: InputConfig, host: Rc<dyn IngestHost>, seed: u64) -> InputHandle {
    let status = Rc::new(RefCell::new(InputStatus {
        stream: cfg.stream.clone(),
        state: "connecting",
        ..InputStatus::default()
    }));
    let stop = Rc::new(Cell::new(false));
    let run = Runner {
        cfg: cfg.clone(),
        host,
        status: status.clone(),
        stop: stop.clone(),
        ingest: new_ingest(),
        leg: None,
        batch: PayloadBatch::default(),
        spliced: false,
    };
    // glommio runs a new task at once (`spawn_local` polls it before returning), and the shard
    // starts inputs from inside a borrow of its state: the task's first step is a yield.
    glommio::spawn_local(async move {
        futures_lite::future::yield_now().await;
        run.run(seed).await
    })
    .detach();
    InputHandle { cfg, status, stop }
}

/// How one upstream's turn ended.
enum Turn {
    /// It never delivered TS (refused, timed out, not TS).
    Failed(String),
    Ended,
    Stalled,
    /// The relay closed the session (taken over by another publisher, the operator).
    Closed,
    /// An on-demand input's last player left `idle_stop` ago.
    Idle,
    Stopped,
}

struct Runner {
    cfg: InputConfig,
    host: Rc<dyn IngestHost>,
    status: Rc<RefCell<InputStatus>>,
    stop: Rc<Cell<bool>>,
    ingest: TsIngest,
    leg: Option<IngestRef>,
    batch: PayloadBatch,
    /// A source has fed the session: the next one is spliced.
    spliced: bool,
}

impl Runner {
    async fn run(mut self, seed: u64) {
        let n = self.cfg.upstreams.len();
        let mut fo = Failover::new(
            n,
            self.cfg.shuffle,
            seed,
            self.cfg.retry_delay,
            self.host.now(),
        );
        self.status.borrow_mut().upstreams = fo
            .order()
            .iter()
            .map(|&i| self.cfg.upstreams[i].to_string())
            .collect();
        let name = self.cfg.stream.clone();
        loop {
            if self.cfg.on_demand && self.leg.is_none() {
                fo.stop(self.host.now());
                if !self.wait_for_players().await {
                    break;
                }
                info!("input {name:?}: a player asks for it: starting");
                fo.start(self.host.now());
            }
            let (index, at) = match fo.next() {
                Next::Offline if self.cfg.on_demand => {
                    // Every upstream failed (no retry delay): parked until a player asks.
                    if let Some(leg) = self.leg.take() {
                        self.host.close(&leg, "every upstream is offline");
                    }
                    self.spliced = false;
                    glommio::timer::sleep(CLOSE_POLL).await;
                    continue;
                }
                Next::Offline => break,
                Next::Connect { index, at } => (index, at),
                // Every attempt is awaited below, so none is under way here.
                Next::Running { index } => (index, self.host.now()),
            };
            if at > self.host.now() {
                self.status.borrow_mut().state = "waiting";
                if !self.sleep_until(at).await {
                    break;
                }
            }
            let up = self.cfg.upstreams[index].clone();
            {
                let mut st = self.status.borrow_mut();
                st.state = "connecting";
                st.upstream = Some(up.to_string());
            }
            fo.connecting(index, self.host.now());
            let turn = self.turn(&up, &mut fo).await;
            let now = self.host.now();
            match turn {
                Turn::Failed(why) => {
                    warn!("input {name:?}: upstream {up} failed: {why}");
                    let mut st = self.status.borrow_mut();
                    st.failures += 1;
                    st.last_error = Some(why);
                    drop(st);
                    fo.connect_failed(now);
                }
                Turn::Ended => {
                    info!("input {name:?}: upstream {up} ended");
                    fo.ended(now, false);
                }
                Turn::Stalled => {
                    warn!(
                        "input {name:?}: upstream {up} sent nothing for {} ms",
                        self.cfg.stall_timeout.as_millis()
                    );
                    self.status.borrow_mut().stalls += 1;
                    fo.ended(now, true);
                }
                Turn::Closed => {
                    info!("input {name:?}: the relay closed its session");
                    if let Some(leg) = self.leg.take() {
                        self.host.close(&leg, "closed by the relay");
                    }
                    fo.ended(now, false);
                }
                Turn::Idle => {
                    info!(
                        "input {name:?}: no player for {} ms: stopping until the next",
                        self.cfg.idle_stop.as_millis()
                    );
                    if let Some(leg) = self.leg.take() {
                        self.flush();
                        self.host.publish(&leg, &self.batch);
                        self.batch.clear();
                        self.host.close(&leg, "no players (on_demand)");
                    }
                    // The next session starts afresh: nothing to splice onto.
                    self.spliced = false;
                }
                Turn::Stopped => break,
            }
        }
        if let Some(leg) = self.leg.take() {
            self.flush();
            self.host.publish(&leg, &self.batch);
            let why = if self.stop.get() {
                "input stopped"
            } else {
                "every upstream is offline"
            };
            self.host.close(&leg, why);
        }
        let mut st = self.status.borrow_mut();
        st.state = "offline";
        if !self.stop.get() {
            info!("input {name:?}: offline (retry_delay_ms = 0)");
        }
    }

    /// An on-demand input between sessions: parks until a player waits for its stream; false
    /// when the input was stopped meanwhile.
    async fn wait_for_players(&self) -> bool {
        self.status.borrow_mut().state = "idle";
        loop {
            if self.stop.get() {
                return false;
            }
            if self.host.players(&self.cfg.stream) > 0 {
                return true;
            }
            glommio::timer::sleep(CLOSE_POLL).await;
        }
    }

    /// Sleeps until `at`; false when the input was stopped meanwhile.
    async fn sleep_until(&self, at: Instant) -> bool {
        loop {
            if self.stop.get() {
                return false;
            }
            let now = self.host.now();
            if now >= at {
                return true;
            }
            glommio::timer::sleep(at.saturating_duration_since(now).min(CLOSE_POLL)).await;
        }
    }

    /// One upstream from connect to its end.
    async fn turn(&mut self, up: &crate::ingest::upstream::Upstream, fo: &mut Failover) -> Turn {
        let opened = Source::open(up, &self.cfg, &self.host).await;
        let mut src = match opened {
            Ok(s) => s,
            Err(e) => return Turn::Failed(e.to_string()),
        };
        let mut buf = vec![0u8; READ_CHUNK];
        let mut delivered = false;
        let mut last_data = self.host.now();
        // On demand: when the last player was seen.
        let mut last_player = last_data;
        if self.spliced {
            let batch = &mut self.batch;
            self.ingest
                .switch_source(last_data, &mut |p: &[u8], t: Instant| batch.push(p, t));
        } else {
            // Nothing went out yet (a failed upstream before): the next starts afresh, its
            // sync search included.
            self.ingest = new_ingest();
        }
        loop {
            if self.stop.get() {
                return Turn::Stopped;
            }
            if self
                .leg
                .as_ref()
                .is_some_and(|l| l.borrow().close_requested())
            {
                return Turn::Closed;
            }
            let now = self.host.now();
            if self.cfg.on_demand {
                if self.host.players(&self.cfg.stream) > 0 {
                    last_player = now;
                } else if now.saturating_duration_since(last_player) >= self.cfg.idle_stop {
                    return Turn::Idle;
                }
            }
            let stall_at = last_data + self.cfg.stall_timeout;
            if now >= stall_at {
                return if delivered {
                    Turn::Stalled
                } else {
                    Turn::Failed("no data".into())
                };
            }
            let mut wake = stall_at.min(now + CLOSE_POLL);
            if let Some(d) = self.ingest.deadline() {
                wake = wake.min(d);
            }
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            let r = match src.read(&mut buf, wait).await {
                Ok(r) => r,
                Err(e) if delivered => {
                    warn!("input {:?}: upstream {up}: {e}", self.cfg.stream);
                    return Turn::Ended;
                }
                Err(e) => return Turn::Failed(e.to_string()),
            };
            let now = self.host.now();
            match r {
                Read::Data(n) => {
                    last_data = now;
                    self.status.borrow_mut().bytes += n as u64;
                    let batch = &mut self.batch;
                    let pushed = self
                        .ingest
                        .push(&buf[..n], now, &mut |p: &[u8], t: Instant| batch.push(p, t));
                    if let Err(e) = pushed {
                        self.batch.clear();
                        return Turn::Failed(e.to_string());
                    }
                }
                Read::Idle => {}
                Read::End => {
                    self.flush();
                    self.publish_batch();
                    return if delivered {
                        Turn::Ended
                    } else {
                        Turn::Failed("ended before any TS".into())
                    };
                }
                Read::Restarted => {
                    let batch = &mut self.batch;
                    self.ingest
                        .switch_source(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
                }
            }
            {
                let batch = &mut self.batch;
                self.ingest
                    .on_timeout(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
            }
            if !self.batch.is_empty() {
                if !delivered {
                    delivered = true;
                    fo.connected(now);
                    if let Err(why) = self.first_data() {
                        self.batch.clear();
                        return Turn::Failed(why);
                    }
                }
                self.publish_batch();
            }
        }
    }

    /// The upstream delivered its first payloads: the session starts now, unless it runs.
    fn first_data(&mut self) -> Result<(), String> {
        {
            let mut st = self.status.borrow_mut();
            st.connects += 1;
            st.state = "live";
        }
        self.spliced = true;
        if self.leg.is_some() {
            return Ok(());
        }
        let source = self.status.borrow().upstream.clone().unwrap_or_default();
        match self.host.open(IngestAsk {
            name: &self.cfg.stream,
            session: None,
            check_access: false,
            protocol: if self.cfg.edge {
                Protocol::Edge
            } else {
                Protocol::Input
            },
            source,
            role: None,
        }) {
            Ok(leg) => {
                self.leg = Some(leg);
                Ok(())
            }
            Err(r) => Err(format!("the relay refused the stream: {r:?}")),
        }
    }

    fn publish_batch(&mut self) {
        if let Some(leg) = &self.leg {
            self.host.publish(leg, &self.batch);
        }
        self.batch.clear();
        let s = self.ingest.stats();
        let mut st = self.status.borrow_mut();
        st.switches = s.switches;
        st.switch_dropped_packets = s.switch_dropped_packets;
    }

    fn flush(&mut self) {
        let now = self.host.now();
        let batch = &mut self.batch;
        self.ingest
            .flush(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
    }
}
