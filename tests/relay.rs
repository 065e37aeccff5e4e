//! The sharded relay engine end to end, with real libsrt peers on loopback: ffmpeg and
//! srt-live-transmit publish into it, srt-live-transmit and ffmpeg subscribe, and every
//! subscriber must get byte-identical TS from its join point. The engine runs in this process
//! (two shards on this 2-core machine) so the tests can read shard reports; the binary's own
//! lifecycle (signals) is tested in `tests/lifecycle.rs`.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use support::media::{self, TsSpec, file_len, ts_null_packet};
use support::recipes::{self, FfmpegPublish, Pace, Subscriber};
use support::srt_url::SrtUrl;

use srtrelay::config::{Config, SecondPublisher, UnknownStream};
use srtrelay::telemetry::ShardSnapshot;

const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// An in-process relay on 127.0.0.1 (a free port shared by every shard).
struct TestRelay(InProcessRelay);

impl TestRelay {
    fn start(tweak: impl FnOnce(&mut Config)) -> TestRelay {
        TestRelay(InProcessRelay::start(
            "[playback]\nenabled = false\n[http]\nenabled = false",
            |config| {
                // The relay proposes 500 ms (each side takes the larger proposal): the tools' 120 ms
                // default turns a thread descheduled for longer than that on a busy machine into
                // too-late drops, i.e. a byte comparison that fails for timing, not for the relay.
                config.srt.latency.default = Duration::from_millis(500);
                tweak(config);
            },
        ))
    }

    fn url(&self, streamid: Option<&str>) -> SrtUrl {
        let url = SrtUrl::caller(self.0.addr);
        match streamid {
            Some(s) => url.with_streamid(s),
            None => url,
        }
    }

    fn reports(&self) -> Vec<ShardSnapshot> {
        self.0.reports()
    }

    /// One line per connection with the counters that explain a delivery failure.
    fn diagnostics(&self) -> String {
        let mut out = String::new();
        for r in self.reports() {
            for c in &r.connections {
                let s = &c.stats;
                out += &format!(
                    "shard {} {:#x} {} {:?}: sent {} retrans {} snd_loss {} snd_drop {} nak_in {} buf {} rtt {:.2}ms\n",
                    r.shard,
                    c.id,
                    c.peer,
                    c.role,
                    s.pkt_sent,
                    s.pkt_retrans,
                    s.pkt_snd_loss,
                    s.pkt_snd_drop,
                    s.pkt_recv_nak,
                    s.pkt_snd_buf,
                    s.ms_rtt
                );
            }
            for st in &r.streams {
                out += &format!("shard {} stream {} {:?}\n", r.shard, st.name, st.traffic);
            }
        }
        out
    }

    /// Waits until the relay holds `n` subscribers of `name` (over all shards).
    fn wait_subscribers(&self, name: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let have: usize = self
                .reports()
                .iter()
                .flat_map(|r| r.streams.iter())
                .filter(|s| s.name == name)
                .map(|s| s.subscribers as usize)
                .sum();
            if have >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{have} of {n} subscribers of {name:?} connected after 30 s"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Payload bytes the relay stored for `name` (the publishing shard's count).
    fn ingress_bytes(&self, name: &str) -> u64 {
        self.reports()
            .iter()
            .flat_map(|r| r.streams.iter())
            .filter(|s| s.name == name)
            .map(|s| s.traffic.ingress_bytes)
            .max()
            .unwrap_or(0)
    }

    fn rejections(&self, code: u32) -> u64 {
        self.reports()
            .iter()
            .map(|r| r.endpoint.rejections.get(&code).copied().unwrap_or(0))
            .sum()
    }
}

fn publish_id(name: &str) -> String {
    format!("#!::r={name},m=publish")
}

fn request_id(name: &str) -> String {
    format!("#!::r={name},m=request")
}

/// `<target>/tmp/<test>/<name>.ts`, removed if left from an earlier run. (Not
/// `media::scratch_dir`, which empties the directory: a test's outputs share it.)
fn out_path(test: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(format!("{name}.ts"));
    let _ = std::fs::remove_file(&path);
    path
}

/// `got` must be a non-empty tail of `want` that starts on a TS packet boundary.
fn assert_tail_of(want: &[u8], got_path: &Path, diagnostics: &str) {
    let got = std::fs::read(got_path).expect("output readable");
    if !got.is_empty() && !want.ends_with(&got) {
        // Where it went wrong: the start of `got` in `want`, and the first difference after.
        let start = want
            .windows(188.min(got.len()))
            .position(|w| w == &got[..w.len()]);
        let diverge = start.map(|s| {
            want[s..]
                .iter()
                .zip(&got)
                .position(|(a, b)| a != b)
                .unwrap_or(want.len() - s)
        });
        panic!(
            "{}: {} bytes, found at {start:?} of the {}-byte source, diverging after {diverge:?}\n{diagnostics}",
            got_path.display(),
            got.len(),
            want.len()
        );
    }
    assert!(!got.is_empty(), "{}: nothing received", got_path.display());
    assert!(
        got.len() <= want.len() && want.ends_with(&got),
        "{}: {} bytes are not the last bytes of the {}-byte source",
        got_path.display(),
        got.len(),
        want.len()
    );
    assert_eq!(
        (want.len() - got.len()) % 188,
        0,
        "join point inside a TS packet"
    );
}

/// Waits until `path` stops growing for `quiet` (at most `timeout`); returns its length.
fn wait_quiet(path: &Path, quiet: Duration, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    let mut last = (file_len(path), Instant::now());
    while Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        let len = file_len(path);
        if len != last.0 {
            last = (len, Instant::now());
        } else if len > 0 && last.1.elapsed() >= quiet {
            break;
        }
    }
    last.0
}

/// `got` is each of `parts` in order, each followed by any number of TS null packets (what a
/// subscriber sees across publisher sessions fed by our feeder).
fn assert_sessions(parts: &[&Path], got_path: &Path) {
    let got = std::fs::read(got_path).expect("output readable");
    let null = ts_null_packet();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        let want = std::fs::read(part).expect("source readable");
        while got[at..].starts_with(&null) && !want.starts_with(&null) {
            at += 188;
        }
        assert!(
            got[at..].starts_with(&want),
            "{}: session {i} ({}) not found intact at byte {at}",
            got_path.display(),
            part.display()
        );
        at += want.len();
    }
    assert!(
        got[at..].chunks(188).all(|p| p == null),
        "{}: unexpected bytes after the last session",
        got_path.display()
    );
}

/// What users do: `ffmpeg -re -i in.ts -c copy -f mpegts srt://relay?streamid=...publish` and
/// any number of players. Four subscribers (two of each tool) are there from the start and get
/// the whole stream; two join 3 s in and get it from a keyframe on. All byte-identical.
#[test]
fn ffmpeg_publishes_ten_seconds_to_six_subscribers() {
    let relay = TestRelay::start(|_| {});
    let file = media::test_ts(TsSpec::seconds(10));
    let want = std::fs::read(media::ffmpeg_remux_reference(&file)).expect("reference");
    let sid = request_id("cam1");
    let mut early: Vec<Subscriber> = Vec::new();
    for i in 0..2 {
        let out = out_path("relay_six", &format!("slt{i}"));
        early.push(recipes::subscribe_with_srt_live_transmit_no_wait(
            &relay.url(Some(&sid)),
            &out,
        ));
        let out = out_path("relay_six", &format!("ffmpeg{i}"));
        early.push(recipes::subscribe_with_ffmpeg(&relay.url(Some(&sid)), &out));
    }
    relay.wait_subscribers("cam1", 4);
    let publisher = recipes::publish_with_ffmpeg(
        &file,
        &relay.url(Some(&publish_id("cam1"))),
        FfmpegPublish::Remux {
            readrate: Some(1.0),
        },
    );
    thread::sleep(Duration::from_secs(3));
    let late = vec![
        recipes::subscribe_with_srt_live_transmit_no_wait(
            &relay.url(Some(&sid)),
            &out_path("relay_six", "late_slt"),
        ),
        recipes::subscribe_with_ffmpeg(
            &relay.url(Some(&sid)),
            &out_path("relay_six", "late_ffmpeg"),
        ),
    ];
    publisher.expect_exit(TRANSFER_TIMEOUT);
    // ffmpeg closes right after its last packet and libsrt drops what it had not sent yet
    // (live mode, no linger): the relay can only forward what it got. Its subscribers stay
    // connected for the grace period, so they get all of that.
    let got_by_relay = relay.ingress_bytes("cam1") as usize;
    assert!(
        got_by_relay > want.len() * 9 / 10 && got_by_relay <= want.len(),
        "the relay received {got_by_relay} of {} bytes",
        want.len()
    );
    let want = &want[..got_by_relay];
    for s in &mut early {
        s.wait_for_len(want.len() as u64, TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}\n{}", relay.diagnostics()));
    }
    for s in early {
        let got = std::fs::read(s.output()).expect("output");
        assert!(got == want, "{}: not byte-identical", s.output().display());
    }
    let diag = relay.diagnostics();
    for s in late {
        wait_quiet(s.output(), Duration::from_millis(700), TRANSFER_TIMEOUT);
        assert_tail_of(want, s.output(), &diag);
        let got = file_len(s.output());
        assert!(
            got < want.len() as u64 && got > want.len() as u64 / 4,
            "late joiner got {got} of {} bytes",
            want.len()
        );
    }
}

/// Sixteen subscribers spread over both shards by SO_REUSEPORT: the ones on the shard without
/// the publisher are fed through the cross-shard handoff, and all get the same bytes.
#[test]
fn sixteen_subscribers_over_two_shards_use_the_handoff() {
    let relay = TestRelay::start(|_| {});
    let file = media::test_ts(TsSpec::seconds(4));
    let sid = request_id("fan");
    let mut subs: Vec<Subscriber> = (0..16)
        .map(|i| {
            let out = out_path("relay_sixteen", &format!("sub{i}"));
            if i % 4 == 0 {
                recipes::subscribe_with_ffmpeg(&relay.url(Some(&sid)), &out)
            } else {
                recipes::subscribe_with_srt_live_transmit_no_wait(&relay.url(Some(&sid)), &out)
            }
        })
        .collect();
    relay.wait_subscribers("fan", 16);
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &relay.url(Some(&publish_id("fan"))),
        Pace::realtime(&file, 4, 1.0),
    );
    // While the stream runs: subscribers on both shards, and packets crossing (polled: on a
    // busy machine the first handoff may take longer than the 2 s this once slept). Each shard
    // answers a report on its own next wake-up (up to 20 ms apart since the tick sleeps to its
    // next deadline), so the first handoff can show on the receiving side of a report before
    // on the sending side: wait for both.
    let deadline = Instant::now() + Duration::from_secs(30);
    let reports = loop {
        let reports = relay.reports();
        let received = reports.iter().any(|r| {
            r.counters.handoffs_in > 0 && !r.streams.iter().any(|s| s.publisher.is_some())
        });
        let sent = reports.iter().any(|r| {
            r.streams
                .iter()
                .any(|s| s.name == "fan" && s.publisher.is_some() && s.traffic.handoffs_out > 0)
        });
        let crossed = received && sent;
        if crossed || Instant::now() >= deadline {
            break reports;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(reports.len(), 2, "two shards");
    let subs_per_shard: Vec<usize> = reports
        .iter()
        .map(|r| r.streams.iter().map(|s| s.subscribers as usize).sum())
        .collect();
    assert_eq!(
        subs_per_shard.iter().sum::<usize>(),
        16,
        "{subs_per_shard:?}"
    );
    assert!(
        subs_per_shard.iter().all(|&n| n > 0),
        "both shards serve subscribers: {subs_per_shard:?}"
    );
    let publishing = reports
        .iter()
        .position(|r| r.streams.iter().any(|s| s.publisher.is_some()))
        .expect("a shard publishes");
    let other = &reports[1 - publishing];
    assert!(
        other.counters.handoffs_in > 0,
        "no handoff reached shard {}",
        other.shard
    );
    let out_stream = reports[publishing]
        .streams
        .iter()
        .find(|s| s.name == "fan")
        .expect("stream on the publishing shard");
    assert!(out_stream.traffic.handoffs_out > 0);
    assert_eq!(out_stream.forwarding_to, vec![1 - publishing]);
    publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    for s in &mut subs {
        s.wait_for_len(file_len(&file), TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    publisher.finish();
    for s in subs {
        media::assert_delivered(&file, s.output());
    }
}

/// `streams.fanout_linger_ms` holds a publisher's packets before fanning them out: every byte
/// still arrives, on both shards, and the publisher's last packets are not overtaken by its
/// departure.
#[test]
fn lingering_fan_out_delivers_every_byte() {
    let relay = TestRelay::start(|c| c.streams.fanout_linger = Duration::from_millis(10));
    let file = media::test_ts(TsSpec::seconds(3));
    let sid = request_id("linger");
    let mut subs: Vec<Subscriber> = (0..4)
        .map(|i| {
            let out = out_path("relay_linger", &format!("sub{i}"));
            recipes::subscribe_with_srt_live_transmit_no_wait(&relay.url(Some(&sid)), &out)
        })
        .collect();
    relay.wait_subscribers("linger", 4);
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &relay.url(Some(&publish_id("linger"))),
        Pace::realtime(&file, 3, 1.0),
    );
    publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    for s in &mut subs {
        s.wait_for_len(file_len(&file), TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}\n{}", relay.diagnostics()));
    }
    publisher.finish();
    for s in subs {
        media::assert_delivered(&file, s.output());
    }
}

/// One subscriber is killed mid-stream, one is frozen (SIGSTOP: it neither reads nor
/// acknowledges); the other two still get every byte.
#[test]
fn killed_and_frozen_subscribers_do_not_disturb_the_others() {
    let relay = TestRelay::start(|_| {});
    let file = media::test_ts(TsSpec::seconds(6));
    let sid = request_id("robust");
    let url = relay.url(Some(&sid));
    let mut good = vec![
        recipes::subscribe_with_srt_live_transmit_no_wait(
            &url,
            &out_path("relay_robust", "good_slt"),
        ),
        recipes::subscribe_with_ffmpeg(&url, &out_path("relay_robust", "good_ffmpeg")),
    ];
    let mut doomed = recipes::subscribe_with_srt_live_transmit_no_wait(
        &url,
        &out_path("relay_robust", "killed"),
    );
    let mut frozen = recipes::subscribe_with_srt_live_transmit_no_wait(
        &url,
        &out_path("relay_robust", "frozen"),
    );
    relay.wait_subscribers("robust", 4);
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &relay.url(Some(&publish_id("robust"))),
        Pace::realtime(&file, 6, 1.0),
    );
    thread::sleep(Duration::from_secs(1));
    doomed.proc().kill();
    frozen.proc().signal(libc_sigstop());
    publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    for s in &mut good {
        s.wait_for_len(file_len(&file), TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    publisher.finish();
    for s in &good {
        media::assert_delivered(&file, s.output());
    }
    // The frozen one's connection is dropped by the idle timeout or keeps skipping; the
    // relay never waited for it.
    frozen.proc().signal(libc_sigcont());
}

fn libc_sigstop() -> i32 {
    19
}

fn libc_sigcont() -> i32 {
    18
}

/// The publisher goes away and a new one comes back within the grace period: the subscriber
/// stays connected and gets both sessions, in order, byte for byte.
#[test]
fn publisher_reconnect_resumes_delivery() {
    let relay = TestRelay::start(|_| {});
    let first = media::test_ts(TsSpec::seconds(2));
    let second = media::test_ts(TsSpec {
        seconds: 3,
        fps: 25,
        ..TsSpec::default()
    });
    let out = out_path("relay_reconnect", "sub");
    let mut sub = recipes::subscribe_with_srt_live_transmit_no_wait(
        &relay.url(Some(&request_id("re"))),
        &out,
    );
    relay.wait_subscribers("re", 1);
    for (file, seconds) in [(&first, 2), (&second, 3)] {
        let base = file_len(&out);
        let mut publisher = recipes::publish_with_srt_live_transmit(
            file,
            &relay.url(Some(&publish_id("re"))),
            Pace::realtime(file, seconds, 2.0),
        );
        publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
        sub.wait_for_len(base + file_len(file), TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        thread::sleep(Duration::from_millis(300));
        publisher.finish();
        thread::sleep(Duration::from_millis(300));
    }
    wait_quiet(&out, Duration::from_millis(500), TRANSFER_TIMEOUT);
    assert_sessions(&[&first, &second], &out);
}

/// An encoder that reconnects mid-GOP (its new session starts inside a picture, no tables
/// first): a player that watched the first session gets the new one from the datagram of its
/// first keyframe, not the broken GOP before it, and byte for byte from there.
#[test]
fn a_publisher_back_mid_gop_reaches_its_watchers_from_its_next_keyframe() {
    const DGRAM: usize = 7 * 188;
    let relay = TestRelay::start(|_| {});
    let first = media::test_ts(TsSpec::seconds(2));
    let whole = std::fs::read(media::test_ts(TsSpec::seconds(4))).unwrap();
    let dgrams: Vec<&[u8]> = whole.chunks(DGRAM).collect();
    let pid = |p: &[u8]| (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    let keyframe = |d: &[u8]| d.chunks(188).any(media::is_video_keyframe);
    // A few datagrams past the second keyframe, at one that starts with neither a table nor a
    // keyframe.
    let second_key = (0..dgrams.len())
        .filter(|&i| keyframe(dgrams[i]))
        .nth(1)
        .unwrap();
    let cut = (second_key + 5..dgrams.len())
        .find(|&i| pid(dgrams[i]) >= 0x20 && !keyframe(dgrams[i]))
        .unwrap();
    let next_key = (cut..dgrams.len()).find(|&i| keyframe(dgrams[i])).unwrap();
    let resumed = out_path("relay_mid_gop", "resumed.ts");
    std::fs::write(&resumed, &whole[cut * DGRAM..]).unwrap();
    let out = out_path("relay_mid_gop", "sub");
    let mut sub = recipes::subscribe_with_srt_live_transmit_no_wait(
        &relay.url(Some(&request_id("gop"))),
        &out,
    );
    relay.wait_subscribers("gop", 1);
    let want_after = &whole[next_key * DGRAM..];
    for (file, seconds, want) in [
        (first.as_path(), 2, file_len(&first)),
        (resumed.as_path(), 2, want_after.len() as u64),
    ] {
        let base = file_len(&out);
        let mut publisher = recipes::publish_with_srt_live_transmit(
            file,
            &relay.url(Some(&publish_id("gop"))),
            Pace::realtime(file, seconds, 2.0),
        );
        publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
        sub.wait_for_len(base + want, TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"));
        thread::sleep(Duration::from_millis(300));
        publisher.finish();
        thread::sleep(Duration::from_millis(300));
    }
    wait_quiet(&out, Duration::from_millis(500), TRANSFER_TIMEOUT);
    let got = std::fs::read(&out).unwrap();
    let want_first = std::fs::read(&first).unwrap();
    assert!(got.starts_with(&want_first), "the first session whole");
    let null = ts_null_packet();
    let mut at = want_first.len();
    while got[at..].starts_with(&null) {
        at += 188;
    }
    assert!(
        got[at..].starts_with(want_after),
        "the second session from its keyframe's datagram ({} datagrams after the cut skipped)",
        next_key - cut
    );
}

/// A second publisher is refused with 1409 under `reject`, and takes the stream over under
/// `takeover` (the first is disconnected, the subscriber gets the newcomer's bytes).
#[test]
fn second_publisher_is_refused_or_takes_over() {
    let relay = TestRelay::start(|c| c.streams.policy.second_publisher = SecondPublisher::Reject);
    let file = media::test_ts(TsSpec::seconds(3));
    let url = relay.url(Some(&publish_id("one")));
    let first = recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 3, 1.0));
    let mut second = recipes::publish_with_ffmpeg(
        &file,
        &url.clone().with_connect_timeout(Duration::from_secs(2)),
        FfmpegPublish::Passthrough {
            pace: Pace::realtime(&file, 3, 1.0),
        },
    );
    let exit = second
        .proc()
        .wait_timeout(Duration::from_secs(10))
        .expect("the second publisher gives up");
    assert!(!exit.success());
    assert_eq!(relay.rejections(1409), 1);
    first.finish();

    let relay = TestRelay::start(|c| c.streams.policy.second_publisher = SecondPublisher::Takeover);
    let url = relay.url(Some(&publish_id("one")));
    let out = out_path("relay_takeover", "sub");
    let sub = recipes::subscribe_with_srt_live_transmit_no_wait(
        &relay.url(Some(&request_id("one"))),
        &out,
    );
    relay.wait_subscribers("one", 1);
    let other = media::test_ts(TsSpec {
        seconds: 2,
        fps: 25,
        ..TsSpec::default()
    });
    let mut first =
        recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 3, 0.5));
    thread::sleep(Duration::from_secs(1));
    let mut second =
        recipes::publish_with_srt_live_transmit(&other, &url, Pace::realtime(&other, 2, 2.0));
    let exit = first.proc().wait_timeout(Duration::from_secs(10));
    assert!(exit.is_some(), "the displaced publisher is disconnected");
    second.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    thread::sleep(Duration::from_millis(800));
    second.finish();
    let got = std::fs::read(&out).expect("output");
    let want = std::fs::read(&other).expect("source");
    assert!(
        got.windows(want.len()).any(|w| w == want.as_slice()),
        "the newcomer's stream is delivered intact"
    );
    sub.finish();
}

/// Under `unknown_stream = "reject"` a player for a stream nobody publishes gets 1404.
#[test]
fn unknown_stream_is_refused_with_1404() {
    let relay = TestRelay::start(|c| c.streams.policy.unknown_stream = UnknownStream::Reject);
    let url = relay
        .url(Some(&request_id("nobody")))
        .with_connect_timeout(Duration::from_secs(2));
    let out = out_path("relay_1404", "sub");
    let mut sub = recipes::subscribe_with_ffmpeg(&url, &out);
    let exit = sub
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up");
    assert!(!exit.success());
    assert_eq!(file_len(&out), 0);
    assert_eq!(relay.rejections(1404), 1);
}

/// A player that sends no Stream ID (VLC, plain URLs) gets `streams.default_stream`.
#[test]
fn player_without_streamid_gets_the_default_stream() {
    let relay = TestRelay::start(|c| c.streams.policy.default_stream = "lobby".into());
    let file = media::test_ts(TsSpec::seconds(2));
    let out = out_path("relay_default", "sub");
    let mut sub = recipes::subscribe_with_srt_live_transmit_no_wait(&relay.url(None), &out);
    relay.wait_subscribers("lobby", 1);
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &relay.url(Some(&publish_id("lobby"))),
        Pace::realtime(&file, 2, 2.0),
    );
    publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    sub.wait_for_len(file_len(&file), TRANSFER_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"));
    publisher.finish();
    media::assert_delivered(&file, sub.output());
}

/// Per-stream passphrases through the relay: srt-live-transmit publishes with the publishers'
/// passphrase (AES-256), two players use the players' passphrase (AES-128 and AES-192, so each
/// leg has its own key) and get byte-identical TS; a player with a wrong passphrase is refused
/// with BADSECRET (10, 1010 on the wire) and one without any with UNSECURE (11, 1011).
#[test]
fn encrypted_stream_with_separate_publisher_and_player_passphrases() {
    let relay = TestRelay::start(|c| {
        let rules = Config::from_toml(
            "[playback]\nenabled = false\n[http]\nenabled = false\n[[encryption]]\nstreams = \"sec/*\"\n\
             publisher_passphrase = \"encoder secret 1\"\nsubscriber_passphrase = \"player secret 2\"\n",
        )
        .expect("valid encryption rules");
        c.encryption = rules.encryption;
    });
    let file = media::test_ts(TsSpec::seconds(3));
    let players: Vec<Subscriber> = [16, 24]
        .into_iter()
        .map(|len| {
            recipes::subscribe_with_srt_live_transmit_no_wait(
                &relay
                    .url(Some(&request_id("sec/cam")))
                    .with_passphrase("player secret 2", len),
                &out_path("relay_crypto", &format!("aes{len}")),
            )
        })
        .collect();
    relay.wait_subscribers("sec/cam", 2);
    for (name, passphrase, code) in [("wrong", Some("not the secret"), 10), ("clear", None, 11)] {
        let mut url = relay
            .url(Some(&request_id("sec/cam")))
            .with_connect_timeout(Duration::from_secs(2));
        if let Some(p) = passphrase {
            url = url.with_passphrase(p, 16);
        }
        let mut sub = recipes::subscribe_with_ffmpeg(&url, &out_path("relay_crypto", name));
        let exit = sub
            .wait_exit(Duration::from_secs(10))
            .expect("ffmpeg gives up");
        assert!(!exit.success(), "{name} must be refused");
        assert_eq!(relay.rejections(code), 1, "{name}: reject {code} counted");
    }
    let mut publisher = recipes::publish_with_srt_live_transmit(
        &file,
        &relay
            .url(Some(&publish_id("sec/cam")))
            .with_passphrase("encoder secret 1", 32),
        Pace::realtime(&file, 3, 1.0),
    );
    publisher.wait_fed(TRANSFER_TIMEOUT).expect("fed");
    let mut players = players;
    for s in &mut players {
        s.wait_for_len(file_len(&file), TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}\n{}", relay.diagnostics()));
    }
    publisher.finish();
    for s in &players {
        media::assert_delivered(&file, s.output());
    }
}
