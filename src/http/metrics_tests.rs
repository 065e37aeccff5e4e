//! Exposition tests: structure (HELP and TYPE before samples, one family per name), escaping,
//! histogram buckets, and the dashboard names.

use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::telemetry::{ConnectionSnapshot, StreamSnapshot, StreamTraffic};

fn snapshot() -> Vec<ShardSnapshot> {
    let stats = Stats {
        pkt_sent: 10,
        pkt_recv: 100,
        byte_recv: 131_600,
        pkt_rcv_loss: 2,
        pkt_sent_ctrl: 7,
        byte_sent_ctrl: 300,
        pkt_retrans: 3,
        pkt_sent_nak: 4,
        pkt_rcv_drop: 5,
        ms_rtt: 12.5,
        ms_rtt_var: 1.25,
        ms_rcv_buf: 120,
        ..Stats::default()
    };
    let mut s = ShardSnapshot {
        shard: 1,
        connections: vec![ConnectionSnapshot {
            id: 42,
            shard: 1,
            peer: "127.0.0.1:5000".parse().unwrap(),
            role: ConnRole::Publish,
            stream: Some("we\"ird\\name\nx".into()),
            stats,
            age: Duration::from_millis(1500),
        }],
        streams: vec![StreamSnapshot {
            name: "live/cam1".into(),
            shard: 1,
            publisher: Some(42),
            subscribers: 3,
            http_ts_players: 0,
            hls_players: 0,
            traffic: StreamTraffic {
                ingress_bps: 4_000_000,
                ..StreamTraffic::default()
            },
            ..StreamSnapshot::default()
        }],
        ..ShardSnapshot::default()
    };
    s.counters.busy_ns = 2_500_000_000;
    s.endpoint.accepted = 9;
    s.endpoint.rejections.insert(1403, 2);
    vec![s]
}

fn render_default() -> String {
    let mut h = HistogramSet::new();
    for ms in [1, 2, 3, 40, 2000] {
        h.record_transit(Duration::from_millis(ms));
    }
    h.record_lag(3);
    render(&snapshot(), &AccessCounters::default(), &h)
}

/// The value of the single line starting with `prefix` (name and labels).
fn value(text: &str, prefix: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(lines.len(), 1, "{prefix}: {lines:?}");
    lines[0].rsplit(' ').next().unwrap().to_string()
}

#[test]
fn dashboard_names_and_values() {
    let t = render_default();
    assert_eq!(value(&t, "srt_connections_total "), "9");
    assert_eq!(value(&t, "srt_connections_current{mode=\"publish\"}"), "1");
    assert_eq!(value(&t, "srt_connections_current{mode=\"request\"}"), "0");
    assert_eq!(
        value(&t, "srt_connections_current{mode=\"handshake\"}"),
        "0"
    );
    assert_eq!(
        value(&t, "srt_connection_data_packets_recv{id=\"42\"}"),
        "100"
    );
    assert_eq!(
        value(&t, "srt_connection_data_packets_lost{id=\"42\"}"),
        "2"
    );
    assert_eq!(
        value(&t, "srt_connection_data_bytes_lost{id=\"42\"}"),
        "2632"
    );
    assert_eq!(
        value(&t, "srt_connection_ctrl_packets_sent{id=\"42\"}"),
        "7"
    );
    assert_eq!(
        value(&t, "srt_connection_ctrl_bytes_sent{id=\"42\"}"),
        "300"
    );
    assert_eq!(
        value(&t, "srt_connection_ctrl_packets_lost{id=\"42\"}"),
        "0"
    );
    assert_eq!(value(&t, "srt_connection_rtt{id=\"42\"}"), "12500");
    assert_eq!(value(&t, "srt_connection_rtt_variance{id=\"42\"}"), "1250");
    assert_eq!(
        value(&t, "srt_connection_packets_retransmitted_total{id=\"42\"}"),
        "3"
    );
    assert_eq!(value(&t, "srt_connection_naks_sent_total{id=\"42\"}"), "4");
    assert_eq!(
        value(
            &t,
            "srt_connection_packets_dropped_too_late_total{id=\"42\",side=\"recv\"}"
        ),
        "5"
    );
    assert_eq!(
        value(&t, "srt_connection_recv_buffer_milliseconds{id=\"42\"}"),
        "120"
    );
    assert_eq!(
        value(&t, "srt_shard_busy_seconds_total{shard=\"1\"}"),
        "2.5"
    );
    assert_eq!(
        value(&t, "srt_stream_subscribers{stream=\"live/cam1\"}"),
        "3"
    );
    assert_eq!(
        value(
            &t,
            "srt_rejections_total{code=\"1403\",reason=\"SRT_REJX_FORBIDDEN\"}"
        ),
        "2"
    );
    assert_eq!(
        value(
            &t,
            "srt_access_rejections_total{reason=\"missing\",code=\"1401\"}"
        ),
        "0"
    );
}

#[test]
fn every_family_has_help_and_type_before_its_samples_and_appears_once() {
    let t = render_default();
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut helped = HashSet::new();
    let mut seen_families = HashSet::new();
    let mut current: Option<(String, String)> = None;
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(helped.insert(name), "HELP twice: {line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let (name, kind) = (it.next().unwrap(), it.next().unwrap());
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(
                seen_families.insert(name.to_string()),
                "family twice: {name}"
            );
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            current = Some((name.to_string(), kind.to_string()));
            typed.push(current.clone().unwrap());
        } else {
            let (family, kind) = current.as_ref().expect("a sample before any TYPE");
            let name = line.split(['{', ' ']).next().unwrap();
            let ok = if kind == "histogram" {
                [
                    format!("{family}_bucket"),
                    format!("{family}_sum"),
                    format!("{family}_count"),
                ]
                .contains(&name.to_string())
            } else {
                name == family
            };
            assert!(ok, "sample {name} outside its family {family}");
        }
    }
    assert!(typed.len() > 40, "{}", typed.len());
}

#[test]
fn label_values_are_escaped() {
    let t = render_default();
    assert!(
        t.contains(r#"stream="we\"ird\\name\nx""#),
        "{}",
        t.lines()
            .find(|l| l.starts_with("srt_connection_info"))
            .unwrap()
    );
    assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    // No raw newline sneaks into a sample line.
    assert!(
        t.lines()
            .all(|l| l.starts_with('#') || l.split(' ').count() >= 2)
    );
}

#[test]
fn histograms_have_cumulative_buckets_sum_and_count() {
    let t = render_default();
    let buckets: Vec<(String, u64)> = t
        .lines()
        .filter(|l| l.starts_with("srt_relay_transit_seconds_bucket"))
        .map(|l| {
            let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
            (
                le.to_string(),
                l.rsplit(' ').next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(buckets.len(), SECONDS_BUCKETS.len() + 1);
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    let get = |le: &str| buckets.iter().find(|(l, _)| l == le).unwrap().1;
    assert_eq!(get("0.001"), 1, "1 ms");
    assert_eq!(get("0.005"), 3, "1, 2, 3 ms");
    assert_eq!(get("0.05"), 4, "+40 ms");
    assert_eq!(get("1"), 4);
    assert_eq!(get("2.5"), 5, "+2 s");
    assert_eq!(get("+Inf"), 5);
    assert_eq!(value(&t, "srt_relay_transit_seconds_count "), "5");
    let sum: f64 = value(&t, "srt_relay_transit_seconds_sum ").parse().unwrap();
    assert!((sum - 2.046).abs() < 0.03, "{sum}");
    assert_eq!(value(&t, "srt_subscriber_lag_packets_count "), "1");
    assert_eq!(
        value(&t, "srt_subscriber_lag_packets_bucket{le=\"1\"}"),
        "0"
    );
    assert_eq!(
        value(&t, "srt_subscriber_lag_packets_bucket{le=\"4\"}"),
        "1"
    );
    assert_eq!(value(&t, "srt_rtt_seconds_count{role=\"publish\"}"), "0");
}

#[test]
fn a_real_parser_reads_the_exposition() {
    let t = render_default();
    let scrape = prometheus_parse::Scrape::parse(t.lines().map(|l| Ok(l.to_string()))).unwrap();
    let rtt = scrape
        .samples
        .iter()
        .find(|s| s.metric == "srt_connection_rtt")
        .unwrap();
    assert_eq!(rtt.labels.get("id"), Some("42"));
    assert!(matches!(rtt.value, prometheus_parse::Value::Gauge(v) if v == 12500.0));
    let transit = scrape
        .samples
        .iter()
        .find(|s| s.metric == "srt_relay_transit_seconds")
        .unwrap();
    match &transit.value {
        prometheus_parse::Value::Histogram(b) => assert_eq!(b.len(), SECONDS_BUCKETS.len() + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn floats_render_in_prometheus_syntax() {
    assert_eq!(format_float(f64::NAN), "NaN");
    assert_eq!(format_float(f64::INFINITY), "+Inf");
    assert_eq!(format_float(0.000_001), "0.000001");
    assert_eq!(format_float(3.0), "3");
}

#[test]
fn admission_refusals_and_silent_takeovers_are_exposed() {
    let mut shards = snapshot();
    let mut other = ShardSnapshot::default();
    shards[0].counters.refused_waiting_limit = 2;
    other.counters.refused_waiting_limit = 3;
    other.counters.refused_stream_limit = 1;
    other.counters.refused_publish_without_resource = 4;
    other.counters.silent_takeovers = 1;
    other.endpoint.stream_id_too_long = 6;
    shards.push(other);
    let t = render(&shards, &AccessCounters::default(), &HistogramSet::new());
    let refusals = |r: &str| {
        value(
            &t,
            &format!("srt_admission_refusals_total{{reason=\"{r}\"}}"),
        )
    };
    assert_eq!(refusals("waiting_limit"), "5");
    assert_eq!(refusals("stream_limit"), "1");
    assert_eq!(refusals("publish_without_resource"), "4");
    assert_eq!(refusals("stream_id_too_long"), "6");
    assert_eq!(value(&t, "srt_publisher_silent_takeovers_total "), "1");
}

/// libsrt's own reasons (API codes 10, 11) are labelled as the caller sees them on the wire
/// (1010, 1011), next to the server codes (1403), never as a bare "10".
#[test]
fn reject_codes_are_labelled_as_on_the_wire() {
    let mut shards = snapshot();
    shards[0].endpoint.rejections.insert(10, 3);
    shards[0].endpoint.rejections.insert(11, 4);
    let t = render(&shards, &AccessCounters::default(), &HistogramSet::new());
    assert_eq!(
        value(
            &t,
            "srt_rejections_total{code=\"1010\",reason=\"SRT_REJ_BADSECRET\"}"
        ),
        "3"
    );
    assert_eq!(
        value(
            &t,
            "srt_rejections_total{code=\"1011\",reason=\"SRT_REJ_UNSECURE\"}"
        ),
        "4"
    );
    assert_eq!(
        value(
            &t,
            "srt_rejections_total{code=\"1403\",reason=\"SRT_REJX_FORBIDDEN\"}"
        ),
        "2"
    );
    assert!(!t.contains("code=\"10\""), "{t}");
    assert!(!t.contains("code=\"11\""), "{t}");
}

#[test]
fn srtla_counters_are_exposed_with_their_labels() {
    let mut shards = snapshot();
    let mut s0 = ShardSnapshot::default();
    let t = &mut s0.counters.srtla;
    (t.groups, t.links) = (2, 5);
    t.registrations = [3, 40, 1, 0, 6, 2, 0, 7];
    t.groups_closed = [1, 0, 0, 0];
    t.drops = [4, 9, 0, 0, 1, 0, 0];
    (t.packets_in, t.packets_out, t.acks) = (1000, 300, 99);
    shards.push(s0);
    let text = render(&shards, &AccessCounters::default(), &HistogramSet::new());
    assert_eq!(value(&text, "srt_srtla_groups "), "2");
    assert_eq!(value(&text, "srt_srtla_links "), "5");
    let reg = |o: &str| {
        value(
            &text,
            &format!("srt_srtla_registrations_total{{outcome=\"{o}\"}}"),
        )
    };
    assert_eq!(reg("group_refused_limit"), "40");
    assert_eq!(reg("link_refused_limit"), "2");
    assert_eq!(reg("unknown_group"), "7");
    let drop = |r: &str| value(&text, &format!("srt_srtla_drops_total{{reason=\"{r}\"}}"));
    assert_eq!(drop("unknown_source"), "9");
    assert_eq!(drop("upstream_send_failed"), "1");
    assert_eq!(
        value(&text, "srt_srtla_groups_closed_total{reason=\"expired\"}"),
        "1"
    );
    assert_eq!(
        value(&text, "srt_srtla_packets_total{direction=\"in\"}"),
        "1000"
    );
    assert_eq!(value(&text, "srt_srtla_acks_total "), "99");
}
