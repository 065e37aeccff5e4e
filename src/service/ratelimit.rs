//! Rate limits for log lines a peer can trigger: a misbehaving or hostile peer must not be able
//! to flood the journal (STYLE.md: peer-misbehaviour warnings are rate-limited).
//!
//! Owns [`RateLimited`] (at most `burst` lines per interval, and how many were held back) and
//! [`PeerMisbehaviour`] (the endpoint's misbehaviour counters, diffed and reported at most once
//! per interval). Must not read the clock or log by itself: callers pass `now` and write the
//! line, so the shard decides the wording and the level.

use std::fmt;
use std::time::{Duration, Instant};

use crate::srt::endpoint::EndpointStats;

/// How often one shard may warn about misbehaving peers.
pub const PEER_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// At most `burst` lines per `interval` window; the rest are counted.
#[derive(Debug, Clone)]
pub struct RateLimited {
    interval: Duration,
    burst: u32,
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

/// Counters of peer input the endpoint dropped, as one snapshot (or a difference of two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    pub parse_errors: u64,
    pub unknown_socket: u64,
    pub wrong_peer: u64,
    pub not_handshake: u64,
    pub handshake_drops: u64,
    /// Conclusions refused (1400) for a Stream ID over 512 bytes.
    pub stream_id_too_long: u64,
}

/// Watches a shard's [`EndpointStats`] and says, at most once per interval, what went wrong
/// since the last time it said so.
#[derive(Debug, Clone)]
pub struct PeerMisbehaviour {
    limiter: RateLimited,
    reported: PeerCounts,
}

impl RateLimited {
    pub fn new(interval: Duration, burst: u32) -> RateLimited {
        RateLimited {
            interval,
            burst: burst.max(1),
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    /// Whether a line may be written at `now`. `Some(n)`: write it, and mention the `n` lines
    /// held back since the last one written (0 for none). `None`: held back, and counted.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        let new_window = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= self.interval);
        if new_window {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

impl PeerCounts {
    pub fn from_stats(s: &EndpointStats) -> PeerCounts {
        PeerCounts {
            parse_errors: s.parse_errors,
            unknown_socket: s.unknown_socket,
            wrong_peer: s.wrong_peer,
            not_handshake: s.not_handshake,
            handshake_drops: s.handshake_drops.values().sum(),
            stream_id_too_long: s.stream_id_too_long,
        }
    }

    /// What rose since `earlier` (counters only grow; a reset reads as zero, not a wrap).
    pub fn since(&self, earlier: &PeerCounts) -> PeerCounts {
        PeerCounts {
            parse_errors: self.parse_errors.saturating_sub(earlier.parse_errors),
            unknown_socket: self.unknown_socket.saturating_sub(earlier.unknown_socket),
            wrong_peer: self.wrong_peer.saturating_sub(earlier.wrong_peer),
            not_handshake: self.not_handshake.saturating_sub(earlier.not_handshake),
            handshake_drops: self.handshake_drops.saturating_sub(earlier.handshake_drops),
            stream_id_too_long: self
                .stream_id_too_long
                .saturating_sub(earlier.stream_id_too_long),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == PeerCounts::default()
    }
}

/// Only the non-zero counts, e.g. `3 unparsable, 12 for unknown socket ids`.
impl fmt::Display for PeerCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.parse_errors, "unparsable"),
            (self.unknown_socket, "for unknown socket ids"),
            (self.wrong_peer, "from the wrong peer address"),
            (self.not_handshake, "non-handshake to socket id 0"),
            (self.handshake_drops, "bad handshakes"),
            (
                self.stream_id_too_long,
                "refused for a Stream ID over 512 bytes",
            ),
        ];
        let mut first = true;
        for (n, what) in parts.into_iter().filter(|(n, _)| *n > 0) {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "{n} {what}")?;
            first = false;
        }
        Ok(())
    }
}

impl PeerMisbehaviour {
    pub fn new(interval: Duration) -> PeerMisbehaviour {
        PeerMisbehaviour {
            limiter: RateLimited::new(interval, 1),
            reported: PeerCounts::default(),
        }
    }

    /// The counts since the last report, when some rose and a line is allowed at `now`. Counts
    /// not reported yet stay pending and are included in the next report.
    pub fn check(&mut self, stats: &EndpointStats, now: Instant) -> Option<PeerCounts> {
        let current = PeerCounts::from_stats(stats);
        let delta = current.since(&self.reported);
        if delta.is_zero() {
            return None;
        }
        // The limiter's held-back count is not meaningful here: the delta carries the totals.
        self.limiter.allow(now)?;
        self.reported = current;
        Some(delta)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a base instant for virtual time
mod tests {
    use super::*;
    use crate::srt::handshake::DropReason;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn burst_then_hold_back_then_report_the_count_in_the_next_window() {
        let t0 = Instant::now();
        let mut r = RateLimited::new(10 * S, 2);
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0 + S), Some(0));
        assert_eq!(r.allow(t0 + 2 * S), None);
        assert_eq!(r.allow(t0 + 9 * S), None);
        // The window opened at t0; at t0 + 10 s a new one starts and the first line carries
        // the two held back.
        assert_eq!(r.allow(t0 + 10 * S), Some(2));
        assert_eq!(r.allow(t0 + 11 * S), Some(0));
        assert_eq!(r.allow(t0 + 12 * S), None);
    }

    #[test]
    fn a_zero_burst_still_lets_one_line_through() {
        let t0 = Instant::now();
        let mut r = RateLimited::new(S, 0);
        assert_eq!(r.allow(t0), Some(0));
        assert_eq!(r.allow(t0), None);
    }

    #[test]
    fn misbehaviour_is_reported_once_per_interval_with_everything_since_the_last_report() {
        let t0 = Instant::now();
        let mut w = PeerMisbehaviour::new(10 * S);
        let mut stats = EndpointStats::default();
        assert_eq!(w.check(&stats, t0), None, "nothing happened");

        stats.parse_errors = 3;
        stats.unknown_socket = 12;
        let first = w.check(&stats, t0 + S).expect("first report");
        assert_eq!((first.parse_errors, first.unknown_socket), (3, 12));
        assert_eq!(first.to_string(), "3 unparsable, 12 for unknown socket ids");

        // More within the interval: held back.
        stats.wrong_peer = 5;
        stats.handshake_drops.insert(DropReason::BadCookie, 2);
        stats.handshake_drops.insert(DropReason::Malformed, 1);
        assert_eq!(w.check(&stats, t0 + 2 * S), None);
        stats.parse_errors = 4;
        stats.stream_id_too_long = 2;
        assert_eq!(w.check(&stats, t0 + 5 * S), None);

        // The next window reports what accumulated, once.
        let second = w.check(&stats, t0 + 11 * S).expect("second report");
        assert_eq!(
            second,
            PeerCounts {
                parse_errors: 1,
                unknown_socket: 0,
                wrong_peer: 5,
                not_handshake: 0,
                handshake_drops: 3,
                stream_id_too_long: 2,
            }
        );
        assert_eq!(
            second.to_string(),
            "1 unparsable, 5 from the wrong peer address, 3 bad handshakes, 2 refused for a \
             Stream ID over 512 bytes"
        );
        assert_eq!(w.check(&stats, t0 + 30 * S), None, "no news, no line");
    }
}
