//! Live congestion control (draft-sharabayko-srt §5.1): pace sending at MAX_BW, either fixed or
//! MAX_BW = INPUT_BW * (1 + OVERHEAD / 100) with the input rate measured from what the
//! application queues.
//!
//! Retransmissions have their own budget ([`RexmitBudget`]), whatever the pacing: a token
//! bucket refilled at a share of the measured input rate (libsrt's SRTO_OHEADBW idea), so a
//! peer that NAKs everything cannot pull more than that share on top of the stream.
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

/// libsrt's default SRTO_OHEADBW: retransmissions may add this much to the input rate.
pub const DEFAULT_REXMIT_OVERHEAD_PCT: u32 = 25;
/// The budget's rate never falls below this (bytes per second, ~12 full packets): a stream
/// of a few kbit/s, or one whose rate is not measured yet, can still repair a loss or two
/// per NAK round, while an attacker on such a stream gets at most ~130 kbit/s from it.
const MIN_REXMIT_RATE: u64 = 16_000;
/// The bucket holds at least this many full packets, so a burst loss (a lost keyframe, 50
/// packets of a 1 Mbit/s stream) is repaired at once, within the latency, instead of at the
/// budget's rate (which would take seconds). It is what an attacker gets once, up front.
const MIN_REXMIT_BURST_PKTS: u64 = 64;
/// Otherwise the bucket holds one second of budget: losses are spread over a second of
/// retransmissions, libsrt's rate window.
const REXMIT_BURST_WINDOW_US: u64 = 1_000_000;
/// Wire bytes of a full live packet (1316 payload plus headers) for the burst floor.
const FULL_PKT_BYTES: u64 = 1316 + PKT_OVERHEAD;

/// The retransmission budget: a token bucket on wire bytes (payload plus [`PKT_OVERHEAD`]),
/// refilled at `max(input rate * overhead / 100, MIN_REXMIT_RATE)`, driven by `now` only.
///
/// libsrt paces everything at INPUT_BW * (1 + SRTO_OHEADBW / 100) when asked to
/// (SRTO_MAXBW 0), so retransmissions compete with originals for the overhead; we pace
/// originals at a fixed rate (see the module docs) and cap only what retransmissions add.
/// Tokens are kept in micro-bytes so refills over short intervals are exact.
#[derive(Debug, Clone)]
pub struct RexmitBudget {
    overhead_pct: u32,
    /// Refill rate in bytes per second.
    rate: u64,
    capacity_ub: u64,
    tokens_ub: u64,
    last_refill: Instant,
}

impl RexmitBudget {
    /// A full bucket at the floor rate: the input rate is not known yet.
    pub fn new(now: Instant, overhead_pct: u32) -> Self {
        let mut b = RexmitBudget {
            overhead_pct,
            rate: 0,
            capacity_ub: 0,
            tokens_ub: 0,
            last_refill: now,
        };
        b.set_rate(0);
        b.tokens_ub = b.capacity_ub;
        b
    }

    /// Bytes per second the bucket refills at.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Wire bytes the bucket holds at most.
    #[cfg(test)]
    pub fn capacity(&self) -> u64 {
        self.capacity_ub / 1_000_000
    }

    /// Follows a new input rate estimate (bytes per second, headers included).
    pub fn on_input_rate(&mut self, now: Instant, input_bw: u64) {
        self.refill(now);
        self.set_rate(input_bw);
        self.tokens_ub = self.tokens_ub.min(self.capacity_ub);
    }

    /// Takes the tokens for one retransmission of `payload_len` bytes if the bucket has them.
    pub fn try_spend(&mut self, now: Instant, payload_len: usize) -> bool {
        self.refill(now);
        let need = (payload_len as u64 + PKT_OVERHEAD) * 1_000_000;
        if self.tokens_ub < need {
            return false;
        }
        self.tokens_ub -= need;
        true
    }

    fn set_rate(&mut self, input_bw: u64) {
        let share = input_bw.saturating_mul(u64::from(self.overhead_pct)) / 100;
        self.rate = share.max(MIN_REXMIT_RATE);
        let window = self.rate.saturating_mul(REXMIT_BURST_WINDOW_US);
        self.capacity_ub = window.max(MIN_REXMIT_BURST_PKTS * FULL_PKT_BYTES * 1_000_000);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_us = now.saturating_duration_since(self.last_refill).as_micros();
        if elapsed_us == 0 {
            return;
        }
        // bytes/s * us = micro-bytes.
        let add = u128::from(self.rate) * elapsed_us;
        let tokens = u128::from(self.tokens_ub) + add;
        self.tokens_ub = tokens.min(u128::from(self.capacity_ub)) as u64;
        self.last_refill = now;
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

    #[test]
    fn rexmit_budget_refills_at_a_share_of_the_input_rate() {
        let t0 = crate::srt::sim::t0();
        let mut b = RexmitBudget::new(t0, 25);
        // Unknown input rate: the floor rate and the 64-packet burst.
        assert_eq!(b.rate(), MIN_REXMIT_RATE);
        assert_eq!(b.capacity(), 64 * 1360);
        for _ in 0..64 {
            assert!(b.try_spend(t0, 1316));
        }
        assert!(!b.try_spend(t0, 1316), "the burst is spent");
        // 1.36 MB/s in: 340 kB/s of budget, one second of it as the bucket.
        b.on_input_rate(t0, 1_360_000);
        assert_eq!((b.rate(), b.capacity()), (340_000, 340_000));
        // 4 ms refill 1360 bytes: exactly one packet, then nothing.
        let t = t0 + Duration::from_millis(4);
        assert!(b.try_spend(t, 1316));
        assert!(!b.try_spend(t, 1316));
        // Refills stop at the capacity however long it idles.
        let t = t + Duration::from_secs(60);
        let mut n = 0;
        while b.try_spend(t, 1316) {
            n += 1;
        }
        assert_eq!(n, 250);
    }
}
