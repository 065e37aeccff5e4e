//! The binary's log at the default level tells an operator what happened to each caller: a
//! rejection names its code (as on the wire) and reason, a departure its duration and bytes,
//! a caller without a Stream ID the default stream it got, a player closed for want of a
//! publisher the wait. Captured from the real binary's stderr with real libsrt peers.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::feeder::Pace;
use support::media::{self, TsSpec};
use support::net::free_udp_addr;
use support::process::Proc;
use support::recipes;
use support::srt_url::SrtUrl;

/// Generous: the machine may be busy with other builds; every wait ends as soon as the line
/// is there.
const LOG_WAIT: Duration = Duration::from_secs(20);

fn start(name: &str, extra: &str) -> (Proc, std::net::SocketAddr) {
    let addr = free_udp_addr();
    // Not "oplog": the other test's `scratch_dir("oplog")` empties that one while this runs.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oplog-configs");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[srt]\nlisten = [\"{addr}\"]\n[playback]\nenabled = false\n[http]\nenabled = false\n[log]\nlevel = \"info\"\n\
             {extra}"
        ),
    )
    .expect("write config");
    let bin = Path::new(env!("CARGO_BIN_EXE_srtrelay"));
    (
        Proc::start_relay(bin, &path, "listening on", LOG_WAIT),
        addr,
    )
}

fn expect_line(relay: &mut Proc, needle: &str) {
    relay
        .wait_for_stderr(needle, LOG_WAIT)
        .unwrap_or_else(|e| panic!("log line {needle:?} missing: {e}"));
}

/// The line of the relay's stderr that contains every one of `parts`.
fn line_with(relay: &Proc, parts: &[&str]) -> String {
    let text = relay.stderr_text();
    text.lines()
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{text}"))
}

/// A publisher, a second publisher refused with 1409, a player that watches and leaves, a
/// player with the wrong passphrase (1010), and the publisher leaving: each leaves its line.
#[test]
fn rejections_and_departures_are_logged_at_info() {
    let (mut relay, addr) = start(
        "story",
        "[[encryption]]\nstreams = \"secret\"\nsubscriber_passphrase = \"players passphrase\"\n",
    );
    let file = media::test_ts(TsSpec::seconds(10));
    let url = SrtUrl::caller(addr).with_streamid("#!::r=cam,m=publish");
    let publisher =
        recipes::publish_with_srt_live_transmit(&file, &url, Pace::realtime(&file, 10, 1.0));
    expect_line(&mut relay, "publisher");

    // A second publisher for the same stream: 1409 under the default `reject` policy.
    let _ = recipes::rejected_srt_live_transmit(
        &url.clone().with_connect_timeout(Duration::from_secs(3)),
    );
    expect_line(&mut relay, "refused publisher for \"cam\"");
    let refused = line_with(&relay, &["refused publisher for \"cam\""]);
    assert!(refused.contains("1409 SRT_REJX_CONFLICT"), "{refused}");
    assert!(refused.contains(" INFO "), "at info: {refused}");

    // A player watches for a while, then leaves.
    let out = media::scratch_dir("oplog").join("player.ts");
    let mut player = recipes::subscribe_with_ffmpeg(
        &SrtUrl::caller(addr).with_streamid("#!::r=cam,m=request"),
        &out,
    );
    player
        .wait_for_len(100_000, LOG_WAIT)
        .unwrap_or_else(|e| panic!("{e}"));
    player.finish();
    expect_line(&mut relay, "player 0x");
    let left = line_with(&relay, &["player 0x", "on \"cam\" left after"]);
    let sent: u64 = left
        .split_once(" bytes sent")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bytes sent in {left}"));
    assert!(sent >= 100_000, "{left}");

    // The wrong passphrase: BADSECRET, 1010 on the wire.
    let wrong = SrtUrl::caller(addr)
        .with_streamid("#!::r=secret,m=request")
        .with_passphrase("not the passphrase", 16)
        .with_connect_timeout(Duration::from_secs(3));
    let _ = recipes::rejected_srt_live_transmit(&wrong);
    expect_line(&mut relay, "1010 SRT_REJ_BADSECRET");

    publisher.finish();
    expect_line(&mut relay, "on \"cam\" left after");
    let gone = line_with(&relay, &["publisher 0x", "on \"cam\" left after"]);
    assert!(gone.contains("bytes received"), "{gone}");
    relay.terminate(Duration::from_secs(5));
}

/// A caller without a Stream ID plays `default_stream`; nobody publishes it, so the wait runs
/// out and the player is closed: both are said, then its departure.
#[test]
fn default_stream_mapping_and_wait_timeout_are_logged_at_info() {
    let (mut relay, addr) = start(
        "wait",
        "[streams]\ndefault_stream = \"fallback\"\nunknown_stream_wait_ms = 1000\n",
    );
    let out = media::scratch_dir("oplog").join("waiting.ts");
    let mut player = recipes::subscribe_with_srt_live_transmit_no_wait(&SrtUrl::caller(addr), &out);
    expect_line(&mut relay, "sent no Stream ID");
    let mapped = line_with(&relay, &["sent no Stream ID"]);
    assert!(
        mapped.contains("plays the default stream \"fallback\""),
        "{mapped}"
    );
    expect_line(&mut relay, "no publisher in time");
    let closed = line_with(&relay, &["no publisher in time"]);
    assert!(closed.contains("on \"fallback\""), "{closed}");
    expect_line(&mut relay, "on \"fallback\" left after");
    let _ = player.wait_exit(LOG_WAIT);
    relay.terminate(Duration::from_secs(5));
}
