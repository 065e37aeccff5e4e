//! The harness of `tests/http_api.rs`: a fake `RelayView` the tests write to, the API served on
//! 127.0.0.1:0 with an injected clock, a minimal HTTP/1.1 client, fixtures, and readers for the
//! parsed exposition.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;
use srtrelay::access::{AccessConfig, KeyedIds, Pattern, Secret, SessionStore, TokenRule};
use srtrelay::http::{self, Clock, HttpHandle};
use srtrelay::srt::connection::Stats;
use srtrelay::telemetry::{
    ConnRole, ConnectionSnapshot, HealthState, RelayView, ShardSnapshot, StreamSnapshot,
    StreamTraffic,
};

pub const STUDIO: &str = "studio-token-0123456789abcdef";
pub const VIEWER: &str = "viewer-token-0123456789abcdef";

/// A relay whose state the test writes.
#[derive(Default)]
pub struct FakeView {
    pub shards: Mutex<Vec<ShardSnapshot>>,
    pub closed: Mutex<Vec<u32>>,
    pub health: Mutex<HealthState>,
    /// How long each snapshot blocks, as a slow engine would (zero by default).
    pub snapshot_delay: Mutex<Duration>,
    /// Snapshots blocked in that delay right now.
    pub in_snapshot: AtomicUsize,
    /// Snapshots taken so far.
    pub snapshots: AtomicUsize,
}

impl RelayView for FakeView {
    fn snapshot(&self, reset_histograms: bool) -> Vec<ShardSnapshot> {
        self.snapshots.fetch_add(1, Ordering::SeqCst);
        let delay = *self.snapshot_delay.lock().unwrap();
        if !delay.is_zero() {
            self.in_snapshot.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(delay);
            self.in_snapshot.fetch_sub(1, Ordering::SeqCst);
        }
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

pub struct Api {
    pub handle: HttpHandle,
    pub view: Arc<FakeView>,
    pub store: Arc<SessionStore>,
    pub now: Arc<Mutex<Instant>>,
}

pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Api {
    pub fn start() -> Api {
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

    pub fn advance(&self, d: Duration) {
        *self.now.lock().unwrap() += d;
    }

    pub fn now(&self) -> Instant {
        *self.now.lock().unwrap()
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn json(&self, method: &str, path: &str) -> (u16, Json) {
        let r = self.request(method, path, &[], b"");
        assert_eq!(r.content_type, "application/json", "{method} {path}");
        (r.status, serde_json::from_str(&r.body).expect("JSON body"))
    }

    pub fn post_session(&self, stream: &str, auth: Option<&str>, body: &str) -> (u16, Json) {
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
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
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

    pub fn scrape(&self) -> Scrape {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
        Scrape::parse(r.body.lines().map(|l| Ok(l.to_string()))).expect("valid exposition")
    }
}

pub fn parse_response(raw: &[u8]) -> Response {
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

pub fn dechunk(mut s: &str) -> String {
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
pub fn start_instant() -> Instant {
    Instant::now()
}

pub fn access_config() -> AccessConfig {
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

pub fn conn(id: u32, shard: usize, role: ConnRole, stream: &str) -> ConnectionSnapshot {
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
pub fn two_shards() -> Vec<ShardSnapshot> {
    let stream = |shard: usize, replica: bool| StreamSnapshot {
        name: "live/cam1".into(),
        shard,
        publisher: (!replica).then_some(1),
        subscribers: 1,
        http_ts_players: 0,
        hls_players: 0,
        traffic: StreamTraffic {
            ingress_bps: if replica { 0 } else { 3_000_000 },
            ..StreamTraffic::default()
        },
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
pub fn traffic(view: &FakeView, packets: u64) {
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
            let t = &mut st.traffic;
            t.ingress_packets += packets;
            t.packets_forwarded += packets;
            t.packets_skipped += 1;
            if st.replica {
                t.handoffs_in += packets;
            } else {
                t.handoffs_out += packets;
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

pub fn samples<'a>(scrape: &'a Scrape, name: &str) -> Vec<&'a Sample> {
    scrape.samples.iter().filter(|s| s.metric == name).collect()
}

pub fn number(v: &Value) -> f64 {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => *x,
        other => panic!("not a number: {other:?}"),
    }
}

/// The value of `name` whose labels include all of `labels`.
pub fn metric(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples(scrape, name)
        .into_iter()
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    number(&found[0].value)
}

pub fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
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
