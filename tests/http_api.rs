//! The operator API over real HTTP on 127.0.0.1, against a fake `RelayView` whose snapshots the
//! tests change between requests. The exposition is read with a real Prometheus text-format
//! parser (`prometheus-parse`). The engine's own end-to-end tests (real shards, libsrt callers)
//! live with the engine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;
use srtrelay::access::{AccessConfig, KeyedIds, Mode, Pattern, Secret, SessionStore, TokenRule};
use srtrelay::http::{self, Clock, HttpHandle};
use srtrelay::srt::connection::Stats;
use srtrelay::srt::handshake::RejectReason;
use srtrelay::telemetry::{
    ConnRole, ConnectionSnapshot, HealthState, RelayView, ShardSnapshot, StreamSnapshot,
};

const STUDIO: &str = "studio-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";

/// A relay whose state the test writes.
#[derive(Default)]
struct FakeView {
    shards: Mutex<Vec<ShardSnapshot>>,
    closed: Mutex<Vec<u32>>,
    health: Mutex<HealthState>,
}

impl RelayView for FakeView {
    fn snapshot(&self, reset_histograms: bool) -> Vec<ShardSnapshot> {
        let mut shards = self.shards.lock().unwrap();
        let out = shards.clone();
        if reset_histograms {
            for s in shards.iter_mut() {
                s.histograms.reset();
            }
        }
        out
    }

    fn close_connection(&self, id: u32) -> bool {
        let mut shards = self.shards.lock().unwrap();
        for s in shards.iter_mut() {
            if let Some(i) = s.connections.iter().position(|c| c.id == id) {
                s.connections.remove(i);
                self.closed.lock().unwrap().push(id);
                return true;
            }
        }
        false
    }

    fn health(&self) -> HealthState {
        *self.health.lock().unwrap()
    }
}

struct Api {
    handle: HttpHandle,
    view: Arc<FakeView>,
    store: Arc<SessionStore>,
    now: Arc<Mutex<Instant>>,
}

struct Response {
    status: u16,
    content_type: String,
    body: String,
}

impl Api {
    fn start() -> Api {
        let view = Arc::new(FakeView::default());
        *view.shards.lock().unwrap() = two_shards();
        let store = Arc::new(SessionStore::new(
            access_config(),
            Box::new(KeyedIds::new([9; 16])),
        ));
        let now = Arc::new(Mutex::new(start_instant()));
        let clock_now = now.clone();
        let clock: Clock = Arc::new(move || *clock_now.lock().unwrap());
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let handle = http::serve(addr, view.clone(), store.clone(), clock).expect("serve");
        assert_ne!(handle.local_addr().port(), 0);
        Api {
            handle,
            view,
            store,
            now,
        }
    }

    fn advance(&self, d: Duration) {
        *self.now.lock().unwrap() += d;
    }

    fn now(&self) -> Instant {
        *self.now.lock().unwrap()
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    fn json(&self, method: &str, path: &str) -> (u16, Json) {
        let r = self.request(method, path, &[], b"");
        assert_eq!(r.content_type, "application/json", "{method} {path}");
        (r.status, serde_json::from_str(&r.body).expect("JSON body"))
    }

    fn post_session(&self, stream: &str, auth: Option<&str>, body: &str) -> (u16, Json) {
        let header = auth.map(|a| format!("Bearer {a}"));
        let headers: Vec<(&str, &str)> = header
            .as_deref()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default();
        let path = format!("/v1/streams/{stream}/sessions");
        let r = self.request("POST", &path, &headers, body.as_bytes());
        assert_eq!(r.content_type, "application/json");
        (r.status, serde_json::from_str(&r.body).expect("JSON body"))
    }

    /// One HTTP/1.1 exchange on a fresh connection, read to the end.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut s = TcpStream::connect(self.handle.local_addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response");
        parse_response(&raw)
    }

    fn scrape(&self) -> Scrape {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        Scrape::parse(r.body.lines().map(|l| Ok(l.to_string()))).expect("valid exposition")
    }
}

fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8(raw.to_vec()).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut content_type = String::new();
    let mut chunked = false;
    for l in lines {
        let (k, v) = l.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.trim().to_string(),
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = s.split_once("\r\n").expect("chunk size");
        let n = usize::from_str_radix(size.trim(), 16).expect("hex size");
        if n == 0 {
            return out;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
}

#[allow(clippy::disallowed_methods)] // a base for the injected clock; only offsets matter
fn start_instant() -> Instant {
    Instant::now()
}

fn access_config() -> AccessConfig {
    let p = |v: &[&str]| v.iter().map(|s| Pattern::new(s).unwrap()).collect();
    AccessConfig {
        open_streams: p(&["public/*"]),
        tokens: vec![
            TokenRule {
                name: "studio".into(),
                token: Secret::new(STUDIO),
                publish: p(&["live/*"]),
                request: p(&["*"]),
            },
            TokenRule {
                name: "viewer".into(),
                token: Secret::new(VIEWER),
                publish: vec![],
                request: p(&["live/*"]),
            },
        ],
        ..AccessConfig::default()
    }
}

fn conn(id: u32, shard: usize, role: ConnRole, stream: &str) -> ConnectionSnapshot {
    ConnectionSnapshot {
        id,
        shard,
        peer: format!("127.0.0.1:{}", 40_000 + id).parse().unwrap(),
        role,
        stream: Some(stream.to_string()),
        stats: Stats {
            ms_rtt: 20.0,
            ms_rtt_var: 2.0,
            ..Stats::default()
        },
        age: Duration::from_secs(3),
    }
}

/// Publisher 1 of `live/cam1` on shard 0 with subscriber 2 there; subscriber 3 on shard 1 on a
/// replica; a handshake in progress (4) on shard 1.
fn two_shards() -> Vec<ShardSnapshot> {
    let stream = |shard: usize, replica: bool| StreamSnapshot {
        name: "live/cam1".into(),
        shard,
        publisher: (!replica).then_some(1),
        subscribers: 1,
        ingress_bps: if replica { 0 } else { 3_000_000 },
        replica,
        ..StreamSnapshot::default()
    };
    let mut s0 = ShardSnapshot {
        shard: 0,
        connections: vec![
            conn(1, 0, ConnRole::Publish, "live/cam1"),
            conn(2, 0, ConnRole::Request, "live/cam1"),
        ],
        streams: vec![stream(0, false)],
        ..ShardSnapshot::default()
    };
    s0.endpoint.accepted = 2;
    let mut s1 = ShardSnapshot {
        shard: 1,
        connections: vec![
            conn(3, 1, ConnRole::Request, "live/cam1"),
            ConnectionSnapshot {
                stream: None,
                ..conn(4, 1, ConnRole::Handshake, "")
            },
        ],
        streams: vec![stream(1, true)],
        ..ShardSnapshot::default()
    };
    s1.endpoint.accepted = 1;
    vec![s0, s1]
}

/// Moves traffic through the fake: the publisher receives, subscribers send, the stream
/// forwards, shards count, histograms record.
fn traffic(view: &FakeView, packets: u64) {
    let mut shards = view.shards.lock().unwrap();
    for s in shards.iter_mut() {
        s.counters.datagrams_in += packets;
        s.counters.datagrams_out += packets;
        s.counters.recv_batches += packets / 8;
        s.counters.send_batches += packets / 8;
        s.counters.busy_ns += packets * 1000;
        for c in s.connections.iter_mut() {
            let st = &mut c.stats;
            match c.role {
                ConnRole::Publish => {
                    st.pkt_recv += packets;
                    st.byte_recv += packets * 1316;
                    st.pkt_rcv_loss += 1;
                    st.pkt_sent_ctrl += packets / 10;
                    st.byte_sent_ctrl += packets / 10 * 44;
                    st.pkt_sent_nak += 1;
                }
                ConnRole::Request => {
                    st.pkt_sent += packets;
                    st.byte_sent += packets * 1316;
                    st.pkt_retrans += 1;
                    st.pkt_recv_ctrl += packets / 10;
                    st.pkt_recv_nak += 1;
                }
                ConnRole::Handshake => {}
            }
            st.ms_rtt += 1.0;
        }
        for st in s.streams.iter_mut() {
            st.ingress_packets += packets;
            st.packets_forwarded += packets;
            st.packets_skipped += 1;
            if st.replica {
                st.handoffs_in += packets;
            } else {
                st.handoffs_out += packets;
            }
        }
        for i in 0..packets {
            s.histograms.record_transit(Duration::from_micros(200 + i));
            s.histograms.record_lag(i % 5);
        }
        s.histograms.record_rtt(true, Duration::from_millis(20));
        s.histograms.record_rtt(false, Duration::from_millis(40));
        s.histograms.record_handshake(Duration::from_millis(3));
        s.endpoint.rejections.insert(1402, packets / 100);
    }
}

fn samples<'a>(scrape: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    scrape.samples.iter().filter(|s| s.metric == name).collect()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        other => panic!("not a number: {other:?}"),
    }
}

/// The value of `name` whose labels include all of `labels`.
fn metric(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples(scrape, name)
        .into_iter()
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    number(&found[0].value)
}

fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let s = samples(scrape, name)
        .into_iter()
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no histogram {name} {labels:?}"));
    match &s.value {
        Value::Histogram(buckets) => {
            assert!(
                buckets.windows(2).all(|w| w[0].count <= w[1].count),
                "{buckets:?}"
            );
            let inf = buckets
                .iter()
                .find(|b| b.less_than.is_infinite())
                .expect("+Inf");
            inf.count
        }
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

#[test]
fn scrape_has_the_required_metrics_and_values_move_with_traffic() {
    let api = Api::start();
    let before = api.scrape();
    traffic(&api.view, 500);
    let after = api.scrape();

    assert_eq!(metric(&after, "srt_connections_total", &[]), 3.0);
    for (mode, n) in [("publish", 1.0), ("request", 2.0), ("handshake", 1.0)] {
        assert_eq!(
            metric(&after, "srt_connections_current", &[("mode", mode)]),
            n
        );
    }
    // Every dashboard name, for every connection.
    for dir in ["ctrl", "data"] {
        for unit in ["packets", "bytes"] {
            for what in ["sent", "recv", "lost"] {
                let name = format!("srt_connection_{dir}_{unit}_{what}");
                assert_eq!(samples(&after, &name).len(), 4, "{name}");
            }
        }
    }
    let id1 = [("id", "1")];
    let id2 = [("id", "2")];
    let moved = |name: &str, labels: &[(&str, &str)]| {
        let (a, b) = (metric(&before, name, labels), metric(&after, name, labels));
        assert!(b > a, "{name}{labels:?} did not move: {a} -> {b}");
    };
    moved("srt_connection_data_packets_recv", &id1);
    moved("srt_connection_data_bytes_recv", &id1);
    moved("srt_connection_data_packets_lost", &id1);
    moved("srt_connection_data_bytes_lost", &id1);
    moved("srt_connection_ctrl_packets_sent", &id1);
    moved("srt_connection_ctrl_bytes_sent", &id1);
    moved("srt_connection_naks_sent_total", &id1);
    moved("srt_connection_data_packets_sent", &id2);
    moved("srt_connection_data_bytes_sent", &id2);
    moved("srt_connection_ctrl_packets_recv", &id2);
    moved("srt_connection_packets_retransmitted_total", &id2);
    moved("srt_connection_naks_received_total", &id2);
    moved("srt_connection_rtt", &id2);
    assert_eq!(
        metric(&after, "srt_connection_rtt", &id1),
        21_000.0,
        "microseconds"
    );
    assert_eq!(metric(&after, "srt_connection_rtt_variance", &id1), 2_000.0);
    let info = [
        ("id", "3"),
        ("role", "request"),
        ("stream", "live/cam1"),
        ("shard", "1"),
    ];
    assert_eq!(metric(&after, "srt_connection_info", &info), 1.0);
    assert_eq!(
        samples(&after, "srt_connection_recv_buffer_milliseconds").len(),
        4
    );
    assert_eq!(
        samples(&after, "srt_connection_packets_dropped_too_late_total").len(),
        8
    );

    // Per stream, merged across the publisher's shard and the replica.
    let cam = [("stream", "live/cam1")];
    assert_eq!(metric(&after, "srt_stream_subscribers", &cam), 2.0);
    assert_eq!(
        metric(&after, "srt_stream_ingress_bits_per_second", &cam),
        3e6
    );
    assert_eq!(
        metric(&after, "srt_stream_ingress_packets_total", &cam),
        500.0
    );
    assert_eq!(
        metric(&after, "srt_stream_packets_forwarded_total", &cam),
        1000.0
    );
    moved("srt_stream_packets_skipped_total", &cam);
    let out = [("stream", "live/cam1"), ("direction", "out")];
    let inn = [("stream", "live/cam1"), ("direction", "in")];
    assert_eq!(metric(&after, "srt_stream_handoffs_total", &out), 500.0);
    assert_eq!(metric(&after, "srt_stream_handoffs_total", &inn), 500.0);

    // Per shard.
    for shard in ["0", "1"] {
        let l = [("shard", shard)];
        moved("srt_shard_datagrams_received_total", &l);
        moved("srt_shard_datagrams_sent_total", &l);
        moved("srt_shard_recv_batches_total", &l);
        moved("srt_shard_send_batches_total", &l);
        moved("srt_shard_busy_seconds_total", &l);
    }
    // Rejections by reason: 1402 overload, summed over shards.
    let overload = [("code", "1402"), ("reason", "SRT_REJX_OVERLOAD")];
    assert_eq!(metric(&after, "srt_rejections_total", &overload), 10.0);

    // Histograms: empty before, non-zero with traffic.
    assert_eq!(
        histogram_count(&before, "srt_relay_transit_seconds", &[]),
        0.0
    );
    assert_eq!(
        histogram_count(&after, "srt_relay_transit_seconds", &[]),
        1000.0
    );
    assert_eq!(
        histogram_count(&after, "srt_subscriber_lag_packets", &[]),
        1000.0
    );
    assert_eq!(
        histogram_count(&after, "srt_rtt_seconds", &[("role", "publish")]),
        2.0
    );
    assert_eq!(
        histogram_count(&after, "srt_rtt_seconds", &[("role", "request")]),
        2.0
    );
    assert_eq!(
        histogram_count(&after, "srt_handshake_duration_seconds", &[]),
        2.0
    );

    // /v1/metrics is the same exposition.
    let v1 = api.get("/v1/metrics");
    assert_eq!(v1.status, 200);
    assert!(v1.body.contains("srt_connection_rtt{id=\"1\"}"));
}

#[test]
fn prometheus_histograms_stay_cumulative_across_interval_resets() {
    let api = Api::start();
    traffic(&api.view, 100);
    let (status, h) = api.json("GET", "/v1/histograms");
    assert_eq!(status, 200);
    let transit = &h["histograms"]["transit_us"];
    assert_eq!(transit["count"], 200);
    for key in ["p50", "p90", "p99", "p99.9", "max"] {
        assert!(transit[key].as_u64().unwrap() >= 200, "{key}: {transit}");
    }
    assert!(transit["max"].as_u64().unwrap() <= 300, "{transit}");
    assert_eq!(h["histograms"]["rtt_publish_us"]["count"], 2);
    assert_eq!(h["histograms"]["lag_packets"]["count"], 200);
    assert_eq!(h["histograms"]["handshake_us"]["count"], 2);

    // reset=true answers for the interval, then starts a new one.
    let (_, h) = api.json("GET", "/v1/histograms?reset=true");
    assert_eq!(h["histograms"]["transit_us"]["count"], 200);
    assert_eq!(h["reset"], true);
    api.advance(Duration::from_secs(30));
    let (_, h) = api.json("GET", "/v1/histograms");
    assert_eq!(h["histograms"]["transit_us"]["count"], 0);
    assert_eq!(h["interval_seconds"].as_f64(), Some(30.0));
    traffic(&api.view, 10);
    let (_, h) = api.json("GET", "/v1/histograms");
    assert_eq!(h["histograms"]["transit_us"]["count"], 20);

    // Prometheus saw everything, reset or not.
    let scrape = api.scrape();
    assert_eq!(
        histogram_count(&scrape, "srt_relay_transit_seconds", &[]),
        220.0
    );
    let (status, e) = api.json("GET", "/v1/histograms?reset=perhaps");
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("reset"), "{e}");
}

#[test]
fn streams_and_connections_are_inspectable() {
    let api = Api::start();
    traffic(&api.view, 50);
    let (status, v) = api.json("GET", "/v1/streams");
    assert_eq!(status, 200);
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "merged by name: {v}");
    let s = &streams[0];
    assert_eq!(s["name"], "live/cam1");
    assert_eq!(s["publisher"]["id"], 1);
    assert_eq!(s["publisher"]["peer"], "127.0.0.1:40001");
    assert_eq!(s["subscribers"], 2);
    assert_eq!(s["ingress_bps"], 3_000_000);
    assert_eq!(s["shards"], serde_json::json!([0, 1]));
    assert_eq!(s["stats"]["packets_forwarded"], 100);

    for path in ["/v1/streams/live%2Fcam1", "/v1/streams/live/cam1"] {
        let (status, d) = api.json("GET", path);
        assert_eq!(status, 200, "{path}");
        assert_eq!(d["publisher"]["stats"]["pkt_recv"], 50, "{d}");
        let subs: Vec<u64> = d["subscriber_connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(subs, vec![2, 3]);
    }
    let (status, e) = api.json("GET", "/v1/streams/nope");
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("nope"), "{e}");

    let (status, v) = api.json("GET", "/v1/connections");
    assert_eq!(status, 200);
    let list = v["connections"].as_array().unwrap();
    let ids: Vec<u64> = list.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4]);
    assert_eq!(list[1]["role"], "request");
    assert_eq!(list[1]["stats"]["pkt_sent"], 50);
    assert_eq!(list[3]["role"], "handshake");
    assert_eq!(list[3]["stream"], Json::Null);
    let (status, c) = api.json("GET", "/v1/connections/3");
    assert_eq!((status, c["shard"].as_u64()), (200, Some(1)));
}

#[test]
fn delete_closes_a_connection_through_the_view() {
    let api = Api::start();
    let (status, v) = api.json("DELETE", "/v1/connections/2");
    assert_eq!(status, 200);
    assert_eq!(v["closed"], 2);
    assert_eq!(*api.view.closed.lock().unwrap(), vec![2]);
    let (status, e) = api.json("DELETE", "/v1/connections/2");
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains('2'));
    let (status, _) = api.json("DELETE", "/v1/connections/abc");
    assert_eq!(status, 400);
    let (status, _) = api.json("POST", "/v1/connections/1");
    assert_eq!(status, 405);
    let scrape = api.scrape();
    assert_eq!(
        metric(&scrape, "srt_connections_current", &[("mode", "request")]),
        1.0
    );
}

#[test]
fn health_reports_ok_full_and_draining() {
    let api = Api::start();
    let set = |h: HealthState| *api.view.health.lock().unwrap() = h;
    set(HealthState {
        draining: false,
        connections: 10,
        soft_limit: Some(11),
    });
    let (status, v) = api.json("GET", "/v1/health");
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")));
    set(HealthState {
        draining: false,
        connections: 11,
        soft_limit: Some(11),
    });
    let (status, v) = api.json("GET", "/v1/health");
    assert_eq!((status, v["status"].as_str()), (200, Some("full")));
    assert_eq!(v["connections"], 11);
    set(HealthState {
        draining: true,
        connections: 3,
        soft_limit: None,
    });
    let (status, v) = api.json("GET", "/v1/health");
    assert_eq!((status, v["status"].as_str()), (503, Some("draining")));
}

#[test]
fn session_lifecycle_over_http() {
    let api = Api::start();
    let publish = r#"{"mode":"publish"}"#;
    let (status, s) = api.post_session("live%2Fcam1", Some(STUDIO), publish);
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["resource_id"], "live/cam1");
    assert_eq!(s["mode"], "publish");
    assert_eq!(s["expires_in_seconds"], 300);
    let id = s["session_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        s["streamid"].as_str().unwrap(),
        format!("#!::r=live/cam1,m=publish,s={id}")
    );

    // The handshake side: used once, reuse refused.
    let t = api.now();
    let redeem = |mode, sid: Option<&str>| api.store.redeem("live/cam1", mode, sid, t);
    assert_eq!(redeem(Mode::Publish, Some(&id)), Ok(()));
    assert_eq!(
        redeem(Mode::Publish, Some(&id)),
        Err(RejectReason::Forbidden)
    );
    assert_eq!(redeem(Mode::Publish, None), Err(RejectReason::Unauthorized));
    assert_eq!(api.store.redeem("public/x", Mode::Publish, None, t), Ok(()));

    // Expiry under the injected clock: issued now, presented 5 minutes later.
    let (_, s) = api.post_session("live/cam1", Some(STUDIO), r#"{"mode":"request"}"#);
    let id = s["session_id"].as_str().unwrap().to_string();
    api.advance(Duration::from_secs(300));
    let late = api.now();
    assert_eq!(
        api.store
            .redeem("live/cam1", Mode::Request, Some(&id), late),
        Err(RejectReason::Forbidden)
    );

    let scrape = api.scrape();
    let rej = |reason| {
        metric(
            &scrape,
            "srt_access_rejections_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(rej("reused"), 1.0);
    assert_eq!(rej("missing"), 1.0);
    assert_eq!(rej("expired"), 1.0);
    assert_eq!(
        metric(&scrape, "srt_access_sessions_issued_total", &[]),
        2.0
    );
    assert_eq!(
        metric(&scrape, "srt_access_sessions_redeemed_total", &[]),
        1.0
    );
    assert_eq!(
        metric(&scrape, "srt_access_open_admissions_total", &[]),
        1.0
    );
}

#[test]
fn session_requests_with_bad_credentials_or_bodies_get_json_errors() {
    let api = Api::start();
    let publish = r#"{"mode":"publish"}"#;
    let (status, e) = api.post_session("live/cam1", None, publish);
    assert_eq!(status, 401);
    assert!(e["error"].as_str().unwrap().contains("Bearer"), "{e}");
    assert_eq!(e["status"], 401);

    let wrong = "studio-token-0123456789abcdeX";
    let (status, e) = api.post_session("live/cam1", Some(wrong), publish);
    assert_eq!(status, 403);
    assert!(!e.to_string().contains(wrong), "token echoed: {e}");

    let (status, e) = api.post_session("live/cam1", Some(VIEWER), publish);
    assert_eq!(status, 403);
    assert!(e["error"].as_str().unwrap().contains("viewer"), "{e}");
    assert!(!e.to_string().contains(VIEWER), "token echoed: {e}");

    for body in ["", "{}", r#"{"mode":"both"}"#, "not json"] {
        let (status, e) = api.post_session("live/cam1", Some(STUDIO), body);
        assert_eq!(status, 400, "{body:?}");
        assert!(e["error"].as_str().unwrap().contains("mode"), "{e}");
    }
    let big = format!(r#"{{"mode":"publish","pad":"{}"}}"#, "x".repeat(5000));
    let (status, _) = api.post_session("live/cam1", Some(STUDIO), &big);
    assert_eq!(status, 400);

    // Another scheme is no bearer token.
    let r = api.request(
        "POST",
        "/v1/streams/live/cam1/sessions",
        &[("Authorization", &format!("Basic {STUDIO}"))],
        publish.as_bytes(),
    );
    assert_eq!(r.status, 401);

    let (status, _) = api.json("GET", "/v1/streams/live/cam1/sessions");
    assert_eq!(status, 405);
    let (status, e) = api.json("GET", "/v1/nothing");
    assert_eq!(status, 404);
    assert!(e["error"].as_str().unwrap().contains("/v1/nothing"));

    let scrape = api.scrape();
    let refusals = |r| metric(&scrape, "srt_access_api_refusals_total", &[("reason", r)]);
    assert_eq!(refusals("missing_token"), 2.0);
    assert_eq!(refusals("bad_token"), 1.0);
    assert_eq!(refusals("not_allowed"), 1.0);
}

#[test]
fn the_server_stops_and_frees_its_port() {
    let api = Api::start();
    let addr = api.handle.local_addr();
    assert_eq!(api.get("/v1/health").status, 200);
    api.handle.stop();
    // Nothing answers any more (the connection is refused or closed without a response).
    let answered = TcpStream::connect(addr).ok().and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut buf = [0u8; 1];
        s.read(&mut buf).ok().filter(|n| *n > 0)
    });
    assert_eq!(answered, None);
}
