//! The operator API on the real engine with libsrt peers: metrics that move with traffic (parsed
//! by a Prometheus text-format parser), histograms that fill during a stream, and access
//! sessions enforced at the SRT handshake as srt-live-transmit and ffmpeg see them.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use in_process::InProcessRelay;
use support::media::{self, TsSpec, file_len};
use support::recipes::{self, Pace};
use support::srt_url::SrtUrl;

/// The longest a test waits for the relay's metrics to show what it expects.
const SCRAPE_WAIT: Duration = Duration::from_secs(20);
use srtrelay::http::{self, HttpHandle};

struct Relay {
    http: Option<HttpHandle>,
    srt: SocketAddr,
    // Dropped after `http` is stopped (see Drop).
    _engine: InProcessRelay,
}

impl Relay {
    fn start(extra_toml: &str) -> Relay {
        Relay::start_with(extra_toml, http::HttpSettings::default())
    }

    fn start_with(extra_toml: &str, settings: http::HttpSettings) -> Relay {
        let relay = InProcessRelay::start(extra_toml, |_| {});
        let engine = relay.engine();
        let http = http::serve_with(
            "127.0.0.1:0".parse().expect("literal"),
            settings,
            engine.view(),
            engine.sessions().clone(),
            http::system_clock(),
        )
        .expect("API serves");
        Relay {
            srt: relay.addr,
            http: Some(http),
            _engine: relay,
        }
    }

    /// (status, body) of one HTTP/1.1 request.
    fn request(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        let addr = self.http.as_ref().expect("serving").local_addr();
        let mut s = TcpStream::connect(addr).expect("connect to the API");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send request");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read response");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, dechunk(&body))
    }

    /// Scrapes until `ready` holds (a busy machine may take a while to get there); returns
    /// that scrape, or the last one at the deadline so the caller's assertion says what was
    /// missing.
    fn scrape_until(
        &self,
        ready: impl Fn(&prometheus_parse::Scrape) -> bool,
    ) -> prometheus_parse::Scrape {
        let deadline = std::time::Instant::now() + SCRAPE_WAIT;
        loop {
            let s = self.scrape();
            if ready(&s) || std::time::Instant::now() >= deadline {
                return s;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn scrape(&self) -> prometheus_parse::Scrape {
        let (status, body) = self.request("GET", "/metrics", "", "");
        assert_eq!(status, 200);
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
            .expect("valid exposition")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(h) = self.http.take() {
            h.stop();
        }
    }
}

/// The API answers with chunked bodies when it does not know the length.
fn dechunk(body: &str) -> String {
    if !body.contains("\r\n") || body.starts_with('{') || body.starts_with('#') {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_string();
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

fn out(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("operator");
    std::fs::create_dir_all(&dir).expect("scratch");
    let p = dir.join(format!("{name}.ts"));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn metrics_and_histograms_follow_a_live_stream() {
    let relay = Relay::start("[playback]\nenabled = false\n[http]\nenabled = false");
    let file = media::test_ts(TsSpec::seconds(4));
    let sub_out = out("metrics_sub");
    let mut sub = recipes::subscribe_with_srt_live_transmit_no_wait(
        &SrtUrl::caller(relay.srt).with_streamid("#!::r=m,m=request"),
        &sub_out,
    );
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &SrtUrl::caller(relay.srt).with_streamid("#!::r=m,m=publish"),
        Pace::realtime(&file, 4, 1.0),
    );
    let first = relay.scrape_until(|s| {
        value(s, "srt_connections_current", &[("mode", "publish")]) == 1.0
            && value(s, "srt_connections_current", &[("mode", "request")]) == 1.0
            && value(s, "srt_stream_packets_forwarded_total", &[("stream", "m")]) > 0.0
    });
    assert_eq!(
        value(&first, "srt_connections_current", &[("mode", "publish")]),
        1.0
    );
    assert_eq!(
        value(&first, "srt_connections_current", &[("mode", "request")]),
        1.0
    );
    let fwd1 = value(
        &first,
        "srt_stream_packets_forwarded_total",
        &[("stream", "m")],
    );
    let sent1 = value(&first, "srt_connection_data_packets_sent", &[]);
    assert!(fwd1 > 0.0, "forwarded {fwd1}");
    let second = relay.scrape_until(|s| {
        value(s, "srt_stream_packets_forwarded_total", &[("stream", "m")]) > fwd1
            && value(s, "srt_connection_data_packets_sent", &[]) > sent1
            && value(s, "srt_stream_ingress_bits_per_second", &[("stream", "m")]) > 0.0
    });
    let fwd2 = value(
        &second,
        "srt_stream_packets_forwarded_total",
        &[("stream", "m")],
    );
    assert!(fwd2 > fwd1, "forwarded {fwd1} -> {fwd2}");
    assert!(value(&second, "srt_connection_data_packets_sent", &[]) > sent1);
    assert!(
        value(
            &second,
            "srt_stream_ingress_bits_per_second",
            &[("stream", "m")]
        ) > 0.0
    );

    let (status, body) = relay.request("GET", "/v1/histograms", "", "");
    assert_eq!(status, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    for h in [
        "transit_us",
        "handshake_us",
        "rtt_request_us",
        "rtt_publish_us",
    ] {
        let count = j["histograms"][h]["count"].as_u64().unwrap_or(0);
        assert!(count > 0, "{h}: {body}");
    }
    // A libsrt caller connects on loopback in well under a second.
    let handshake_max = j["histograms"]["handshake_us"]["max"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(handshake_max < 1_000_000, "{body}");
    let (status, body) = relay.request("GET", "/v1/streams/m", "", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"subscribers\":1"), "{body}");

    publisher.wait_fed(Duration::from_secs(20)).expect("fed");
    sub.wait_for_len(file_len(&file), Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    publisher.finish();
    media::assert_delivered(&file, sub.output());
}

#[test]
fn sessions_gate_the_srt_handshake_for_libsrt_callers() {
    let relay = Relay::start(
        "[playback]\nenabled = false\n[http]\nenabled = false\n[access]\nopen_request_streams = [\"free/*\"]\n\
         [[access.tokens]]\nname = \"studio\"\ntoken = \"0123456789abcdef0123\"\n\
         publish = [\"live/*\"]\nrequest = [\"live/*\"]\n",
    );
    let auth = "Authorization: Bearer 0123456789abcdef0123\r\n";
    let (status, body) = relay.request(
        "POST",
        "/v1/streams/live%2Fcam/sessions",
        auth,
        r#"{"mode":"publish"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let j: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let session = j["session_id"].as_str().expect("session id").to_string();

    // No session: 1401. A made-up one: 1403.
    for (sid, code) in [
        ("#!::r=live/cam,m=publish".to_string(), 1401),
        (
            "#!::r=live/cam,m=publish,s=00112233445566778899aabbccddeeff".to_string(),
            1403,
        ),
    ] {
        let url = SrtUrl::caller(relay.srt)
            .with_streamid(&sid)
            .with_connect_timeout(Duration::from_secs(2));
        let mut sub = recipes::subscribe_with_ffmpeg(&url, &out(&format!("refused{code}")));
        let exit = sub
            .wait_exit(Duration::from_secs(10))
            .expect("ffmpeg gives up");
        assert!(!exit.success());
        let scrape = relay.scrape();
        assert!(
            value(
                &scrape,
                "srt_rejections_total",
                &[("code", &code.to_string())]
            ) >= 1.0,
            "rejection {code} counted"
        );
    }
    // The issued session admits one publisher, once.
    let file = media::test_ts(TsSpec::seconds(2));
    let url =
        SrtUrl::caller(relay.srt).with_streamid(&format!("#!::r=live/cam,m=publish,s={session}"));
    let publisher =
        recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 2, 1.0));
    let mut again = recipes::subscribe_with_ffmpeg(
        &url.clone().with_connect_timeout(Duration::from_secs(2)),
        &out("reused"),
    );
    assert!(
        again
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| !s.success()),
        "a used session is refused"
    );
    // An open stream needs no session.
    let free = SrtUrl::caller(relay.srt).with_streamid("#!::r=free/x,m=request");
    let _player = recipes::subscribe_with_srt_live_transmit_no_wait(&free, &out("free"));
    let scrape =
        relay.scrape_until(|s| value(s, "srt_connections_current", &[("mode", "request")]) == 1.0);
    assert_eq!(
        value(&scrape, "srt_connections_current", &[("mode", "publish")]),
        1.0
    );
    assert_eq!(
        value(&scrape, "srt_connections_current", &[("mode", "request")]),
        1.0
    );
    publisher.finish();
}

// The field rules of NOALBS's stats parsers (`src/stream_servers/{sls,belabox,openirl}.rs` in
// NOALBS/nginx-obs-automatic-low-bitrate-switching): the types they read, so a missing field,
// a float where an integer is expected or a negative count fails here as it fails there.
#[allow(dead_code)]
#[derive(serde::Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct NoalbsSls {
    bitrate: i64,
    bytes_rcv_drop: u64,
    bytes_rcv_loss: u64,
    mbps_bandwidth: f64,
    mbps_recv_rate: f64,
    ms_rcv_buf: i32,
    pkt_rcv_drop: i32,
    pkt_rcv_loss: i32,
    rtt: f64,
    uptime: i64,
}

#[allow(dead_code)]
#[derive(serde::Deserialize, Debug)]
struct NoalbsBelabox {
    bitrate: i64,
    rtt: f64,
    dropped_pkts: i32,
}

#[allow(dead_code)]
#[derive(serde::Deserialize, Debug)]
struct NoalbsOpenIrl {
    bitrate: u32,
    buffer: u32,
    dropped_pkts: u64,
    #[serde(default)]
    latency: Option<u16>,
    #[serde(default)]
    rtt: Option<f64>,
    uptime: u64,
}

/// Scene switchers poll `/stats` without the operator token; a live libsrt publisher shows
/// with a last-second bitrate in the shapes NOALBS's three parsers read, keyed by stream name
/// (its session id never appears), and a stream nobody publishes reads as offline.
#[test]
fn stats_json_for_scene_switchers_follows_a_live_publisher() {
    let token = "operator-token-0123456789";
    let settings = http::HttpSettings {
        token: Some(srtrelay::access::Secret::new(token)),
        ..http::HttpSettings::default()
    };
    let relay = Relay::start_with(
        "[playback]\nenabled = false\n[http]\nenabled = false",
        settings,
    );
    let (status, _) = relay.request("GET", "/metrics", "", "");
    assert_eq!(status, 401, "the rest of the API keeps its token");
    let (status, body) = relay.request("GET", "/stats", "", "");
    assert_eq!(
        (status, body.trim()),
        (200, r#"{"publishers":{},"status":"ok"}"#)
    );

    let file = media::test_ts(TsSpec::seconds(6));
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &SrtUrl::caller(relay.srt).with_streamid("#!::r=irl/cam1,m=publish,s=0123abcd"),
        Pace::realtime(&file, 6, 1.0),
    );
    // Bitrate is sampled once a second: wait for the first sample.
    let deadline = std::time::Instant::now() + SCRAPE_WAIT;
    let body = loop {
        let (status, body) = relay.request("GET", "/stats", "", "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        if v["publishers"]["irl/cam1"]["bitrate"].as_i64().unwrap_or(0) > 0
            || std::time::Instant::now() >= deadline
        {
            break body;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert!(!body.contains("0123abcd"), "a session id leaked: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "ok");
    let entry = &v["publishers"]["irl/cam1"];
    let sls: NoalbsSls = serde_json::from_value(entry.clone())
        .unwrap_or_else(|e| panic!("NOALBS's SLS parser: {e}: {body}"));
    let belabox: NoalbsBelabox = serde_json::from_value(entry.clone())
        .unwrap_or_else(|e| panic!("NOALBS's BELABOX parser: {e}: {body}"));
    // The test file is a few hundred kbit/s; the last second's rate, not zero and not absurd.
    assert!(
        (50..20_000).contains(&sls.bitrate),
        "bitrate {} kbps: {body}",
        sls.bitrate
    );
    assert_eq!(belabox.bitrate, sls.bitrate);
    assert!(sls.rtt >= 0.0 && sls.rtt < 1000.0, "{body}");

    let (status, body) = relay.request("GET", "/stats/irl/cam1", "", "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "ok", "{body}");
    let irl: NoalbsOpenIrl = serde_json::from_value(v["publisher"].clone())
        .unwrap_or_else(|e| panic!("NOALBS's OpenIRL parser: {e}: {body}"));
    assert!(irl.bitrate > 0, "{body}");
    assert!(
        irl.latency.is_some_and(|l| l >= 120),
        "negotiated latency: {body}"
    );
    let (status, body) = relay.request("GET", "/stats/irl/nobody", "", "");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(v["status"], "error", "{body}");
    assert!(
        v.get("publisher").is_none(),
        "offline has no publisher: {body}"
    );
    publisher.wait_fed(Duration::from_secs(30)).expect("fed");
    publisher.finish();
}

/// `stats.enabled = false` removes the routes; `stats.public = false` puts them behind the token.
#[test]
fn stats_json_can_be_turned_off_or_put_behind_the_token() {
    let token = "operator-token-0123456789";
    let off = Relay::start_with(
        "[playback]\nenabled = false\n[http]\nenabled = false",
        http::HttpSettings {
            stats: false,
            ..http::HttpSettings::default()
        },
    );
    assert_eq!(off.request("GET", "/stats", "", "").0, 404);
    assert_eq!(off.request("GET", "/stats/live", "", "").0, 404);
    drop(off);
    let private = Relay::start_with(
        "[playback]\nenabled = false\n[http]\nenabled = false",
        http::HttpSettings {
            token: Some(srtrelay::access::Secret::new(token)),
            stats_public: false,
            ..http::HttpSettings::default()
        },
    );
    assert_eq!(private.request("GET", "/stats", "", "").0, 401);
    let auth = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(private.request("GET", "/stats", &auth, "").0, 200);
    // Bad input gets a clean answer: a broken escape, a long name, a method it does not take.
    assert_eq!(private.request("GET", "/stats/%zz", &auth, "").0, 400);
    let long = format!("/stats/{}", "a".repeat(4000));
    assert_eq!(private.request("GET", &long, &auth, "").0, 200);
    assert_eq!(private.request("POST", "/stats", &auth, "").0, 405);
}
