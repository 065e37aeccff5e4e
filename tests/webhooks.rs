//! `[webhooks]` end to end: a webhook server in the test admits, refuses and hangs; libsrt
//! callers (srt-live-transmit), ffmpeg over RTMP and HTTP players get the protocol's answer;
//! a hanging callback delays nobody else; answers are cached; departures are notified.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use support::feeder::Pace;
use support::http_client;
use support::media::{self, TsSpec};
use support::process::Proc;
use support::recipes;
use support::srt_url::SrtUrl;
use support::webhook_server::WebhookServer;

const T: Duration = Duration::from_secs(60);

fn relay(hooks: &WebhookServer) -> InProcessRelay {
    let toml = format!(
        "[http]\nenabled = false\n[webhooks]\non_publish = \"{}\"\non_play = \"{}\"\n\
         on_publish_done = \"{}\"\non_play_done = \"{}\"\ntimeout_ms = 1500\n\
         cache_ms = 30000\ndeny_cache_ms = 30000\n",
        hooks.url("/hook/publish"),
        hooks.url("/hook/play"),
        hooks.url("/hook/publish_done"),
        hooks.url("/hook/play_done"),
    );
    InProcessRelay::start(&toml, |c| {
        c.srt.latency.default = Duration::from_millis(300);
    })
}

fn rejections(relay: &InProcessRelay, code: u32) -> u64 {
    relay
        .reports()
        .iter()
        .map(|r| r.endpoint.rejections.get(&code).copied().unwrap_or(0))
        .sum()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn live(relay: &InProcessRelay, name: &str) -> bool {
    relay
        .reports()
        .iter()
        .flat_map(|r| r.streams.iter())
        .any(|s| s.name == name && s.publisher.is_some())
}

#[test]
fn srt_callers_get_the_webhooks_answer_and_a_hanging_one_delays_nobody() {
    let hooks = WebhookServer::start();
    let relay = relay(&hooks);
    let dir = media::scratch_dir("webhooks-srt");
    let file = media::test_ts(TsSpec::seconds(20));
    let caller = |sid: &str| SrtUrl::caller(relay.addr).with_streamid(sid);

    // Admitted: the callback saw the Stream ID, its fields and the caller.
    let url = caller("#!::r=live/ok,m=publish,u=alice");
    let publisher =
        recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 20, 1.0));
    wait_until("live/ok is live", || live(&relay, "live/ok"));
    let asked = hooks.calls("on_publish");
    assert_eq!(asked.len(), 1, "{asked:#?}");
    let a = &asked[0];
    assert_eq!(a["stream"], "live/ok");
    assert_eq!(a["protocol"], "srt");
    assert_eq!(a["user"], "alice");
    assert_eq!(a["stream_id"], "#!::r=live/ok,m=publish,u=alice");
    assert_eq!(a["ip"], "127.0.0.1");
    let mut player = recipes::subscribe_with_srt_live_transmit_no_wait(
        &caller("#!::r=live/ok,m=request"),
        &dir.join("player.ts"),
    );
    player
        .wait_for_len(1316, T)
        .expect("the admitted player plays");

    // Refused with 403 -> 1403; the refusal is cached: a second try asks nobody.
    for _ in 0..2 {
        let log = recipes::rejected_srt_live_transmit(&caller("#!::r=live/deny,m=publish"));
        assert!(log.contains("REJECT"), "{log}");
    }
    assert_eq!(rejections(&relay, 1403), 2);
    let denied: Vec<_> = hooks
        .calls("on_publish")
        .into_iter()
        .filter(|c| c["stream"] == "live/deny")
        .collect();
    assert_eq!(denied.len(), 1, "one call for two refusals: {denied:#?}");
    let log = recipes::rejected_srt_live_transmit(&caller("#!::r=live/gone,m=request"));
    assert!(log.contains("REJECT"), "{log}");
    assert_eq!(rejections(&relay, 1404), 1);

    // A callback that never answers: that caller waits and is refused with 1502 at the
    // timeout, while a new player is admitted at once and the old one keeps receiving.
    let slow = thread::spawn({
        let url = caller("#!::r=live/slow,m=publish");
        move || recipes::rejected_srt_live_transmit(&url)
    });
    hooks.wait_calls("on_publish", T, |c| {
        c.iter().any(|b| b["stream"] == "live/slow")
    });
    let had = std::fs::metadata(player.output()).map_or(0, |m| m.len());
    let started = Instant::now();
    let mut second = recipes::subscribe_with_srt_live_transmit_no_wait(
        &caller("#!::r=live/ok,m=request,u=bob"),
        &dir.join("second.ts"),
    );
    second
        .wait_for_len(1316, T)
        .expect("a second player is admitted while the slow callback hangs");
    let took = started.elapsed();
    player
        .wait_for_len(had + 64 * 1316, T)
        .expect("the first player keeps receiving");
    let log = slow.join().expect("slow caller");
    assert!(log.contains("REJECT"), "{log}");
    assert_eq!(rejections(&relay, 1502), 1);
    assert!(
        took < Duration::from_secs(5),
        "the second player waited {took:?} behind the hanging callback"
    );

    // Departures are notified.
    drop(second);
    publisher.finish();
    let done = hooks.wait_calls("on_publish_done", T, |c| !c.is_empty());
    assert_eq!(done[0]["stream"], "live/ok");
    assert_eq!(done[0]["protocol"], "srt");
    assert!(done[0]["duration_ms"].as_str().is_some(), "{done:#?}");
    hooks.wait_calls("on_play_done", T, |c| {
        c.iter().filter(|b| b["stream"] == "live/ok").count() >= 1
    });
}

fn publish_rtmp(relay: &InProcessRelay, file: &std::path::Path, app_key: &str) -> Proc {
    recipes::publish_flv_with_ffmpeg(file, &format!("rtmp://{}/{app_key}", relay.rtmp_addr()))
}

#[test]
fn rtmp_publishers_and_http_players_get_the_webhooks_answer() {
    let hooks = WebhookServer::start();
    let relay = relay(&hooks);
    let file = media::test_ts(TsSpec::seconds(6));

    let mut refused = publish_rtmp(&relay, &file, "live/cam1?token=deny");
    let st = refused.wait_timeout(T).expect("ffmpeg gives up");
    assert!(!st.success(), "a refused RTMP publish fails");
    let mut p = publish_rtmp(&relay, &file, "live/cam1?token=good");
    wait_until("live/cam1 is live", || live(&relay, "live/cam1"));
    let asked = hooks.calls("on_publish");
    assert_eq!(asked.len(), 2, "{asked:#?}");
    assert!(
        asked
            .iter()
            .all(|a| a["protocol"] == "rtmp" && a["app"] == "live")
    );
    assert!(asked.iter().any(|a| a["query"] == "token=good"));

    let play = relay.playback_addr();
    let mut ok = http_client::get(play, "/live/cam1.ts?token=good", T).expect("GET");
    assert_eq!(ok.status, 200);
    assert!(ok.read_body_until(188 * 7, T).len() >= 188 * 7);
    let denied = http_client::get(play, "/live/cam1.ts?token=deny", T).expect("GET");
    assert_eq!(denied.status, 403);
    let gone = http_client::get(play, "/live/cam1.ts?token=gone", T).expect("GET");
    assert_eq!(gone.status, 404);
    let plays = hooks.calls("on_play");
    assert_eq!(plays.len(), 3, "{plays:#?}");
    assert!(plays.iter().all(|a| a["protocol"] == "http"
        && a["path"] == "/live/cam1.ts"
        && a["stream"] == "live/cam1"));

    let st = p.wait_timeout(T).expect("ffmpeg finishes");
    assert!(st.success(), "{}", p.diagnostics());
    let done = hooks.wait_calls("on_publish_done", T, |c| !c.is_empty());
    assert_eq!(done[0]["protocol"], "rtmp");
    assert_eq!(done[0]["stream"], "live/cam1");
}

/// `max_pending` bounds what callers can make the relay hold: with two calls hanging, a third
/// caller is refused at once with 1402 (and counted), not queued; once the hanging ones time
/// out, callers are served again.
#[test]
fn callbacks_beyond_max_pending_are_refused_at_once_as_overload() {
    let hooks = WebhookServer::start();
    let toml = format!(
        "[http]\nenabled = false\n[webhooks]\non_play = \"{}\"\ntimeout_ms = 2500\n\
         max_pending = 2\n",
        hooks.url("/hook/play"),
    );
    let relay = InProcessRelay::start(&toml, |_| {});
    let caller = |sid: &str| {
        SrtUrl::caller(relay.addr)
            .with_streamid(sid)
            .with_connect_timeout(Duration::from_secs(4))
    };
    let hanging: Vec<_> = ["a", "b"]
        .iter()
        .map(|n| {
            let url = caller(&format!("#!::r=live/slow-{n},m=request"));
            thread::spawn(move || recipes::rejected_srt_live_transmit(&url))
        })
        .collect();
    hooks.wait_calls("on_play", T, |c| c.len() == 2);
    let started = Instant::now();
    let log = recipes::rejected_srt_live_transmit(&caller("#!::r=live/third,m=request"));
    assert!(log.contains("REJECT"), "{log}");
    assert_eq!(rejections(&relay, 1402), 1, "refused as overload");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused at once, not after the hanging calls"
    );
    assert_eq!(
        hooks.calls("on_play").len(),
        2,
        "the third call was never made"
    );
    for h in hanging {
        let log = h.join().expect("hanging caller");
        assert!(log.contains("REJECT"), "{log}");
    }
    assert_eq!(rejections(&relay, 1502), 2);
    let busy: u64 = relay
        .reports()
        .iter()
        .map(|r| r.counters.webhooks.calls[1][4])
        .sum();
    assert_eq!(busy, 1, "counted as busy");
    // The permits are back: the next caller's call is made (and refused only by its answer).
    let log = recipes::rejected_srt_live_transmit(&caller("#!::r=live/gone,m=request"));
    assert!(log.contains("REJECT"), "{log}");
    assert_eq!(rejections(&relay, 1404), 1);
}

/// `on_record_done`: every finished segment of a `[[record]]` rule is reported with its path
/// and size, which match the file on disk.
#[test]
fn finished_recording_segments_are_notified() {
    let hooks = WebhookServer::start();
    let dir = media::scratch_dir("webhooks-record");
    let file = media::test_ts(TsSpec::seconds(8));
    let toml = format!(
        "[http]\nenabled = false\n[playback]\nenabled = false\n[rtmp]\nenabled = false\n\
         [webhooks]\non_record_done = \"{}\"\n\
         [[inputs]]\nstream = \"rec/hook\"\nurl = \"file://{}\"\nretry_delay_ms = 600000\n\
         [[record]]\nstreams = \"rec/hook\"\npath = \"{}/{{stream}}-{{time}}.ts\"\nsegment_s = 2\n",
        hooks.url("/hook/record"),
        file.display(),
        dir.display()
    );
    let _relay = InProcessRelay::start(&toml, |_| {});
    let done = hooks.wait_calls("on_record_done", T, |c| c.len() >= 2);
    for d in &done {
        assert_eq!(d["stream"], "rec/hook");
        assert_eq!(d["protocol"], "record");
        assert_eq!(d["kind"], "segment");
        let path = d["path"].as_str().expect("a path");
        let len = std::fs::metadata(path).expect("the segment exists").len();
        assert_eq!(d["bytes"], len.to_string(), "{d}");
        assert!(len > 0 && len % 188 == 0, "{path}: {len}");
    }
}
