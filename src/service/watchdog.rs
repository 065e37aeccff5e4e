//! When to ping the service manager's watchdog: every half interval, and only while every shard
//! is alive, so a stuck shard (an executor spinning in one task, a deadlock) gets the whole
//! process restarted by systemd (`WatchdogSec=`, `Restart=on-failure`).
//!
//! Owns the schedule and the freshness bound. Must not read the clock or send anything: the
//! caller passes `now` and the shards' freshness in and sends `WATCHDOG=1` when told to.

use std::time::{Duration, Instant};

/// A shard's heartbeat may be at most this old for the process to count as alive; shorter
/// watchdogs shrink it to half their interval (see [`Watchdog::max_age`]).
pub const MAX_HEARTBEAT_AGE: Duration = Duration::from_secs(2);

/// The ping schedule for one watchdog interval.
#[derive(Debug, Clone)]
pub struct Watchdog {
    interval: Duration,
    next_ping: Option<Instant>,
}

/// What [`Watchdog::poll`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogAction {
    /// Not due yet.
    Wait,
    /// Due and every shard is alive: send `WATCHDOG=1`.
    Ping,
    /// Due but a shard is stale: send nothing (systemd restarts us if this lasts).
    Withhold,
}

impl Watchdog {
    /// `interval` is `WATCHDOG_USEC`; the first ping is due at once.
    pub fn new(interval: Duration) -> Watchdog {
        Watchdog {
            interval,
            next_ping: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// sd_watchdog_enabled(3) advises pinging at half the interval: one late wake-up of the
    /// main loop (20 ms) or one withheld ping cannot then trip it.
    pub fn period(&self) -> Duration {
        self.interval / 2
    }

    /// How old a shard's heartbeat may be: [`MAX_HEARTBEAT_AGE`], or half the interval when
    /// that is shorter (a 200 ms watchdog must not wait 2 s to notice a stall).
    pub fn max_age(&self) -> Duration {
        MAX_HEARTBEAT_AGE.min(self.period())
    }

    /// Decides at `now`, given whether every shard's heartbeat is within [`Watchdog::max_age`].
    /// After a ping the next is due one period later; a withheld ping stays due, so the first
    /// wake-up after the shards recover pings at once.
    pub fn poll(&mut self, now: Instant, shards_alive: bool) -> WatchdogAction {
        if self.next_ping.is_some_and(|t| now < t) {
            return WatchdogAction::Wait;
        }
        if !shards_alive {
            return WatchdogAction::Withhold;
        }
        self.next_ping = Some(now + self.period());
        WatchdogAction::Ping
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a base instant for virtual time
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pings_at_once_then_every_half_interval() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(200 * MS);
        assert_eq!(w.period(), 100 * MS);
        assert_eq!(w.poll(t0, true), WatchdogAction::Ping);
        assert_eq!(w.poll(t0 + 20 * MS, true), WatchdogAction::Wait);
        assert_eq!(w.poll(t0 + 99 * MS, true), WatchdogAction::Wait);
        assert_eq!(w.poll(t0 + 100 * MS, true), WatchdogAction::Ping);
        // Late wake-up: the schedule restarts from when the ping actually went out.
        assert_eq!(w.poll(t0 + 230 * MS, true), WatchdogAction::Ping);
        assert_eq!(w.poll(t0 + 300 * MS, true), WatchdogAction::Wait);
        assert_eq!(w.poll(t0 + 330 * MS, true), WatchdogAction::Ping);
    }

    #[test]
    fn a_stale_shard_withholds_the_ping_until_it_recovers() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(10_000 * MS);
        assert_eq!(w.poll(t0, true), WatchdogAction::Ping);
        let due = t0 + 5_000 * MS;
        assert_eq!(w.poll(due, false), WatchdogAction::Withhold);
        assert_eq!(w.poll(due + 20 * MS, false), WatchdogAction::Withhold);
        assert_eq!(w.poll(due + 40 * MS, true), WatchdogAction::Ping);
        assert_eq!(w.poll(due + 60 * MS, true), WatchdogAction::Wait);
    }

    #[test]
    fn heartbeat_bound_follows_short_intervals() {
        assert_eq!(Watchdog::new(200 * MS).max_age(), 100 * MS);
        assert_eq!(Watchdog::new(10_000 * MS).max_age(), MAX_HEARTBEAT_AGE);
        assert_eq!(Watchdog::new(10_000 * MS).interval(), 10_000 * MS);
    }
}
