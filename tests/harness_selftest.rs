//! Proves the interop harness with libsrt on both ends: srt-live-transmit as a listener writing
//! to a file stands in for our server. If these fail, the relay's interop tests cannot be
//! trusted either. Also pins the tool behaviour documented in docs/interop-recipes.md.

// Timing the tests needs the wall clock (clippy.toml's ban is meant for the sans-IO core).
#![allow(clippy::disallowed_methods)]

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::lossy_proxy::{Direction, LossyProxy, ProxyConfig, handshake_stream_id};
use support::media::{self, SRT_LIVE_PAYLOAD, TsSpec};
use support::recipes::{self, FfmpegPublish, Pace, Publisher, Subscriber};
use support::srt_url::SrtUrl;
use support::tools;

const STREAM_ID: &str = "#!::r=live/selftest,m=publish";
/// libsrt's receiver sends its first periodic NAK 300 ms after the connection starts (the UDT
/// initial NAK interval; 20 ms once RTT is known). Until then a lost retransmission is not
/// asked for again, so with latency <= 300 ms a packet lost twice early on is dropped as too
/// late: measured 6 failures in 15 runs of test c at 250 ms, none at 400 ms on a quiet
/// machine, but 1 in 3 with two busy loops competing for the 2 cores. 1 s leaves several NAK
/// periods even then (the same margin as tests/interop.rs).
const LATENCY: Duration = Duration::from_millis(1000);
/// For the loss-free tail test: the tail a libsrt receiver loses grows with the latency
/// (latency x readrate of stream), so it keeps the latency it was calibrated with.
const TAIL_LATENCY: Duration = Duration::from_millis(400);
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// The stand-in server: srt-live-transmit listening on a free port, writing what it receives.
fn stand_in_server(test: &str) -> Subscriber {
    stand_in_server_with(test, LATENCY)
}

fn stand_in_server_with(test: &str, latency: Duration) -> Subscriber {
    let out = media::scratch_dir(test).join("received.ts");
    let url = SrtUrl::listener(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).with_latency(latency);
    recipes::subscribe_with_srt_live_transmit(&url, &out)
}

/// Waits for the whole file at the server, stops the publisher, checks the bytes and that the
/// server exits by itself once the publisher has gone (it runs with `-a no`).
fn expect_delivered(
    mut server: Subscriber,
    publisher: Publisher,
    expected: &std::path::Path,
    proxy: Option<&LossyProxy>,
) {
    let want = media::file_len(expected);
    let got = server.wait_for_len(want, TRANSFER_TIMEOUT);
    // The transfer is over: let the close through. libsrt sends SHUTDOWN once; if the proxy
    // dropped it the server would only notice after its 5 s peer-idle timeout.
    stop_loss(proxy);
    let publisher_status = publisher.finish();
    got.unwrap_or_else(|e| panic!("{e}"));
    let exit = server.wait_exit(Duration::from_secs(3));
    media::assert_delivered(expected, server.output());
    assert!(
        exit.is_some_and(|s| s.success()),
        "server did not exit cleanly after the publisher closed: {exit:?}"
    );
    assert!(
        publisher_status.code().is_some() || publisher_status.success(),
        "publisher was killed: {publisher_status}"
    );
}

fn stop_loss(proxy: Option<&LossyProxy>) {
    if let Some(proxy) = proxy {
        proxy.set_loss(Direction::ToServer, 0.0);
        proxy.set_loss(Direction::ToClient, 0.0);
    }
}

fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    eprintln!("{label}: {:.2} s", start.elapsed().as_secs_f64());
    out
}

#[test]
fn a_srt_live_transmit_publishes_through_clean_proxy_byte_exact() {
    timed("a (slt, 0% loss)", || {
        let file = media::test_ts(TsSpec::default());
        let server = stand_in_server("a_clean");
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()));
        let url = SrtUrl::caller(proxy.addr())
            .with_streamid(STREAM_ID)
            .with_latency(LATENCY);
        let publisher =
            recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 5, 4.0));
        expect_delivered(server, publisher, &file, Some(&proxy));

        let stats = proxy.stats();
        assert_eq!(
            stats.stream_ids,
            [STREAM_ID],
            "stream id as seen on the wire"
        );
        assert_eq!(stats.to_server.dropped + stats.to_client.dropped, 0);
        let sizes: Vec<usize> = stats.to_server.data_payload_sizes.keys().copied().collect();
        assert_eq!(
            sizes,
            [SRT_LIVE_PAYLOAD],
            "every data packet carries 7 TS packets"
        );
    });
}

#[test]
fn b_srt_live_transmit_publishes_through_5pct_loss_byte_exact() {
    timed("b (slt, 5% loss)", || {
        let file = media::test_ts(TsSpec::default());
        let server = stand_in_server("b_lossy");
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()).with_loss(5.0));
        let url = SrtUrl::caller(proxy.addr())
            .with_streamid(STREAM_ID)
            .with_latency(LATENCY);
        let publisher =
            recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 5, 4.0));
        expect_delivered(server, publisher, &file, Some(&proxy));

        let stats = proxy.stats();
        eprintln!("b proxy: {stats:?}");
        assert!(
            stats.to_server.dropped > 10,
            "data was actually lost on the way in: {stats:?}"
        );
        assert!(
            stats.to_client.dropped > 0,
            "ACKs/NAKs were actually lost on the way back: {stats:?}"
        );
    });
}

#[test]
fn c_ffmpeg_publishes_passthrough_byte_exact() {
    timed("c (ffmpeg passthrough, 5% loss)", || {
        let file = media::test_ts(TsSpec::default());
        let server = stand_in_server("c_ffmpeg");
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()).with_loss(5.0));
        let url = SrtUrl::caller(proxy.addr())
            .with_streamid(STREAM_ID)
            .with_latency(LATENCY);
        let how = FfmpegPublish::Passthrough {
            pace: Pace::realtime(&file, 5, 4.0),
        };
        let publisher = recipes::publish_with_ffmpeg(&file, &url, how);
        expect_delivered(server, publisher, &file, Some(&proxy));

        let stats = proxy.stats();
        assert_eq!(
            stats.stream_ids,
            [STREAM_ID],
            "ffmpeg sends the stream id raw"
        );
        let sizes: Vec<usize> = stats.to_server.data_payload_sizes.keys().copied().collect();
        assert_eq!(
            sizes,
            [SRT_LIVE_PAYLOAD],
            "ffmpeg passthrough sends whole 1316-byte messages"
        );
    });
}

/// srt-live-transmit does not pace a file: `cat file |` sends it in one burst, every packet
/// stamped with nearly the same time, so all of them share one delivery deadline. A small
/// burst (~100 packets) recovers from 5% loss; a 1000-packet burst often does not (see
/// docs/interop-recipes.md), which is why the other tests pace their input.
#[test]
fn srt_live_transmit_unpaced_small_burst_through_5pct_loss_byte_exact() {
    timed("slt small burst, 5% loss", || {
        let spec = TsSpec {
            seconds: 1,
            video_kbps: 800,
            ..TsSpec::default()
        };
        let file = media::test_ts(spec);
        assert!(
            media::file_len(&file) < 150 * SRT_LIVE_PAYLOAD as u64,
            "a small burst"
        );
        let server = stand_in_server("small_burst");
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()).with_loss(5.0));
        let url = SrtUrl::caller(proxy.addr()).with_latency(LATENCY);
        let publisher = recipes::publish_with_srt_live_transmit(&file, &url, Pace::Unpaced);
        expect_delivered(server, publisher, &file, Some(&proxy));
        assert!(proxy.stats().to_server.dropped > 0);
    });
}

#[test]
fn encrypted_ffmpeg_to_srt_live_transmit_byte_exact() {
    timed("aes-256", || {
        let file = media::test_ts(TsSpec::seconds(2));
        let out = media::scratch_dir("encrypted").join("received.ts");
        let listen = SrtUrl::listener(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .with_latency(LATENCY)
            .with_passphrase("selftest-passphrase", 32);
        let server = recipes::subscribe_with_srt_live_transmit(&listen, &out);
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()));
        let url = SrtUrl::caller(proxy.addr())
            .with_latency(LATENCY)
            .with_passphrase("selftest-passphrase", 32);
        let how = FfmpegPublish::Passthrough {
            pace: Pace::realtime(&file, 2, 4.0),
        };
        let publisher = recipes::publish_with_ffmpeg(&file, &url, how);
        expect_delivered(server, publisher, &file, Some(&proxy));
        let stats = proxy.stats().to_server;
        let data: u64 = stats.data_payload_sizes.values().sum();
        assert!(
            data > 100 && stats.encrypted_data == data,
            "all data encrypted: {stats:?}"
        );
    });
}

/// The usual `ffmpeg -re -i in.ts -c copy -f mpegts srt://...`: ffmpeg sends its remux, which is
/// byte-identical to an ffmpeg-made file, and closes as soon as it is done, so a libsrt
/// receiver loses what it had not delivered yet (the last ~latency of the stream).
#[test]
fn ffmpeg_remux_publisher_loses_the_tail_at_a_libsrt_receiver() {
    timed("ffmpeg remux", || {
        let file = media::test_ts(TsSpec {
            pad_to_srt_payload: false,
            ..TsSpec::default()
        });
        let reference = media::ffmpeg_remux_reference(&file);
        media::assert_same_bytes(&file, &reference);
        let mut server = stand_in_server_with("ffmpeg_remux", TAIL_LATENCY);
        let proxy = LossyProxy::start(ProxyConfig::new(server.addr()));
        let url = SrtUrl::caller(proxy.addr())
            .with_streamid(STREAM_ID)
            .with_latency(TAIL_LATENCY);
        let publisher = recipes::publish_with_ffmpeg(
            &file,
            &url,
            FfmpegPublish::Remux {
                readrate: Some(4.0),
            },
        );
        publisher.expect_exit(TRANSFER_TIMEOUT);
        let sizes = proxy.stats().to_server.data_payload_sizes;
        eprintln!("ffmpeg remux payload sizes: {sizes:?}");
        assert!(
            sizes.keys().all(|&n| n <= SRT_LIVE_PAYLOAD && n % 188 == 0),
            "TS-aligned messages of at most 1316 bytes: {sizes:?}"
        );
        assert!(
            server.wait_exit(Duration::from_secs(3)).is_some(),
            "server exits when ffmpeg closes"
        );
        match media::compare_files(&reference, server.output()) {
            Ok(()) => eprintln!("note: this time the whole remux arrived"),
            Err(m) => {
                eprintln!("ffmpeg remux: {m}");
                assert!(m.is_truncation(), "only the tail may be missing: {m}");
                assert!(
                    m.actual_len > m.expected_len / 2,
                    "most of the stream arrives: {m}"
                );
            }
        }
    });
}

#[test]
fn srt_live_transmit_and_ffmpeg_subscribe_byte_exact() {
    timed("subscribers", || {
        let file = media::test_ts(TsSpec::seconds(3));
        for (name, use_ffmpeg) in [("slt", false), ("ffmpeg", true)] {
            let dir = media::scratch_dir(&format!("subscribe_{name}"));
            // srt-live-transmit listening and sending stands in for our server's output side.
            let listen =
                SrtUrl::listener(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).with_latency(LATENCY);
            let publisher = recipes::publish_with_srt_live_transmit(
                &file,
                &listen,
                Pace::realtime(&file, 3, 4.0),
            );
            let source = publisher.addr();
            let proxy = LossyProxy::start(ProxyConfig::new(source).with_loss(3.0));
            let url = SrtUrl::caller(proxy.addr()).with_streamid("#!::r=live/selftest,m=request");
            let out = dir.join("out.ts");
            let mut sub = if use_ffmpeg {
                recipes::subscribe_with_ffmpeg(&url, &out)
            } else {
                recipes::subscribe_with_srt_live_transmit(&url, &out)
            };
            let got = sub.wait_for_len(media::file_len(&file), TRANSFER_TIMEOUT);
            stop_loss(Some(&proxy));
            publisher.finish();
            got.unwrap_or_else(|e| panic!("{name}: {e}"));
            let exit = sub.wait_exit(Duration::from_secs(3));
            media::assert_delivered(&file, &out);
            assert!(
                exit.is_some(),
                "{name} subscriber exits when the sender closes"
            );
            assert_eq!(
                proxy.stats().stream_ids,
                ["#!::r=live/selftest,m=request"],
                "{name}"
            );
        }
    });
}

#[test]
fn ffprobe_sees_video_and_audio() {
    let file = media::test_ts(TsSpec::seconds(3));
    let listen = SrtUrl::listener(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let publisher =
        recipes::publish_with_srt_live_transmit(&file, &listen, Pace::realtime(&file, 3, 1.0));
    let url = SrtUrl::caller(publisher.addr()).with_streamid("#!::r=live/selftest,m=request");
    let streams = timed("ffprobe", || recipes::probe_with_ffprobe(&url));
    assert_eq!(streams, ["video,h264", "audio,aac"]);
    drop(publisher);
}

#[test]
fn latency_units_and_raw_stream_id_per_tool() {
    let sid = "#!::u=alice,r=live/a b,m=publish";
    let url = SrtUrl::caller("127.0.0.1:9".parse().unwrap())
        .with_streamid(sid)
        .with_latency(Duration::from_millis(200));
    // srt-live-transmit: milliseconds. ffmpeg: microseconds. Stream id raw for both.
    assert_eq!(
        url.for_srt_live_transmit(),
        format!("srt://127.0.0.1:9?latency=200&streamid={sid}")
    );
    assert_eq!(
        url.for_ffmpeg(),
        format!("srt://127.0.0.1:9?latency=200000&streamid={sid}")
    );
    let listener =
        SrtUrl::listener("127.0.0.1:9".parse().unwrap()).with_passphrase("0123456789ab", 16);
    assert_eq!(
        listener.for_ffmpeg(),
        "srt://127.0.0.1:9?mode=listener&passphrase=0123456789ab&pbkeylen=16"
    );
}

#[test]
fn compare_reports_first_difference_and_truncation() {
    assert_eq!(media::compare_bytes(b"abcdef", b"abcdef"), Ok(()));
    let m = media::compare_bytes(b"abcdef", b"abXdef").unwrap_err();
    assert_eq!((m.first_diff, m.is_truncation()), (2, false));
    let m = media::compare_bytes(b"abcdef", b"abc").unwrap_err();
    assert_eq!(
        (m.first_diff, m.actual_len, m.is_truncation()),
        (3, 3, true)
    );
    let m = media::compare_bytes(b"abc", b"abcd").unwrap_err();
    assert_eq!((m.first_diff, m.is_truncation()), (3, false));
}

#[test]
fn generated_media_is_deterministic_and_padded() {
    let spec = TsSpec {
        seconds: 1,
        video_kbps: 500,
        ..TsSpec::default()
    };
    let path = media::test_ts(spec);
    assert_eq!(media::file_len(&path) % SRT_LIVE_PAYLOAD as u64, 0);
    // Regenerate into a different cache entry (unpadded) and compare the common prefix.
    let unpadded = media::test_ts(TsSpec {
        pad_to_srt_payload: false,
        ..spec
    });
    let (a, b) = (
        std::fs::read(&path).unwrap(),
        std::fs::read(&unpadded).unwrap(),
    );
    assert!(a.len() >= b.len() && a.len() - b.len() < SRT_LIVE_PAYLOAD);
    assert_eq!(&a[..b.len()], &b[..]);
    assert!(
        a[b.len()..]
            .chunks(188)
            .all(|p| p == media::ts_null_packet())
    );
}

#[test]
fn tool_versions() {
    let version = tools::libsrt_version();
    assert!(version >= (1, 5, 0), "{version:?}");
    assert!(tools::ffmpeg_version().starts_with("ffmpeg version"));
    assert_eq!(
        tools::parse_libsrt_version("SRT Library version: 1.5.1, clock type: X"),
        Some((1, 5, 1))
    );
    assert_eq!(tools::parse_libsrt_version("nothing"), None);
}

#[test]
fn proxy_loss_is_seeded_and_counted() {
    let echo = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    echo.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_echo = std::sync::Arc::clone(&stop);
    let echo_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop_echo.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = echo.recv_from(&mut buf) {
                echo.send_to(&buf[..n], from).unwrap();
            }
        }
    });
    let run = |seed| {
        let proxy = LossyProxy::start(ProxyConfig {
            seed,
            ..ProxyConfig::new(echo_addr).with_loss(20.0)
        });
        let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        for i in 0u32..200 {
            client.send_to(&i.to_be_bytes(), proxy.addr()).unwrap();
        }
        // Collect until the echo has been quiet for a while; order does not matter.
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut echoed = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(n) = client.recv(&mut buf) {
            echoed.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
        }
        echoed.sort_unstable();
        (echoed, proxy.stats())
    };
    let (first, stats) = run(7);
    let (second, _) = run(7);
    assert_eq!(first, second, "same seed, same datagrams lost");
    assert_ne!(first, run(8).0, "another seed, another pattern");
    assert_eq!(stats.to_server.forwarded + stats.to_server.dropped, 200);
    assert_eq!(
        stats.to_client.forwarded + stats.to_client.dropped,
        stats.to_server.forwarded
    );
    assert!(
        (20..=60).contains(&stats.to_server.dropped),
        "~20% of 200: {stats:?}"
    );
    assert_eq!(first.len() as u64, stats.to_client.forwarded);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    echo_thread.join().unwrap();
}

#[test]
fn sniffs_stream_id_from_a_conclusion_handshake() {
    let mut pkt = vec![0u8; 64];
    pkt[0] = 0x80; // control, type 0 = handshake
    pkt[16..20].copy_from_slice(&5u32.to_be_bytes()); // HSv5
    pkt[36..40].copy_from_slice(&0xFFFF_FFFFu32.to_be_bytes()); // conclusion
    pkt.extend_from_slice(&[0, 1, 0, 3]); // HSREQ, 3 words
    pkt.extend_from_slice(&[0; 12]);
    pkt.extend_from_slice(&[0, 5, 0, 2]); // SID, 2 words: "abcde" little-endian per word
    pkt.extend_from_slice(&[b'd', b'c', b'b', b'a', 0, 0, 0, b'e']);
    assert_eq!(handshake_stream_id(&pkt).as_deref(), Some("abcde"));
    pkt[39] = 1; // not a conclusion
    assert_eq!(handshake_stream_id(&pkt), None);
    assert_eq!(handshake_stream_id(&pkt[..30]), None);
}
