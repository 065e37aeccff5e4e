//! Encryption interop with real libsrt 1.5.1 peers on loopback: srt-live-transmit and ffmpeg
//! publish into a server built on srtrelay's core with a passphrase and each key length, and
//! subscribe from it with their own (different) passphrase; the TS must arrive byte for byte,
//! and the proxy in between must have seen only encrypted data packets. Wrong or missing
//! passphrases are refused with the codes libsrt uses, on both sides, and both senders'
//! in-band key refreshes (short `kmrefreshrate`) keep the stream byte-exact.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod file_server;
mod support;

use std::sync::Arc;
use std::time::Duration;

use file_server::{FileServer, ServerConfig, ServerReport};
use support::lossy_proxy::{Direction, LossyProxy, ProxyConfig, ProxyStats};
use support::media::{self, TsSpec};
use support::recipes::{self, FfmpegPublish, Pace};
use support::srt_url::SrtUrl;

use srtrelay::srt::crypto::{Encryption, KmRefresh, Passphrase};

const TRANSFER_TIMEOUT: Duration = Duration::from_secs(20);
/// Latency of the loss-free runs (the listener proposes it; each direction takes the larger
/// side's). libsrt's 120 ms default lost one packet of ffmpeg's 4x-real-time publish as too
/// late once with load ~10 on two cores (a proxy or server thread descheduled for longer than
/// the latency); 500 ms absorbs such stalls and nothing here measures latency.
const CLEAN_LATENCY: Duration = Duration::from_millis(500);
const RESOURCE: &str = "live/secure";
const PUBLISHER_PASS: &str = "publisher passphrase 1";
const SUBSCRIBER_PASS: &str = "a different one for viewers";
/// libsrt logs these for SRT_REJ_BADSECRET and SRT_REJ_UNSECURE (`srt_rejectreason_str`).
const BADSECRET_TEXT: &str = "Incorrect passphrase";
const UNSECURE_TEXT: &str = "Password required or unexpected";

#[derive(Clone, Copy, Debug)]
enum Tool {
    SrtLiveTransmit,
    Ffmpeg,
}

fn encryption(pass: &str) -> Encryption {
    Encryption::with_passphrase(Passphrase::new(pass).expect("valid passphrase"))
}

/// A short file: each case moves about 400 KB at 4x real time.
fn test_file() -> std::path::PathBuf {
    media::test_ts(TsSpec::seconds(2))
}

/// `tool` publishes into our server (publisher passphrase) through a transparent proxy; the
/// server must hold the file byte for byte, and every data packet must have been encrypted.
fn publish(tool: Tool, url: SrtUrl, server_cfg: ServerConfig) -> (ServerReport, ProxyStats) {
    let file = test_file();
    let want = std::fs::read(&file).expect("test media");
    let server = FileServer::start(server_cfg);
    let proxy = LossyProxy::start(ProxyConfig::new(server.addr));
    let url = url
        .at(proxy.addr())
        .with_streamid(&format!("#!::r={RESOURCE},m=publish"));
    let pace = Pace::realtime(&file, 2, 4.0);
    let publisher = match tool {
        Tool::SrtLiveTransmit => recipes::publish_with_srt_live_transmit(&file, &url, pace),
        Tool::Ffmpeg => {
            recipes::publish_with_ffmpeg(&file, &url, FfmpegPublish::Passthrough { pace })
        }
    };
    let arrived = server.wait_for_len(RESOURCE, want.len(), TRANSFER_TIMEOUT);
    publisher.finish();
    let report = server.finish();
    if let Err(have) = arrived {
        panic!(
            "{tool:?}: server has {have} of {} bytes; {report:?}",
            want.len()
        );
    }
    let out = media::scratch_dir(&format!("crypto_publish_{tool:?}")).join("received.ts");
    std::fs::write(&out, &report.received[RESOURCE]).expect("write received");
    media::assert_delivered(&file, &out);
    let stats = proxy.stats();
    assert_all_encrypted(
        &stats.to_server.data_payload_sizes,
        stats.to_server.encrypted_data,
    );
    assert!(
        report.all_stats().all(|s| s.pkt_rcv_undecrypt == 0),
        "nothing failed to decrypt: {report:?}"
    );
    (report, stats)
}

/// `tool` requests the stream from our server (subscriber passphrase), which serves the file
/// at 4x real time through a proxy losing `loss` percent each way; the tool's output must be
/// the file, byte for byte, and every data packet our server sent encrypted.
fn subscribe(
    tool: Tool,
    url: SrtUrl,
    server_cfg: ServerConfig,
    loss: f64,
) -> (ServerReport, ProxyStats) {
    let file = test_file();
    let want = std::fs::read(&file).expect("test media");
    // As in tests/interop.rs: under loss, 1 s leaves libsrt's periodic NAK several tries.
    let latency = if loss > 0.0 {
        Duration::from_millis(1000)
    } else {
        CLEAN_LATENCY
    };
    let server = FileServer::start(ServerConfig {
        serve: Arc::new(want.clone()),
        serve_rate: (want.len() as u64 / 2) * 4,
        latency,
        ..server_cfg
    });
    let proxy = LossyProxy::start(ProxyConfig::new(server.addr).with_loss(loss));
    let url = url
        .at(proxy.addr())
        .with_latency(latency)
        .with_streamid(&format!("#!::r={RESOURCE},m=request"));
    let out = media::scratch_dir(&format!("crypto_subscribe_{tool:?}")).join("received.ts");
    let mut sub = match tool {
        Tool::SrtLiveTransmit => recipes::subscribe_with_srt_live_transmit(&url, &out),
        Tool::Ffmpeg => recipes::subscribe_with_ffmpeg(&url, &out),
    };
    let arrived = sub.wait_for_len(want.len() as u64, TRANSFER_TIMEOUT);
    proxy.set_loss(Direction::ToServer, 0.0);
    proxy.set_loss(Direction::ToClient, 0.0);
    arrived.unwrap_or_else(|e| panic!("{tool:?}: {e}"));
    let exit = sub.wait_exit(Duration::from_secs(8));
    let report = server.finish();
    media::assert_delivered(&file, &out);
    assert!(
        exit.is_some(),
        "{tool:?} did not exit after the server closed"
    );
    assert_eq!(report.served, 1);
    let stats = proxy.stats();
    assert_all_encrypted(
        &stats.to_client.data_payload_sizes,
        stats.to_client.encrypted_data,
    );
    (report, stats)
}

fn assert_all_encrypted(sizes: &std::collections::BTreeMap<usize, u64>, encrypted: u64) {
    let data: u64 = sizes.values().sum();
    assert!(data > 100, "data flowed: {sizes:?}");
    assert_eq!(encrypted, data, "every data packet carries KK != 0");
}

fn server_with(publisher: Encryption, subscriber: Encryption) -> ServerConfig {
    ServerConfig {
        publisher_encryption: publisher,
        subscriber_encryption: subscriber,
        latency: CLEAN_LATENCY,
        ..ServerConfig::default()
    }
}

#[test]
fn srt_live_transmit_publishes_with_each_key_length() {
    for len in [16, 24, 32] {
        let url = SrtUrl::caller(([127, 0, 0, 1], 0).into()).with_passphrase(PUBLISHER_PASS, len);
        let cfg = server_with(encryption(PUBLISHER_PASS), encryption(SUBSCRIBER_PASS));
        let (report, _) = publish(Tool::SrtLiveTransmit, url, cfg);
        assert_eq!(report.endpoint.accepted, 1, "AES-{}", len * 8);
    }
}

#[test]
fn ffmpeg_publishes_with_each_key_length() {
    for len in [16, 24, 32] {
        let url = SrtUrl::caller(([127, 0, 0, 1], 0).into()).with_passphrase(PUBLISHER_PASS, len);
        let cfg = server_with(encryption(PUBLISHER_PASS), encryption(SUBSCRIBER_PASS));
        let (report, _) = publish(Tool::Ffmpeg, url, cfg);
        assert_eq!(report.endpoint.accepted, 1, "AES-{}", len * 8);
    }
}

/// Subscribers use their own passphrase, not the publishers'; key lengths 24 and 32 (16 is
/// covered by the refresh test).
#[test]
fn subscribers_receive_with_their_own_passphrase() {
    for (tool, len) in [(Tool::SrtLiveTransmit, 24), (Tool::Ffmpeg, 32)] {
        let url = SrtUrl::caller(([127, 0, 0, 1], 0).into()).with_passphrase(SUBSCRIBER_PASS, len);
        let cfg = server_with(encryption(PUBLISHER_PASS), encryption(SUBSCRIBER_PASS));
        subscribe(tool, url, cfg, 0.0);
    }
}

/// A wrong passphrase: our server refuses with BADSECRET (1010) and counts it; the libsrt
/// caller reports "Incorrect passphrase" and fails.
#[test]
fn wrong_passphrase_is_rejected_with_badsecret() {
    let server = FileServer::start(server_with(
        encryption(PUBLISHER_PASS),
        encryption(SUBSCRIBER_PASS),
    ));
    let url = |mode: &str| {
        SrtUrl::caller(server.addr)
            .with_streamid(&format!("#!::r={RESOURCE},m={mode}"))
            .with_passphrase("not the right one", 16)
            .with_connect_timeout(Duration::from_secs(2))
    };
    let stderr = recipes::rejected_srt_live_transmit(&url("publish"));
    assert!(
        stderr.contains(BADSECRET_TEXT),
        "srt-live-transmit: {stderr}"
    );
    let out = media::scratch_dir("crypto_wrong_ffmpeg").join("out.ts");
    let mut sub = recipes::subscribe_with_ffmpeg(&url("request"), &out);
    let exit = sub
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up");
    assert!(!exit.success());
    let stderr = sub.proc().stderr_text();
    assert!(stderr.contains(BADSECRET_TEXT), "ffmpeg: {stderr}");
    assert_eq!(media::file_len(&out), 0);
    let report = server.finish();
    assert_eq!(report.endpoint.rejections.get(&10), Some(&2), "{report:?}");
    assert_eq!(report.endpoint.accepted, 0);
}

/// Encryption on one side only, enforced: UNSECURE (1011) both ways round.
#[test]
fn one_sided_encryption_is_rejected_with_unsecure() {
    // The server wants a passphrase from publishers; the caller has none.
    let server = FileServer::start(server_with(
        encryption(PUBLISHER_PASS),
        Encryption::default(),
    ));
    let url = SrtUrl::caller(server.addr)
        .with_streamid(&format!("#!::r={RESOURCE},m=publish"))
        .with_connect_timeout(Duration::from_secs(2));
    let stderr = recipes::rejected_srt_live_transmit(&url);
    assert!(
        stderr.contains(UNSECURE_TEXT),
        "srt-live-transmit: {stderr}"
    );
    // Subscribers have no passphrase there; a caller that sets one is refused too.
    let url = SrtUrl::caller(server.addr)
        .with_streamid(&format!("#!::r={RESOURCE},m=request"))
        .with_passphrase(SUBSCRIBER_PASS, 16)
        .with_connect_timeout(Duration::from_secs(2));
    let out = media::scratch_dir("crypto_unsecure_ffmpeg").join("out.ts");
    let mut sub = recipes::subscribe_with_ffmpeg(&url, &out);
    let exit = sub
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up");
    assert!(!exit.success());
    let stderr = sub.proc().stderr_text();
    assert!(stderr.contains(UNSECURE_TEXT), "ffmpeg: {stderr}");
    let report = server.finish();
    assert_eq!(report.endpoint.rejections.get(&11), Some(&2), "{report:?}");
}

/// Key refresh every 128 packets (pre-announce 32) on both senders: srt-live-transmit's while
/// publishing (we install each new key from its in-band KMREQ), and ours while serving an
/// ffmpeg subscriber (ffmpeg's libsrt installs ours) through 5 % loss each way, so packets
/// encrypted with a key are retransmitted after the switch to the next. Several refreshes
/// each way, and still byte for byte.
#[test]
fn key_refresh_on_both_senders_keeps_the_stream_exact() {
    let refresh = KmRefresh::new(128, 32).expect("valid");
    let url = SrtUrl::caller(([127, 0, 0, 1], 0).into())
        .with_passphrase(PUBLISHER_PASS, 16)
        .with_option("kmrefreshrate", "128")
        .with_option("kmpreannounce", "32");
    let cfg = server_with(encryption(PUBLISHER_PASS), encryption(SUBSCRIBER_PASS));
    let (report, stats) = publish(Tool::SrtLiveTransmit, url, cfg);
    let recv: u64 = report.all_stats().map(|s| s.km_refresh_recv).sum();
    let packets: u64 = stats.to_server.data_payload_sizes.values().sum();
    assert!(
        recv >= 2,
        "{recv} refreshes installed over {packets} packets: {report:?}"
    );

    let url = SrtUrl::caller(([127, 0, 0, 1], 0).into()).with_passphrase(SUBSCRIBER_PASS, 16);
    let cfg = server_with(
        encryption(PUBLISHER_PASS),
        Encryption {
            refresh,
            ..encryption(SUBSCRIBER_PASS)
        },
    );
    let (report, stats) = subscribe(Tool::Ffmpeg, url, cfg, 5.0);
    let sent: u64 = report.all_stats().map(|s| s.km_refresh_sent).sum();
    assert!(sent >= 2, "we refreshed our key: {report:?}");
    let retrans: u64 = report.all_stats().map(|s| s.pkt_retrans).sum();
    assert!(
        retrans > 0 && stats.to_client.dropped > 0,
        "loss recovered: {stats:?}"
    );
    eprintln!("refreshes: libsrt sent {recv} over {packets} packets; we sent {sent}");
}

/// Our caller publishes with a passphrase (AES-192) into srt-live-transmit listening with the
/// same one, refreshing its key every 128 packets: libsrt accepts our KMREQ, installs our
/// refreshes and writes the file byte for byte.
#[test]
fn our_encrypted_caller_publishes_into_libsrt_listener() {
    use srtrelay::driver::BlockingDriver;
    use srtrelay::srt::endpoint::{AcceptAll, Endpoint, EndpointConfig, EndpointEvent};
    use srtrelay::srt::handshake::CallerConfig;
    use srtrelay::srt::seq::SeqNo;
    use std::time::Instant;

    let file = test_file();
    let want = std::fs::read(&file).expect("test media");
    let out = media::scratch_dir("crypto_our_caller").join("received.ts");
    let listen = SrtUrl::listener(([127, 0, 0, 1], 0).into()).with_passphrase(PUBLISHER_PASS, 24);
    let mut sink = recipes::subscribe_with_srt_live_transmit(&listen, &out);
    let now = Instant::now();
    let mut endpoint = Endpoint::new(EndpointConfig::default(), None, now);
    endpoint.set_crypto_seed(file_server::os_random_seed());
    let mut driver =
        BlockingDriver::bind("127.0.0.1:0".parse().expect("literal"), endpoint).expect("bind");
    let mut cfg = CallerConfig::new(0, SeqNo::new(0), sink.addr());
    cfg.pbkeylen = 24;
    cfg.encryption = Encryption {
        refresh: KmRefresh::new(128, 32).expect("valid"),
        ..encryption(PUBLISHER_PASS)
    };
    let id = driver
        .endpoint
        .connect(now, cfg)
        .expect("valid caller config");
    let deadline = Instant::now() + TRANSFER_TIMEOUT;
    loop {
        driver
            .turn(&mut AcceptAll, Duration::from_millis(5))
            .expect("I/O");
        match driver.endpoint.poll_event() {
            Some(EndpointEvent::Connected { id: c }) if c == id => break,
            Some(other) => panic!("unexpected {other:?}"),
            None => assert!(Instant::now() < deadline, "no connection"),
        }
    }
    // 4x real time, then null filler so the tail is delivered before we close.
    let gap = Duration::from_nanos(2_000_000_000 / 4 / (want.len() as u64 / 1316));
    let filler = [media::ts_null_packet(); 7].concat();
    let mut chunks = want
        .chunks(1316)
        .chain(std::iter::repeat_n(filler.as_slice(), 100));
    let mut next = Instant::now();
    let mut done = false;
    while !done || media::file_len(sink.output()) < want.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "srt-live-transmit has {} of {} bytes",
            media::file_len(sink.output()),
            want.len()
        );
        driver
            .turn(&mut AcceptAll, Duration::from_millis(1))
            .expect("I/O");
        while !done && next <= Instant::now() {
            match chunks.next() {
                Some(chunk) => {
                    driver
                        .endpoint
                        .send(id, Instant::now(), chunk)
                        .expect("open connection");
                    next += gap;
                }
                None => done = true,
            }
        }
    }
    let stats = driver.endpoint.connection(id).expect("open").stats();
    driver.endpoint.close(id);
    driver.flush().expect("send SHUTDOWN");
    assert!(sink.wait_exit(Duration::from_secs(5)).is_some());
    media::assert_delivered(&file, sink.output());
    assert!(stats.km_refresh_sent >= 2, "{stats:?}");
}
