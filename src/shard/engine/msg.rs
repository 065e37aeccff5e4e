//! Messages into a shard's control inbox (one unbounded crossbeam channel per shard, any
//! sender). Only session and lifecycle events travel here, never packets: those go through the
//! bounded per-pair handoff queues.

use std::time::Duration;

use crossbeam_channel::Sender;

use crate::relay::handoff::StreamKey;
use crate::srt::endpoint::ConnId;

use super::report::ShardReport;

#[derive(Debug)]
pub enum ShardMsg {
    /// To the publishing shard: start feeding session `key` to shard `to`.
    Forward { key: StreamKey, to: usize },
    /// To the publishing shard: shard `to` has no subscriber of `key` any more.
    Unforward { key: StreamKey, to: usize },
    /// To a shard with subscribers of `name`: a publisher session began on `shard`.
    SessionStarted {
        name: String,
        key: StreamKey,
        shard: usize,
    },
    /// To a shard with subscribers of `name`: session `key` ended; its grace period starts.
    SessionEnded { name: String, key: StreamKey },
    /// Close one connection with SHUTDOWN (takeover, operator request). The reply says whether
    /// the shard had it.
    Close {
        conn: ConnId,
        reply: Option<Sender<bool>>,
    },
    /// New admission timing for subscribers without a publisher (reload).
    Policy {
        wait: Option<Duration>,
        grace: Duration,
    },
    /// New latency proposal and ceiling for connections accepted from now on (reload).
    Latency { default: Duration, max: Duration },
    /// A snapshot of the shard for metrics and inspection.
    Report {
        reset_histograms: bool,
        reply: Sender<ShardReport>,
    },
}
