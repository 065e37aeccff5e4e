//! Recording (`[[record]]`): each publisher session of a stream a rule matches is written to
//! disk as MPEG-TS segments, by a recorder leg on the publisher's shard that reads the ring
//! like an HTTP-TS player and a writer task that owns the files.
//!
//! Owns: the sans-IO decisions (`cut.rs`: where segments begin and end; `retention.rs`: which
//! files to delete; `path.rs`: the file names), the leg and the shard's table of them
//! (`leg.rs`), the writer (`writer.rs`: glommio's file I/O for data, the blocking pool for
//! directories, listing and deleting), and what all shards share ([`RecordShared`]: the
//! rules, reloadable, and the queue of [`RecordEvent`]s for notifications).
//! Must not: block the shard on the disk, slow the publisher (a recorder that falls behind
//! skips to the next keyframe, counted), or end a stream because its recording failed.

pub mod cut;
pub mod leg;
pub mod path;
pub mod retention;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::RecordRule;

/// Events kept for a consumer (the notifier) that is slow or absent; the oldest is dropped
/// beyond this (counted).
const EVENT_QUEUE: usize = 1024;

/// What all shards share: the rules (replaced on reload), the clock anchor for file dates,
/// and the event queue.
#[derive(Debug)]
pub struct RecordShared {
    rules: Mutex<Vec<Arc<RecordRule>>>,
    /// The engine's clock at start-up and the wall clock then: a payload's arrival as a date.
    anchor: (Instant, SystemTime),
    tx: Sender<RecordEvent>,
    rx: Receiver<RecordEvent>,
    events_dropped: AtomicU64,
}

/// A segment or a whole recording finished: what an `on_record_done` notification carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEvent {
    /// A segment file was closed (complete: it starts at a keyframe with the tables).
    SegmentFinished(SegmentInfo),
    /// A recording ended: its publisher session ended, or a disk error stopped it.
    RecordingFinished(RecordingInfo),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub stream: String,
    pub path: PathBuf,
    /// The wall-clock time of its first payload's arrival.
    pub started: SystemTime,
    /// From its first payload's arrival to the next segment's (or the last payload's).
    pub duration: Duration,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingInfo {
    pub stream: String,
    /// The rule's `path` template.
    pub template: String,
    /// When the recorder started (the publisher session began).
    pub started: SystemTime,
    pub duration: Duration,
    pub bytes: u64,
    pub segments: u64,
    /// The last segment written, if any.
    pub last_path: Option<PathBuf>,
    /// Why it stopped early; `None` when the session ended.
    pub error: Option<RecordFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    pub reason: ErrorReason,
    /// The OS error with the operation and path.
    pub message: String,
}

/// Why a recording stopped: the `reason` label of `srt_record_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorReason {
    /// ENOSPC, EDQUOT, EFBIG, or a write that wrote nothing.
    NoSpace,
    /// EACCES, EPERM, EROFS.
    Permission,
    /// A file where a directory should be (ENOTDIR, EEXIST from mkdir), or a directory where
    /// the file should be (EISDIR).
    NotADirectory,
    /// Anything else.
    Io,
}

impl ErrorReason {
    pub const ALL: [ErrorReason; 4] = [
        ErrorReason::NoSpace,
        ErrorReason::Permission,
        ErrorReason::NotADirectory,
        ErrorReason::Io,
    ];

    pub fn from_errno(errno: Option<i32>) -> ErrorReason {
        match errno {
            Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => ErrorReason::NoSpace,
            Some(libc::EACCES | libc::EPERM | libc::EROFS) => ErrorReason::Permission,
            Some(libc::ENOTDIR | libc::EEXIST | libc::EISDIR) => ErrorReason::NotADirectory,
            _ => ErrorReason::Io,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::NoSpace => "no_space",
            ErrorReason::Permission => "permission",
            ErrorReason::NotADirectory => "not_a_directory",
            ErrorReason::Io => "io",
        }
    }

    /// Its slot in `telemetry::RecordTotals::errors` (same order as `ALL`).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl RecordShared {
    pub fn new(rules: Vec<RecordRule>, anchor: (Instant, SystemTime)) -> RecordShared {
        let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        RecordShared {
            rules: Mutex::new(rules.into_iter().map(Arc::new).collect()),
            anchor,
            tx,
            rx,
            events_dropped: AtomicU64::new(0),
        }
    }

    /// New rules for sessions that start from now on (reload).
    pub fn set_rules(&self, rules: Vec<RecordRule>) {
        *self.rules.lock().unwrap_or_else(PoisonError::into_inner) =
            rules.into_iter().map(Arc::new).collect();
    }

    /// The rules that record `stream`, in file order.
    pub fn rules_for(&self, stream: &str) -> Vec<Arc<RecordRule>> {
        let rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        rules
            .iter()
            .filter(|r| r.streams.matches(stream))
            .cloned()
            .collect()
    }

    /// The finished segments and recordings, for a notifier on its own thread. Every clone
    /// takes from the same queue.
    pub fn events(&self) -> Receiver<RecordEvent> {
        self.rx.clone()
    }

    /// Events dropped because nobody took them in time.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    fn emit(&self, ev: RecordEvent) {
        let mut ev = ev;
        // Never blocks the shard: a full queue loses its oldest event.
        for _ in 0..2 {
            match self.tx.try_send(ev) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    ev = back;
                    if self.rx.try_recv().is_ok() {
                        self.events_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        self.events_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A payload's arrival on the engine's clock as a wall-clock time.
    pub fn wall(&self, at: Instant) -> SystemTime {
        let (i, w) = self.anchor;
        match at.checked_duration_since(i) {
            Some(d) => w + d,
            None => w.checked_sub(i - at).unwrap_or(w),
        }
    }
}
