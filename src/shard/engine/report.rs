//! The shard's side of its snapshot (`telemetry::ShardSnapshot`): what the fan-out, admission
//! and the TS filter count, in telemetry's terms. The one place the relay's own types become
//! snapshot types.

use crate::relay::fanout::{Role, ShardStreams, StreamView};
use crate::relay::leg::LegKind;
use crate::telemetry::{ConnRole, IngestPublisher, ShardCounters, StreamSnapshot, StreamTraffic};

use crate::legs::srt::admission::AdmissionCounters;

/// The loop's counters with those the shard's parts keep added.
pub fn counters(
    own: ShardCounters,
    streams: &ShardStreams,
    a: &AdmissionCounters,
) -> ShardCounters {
    let ts = streams.ts_stats();
    ShardCounters {
        ts_rejected: ts.dropped_not_aligned + ts.dropped_bad_sync,
        handoffs_unknown: streams.unknown_handoffs(),
        forwards_refused: streams.forwards_refused(),
        refused_waiting_limit: a.waiting_limit,
        refused_stream_limit: a.stream_limit,
        refused_publish_without_resource: a.publish_without_resource,
        refused_bad_stream_id: a.bad_stream_id,
        refused_bad_mode: a.bad_mode,
        refused_unauthorized: a.unauthorized,
        refused_forbidden: a.forbidden,
        refused_connection_limit: a.connection_limit,
        refused_subscriber_limit: a.subscriber_limit,
        refused_publisher_conflict: a.publisher_conflict,
        refused_no_publisher: a.no_publisher,
        grants_abandoned: a.abandoned,
        silent_takeovers: a.silent_takeovers,
        ..own
    }
}

/// A connection's role and the stream it publishes or plays; no role yet is a handshake.
pub fn conn_role(role: Option<&Role>) -> (ConnRole, Option<String>) {
    match role {
        Some(Role::Publisher { name, .. }) => (ConnRole::Publish, Some(name.clone())),
        Some(Role::Subscriber { name }) => (ConnRole::Request, Some(name.clone())),
        None => (ConnRole::Handshake, None),
    }
}

pub fn stream(
    shard: usize,
    s: StreamView,
    hls_players: u32,
    ingest: Option<IngestPublisher>,
) -> StreamSnapshot {
    let c = s.counters;
    let kind = |k: LegKind| s.subscribers.iter().filter(|l| l.kind() == k).count() as u32;
    StreamSnapshot {
        name: s.name.clone(),
        shard,
        publisher: s.publisher.map(|l| l.local()),
        subscribers: kind(LegKind::Srt) + kind(LegKind::HttpTs),
        http_ts_players: kind(LegKind::HttpTs),
        hls_players,
        replica: s.replica,
        forwarding_to: s.forwarding_to,
        traffic: StreamTraffic {
            ingress_bps: s.ingress_bps,
            ingress_packets: c.ingress_packets,
            ingress_bytes: c.ingress_bytes,
            packets_forwarded: c.forwarded,
            packets_skipped: c.skipped,
            handoffs_out: c.handoffs_out,
            handoffs_in: c.handoffs_in,
            ring_refused: c.ring_refused,
            rejoin_skipped: c.rejoin_skipped,
        },
        ingest,
        recordings: Vec::new(),
    }
}
