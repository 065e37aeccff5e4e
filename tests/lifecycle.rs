//! The srtrelay binary's lifecycle with real libsrt peers: SIGHUP reloads policies without
//! dropping anyone, SIGTERM sends SHUTDOWN to every peer and exits within a second.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::net::free_udp_addr;
use support::process::Proc;
use support::recipes;
use support::srt_url::SrtUrl;

const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

fn config_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lifecycle");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(format!("{name}.toml"))
}

fn write_config(path: &PathBuf, addr: std::net::SocketAddr, unknown_stream: &str) {
    std::fs::write(
        path,
        format!(
            "[srt]\nlisten = [\"{addr}\"]\n[streams]\nunknown_stream = \"{unknown_stream}\"\n\
             unknown_stream_wait_ms = 60000\n[playback]\nenabled = false\n[http]\nenabled = false\n[log]\nlevel = \"info\"\n"
        ),
    )
    .expect("write config");
}

fn start(path: &Path) -> Proc {
    Proc::start_relay(
        Path::new(env!("CARGO_BIN_EXE_srtrelay")),
        path,
        "listening on",
        Duration::from_secs(10),
    )
}

/// A reload switches `unknown_stream` from wait to reject: a player already waiting stays
/// connected, the next one is refused with 1404. Then SIGTERM: the relay exits within 1 s and
/// the waiting player sees the SHUTDOWN (srt-live-transmit exits on its own).
#[test]
fn sighup_reloads_policy_and_sigterm_shuts_down_within_a_second() {
    let addr = free_udp_addr();
    let path = config_path("reload");
    write_config(&path, addr, "wait");
    let mut relay = start(&path);
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lifecycle-waiting.ts");
    let mut waiting = recipes::subscribe_with_srt_live_transmit_no_wait(
        &SrtUrl::caller(addr).with_streamid("#!::r=later,m=request"),
        &out,
    );
    relay
        .wait_for_stderr("player", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}"));

    write_config(&path, addr, "reject");
    relay.signal(SIGHUP);
    relay
        .wait_for_stderr(
            "reload: changes `streams.unknown_stream`",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let refused_out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lifecycle-refused.ts");
    let mut refused = recipes::subscribe_with_ffmpeg(
        &SrtUrl::caller(addr)
            .with_streamid("#!::r=nobody,m=request")
            .with_connect_timeout(Duration::from_secs(2)),
        &refused_out,
    );
    let exit = refused
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up");
    assert!(
        !exit.success(),
        "a player for an unknown stream is refused after the reload"
    );
    assert!(
        waiting.proc().try_wait().is_none(),
        "the reload dropped a connected player:\n{}",
        waiting.proc().diagnostics()
    );

    let t = Instant::now();
    relay.signal(SIGTERM);
    let status = relay
        .wait_timeout(Duration::from_secs(1))
        .unwrap_or_else(|| {
            panic!(
                "srtrelay still running 1 s after SIGTERM\n{}",
                relay.diagnostics()
            )
        });
    assert!(status.success(), "exit status {status}");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(
        relay.stderr_text().contains("shutting down"),
        "{}",
        relay.diagnostics()
    );
    // The SHUTDOWN reached the player: srt-live-transmit ends as soon as its source is gone
    // (long before its own 5 s idle timeout).
    assert!(
        waiting.wait_exit(Duration::from_secs(3)).is_some(),
        "the player did not see the SHUTDOWN:\n{}",
        waiting.proc().diagnostics()
    );
}
