//! Running as a system service: telling systemd where the relay is in its life (ready,
//! reloading, stopping), feeding its watchdog while every shard is alive, logging in a form
//! journald and collectors take, and keeping peer-triggered warnings rate-limited.
//!
//! Owns the service-manager protocol (`notify`), shard liveness (`heartbeat`), the ping
//! schedule (`watchdog`), logger set-up (`logging`), log rate limits (`ratelimit`), the
//! operator's log of callers (`events`) and the start-up notes (`firstrun`). Must not
//! own relay state or threads: the binary's signal loop drives [`Supervisor`], the shards only
//! bump their heartbeat slot. Nothing here may stop the relay: a notify error is logged once
//! and the relay keeps serving.
//!
//! systemd side: `systemd/srtrelay.service` (`Type=notify`, `WatchdogSec=`), and
//! `systemd/INSTALL.md`.

pub mod events;
pub mod firstrun;
pub mod heartbeat;
pub mod logging;
pub mod notify;
pub mod ratelimit;
pub mod watchdog;

use std::time::{Duration, Instant};

use log::{debug, info, warn};

pub use heartbeat::Heartbeats;
pub use notify::{Notice, Notifier, NotifyError};
pub use ratelimit::{PeerCounts, PeerMisbehaviour, RateLimited};
pub use watchdog::{Watchdog, WatchdogAction};

/// How often [`Supervisor::wait_started`] looks at the heartbeats.
const START_POLL: Duration = Duration::from_millis(1);

/// The relay's side of the service-manager conversation, driven from the main thread.
#[derive(Debug)]
pub struct Supervisor {
    notifier: Notifier,
    heartbeats: Heartbeats,
    watchdog: Option<Watchdog>,
    /// A send failed already: say so once, not every 20 ms.
    send_failed: bool,
    /// The watchdog is being withheld: say which shard once per episode.
    withholding: bool,
}

impl Supervisor {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`. Bad values are logged and
    /// disable the part they configure; the relay still runs.
    pub fn from_env(heartbeats: Heartbeats) -> Supervisor {
        let notifier = Notifier::from_env().unwrap_or_else(|e| {
            warn!("service notifications off: {e}");
            Notifier::disabled()
        });
        let interval = notify::watchdog_interval_from_env().unwrap_or_else(|e| {
            warn!("watchdog off: {e}");
            None
        });
        Supervisor::new(notifier, interval, heartbeats)
    }

    pub fn new(
        notifier: Notifier,
        watchdog_interval: Option<Duration>,
        heartbeats: Heartbeats,
    ) -> Supervisor {
        if notifier.is_enabled() {
            debug!(
                "service manager: notify on; watchdog {}",
                watchdog_interval.map_or("off".to_string(), |d| format!("{d:?}"))
            );
        }
        Supervisor {
            // Without a socket a watchdog could never be fed: keep it off.
            watchdog: watchdog_interval
                .filter(|_| notifier.is_enabled())
                .map(Watchdog::new),
            notifier,
            heartbeats,
            send_failed: false,
            withholding: false,
        }
    }

    /// Blocks until every shard has run its first tick: then its sockets are open, its
    /// handoff queues connected and its timers running. A shard can still fail after
    /// `Engine::start` returned (socket set-up on its own thread), so READY waits for this.
    /// Fails when `is_stopped` turns true (a shard gave up) or after `timeout`.
    pub fn wait_started(
        &self,
        timeout: Duration,
        is_stopped: impl Fn() -> bool,
    ) -> Result<(), String> {
        let deadline = now() + timeout;
        loop {
            if self.heartbeats.all_started() {
                return Ok(());
            }
            if is_stopped() {
                return Err("a shard stopped during start-up".to_string());
            }
            let t = now();
            if t >= deadline {
                return Err(format!(
                    "shard(s) {:?} did not start within {timeout:?}",
                    self.heartbeats.not_started()
                ));
            }
            std::thread::sleep(START_POLL);
        }
    }

    /// Start-up or a reload is complete.
    pub fn ready(&mut self, status: &str) {
        self.send(&Notice::Ready { status });
    }

    /// A reload begins (SIGHUP). Systemd holds `systemctl reload` until the next `READY=1`.
    pub fn reloading(&mut self, status: &str) {
        self.send(&Notice::Reloading {
            monotonic_usec: notify::monotonic_usec(),
            status,
        });
    }

    /// Shutdown begins; the watchdog is no longer fed.
    pub fn stopping(&mut self, status: &str) {
        self.watchdog = None;
        self.send(&Notice::Stopping { status });
    }

    /// Call on every wake-up of the main loop: pings the watchdog when due and every shard is
    /// alive at `now`.
    pub fn on_wake(&mut self, now: Instant) {
        let Some(w) = self.watchdog.as_mut() else {
            return;
        };
        let max_age = w.max_age();
        let alive = self.heartbeats.all_fresh(now, max_age);
        match w.poll(now, alive) {
            WatchdogAction::Wait => {}
            WatchdogAction::Ping => {
                if self.withholding {
                    info!("watchdog: every shard alive again");
                    self.withholding = false;
                }
                self.send(&Notice::Watchdog);
            }
            WatchdogAction::Withhold => {
                if !self.withholding {
                    warn!(
                        "watchdog withheld: shard(s) {:?} silent for more than {max_age:?}",
                        self.heartbeats.stale(now, max_age)
                    );
                    self.withholding = true;
                }
            }
        }
    }

    /// The watchdog interval in force, if any.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.as_ref().map(Watchdog::interval)
    }

    fn send(&mut self, notice: &Notice<'_>) {
        match self.notifier.send(notice) {
            Ok(()) => self.send_failed = false,
            Err(e) if !self.send_failed => {
                warn!("cannot notify the service manager: {e}");
                self.send_failed = true;
            }
            Err(_) => {}
        }
    }
}

/// The main thread's clock (the service loop runs outside the sans-IO core).
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a base instant for virtual time
mod tests {
    use std::os::unix::net::UnixDatagram;

    use super::*;
    use notify::NotifyTarget;

    fn receiver(tag: &str) -> (UnixDatagram, Notifier, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("srtrelay-sup-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).expect("bind");
        rx.set_nonblocking(true).expect("nonblocking");
        let n = Notifier::to(NotifyTarget::Path(path)).expect("socket");
        (rx, n, dir)
    }

    fn drain(rx: &UnixDatagram) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = rx.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn the_watchdog_is_fed_only_while_every_shard_beats() {
        let (rx, n, dir) = receiver("wd");
        let t0 = Instant::now();
        let beats = Heartbeats::new(2, t0);
        let mut s = Supervisor::new(n, Some(Duration::from_millis(200)), beats.clone());
        let ms = Duration::from_millis;
        beats.beat(0, t0);
        beats.beat(1, t0);
        s.on_wake(t0 + ms(10));
        assert_eq!(drain(&rx), ["WATCHDOG=1"]);
        s.on_wake(t0 + ms(50));
        assert!(drain(&rx).is_empty(), "not due");
        // Shard 1 stops beating; shard 0 keeps going.
        beats.beat(0, t0 + ms(150));
        s.on_wake(t0 + ms(150));
        assert!(
            drain(&rx).is_empty(),
            "shard 1 is 150 ms silent (max 100 ms)"
        );
        beats.beat(1, t0 + ms(160));
        s.on_wake(t0 + ms(170));
        assert_eq!(drain(&rx), ["WATCHDOG=1"]);
        s.stopping("");
        s.on_wake(t0 + ms(400));
        assert_eq!(drain(&rx), ["STOPPING=1"], "no pings after STOPPING");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn no_socket_means_no_watchdog_and_start_waits_for_every_shard() {
        let t0 = Instant::now();
        let beats = Heartbeats::new(2, t0);
        let s = Supervisor::new(
            Notifier::disabled(),
            Some(Duration::from_secs(1)),
            beats.clone(),
        );
        assert_eq!(s.watchdog_interval(), None);
        beats.beat(0, t0);
        let err = s
            .wait_started(Duration::from_millis(5), || false)
            .expect_err("shard 1 never beat");
        assert!(err.contains("[1]"), "{err}");
        assert!(s.wait_started(Duration::from_secs(5), || true).is_err());
        beats.beat(1, t0);
        s.wait_started(Duration::from_millis(5), || false)
            .expect("both beat");
    }
}
