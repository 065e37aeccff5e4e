//! Impairments loadgen applies to one leg, inside loadgen: random loss, Gilbert-Elliott burst
//! loss, fixed delay and jitter. The publisher leg judges each datagram a publisher socket is
//! about to send; the subscriber leg judges each datagram a subscriber socket received, before
//! SRT sees it. Every decision comes from a seeded generator, so a run is repeatable with
//! `--seed` (given the same datagram order, which the network decides).
//!
//! Owns: the loss models, the per-socket generator, and the delay line that holds delayed
//! datagrams until they are due. Must not: read the clock (`now` comes in) or know SRT.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Gilbert-Elliott two-state burst loss: each datagram first moves the chain (good to bad with
/// `p_good_bad`, bad to good with `p_bad_good`), then is lost with `loss_bad` in the bad state
/// and never in the good one (the "simplified" Gilbert model when `loss_bad` is 1). All three
/// are probabilities in 0..=1.
///
/// Long-run loss is `pi_bad * loss_bad` with `pi_bad = p_good_bad / (p_good_bad + p_bad_good)`;
/// bad periods last `1 / p_bad_good` datagrams on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    pub p_good_bad: f64,
    pub p_bad_good: f64,
    pub loss_bad: f64,
}

impl GilbertElliott {
    /// The long-run fraction of datagrams lost.
    pub fn mean_loss(&self) -> f64 {
        let sum = self.p_good_bad + self.p_bad_good;
        if sum == 0.0 {
            0.0
        } else {
            self.p_good_bad / sum * self.loss_bad
        }
    }
}

/// What to do to one leg. Random loss and burst loss may be combined (a datagram survives only
/// if both spare it).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Independent loss probability per datagram, 0..=1.
    pub random_loss: f64,
    pub burst: Option<GilbertElliott>,
    /// Added to every surviving datagram.
    pub delay: Duration,
    /// Each datagram's delay is `delay` plus a uniform draw in `-jitter..=+jitter` (never below
    /// zero). As with netem, jitter larger than the packet spacing reorders datagrams.
    pub jitter: Duration,
}

impl Impairment {
    pub fn is_none(&self) -> bool {
        self.random_loss <= 0.0
            && self
                .burst
                .is_none_or(|b| b.loss_bad <= 0.0 || b.p_good_bad <= 0.0)
            && self.delay.is_zero()
            && self.jitter.is_zero()
    }
}

/// The verdict on one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    /// Hold it until this time.
    Delay(Instant),
}

/// What one leg did, summed over its sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegStats {
    pub datagrams: u64,
    pub dropped: u64,
    pub delayed: u64,
}

impl LegStats {
    pub fn add(&mut self, o: &LegStats) {
        self.datagrams += o.datagrams;
        self.dropped += o.dropped;
        self.delayed += o.delayed;
    }
}

/// One socket's impairment state: its own generator and burst-chain state.
#[derive(Debug, Clone)]
pub struct Leg {
    imp: Impairment,
    rng: Rng,
    bad: bool,
    pub stats: LegStats,
}

impl Leg {
    pub fn new(imp: Impairment, seed: u64) -> Leg {
        Leg {
            imp,
            rng: Rng::new(seed),
            bad: false,
            stats: LegStats::default(),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.imp.is_none()
    }

    /// Judges one datagram passing at `now`.
    pub fn judge(&mut self, now: Instant) -> Verdict {
        self.stats.datagrams += 1;
        let mut lost = self.imp.random_loss > 0.0 && self.rng.chance(self.imp.random_loss);
        if let Some(ge) = self.imp.burst {
            let flip = if self.bad {
                ge.p_bad_good
            } else {
                ge.p_good_bad
            };
            if self.rng.chance(flip) {
                self.bad = !self.bad;
            }
            // Draw even when already lost, so the chain's random stream does not depend on the
            // random-loss draws.
            let burst_lost = self.bad && self.rng.chance(ge.loss_bad);
            lost |= burst_lost;
        }
        if lost {
            self.stats.dropped += 1;
            return Verdict::Drop;
        }
        if self.imp.delay.is_zero() && self.imp.jitter.is_zero() {
            return Verdict::Pass;
        }
        self.stats.delayed += 1;
        let jitter_ns = self.imp.jitter.as_nanos() as f64;
        let offset_ns = (self.rng.unit() * 2.0 - 1.0) * jitter_ns;
        let total_ns = (self.imp.delay.as_nanos() as f64 + offset_ns).max(0.0);
        Verdict::Delay(now + Duration::from_nanos(total_ns as u64))
    }
}

/// The seeded generator (SplitMix64, shared with srtrelay's simulator): `--seed` reproduces
/// a run's loss pattern on every platform.
pub use srtrelay::rng::Rng;

/// A derived seed for sub-generator `index` of `seed`, so sockets get independent streams.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut r = Rng::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    r.next_u64()
}

/// Datagrams held until a release time; equal times leave in the order they came.
#[derive(Debug)]
pub struct DelayLine<T> {
    heap: BinaryHeap<Held<T>>,
    order: u64,
}

#[derive(Debug)]
struct Held<T> {
    at: Instant,
    order: u64,
    item: T,
}

impl<T> PartialEq for Held<T> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.order == o.order
    }
}
impl<T> Eq for Held<T> {}
impl<T> PartialOrd for Held<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Held<T> {
    /// Reversed: `BinaryHeap` is a max-heap and the earliest must come out first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.order).cmp(&(self.at, self.order))
    }
}

impl<T> Default for DelayLine<T> {
    fn default() -> Self {
        DelayLine {
            heap: BinaryHeap::new(),
            order: 0,
        }
    }
}

impl<T> DelayLine<T> {
    pub fn push(&mut self, at: Instant, item: T) {
        self.order += 1;
        self.heap.push(Held {
            at,
            order: self.order,
            item,
        });
    }

    /// When the next held item is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|h| h.at)
    }

    /// The next item due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.heap.peek()?.at <= now {
            self.heap.pop().map(|h| h.item)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(leg: &mut Leg, n: usize, now: Instant) -> Vec<bool> {
        (0..n).map(|_| leg.judge(now) == Verdict::Drop).collect()
    }

    #[test]
    fn random_loss_rate_and_determinism() {
        let now = crate::clock::now();
        let imp = Impairment {
            random_loss: 0.05,
            ..Default::default()
        };
        let a = losses(&mut Leg::new(imp, 42), 100_000, now);
        let b = losses(&mut Leg::new(imp, 42), 100_000, now);
        let c = losses(&mut Leg::new(imp, 43), 100_000, now);
        assert_eq!(a, b, "same seed, same pattern");
        assert_ne!(a, c, "another seed, another pattern");
        let rate = a.iter().filter(|&&x| x).count() as f64 / a.len() as f64;
        // Binomial sd at n = 1e5, p = 0.05 is 0.0007: 0.0035 is 5 sd.
        assert!((rate - 0.05).abs() < 0.0035, "rate {rate}");
    }

    #[test]
    fn no_impairment_passes_everything() {
        let now = crate::clock::now();
        let mut leg = Leg::new(Impairment::default(), 1);
        assert!(!leg.is_active());
        assert!((0..1000).all(|_| leg.judge(now) == Verdict::Pass));
        assert_eq!(leg.stats.datagrams, 1000);
        assert_eq!(leg.stats.dropped + leg.stats.delayed, 0);
    }

    #[test]
    fn gilbert_elliott_matches_its_stationary_loss_and_burst_length() {
        let ge = GilbertElliott {
            p_good_bad: 0.01,
            p_bad_good: 0.25,
            loss_bad: 1.0,
        };
        // pi_bad = 0.01 / 0.26
        assert!((ge.mean_loss() - 0.038_461).abs() < 1e-5);
        let imp = Impairment {
            burst: Some(ge),
            ..Default::default()
        };
        let now = crate::clock::now();
        let l = losses(&mut Leg::new(imp, 7), 400_000, now);
        let rate = l.iter().filter(|&&x| x).count() as f64 / l.len() as f64;
        assert!((rate - ge.mean_loss()).abs() < 0.004, "rate {rate}");
        // Runs of consecutive losses average 1 / p_bad_good = 4 datagrams.
        let runs: Vec<usize> = l
            .split(|&x| !x)
            .filter(|r| !r.is_empty())
            .map(<[bool]>::len)
            .collect();
        let mean_run = runs.iter().sum::<usize>() as f64 / runs.len() as f64;
        assert!((mean_run - 4.0).abs() < 0.3, "mean burst {mean_run}");
        // Bursty: far longer runs than independent loss at the same rate would give.
        assert!(runs.iter().any(|&r| r >= 20));
    }

    #[test]
    fn burst_loss_in_the_bad_state_is_partial_when_asked() {
        let ge = GilbertElliott {
            p_good_bad: 0.05,
            p_bad_good: 0.05,
            loss_bad: 0.5,
        };
        assert!((ge.mean_loss() - 0.25).abs() < 1e-12);
        let imp = Impairment {
            burst: Some(ge),
            ..Default::default()
        };
        let l = losses(&mut Leg::new(imp, 9), 400_000, crate::clock::now());
        let rate = l.iter().filter(|&&x| x).count() as f64 / l.len() as f64;
        assert!((rate - 0.25).abs() < 0.02, "rate {rate}");
    }

    #[test]
    fn delay_and_jitter_stay_in_bounds() {
        let now = crate::clock::now();
        let imp = Impairment {
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            ..Default::default()
        };
        let mut leg = Leg::new(imp, 3);
        let mut min = Duration::MAX;
        let mut max = Duration::ZERO;
        for _ in 0..10_000 {
            let Verdict::Delay(at) = leg.judge(now) else {
                panic!("every datagram is delayed");
            };
            let d = at - now;
            min = min.min(d);
            max = max.max(d);
        }
        assert!(min >= Duration::from_millis(15) && max <= Duration::from_millis(25));
        // 10k uniform draws cover nearly the whole range.
        assert!(min < Duration::from_micros(15_100) && max > Duration::from_micros(24_900));
        assert_eq!(leg.stats.delayed, 10_000);
    }

    #[test]
    fn jitter_larger_than_delay_never_goes_negative() {
        let now = crate::clock::now();
        let imp = Impairment {
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(10),
            ..Default::default()
        };
        let mut leg = Leg::new(imp, 5);
        let delays: Vec<Duration> = (0..1000)
            .map(|_| match leg.judge(now) {
                Verdict::Delay(at) => at - now,
                v => panic!("{v:?}"),
            })
            .collect();
        assert!(delays.iter().any(|d| d.is_zero()), "clamped at zero");
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(11)));
    }

    #[test]
    fn delay_line_releases_in_time_order_then_arrival_order() {
        let t0 = crate::clock::now();
        let ms = Duration::from_millis;
        let mut line = DelayLine::default();
        line.push(t0 + ms(5), "c");
        line.push(t0 + ms(1), "a");
        line.push(t0 + ms(5), "d");
        line.push(t0 + ms(3), "b");
        assert_eq!(line.len(), 4);
        assert_eq!(line.next_due(), Some(t0 + ms(1)));
        assert_eq!(line.pop_due(t0), None, "nothing due yet");
        let mut out = Vec::new();
        while let Some(x) = line.pop_due(t0 + ms(4)) {
            out.push(x);
        }
        assert_eq!(out, ["a", "b"]);
        while let Some(x) = line.pop_due(t0 + ms(10)) {
            out.push(x);
        }
        assert_eq!(out, ["a", "b", "c", "d"]);
        assert!(line.is_empty() && line.next_due().is_none());
    }

    #[test]
    fn derived_seeds_differ() {
        let s: std::collections::HashSet<u64> = (0..1000).map(|i| derive_seed(1, i)).collect();
        assert_eq!(s.len(), 1000);
    }
}
