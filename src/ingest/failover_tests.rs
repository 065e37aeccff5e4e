//! The failover schedule on virtual time: order, first working upstream, retry delays, the
//! offline rule, counters, and a seeded random run checked against the rules.

use super::*;
use crate::rng::Rng;

/// Any instant will do: time only moves by what the tests add to it.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

const RETRY: Duration = Duration::from_secs(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The upstream `next` says to connect to, and when.
fn due(f: &Failover) -> (usize, Instant) {
    match f.next() {
        Next::Connect { index, at } => (index, at),
        other => panic!("expected a connect, got {other:?}"),
    }
}

/// Connects to whatever is due, at the time it is due; returns the index.
fn attempt(f: &mut Failover) -> (usize, Instant) {
    let (index, at) = due(f);
    f.connecting(index, at);
    assert_eq!(f.next(), Next::Running { index });
    assert_eq!(f.current(), Some(index));
    (index, at)
}

#[test]
fn shuffle_is_a_seed_stable_permutation() {
    for n in [0, 1, 2, 5, 17] {
        for seed in 0..50 {
            let a = Failover::new(n, true, seed, Some(RETRY), t0());
            let mut sorted = a.order().to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "n={n} seed={seed}");
            let b = Failover::new(n, true, seed, None, t0());
            assert_eq!(a.order(), b.order(), "same seed, same order");
        }
    }
    // Every order of three comes up, each about equally often.
    let mut seen = std::collections::HashMap::new();
    for seed in 0..6000 {
        let f = Failover::new(3, true, seed, None, t0());
        *seen.entry(f.order().to_vec()).or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(seen.values().all(|&c| (800..1200).contains(&c)), "{seen:?}");
}

#[test]
fn without_shuffle_the_config_order_is_kept() {
    let now = t0();
    let mut f = Failover::new(4, false, 99, Some(RETRY), now);
    assert_eq!(f.order(), &[0, 1, 2, 3]);
    let mut tried = Vec::new();
    for _ in 0..4 {
        tried.push(attempt(&mut f).0);
        f.connect_failed(now);
    }
    assert_eq!(tried, vec![0, 1, 2, 3]);
}

#[test]
fn the_first_working_upstream_is_used() {
    let now = t0();
    let mut f = Failover::new(3, false, 0, Some(RETRY), now);
    assert_eq!(f.state(), InputState::Connecting);
    assert_eq!(attempt(&mut f), (0, now));
    f.connect_failed(now + ms(10));
    // The next one at once: a failure is not a reason to wait while others are untried.
    assert_eq!(due(&f), (1, now + ms(10)));
    attempt(&mut f);
    f.connected(now + ms(20));
    assert_eq!(f.state(), InputState::Live);
    assert_eq!(f.current(), Some(1));
    assert_eq!(f.since(), now + ms(20));
    let s = f.stats();
    assert_eq!(
        (s.attempts, s.failures, s.connects, s.switches),
        (2, 1, 1, 0)
    );
}

#[test]
fn an_end_moves_to_the_next_after_the_retry_delay() {
    let now = t0();
    let mut f = Failover::new(2, false, 0, Some(RETRY), now);
    attempt(&mut f);
    f.connected(now);
    let end = now + Duration::from_secs(60);
    f.ended(end, false);
    assert_eq!(f.state(), InputState::Waiting { until: end + RETRY });
    assert_eq!(f.current(), None);
    assert_eq!(due(&f), (1, end + RETRY));
    attempt(&mut f);
    f.connected(end + RETRY);
    f.ended(end + RETRY + ms(1), false);
    // With two upstreams, back to the first.
    assert_eq!(due(&f), (0, end + RETRY + ms(1) + RETRY));
    attempt(&mut f);
    f.connected(end + RETRY * 3);
    let s = f.stats();
    assert_eq!((s.connects, s.ends, s.switches, s.stalls), (3, 2, 2, 0));
}

#[test]
fn a_single_upstream_is_retried_after_the_delay() {
    let now = t0();
    let mut f = Failover::new(1, true, 5, Some(RETRY), now);
    attempt(&mut f);
    f.connected(now);
    f.ended(now + ms(5), true);
    assert_eq!(due(&f), (0, now + ms(5) + RETRY));
    attempt(&mut f);
    f.connect_failed(now + ms(5) + RETRY);
    // A whole round (of one) failed: wait again, no busy loop.
    assert_eq!(due(&f), (0, now + ms(5) + RETRY * 2));
    attempt(&mut f);
    f.connected(now + RETRY * 3);
    assert_eq!(
        f.stats().switches,
        0,
        "the same upstream again is no switch"
    );
}

#[test]
fn a_full_round_of_connect_failures_waits_the_retry_delay() {
    let now = t0();
    let mut f = Failover::new(3, false, 0, Some(RETRY), now);
    for i in 0..3 {
        let (index, at) = attempt(&mut f);
        assert_eq!((index, at), (i, now), "immediately, in order");
        f.connect_failed(now);
    }
    assert_eq!(f.state(), InputState::Waiting { until: now + RETRY });
    assert_eq!(due(&f), (0, now + RETRY));
    // The next round starts from the top and is again immediate until it is used up.
    attempt(&mut f);
    f.connect_failed(now + RETRY);
    assert_eq!(due(&f), (1, now + RETRY));
    assert_eq!(f.stats().failures, 4);
}

#[test]
fn a_round_counts_from_the_last_upstream_that_delivered() {
    let now = t0();
    let mut f = Failover::new(3, false, 0, Some(RETRY), now);
    attempt(&mut f);
    f.connected(now);
    f.ended(now, false);
    // 1 and 2 fail at once one after the other, then 0 fails: the round is used up.
    for want in [1, 2, 0] {
        let (index, _) = attempt(&mut f);
        assert_eq!(index, want);
        f.connect_failed(now + RETRY);
    }
    assert_eq!(
        f.state(),
        InputState::Waiting {
            until: now + RETRY * 2
        }
    );
}

#[test]
fn zero_retry_delay_goes_offline_until_started() {
    let now = t0();
    let mut f = Failover::new(2, false, 0, None, now);
    attempt(&mut f);
    f.connected(now);
    f.ended(now + ms(1), false);
    assert_eq!(f.state(), InputState::Offline);
    assert_eq!(f.next(), Next::Offline);
    assert_eq!(f.since(), now + ms(1));
    f.start(now + ms(2));
    assert_eq!(
        due(&f),
        (1, now + ms(2)),
        "from the upstream after the last one"
    );
    // A whole round of failures goes offline too.
    attempt(&mut f);
    f.connect_failed(now + ms(3));
    attempt(&mut f);
    f.connect_failed(now + ms(4));
    assert_eq!(f.state(), InputState::Offline);
}

#[test]
fn stalls_are_counted_apart_from_ends() {
    let now = t0();
    let mut f = Failover::new(2, false, 0, Some(RETRY), now);
    attempt(&mut f);
    f.connected(now);
    f.ended(now, true);
    attempt(&mut f);
    f.connected(now + RETRY);
    f.ended(now + RETRY, false);
    let s = f.stats();
    assert_eq!((s.stalls, s.ends, s.connects, s.switches), (1, 1, 2, 1));
    // Ending before any data is a failed connect, whatever the reason.
    attempt(&mut f);
    f.ended(now + RETRY * 2, true);
    let s = f.stats();
    assert_eq!((s.stalls, s.failures), (1, 1));
}

#[test]
fn stop_start_and_reports_out_of_turn() {
    let now = t0();
    let mut f = Failover::new(2, false, 0, Some(RETRY), now);
    f.connected(now); // nothing is being tried
    f.ended(now, false);
    f.connect_failed(now);
    f.connecting(7, now); // not an upstream of this input
    assert_eq!(f.stats().ignored, 4);
    assert_eq!(f.stats().attempts, 0);
    // The runner may pick another upstream of the list; the round goes on after it.
    f.connecting(1, now);
    assert_eq!(f.current(), Some(1));
    f.connecting(0, now); // already connecting
    assert_eq!(f.stats().ignored, 5);
    f.connect_failed(now);
    assert_eq!(due(&f), (0, now));
    f.stop(now + ms(1));
    assert_eq!((f.state(), f.current()), (InputState::Offline, None));
    let before = f.stats();
    f.stop(now + ms(2));
    assert_eq!(f.since(), now + ms(1), "stopping twice changes nothing");
    f.start(now + ms(3));
    f.start(now + ms(4));
    assert_eq!(due(&f), (0, now + ms(3)), "a second start is a no-op");
    assert_eq!(f.stats(), before, "stop and start are not outcomes");
    let mut none = Failover::new(0, true, 1, Some(RETRY), now);
    none.start(now);
    assert_eq!(none.next(), Next::Offline);
}

/// A seeded runner: each attempt fails, or works and later ends or stalls, at random times.
/// Checked against the rules after every step.
#[test]
fn random_runs_follow_the_rules() {
    for seed in 0..200 {
        let mut rng = Rng::new(seed);
        let n = 1 + rng.below(5) as usize;
        let retry = (rng.below(3) > 0).then(|| ms(1 + rng.below(5000)));
        let mut now = t0();
        let mut f = Failover::new(n, rng.chance(0.5), seed, retry, now);
        let mut immediate_in_row = 0;
        for _ in 0..300 {
            let (index, at) = match f.next() {
                Next::Connect { index, at } => (index, at),
                Next::Offline => {
                    assert!(retry.is_none(), "seed {seed}: offline with a retry delay");
                    now += ms(rng.below(1000));
                    f.start(now);
                    immediate_in_row = 0;
                    continue;
                }
                Next::Running { .. } => panic!("seed {seed}: nothing reported is running"),
            };
            assert!(index < n);
            if at > now {
                assert!(
                    retry.is_some_and(|r| at == now + r),
                    "seed {seed}: wait is the delay"
                );
                immediate_in_row = 0;
                now = at;
            } else {
                immediate_in_row += 1;
                assert!(
                    immediate_in_row <= n,
                    "seed {seed}: more than a round without a wait"
                );
            }
            f.connecting(index, now);
            now += ms(rng.below(100));
            if rng.chance(0.6) {
                f.connect_failed(now);
            } else {
                f.connected(now);
                immediate_in_row = 0;
                assert_eq!(f.state(), InputState::Live);
                now += ms(rng.below(10_000));
                f.ended(now, rng.chance(0.5));
                assert_ne!(f.state(), InputState::Connecting, "an end always waits");
            }
        }
        let s = f.stats();
        assert_eq!(s.attempts, s.connects + s.failures, "seed {seed}: {s:?}");
        assert_eq!(s.connects, s.ends + s.stalls, "seed {seed}: {s:?}");
        assert!(s.switches < s.connects.max(1), "seed {seed}: {s:?}");
        assert_eq!(s.ignored, 0, "seed {seed}");
    }
}
