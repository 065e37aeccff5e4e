//! The engine as the operator API sees it (`telemetry::RelayView`): snapshots and closes go to
//! the shards as control messages and come back over a reply channel, so the HTTP thread waits
//! and a shard answers between two batches; nothing blocks a shard.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::relay::fanout::Role;
use crate::relay::registry::Registry;
use crate::telemetry::{
    self, ConnRole, ConnectionSnapshot, HealthState, RelayView, ShardSnapshot, StreamSnapshot,
};

use super::msg::ShardMsg;
use super::report::ShardReport;

/// How long a scrape waits for each shard before leaving it out.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

pub struct EngineView {
    inboxes: Vec<Sender<ShardMsg>>,
    registry: Arc<Registry>,
}

impl EngineView {
    pub(super) fn new(inboxes: Vec<Sender<ShardMsg>>, registry: Arc<Registry>) -> Self {
        EngineView { inboxes, registry }
    }
}

/// Asks every shard for its report; a shard that does not answer in time is left out.
pub(super) fn collect_reports(
    inboxes: &[Sender<ShardMsg>],
    reset_histograms: bool,
    timeout: Duration,
) -> Vec<ShardReport> {
    let pending: Vec<_> = inboxes
        .iter()
        .filter_map(|inbox| {
            let (tx, rx) = crossbeam_channel::bounded(1);
            inbox
                .send(ShardMsg::Report {
                    reset_histograms,
                    reply: tx,
                })
                .ok()
                .map(|()| rx)
        })
        .collect();
    pending
        .into_iter()
        .filter_map(|rx| rx.recv_timeout(timeout).ok())
        .collect()
}

impl RelayView for EngineView {
    fn snapshot(&self, reset_histograms: bool) -> Vec<ShardSnapshot> {
        collect_reports(&self.inboxes, reset_histograms, REPLY_TIMEOUT)
            .into_iter()
            .map(to_snapshot)
            .collect()
    }

    fn close_connection(&self, id: u32) -> bool {
        let replies: Vec<_> = self
            .inboxes
            .iter()
            .filter_map(|inbox| {
                let (tx, rx) = crossbeam_channel::bounded(1);
                inbox
                    .send(ShardMsg::Close {
                        leg: crate::legs::srt::leg(id),
                        reply: Some(tx),
                    })
                    .ok()
                    .map(|()| rx)
            })
            .collect();
        replies
            .into_iter()
            .any(|rx| rx.recv_timeout(REPLY_TIMEOUT).unwrap_or(false))
    }

    fn health(&self) -> HealthState {
        let c = self.registry.counts();
        HealthState {
            draining: c.draining,
            connections: c.connections,
            soft_limit: Some(c.soft_limit),
        }
    }
}

fn to_snapshot(r: ShardReport) -> ShardSnapshot {
    let shard = r.shard;
    ShardSnapshot {
        shard,
        counters: telemetry::ShardCounters {
            datagrams_in: r.counters.datagrams_in,
            datagrams_out: r.counters.datagrams_out,
            recv_batches: r.counters.recv_batches,
            send_batches: r.counters.send_batches,
            busy_ns: r.counters.busy_ns,
            ts_rejected: r.ts.dropped_not_aligned + r.ts.dropped_bad_sync,
            handoffs_dropped: r.counters.handoff_queue_full,
            refused_waiting_limit: r.admission.waiting_limit,
            refused_stream_limit: r.admission.stream_limit,
            refused_publish_without_resource: r.admission.publish_without_resource,
            silent_takeovers: r.admission.silent_takeovers,
            handoffs_unknown: r.unknown_handoffs,
            forwards_refused: r.forwards_refused,
        },
        endpoint: r.endpoint,
        connections: r
            .connections
            .into_iter()
            .map(|c| {
                let (role, stream) = match c.role {
                    Some(Role::Publisher { name, .. }) => (ConnRole::Publish, Some(name)),
                    Some(Role::Subscriber { name }) => (ConnRole::Request, Some(name)),
                    None => (ConnRole::Handshake, None),
                };
                ConnectionSnapshot {
                    id: c.id,
                    shard,
                    peer: c.peer,
                    role,
                    stream,
                    stats: c.stats,
                    age: c.age,
                }
            })
            .collect(),
        streams: r
            .streams
            .into_iter()
            .map(|s| StreamSnapshot {
                shard,
                publisher: s.publisher.map(|l| l.local()),
                subscribers: s.subscribers.len() as u32,
                ingress_bps: s.ingress_bps,
                ingress_packets: s.counters.ingress_packets,
                packets_forwarded: s.counters.forwarded,
                packets_skipped: s.counters.skipped,
                handoffs_out: s.counters.handoffs_out,
                handoffs_in: s.counters.handoffs_in,
                replica: s.replica,
                name: s.name,
            })
            .collect(),
        histograms: r.histograms,
    }
}
