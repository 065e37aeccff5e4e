//! The stats JSON scene switchers poll (NOALBS, BELABOX tooling, OpenIRL's irl-srt-server
//! clients), built from the shards' snapshots.
//!
//! Owns the three shapes: `GET /stats` answers SLS's (`{"status":"ok","publishers":{NAME:
//! {...}}}`, every field NOALBS's `SrtLiveServer` parser requires) with BELABOX's
//! `dropped_pkts` in the same entries (its parser reads the same map and fails without it);
//! `GET /stats/{stream}` answers OpenIRL's (`{"status":"ok","publisher":{...}}`, or
//! `{"status":"error",...}` with 200 when nobody publishes, which those clients read as
//! offline). Entries are keyed by stream name: a Stream ID's session (`s=`) or an access token
//! never appears. A publisher that arrived via SRTLA (its connection comes from a group's
//! socket) also lists its links in OpenIRL's `peers`: address, packets, bytes, how long ago
//! each was last heard from, and its share of the group's packets. Must not: read the clock
//! or touch a socket.

use serde_json::{Map, Value, json};

use std::net::SocketAddr;

use crate::srt::connection::Stats;
use crate::telemetry::{ConnRole, ShardSnapshot, SrtlaGroupSnapshot, aggregate};

/// One live publisher as the stats shapes need it.
struct Live<'a> {
    name: &'a str,
    peer: SocketAddr,
    stats: &'a Stats,
    uptime_s: u64,
    /// Payload rate over the last sampling second (the shard samples once a second).
    ingress_bps: u64,
}

fn live_publishers(shards: &[ShardSnapshot]) -> Vec<Live<'_>> {
    let mut out = Vec::new();
    for shard in shards {
        for c in &shard.connections {
            let (ConnRole::Publish, Some(name)) = (c.role, c.stream.as_deref()) else {
                continue;
            };
            // The stream row on the publisher's shard names this connection as its publisher;
            // a displaced publisher that has not closed yet is not the stream's.
            let Some(stream) = shard
                .streams
                .iter()
                .find(|s| s.name == name && s.publisher == Some(c.id))
            else {
                continue;
            };
            out.push(Live {
                name,
                peer: c.peer,
                stats: &c.stats,
                uptime_s: c.age.as_secs(),
                ingress_bps: stream.traffic.ingress_bps,
            });
        }
    }
    out
}

/// Bytes for `pkts` packets at the connection's average received payload.
fn bytes_at_average(s: &Stats, pkts: u64) -> u64 {
    s.byte_recv
        .checked_div(s.pkt_recv)
        .map_or(0, |avg| pkts.saturating_mul(avg))
}

fn kbps(bps: u64) -> u64 {
    bps / 1000
}

fn mbps(bps: u64) -> f64 {
    (bps as f64 / 1e6 * 1000.0).round() / 1000.0
}

fn rtt_ms(s: &Stats) -> f64 {
    (s.ms_rtt * 1000.0).round() / 1000.0
}

/// `GET /stats`: every live publisher, SLS fields plus BELABOX's `dropped_pkts`.
pub fn publishers(shards: &[ShardSnapshot]) -> Value {
    let mut map = Map::new();
    for p in live_publishers(shards) {
        let s = p.stats;
        map.insert(
            p.name.to_string(),
            json!({
                "bitrate": kbps(p.ingress_bps),
                "bytesRcvDrop": bytes_at_average(s, s.pkt_rcv_drop),
                "bytesRcvLoss": aggregate::data_bytes_lost(s),
                // No link-capacity probing here: the receive rate is the honest figure.
                "mbpsBandwidth": mbps(p.ingress_bps),
                "mbpsRecvRate": mbps(p.ingress_bps),
                "msRcvBuf": s.ms_rcv_buf,
                "pktRcvDrop": s.pkt_rcv_drop,
                "pktRcvLoss": s.pkt_rcv_loss,
                "rtt": rtt_ms(s),
                "uptime": p.uptime_s,
                "dropped_pkts": s.pkt_rcv_drop,
            }),
        );
    }
    json!({ "status": "ok", "publishers": map })
}

/// `GET /stats/{stream}`: its publisher in OpenIRL's shape, or the offline answer.
pub fn publisher(shards: &[ShardSnapshot], name: &str) -> Value {
    let Some(p) = live_publishers(shards).into_iter().find(|p| p.name == name) else {
        return json!({
            "status": "error",
            "message": "Publisher is currently not streaming",
        });
    };
    let s = p.stats;
    let mut publisher = json!({
        "bitrate": kbps(p.ingress_bps),
        "buffer": s.ms_rcv_buf,
        "dropped_pkts": s.pkt_rcv_drop,
        "latency": s.ms_rcv_tsbpd_delay,
        "rtt": rtt_ms(s),
        "uptime": p.uptime_s,
    });
    if let Some(g) = srtla_group(shards, p.peer) {
        publisher["peers"] = peers(g);
    }
    json!({ "status": "ok", "publisher": publisher })
}

/// The SRTLA group whose merged connection comes from `peer`, if any.
fn srtla_group(shards: &[ShardSnapshot], peer: SocketAddr) -> Option<&SrtlaGroupSnapshot> {
    shards
        .iter()
        .flat_map(|s| &s.srtla_groups)
        .find(|g| g.upstream == Some(peer))
}

/// A group's links, OpenIRL's `peers`: `share` is the link's part of the group's SRT packets
/// (0 to 1), `last_seen_ms` how long ago it last sent anything.
fn peers(g: &SrtlaGroupSnapshot) -> Value {
    let total: u64 = g.links.iter().map(|l| l.packets).sum();
    let list: Vec<Value> = g
        .links
        .iter()
        .map(|l| {
            let share = if total == 0 {
                0.0
            } else {
                (l.packets as f64 / total as f64 * 1000.0).round() / 1000.0
            };
            json!({
                "address": l.addr.to_string(),
                "packets": l.packets,
                "bytes": l.bytes,
                "last_seen_ms": l.idle.as_millis() as u64,
                "uptime": l.age.as_secs(),
                "share": share,
            })
        })
        .collect();
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::telemetry::{ConnectionSnapshot, StreamSnapshot};

    fn shards() -> Vec<ShardSnapshot> {
        let stats = Stats {
            pkt_recv: 1000,
            byte_recv: 1_316_000,
            pkt_rcv_loss: 4,
            pkt_rcv_drop: 2,
            ms_rtt: 12.3456,
            ms_rcv_buf: 118,
            ms_rcv_tsbpd_delay: 120,
            ..Stats::default()
        };
        let conn = |id, role, stream: &str| ConnectionSnapshot {
            id,
            shard: 1,
            peer: "127.0.0.1:5000".parse().unwrap(),
            role,
            stream: Some(stream.to_string()),
            stats,
            age: Duration::from_secs(42),
        };
        let mut live = StreamSnapshot {
            name: "live/cam1".into(),
            shard: 1,
            publisher: Some(7),
            ..StreamSnapshot::default()
        };
        live.traffic.ingress_bps = 4_567_890;
        vec![
            ShardSnapshot::default(),
            ShardSnapshot {
                shard: 1,
                connections: vec![
                    conn(7, ConnRole::Publish, "live/cam1"),
                    conn(8, ConnRole::Request, "live/cam1"),
                    // Displaced, not closed yet: not the stream's publisher.
                    conn(9, ConnRole::Publish, "live/cam1"),
                ],
                streams: vec![live],
                ..ShardSnapshot::default()
            },
        ]
    }

    // NOALBS's parsers (`src/stream_servers/{sls,belabox,openirl}.rs`) are applied to a live
    // relay's answers in `tests/operator.rs`; here the values, compared as JSON so an integer
    // sent as a float or a missing field fails too.

    #[test]
    fn every_live_publisher_in_the_sls_shape_with_belabox_dropped_pkts() {
        let v = publishers(&shards());
        let want = json!({
            "status": "ok",
            "publishers": {
                "live/cam1": {
                    "bitrate": 4567,
                    "bytesRcvDrop": 2 * 1316,
                    "bytesRcvLoss": 4 * 1316,
                    "mbpsBandwidth": 4.568,
                    "mbpsRecvRate": 4.568,
                    "msRcvBuf": 118,
                    "pktRcvDrop": 2,
                    "pktRcvLoss": 4,
                    "rtt": 12.346,
                    "uptime": 42,
                    "dropped_pkts": 2,
                }
            }
        });
        assert_eq!(
            v, want,
            "one entry: the displaced publisher is not the stream's"
        );
        let empty = publishers(&[ShardSnapshot::default()]);
        assert_eq!(empty, json!({"status": "ok", "publishers": {}}));
    }

    #[test]
    fn one_publisher_in_the_openirl_shape_and_offline_has_no_publisher() {
        let v = publisher(&shards(), "live/cam1");
        let want = json!({
            "status": "ok",
            "publisher": {
                "bitrate": 4567,
                "buffer": 118,
                "dropped_pkts": 2,
                "latency": 120,
                "rtt": 12.346,
                "uptime": 42,
            }
        });
        assert_eq!(v, want);
        assert!(
            v["publisher"].get("peers").is_none(),
            "not via SRTLA: no peers"
        );
        let off = publisher(&shards(), "live/nobody");
        assert_eq!(
            off,
            json!({"status": "error", "message": "Publisher is currently not streaming"})
        );
    }

    /// A publisher whose connection comes from an SRTLA group's socket lists the group's
    /// links; another group's links never show.
    #[test]
    fn a_publisher_via_srtla_lists_its_links_as_openirl_peers() {
        use crate::telemetry::SrtlaLinkSnapshot;
        let link = |addr: &str, packets, idle_ms| SrtlaLinkSnapshot {
            addr: addr.parse().unwrap(),
            packets,
            bytes: packets * 1332,
            age: Duration::from_secs(40),
            idle: Duration::from_millis(idle_ms),
        };
        let mut s = shards();
        s[0].srtla_groups = vec![
            SrtlaGroupSnapshot {
                upstream: Some("127.0.0.1:40001".parse().unwrap()),
                age: Duration::from_secs(41),
                links: vec![link("192.0.2.9:1000", 5, 1)],
            },
            SrtlaGroupSnapshot {
                upstream: Some("127.0.0.1:5000".parse().unwrap()),
                age: Duration::from_secs(41),
                links: vec![
                    link("198.51.100.1:4001", 600, 3),
                    link("[2001:db8::2]:4002", 300, 20),
                    link("203.0.113.3:4003", 100, 2500),
                ],
            },
        ];
        let v = publisher(&s, "live/cam1");
        assert_eq!(
            v["publisher"]["peers"],
            json!([
                {"address": "198.51.100.1:4001", "packets": 600, "bytes": 799_200,
                 "last_seen_ms": 3, "uptime": 40, "share": 0.6},
                {"address": "[2001:db8::2]:4002", "packets": 300, "bytes": 399_600,
                 "last_seen_ms": 20, "uptime": 40, "share": 0.3},
                {"address": "203.0.113.3:4003", "packets": 100, "bytes": 133_200,
                 "last_seen_ms": 2500, "uptime": 40, "share": 0.1},
            ])
        );
        assert_eq!(v["publisher"]["bitrate"], 4567, "the rest as before");
    }
}
