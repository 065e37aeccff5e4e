//! The relay engine run inside the test process (`mod in_process;`), for the tests that read
//! shard snapshots or need an engine handle (relay, data path, admission, operator API).
//!
//! Owns: starting an [`Engine`] on a free loopback port with fixed test secrets (a test's
//! cookies and socket ids are then the same in every run), and stopping it however the test
//! ends. Kept apart from `support/`, which must not depend on the srtrelay crate.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use srtrelay::config::Config;
use srtrelay::shard::engine::{Engine, Secrets};
use srtrelay::telemetry::ShardSnapshot;

/// How long a report request waits for every shard (they answer between two batches).
const REPORT_WAIT: Duration = Duration::from_secs(10);

/// A running engine, stopped on drop.
pub struct InProcessRelay {
    engine: Option<Engine>,
    /// The SRT listen address every shard shares.
    pub addr: SocketAddr,
}

impl InProcessRelay {
    /// Parses `toml`, lets `tweak` adjust the result, and starts the engine listening on
    /// 127.0.0.1 at a port the kernel picks.
    pub fn start(toml: &str, tweak: impl FnOnce(&mut Config)) -> InProcessRelay {
        let _ = env_logger::builder().is_test(true).try_init();
        let mut config = Config::from_toml(toml).expect("valid config");
        config.srt.listen = vec![SocketAddr::from(([127, 0, 0, 1], 0))];
        if let Some(p) = &mut config.playback {
            p.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        if let Some(r) = &mut config.rtmp {
            r.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        tweak(&mut config);
        let engine = Engine::start(
            &config,
            Secrets {
                cookie: *b"in-process-cooki",
                seed: 7,
                session_key: *b"in-process-sessn",
                crypto_seed: [9; 32],
            },
        )
        .expect("engine starts");
        let addr = engine.local_addrs()[0];
        InProcessRelay {
            engine: Some(engine),
            addr,
        }
    }

    /// The players' HTTP address (a kernel-picked port on 127.0.0.1).
    pub fn playback_addr(&self) -> SocketAddr {
        self.engine().playback_addr().expect("[playback] is on")
    }

    /// The RTMP listener's address (a kernel-picked port on 127.0.0.1).
    pub fn rtmp_addr(&self) -> SocketAddr {
        self.engine().rtmp_addr().expect("[rtmp] is on")
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("running")
    }

    /// Every shard's snapshot.
    pub fn reports(&self) -> Vec<ShardSnapshot> {
        self.engine().reports(REPORT_WAIT)
    }
}

impl Drop for InProcessRelay {
    fn drop(&mut self) {
        if let Some(e) = self.engine.take() {
            let _ = e.stop();
        }
    }
}
