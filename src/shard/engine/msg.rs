//! Messages into a shard's control inbox (one unbounded crossbeam channel per shard, any
//! sender). Only session and lifecycle events travel here, never packets: those go through the
//! bounded per-pair handoff queues.

use std::time::Duration;

use crossbeam_channel::Sender;

use crate::relay::fanout::SessionMsg;
use crate::relay::leg::LegId;
use crate::telemetry::ShardSnapshot;

#[derive(Debug)]
pub enum ShardMsg {
    /// Publisher sessions and who is fed (`relay::fanout::protocol`).
    Session(SessionMsg),
    /// Close one leg (SRT: with SHUTDOWN) (takeover, operator request). The reply says whether
    /// the shard had it.
    Close {
        leg: LegId,
        reply: Option<Sender<bool>>,
    },
    /// New admission timing for subscribers without a publisher (reload).
    Policy {
        wait: Option<Duration>,
        grace: Duration,
    },
    /// New latency proposal and ceiling for connections accepted from now on (reload).
    Latency { default: Duration, max: Duration },
    /// The configured `[[inputs]]` (start, reload): the shard runs those that are its own.
    Inputs(Vec<crate::config::InputConfig>),
    /// The edge pulls `[cluster]` wants (streams other nodes serve, for local players): the
    /// shard runs those that are its own, like `[[inputs]]`.
    EdgeInputs(Vec<crate::config::InputConfig>),
    /// The configured `[[outputs]]` (start, reload): the shard runs those that are its own.
    Outputs(Vec<crate::config::OutputConfig>),
    /// A feed of a main/backup stream has a publisher: run the stream's switch (sent to the
    /// stream's shard, `inputs::shard_of`).
    Feed { stream: String },
    /// An admission callback's answer for this shard's cache (`webhooks::ShardHooks`).
    Hook {
        key: String,
        verdict: crate::webhooks::Verdict,
    },
    /// A snapshot of the shard for metrics and inspection.
    Report {
        reset_histograms: bool,
        reply: Sender<ShardSnapshot>,
    },
}
