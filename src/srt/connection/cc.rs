//! Live congestion control (draft-sharabayko-srt §5.1): pace sending at MAX_BW, either fixed or
//! MAX_BW = INPUT_BW * (1 + OVERHEAD / 100) with the input rate measured from what the
//! application queues.
//!
//! The default is libsrt's: SRTO_MAXBW -1, which in live mode means a fixed 1 Gbit/s
//! (docs/API/API-socket-options.md), *not* the measured input rate (that is SRTO_MAXBW 0 with
//! SRTO_INPUTBW 0). The difference matters for a relay: a leg that idles and then gets a burst
//! would otherwise pace the burst at whatever trickle its last rate window saw (a 500 ms window
//! with one packet paces at ~3 kB/s), and a player starved that way stalls.

use std::time::{Duration, Instant};

/// How the sending rate limit is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxBandwidth {
    /// A fixed limit in bytes per second.
    Fixed(u64),
    /// Measured input rate plus this overhead percentage.
    Relative { overhead_pct: u32 },
}

impl Default for MaxBandwidth {
    /// libsrt's live default (SRTO_MAXBW -1): 1 Gbit/s.
    fn default() -> Self {
        MaxBandwidth::Fixed(INITIAL_BW_BYTES)
    }
}

/// Until the input rate is known, libsrt assumes 1 Gbit/s (BW_INFINITE).
const INITIAL_BW_BYTES: u64 = 125_000_000;
/// IP + UDP + SRT header bytes counted per packet, as libsrt does for the rate.
const PKT_OVERHEAD: u64 = 44;
/// A late wake-up may catch up on at most this much missed sending time.
const MAX_CATCH_UP: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub struct LiveCc {
    max_bw: MaxBandwidth,
    period: Duration,
    next_send: Option<Instant>,
    window_start: Instant,
    window_bytes: u64,
    window_pkts: u64,
    input_bw: u64,
    avg_payload: u64,
}

impl LiveCc {
    pub fn new(now: Instant, max_bw: MaxBandwidth) -> Self {
        let mut cc = LiveCc {
            max_bw,
            period: Duration::ZERO,
            next_send: None,
            window_start: now,
            window_bytes: 0,
            window_pkts: 0,
            input_bw: 0,
            avg_payload: 1316,
        };
        cc.update_period();
        cc
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// Measured input rate in bytes per second (0 until the first window closes).
    pub fn input_bw(&self) -> u64 {
        self.input_bw
    }

    /// When the next paced packet may go; `None` means now.
    pub fn next_send_time(&self) -> Option<Instant> {
        self.next_send
    }

    pub fn can_send(&self, now: Instant) -> bool {
        self.next_send.is_none_or(|t| t <= now)
    }

    /// A packet queued by the application at `now`.
    pub fn on_app_packet(&mut self, now: Instant, payload_len: usize) {
        // libsrt `CSndBuffer::updateInputRate` starts the first window at the first packet.
        // Counting from the connection's start instead underestimates the rate of a stream
        // that begins later (a subscriber waiting for its publisher), paces below it, and
        // the backlog grows past the latency until the next sample a second later.
        if self.input_bw == 0 && self.window_pkts == 0 {
            self.window_start = now;
        }
        self.window_bytes += payload_len as u64 + PKT_OVERHEAD;
        self.window_pkts += 1;
    }

    pub fn on_packet_sent(&mut self, now: Instant) {
        let from = match self.next_send {
            Some(t) => t.max(now.checked_sub(MAX_CATCH_UP).unwrap_or(now)),
            None => now,
        };
        self.next_send = Some(from + self.period);
    }

    /// Closes an input-rate window (libsrt samples over 500 ms at start, then 1 s). Returns
    /// when to sample next.
    pub fn on_rate_sample(&mut self, now: Instant) -> Instant {
        let elapsed = now.saturating_duration_since(self.window_start);
        if !elapsed.is_zero() && self.window_pkts > 0 {
            self.input_bw = (self.window_bytes as u128 * 1_000_000 / elapsed.as_micros()) as u64;
            self.avg_payload = self.window_bytes / self.window_pkts - PKT_OVERHEAD;
        }
        self.window_start = now;
        self.window_bytes = 0;
        self.window_pkts = 0;
        self.update_period();
        now + Duration::from_secs(1)
    }

    fn update_period(&mut self) {
        let bw = match self.max_bw {
            MaxBandwidth::Fixed(bw) => bw,
            MaxBandwidth::Relative { .. } if self.input_bw == 0 => INITIAL_BW_BYTES,
            MaxBandwidth::Relative { overhead_pct } => {
                self.input_bw * (100 + u64::from(overhead_pct)) / 100
            }
        };
        let pkt = self.avg_payload + PKT_OVERHEAD;
        self.period = Duration::from_nanos((pkt * 1_000_000_000).checked_div(bw).unwrap_or(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_at_input_rate_plus_overhead() {
        let t0 = crate::srt::sim::t0();
        let mut cc = LiveCc::new(t0, MaxBandwidth::Relative { overhead_pct: 25 });
        // 1 Gbit/s assumed at start: 1360 bytes every 10.88 us.
        assert_eq!(cc.period(), Duration::from_nanos(10_880));
        // 1000 packets of 1316 bytes in one second: 1.36 MB/s, so 1.7 MB/s with 25 %.
        for _ in 0..1000 {
            cc.on_app_packet(t0, 1316);
        }
        cc.on_rate_sample(t0 + Duration::from_secs(1));
        assert_eq!(cc.input_bw(), 1_360_000);
        assert_eq!(cc.period(), Duration::from_micros(800));
        let t1 = t0 + Duration::from_secs(2);
        assert!(cc.can_send(t1));
        cc.on_packet_sent(t1);
        assert!(!cc.can_send(t1 + Duration::from_micros(799)));
        assert!(cc.can_send(t1 + Duration::from_micros(800)));
    }

    #[test]
    fn default_is_libsrt_live_fixed_one_gigabit() {
        let t0 = crate::srt::sim::t0();
        let mut cc = LiveCc::new(t0, MaxBandwidth::default());
        assert_eq!(cc.period(), Duration::from_nanos(10_880));
        // A trickle does not slow it down: the limit does not follow the input.
        cc.on_app_packet(t0, 1316);
        cc.on_rate_sample(t0 + Duration::from_millis(500));
        assert_eq!(cc.period(), Duration::from_nanos(10_880));
    }

    #[test]
    fn first_window_starts_at_the_first_packet() {
        let t0 = crate::srt::sim::t0();
        let mut cc = LiveCc::new(t0, MaxBandwidth::Relative { overhead_pct: 25 });
        // Idle for 300 ms, then 1316-byte packets every 2 ms until the 500 ms sample: the
        // rate is that of the 200 ms with data, not diluted over 500 ms.
        for i in 0..100u32 {
            cc.on_app_packet(t0 + Duration::from_millis(300 + 2 * u64::from(i)), 1316);
        }
        cc.on_rate_sample(t0 + Duration::from_millis(500));
        assert_eq!(cc.input_bw(), 100 * 1360 * 1000 / 200);
    }

    #[test]
    fn fixed_bandwidth() {
        let cc = LiveCc::new(crate::srt::sim::t0(), MaxBandwidth::Fixed(1_360_000));
        assert_eq!(cc.period(), Duration::from_millis(1));
    }
}
