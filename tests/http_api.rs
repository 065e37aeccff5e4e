//! The operator API over real HTTP on 127.0.0.1, against a fake `RelayView` whose snapshots the
//! tests change between requests. The exposition is read with a real Prometheus text-format
//! parser (`prometheus-parse`). Sessions issued over HTTP are also redeemed by real libsrt
//! callers (ffmpeg, srt-live-transmit) at an SRT endpoint gated by the session store. The
//! engine's own end-to-end tests (real shards) live with the engine.

#[path = "http_api/harness.rs"]
mod harness;
#[path = "http_api/libsrt.rs"]
mod libsrt;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use harness::*;
use serde_json::Value as Json;
use srtrelay::access::{Denied, Mode};
use srtrelay::telemetry::HealthState;

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

/// The stats routes are open and polled: a flood of them takes one shard snapshot per half
/// second, and concurrent requests share it instead of each asking the shards.
#[test]
fn stats_requests_share_one_snapshot_per_half_second() {
    let api = Api::start();
    traffic(&api.view, 50);
    let (status, v) = api.json("GET", "/stats");
    assert_eq!(status, 200);
    assert_eq!(v["publishers"]["live/cam1"]["bitrate"], 3000, "{v}");
    let before = api.view.snapshots.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(api.get("/stats").status, 200);
        assert_eq!(api.get("/stats/live/cam1").status, 200);
    }
    assert_eq!(
        api.view.snapshots.load(Ordering::SeqCst),
        before,
        "answered from the last snapshot"
    );
    api.advance(Duration::from_millis(500));
    assert_eq!(api.get("/stats").status, 200);
    assert_eq!(api.view.snapshots.load(Ordering::SeqCst), before + 1);
    // The operator routes still ask the shards every time.
    assert_eq!(api.get("/v1/streams").status, 200);
    assert_eq!(api.view.snapshots.load(Ordering::SeqCst), before + 2);
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
    assert_eq!(redeem(Mode::Publish, Some(&id)), Err(Denied::Forbidden));
    assert_eq!(redeem(Mode::Publish, None), Err(Denied::Unauthorized));
    assert_eq!(api.store.redeem("public/x", Mode::Publish, None, t), Ok(()));

    // Expiry under the injected clock: issued now, presented 5 minutes later.
    let (_, s) = api.post_session("live/cam1", Some(STUDIO), r#"{"mode":"request"}"#);
    let id = s["session_id"].as_str().unwrap().to_string();
    api.advance(Duration::from_secs(300));
    let late = api.now();
    assert_eq!(
        api.store
            .redeem("live/cam1", Mode::Request, Some(&id), late),
        Err(Denied::Forbidden)
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
    // Over MAX_BODY: refused from the declared length before the body is read (413, was 400
    // when tiny_http read and cut it).
    let (status, e) = api.post_session("live/cam1", Some(STUDIO), &big);
    assert_eq!(status, 413);
    assert_eq!(e["status"], 413);
    assert!(e["error"].as_str().unwrap().contains("4096"), "{e}");

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

/// Three scrapes blocked in a slow engine do not hold up health: routes run on a pool of
/// threads next to the accept loop. The old server had two worker threads for everything, so
/// health waited behind the first two scrapes.
#[test]
#[allow(clippy::disallowed_methods)] // a deadline for the wait below
fn slow_scrapes_do_not_hold_up_health() {
    let api = Arc::new(Api::start());
    *api.view.snapshot_delay.lock().unwrap() = Duration::from_secs(5);
    let finished = Arc::new(AtomicUsize::new(0));
    let scrapes: Vec<_> = (0..3)
        .map(|_| {
            let (api, finished) = (api.clone(), finished.clone());
            std::thread::spawn(move || {
                let status = api.get("/v1/streams").status;
                finished.fetch_add(1, Ordering::SeqCst);
                status
            })
        })
        .collect();
    // All three are inside the engine call before health is asked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.view.in_snapshot.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "the scrapes never reached the engine"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(api.get("/v1/health").status, 200);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "health waited for a slow scrape"
    );
    for s in scrapes {
        assert_eq!(s.join().unwrap(), 200);
    }
}
