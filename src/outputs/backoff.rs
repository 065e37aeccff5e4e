//! The retry schedule of an output, sans-IO: the first wait after a failure, doubled for each
//! failure in a row up to a ceiling, back to the first after a connection that delivered.

#![deny(clippy::disallowed_methods)]

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// A connection attempt failed or a connection was lost: how long to wait before the next.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// A connection delivered: the next failure waits the first delay again.
    pub fn delivered(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_ceiling_and_start_over_after_a_delivery() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(5));
        let waits: Vec<Duration> = (0..5).map(|_| b.failed()).collect();
        assert_eq!(waits, [s(1), s(2), s(4), s(5), s(5)]);
        b.delivered();
        assert_eq!(b.failed(), s(1));
    }
}
