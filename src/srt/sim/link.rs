//! One direction of a simulated network path: delay, jitter (which reorders), random and
//! Gilbert-Elliott burst loss, duplication, and outages.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::Rng;

#[derive(Debug, Clone, Default)]
pub struct LinkConfig {
    /// One-way delay (half the RTT).
    pub delay: Duration,
    /// Extra uniform random delay in `0..jitter`; packets overtake each other.
    pub jitter: Duration,
    /// Independent random loss probability.
    pub loss: f64,
    /// Gilbert-Elliott burst loss: (P(good->bad), P(bad->good)); everything is lost in bad.
    pub burst: Option<(f64, f64)>,
    pub duplicate: f64,
    /// Drop everything between these virtual times.
    pub outage: Option<(Instant, Instant)>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct LinkStats {
    pub sent: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub delivered: u64,
}

pub struct Link {
    pub cfg: LinkConfig,
    rng: Rng,
    bad_state: bool,
    order: u64,
    in_flight: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    pub stats: LinkStats,
}

impl Link {
    pub fn new(cfg: LinkConfig, seed: u64) -> Self {
        Link {
            cfg,
            rng: Rng::new(seed),
            bad_state: false,
            order: 0,
            in_flight: BinaryHeap::new(),
            stats: LinkStats::default(),
        }
    }

    pub fn send(&mut self, now: Instant, datagram: &[u8]) {
        self.stats.sent += 1;
        if let Some((p_bad, p_good)) = self.cfg.burst {
            self.bad_state = if self.bad_state {
                !self.rng.chance(p_good)
            } else {
                self.rng.chance(p_bad)
            };
        }
        let outage = self
            .cfg
            .outage
            .is_some_and(|(from, to)| from <= now && now < to);
        if outage || self.bad_state || self.rng.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.cfg.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.rng.below(self.cfg.jitter.as_micros() as u64);
            let at = now + self.cfg.delay + Duration::from_micros(jitter);
            self.order += 1;
            self.in_flight
                .push(Reverse((at, self.order, datagram.to_vec())));
        }
    }

    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next datagram due by `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_arrival()? > now {
            return None;
        }
        let Reverse((_, _, data)) = self.in_flight.pop()?;
        self.stats.delivered += 1;
        Some(data)
    }
}
