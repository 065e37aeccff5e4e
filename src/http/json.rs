//! JSON bodies of the inspection endpoints: streams, connections, histogram summaries.
//!
//! Owns: the shape of every JSON document the API returns (field names and units). Must not:
//! call the engine; it formats snapshots already taken.

use serde_json::{Value, json};

use crate::srt::connection::Stats;
use crate::telemetry::aggregate::{self, StreamView};
use crate::telemetry::{
    ConnRole, ConnectionSnapshot, HistogramKind, HistogramSet, HistogramSummary, InputSnapshot,
    ShardSnapshot,
};

/// `GET /v1/streams`: every stream, merged across shards.
pub fn streams(shards: &[ShardSnapshot]) -> Value {
    let conns = aggregate::connections(shards);
    let inputs: Vec<&InputSnapshot> = shards.iter().flat_map(|s| &s.inputs).collect();
    let list: Vec<Value> = aggregate::merge_streams(shards)
        .iter()
        .map(|s| {
            let v = with_input(stream_json(s, &conns, false), &s.name, &inputs);
            with_backup(v, &s.name, shards)
        })
        .collect();
    let inputs: Vec<Value> = inputs.iter().map(|i| input_json(i)).collect();
    let outputs: Vec<Value> = shards
        .iter()
        .flat_map(|s| &s.outputs)
        .map(output_json)
        .collect();
    json!({ "streams": list, "inputs": inputs, "outputs": outputs })
}

/// A stream's entry with the input that feeds it, if any.
fn with_input(mut v: Value, name: &str, inputs: &[&InputSnapshot]) -> Value {
    if let Some(i) = inputs.iter().find(|i| i.stream == name) {
        v["input"] = input_json(i);
    }
    v
}

fn output_json(o: &crate::telemetry::OutputSnapshot) -> Value {
    json!({
        "stream": o.stream,
        "target": o.target,
        "state": o.state,
        "connects": o.connects,
        "reconnects": o.connects.saturating_sub(1),
        "failures": o.failures,
        "packets": o.packets,
        "bytes": o.bytes,
        "dropped_packets": o.dropped_packets,
        "last_error": o.last_error,
    })
}

fn input_json(i: &InputSnapshot) -> Value {
    json!({
        "stream": i.stream,
        "state": i.state,
        "upstream": i.upstream,
        "upstreams": i.upstreams,
        "connects": i.connects,
        "reconnects": i.connects.saturating_sub(1),
        "failures": i.failures,
        "stalls": i.stalls,
        "switches": i.switches,
        "switch_dropped_packets": i.switch_dropped_packets,
        "bytes": i.bytes,
        "last_error": i.last_error,
    })
}

/// `GET /v1/streams/{name}`: one stream with its publisher's statistics and its subscribers.
pub fn stream(shards: &[ShardSnapshot], name: &str) -> Option<Value> {
    let conns = aggregate::connections(shards);
    let merged = aggregate::merge_streams(shards);
    let s = merged.iter().find(|s| s.name == name)?;
    let inputs: Vec<&InputSnapshot> = shards.iter().flat_map(|s| &s.inputs).collect();
    let v = with_input(stream_json(s, &conns, true), name, &inputs);
    Some(with_backup(v, name, shards))
}

/// A stream's entry with its main/backup switch (or, for a feed, what it feeds) and its push
/// outputs.
fn with_backup(mut v: Value, name: &str, shards: &[ShardSnapshot]) -> Value {
    let outputs: Vec<Value> = shards
        .iter()
        .flat_map(|s| &s.outputs)
        .filter(|o| o.stream == name)
        .map(output_json)
        .collect();
    if !outputs.is_empty() {
        v["outputs"] = Value::Array(outputs);
    }
    if let Some((stream, role)) = crate::backup::parse_feed(name) {
        v["feed"] = json!({ "stream": stream, "role": role.as_str() });
    }
    if let Some(b) = shards
        .iter()
        .flat_map(|s| &s.backups)
        .find(|b| b.stream == name)
    {
        v["backup"] = json!({
            "active": b.active,
            "switches_to_backup": b.to_backup,
            "switches_to_main": b.to_main,
            "switch_dropped_packets": b.switch_dropped_packets,
        });
    }
    v
}

/// `GET /v1/connections`.
pub fn connections(shards: &[ShardSnapshot]) -> Value {
    let list: Vec<Value> = aggregate::connections(shards)
        .into_iter()
        .map(connection_json)
        .collect();
    json!({ "connections": list })
}

/// `GET /v1/connections/{id}`.
pub fn connection(shards: &[ShardSnapshot], id: u32) -> Option<Value> {
    aggregate::connections(shards)
        .into_iter()
        .find(|c| c.id == id)
        .map(connection_json)
}

/// `GET /v1/histograms`: each histogram's summary over the interval, in its unit (the key says
/// which: `_us` or `_packets`).
pub fn histograms(set: &HistogramSet, interval_seconds: f64, reset: bool) -> Value {
    let mut map = serde_json::Map::new();
    for kind in HistogramKind::ALL {
        let s = HistogramSummary::of(set.get(kind));
        map.insert(
            kind.name().to_string(),
            json!({
                "count": s.count,
                "p50": s.p50,
                "p90": s.p90,
                "p99": s.p99,
                "p99.9": s.p999,
                "max": s.max,
                "mean": round3(s.mean),
            }),
        );
    }
    json!({
        "interval_seconds": round3(interval_seconds),
        "reset": reset,
        "histograms": map,
    })
}

fn stream_json(s: &StreamView, conns: &[&ConnectionSnapshot], detail: bool) -> Value {
    let ingest = s.ingest.as_ref().map(|i| {
        json!({ "id": s.publisher, "protocol": i.protocol, "peer": i.source,
                "shard": s.publisher_shard, "age_seconds": round3(i.age.as_secs_f64()) })
    });
    let publisher = s
        .publisher
        .filter(|_| s.ingest.is_none())
        .and_then(|id| conns.iter().find(|c| c.id == id))
        .map(|c| {
            if detail {
                connection_json(c)
            } else {
                json!({ "id": c.id, "peer": c.peer.to_string(), "shard": c.shard,
                        "age_seconds": round3(c.age.as_secs_f64()) })
            }
        });
    // A publisher id with no connection behind it (closed between the two snapshots) is
    // still reported by id.
    let publisher = ingest
        .or(publisher)
        .or_else(|| s.publisher.map(|id| json!({ "id": id })));
    let mut v = json!({
        "name": s.name,
        "publisher": publisher,
        "subscribers": s.subscribers,
        "players": {
            "srt": s.subscribers.saturating_sub(s.http_ts_players),
            "http_ts": s.http_ts_players,
            "hls": s.hls_players,
        },
        "ingress_bps": s.traffic.ingress_bps,
        "shards": s.shards,
        "stats": {
            "ingress_packets": s.traffic.ingress_packets,
            "packets_forwarded": s.traffic.packets_forwarded,
            "packets_skipped": s.traffic.packets_skipped,
            "rejoin_skipped": s.traffic.rejoin_skipped,
            "handoffs_out": s.traffic.handoffs_out,
            "handoffs_in": s.traffic.handoffs_in,
        },
    });
    // Only while recording: the shape stays as it was for streams without `[[record]]`.
    if !s.recordings.is_empty() {
        v["recordings"] = json!(s.recordings);
    }
    if detail {
        let subs: Vec<Value> = conns
            .iter()
            .filter(|c| c.role == ConnRole::Request && c.stream.as_deref() == Some(&s.name))
            .map(|c| connection_json(c))
            .collect();
        v["subscriber_connections"] = Value::Array(subs);
    }
    v
}

fn connection_json(c: &ConnectionSnapshot) -> Value {
    json!({
        "id": c.id,
        "shard": c.shard,
        "peer": c.peer.to_string(),
        "role": c.role.as_str(),
        "stream": c.stream,
        "age_seconds": round3(c.age.as_secs_f64()),
        "stats": stats_json(&c.stats),
    })
}

/// Every statistic under its field name: libsrt's name in snake case (`pktSndLoss` is
/// `pkt_snd_loss`, see `srt::connection::Stats`).
fn stats_json(s: &Stats) -> Value {
    json!({
        "pkt_sent": s.pkt_sent,
        "pkt_recv": s.pkt_recv,
        "pkt_snd_loss": s.pkt_snd_loss,
        "pkt_rcv_loss": s.pkt_rcv_loss,
        "pkt_retrans": s.pkt_retrans,
        "pkt_retrans_capped": s.pkt_retrans_capped,
        "pkt_retrans_suppressed": s.pkt_retrans_suppressed,
        "pkt_rcv_retrans": s.pkt_rcv_retrans,
        "pkt_sent_ack": s.pkt_sent_ack,
        "pkt_recv_ack": s.pkt_recv_ack,
        "pkt_sent_nak": s.pkt_sent_nak,
        "pkt_recv_nak": s.pkt_recv_nak,
        "pkt_sent_ackack": s.pkt_sent_ackack,
        "pkt_recv_ackack": s.pkt_recv_ackack,
        "pkt_sent_ctrl": s.pkt_sent_ctrl,
        "pkt_recv_ctrl": s.pkt_recv_ctrl,
        "pkt_snd_drop": s.pkt_snd_drop,
        "pkt_rcv_drop": s.pkt_rcv_drop,
        "pkt_rcv_belated": s.pkt_rcv_belated,
        "pkt_rcv_duplicate": s.pkt_rcv_duplicate,
        "pkt_rcv_overflow": s.pkt_rcv_overflow,
        "pkt_snd_overflow": s.pkt_snd_overflow,
        "pkt_rcv_undecrypt": s.pkt_rcv_undecrypt,
        "byte_sent": s.byte_sent,
        "byte_recv": s.byte_recv,
        "byte_retrans": s.byte_retrans,
        "byte_snd_drop": s.byte_snd_drop,
        "byte_sent_ctrl": s.byte_sent_ctrl,
        "byte_recv_ctrl": s.byte_recv_ctrl,
        "ms_rtt": round3(s.ms_rtt),
        "ms_rtt_var": round3(s.ms_rtt_var),
        "pkt_snd_buf": s.pkt_snd_buf,
        "ms_snd_buf": s.ms_snd_buf,
        "pkt_rcv_buf": s.pkt_rcv_buf,
        "ms_rcv_buf": s.ms_rcv_buf,
        "pkt_flow_window": s.pkt_flow_window,
        "ms_rcv_tsbpd_delay": s.ms_rcv_tsbpd_delay,
        "ms_snd_tsbpd_delay": s.ms_snd_tsbpd_delay,
        "mbps_max_bw": round3(s.mbps_max_bw),
        "mbps_input_bw": round3(s.mbps_input_bw),
    })
}

/// Three decimals; non-finite values (never expected) become 0 so the JSON stays valid.
fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}
