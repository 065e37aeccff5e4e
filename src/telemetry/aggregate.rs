//! Joining per-shard snapshots into relay-wide views, on the HTTP thread.
//!
//! Owns: stream merging by name, summed endpoint counters, and the derived per-connection
//! values the metrics need (data loss in bytes). Must not: call the engine; it only reads
//! snapshots already taken.

use std::collections::{BTreeMap, HashMap};

use super::{
    ConnRole, ConnectionSnapshot, HistogramSet, ShardSnapshot, StreamSnapshot, StreamTraffic,
};
use crate::srt::connection::Stats;
use crate::srt::handshake::DropReason;

/// One stream across all shards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamView {
    pub name: String,
    pub publisher: Option<u32>,
    /// The publisher's shard; `None` when only replicas (or nothing) report the stream.
    pub publisher_shard: Option<usize>,
    /// Shards that have the stream, ascending.
    pub shards: Vec<usize>,
    /// Players on all shards, every protocol.
    pub subscribers: u32,
    pub http_ts_players: u32,
    pub hls_players: u32,
    /// The publisher when it is not SRT.
    pub ingest: Option<super::IngestPublisher>,
    /// Files being recorded (`[[record]]`), from the publisher's shard.
    pub recordings: Vec<String>,
    /// Ingress from the publisher's shard; the rest summed over shards (every subscriber's
    /// hand-overs).
    pub traffic: StreamTraffic,
}

/// Relay-wide endpoint counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointTotals {
    pub accepted: u64,
    pub parse_errors: u64,
    pub unknown_socket: u64,
    pub wrong_peer: u64,
    pub not_handshake: u64,
    /// By reject code, ascending.
    pub rejections: BTreeMap<u32, u64>,
    /// By drop reason label (see [`drop_reason_label`]), ascending.
    pub handshake_drops: BTreeMap<&'static str, u64>,
    /// Closed by the unresponsive-subscriber timeout.
    pub closed_unresponsive: u64,
}

/// Streams of all shards joined by name, sorted by name.
///
/// `subscribers` is every shard's own count (each shard reports the players it feeds; the
/// roles behind `/v1/connections` come from the same state). Ingress is the
/// publisher's shard's; while only replicas hold the stream (its publisher's shard forgot it,
/// its players are in their grace period), the largest replica's ingress stands in, so a
/// stream never shows packets forwarded without packets in.
pub fn merge_streams(shards: &[ShardSnapshot]) -> Vec<StreamView> {
    let mut by_name: BTreeMap<&str, StreamView> = BTreeMap::new();
    let mut replica_ingress: HashMap<&str, u64> = HashMap::new();
    for s in shards.iter().flat_map(|s| &s.streams) {
        let v = by_name.entry(&s.name).or_insert_with(|| StreamView {
            name: s.name.clone(),
            ..StreamView::default()
        });
        add_stream(v, s);
        if s.replica {
            let r = replica_ingress.entry(&s.name).or_default();
            *r = (*r).max(s.traffic.ingress_packets);
        }
    }
    for v in by_name.values_mut() {
        if v.publisher_shard.is_none() {
            v.traffic.ingress_packets = replica_ingress.get(v.name.as_str()).copied().unwrap_or(0);
        }
    }
    by_name.into_values().collect()
}

/// All connections, sorted by id.
pub fn connections(shards: &[ShardSnapshot]) -> Vec<&ConnectionSnapshot> {
    let mut all: Vec<&ConnectionSnapshot> = shards.iter().flat_map(|s| &s.connections).collect();
    all.sort_by_key(|c| c.id);
    all
}

/// Connections by role, every role present (zero when none).
pub fn count_by_role(shards: &[ShardSnapshot]) -> HashMap<ConnRole, u64> {
    let mut counts: HashMap<ConnRole, u64> = ConnRole::ALL.iter().map(|r| (*r, 0)).collect();
    for c in shards.iter().flat_map(|s| &s.connections) {
        *counts.entry(c.role).or_default() += 1;
    }
    counts
}

pub fn endpoint_totals(shards: &[ShardSnapshot]) -> EndpointTotals {
    let mut t = EndpointTotals::default();
    for e in shards.iter().map(|s| &s.endpoint) {
        t.accepted += e.accepted;
        t.parse_errors += e.parse_errors;
        t.unknown_socket += e.unknown_socket;
        t.wrong_peer += e.wrong_peer;
        t.not_handshake += e.not_handshake;
        t.closed_unresponsive += e.closed_unresponsive;
        for (code, n) in &e.rejections {
            *t.rejections.entry(*code).or_default() += n;
        }
        for (reason, n) in &e.handshake_drops {
            *t.handshake_drops
                .entry(drop_reason_label(*reason))
                .or_default() += n;
        }
    }
    t
}

/// Every shard's histograms folded into `into`.
pub fn merge_histograms(shards: &[ShardSnapshot], into: &mut HistogramSet) {
    for s in shards {
        into.merge(&s.histograms);
    }
}

/// A stable label for a handshake drop reason.
pub fn drop_reason_label(r: DropReason) -> &'static str {
    match r {
        DropReason::BadCookie => "bad_cookie",
        DropReason::Malformed => "malformed",
        DropReason::Rendezvous => "rendezvous",
        DropReason::UnexpectedType => "unexpected_type",
    }
}

/// Data packets lost in either direction: detected gaps when receiving (`pktRcvLoss`) plus
/// those the peer reported in NAKs when sending (`pktSndLoss`). A relay connection carries data
/// one way, so at most one of the two moves.
pub fn data_packets_lost(s: &Stats) -> u64 {
    s.pkt_rcv_loss.saturating_add(s.pkt_snd_loss)
}

/// Bytes lost, estimated as lost packets times the average payload in that direction: lost
/// packets never arrive, so their size is unknown. libsrt estimates `byteRcvLoss` the same way
/// (`srtcore/core.cpp`: loss times the receive buffer's average payload size).
pub fn data_bytes_lost(s: &Stats) -> u64 {
    let est = |lost: u64, bytes: u64, pkts: u64| {
        bytes
            .checked_div(pkts)
            .map_or(0, |avg| lost.saturating_mul(avg))
    };
    est(s.pkt_rcv_loss, s.byte_recv, s.pkt_recv).saturating_add(est(
        s.pkt_snd_loss,
        s.byte_sent,
        s.pkt_sent,
    ))
}

fn add_stream(v: &mut StreamView, s: &StreamSnapshot) {
    if let Err(i) = v.shards.binary_search(&s.shard) {
        v.shards.insert(i, s.shard);
    }
    v.subscribers = v.subscribers.saturating_add(s.subscribers);
    v.http_ts_players = v.http_ts_players.saturating_add(s.http_ts_players);
    v.hls_players = v.hls_players.saturating_add(s.hls_players);
    let (sum, t) = (&mut v.traffic, &s.traffic);
    if !s.replica {
        // Only the publisher's shard knows the publisher and the ingress.
        v.publisher = v.publisher.or(s.publisher);
        v.publisher_shard = v.publisher_shard.or(Some(s.shard));
        if v.ingest.is_none() {
            v.ingest = s.ingest.clone();
        }
        v.recordings.extend(s.recordings.iter().cloned());
        sum.ingress_bps = sum.ingress_bps.saturating_add(t.ingress_bps);
        sum.ingress_packets = sum.ingress_packets.saturating_add(t.ingress_packets);
        sum.ingress_bytes = sum.ingress_bytes.saturating_add(t.ingress_bytes);
    }
    sum.packets_forwarded = sum.packets_forwarded.saturating_add(t.packets_forwarded);
    sum.packets_skipped = sum.packets_skipped.saturating_add(t.packets_skipped);
    sum.handoffs_out = sum.handoffs_out.saturating_add(t.handoffs_out);
    sum.handoffs_in = sum.handoffs_in.saturating_add(t.handoffs_in);
    sum.ring_refused = sum.ring_refused.saturating_add(t.ring_refused);
    sum.rejoin_skipped = sum.rejoin_skipped.saturating_add(t.rejoin_skipped);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(name: &str, shard: usize, replica: bool) -> StreamSnapshot {
        StreamSnapshot {
            name: name.into(),
            shard,
            replica,
            publisher: (!replica).then_some(7),
            subscribers: 2,
            http_ts_players: 0,
            hls_players: 0,
            traffic: StreamTraffic {
                ingress_bps: if replica { 0 } else { 5_000_000 },
                ingress_packets: 100,
                packets_forwarded: 200,
                packets_skipped: 1,
                handoffs_out: if replica { 0 } else { 100 },
                handoffs_in: if replica { 100 } else { 0 },
                ..StreamTraffic::default()
            },
            ..StreamSnapshot::default()
        }
    }

    #[test]
    fn streams_merge_by_name_with_ingress_from_the_publisher_shard() {
        let shards = vec![
            ShardSnapshot {
                shard: 0,
                streams: vec![stream("b", 0, true), stream("a", 0, false)],
                ..Default::default()
            },
            ShardSnapshot {
                shard: 1,
                streams: vec![stream("a", 1, true)],
                ..Default::default()
            },
        ];
        let merged = merge_streams(&shards);
        assert_eq!(merged.len(), 2);
        let a = &merged[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.publisher, Some(7));
        assert_eq!(a.publisher_shard, Some(0));
        assert_eq!(a.shards, vec![0, 1]);
        assert_eq!(a.subscribers, 4);
        assert_eq!(a.traffic.ingress_bps, 5_000_000);
        assert_eq!(
            a.traffic.ingress_packets, 100,
            "replica ingress is not publisher ingress"
        );
        assert_eq!(a.traffic.packets_forwarded, 400);
        assert_eq!((a.traffic.handoffs_out, a.traffic.handoffs_in), (100, 100));
        let b = &merged[1];
        assert_eq!((b.publisher, b.publisher_shard), (None, None));
    }

    /// While only a replica holds the stream (its players' grace period, the publisher's
    /// shard already forgot it), ingress is what reached the replica, not 0 beside 100 packets
    /// forwarded (seen: `handoffs_in 569, ingress_packets 0, packets_forwarded 569`).
    #[test]
    fn a_replica_alone_stands_in_for_ingress() {
        let only_replica = vec![ShardSnapshot {
            shard: 1,
            streams: vec![stream("live", 1, true)],
            ..Default::default()
        }];
        let m = &merge_streams(&only_replica)[0];
        assert_eq!(m.publisher_shard, None);
        assert_eq!(
            (m.traffic.ingress_packets, m.traffic.handoffs_in),
            (100, 100)
        );
    }

    #[test]
    fn endpoint_totals_sum_shards() {
        let mut s0 = ShardSnapshot::default();
        s0.endpoint.accepted = 3;
        s0.endpoint.rejections.insert(1403, 2);
        s0.endpoint.handshake_drops.insert(DropReason::BadCookie, 1);
        let mut s1 = ShardSnapshot::default();
        s1.endpoint.accepted = 4;
        s1.endpoint.rejections.insert(1403, 5);
        s1.endpoint.rejections.insert(1402, 1);
        let t = endpoint_totals(&[s0, s1]);
        assert_eq!(t.accepted, 7);
        assert_eq!(t.rejections.get(&1403), Some(&7));
        assert_eq!(t.rejections.get(&1402), Some(&1));
        assert_eq!(t.handshake_drops.get("bad_cookie"), Some(&1));
    }

    #[test]
    fn bytes_lost_are_estimated_from_the_average_payload() {
        let s = Stats {
            pkt_recv: 100,
            byte_recv: 131_600,
            pkt_rcv_loss: 3,
            ..Stats::default()
        };
        assert_eq!(data_packets_lost(&s), 3);
        assert_eq!(data_bytes_lost(&s), 3 * 1316);
        assert_eq!(data_bytes_lost(&Stats::default()), 0);
    }
}
