//! SRTLA end to end: a bonded sender (the test's own, `support::srtla_sender`, written from
//! the protocol) fed by a real SRT publisher (srt-live-transmit) registers three links with
//! the in-process relay's `[srtla]` receiver, each through a seeded lossy UDP path; an SRT
//! player (srt-live-transmit) must get the publisher's bytes unchanged from its join keyframe,
//! also when one link dies mid-stream. Attacks: a REG1 flood beyond `max_groups`, links beyond
//! `max_links_per_group`, forged REG2s and garbage are refused and counted while the real
//! sender keeps streaming.
//!
//! The kernel here has no netem qdisc (and no nf_tables), so loss comes from the harness's
//! lossy proxy, one per link (two ways, its own seed each), not from `tc`.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::telemetry::{ConnRole, SrtlaTotals};
use support::feeder::Pace;
use support::lossy_proxy::{LossyProxy, ProxyConfig};
use support::media::{self, TsSpec};
use support::recipes::{self, Subscriber};
use support::srt_url::SrtUrl;
use support::srtla_sender::SrtlaSender;

const TS: usize = 188;
const PAYLOAD: usize = 7 * TS;
const T: Duration = Duration::from_secs(60);
const STREAM: &str = "live/bonded";
/// The publisher's latency (ms on srt-live-transmit's URL): time for retransmissions over
/// the surviving links when one dies, as BELABOX setups run (2000).
const LATENCY: Duration = Duration::from_millis(2000);

fn relay(max_groups: usize, max_links: usize) -> InProcessRelay {
    let toml = format!(
        "[http]\nenabled = false\n[playback]\nenabled = false\n[rtmp]\nenabled = false\n\
         [srtla]\nlisten = \"127.0.0.1:5000\"\nmax_groups = {max_groups}\n\
         max_links_per_group = {max_links}\n"
    );
    InProcessRelay::start(&toml, |c| {
        c.srtla.listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        c.srt.latency.default = Duration::from_millis(300);
    })
}

fn srtla_addr(relay: &InProcessRelay) -> SocketAddr {
    relay.engine().srtla_addr().expect("[srtla] is on")
}

fn totals(relay: &InProcessRelay) -> SrtlaTotals {
    relay
        .reports()
        .into_iter()
        .find(|r| r.shard == 0)
        .expect("shard 0 reports")
        .counters
        .srtla
}

fn registrations(t: &SrtlaTotals, outcome: &str) -> u64 {
    let i = SrtlaTotals::REGISTRATION_OUTCOMES
        .iter()
        .position(|o| *o == outcome)
        .expect("known outcome");
    t.registrations[i]
}

fn drops(t: &SrtlaTotals, reason: &str) -> u64 {
    let i = SrtlaTotals::DROP_REASONS
        .iter()
        .position(|o| *o == reason)
        .expect("known reason");
    t.drops[i]
}

fn wait_live(relay: &InProcessRelay) {
    let deadline = Instant::now() + T;
    while relay.engine().registry().publisher_of(STREAM).is_none() {
        assert!(Instant::now() < deadline, "{STREAM} never went live");
        thread::sleep(Duration::from_millis(10));
    }
}

fn publish(sender: &SrtlaSender, file: &Path, seconds: u32) -> recipes::Publisher {
    let url = SrtUrl::caller(sender.local_addr())
        .with_streamid(&format!("#!::r={STREAM},m=publish"))
        .with_latency(LATENCY);
    recipes::publish_with_srt_live_transmit(file, &url, Pace::realtime(file, seconds, 1.0))
}

/// Waits until the sender has carried `bytes` of the stream: a player joining then starts at a
/// keyframe the relay has (one joining at once might see the first packet only after it
/// was retransmitted, behind the second: its start).
fn wait_carried(sender: &SrtlaSender, bytes: u64) {
    let deadline = Instant::now() + T;
    while sender.stats().from_caller * (PAYLOAD as u64) < bytes {
        assert!(Instant::now() < deadline, "{:?}", sender.stats());
        thread::sleep(Duration::from_millis(10));
    }
}

fn player(relay: &InProcessRelay, out: &Path) -> Subscriber {
    let url = SrtUrl::caller(relay.addr).with_streamid(&format!("#!::r={STREAM},m=request"));
    recipes::subscribe_with_srt_live_transmit_no_wait(&url, out)
}

/// Waits for the player to hold the file from its join point to the end; byte-exact.
fn wait_whole_rest(sub: &mut Subscriber, file: &[u8], what: &str) {
    sub.wait_for_len(PAYLOAD as u64, T)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let first = std::fs::read(sub.output()).unwrap();
    let at = media::assert_byte_exact_from_keyframe(&first, file, what);
    sub.wait_for_len((file.len() - at) as u64, T)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = std::fs::read(sub.output()).unwrap();
    media::assert_byte_exact_from_keyframe(&out, file, what);
    assert_only_filler_after(&out, file.len() - at, what);
}

/// After the file's `rest` bytes only the feeder's filler: TS null packets (the last one
/// perhaps still partly in the player's stdio buffer).
fn assert_only_filler_after(out: &[u8], rest: usize, what: &str) {
    let null = media::ts_null_packet();
    for (i, p) in out[rest..].chunks(TS).enumerate() {
        assert_eq!(
            p,
            &null[..p.len()],
            "{what}: packet {i} after the end is not filler"
        );
    }
}

/// Three links, each through its own lossy path (3 % each way); the second dies a third of
/// the way in. The player gets every byte from its keyframe on; the relay shows one group
/// whose links carried the stream, and its connection ran as a bonded one.
#[test]
fn three_lossy_links_one_dropped_mid_stream_deliver_byte_exact() {
    let seconds = 12;
    let path = media::test_ts(TsSpec::seconds(seconds));
    let file = std::fs::read(&path).unwrap();
    let relay = relay(10, 8);
    let srtla = srtla_addr(&relay);
    let mut proxies: Vec<Option<LossyProxy>> = (0..3u64)
        .map(|i| {
            let mut cfg = ProxyConfig::new(srtla).with_loss(3.0);
            cfg.seed = 0x51A + i;
            Some(LossyProxy::start(cfg))
        })
        .collect();
    let targets: Vec<SocketAddr> = proxies.iter().flatten().map(|p| p.addr()).collect();
    let sender = SrtlaSender::start(&targets, 1);
    sender.wait_registered(T).unwrap();
    let mut publisher = publish(&sender, &path, seconds);
    wait_live(&relay);
    let rate = file.len() as u64 / u64::from(seconds);
    wait_carried(&sender, 2 * rate);
    let dir = media::scratch_dir("srtla-lossy");
    let mut sub = player(&relay, &dir.join("player.ts"));
    // A third of the stream in: link 1 dies (its path is gone both ways).
    sub.wait_for_len(rate * 2, T)
        .unwrap_or_else(|e| panic!("before the drop: {e}"));
    let before = sender.stats();
    let lost = proxies[1].take().expect("running").stats();
    wait_whole_rest(&mut sub, &file, "player");
    publisher.wait_fed(T).unwrap();
    let after = sender.stats();
    eprintln!("sender before the drop: {before:?}\nafter: {after:?}\nlost link: {lost:?}");
    for (i, p) in proxies.iter().flatten().enumerate() {
        eprintln!("proxy {i}: {:?}", p.stats());
    }
    // Every link carried data before the drop, the dead one none after, the others more.
    assert!(before.links.iter().all(|l| l.sent > 50), "{before:?}");
    let dead = after.links[1].sent - before.links[1].sent;
    let survivor = after.links[0].sent - before.links[0].sent;
    assert!(dead < survivor / 3, "the dead link was given up: {after:?}");
    for i in [0, 2] {
        assert!(
            after.links[i].sent > before.links[i].sent + 100,
            "{after:?}"
        );
        assert!(after.links[i].srtla_acks > 0, "link {i} got SRTLA ACKs");
    }
    assert!(
        lost.to_server.dropped > 0 && lost.to_client.dropped > 0,
        "{lost:?}"
    );
    let reports = relay.reports();
    let t = reports[0].counters.srtla;
    assert_eq!(
        (t.groups, registrations(&t, "group_created")),
        (1, 1),
        "{t:?}"
    );
    assert_eq!(registrations(&t, "link_added"), 3, "{t:?}");
    assert!(
        t.packets_in > 1000 && t.packets_out > 100 && t.acks > 100,
        "{t:?}"
    );
    let groups: Vec<_> = reports.iter().flat_map(|r| &r.srtla_groups).collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let upstream = groups[0].upstream.expect("the group has its socket");
    // Per link (what `/stats/{stream}` lists as `peers`): the dead one may have expired
    // already (10 s of silence); the two that live carried their share.
    let links = &groups[0].links;
    assert!((2..=3).contains(&links.len()), "{links:?}");
    let live: Vec<_> = links
        .iter()
        .filter(|l| l.idle < Duration::from_secs(2))
        .collect();
    assert_eq!(live.len(), 2, "{links:?}");
    assert!(live.iter().all(|l| l.packets > 500), "{links:?}");
    assert!(
        links.iter().map(|l| l.packets).sum::<u64>() <= t.packets_in,
        "{links:?}"
    );
    let publisher_conn = reports
        .iter()
        .flat_map(|r| &r.connections)
        .find(|c| c.role == ConnRole::Publish && c.stream.as_deref() == Some(STREAM))
        .expect("the publisher's connection");
    assert_eq!(
        publisher_conn.peer, upstream,
        "the publisher came from the group's socket"
    );
    // No periodic NAK: every NAK answered a gap once. Losses happened, and were repaired.
    assert!(
        publisher_conn.stats.pkt_rcv_loss > 0,
        "{:?}",
        publisher_conn.stats
    );
    assert!(
        publisher_conn.stats.pkt_sent_nak <= publisher_conn.stats.pkt_rcv_loss,
        "{:?}",
        publisher_conn.stats
    );
    drop(publisher);
}

/// One group only, three links a group: a REG1 flood from many addresses, a fourth link of
/// the real sender, forged REG2s and garbage are refused and counted; the real sender's
/// stream reaches the player byte-exact all the while.
#[test]
fn a_registration_flood_and_extra_links_are_refused_while_a_real_sender_streams() {
    let seconds = 8;
    let path = media::test_ts(TsSpec::seconds(seconds));
    let file = std::fs::read(&path).unwrap();
    let relay = relay(1, 3);
    let srtla = srtla_addr(&relay);
    // Four links where three are allowed: the fourth is refused, the stream uses three.
    let sender = SrtlaSender::start(&[srtla; 4], 2);
    let deadline = Instant::now() + T;
    while sender.stats().links.iter().filter(|l| l.registered).count() < 3 {
        assert!(Instant::now() < deadline, "{:?}", sender.stats());
        thread::sleep(Duration::from_millis(20));
    }
    let mut publisher = publish(&sender, &path, seconds);
    wait_live(&relay);
    wait_carried(&sender, 2 * file.len() as u64 / u64::from(seconds));
    let dir = media::scratch_dir("srtla-flood");
    let mut sub = player(&relay, &dir.join("player.ts"));
    sub.wait_for_len(PAYLOAD as u64, T).unwrap();
    // The flood: 200 REG1s from 50 addresses, forged REG2s, garbage.
    let attackers: Vec<UdpSocket> = (0..50)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut reg1 = vec![0x92, 0x00];
    reg1.extend_from_slice(&[0xAB; 256]);
    let mut reg2 = vec![0x92, 0x01];
    reg2.extend_from_slice(&[0xCD; 256]);
    for round in 0..4u8 {
        for (i, a) in attackers.iter().enumerate() {
            reg1[2] = round;
            reg1[3] = i as u8;
            a.send_to(&reg1, srtla).unwrap();
            a.send_to(&reg2, srtla).unwrap();
            a.send_to(
                &[0x80, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                srtla,
            )
            .unwrap();
        }
        thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + T;
    let t = loop {
        let t = totals(&relay);
        if registrations(&t, "group_refused_limit") >= 200
            && registrations(&t, "unknown_group") >= 200
        {
            break t;
        }
        assert!(Instant::now() < deadline, "flood not all counted: {t:?}");
        thread::sleep(Duration::from_millis(20));
    };
    // Every attacker got REG_ERR for its REG1 and REG_NGP for its REG2.
    let mut buf = [0u8; 300];
    for a in &attackers {
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            let n = a.recv(&mut buf).expect("an answer");
            seen.push(u16::from_be_bytes([buf[0], buf[1]]));
            assert_eq!(n, 2);
        }
        seen.sort_unstable();
        assert_eq!(seen, [0x9210, 0x9211], "REG_ERR, REG_NGP");
    }
    wait_whole_rest(&mut sub, &file, "player under attack");
    publisher.wait_fed(T).unwrap();
    let st = sender.stats();
    eprintln!("sender: {st:?}\nreceiver: {t:?}");
    let t = totals(&relay);
    assert_eq!((t.groups, t.links), (1, 3), "{t:?}");
    assert_eq!(registrations(&t, "group_created"), 1, "{t:?}");
    assert!(registrations(&t, "link_refused_limit") >= 1, "{t:?}");
    assert!(drops(&t, "unknown_source") >= 200, "{t:?}");
    assert_eq!(
        st.links.iter().filter(|l| l.registered).count(),
        3,
        "{st:?}"
    );
    assert!(
        st.links.iter().any(|l| !l.registered && l.reg_errors > 0),
        "{st:?}"
    );
    drop(publisher);
}

/// Waits for `out` to grow to `len` bytes while `p` runs.
fn wait_file(out: &Path, len: u64, p: &mut support::process::Proc, what: &str) {
    let deadline = Instant::now() + T;
    while media::file_len(out) < len {
        assert!(
            Instant::now() < deadline && p.try_wait().is_none(),
            "{what}: {} of {len} bytes\n{}",
            media::file_len(out),
            p.diagnostics()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Across network namespaces, as modems would be: the sender's three links leave from three
/// addresses of their own in one namespace, over a veth pair, to the relay's SRTLA socket in
/// another, where the player is; each link's path loses 3 % each way (drawn by the sender:
/// this kernel has no netem). A third of the way in, one link's address is removed: it can
/// neither send nor receive. The player still gets every byte from its keyframe on.
#[test]
fn links_from_three_addresses_across_namespaces_one_address_removed() {
    use std::net::IpAddr;
    use std::process::Stdio;
    use std::sync::Arc;
    use support::netns::NetNs;

    let seconds = 10;
    let path = media::test_ts(TsSpec::seconds(seconds));
    let file = std::fs::read(&path).unwrap();
    let rate = file.len() as u64 / u64::from(seconds);
    let sender_ns = Arc::new(NetNs::new("srtla-tx"));
    let relay_ns = Arc::new(NetNs::new("srtla-rx"));
    let link_addrs = ["10.77.0.2", "10.77.0.3", "10.77.0.4"];
    let with_len: Vec<String> = link_addrs.iter().map(|a| format!("{a}/24")).collect();
    let mine: Vec<&str> = with_len.iter().map(String::as_str).collect();
    sender_ns.veth_to(&relay_ns, &mine, &["10.77.0.1/24"]);
    // Threads made by a thread inside a namespace live there, and so do their sockets.
    let relay = {
        let ns = relay_ns.clone();
        thread::spawn(move || {
            ns.enter();
            let toml = "[http]\nenabled = false\n[playback]\nenabled = false\n\
                        [rtmp]\nenabled = false\n[srtla]\nlisten = \"10.77.0.1:5000\"\n";
            InProcessRelay::start(toml, |c| {
                c.srtla.listen = Some("10.77.0.1:0".parse().unwrap());
            })
        })
        .join()
        .expect("relay starts in its namespace")
    };
    let srtla = srtla_addr(&relay);
    let sender = {
        let ns = sender_ns.clone();
        thread::spawn(move || {
            ns.enter();
            let binds: Vec<IpAddr> = link_addrs.iter().map(|a| a.parse().unwrap()).collect();
            SrtlaSender::start_lossy(&binds, &[srtla; 3], 3.0, 3)
        })
        .join()
        .expect("sender starts in its namespace")
    };
    sender.wait_registered(T).unwrap();
    let url = SrtUrl::caller(sender.local_addr())
        .with_streamid(&format!("#!::r={STREAM},m=publish"))
        .with_latency(LATENCY);
    let mut cmd = sender_ns.command(&support::tools::require("stdbuf"));
    cmd.args(["-i0", "-o0"])
        .arg(support::tools::srt_live_transmit())
        .args(["-v", "-a", "no", "-chunk", "1316", "-buffering", "1"])
        .args(["file://con", &url.for_srt_live_transmit()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut publisher = support::process::Proc::spawn("srt-live-transmit in netns", &mut cmd);
    let connected = "SRT target connected";
    assert!(
        publisher.stderr_watch().wait_for(connected, T),
        "{}",
        publisher.diagnostics()
    );
    let mut feeder = support::feeder::Feeder::start(
        Box::new(publisher.take_stdin()),
        &path,
        Pace::realtime(&path, seconds, 1.0),
        Some((publisher.stderr_watch(), connected)),
    );
    wait_live(&relay);
    wait_carried(&sender, 2 * rate);
    let dir = media::scratch_dir("srtla-netns");
    let out = dir.join("player.ts");
    let purl = SrtUrl::caller(relay.addr).with_streamid(&format!("#!::r={STREAM},m=request"));
    let mut cmd = relay_ns.command(&support::tools::srt_live_transmit());
    cmd.args(["-a", "no", &purl.for_srt_live_transmit(), "file://con"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap());
    let mut player = support::process::Proc::spawn("srt-live-transmit player in netns", &mut cmd);
    wait_file(&out, rate * 2, &mut player, "before the drop");
    let before = sender.stats();
    sender_ns.drop_addr(&with_len[1]);
    let first = std::fs::read(&out).unwrap();
    let at = media::assert_byte_exact_from_keyframe(&first, &file, "player");
    wait_file(
        &out,
        (file.len() - at) as u64,
        &mut player,
        "the whole rest",
    );
    let got = std::fs::read(&out).unwrap();
    media::assert_byte_exact_from_keyframe(&got, &file, "player");
    assert_only_filler_after(&got, file.len() - at, "player");
    feeder.wait(T).unwrap();
    let after = sender.stats();
    eprintln!("sender before the drop: {before:?}\nafter: {after:?}");
    assert!(before.links.iter().all(|l| l.sent > 50), "{before:?}");
    assert!(
        after.links.iter().all(|l| l.lost_out > 0 && l.lost_in > 0),
        "{after:?}"
    );
    let dead = after.links[1].sent - before.links[1].sent;
    let survivor = after.links[0].sent - before.links[0].sent;
    assert!(
        dead < survivor / 3,
        "the link without its address was given up: {after:?}"
    );
    let reports = relay.reports();
    let groups: Vec<_> = reports.iter().flat_map(|r| &r.srtla_groups).collect();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let ips: Vec<String> = groups[0]
        .links
        .iter()
        .map(|l| l.addr.ip().to_string())
        .collect();
    for ip in [link_addrs[0], link_addrs[2]] {
        assert!(ips.iter().any(|i| i == ip), "{ip} is a link: {ips:?}");
    }
    player.kill();
    publisher.kill();
}
