//! Telemetry: what the relay engine hands the operator API, and the interface it does it through.
//!
//! Owns: the snapshot types ([`ShardSnapshot`] and its parts), the per-shard latency histograms
//! ([`HistogramSet`]), the [`RelayView`] contract, and the merging of per-shard snapshots
//! ([`aggregate`]). Must not: hold locks or atomics, read the clock, or know about HTTP. These
//! are plain `Clone` values: a shard fills them from its own counters when asked and moves them
//! to the HTTP thread, so scraping never blocks a shard.

#![deny(clippy::disallowed_methods)]

pub mod aggregate;
mod histogram;

use std::net::SocketAddr;
use std::time::Duration;

use crate::srt::connection::Stats;
use crate::srt::endpoint::EndpointStats;

pub use histogram::{HistogramSet, HistogramSummary, Kind as HistogramKind};

/// One shard's state at the moment it was asked.
#[derive(Debug, Clone, Default)]
pub struct ShardSnapshot {
    /// Index of the shard (0-based, in `runtime.cores` order).
    pub shard: usize,
    pub counters: ShardCounters,
    /// The shard's `Endpoint` counters: datagrams, handshake drops, rejections by code.
    pub endpoint: EndpointStats,
    /// Every connection the shard owns, handshakes in progress included.
    pub connections: Vec<ConnectionSnapshot>,
    /// Every stream the shard has: as the publisher's shard or as a replica.
    pub streams: Vec<StreamSnapshot>,
    /// What the shard recorded since its histograms were last reset (see
    /// [`RelayView::snapshot`]).
    pub histograms: HistogramSet,
    /// The pulled inputs this shard runs (`[[inputs]]`), live or not.
    pub inputs: Vec<InputSnapshot>,
    /// The main/backup switches this shard runs.
    pub backups: Vec<BackupSnapshot>,
    /// The push outputs this shard runs.
    pub outputs: Vec<OutputSnapshot>,
    /// `[srtla]`: every bonded sender's group and its links (shard 0 runs the receiver; the
    /// others report none).
    pub srtla_groups: Vec<SrtlaGroupSnapshot>,
}

/// One bonded sender (an SRTLA group) as the operator sees it: never its id, which is the
/// capability to add links to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SrtlaGroupSnapshot {
    /// The address the group's merged SRT connection comes from (its socket towards the
    /// relay's SRT listener): the publisher connection whose `peer` this is arrived via SRTLA.
    pub upstream: Option<SocketAddr>,
    pub age: Duration,
    pub links: Vec<SrtlaLinkSnapshot>,
}

/// One link of a bonded sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtlaLinkSnapshot {
    pub addr: SocketAddr,
    /// SRT packets and bytes this link carried (keepalives not included).
    pub packets: u64,
    pub bytes: u64,
    /// Since it registered.
    pub age: Duration,
    /// Since it last sent anything.
    pub idle: Duration,
}

/// The SRTLA receiver's counters (process-wide, carried by shard 0's snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtlaTotals {
    /// Groups and links now.
    pub groups: u64,
    pub links: u64,
    /// Registrations by [`SrtlaTotals::REGISTRATION_OUTCOMES`].
    pub registrations: [u64; 8],
    /// Groups closed by [`SrtlaTotals::CLOSE_REASONS`].
    pub groups_closed: [u64; 4],
    pub links_expired: u64,
    /// Datagrams dropped by [`SrtlaTotals::DROP_REASONS`].
    pub drops: [u64; 7],
    /// SRT packets from links to the relay's listener, and back to links (an ACK sent over
    /// three links counts three).
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    pub keepalives: u64,
    /// SRTLA ACKs sent to links.
    pub acks: u64,
}

impl SrtlaTotals {
    /// The `outcome` label of each `registrations` slot.
    pub const REGISTRATION_OUTCOMES: [&'static str; 8] = [
        "group_created",
        "group_refused_limit",
        "group_refused_registered",
        "group_replaced",
        "link_added",
        "link_refused_limit",
        "link_refused_other_group",
        "unknown_group",
    ];
    /// The `reason` label of each `groups_closed` slot.
    pub const CLOSE_REASONS: [&'static str; 4] = ["expired", "evicted", "replaced", "failed"];
    /// The `reason` label of each `drops` slot.
    pub const DROP_REASONS: [&'static str; 7] = [
        "malformed",
        "unknown_source",
        "truncated",
        "upstream_unrouted",
        "upstream_send_failed",
        "link_send_failed",
        "replies_overflow",
    ];
}

/// A pulled input as `/v1/streams` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSnapshot {
    pub stream: String,
    pub state: &'static str,
    pub upstream: Option<String>,
    pub upstreams: Vec<String>,
    pub connects: u64,
    pub failures: u64,
    pub stalls: u64,
    pub switches: u64,
    pub switch_dropped_packets: u64,
    pub bytes: u64,
    pub last_error: Option<String>,
}

/// A push output as `/v1/streams` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSnapshot {
    pub stream: String,
    /// The target URL, secrets masked.
    pub target: String,
    /// `idle` (the stream is not live), `connecting`, `live`, `waiting` (backoff), `stopped`.
    pub state: &'static str,
    pub connects: u64,
    pub failures: u64,
    /// SRT messages handed to the connection, and their bytes.
    pub packets: u64,
    pub bytes: u64,
    /// Messages the connection's send buffer had no room for (a target slower than the
    /// stream).
    pub dropped_packets: u64,
    pub last_error: Option<String>,
}

/// A stream's main/backup switch as `/v1/streams` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSnapshot {
    pub stream: String,
    /// `main`, `backup` or `none`.
    pub active: &'static str,
    pub to_backup: u64,
    pub to_main: u64,
    /// TS packets dropped at switches while waiting for the new feed's tables and keyframe.
    pub switch_dropped_packets: u64,
}

/// A publisher that is not SRT (RTMP, a pulled input), on its shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestPublisher {
    /// `rtmp` or `input`.
    pub protocol: &'static str,
    /// The peer's address (RTMP) or the upstream (secrets masked).
    pub source: String,
    pub age: Duration,
}

/// A shard's own counters, cumulative since it started. The loop counts most of them as it
/// goes; the rest (TS filter, admission, session protocol) are gathered from their owners when
/// the snapshot is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardCounters {
    /// UDP datagrams read from the socket.
    pub datagrams_in: u64,
    /// UDP datagrams written to the socket (a GSO message counts each segment).
    pub datagrams_out: u64,
    /// `recvmmsg` calls that returned at least one datagram.
    pub recv_batches: u64,
    /// `sendmmsg`/GSO flushes.
    pub send_batches: u64,
    /// `sendmmsg` calls.
    pub send_syscalls: u64,
    /// Datagrams the kernel refused (counted, not retried).
    pub send_dropped: u64,
    /// Flushes that found the socket buffer full (the rest waited for the next turn).
    pub send_blocked: u64,
    /// Time spent working (not waiting for the socket or a timer), in nanoseconds.
    pub busy_ns: u64,
    /// Packets handed to subscriber connections on this shard.
    pub forwarded: u64,
    /// Handoffs received from other shards.
    pub handoffs_in: u64,
    /// Publisher payloads dropped because they are not MPEG-TS (`streams.passthrough_non_ts`
    /// off).
    pub ts_rejected: u64,
    /// Handoffs to another shard that found its queue full (the remote subscribers lag; the
    /// forwarder retries later).
    pub handoffs_dropped: u64,
    /// Players refused (1402) because `limits.max_waiting_players` players wait already.
    pub refused_waiting_limit: u64,
    /// Publishers refused (1402) because `limits.max_streams` streams are published.
    pub refused_stream_limit: u64,
    /// Publishers refused (1400) because their Stream ID names no resource.
    pub refused_publish_without_resource: u64,
    /// Callers refused for a Stream ID that does not parse.
    pub refused_bad_stream_id: u64,
    /// Callers refused for asking both directions (`m=bidirectional`).
    pub refused_bad_mode: u64,
    /// Refused by `[access]`: no session (1401).
    pub refused_unauthorized: u64,
    /// Refused by `[access]`: a bad session (1403).
    pub refused_forbidden: u64,
    /// Refused by `limits.max_connections`.
    pub refused_connection_limit: u64,
    /// Players refused by `limits.max_subscribers_per_stream`.
    pub refused_subscriber_limit: u64,
    /// Publishers refused because the stream has a publisher the policy keeps.
    pub refused_publisher_conflict: u64,
    /// Players refused because the stream has no publisher (`streams.unknown_stream =
    /// "reject"`).
    pub refused_no_publisher: u64,
    /// Admission grants whose connection never came up (given back to the registry).
    pub grants_abandoned: u64,
    /// Publishers admitted in place of one silent for `streams.publisher_silence_takeover_ms`.
    pub silent_takeovers: u64,
    /// Handoffs received for a session the shard no longer holds (raced with its end; dropped).
    pub handoffs_unknown: u64,
    /// `Forward` requests for a session that had already ended on this shard.
    pub forwards_refused: u64,
    /// HTTP-TS players on this shard now.
    pub http_ts_players: u64,
    /// HTTP-TS players skipped forward to the next keyframe because their queue was full.
    pub http_ts_resyncs: u64,
    /// Payloads HTTP-TS players did not get: before their first keyframe, or skipped over.
    pub http_ts_skipped: u64,
    /// HTTP-TS players disconnected for lagging more than `playback.max_lag_ms`.
    pub http_ts_lag_closed: u64,
    /// Bytes HTTP-TS players were handed, departed players included.
    pub http_ts_bytes_out: u64,
    /// HLS segments and LL-HLS parts built by segmenters on this shard.
    pub hls_segments: u64,
    pub hls_parts: u64,
    /// HLS segments cut without a keyframe (none within three target durations, or the size
    /// cap).
    pub hls_forced_cuts: u64,
    /// The players' HTTP listener, all shards together (the listener counts process-wide;
    /// shard 0's snapshot carries them, the others report 0, so sums stay right).
    pub playback: PlaybackTotals,
    /// The RTMP listener, all shards together (carried by shard 0's snapshot like
    /// `playback`).
    pub rtmp: RtmpTotals,
    /// Ingest publishers (RTMP, inputs) on this shard now.
    pub ingest_publishers: u64,
    /// `[webhooks]`: calls (process-wide, carried by shard 0) and this shard's cache.
    pub webhooks: WebhookTotals,
    /// `[[record]]` recorders on this shard.
    pub record: RecordTotals,
    /// `[srtla]` (carried by shard 0's snapshot like `playback`).
    pub srtla: SrtlaTotals,
}

/// Recorders' counters on one shard, ended ones included (`active` is now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordTotals {
    pub active: u64,
    pub segments: u64,
    pub bytes: u64,
    /// Payloads not recorded because a recorder's queue was full (a slow disk).
    pub skipped: u64,
    /// Files deleted by retention.
    pub retention_removed: u64,
    /// Recordings stopped by a disk error, by [`RecordTotals::ERROR_REASONS`].
    pub errors: [u64; 4],
    /// Finished-segment and finished-recording events nobody took in time (process-wide,
    /// carried by shard 0's snapshot like `playback`).
    pub events_dropped: u64,
}

impl RecordTotals {
    /// The `reason` label of each `errors` slot (`record::ErrorReason` order).
    pub const ERROR_REASONS: [&'static str; 4] =
        ["no_space", "permission", "not_a_directory", "io"];
}

/// Webhook counters: `calls[hook][outcome]` in `webhooks::Hook::ALL` order and
/// [`WEBHOOK_OUTCOMES`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookTotals {
    pub calls: [[u64; 7]; 5],
    pub cache_hits: u64,
    /// Lookups that waited for a call already on its way.
    pub joined: u64,
    pub evicted: u64,
    /// SRT callers refused by a callback.
    pub srt_denied: u64,
}

pub const WEBHOOK_OUTCOMES: [&str; 7] = [
    "ok", "denied", "timeout", "failed", "busy", "retried", "given_up",
];

/// The RTMP listener's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtmpTotals {
    pub accepted: u64,
    pub refused_connections: u64,
    pub publishes: u64,
    pub publish_refused: u64,
    pub protocol_errors: u64,
    pub timeouts: u64,
    pub remux_errors: u64,
    pub bytes_in: u64,
    pub open: u64,
}

/// The players' HTTP listener's own counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaybackTotals {
    pub accepted: u64,
    pub refused_connections: u64,
    pub header_timeouts: u64,
    pub requests: u64,
    pub bad_requests: u64,
    pub not_found: u64,
    pub ts_players: u64,
    pub ts_refused: u64,
    pub playlist_requests: u64,
    pub segment_requests: u64,
    pub part_requests: u64,
    pub page_requests: u64,
    pub hls_bytes_out: u64,
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnRole {
    /// Handshake in progress (accepted conclusion not yet settled, or waiting for admission).
    Handshake,
    /// Publishing a stream (`m=publish`).
    Publish,
    /// Playing a stream (`m=request`).
    Request,
}

/// One connection's state.
#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    /// Local SRT socket id, unique across shards; the `id` label and the DELETE path.
    pub id: u32,
    pub shard: usize,
    pub peer: SocketAddr,
    pub role: ConnRole,
    /// The resource it publishes or plays, once known.
    pub stream: Option<String>,
    /// libsrt-named statistics (`Connection::stats`).
    pub stats: Stats,
    /// Time since the connection was accepted.
    pub age: Duration,
}

/// One stream as one shard sees it. A stream appears in the snapshot of every shard that has
/// it: the publisher's shard (`replica == false`) and each shard holding a replica for its
/// local subscribers (`replica == true`). [`aggregate::merge_streams`] joins them by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamSnapshot {
    pub name: String,
    pub shard: usize,
    /// The publishing connection's id, on the publisher's shard; `None` on replicas and while
    /// waiting for a publisher.
    pub publisher: Option<u32>,
    /// Players on this shard, every protocol (the HLS segmenter is not one).
    pub subscribers: u32,
    /// Of those, HTTP-TS players (the rest are SRT).
    pub http_ts_players: u32,
    /// HLS clients of the stream (addresses that reloaded its playlist lately, on any shard),
    /// reported by the shard that runs its segmenter.
    pub hls_players: u32,
    pub replica: bool,
    /// Shards this one hands the stream's packets to (publisher's shard).
    pub forwarding_to: Vec<usize>,
    pub traffic: StreamTraffic,
    /// Set when the publisher is not SRT (then `publisher` is its ingest number).
    pub ingest: Option<IngestPublisher>,
    /// Files `[[record]]` recorders write for it now (publisher's shard).
    pub recordings: Vec<String>,
}

/// What moved through a stream, on one shard ([`StreamSnapshot`]) or on all of them
/// ([`aggregate::StreamView`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTraffic {
    /// Publisher payload rate over the last second or so, in bits per second (publisher's shard).
    pub ingress_bps: u64,
    /// Packets received from the publisher (publisher's shard) or from handoffs (replica).
    pub ingress_packets: u64,
    /// Payload bytes of those packets.
    pub ingress_bytes: u64,
    /// Packets handed to local subscribers' connections.
    pub packets_forwarded: u64,
    /// Packets local subscribers skipped because they lagged behind the ring (`Lagged(n)`) or
    /// their send buffer was beyond their acknowledgements.
    pub packets_skipped: u64,
    /// Packets handed to other shards (publisher's shard).
    pub handoffs_out: u64,
    /// Packets received from the publisher's shard (replica).
    pub handoffs_in: u64,
    /// Packets the ring refused (too old, too far ahead, oversized).
    pub ring_refused: u64,
    /// Packets of a new publisher session before its first keyframe, which players that
    /// watched the session before never got, summed over them.
    pub rejoin_skipped: u64,
}

/// Whether the relay takes new connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthState {
    /// Shutting down: existing connections are being closed, new ones refused.
    pub draining: bool,
    /// Connections now, all shards together.
    pub connections: usize,
    /// `limits.soft_max_connections`; `None` for no soft limit.
    pub soft_limit: Option<usize>,
}

/// The engine's side of the operator API. Implemented by messaging the shards: a call may block
/// the calling (HTTP) thread briefly while each shard answers between two batches; it must
/// never block a shard.
pub trait RelayView: Send + Sync {
    /// Every shard's snapshot, in shard order. With `reset_histograms`, each shard hands over
    /// its histograms and starts them afresh, so consecutive calls see disjoint intervals. The
    /// HTTP side always passes `true` and accumulates the deltas itself (a cumulative set for
    /// Prometheus, an interval set for `/v1/histograms`), so no recorded value is lost or
    /// counted twice.
    fn snapshot(&self, reset_histograms: bool) -> Vec<ShardSnapshot>;
    /// Closes connection `id` with SHUTDOWN; `false` when no shard has it.
    fn close_connection(&self, id: u32) -> bool;
    fn health(&self) -> HealthState;
    /// `[cluster]`'s state, when it is on.
    fn cluster(&self) -> Option<crate::cluster::ClusterStatus> {
        None
    }
}

impl ConnRole {
    /// The `mode` label value and JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnRole::Handshake => "handshake",
            ConnRole::Publish => "publish",
            ConnRole::Request => "request",
        }
    }

    pub const ALL: [ConnRole; 3] = [ConnRole::Handshake, ConnRole::Request, ConnRole::Publish];
}
