//! What a shard reports about itself on request (metrics scrape, inspection, tests).

use std::net::SocketAddr;
use std::time::Duration;

use crate::media::ts::TsStats;
use crate::relay::fanout::{Role, StreamView};
use crate::srt::connection::Stats;
use crate::srt::endpoint::{ConnId, EndpointStats};
use crate::telemetry::HistogramSet;

use crate::legs::srt::admission::AdmissionCounters;

/// Counters of the shard's own loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardCounters {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub recv_batches: u64,
    pub send_batches: u64,
    /// sendmmsg calls.
    pub send_syscalls: u64,
    /// Datagrams the kernel refused (counted, not retried).
    pub send_dropped: u64,
    /// Flushes that found the socket buffer full (the rest waited for the next turn).
    pub send_blocked: u64,
    /// Time spent handling work (not waiting), in nanoseconds.
    pub busy_ns: u64,
    /// Packets handed to subscriber connections on this shard.
    pub forwarded: u64,
    /// Handoffs the publishing side could not queue (full queue, retried later).
    pub handoff_queue_full: u64,
    pub handoffs_in: u64,
}

#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub id: ConnId,
    pub peer: SocketAddr,
    /// `None` for a connection the relay has no role for (should not happen).
    pub role: Option<Role>,
    pub stats: Stats,
    pub age: Duration,
}

#[derive(Debug, Clone)]
pub struct ShardReport {
    pub shard: usize,
    pub counters: ShardCounters,
    pub endpoint: EndpointStats,
    pub admission: AdmissionCounters,
    pub ts: TsStats,
    /// Handoffs for a session this shard no longer holds.
    pub unknown_handoffs: u64,
    /// `Forward` requests for a session already gone here (answered `ForwardRefused`).
    pub forwards_refused: u64,
    pub connections: Vec<ConnectionReport>,
    pub streams: Vec<StreamView>,
    /// Recorded since the last report that asked for a reset.
    pub histograms: HistogramSet,
}
