//! The switch task of one stream with a backup publisher, on the stream's shard: reads the
//! carried feed (and, while the backup is carried and the main is back, watches the main for
//! a keyframe) as HTTP-TS legs of the feeds' hidden streams, and publishes what it carries as
//! the public stream through `TsIngest`, spliced at every change of feed or of a feed's
//! session. Ends when neither feed has a publisher; the next feed publisher starts it again.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use log::{info, warn};

use super::switch::{Decision, Switch};
use super::{Role, feed_name};
use crate::ingest::packetizer::{TsIngest, TsIngestConfig};
use crate::legs::http::ts_player::Chunk;
use crate::legs::ingest::{IngestAsk, IngestHost, IngestRef, PayloadBatch, Protocol};
use crate::media::ts::{is_video_random_access, packets};
use crate::playback::body::TsBody;

/// How often the feeds' silence is looked at when no data wakes the task.
const TICK: Duration = Duration::from_millis(20);
/// A partial payload waits at most this long for the rest of its packets.
const MAX_HOLD: Duration = Duration::from_millis(5);
/// Chunks taken from a reader per wake-up.
const TAKE: usize = 64;

/// What `/v1/streams` and the metrics show of a switch.
pub type SwitchStatus = crate::telemetry::BackupSnapshot;

/// The shard's handle on a running switch.
pub struct SwitchHandle {
    pub status: Rc<RefCell<SwitchStatus>>,
    done: Rc<Cell<bool>>,
    stop: Rc<Cell<bool>>,
}

impl SwitchHandle {
    /// The task has ended (no feed had a publisher): a new feed publisher needs a new one.
    pub fn is_done(&self) -> bool {
        self.done.get()
    }

    pub fn stop(&self) {
        self.stop.set(true);
    }
}

/// Starts the switch of `stream` on the current shard.
pub fn spawn(stream: String, host: Rc<dyn IngestHost>) -> SwitchHandle {
    let status = Rc::new(RefCell::new(SwitchStatus {
        stream: stream.clone(),
        active: "none",
        ..SwitchStatus::default()
    }));
    let done = Rc::new(Cell::new(false));
    let stop = Rc::new(Cell::new(false));
    let run = Runner {
        feeds: [
            feed_name(&stream, Role::Main),
            feed_name(&stream, Role::Backup),
        ],
        stream,
        host,
        status: status.clone(),
        stop: stop.clone(),
        switch: Switch::new(),
        ingest: TsIngest::new(TsIngestConfig {
            max_hold: MAX_HOLD,
            ..TsIngestConfig::default()
        }),
        leg: None,
        batch: PayloadBatch::default(),
        carried: None,
        watcher: None,
        fed_any: false,
    };
    let d = done.clone();
    // Spawned from inside the shard's state borrow, and glommio runs a new task at once.
    glommio::spawn_local(async move {
        futures_lite::future::yield_now().await;
        run.run().await;
        d.set(true);
    })
    .detach();
    SwitchHandle { status, done, stop }
}

/// A feed read as a byte stream.
struct Reader {
    body: TsBody,
    role: Role,
    /// The PAT/PMT the reader last started with.
    header: Option<Vec<u8>>,
    /// Keyframes seen (the watcher's first is its join point).
    keyframes: u64,
    chunks: VecDeque<Chunk>,
    finished: bool,
}

impl Reader {
    fn new(body: TsBody, role: Role) -> Reader {
        Reader {
            body,
            role,
            header: None,
            keyframes: 0,
            chunks: VecDeque::new(),
            finished: false,
        }
    }
}

struct Runner {
    stream: String,
    feeds: [String; 2],
    host: Rc<dyn IngestHost>,
    status: Rc<RefCell<SwitchStatus>>,
    stop: Rc<Cell<bool>>,
    switch: Switch,
    ingest: TsIngest,
    leg: Option<IngestRef>,
    batch: PayloadBatch,
    carried: Option<Reader>,
    watcher: Option<Reader>,
    /// Something went into `ingest`: the next source is spliced onto it.
    fed_any: bool,
}

fn feed_index(role: Role) -> usize {
    match role {
        Role::Main => 0,
        Role::Backup => 1,
    }
}

impl Runner {
    async fn run(mut self) {
        let name = self.stream.clone();
        info!("stream {name:?}: main/backup switch starts");
        loop {
            if self.stop.get() {
                break;
            }
            let now = self.host.now();
            let main = self.host.feed_silence(&self.feeds[0]);
            let backup = self.host.feed_silence(&self.feeds[1]);
            let after = self.host.backup_switch();
            match self.switch.poll(now, main, backup, after) {
                Decision::Stay => {}
                Decision::End => break,
                Decision::SwitchTo(role) => self.carry(role),
                Decision::WatchMain => {
                    self.watcher = self
                        .host
                        .open_feed(&self.feeds[0])
                        .map(|b| Reader::new(b, Role::Main));
                }
                Decision::StopWatching => self.watcher = None,
            }
            self.wait().await;
            self.drain_watcher();
            self.drain_carried();
            let now = self.host.now();
            {
                let batch = &mut self.batch;
                self.ingest
                    .on_timeout(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
            }
            if self.publish().is_err() {
                break;
            }
            self.update_status();
        }
        {
            let now = self.host.now();
            let batch = &mut self.batch;
            self.ingest
                .flush(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
        }
        let _ = self.publish();
        if let Some(leg) = self.leg.take() {
            self.host.close(&leg, "no main or backup publisher");
        }
        self.status.borrow_mut().active = "none";
        info!("stream {name:?}: main/backup switch ends (no publisher)");
    }

    /// Starts carrying `role` from its ring's last keyframe.
    fn carry(&mut self, role: Role) {
        self.watcher = None;
        self.carried = self
            .host
            .open_feed(&self.feeds[feed_index(role)])
            .map(|b| Reader::new(b, role));
        match &self.carried {
            Some(_) => {
                info!(
                    "stream {:?}: now carries the {}",
                    self.stream,
                    role.as_str()
                );
                self.splice();
            }
            None => {
                warn!(
                    "stream {:?}: the {} feed could not be read",
                    self.stream,
                    role.as_str()
                );
                self.switch.reader_ended();
            }
        }
    }

    /// What follows is a new source for the ingest.
    fn splice(&mut self) {
        if self.fed_any {
            let now = self.host.now();
            let batch = &mut self.batch;
            self.ingest
                .switch_source(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
        }
    }

    /// Until a reader has something, it ends, or a tick passes.
    async fn wait(&mut self) {
        let ready = poll_fn(|cx| {
            let mut any = false;
            for r in [self.carried.as_mut(), self.watcher.as_mut()]
                .into_iter()
                .flatten()
            {
                if r.chunks.is_empty() && !r.finished {
                    r.finished = r.body.take(TAKE, cx.waker(), &mut r.chunks);
                }
                any |= !r.chunks.is_empty() || r.finished;
            }
            if any { Poll::Ready(()) } else { Poll::Pending }
        });
        futures_lite::future::or(ready, async {
            glommio::timer::sleep(TICK).await;
        })
        .await;
    }

    /// The watcher's chunks: dropped, except from the first keyframe after its join point
    /// when the switch goes back to the main there.
    fn drain_watcher(&mut self) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        while let Some(c) = w.chunks.pop_front() {
            match &c {
                Chunk::Header(h) => w.header = Some(h.clone()),
                Chunk::Payload { .. } => {
                    if !packets(c.bytes()).any(is_video_random_access) {
                        continue;
                    }
                    w.keyframes += 1;
                    if w.keyframes < 2 || !self.switch.main_keyframe() {
                        continue;
                    }
                    // Back to the main: its tables, then this chunk (what precedes its
                    // keyframe is dropped by the splice), then the rest.
                    w.chunks.push_front(c);
                    if let Some(h) = w.header.take() {
                        w.chunks.push_front(Chunk::Header(h));
                    }
                    let reader = self.watcher.take().expect("watched");
                    self.carried = Some(reader);
                    info!("stream {:?}: the main is back: carried again", self.stream);
                    self.splice();
                    return;
                }
            }
        }
        if w.finished {
            self.watcher = None;
        }
    }

    fn drain_carried(&mut self) {
        let Some(r) = self.carried.as_mut() else {
            return;
        };
        let now = self.host.now();
        while let Some(c) = r.chunks.pop_front() {
            if let Chunk::Header(h) = &c {
                // A header after the reader's first: the feed's publisher changed or the
                // reader skipped ahead; either way a new source for the ingest.
                if r.header.is_some() && self.fed_any {
                    let batch = &mut self.batch;
                    self.ingest
                        .switch_source(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
                }
                r.header = Some(h.clone());
            }
            let batch = &mut self.batch;
            self.ingest
                .push_packets(c.bytes(), now, &mut |p: &[u8], t: Instant| batch.push(p, t));
            self.fed_any = true;
        }
        if r.finished {
            info!(
                "stream {:?}: the {} feed's reader ended",
                self.stream,
                r.role.as_str()
            );
            self.carried = None;
            self.switch.reader_ended();
        }
    }

    /// Hands the batch to the public stream, opening its session at the first payload. Err
    /// when the relay refused or closed it.
    fn publish(&mut self) -> Result<(), ()> {
        if self.batch.is_empty() {
            return self.check_closed();
        }
        if self.leg.is_none() {
            let source = self
                .switch
                .active()
                .map_or("none", Role::as_str)
                .to_string();
            match self.host.open(IngestAsk {
                name: &self.stream,
                session: None,
                check_access: false,
                protocol: Protocol::Switch,
                source,
                role: None,
            }) {
                Ok(leg) => self.leg = Some(leg),
                Err(r) => {
                    warn!(
                        "stream {:?}: the relay refused the switch: {r:?}",
                        self.stream
                    );
                    self.batch.clear();
                    return Err(());
                }
            }
        }
        if let Some(leg) = &self.leg {
            self.host.publish(leg, &self.batch);
        }
        self.batch.clear();
        self.check_closed()
    }

    fn check_closed(&mut self) -> Result<(), ()> {
        if self
            .leg
            .as_ref()
            .is_some_and(|l| l.borrow().close_requested())
        {
            info!(
                "stream {:?}: the relay closed the switch's session",
                self.stream
            );
            if let Some(leg) = self.leg.take() {
                self.host.close(&leg, "closed by the relay");
            }
            return Err(());
        }
        Ok(())
    }

    fn update_status(&mut self) {
        let mut st = self.status.borrow_mut();
        st.active = self.switch.active().map_or("none", Role::as_str);
        st.to_backup = self.switch.counters.to_backup;
        st.to_main = self.switch.counters.to_main;
        let s = self.ingest.stats();
        st.switch_dropped_packets = s.switch_dropped_packets;
    }
}
