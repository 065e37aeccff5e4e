//! The failover schedule of one pulled input: which of its upstreams to try, and when.
//!
//! Owns: the order of the upstreams (shuffled once, as restreamer does, so that many relays
//! with the same list spread over the upstreams instead of all hitting the first), the
//! input's state (connecting, live, waiting, offline) and its counters. Must not: connect,
//! read the clock or sleep. The input runner reports each outcome with `now`, asks
//! [`Failover::next`] what to do and when, and sleeps until then itself.
//!
//! The rules: try the upstreams in order; a failed attempt moves on to the next one at once,
//! but after a whole round of failures in a row the input waits `retry_delay` before the next
//! round (so a dead list is never a busy loop). An upstream that delivered data and then
//! ended or stalled is followed by the next one after `retry_delay`. Without a retry delay
//! (`retry_delay_ms = 0`) the input goes offline instead of waiting, until [`Failover::start`].

#![deny(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::rng::Rng;

/// One input's schedule over its upstreams, identified by their index in the config's list.
#[derive(Debug, Clone)]
pub struct Failover {
    order: Vec<usize>,
    /// Where in `order` the upstream being tried (or due next) is.
    pos: usize,
    retry_delay: Option<Duration>,
    phase: Phase,
    /// When `phase` began.
    since: Instant,
    /// Attempts that failed in a row since an upstream last delivered data or a wait ended.
    failed_in_row: usize,
    /// The upstream that was live last, to count switches.
    last_live: Option<usize>,
    stats: FailoverStats,
}

/// What the runner should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Connect to upstream `index` at `at` (which may be in the past: then now).
    Connect { index: usize, at: Instant },
    /// An attempt or a live upstream is under way: wait for its outcome.
    Running { index: usize },
    /// Nothing until [`Failover::start`].
    Offline,
}

/// The input's state as `/v1/streams` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputState {
    /// An attempt is under way or due now.
    Connecting,
    /// An upstream delivered data and has not ended.
    Live,
    /// Waiting for the retry delay to pass.
    Waiting {
        until: Instant,
    },
    Offline,
}

/// Counters of one input over its lifetime (restarts included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailoverStats {
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts whose upstream delivered valid data.
    pub connects: u64,
    /// Attempts that failed before delivering valid data.
    pub failures: u64,
    /// Live upstreams that stopped delivering for `stall_timeout`.
    pub stalls: u64,
    /// Live upstreams that ended (EOF, closed, shut down).
    pub ends: u64,
    /// Times the live upstream was a different one from the previous live one.
    pub switches: u64,
    /// Reports that did not fit the state (say `connected` while offline), ignored.
    pub ignored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `order[pos]` is to be tried at `at`; `waited` after a retry delay.
    Due {
        at: Instant,
        waited: bool,
    },
    Connecting {
        index: usize,
    },
    Live {
        index: usize,
    },
    Offline,
}

impl Failover {
    /// A schedule over `n` upstreams that starts now (offline when `n` is 0). With `shuffle`
    /// the order is a Fisher-Yates permutation drawn from `seed`, once; else config order.
    /// `retry_delay`: `None` stays offline where it would wait.
    pub fn new(
        n: usize,
        shuffle: bool,
        seed: u64,
        retry_delay: Option<Duration>,
        now: Instant,
    ) -> Self {
        let mut order: Vec<usize> = (0..n).collect();
        if shuffle {
            let mut rng = Rng::new(seed);
            for i in (1..n).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
        }
        let phase = if n == 0 {
            Phase::Offline
        } else {
            Phase::Due {
                at: now,
                waited: false,
            }
        };
        Failover {
            order,
            pos: 0,
            retry_delay,
            phase,
            since: now,
            failed_in_row: 0,
            last_live: None,
            stats: FailoverStats::default(),
        }
    }

    /// Upstream indices in the order they are tried.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    pub fn next(&self) -> Next {
        match self.phase {
            Phase::Due { at, .. } => Next::Connect {
                index: self.order[self.pos],
                at,
            },
            Phase::Connecting { index } | Phase::Live { index } => Next::Running { index },
            Phase::Offline => Next::Offline,
        }
    }

    /// The runner starts connecting to `index` (normally the one [`Next::Connect`] named;
    /// another one of the list is taken as a choice and the round continues after it).
    pub fn connecting(&mut self, index: usize, now: Instant) {
        let Phase::Due { .. } = self.phase else {
            return self.ignore();
        };
        let Some(pos) = self.order.iter().position(|&i| i == index) else {
            return self.ignore();
        };
        self.pos = pos;
        self.stats.attempts += 1;
        self.enter(Phase::Connecting { index }, now);
    }

    /// The attempt failed before any valid data: the next upstream now, or after a whole
    /// round of failures, the retry delay (offline without one).
    pub fn connect_failed(&mut self, now: Instant) {
        let Phase::Connecting { .. } = self.phase else {
            return self.ignore();
        };
        self.stats.failures += 1;
        self.failed_in_row += 1;
        self.advance();
        if self.failed_in_row >= self.order.len() {
            self.failed_in_row = 0;
            self.wait(now);
        } else {
            self.enter(
                Phase::Due {
                    at: now,
                    waited: false,
                },
                now,
            );
        }
    }

    /// The upstream being tried delivered valid data: it is live.
    pub fn connected(&mut self, now: Instant) {
        let Phase::Connecting { index } = self.phase else {
            return self.ignore();
        };
        self.stats.connects += 1;
        if self.last_live.is_some_and(|last| last != index) {
            self.stats.switches += 1;
        }
        self.last_live = Some(index);
        self.failed_in_row = 0;
        self.enter(Phase::Live { index }, now);
    }

    /// The live upstream ended (`stalled`: it sent nothing for the stall timeout): the next
    /// one after the retry delay, or offline without one. An attempt that ends before it
    /// delivered data failed to connect, and counts so.
    pub fn ended(&mut self, now: Instant, stalled: bool) {
        match self.phase {
            Phase::Connecting { .. } => self.connect_failed(now),
            Phase::Live { .. } => {
                if stalled {
                    self.stats.stalls += 1;
                } else {
                    self.stats.ends += 1;
                }
                self.advance();
                self.wait(now);
            }
            Phase::Due { .. } | Phase::Offline => self.ignore(),
        }
    }

    /// Stops the input (on-demand with no players left, or removed on reload); the runner
    /// closes whatever is open. Not an end: nothing is counted.
    pub fn stop(&mut self, now: Instant) {
        if self.phase != Phase::Offline {
            self.enter(Phase::Offline, now);
        }
    }

    /// Starts an offline input again (its first player, or an operator), from the upstream
    /// after the last one tried, at once. A running input is left as it is.
    pub fn start(&mut self, now: Instant) {
        if self.phase == Phase::Offline && !self.order.is_empty() {
            self.failed_in_row = 0;
            self.enter(
                Phase::Due {
                    at: now,
                    waited: false,
                },
                now,
            );
        }
    }

    /// The upstream being tried or live.
    pub fn current(&self) -> Option<usize> {
        match self.phase {
            Phase::Connecting { index } | Phase::Live { index } => Some(index),
            Phase::Due { .. } | Phase::Offline => None,
        }
    }

    pub fn state(&self) -> InputState {
        match self.phase {
            Phase::Due {
                at, waited: true, ..
            } => InputState::Waiting { until: at },
            Phase::Due { waited: false, .. } | Phase::Connecting { .. } => InputState::Connecting,
            Phase::Live { .. } => InputState::Live,
            Phase::Offline => InputState::Offline,
        }
    }

    /// When the current state began (for "live for 3 min" in the API).
    pub fn since(&self) -> Instant {
        self.since
    }

    pub fn stats(&self) -> FailoverStats {
        self.stats
    }

    fn enter(&mut self, phase: Phase, now: Instant) {
        self.phase = phase;
        self.since = now;
    }

    fn advance(&mut self) {
        self.pos = (self.pos + 1) % self.order.len();
    }

    fn wait(&mut self, now: Instant) {
        let at = self.retry_delay.and_then(|d| now.checked_add(d));
        let phase = match at {
            Some(at) => Phase::Due { at, waited: true },
            None => Phase::Offline,
        };
        self.enter(phase, now);
    }

    fn ignore(&mut self) {
        self.stats.ignored += 1;
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
