//! Prometheus text exposition (format 0.0.4) of the relay's snapshots.
//!
//! Owns: every metric name, its HELP text, type and labels, label escaping, and the buckets the
//! hdr histograms are cut into. Must not: call the engine or lock anything; it renders values
//! already gathered.
//!
//! Names follow Prometheus conventions (base units in the name, `_total` on counters) except
//! the per-connection `srt_connection_{ctrl,data}_{packets,bytes}_{sent,recv,lost}`,
//! `srt_connection_rtt` and `srt_connection_rtt_variance`, and `srt_connections_total` /
//! `srt_connections_current`, which keep the exact names (and microsecond RTT) that existing
//! dashboards query.

use std::fmt::Write;

use hdrhistogram::Histogram;

use crate::access::AccessCounters;
use crate::srt::connection::Stats;
use crate::srt::handshake::RejectReason;
use crate::telemetry::aggregate::{self, data_bytes_lost, data_packets_lost};
use crate::telemetry::{ConnRole, HistogramSet, ShardCounters, ShardSnapshot};

/// Bucket upper bounds for durations: (the `le` label in seconds, the bound in microseconds).
const SECONDS_BUCKETS: &[(&str, u64)] = &[
    ("0.0001", 100),
    ("0.00025", 250),
    ("0.0005", 500),
    ("0.001", 1_000),
    ("0.0025", 2_500),
    ("0.005", 5_000),
    ("0.01", 10_000),
    ("0.025", 25_000),
    ("0.05", 50_000),
    ("0.1", 100_000),
    ("0.25", 250_000),
    ("0.5", 500_000),
    ("1", 1_000_000),
    ("2.5", 2_500_000),
    ("5", 5_000_000),
    ("10", 10_000_000),
    ("30", 30_000_000),
];

/// Bucket upper bounds for the subscriber lag, in packets.
const PACKET_BUCKETS: &[(&str, u64)] = &[
    ("0", 0),
    ("1", 1),
    ("4", 4),
    ("16", 16),
    ("64", 64),
    ("256", 256),
    ("1024", 1024),
    ("4096", 4096),
    ("16384", 16384),
    ("65536", 65536),
];

type StatFn = fn(&Stats) -> u64;

/// The dashboard names, counters labelled `id`.
const CONNECTION_COUNTERS: &[(&str, &str, StatFn)] = &[
    (
        "srt_connection_data_packets_sent",
        "Data packets sent, retransmissions included (pktSent).",
        |s| s.pkt_sent,
    ),
    (
        "srt_connection_data_packets_recv",
        "Data packets received, duplicates and belated included (pktRecv).",
        |s| s.pkt_recv,
    ),
    (
        "srt_connection_data_packets_lost",
        "Data packets lost: sequence gaps when receiving (pktRcvLoss) plus packets the peer \
         reported lost when sending (pktSndLoss).",
        data_packets_lost,
    ),
    (
        "srt_connection_data_bytes_sent",
        "Payload bytes sent (byteSent).",
        |s| s.byte_sent,
    ),
    (
        "srt_connection_data_bytes_recv",
        "Payload bytes received (byteRecv).",
        |s| s.byte_recv,
    ),
    (
        "srt_connection_data_bytes_lost",
        "Payload bytes lost, estimated as lost packets times the average payload (as libsrt \
         estimates byteRcvLoss).",
        data_bytes_lost,
    ),
    (
        "srt_connection_ctrl_packets_sent",
        "Control packets sent.",
        |s| s.pkt_sent_ctrl,
    ),
    (
        "srt_connection_ctrl_packets_recv",
        "Control packets received.",
        |s| s.pkt_recv_ctrl,
    ),
    (
        "srt_connection_ctrl_packets_lost",
        "Always 0: SRT control packets carry no sequence number, so their loss cannot be \
         observed. Kept for existing dashboards.",
        |_| 0,
    ),
    (
        "srt_connection_ctrl_bytes_sent",
        "Control packet bytes sent (SRT header included).",
        |s| s.byte_sent_ctrl,
    ),
    (
        "srt_connection_ctrl_bytes_recv",
        "Control packet bytes received (SRT header included).",
        |s| s.byte_recv_ctrl,
    ),
    (
        "srt_connection_ctrl_bytes_lost",
        "Always 0, see srt_connection_ctrl_packets_lost.",
        |_| 0,
    ),
    (
        "srt_connection_packets_retransmitted_total",
        "Data packets retransmitted (pktRetrans).",
        |s| s.pkt_retrans,
    ),
    (
        "srt_connection_bytes_retransmitted_total",
        "Payload bytes retransmitted (byteRetrans).",
        |s| s.byte_retrans,
    ),
    (
        "srt_connection_retransmits_capped_total",
        "NAKed packets not retransmitted: the retransmission budget \
         (srt.retransmit_overhead_percent) was spent.",
        |s| s.pkt_retrans_capped,
    ),
    (
        "srt_connection_retransmits_suppressed_total",
        "NAKed packets not retransmitted: resent less than max(RTT, 10 ms) before.",
        |s| s.pkt_retrans_suppressed,
    ),
    (
        "srt_connection_naks_sent_total",
        "NAK control packets sent (pktSentNAK).",
        |s| s.pkt_sent_nak,
    ),
    (
        "srt_connection_naks_received_total",
        "NAK control packets received (pktRecvNAK).",
        |s| s.pkt_recv_nak,
    ),
];

/// The whole exposition.
pub fn render(shards: &[ShardSnapshot], access: &AccessCounters, hist: &HistogramSet) -> String {
    let mut out = Out(String::with_capacity(16 * 1024));
    server(&mut out, shards);
    access_metrics(&mut out, access);
    shard_metrics(&mut out, shards);
    connection_metrics(&mut out, shards);
    stream_metrics(&mut out, shards);
    histogram_metrics(&mut out, hist);
    admission_metrics(&mut out, shards);
    webhook_metrics(&mut out, shards);
    out.0
}

/// `[webhooks]`: calls by callback and outcome, the shards' answer caches, and SRT
/// handshakes left waiting for an answer.
fn webhook_metrics(out: &mut Out, shards: &[ShardSnapshot]) {
    let sum = |f: &dyn Fn(&ShardSnapshot) -> u64| shards.iter().map(f).sum::<u64>();
    let name = "srt_webhook_calls_total";
    out.head(
        name,
        "counter",
        "Webhook calls by callback and outcome: ok (2xx), denied (another status), timeout, \
         failed (connect or protocol error), busy (refused at hand-over: max_pending), retried \
         and given_up (notifications).",
    );
    for (h, hook) in crate::webhooks::Hook::ALL.iter().enumerate() {
        for (o, outcome) in crate::telemetry::WEBHOOK_OUTCOMES.iter().enumerate() {
            let n = sum(&|s| s.counters.webhooks.calls[h][o]);
            out.int(name, &[("hook", hook.as_str()), ("outcome", outcome)], n);
        }
    }
    let name = "srt_webhook_cache_total";
    out.head(
        name,
        "counter",
        "Admission answers served from the shards' caches (hit), lookups that waited for a \
         call on its way (joined), entries dropped to stay within the cache's bound (evicted).",
    );
    for (what, n) in [
        ("hit", sum(&|s| s.counters.webhooks.cache_hits)),
        ("joined", sum(&|s| s.counters.webhooks.joined)),
        ("evicted", sum(&|s| s.counters.webhooks.evicted)),
    ] {
        out.int(name, &[("result", what)], n);
    }
    let name = "srt_webhook_srt_refusals_total";
    out.head(
        name,
        "counter",
        "SRT callers refused because an admission callback said no, timed out or failed.",
    );
    out.int(name, &[], sum(&|s| s.counters.webhooks.srt_denied));
    let name = "srt_handshakes_deferred_total";
    out.head(
        name,
        "counter",
        "SRT conclusions left unanswered while their admission callback ran (the caller \
         repeats them every 250 ms).",
    );
    out.int(name, &[], sum(&|s| s.endpoint.deferred_conclusions));
}

/// Admission outcomes beyond the reject codes: which limit or rule refused, and takeovers of
/// silent publishers (issue 10). Totals over the shards.
fn admission_metrics(out: &mut Out, shards: &[ShardSnapshot]) {
    let sum = |f: fn(&ShardSnapshot) -> u64| shards.iter().map(f).sum::<u64>();
    let name = "srt_admission_refusals_total";
    out.head(
        name,
        "counter",
        "Handshakes refused by an admission rule, by reason (waiting_limit and stream_limit: \
         1402; publish_without_resource and stream_id_too_long: 1400).",
    );
    for (reason, n) in [
        ("waiting_limit", sum(|s| s.counters.refused_waiting_limit)),
        ("stream_limit", sum(|s| s.counters.refused_stream_limit)),
        (
            "publish_without_resource",
            sum(|s| s.counters.refused_publish_without_resource),
        ),
        ("stream_id_too_long", sum(|s| s.endpoint.stream_id_too_long)),
    ] {
        out.int(name, &[("reason", reason)], n);
    }
    let name = "srt_publisher_silent_takeovers_total";
    out.head(
        name,
        "counter",
        "Publishers admitted in place of one that had sent no data for \
         streams.publisher_silence_takeover_ms (the silent one is closed).",
    );
    out.int(name, &[], sum(|s| s.counters.silent_takeovers));
}

fn server(out: &mut Out, shards: &[ShardSnapshot]) {
    let totals = aggregate::endpoint_totals(shards);
    out.head(
        "srt_connections_total",
        "counter",
        "Connections accepted since start, all shards.",
    );
    out.int("srt_connections_total", &[], totals.accepted);

    out.head(
        "srt_connections_current",
        "gauge",
        "Connections now, by mode: handshake in progress, request (playing), publish.",
    );
    let by_role = aggregate::count_by_role(shards);
    for role in ConnRole::ALL {
        let n = by_role.get(&role).copied().unwrap_or(0);
        out.int("srt_connections_current", &[("mode", role.as_str())], n);
    }

    out.head(
        "srt_rejections_total",
        "counter",
        "Handshakes rejected, by SRT reject code as on the wire (1010 bad secret, 1011 \
         unsecure, 1401 unauthorized, 1402 overload, 1403 forbidden, ...) with libsrt's name.",
    );
    for (code, n) in &totals.rejections {
        let r = RejectReason::from_code(*code);
        let reason = r.to_string();
        // libsrt's own reasons travel as 1000 + code (BADSECRET = 1010), as the README says.
        let code = crate::service::events::operator_code(r).to_string();
        let labels = [("code", code.as_str()), ("reason", reason.as_str())];
        out.int("srt_rejections_total", &labels, *n);
    }

    out.head(
        "srt_handshake_drops_total",
        "counter",
        "Handshakes dropped without an answer, by reason.",
    );
    for (reason, n) in &totals.handshake_drops {
        out.int("srt_handshake_drops_total", &[("reason", reason)], *n);
    }

    out.head(
        "srt_datagrams_dropped_total",
        "counter",
        "Datagrams the endpoints dropped before any connection saw them, by reason.",
    );
    for (reason, n) in [
        ("parse_error", totals.parse_errors),
        ("unknown_socket", totals.unknown_socket),
        ("wrong_peer", totals.wrong_peer),
        ("not_handshake", totals.not_handshake),
    ] {
        out.int("srt_datagrams_dropped_total", &[("reason", reason)], n);
    }

    out.head(
        "srt_connections_unresponsive_closed_total",
        "counter",
        "Connections closed because the peer acknowledged none of the data sent to it for \
         srt.unresponsive_subscriber_timeout_ms.",
    );
    out.int(
        "srt_connections_unresponsive_closed_total",
        &[],
        totals.closed_unresponsive,
    );
}

fn access_metrics(out: &mut Out, a: &AccessCounters) {
    let simple = [
        (
            "srt_access_sessions_issued_total",
            "counter",
            "Sessions issued by POST /v1/streams/{id}/sessions.",
            a.issued,
        ),
        (
            "srt_access_sessions_redeemed_total",
            "counter",
            "Sessions accepted at an SRT handshake.",
            a.redeemed,
        ),
        (
            "srt_access_open_admissions_total",
            "counter",
            "Handshakes admitted without a session (open stream or access control off).",
            a.open,
        ),
        (
            "srt_access_sessions_outstanding",
            "gauge",
            "Sessions held now, used ones included until they expire.",
            a.outstanding,
        ),
    ];
    for (name, kind, help, v) in simple {
        out.head(name, kind, help);
        out.int(name, &[], v);
    }
    let name = "srt_access_rejections_total";
    out.head(
        name,
        "counter",
        "Handshakes refused by access control, by reason (missing: 1401; others: 1403).",
    );
    for (reason, code, n) in [
        ("missing", "1401", a.missing),
        ("unknown", "1403", a.unknown),
        ("expired", "1403", a.expired),
        ("reused", "1403", a.reused),
        ("mismatch", "1403", a.mismatch),
    ] {
        out.int(name, &[("reason", reason), ("code", code)], n);
    }
    let name = "srt_access_api_refusals_total";
    out.head(
        name,
        "counter",
        "Session requests refused, by reason (missing_token 401, bad_token and not_allowed \
         403, store_full 503).",
    );
    for (reason, n) in [
        ("missing_token", a.api_missing_token),
        ("bad_token", a.api_bad_token),
        ("not_allowed", a.api_not_allowed),
        ("store_full", a.store_full),
    ] {
        out.int(name, &[("reason", reason)], n);
    }
}

fn shard_metrics(out: &mut Out, shards: &[ShardSnapshot]) {
    let counters: [(&str, &str, CounterFn); 6] = [
        (
            "srt_shard_datagrams_received_total",
            "UDP datagrams read.",
            |c| c.datagrams_in,
        ),
        (
            "srt_shard_datagrams_sent_total",
            "UDP datagrams written (each GSO segment counts).",
            |c| c.datagrams_out,
        ),
        (
            "srt_shard_recv_batches_total",
            "Receive batches (recvmmsg calls that returned data).",
            |c| c.recv_batches,
        ),
        (
            "srt_shard_send_batches_total",
            "Send batches (sendmmsg/GSO flushes).",
            |c| c.send_batches,
        ),
        (
            "srt_shard_ts_rejected_packets_total",
            "Publisher payloads dropped as not MPEG-TS.",
            |c| c.ts_rejected,
        ),
        (
            "srt_shard_handoffs_dropped_total",
            "Packets not handed to another shard because its queue was full.",
            |c| c.handoffs_dropped,
        ),
    ];
    per_shard_counters(out, shards, &counters);
    out.head(
        "srt_playback_players",
        "gauge",
        "HTTP players on this shard now, by protocol.",
    );
    for s in shards {
        let shard = s.shard.to_string();
        out.int(
            "srt_playback_players",
            &[("shard", &shard), ("protocol", "http_ts")],
            s.counters.http_ts_players,
        );
    }
    let playback_counters: [(&str, &str, CounterFn); 4] = [
        (
            "srt_playback_bytes_out_total",
            "Bytes handed to HTTP-TS players' connections.",
            |c| c.http_ts_bytes_out,
        ),
        (
            "srt_playback_ts_resyncs_total",
            "HTTP-TS players skipped forward to the next keyframe because their queue was full.",
            |c| c.http_ts_resyncs,
        ),
        (
            "srt_playback_ts_skipped_total",
            "Payloads HTTP-TS players did not get (before their first keyframe, or skipped over).",
            |c| c.http_ts_skipped,
        ),
        (
            "srt_playback_ts_lag_disconnects_total",
            "HTTP-TS players disconnected for lagging more than playback.max_lag_ms.",
            |c| c.http_ts_lag_closed,
        ),
    ];
    per_shard_counters(out, shards, &playback_counters);
    let hls_counters: [(&str, &str, CounterFn); 3] = [
        (
            "srt_hls_segments_total",
            "HLS segments built by this shard's segmenters (one per stream, on its publisher's shard).",
            |c| c.hls_segments,
        ),
        (
            "srt_hls_parts_total",
            "LL-HLS parts built by this shard's segmenters.",
            |c| c.hls_parts,
        ),
        (
            "srt_hls_forced_cuts_total",
            "HLS segments cut without a keyframe (none within three target durations, or the size cap).",
            |c| c.hls_forced_cuts,
        ),
    ];
    per_shard_counters(out, shards, &hls_counters);
    // The listener counts process-wide: one series each, summed over the snapshots (only
    // shard 0's carries them).
    let total = |f: fn(&crate::telemetry::PlaybackTotals) -> u64| -> u64 {
        shards.iter().map(|s| f(&s.counters.playback)).sum()
    };
    out.head(
        "srt_playback_connections_total",
        "counter",
        "Players' HTTP connections by outcome at accept or before their first request.",
    );
    for (outcome, v) in [
        ("accepted", total(|p| p.accepted)),
        ("refused_limit", total(|p| p.refused_connections)),
        ("header_timeout", total(|p| p.header_timeouts)),
    ] {
        out.int("srt_playback_connections_total", &[("outcome", outcome)], v);
    }
    out.head(
        "srt_playback_hls_bytes_out_total",
        "counter",
        "Bytes of HLS segments and parts in responses, all shards.",
    );
    out.int(
        "srt_playback_hls_bytes_out_total",
        &[],
        total(|p| p.hls_bytes_out),
    );
    out.head(
        "srt_playback_requests_total",
        "counter",
        "Players' HTTP requests by what they asked for or why they were refused.",
    );
    for (route, v) in [
        ("ts", total(|p| p.ts_players)),
        ("ts_refused", total(|p| p.ts_refused)),
        ("playlist", total(|p| p.playlist_requests)),
        ("segment", total(|p| p.segment_requests)),
        ("part", total(|p| p.part_requests)),
        ("page", total(|p| p.page_requests)),
        ("bad_request", total(|p| p.bad_requests)),
        ("not_found", total(|p| p.not_found)),
    ] {
        out.int("srt_playback_requests_total", &[("route", route)], v);
    }
    let rtmp = |f: fn(&crate::telemetry::RtmpTotals) -> u64| -> u64 {
        shards.iter().map(|s| f(&s.counters.rtmp)).sum()
    };
    out.head(
        "srt_rtmp_connections_total",
        "counter",
        "RTMP connections by outcome: accepted, refused at the connection cap, closed for a protocol error or at a deadline.",
    );
    for (outcome, v) in [
        ("accepted", rtmp(|r| r.accepted)),
        ("refused_limit", rtmp(|r| r.refused_connections)),
        ("protocol_error", rtmp(|r| r.protocol_errors)),
        ("timeout", rtmp(|r| r.timeouts)),
    ] {
        out.int("srt_rtmp_connections_total", &[("outcome", outcome)], v);
    }
    out.head(
        "srt_rtmp_publishes_total",
        "counter",
        "RTMP publish requests by outcome.",
    );
    for (outcome, v) in [
        ("accepted", rtmp(|r| r.publishes)),
        ("refused", rtmp(|r| r.publish_refused)),
    ] {
        out.int("srt_rtmp_publishes_total", &[("outcome", outcome)], v);
    }
    out.head(
        "srt_rtmp_remux_errors_total",
        "counter",
        "RTMP media messages the FLV to TS remux refused (malformed, unsupported codec).",
    );
    out.int("srt_rtmp_remux_errors_total", &[], rtmp(|r| r.remux_errors));
    out.head(
        "srt_rtmp_bytes_in_total",
        "counter",
        "Bytes read from RTMP connections.",
    );
    out.int("srt_rtmp_bytes_in_total", &[], rtmp(|r| r.bytes_in));
    out.head(
        "srt_rtmp_connections",
        "gauge",
        "RTMP connections open now.",
    );
    out.int("srt_rtmp_connections", &[], rtmp(|r| r.open));
    srtla_series(out, shards);
    record_series(out, shards);
    backup_series(out, shards);
    output_series(out, shards);
    let inputs: Vec<&crate::telemetry::InputSnapshot> =
        shards.iter().flat_map(|s| &s.inputs).collect();
    type InputFn = fn(&crate::telemetry::InputSnapshot) -> u64;
    let input_series: [(&str, &str, &str, InputFn); 7] = [
        (
            "srt_input_live",
            "gauge",
            "1 while the input's upstream delivers TS.",
            |i| u64::from(i.state == "live"),
        ),
        (
            "srt_input_connects_total",
            "counter",
            "Upstreams of the input that delivered TS.",
            |i| i.connects,
        ),
        (
            "srt_input_failures_total",
            "counter",
            "Upstream attempts that failed (refused, timed out, not TS, HTTP errors).",
            |i| i.failures,
        ),
        (
            "srt_input_stalls_total",
            "counter",
            "Upstreams silent for stall_timeout_ms.",
            |i| i.stalls,
        ),
        (
            "srt_input_switches_total",
            "counter",
            "Splices from one source to the next (failovers, reconnects, file loops).",
            |i| i.switches,
        ),
        (
            "srt_input_switch_dropped_packets_total",
            "counter",
            "TS packets dropped at splices while waiting for the new source's tables and keyframe.",
            |i| i.switch_dropped_packets,
        ),
        (
            "srt_input_bytes_total",
            "counter",
            "Bytes read from the input's upstreams.",
            |i| i.bytes,
        ),
    ];
    for (name, kind, help, f) in input_series {
        out.head(name, kind, help);
        for i in &inputs {
            out.int(name, &[("stream", &i.stream)], f(i));
        }
    }
    let session_counters: [(&str, &str, CounterFn); 2] = [
        (
            "srt_shard_handoffs_unknown_total",
            "Handoffs received for a session this shard no longer holds (dropped).",
            |c| c.handoffs_unknown,
        ),
        (
            "srt_shard_forwards_refused_total",
            "Requests to be fed a session that had already ended here (answered ForwardRefused).",
            |c| c.forwards_refused,
        ),
    ];
    per_shard_counters(out, shards, &session_counters);
    let name = "srt_shard_busy_seconds_total";
    out.head(name, "counter", "Time spent working, not waiting.");
    for s in shards {
        let shard = s.shard.to_string();
        out.float(name, &[("shard", &shard)], s.counters.busy_ns as f64 / 1e9);
    }
    for (name, help, count) in [
        (
            "srt_shard_connections",
            "Connections owned by the shard.",
            (|s: &ShardSnapshot| s.connections.len()) as fn(&ShardSnapshot) -> usize,
        ),
        (
            "srt_shard_streams",
            "Streams on the shard, replicas included.",
            |s| s.streams.len(),
        ),
    ] {
        out.head(name, "gauge", help);
        for s in shards {
            let shard = s.shard.to_string();
            out.int(name, &[("shard", &shard)], count(s) as u64);
        }
    }
}

fn connection_metrics(out: &mut Out, shards: &[ShardSnapshot]) {
    let conns = aggregate::connections(shards);
    let ids: Vec<String> = conns.iter().map(|c| c.id.to_string()).collect();

    let name = "srt_connection_info";
    out.head(
        name,
        "gauge",
        "Always 1; labels describe connection `id`: role, stream, peer, shard.",
    );
    for (c, id) in conns.iter().zip(&ids) {
        let peer = c.peer.to_string();
        let shard = c.shard.to_string();
        let labels = [
            ("id", id.as_str()),
            ("role", c.role.as_str()),
            ("stream", c.stream.as_deref().unwrap_or("")),
            ("peer", peer.as_str()),
            ("shard", shard.as_str()),
        ];
        out.int(name, &labels, 1);
    }

    for (name, help, get) in CONNECTION_COUNTERS {
        out.head(name, "counter", help);
        for (c, id) in conns.iter().zip(&ids) {
            out.int(name, &[("id", id)], get(&c.stats));
        }
    }

    let name = "srt_connection_packets_dropped_too_late_total";
    out.head(
        name,
        "counter",
        "Data packets dropped as too late to play, by side: send (pktSndDrop) or recv \
         (pktRcvDrop).",
    );
    for (c, id) in conns.iter().zip(&ids) {
        out.int(name, &[("id", id), ("side", "send")], c.stats.pkt_snd_drop);
        out.int(name, &[("id", id), ("side", "recv")], c.stats.pkt_rcv_drop);
    }

    type GaugeFn = fn(&crate::telemetry::ConnectionSnapshot) -> f64;
    let gauges: [(&str, &str, GaugeFn); 5] = [
        (
            "srt_connection_rtt",
            "Smoothed round-trip time in microseconds (msRTT x 1000; unit kept for existing \
             dashboards).",
            |c| c.stats.ms_rtt * 1000.0,
        ),
        (
            "srt_connection_rtt_variance",
            "Round-trip time variance in microseconds (msRTTVar x 1000).",
            |c| c.stats.ms_rtt_var * 1000.0,
        ),
        (
            "srt_connection_recv_buffer_milliseconds",
            "Play time held in the receive buffer, in milliseconds (msRcvBuf).",
            |c| c.stats.ms_rcv_buf as f64,
        ),
        (
            "srt_connection_send_buffer_milliseconds",
            "Play time held in the send buffer, in milliseconds (msSndBuf).",
            |c| c.stats.ms_snd_buf as f64,
        ),
        (
            "srt_connection_age_seconds",
            "Time since the connection was accepted.",
            |c| c.age.as_secs_f64(),
        ),
    ];
    for (name, help, get) in gauges {
        out.head(name, "gauge", help);
        for (c, id) in conns.iter().zip(&ids) {
            out.float(name, &[("id", id)], get(c));
        }
    }
}

fn stream_metrics(out: &mut Out, shards: &[ShardSnapshot]) {
    let streams = aggregate::merge_streams(shards);
    type StreamFn = fn(&aggregate::StreamView) -> u64;
    let families: [(&str, &str, &str, StreamFn); 7] = [
        (
            "srt_stream_subscribers",
            "gauge",
            "Subscribers on all shards.",
            |s| u64::from(s.subscribers),
        ),
        (
            "srt_stream_publisher_connected",
            "gauge",
            "1 while the stream has a publisher.",
            |s| u64::from(s.publisher.is_some()),
        ),
        (
            "srt_stream_ingress_bits_per_second",
            "gauge",
            "Publisher payload rate.",
            |s| s.traffic.ingress_bps,
        ),
        (
            "srt_stream_ingress_packets_total",
            "counter",
            "Packets received from the publisher.",
            |s| s.traffic.ingress_packets,
        ),
        (
            "srt_stream_packets_forwarded_total",
            "counter",
            "Packets handed to subscribers, summed over subscribers.",
            |s| s.traffic.packets_forwarded,
        ),
        (
            "srt_stream_packets_skipped_total",
            "counter",
            "Packets lagging subscribers skipped to catch up with the ring.",
            |s| s.traffic.packets_skipped,
        ),
        (
            "srt_stream_rejoin_skipped_packets_total",
            "counter",
            "Packets of a new publisher session before its first keyframe, not sent to the \
             players that watched the session before (summed over them).",
            |s| s.traffic.rejoin_skipped,
        ),
    ];
    for (name, kind, help, get) in families {
        out.head(name, kind, help);
        for s in &streams {
            out.int(name, &[("stream", &s.name)], get(s));
        }
    }
    let name = "srt_stream_handoffs_total";
    out.head(
        name,
        "counter",
        "Packets handed between shards for the stream: out of the publisher's shard, in to \
         replicas.",
    );
    for s in &streams {
        out.int(
            name,
            &[("stream", &s.name), ("direction", "out")],
            s.traffic.handoffs_out,
        );
        out.int(
            name,
            &[("stream", &s.name), ("direction", "in")],
            s.traffic.handoffs_in,
        );
    }
}

fn histogram_metrics(out: &mut Out, h: &HistogramSet) {
    let name = "srt_relay_transit_seconds";
    out.head(
        name,
        "histogram",
        "Publisher packet arrival to hand-over to each subscriber's connection.",
    );
    out.histogram(name, &[], &h.transit_us, SECONDS_BUCKETS, 1e-6);

    let name = "srt_rtt_seconds";
    out.head(
        name,
        "histogram",
        "Smoothed RTT samples by connection role.",
    );
    out.histogram(
        name,
        &[("role", "publish")],
        &h.rtt_publish_us,
        SECONDS_BUCKETS,
        1e-6,
    );
    out.histogram(
        name,
        &[("role", "request")],
        &h.rtt_request_us,
        SECONDS_BUCKETS,
        1e-6,
    );

    let name = "srt_subscriber_lag_packets";
    out.head(
        name,
        "histogram",
        "How far subscribers read behind the ring head, in packets.",
    );
    out.histogram(name, &[], &h.lag_packets, PACKET_BUCKETS, 1.0);

    let name = "srt_handshake_duration_seconds";
    out.head(name, "histogram", "Induction to accepted conclusion.");
    out.histogram(name, &[], &h.handshake_us, SECONDS_BUCKETS, 1e-6);

    let name = "srt_relay_backlog_transit_seconds";
    out.head(
        name,
        "histogram",
        "Like srt_relay_transit_seconds, for the keyframe backlog replayed to a joining player.",
    );
    out.histogram(name, &[], &h.backlog_transit_us, SECONDS_BUCKETS, 1e-6);
}

/// The text being built. Writing to a `String` cannot fail, so `write!` results are ignored.
struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn int(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.name_labels(name, labels, None);
        let _ = writeln!(self.0, " {v}");
    }

    fn float(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.name_labels(name, labels, None);
        let _ = writeln!(self.0, " {}", format_float(v));
    }

    /// `_bucket` lines with cumulative counts, then `_sum` and `_count`. A bucket counts the
    /// values whose hdr bucket starts at or below the bound: hdr values are only known to
    /// within its resolution (1 %), so a value up to 1 % above `le` may be counted in it.
    /// `_sum` is mean x count, equally approximate.
    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        h: &Histogram<u64>,
        buckets: &[(&str, u64)],
        scale: f64,
    ) {
        let bucket = format!("{name}_bucket");
        for (le, bound) in buckets {
            self.name_labels(&bucket, labels, Some(le));
            let _ = writeln!(self.0, " {}", h.count_between(0, *bound));
        }
        self.name_labels(&bucket, labels, Some("+Inf"));
        let _ = writeln!(self.0, " {}", h.len());
        let sum = if h.is_empty() {
            0.0
        } else {
            h.mean() * h.len() as f64 * scale
        };
        self.float(&format!("{name}_sum"), labels, sum);
        self.int(&format!("{name}_count"), labels, h.len());
    }

    fn name_labels(&mut self, name: &str, labels: &[(&str, &str)], le: Option<&str>) {
        self.0.push_str(name);
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.0.push('{');
        let all = labels.iter().copied().chain(le.map(|v| ("le", v)));
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
        }
        self.0.push('}');
    }
}

/// Label values escape `\`, `"` and newline (exposition format spec).
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text escapes `\` and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;

/// Reads one shard counter.
type CounterFn = fn(&ShardCounters) -> u64;

/// One counter per row, a series per shard.
fn per_shard_counters(out: &mut Out, shards: &[ShardSnapshot], rows: &[(&str, &str, CounterFn)]) {
    for &(name, help, get) in rows {
        out.head(name, "counter", help);
        for s in shards {
            let shard = s.shard.to_string();
            out.int(name, &[("shard", &shard)], get(&s.counters));
        }
    }
}

/// `[[record]]`: one series each, summed over shards (recorders run on their publisher's).
/// `[srtla]`: groups, links, registrations, closes, drops and traffic (shard 0 carries them).
fn srtla_series(out: &mut Out, shards: &[ShardSnapshot]) {
    use crate::telemetry::SrtlaTotals;
    let mut t = SrtlaTotals::default();
    for s in shards {
        let c = &s.counters.srtla;
        t.groups += c.groups;
        t.links += c.links;
        for (a, b) in t.registrations.iter_mut().zip(c.registrations) {
            *a += b;
        }
        for (a, b) in t.groups_closed.iter_mut().zip(c.groups_closed) {
            *a += b;
        }
        for (a, b) in t.drops.iter_mut().zip(c.drops) {
            *a += b;
        }
        t.links_expired += c.links_expired;
        t.packets_in += c.packets_in;
        t.bytes_in += c.bytes_in;
        t.packets_out += c.packets_out;
        t.bytes_out += c.bytes_out;
        t.keepalives += c.keepalives;
        t.acks += c.acks;
    }
    out.head(
        "srt_srtla_groups",
        "gauge",
        "SRTLA groups (bonded senders) registered now.",
    );
    out.int("srt_srtla_groups", &[], t.groups);
    out.head(
        "srt_srtla_links",
        "gauge",
        "SRTLA links registered now, all groups together.",
    );
    out.int("srt_srtla_links", &[], t.links);
    out.head(
        "srt_srtla_registrations_total",
        "counter",
        "SRTLA registrations (REG1 for a group, REG2 for a link) by outcome.",
    );
    for (outcome, v) in SrtlaTotals::REGISTRATION_OUTCOMES
        .iter()
        .zip(t.registrations)
    {
        out.int("srt_srtla_registrations_total", &[("outcome", outcome)], v);
    }
    out.head(
        "srt_srtla_groups_closed_total",
        "counter",
        "SRTLA groups closed: no links left, evicted under max_groups (never carried data), replaced by their sender's new registration, or their socket could not be opened.",
    );
    for (reason, v) in SrtlaTotals::CLOSE_REASONS.iter().zip(t.groups_closed) {
        out.int("srt_srtla_groups_closed_total", &[("reason", reason)], v);
    }
    out.head(
        "srt_srtla_links_expired_total",
        "counter",
        "SRTLA links removed after sending nothing for the link timeout.",
    );
    out.int("srt_srtla_links_expired_total", &[], t.links_expired);
    out.head(
        "srt_srtla_drops_total",
        "counter",
        "Datagrams the SRTLA receiver dropped, by reason.",
    );
    for (reason, v) in SrtlaTotals::DROP_REASONS.iter().zip(t.drops) {
        out.int("srt_srtla_drops_total", &[("reason", reason)], v);
    }
    out.head(
        "srt_srtla_packets_total",
        "counter",
        "SRT packets through the SRTLA receiver: in from links, out to links (one per link sent to).",
    );
    out.int(
        "srt_srtla_packets_total",
        &[("direction", "in")],
        t.packets_in,
    );
    out.int(
        "srt_srtla_packets_total",
        &[("direction", "out")],
        t.packets_out,
    );
    out.head(
        "srt_srtla_bytes_total",
        "counter",
        "Bytes of SRT packets through the SRTLA receiver, by direction.",
    );
    out.int("srt_srtla_bytes_total", &[("direction", "in")], t.bytes_in);
    out.int(
        "srt_srtla_bytes_total",
        &[("direction", "out")],
        t.bytes_out,
    );
    out.head(
        "srt_srtla_keepalives_total",
        "counter",
        "SRTLA keepalives echoed to links.",
    );
    out.int("srt_srtla_keepalives_total", &[], t.keepalives);
    out.head(
        "srt_srtla_acks_total",
        "counter",
        "SRTLA ACKs sent to links (one per ten data packets a link carried).",
    );
    out.int("srt_srtla_acks_total", &[], t.acks);
}

fn record_series(out: &mut Out, shards: &[ShardSnapshot]) {
    type RecordFn = fn(&crate::telemetry::RecordTotals) -> u64;
    let sum = |f: RecordFn| -> u64 { shards.iter().map(|s| f(&s.counters.record)).sum() };
    let rows: [(&str, &str, &str, RecordFn); 6] = [
        (
            "srt_record_active",
            "gauge",
            "Recordings being written now.",
            |r| r.active,
        ),
        (
            "srt_record_segments_total",
            "counter",
            "Recording segment files finished.",
            |r| r.segments,
        ),
        (
            "srt_record_bytes_total",
            "counter",
            "Bytes written to recording files.",
            |r| r.bytes,
        ),
        (
            "srt_record_skipped_payloads_total",
            "counter",
            "Payloads not recorded because a recorder fell behind (its disk could not keep up); it resumes at the next keyframe in a new segment.",
            |r| r.skipped,
        ),
        (
            "srt_record_retention_removed_total",
            "counter",
            "Recording files deleted by retention (max_age_s, max_total_bytes).",
            |r| r.retention_removed,
        ),
        (
            "srt_record_events_dropped_total",
            "counter",
            "Finished-segment and finished-recording events dropped because nobody took them.",
            |r| r.events_dropped,
        ),
    ];
    for (name, kind, help, f) in rows {
        out.head(name, kind, help);
        out.int(name, &[], sum(f));
    }
    out.head(
        "srt_record_errors_total",
        "counter",
        "Recordings stopped by a disk error, by reason (the stream went on).",
    );
    for (i, reason) in crate::telemetry::RecordTotals::ERROR_REASONS
        .iter()
        .enumerate()
    {
        let v = shards.iter().map(|s| s.counters.record.errors[i]).sum();
        out.int("srt_record_errors_total", &[("reason", reason)], v);
    }
}

/// `streams.backup_publisher`: each running switch's feed and switches.
fn backup_series(out: &mut Out, shards: &[ShardSnapshot]) {
    let backups: Vec<&crate::telemetry::BackupSnapshot> =
        shards.iter().flat_map(|s| &s.backups).collect();
    let name = "srt_backup_on_backup";
    out.head(
        name,
        "gauge",
        "1 while the stream's players get its backup publisher.",
    );
    for b in &backups {
        out.int(
            name,
            &[("stream", &b.stream)],
            u64::from(b.active == "backup"),
        );
    }
    let name = "srt_backup_switches_total";
    out.head(
        name,
        "counter",
        "Switches of a stream between its main and backup publisher, by the feed switched to.",
    );
    for b in &backups {
        out.int(
            name,
            &[("stream", &b.stream), ("to", "backup")],
            b.to_backup,
        );
        out.int(name, &[("stream", &b.stream), ("to", "main")], b.to_main);
    }
    let name = "srt_backup_switch_dropped_packets_total";
    out.head(
        name,
        "counter",
        "TS packets dropped at switches while waiting for the new feed's tables and keyframe.",
    );
    for b in &backups {
        out.int(name, &[("stream", &b.stream)], b.switch_dropped_packets);
    }
}

/// `[[outputs]]`: each push output's connection and what it sent.
fn output_series(out: &mut Out, shards: &[ShardSnapshot]) {
    let outputs: Vec<&crate::telemetry::OutputSnapshot> =
        shards.iter().flat_map(|s| &s.outputs).collect();
    type OutputFn = fn(&crate::telemetry::OutputSnapshot) -> u64;
    let series: [(&str, &str, &str, OutputFn); 6] = [
        (
            "srt_output_connected",
            "gauge",
            "1 while the output's call is up and sending.",
            |o| u64::from(o.state == "live"),
        ),
        (
            "srt_output_connects_total",
            "counter",
            "Calls of the output's target that were answered.",
            |o| o.connects,
        ),
        (
            "srt_output_failures_total",
            "counter",
            "Calls that failed or were lost (each followed by the backoff).",
            |o| o.failures,
        ),
        (
            "srt_output_packets_total",
            "counter",
            "SRT messages handed to the output's connection.",
            |o| o.packets,
        ),
        (
            "srt_output_bytes_total",
            "counter",
            "Bytes handed to the output's connection.",
            |o| o.bytes,
        ),
        (
            "srt_output_dropped_packets_total",
            "counter",
            "Messages dropped because the output's send buffer was full (a target slower than the stream).",
            |o| o.dropped_packets,
        ),
    ];
    for (name, kind, help, f) in series {
        out.head(name, kind, help);
        for o in &outputs {
            out.int(name, &[("stream", &o.stream), ("target", &o.target)], f(o));
        }
    }
}

/// `[cluster]`: the node's standing in the directory and what it did.
pub fn render_cluster(text: &mut String, c: &crate::cluster::ClusterStatus) {
    use std::fmt::Write;
    let k = &c.counters;
    let rows: [(&str, &str, &str, u64); 12] = [
        (
            "srt_cluster_etcd_reachable",
            "gauge",
            "1 while etcd answers.",
            u64::from(c.reachable),
        ),
        (
            "srt_cluster_lease",
            "gauge",
            "1 while the node holds a lease.",
            u64::from(c.has_lease),
        ),
        (
            "srt_cluster_streams_held",
            "gauge",
            "Streams this node holds in the directory.",
            c.held.len() as u64,
        ),
        (
            "srt_cluster_edge_pulls",
            "gauge",
            "Streams this node pulls from other nodes now.",
            c.pulls.len() as u64,
        ),
        (
            "srt_cluster_claims_won_total",
            "counter",
            "Streams claimed in the directory.",
            k.claims_won,
        ),
        (
            "srt_cluster_fenced_total",
            "counter",
            "Local publishers closed because another node holds their stream.",
            k.fenced,
        ),
        (
            "srt_cluster_releases_total",
            "counter",
            "Claims given back when a stream ended here.",
            k.releases,
        ),
        (
            "srt_cluster_leases_lost_total",
            "counter",
            "Leases etcd no longer knew (the node's streams were claimed again).",
            k.leases_lost,
        ),
        (
            "srt_cluster_etcd_errors_total",
            "counter",
            "etcd requests that failed (unreachable, timeouts, errors).",
            k.etcd_errors,
        ),
        (
            "srt_cluster_edge_pulls_started_total",
            "counter",
            "Pulls of other nodes' streams started (a new owner restarts one).",
            c.edge_pulls_started,
        ),
        (
            "srt_cluster_tier_fallbacks_total",
            "counter",
            "Pulls sent to the owner because no node of upstream_nodes was usable.",
            c.tier_fallbacks,
        ),
        (
            "srt_cluster_failovers_total",
            "counter",
            "Pulls of other nodes' streams that moved to the stream's new owner.",
            c.failovers,
        ),
    ];
    for (name, kind, help, v) in rows {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    }
}
