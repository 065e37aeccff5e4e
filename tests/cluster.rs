//! `[cluster]`: relays on loopback sharing one etcd (started by the test). A stream published
//! on one node plays on the others through one pull per node, byte-exact; a second publisher
//! anywhere is refused with 1409; the origin killed, the publisher moves to another node and an
//! edge's players go on without reconnecting; etcd stopped and restarted, local players do not
//! notice and the directory comes back.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::cluster::ClusterStatus;
use support::etcd::Etcd;
use support::media::{self, TsSpec};
use support::process::Proc;
use support::recipes::{self, Pace, Publisher, Subscriber};
use support::srt_url::SrtUrl;

const TS: usize = 188;
const T: Duration = Duration::from_secs(60);
const SECRET: &str = "cluster-test-secret-0123";

fn cluster_toml(etcd: &Etcd, node: &str, advertise: SocketAddr, prefix: &str) -> String {
    format!(
        "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n\
         [streams]\npublisher_grace_ms = 20000\nunknown_stream_wait_ms = 20000\n\
         [srt]\npeer_idle_timeout_ms = 2000\n\
         [cluster]\nenabled = true\nnode_id = \"{node}\"\nadvertise = \"{advertise}\"\n\
         etcd = [\"{}\"]\nprefix = \"{prefix}\"\nlease_ttl_ms = 2000\nedge_idle_ms = 2000\nsecret = \"{SECRET}\"\n",
        etcd.url()
    )
}

fn node(etcd: &Etcd, name: &str, prefix: &str) -> InProcessRelay {
    start_node(etcd, name, prefix, "", Duration::from_millis(300))
}

/// A node with `extra` lines in its `[cluster]` (and after it) and `latency` for its SRT legs.
fn start_node(
    etcd: &Etcd,
    name: &str,
    prefix: &str,
    extra: &str,
    latency: Duration,
) -> InProcessRelay {
    let addr = support::net::free_udp_addr();
    let toml = format!("{}{extra}", cluster_toml(etcd, name, addr, prefix));
    InProcessRelay::start(&toml, |c| {
        c.srt.listen = vec![addr];
        c.srt.latency.default = latency;
    })
}

fn status(r: &InProcessRelay) -> ClusterStatus {
    r.engine().cluster().expect("cluster on").status()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

fn publish(addr: SocketAddr, file: &Path, seconds: u32) -> Publisher {
    let url = SrtUrl::caller(addr).with_streamid("#!::r=live/c,m=publish");
    recipes::publish_with_srt_live_transmit(file, &url, Pace::realtime(file, seconds, 1.0))
}

fn player(addr: SocketAddr, out: &Path) -> Subscriber {
    let url = SrtUrl::caller(addr).with_streamid("#!::r=live/c,m=request");
    recipes::subscribe_with_srt_live_transmit_no_wait(&url, out)
}

/// Players of `live/c` on a node, all shards (an edge's pull is one).
fn subscribers(r: &InProcessRelay) -> usize {
    r.reports()
        .iter()
        .flat_map(|s| &s.streams)
        .filter(|s| s.name == "live/c")
        .map(|s| s.subscribers as usize)
        .sum()
}

#[test]
fn a_stream_plays_on_every_node_through_one_pull_each_and_a_second_publisher_is_refused() {
    let etcd = Etcd::start(media::scratch_dir("cluster-etcd-1"));
    let (a, b, c) = (
        node(&etcd, "a", "/t1"),
        node(&etcd, "b", "/t1"),
        node(&etcd, "c", "/t1"),
    );
    let path = media::test_ts(TsSpec::seconds(12));
    let file = std::fs::read(&path).unwrap();
    let rate = file.len() as u64 / 12;
    let _publisher = publish(a.addr, &path, 12);
    wait_for("b and c see a serve live/c", || {
        [&b, &c].iter().all(|n| {
            status(n)
                .owners
                .get("live/c")
                .is_some_and(|o| o.node == "a")
        })
    });
    assert_eq!(status(&a).held, ["live/c"]);
    let dir = media::scratch_dir("cluster-players");
    let mut players: Vec<Subscriber> = [(&b, "b1"), (&b, "b2"), (&c, "c1")]
        .iter()
        .map(|(n, p)| player(n.addr, &dir.join(format!("{p}.ts"))))
        .collect();
    for p in &mut players {
        p.wait_for_len(2 * rate, T).expect("the edge player plays");
    }
    for (p, what) in players.iter().zip(["b1", "b2", "c1"]) {
        media::assert_byte_exact_from_keyframe(&std::fs::read(p.output()).unwrap(), &file, what);
    }
    // One pull per edge node, however many players it has: a has two subscribers.
    assert_eq!(subscribers(&a), 2, "one pull from b, one from c");
    for n in [&b, &c] {
        let s = status(n);
        assert_eq!(s.pulls.len(), 1, "{s:?}");
        assert_eq!(s.edge_pulls_started, 1, "{s:?}");
    }
    // The operator API: `/v1/cluster` and the metrics say the same.
    let api = |r: &InProcessRelay, path: &str| {
        let state = srtrelay::http::State::new(
            r.engine().view(),
            r.engine().sessions().clone(),
            std::sync::Arc::new(Instant::now),
            std::sync::Arc::new(srtrelay::http::HttpCounters::default()),
        );
        let req = srtrelay::http::ApiRequest {
            method: "GET".into(),
            path: path.into(),
            query: String::new(),
            bearer: None,
            body: Vec::new(),
            body_truncated: false,
        };
        let reply = srtrelay::http::route(&state, &req);
        (reply.status, String::from_utf8(reply.body).unwrap())
    };
    let (status, body) = api(&b, "/v1/cluster");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["node"], "b");
    assert_eq!(v["owners"]["live/c"]["node"], "a", "{v}");
    assert_eq!(
        v["pulls"]["live/c"].as_str().map(|s| s.starts_with("a@")),
        Some(true),
        "{v}"
    );
    assert!(v["nodes"].as_object().is_some_and(|n| n.len() == 3), "{v}");
    let (_, metrics) = api(&a, "/metrics");
    assert!(
        metrics.contains("\nsrt_cluster_streams_held 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nsrt_cluster_etcd_reachable 1\n"));
    // A second publisher on c: refused as a conflict, as on one relay.
    let url = SrtUrl::caller(c.addr).with_streamid("#!::r=live/c,m=publish");
    let _ = recipes::rejected_srt_live_transmit(&url);
    let conflicts: u64 = c
        .reports()
        .iter()
        .map(|r| r.counters.refused_publisher_conflict)
        .sum();
    assert_eq!(conflicts, 1);
}

const CLUSTER_PASS: &str = "cluster-pass-0123";

/// A node of the tier test: two pulls in a row on a busy 2-core machine (four relays in this
/// process) need a receive latency that leaves room for retransmissions on both hops.
fn node_with(etcd: &Etcd, name: &str, prefix: &str, extra: &str) -> InProcessRelay {
    start_node(etcd, name, prefix, extra, Duration::from_millis(1000))
}

#[test]
fn edges_pull_through_their_upstream_tier_encrypted_with_the_cluster_passphrase() {
    let etcd = Etcd::start(media::scratch_dir("cluster-etcd-tiers"));
    let pass = format!("passphrase = \"{CLUSTER_PASS}\"\n");
    // The origin's players need their own passphrase: an edge's pull uses the cluster's.
    let a = node_with(
        &etcd,
        "a",
        "/t5",
        &format!(
            "{pass}[[encryption]]\nstreams = \"live/*\"\nsubscriber_passphrase = \"players-pass-1\"\n"
        ),
    );
    let b = node_with(&etcd, "b", "/t5", &pass);
    let tier = format!("{pass}upstream_nodes = [\"b\"]\n");
    let (c, d) = (
        node_with(&etcd, "c", "/t5", &tier),
        node_with(&etcd, "d", "/t5", &tier),
    );
    let path = media::test_ts(TsSpec::seconds(12));
    let file = std::fs::read(&path).unwrap();
    let rate = file.len() as u64 / 12;
    let _publisher = publish(a.addr, &path, 12);
    wait_for("c and d see a serve live/c and b's record", || {
        [&c, &d].iter().all(|n| {
            let s = status(n);
            s.owners.get("live/c").is_some_and(|o| o.node == "a") && s.nodes.contains_key("b")
        })
    });
    wait_for("a lists c's record, which names its tier", || {
        status(&a)
            .nodes
            .get("c")
            .is_some_and(|n| n.upstream == ["b"])
    });
    let dir = media::scratch_dir("cluster-tiers");
    let mut players: Vec<Subscriber> = [(&c, "c1"), (&c, "c2"), (&d, "d1")]
        .iter()
        .map(|(n, p)| player(n.addr, &dir.join(format!("{p}.ts"))))
        .collect();
    for p in &mut players {
        p.wait_for_len(2 * rate, T)
            .expect("a player behind the tier plays");
    }
    for (p, what) in players.iter().zip(["c1", "c2", "d1"]) {
        media::assert_byte_exact_from_keyframe(&std::fs::read(p.output()).unwrap(), &file, what);
    }
    // The tree: a feeds b once, b feeds c and d once each, whatever their players.
    assert_eq!(subscribers(&a), 1, "only b pulls from the origin");
    assert_eq!(subscribers(&b), 2, "c and d pull from b");
    let from = |n: &InProcessRelay| status(n).pulls.get("live/c").cloned().unwrap_or_default();
    assert!(from(&b).starts_with("a@"), "{}", from(&b));
    for n in [&c, &d] {
        let f = from(n);
        assert!(f.starts_with("b@") && f.contains("upstream tier"), "{f}");
        assert_eq!(status(n).tier_fallbacks, 0);
    }
    // The edges' user without the cluster passphrase is refused, secret or not.
    let sid = format!("#!::r=live/c,m=request,u=srtrelay-edge,s={SECRET}");
    let url = SrtUrl::caller(a.addr).with_streamid(&sid);
    recipes::rejected_srt_live_transmit(&url);
    let url = SrtUrl::caller(a.addr)
        .with_streamid(&sid)
        .with_passphrase("not-the-cluster-pass", 16);
    recipes::rejected_srt_live_transmit(&url);
    // With it, a (hand-made) edge is admitted and gets the stream.
    let out = dir.join("by-hand.ts");
    let url = SrtUrl::caller(a.addr)
        .with_streamid(&sid)
        .with_passphrase(CLUSTER_PASS, 16);
    let mut by_hand = recipes::subscribe_with_srt_live_transmit_no_wait(&url, &out);
    by_hand
        .wait_for_len(rate, T)
        .expect("the cluster passphrase opens the pull");
    media::assert_byte_exact_from_keyframe(&std::fs::read(&out).unwrap(), &file, "by hand");
}

fn relay_process(etcd: &Etcd, name: &str, advertise: SocketAddr, prefix: &str) -> Proc {
    let dir = media::scratch_dir(&format!("cluster-node-{name}"));
    let path = dir.join("relay.toml");
    let toml = format!(
        "{}\n",
        cluster_toml(etcd, name, advertise, prefix).replacen(
            "[srt]\n",
            &format!("[srt]\nlisten = [\"{advertise}\"]\nlatency_ms = 300\n"),
            1
        )
    );
    std::fs::write(&path, toml).unwrap();
    Proc::start_relay(
        Path::new(env!("CARGO_BIN_EXE_srtrelay")),
        &path,
        "listening on",
        Duration::from_secs(20),
    )
}

#[test]
fn the_origin_killed_the_publisher_moves_and_edge_players_go_on_without_reconnecting() {
    let etcd = Etcd::start(media::scratch_dir("cluster-etcd-2"));
    let a_addr = support::net::free_udp_addr();
    let mut a = relay_process(&etcd, "a", a_addr, "/t2");
    let (b, c) = (node(&etcd, "b", "/t2"), node(&etcd, "c", "/t2"));
    let path = media::test_ts(TsSpec::seconds(30));
    let file = std::fs::read(&path).unwrap();
    let rate = file.len() as u64 / 30;
    let first = publish(a_addr, &path, 30);
    wait_for("c sees a serve live/c", || {
        status(&c)
            .owners
            .get("live/c")
            .is_some_and(|o| o.node == "a")
    });
    let out = media::scratch_dir("cluster-failover").join("c.ts");
    let mut p = player(c.addr, &out);
    p.wait_for_len(2 * rate, T).expect("c's player plays");
    media::assert_byte_exact_from_keyframe(&std::fs::read(&out).unwrap(), &file, "before the kill");

    a.kill();
    drop(first);
    let killed = Instant::now();
    // The encoder reconnects to b, which admits it once a's lease has expired.
    let moved = wait_for("b sees no owner of live/c", || {
        !status(&b).owners.contains_key("live/c")
    });
    let have = media::file_len(&out);
    let _second = publish(b.addr, &path, 30);
    p.wait_for_len(have + 2 * rate, T)
        .expect("c's player goes on with b's stream");
    let failover = killed.elapsed();
    assert!(
        p.wait_exit(Duration::ZERO).is_none(),
        "c's player never reconnected"
    );
    assert_eq!(
        status(&c).owners.get("live/c").map(|o| o.node.as_str()),
        Some("b")
    );
    assert_eq!(status(&c).failovers, 1, "c counts the move");
    // What c's player got after the switch decodes cleanly from b's keyframe.
    let bytes = std::fs::read(&out).unwrap();
    let cut = have as usize / TS * TS;
    // The player's first video packet of b's stream starts a keyframe: nothing of a GOP in
    // progress reached it.
    let first_video = bytes[cut..]
        .chunks(TS)
        .find(|p| p.len() == TS && ((u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])) == 0x100)
        .expect("video after the switch");
    assert!(
        media::is_video_keyframe(first_video),
        "b's stream reached c's player from a keyframe"
    );
    let from = cut
        + bytes[cut..]
            .chunks(TS)
            .position(media::is_video_keyframe)
            .expect("a keyframe after the switch")
            * TS;
    let end = from + (bytes.len() - from) / TS * TS - TS;
    let after = media::scratch_dir("cluster-failover").join("after.ts");
    std::fs::write(&after, &bytes[from..end]).unwrap();
    let d = support::process::run_bounded(
        "ffmpeg decode",
        std::process::Command::new(support::tools::ffmpeg())
            .args(["-v", "error", "-i"])
            .arg(&after)
            .args(["-f", "null", "-"]),
        T,
    );
    let unexpected: Vec<&str> = d
        .stderr
        .lines()
        .filter(|l| !l.contains("error while decoding MB") && !l.contains("concealing"))
        .collect();
    assert!(
        unexpected.is_empty(),
        "decodes after the failover: {}",
        d.stderr
    );
    eprintln!(
        "cluster failover: a's claim gone {moved:?} after the kill, c's player on b's stream {failover:?} after it"
    );
}

#[test]
fn etcd_down_and_back_local_players_go_on_and_the_directory_returns() {
    let mut etcd = Etcd::start(media::scratch_dir("cluster-etcd-3"));
    let (a, b) = (node(&etcd, "a", "/t3"), node(&etcd, "b", "/t3"));
    let path = media::test_ts(TsSpec::seconds(30));
    let rate = media::file_len(&path) / 30;
    let _publisher = publish(a.addr, &path, 30);
    wait_for("b sees a serve live/c", || {
        status(&b)
            .owners
            .get("live/c")
            .is_some_and(|o| o.node == "a")
    });
    let dir = media::scratch_dir("cluster-etcd-down");
    let (mut local, mut edge) = (
        player(a.addr, &dir.join("a.ts")),
        player(b.addr, &dir.join("b.ts")),
    );
    local.wait_for_len(rate, T).expect("a's player plays");
    edge.wait_for_len(rate, T).expect("b's player plays");

    etcd.stop();
    wait_for("a notices", || !status(&a).reachable);
    // Past the lease's TTL: both players go on.
    thread::sleep(Duration::from_secs(3));
    for (p, what) in [(&mut local, "a"), (&mut edge, "b")] {
        let have = media::file_len(p.output());
        p.wait_for_len(have + rate, T)
            .unwrap_or_else(|e| panic!("{what}'s player stopped while etcd was down: {e}"));
    }
    let s = status(&a);
    assert!(s.last_error.is_some(), "{s:?}");

    etcd.resume();
    wait_for("a holds live/c again", || {
        let s = status(&a);
        s.reachable && s.has_lease && s.held == ["live/c"]
    });
    wait_for("b sees a serve live/c again", || {
        status(&b)
            .owners
            .get("live/c")
            .is_some_and(|o| o.node == "a")
    });
    for p in [&mut local, &mut edge] {
        let have = media::file_len(p.output());
        p.wait_for_len(have + rate, T).expect("still playing");
        assert!(p.wait_exit(Duration::ZERO).is_none());
    }
}

#[test]
fn a_static_directory_pulls_from_the_origin_its_file_names_without_etcd() {
    // The origin is a plain relay; the edge's directory is a file.
    let origin = InProcessRelay::start(
        "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n",
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    let dir = media::scratch_dir("cluster-static");
    let origins = dir.join("origins.toml");
    std::fs::write(
        &origins,
        format!(
            "[[origins]]\nstreams = \"other/*\"\nadvertise = \"127.0.0.1:9\"\n\
             [[origins]]\nstreams = \"live/*\"\nadvertise = \"{}\"\n",
            origin.addr
        ),
    )
    .unwrap();
    let addr = support::net::free_udp_addr();
    let edge = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[playback]\nenabled = false\n\
             [cluster]\nenabled = true\nnode_id = \"e\"\nadvertise = \"{addr}\"\norigins_file = \"{}\"\n",
            origins.display()
        ),
        |c| {
            c.srt.listen = vec![addr];
            c.srt.latency.default = Duration::from_millis(300);
        },
    );
    let path = media::test_ts(TsSpec::seconds(12));
    let file = std::fs::read(&path).unwrap();
    let _publisher = publish(origin.addr, &path, 12);
    let mut p = player(edge.addr, &dir.join("edge.ts"));
    p.wait_for_len(2 * (file.len() as u64 / 12), T)
        .expect("the edge player plays");
    media::assert_byte_exact_from_keyframe(
        &std::fs::read(p.output()).unwrap(),
        &file,
        "static edge",
    );
    let s = status(&edge);
    assert_eq!(
        s.pulls.get("live/c").map(String::as_str),
        Some(format!("static@{}", origin.addr).as_str()),
        "{s:?}"
    );
    assert_eq!(subscribers(&origin), 1, "one pull");
}
