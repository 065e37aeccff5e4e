//! A recorder as a subscriber leg, and the shard's table of them. The fan-out offers each
//! payload; the leg runs the cutter and queues what to write (ring handles, no copy) for its
//! writer task. A queue beyond `QUEUE_BYTES` (a disk that cannot keep up) makes the leg skip
//! to the next keyframe, closing the segment first so each file stays whole; the publisher
//! and the other legs never notice.

use std::cell::{RefCell, RefMut};
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use log::info;

use super::cut::{Cut, Cutter};
use super::{ErrorReason, RecordShared};
use crate::buf::Payload;
use crate::config::RecordRule;
use crate::idhash::IdMap;
use crate::relay::leg::{LegId, LegKind, Offer, Sink, Taken};
use crate::telemetry::RecordTotals;

/// Bytes a recorder may have queued for its writer: seconds of a high-rate stream.
pub const QUEUE_BYTES: usize = 32 << 20;
/// Ops the writer takes at once.
const TAKE: usize = 256;

/// What the writer does, in order.
#[derive(Debug)]
pub enum Op {
    Start {
        at: Instant,
        header: Vec<u8>,
    },
    Data {
        payload: Payload,
        range: Range<usize>,
    },
    End {
        at: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    /// The session ended: the writer drains the queue and stops.
    Finishing,
    /// A disk error stopped it; nothing more is queued.
    Failed,
}

/// One recording's counters (the writer adds what it wrote).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderCounters {
    pub segments: u64,
    pub bytes: u64,
    /// Payloads not recorded because the queue was full, or while skipping to a keyframe
    /// after that.
    pub skipped: u64,
    pub retention_removed: u64,
}

#[derive(Debug)]
pub struct Recorder {
    pub stream: String,
    pub rule: Arc<RecordRule>,
    pub started: Instant,
    cut: Cutter,
    scratch: Vec<Cut>,
    queue: VecDeque<Op>,
    queued_bytes: usize,
    cap: usize,
    waker: Option<Waker>,
    state: State,
    /// Skipping after an overflow, until the cutter starts a segment again.
    resyncing: bool,
    /// The writer task has ended (the table forgets the recorder then).
    pub done: bool,
    pub failed: Option<ErrorReason>,
    /// The file being written, for `/v1/streams`.
    pub current: Option<PathBuf>,
    /// The last recorded payload's arrival.
    pub last_at: Option<Instant>,
    pub counters: RecorderCounters,
}

pub type RecorderRef = Rc<RefCell<Recorder>>;

impl Recorder {
    pub fn new(stream: &str, rule: Arc<RecordRule>, started: Instant, cap: usize) -> Recorder {
        Recorder {
            stream: stream.to_string(),
            cut: Cutter::new(rule.segment),
            rule,
            started,
            scratch: Vec::new(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            cap,
            waker: None,
            state: State::Running,
            resyncing: false,
            done: false,
            failed: None,
            current: None,
            last_at: None,
            counters: RecorderCounters::default(),
        }
    }

    /// The session ended: the open segment closes and the writer stops after the queue.
    pub fn finish(&mut self) {
        if self.state == State::Running {
            self.interrupt();
            self.state = State::Finishing;
            self.wake();
        }
    }

    /// A new publisher session on the same stream: the open segment ends, the next starts at
    /// the new session's keyframe.
    pub fn restart(&mut self) {
        self.interrupt();
    }

    /// The writer stopped on a disk error: drop what is queued, take nothing more.
    pub fn fail(&mut self, reason: ErrorReason) {
        self.state = State::Failed;
        self.failed = Some(reason);
        self.queue.clear();
        self.queued_bytes = 0;
    }

    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Takes up to `TAKE` ops into `out`; `Ready(false)` when there will be no more (the
    /// session ended and everything was taken, or the recording failed).
    pub fn poll_ops(&mut self, waker: &Waker, out: &mut Vec<Op>) -> Poll<bool> {
        if self.state == State::Failed {
            return Poll::Ready(false);
        }
        while out.len() < TAKE {
            let Some(op) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes -= op_len(&op);
            out.push(op);
        }
        if !out.is_empty() {
            return Poll::Ready(true);
        }
        if self.state == State::Finishing {
            return Poll::Ready(false);
        }
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    fn interrupt(&mut self) {
        let mut cuts = std::mem::take(&mut self.scratch);
        self.cut.interrupt(&mut cuts);
        self.queue_cuts(&mut cuts, None);
        self.scratch = cuts;
    }

    fn queue_cuts(&mut self, cuts: &mut Vec<Cut>, payload: Option<&Payload>) {
        for c in cuts.drain(..) {
            let op = match c {
                Cut::Start { at, header } => Op::Start { at, header },
                Cut::Bytes(range) => Op::Data {
                    payload: payload.expect("bytes come with a payload").clone(),
                    range,
                },
                Cut::End { at } => Op::End { at },
            };
            self.queued_bytes += op_len(&op);
            self.queue.push_back(op);
        }
        self.wake();
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

fn op_len(op: &Op) -> usize {
    match op {
        Op::Start { header, .. } => header.len(),
        Op::Data { range, .. } => range.len(),
        Op::End { .. } => 0,
    }
}

impl Sink for Recorder {
    /// A new session of the ring (a takeover here): cut there.
    fn base(&mut self) -> u64 {
        self.interrupt();
        0
    }

    fn offer(&mut self, o: Offer<'_>) -> Taken {
        if self.state != State::Running {
            return Taken::Closed;
        }
        let bytes = o.payload.as_slice();
        if self.queued_bytes + bytes.len() > self.cap {
            if !self.resyncing {
                self.resyncing = true;
                self.interrupt();
            }
            self.counters.skipped += 1;
            return Taken::Skipped;
        }
        let mut cuts = std::mem::take(&mut self.scratch);
        self.cut.push(bytes, o.origin, o.psi, &mut cuts);
        if self.resyncing {
            if !self.cut.is_open() {
                self.counters.skipped += 1;
                self.scratch = cuts;
                return Taken::Skipped;
            }
            self.resyncing = false;
        }
        self.queue_cuts(&mut cuts, Some(o.payload));
        self.scratch = cuts;
        self.last_at = Some(o.origin);
        Taken::Queued
    }
}

/// A shard's recorders, by leg and by stream.
pub struct RecordLegs {
    shared: Arc<RecordShared>,
    legs: IdMap<u32, RecorderRef>,
    by_stream: HashMap<String, Vec<LegId>>,
    next: u32,
    step: u32,
    /// Totals of recorders that ended here.
    retired: RecordTotals,
}

impl RecordLegs {
    pub fn new(shared: Arc<RecordShared>, shard: usize, shards: usize) -> RecordLegs {
        RecordLegs {
            shared,
            legs: IdMap::default(),
            by_stream: HashMap::new(),
            next: shard as u32,
            step: shards.max(1) as u32,
            retired: RecordTotals::default(),
        }
    }

    /// A publisher session of `name` began here: recorders for the rules that match it and
    /// have none running (each with its writer task), the legs to subscribe. Running ones
    /// (a takeover here) cut and go on.
    pub fn start(&mut self, name: &str, now: Instant) -> Vec<LegId> {
        let rules = self.shared.rules_for(name);
        if rules.is_empty() {
            return Vec::new();
        }
        let mut new = Vec::new();
        for rule in rules {
            let running = self.by_stream.get(name).and_then(|legs| {
                legs.iter()
                    .filter_map(|l| self.legs.get(&l.local()))
                    .find(|r| {
                        let r = r.borrow();
                        r.is_running() && *r.rule == *rule
                    })
            });
            if let Some(r) = running {
                r.borrow_mut().restart();
                continue;
            }
            let leg = LegId::new(LegKind::Record, self.next);
            self.next = self.next.wrapping_add(self.step);
            info!(
                "recording {name:?} to {} (segments of {} s)",
                rule.path,
                rule.segment.as_secs()
            );
            let rec = Rc::new(RefCell::new(Recorder::new(name, rule, now, QUEUE_BYTES)));
            self.legs.insert(leg.local(), rec.clone());
            self.by_stream
                .entry(name.to_string())
                .or_default()
                .push(leg);
            // The task yields before it first borrows anything (the shard's state is
            // borrowed by our caller).
            glommio::spawn_local(super::writer::run(rec, self.shared.clone())).detach();
            new.push(leg);
        }
        new
    }

    /// `name`'s session ended here: its recorders finish what is queued and stop; the legs
    /// for the fan-out to forget.
    pub fn end(&mut self, name: &str) -> Vec<LegId> {
        let Some(legs) = self.by_stream.get(name) else {
            return Vec::new();
        };
        for l in legs {
            if let Some(r) = self.legs.get(&l.local()) {
                r.borrow_mut().finish();
            }
        }
        legs.clone()
    }

    /// Recorders whose writer ended are forgotten; the legs of those that stopped on an
    /// error while their session goes on, for the fan-out to forget.
    pub fn reap(&mut self) -> Vec<LegId> {
        let done: Vec<u32> = self
            .legs
            .iter()
            .filter(|(_, r)| r.try_borrow().is_ok_and(|r| r.done))
            .map(|(&k, _)| k)
            .collect();
        let mut out = Vec::new();
        for k in done {
            let Some(r) = self.legs.remove(&k) else {
                continue;
            };
            let r = r.borrow();
            add(&mut self.retired, &r);
            let leg = LegId::new(LegKind::Record, k);
            if let Some(v) = self.by_stream.get_mut(&r.stream) {
                v.retain(|l| *l != leg);
                if v.is_empty() {
                    self.by_stream.remove(&r.stream);
                }
            }
            out.push(leg);
        }
        out
    }

    pub fn sink(&mut self, leg: LegId) -> Option<RefMut<'_, Recorder>> {
        self.legs.get(&leg.local())?.try_borrow_mut().ok()
    }

    pub fn contains(&self, leg: LegId) -> bool {
        self.legs.contains_key(&leg.local())
    }

    /// Files being written for `name` now.
    pub fn recordings(&self, name: &str) -> Vec<String> {
        let Some(legs) = self.by_stream.get(name) else {
            return Vec::new();
        };
        legs.iter()
            .filter_map(|l| self.legs.get(&l.local()))
            .filter_map(|r| {
                let r = r.try_borrow().ok()?;
                r.current.as_ref().map(|p| p.display().to_string())
            })
            .collect()
    }

    /// Events the notifier did not take in time (process-wide).
    pub fn events_dropped(&self) -> u64 {
        self.shared.events_dropped()
    }

    /// This shard's recording counters, running recorders included.
    pub fn totals(&self) -> RecordTotals {
        let mut t = self.retired;
        t.active = 0;
        for r in self.legs.values() {
            if let Ok(r) = r.try_borrow() {
                add(&mut t, &r);
                t.active += u64::from(r.failed.is_none() && !r.done);
            }
        }
        t
    }
}

fn add(t: &mut RecordTotals, r: &Recorder) {
    t.segments += r.counters.segments;
    t.bytes += r.counters.bytes;
    t.skipped += r.counters.skipped;
    t.retention_removed += r.counters.retention_removed;
    if let Some(e) = r.failed {
        t.errors[e.index()] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Payload;
    use crate::record::path::PathTemplate;
    use crate::record::retention::Retention;
    use crate::relay::leg::StreamHeader;
    use crate::srt::sim::t0;
    use std::task::Waker;
    use std::time::Duration;

    fn rule() -> Arc<RecordRule> {
        Arc::new(RecordRule {
            streams: crate::access::Pattern::new("*").unwrap(),
            path: PathTemplate::parse("/r/{stream}-{time}.ts").unwrap(),
            segment: Duration::from_secs(4),
            retention: Retention::default(),
        })
    }

    fn payload(key: bool) -> Payload {
        let mut b = vec![0xFFu8; 7 * 188];
        for p in b.chunks_mut(188) {
            p[0] = 0x47;
            p[1] = 0x01;
            p[3] = 0x10;
        }
        if key {
            b[1] |= 0x40;
            b[3] = 0x30;
            b[4] = 1;
            b[5] = 0x40;
            b[6..10].copy_from_slice(&[0, 0, 1, 0xE0]);
        }
        Payload::copy_from_slice(&b).expect("fits")
    }

    fn offer(r: &mut Recorder, p: &Payload, at: Instant) -> Taken {
        r.offer(Offer {
            number: 0,
            pos: 0,
            origin: at,
            payload: p,
            psi: Some(StreamHeader {
                header: &[0x47; 188],
                has_video: true,
            }),
        })
    }

    fn take(r: &mut Recorder) -> Vec<Op> {
        let mut out = Vec::new();
        let _ = r.poll_ops(Waker::noop(), &mut out);
        out
    }

    #[test]
    fn a_full_queue_skips_to_the_next_keyframe_in_a_new_segment() {
        let cap = 3 * 7 * 188;
        let mut r = Recorder::new("s", rule(), t0(), cap);
        let (key, plain) = (payload(true), payload(false));
        assert_eq!(offer(&mut r, &key, t0()), Taken::Queued);
        assert_eq!(offer(&mut r, &plain, t0()), Taken::Queued);
        // The header (188) and two payloads are queued: a third does not fit.
        assert_eq!(offer(&mut r, &plain, t0()), Taken::Skipped);
        let ops = take(&mut r);
        assert!(matches!(ops.last(), Some(Op::End { .. })), "{ops:?}");
        assert_eq!(r.queued_bytes(), 0);
        // Room again, but no keyframe: still skipping; the keyframe starts a segment.
        assert_eq!(offer(&mut r, &plain, t0()), Taken::Skipped);
        assert_eq!(offer(&mut r, &key, t0()), Taken::Queued);
        assert!(matches!(take(&mut r)[0], Op::Start { .. }));
        assert_eq!(r.counters.skipped, 2);
    }

    #[test]
    fn finishing_closes_the_segment_and_ends_after_the_queue() {
        let mut r = Recorder::new("s", rule(), t0(), QUEUE_BYTES);
        offer(&mut r, &payload(true), t0());
        r.finish();
        assert_eq!(offer(&mut r, &payload(false), t0()), Taken::Closed);
        let mut out = Vec::new();
        assert_eq!(r.poll_ops(Waker::noop(), &mut out), Poll::Ready(true));
        assert!(matches!(out.last(), Some(Op::End { .. })));
        out.clear();
        assert_eq!(r.poll_ops(Waker::noop(), &mut out), Poll::Ready(false));
        r.fail(ErrorReason::NoSpace);
        assert_eq!(r.poll_ops(Waker::noop(), &mut out), Poll::Ready(false));
    }
}
