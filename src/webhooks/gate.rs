//! One shard's memory of admission callbacks: answers cached per `Ask::key` for
//! `cache_ms` / `deny_cache_ms`, and the keys whose callback is on its way (one call per key,
//! however often the caller repeats itself). Sans-IO: time comes in as `now`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Verdict;

/// Keys remembered at most (answers and calls in flight): a flood of distinct callers costs
/// this much memory and no more; past it (after expiry) an arbitrary entry makes room.
pub const MAX_ENTRIES: usize = 16_384;

/// What the gate knows about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Ready(Verdict),
    /// A call is on its way: wait for it.
    Pending,
    /// Nothing: the caller must make the call now (the key is marked pending).
    Ask,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateCounters {
    pub cache_hits: u64,
    /// Lookups that found a call already on its way.
    pub joined: u64,
    pub calls: u64,
    /// Entries dropped to make room while the table was full of live ones.
    pub evicted: u64,
}

#[derive(Debug)]
enum Entry {
    Known {
        verdict: Verdict,
        until: Instant,
    },
    /// Called at this time; forgotten (and asked again) after `lost_after`.
    Calling {
        since: Instant,
    },
    /// Answered with a verdict that was not to be cached: one lookup may take it, until
    /// `until` (a caller that gave up never comes for it).
    Once {
        verdict: Verdict,
        until: Instant,
    },
}

#[derive(Debug)]
pub struct HookGate {
    entries: HashMap<String, Entry>,
    allow_for: Duration,
    deny_for: Duration,
    /// A call whose answer never came (the callback thread lost it) is retried after this.
    lost_after: Duration,
    pub counters: GateCounters,
}

impl HookGate {
    pub fn new(allow_for: Duration, deny_for: Duration, timeout: Duration) -> HookGate {
        HookGate {
            entries: HashMap::new(),
            allow_for,
            deny_for,
            lost_after: timeout * 2 + Duration::from_secs(1),
            counters: GateCounters::default(),
        }
    }

    pub fn lookup(&mut self, key: &str, now: Instant) -> Lookup {
        match self.entries.get(key) {
            Some(Entry::Known { verdict, until }) if now < *until => {
                self.counters.cache_hits += 1;
                return Lookup::Ready(*verdict);
            }
            Some(Entry::Once { verdict, until }) if now < *until => {
                let v = *verdict;
                self.entries.remove(key);
                return Lookup::Ready(v);
            }
            Some(Entry::Calling { since }) if now < *since + self.lost_after => {
                self.counters.joined += 1;
                return Lookup::Pending;
            }
            _ => {}
        }
        self.insert(key, Entry::Calling { since: now }, now);
        self.counters.calls += 1;
        Lookup::Ask
    }

    fn insert(&mut self, key: &str, entry: Entry, now: Instant) {
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(key) {
            self.expire(now);
            if self.entries.len() >= MAX_ENTRIES
                && let Some(victim) = self.entries.keys().next().cloned()
            {
                self.entries.remove(&victim);
                self.counters.evicted += 1;
            }
        }
        self.entries.insert(key.to_string(), entry);
    }

    /// The answer for `key` arrived.
    pub fn resolve(&mut self, key: &str, verdict: Verdict, now: Instant) {
        let keep = match verdict {
            Verdict::Allow => self.allow_for,
            Verdict::Deny(_) => self.deny_for,
        };
        let entry = if keep.is_zero() {
            Entry::Once {
                verdict,
                until: now + self.lost_after,
            }
        } else {
            Entry::Known {
                verdict,
                until: now + keep,
            }
        };
        self.insert(key, entry, now);
    }

    /// Forgets `key` (a call that could not be made).
    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets expired answers and lost calls.
    pub fn expire(&mut self, now: Instant) {
        let lost = self.lost_after;
        self.entries.retain(|_, e| match e {
            Entry::Known { until, .. } | Entry::Once { until, .. } => now < *until,
            Entry::Calling { since } => now < *since + lost,
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one Instant::now() per test: the origin of virtual time
mod tests {
    use super::super::Deny;
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn one_call_per_key_then_the_answer_until_it_expires() {
        let t0 = Instant::now();
        let mut g = HookGate::new(10 * S, 2 * S, 2 * S);
        assert_eq!(g.lookup("a", t0), Lookup::Ask);
        // The caller repeats its conclusion every 250 ms: no second call.
        assert_eq!(g.lookup("a", t0 + S / 4), Lookup::Pending);
        assert_eq!(g.lookup("b", t0), Lookup::Ask);
        g.resolve("a", Verdict::Allow, t0 + S / 2);
        g.resolve("b", Verdict::Deny(Deny::Status(403)), t0 + S / 2);
        assert_eq!(g.lookup("a", t0 + S), Lookup::Ready(Verdict::Allow));
        assert_eq!(
            g.lookup("b", t0 + S),
            Lookup::Ready(Verdict::Deny(Deny::Status(403)))
        );
        // A refusal is kept for deny_cache, an admission for cache.
        assert_eq!(g.lookup("b", t0 + 3 * S), Lookup::Ask);
        assert_eq!(g.lookup("a", t0 + 10 * S), Lookup::Ready(Verdict::Allow));
        assert_eq!(g.lookup("a", t0 + 11 * S), Lookup::Ask);
        assert_eq!(g.counters.calls, 4);
        assert_eq!(g.counters.joined, 1);
        assert_eq!(g.counters.cache_hits, 3);
    }

    #[test]
    fn an_uncached_answer_serves_the_lookup_that_waited_for_it_once() {
        let t0 = Instant::now();
        let mut g = HookGate::new(Duration::ZERO, Duration::ZERO, S);
        assert_eq!(g.lookup("a", t0), Lookup::Ask);
        g.resolve("a", Verdict::Allow, t0);
        assert_eq!(g.lookup("a", t0), Lookup::Ready(Verdict::Allow));
        assert_eq!(g.lookup("a", t0), Lookup::Ask);
    }

    #[test]
    fn a_lost_call_is_made_again() {
        let t0 = Instant::now();
        let mut g = HookGate::new(S, S, S);
        assert_eq!(g.lookup("a", t0), Lookup::Ask);
        assert_eq!(g.lookup("a", t0 + 2 * S), Lookup::Pending);
        assert_eq!(g.lookup("a", t0 + 4 * S), Lookup::Ask);
    }

    #[test]
    fn a_flood_of_keys_is_bounded() {
        let t0 = Instant::now();
        let mut g = HookGate::new(60 * S, 60 * S, S);
        for i in 0..MAX_ENTRIES + 100 {
            assert_eq!(g.lookup(&format!("k{i}"), t0), Lookup::Ask);
            g.resolve(&format!("k{i}"), Verdict::Allow, t0);
        }
        assert!(g.len() <= MAX_ENTRIES);
        assert!(g.counters.evicted >= 100);
        // A caller arriving now still gets its answer.
        assert_eq!(g.lookup("late", t0), Lookup::Ask);
        g.resolve("late", Verdict::Allow, t0);
        assert_eq!(g.lookup("late", t0), Lookup::Ready(Verdict::Allow));
        // Once the old answers expire they are all gone at the next eviction.
        for i in 0..MAX_ENTRIES {
            g.lookup(&format!("n{i}"), t0 + 61 * S);
        }
        assert!(g.len() <= MAX_ENTRIES);
        assert_eq!(g.lookup("k1", t0 + 61 * S), Lookup::Ask);
    }
}
