//! Live congestion control (draft-sharabayko-srt §5.1): pace sending at MAX_BW, either fixed or
//! MAX_BW = INPUT_BW * (1 + OVERHEAD / 100) with the input rate measured from what the
//! application queues.
//!
//! Retransmissions have their own budget ([`RexmitBudget`]), whatever the pacing: a token
//! bucket credited with a share of every packet the application queues (libsrt's SRTO_OHEADBW
//! idea), so a peer that NAKs everything cannot pull more than that share on top of the stream.
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
/// The budget never grows slower than this (bytes per second, ~12 full packets): a stream of
/// a few kbit/s, or one whose rate is not measured yet, can still repair a loss or two per
/// NAK round, while an attacker on such a stream gets at most ~130 kbit/s from it.
const MIN_REXMIT_RATE: u64 = 16_000;
/// The bucket holds at least this many full packets, so a burst loss (a lost keyframe, 50
/// packets of a 1 Mbit/s stream) is repaired at once, within the latency, instead of at the
/// budget's rate (which would take seconds). It is what an attacker gets once, up front.
const MIN_REXMIT_BURST_PKTS: u64 = 64;
/// Otherwise the bucket holds one second of budget at the measured rate (libsrt's rate
/// window), or the credit of what was queued since the last rate sample if that is more (a
/// subscriber's keyframe backlog arrives as one burst, and so do its losses).
const REXMIT_BURST_WINDOW_US: u64 = 1_000_000;
/// Wire bytes of a full live packet (1316 payload plus headers) for the burst floor.
const FULL_PKT_BYTES: u64 = 1316 + PKT_OVERHEAD;
/// Tokens are micro-bytes, so refills over short intervals and percentages are exact.
const UB: u64 = 1_000_000;

/// The retransmission budget: a token bucket on wire bytes (payload plus [`PKT_OVERHEAD`]).
///
/// Every packet the application queues credits `overhead_pct` % of its wire size, so the
/// budget is that share of the input exactly, with no estimation lag; when that share of the
/// measured input rate is below [`MIN_REXMIT_RATE`], time tops it up to the floor. Driven by
/// the caller's `now` only.
///
/// libsrt paces everything at INPUT_BW * (1 + SRTO_OHEADBW / 100) when asked to
/// (SRTO_MAXBW 0), so retransmissions compete with originals for the overhead; we pace
/// originals at a fixed rate (see the module docs) and cap only what retransmissions add.
#[derive(Debug, Clone)]
pub struct RexmitBudget {
    overhead_pct: u32,
    /// `overhead_pct` % of the last measured input rate, bytes per second.
    share: u64,
    /// What time adds, bytes per second: the floor minus the share, if positive.
    floor_rate: u64,
    /// Capacity from the last rate sample: the burst floor or one second of the share.
    base_capacity_ub: u64,
    /// Credit from packets queued since the last rate sample.
    window_credit_ub: u64,
    capacity_ub: u64,
    tokens_ub: u64,
    last_refill: Instant,
}

impl RexmitBudget {
    /// A full bucket at the floor: the input rate is not known yet.
    pub fn new(now: Instant, overhead_pct: u32) -> Self {
        let mut b = RexmitBudget {
            overhead_pct,
            share: 0,
            floor_rate: 0,
            base_capacity_ub: 0,
            window_credit_ub: 0,
            capacity_ub: 0,
            tokens_ub: 0,
            last_refill: now,
        };
        b.set_share(0);
        b.tokens_ub = b.capacity_ub;
        // Until the first rate sample the full bucket and the credit are the budget: a floor
        // on top would add to what a peer NAKing everything gets from a fast stream.
        b.floor_rate = 0;
        b
    }

    /// Bytes per second the budget grows by at the measured input rate.
    pub fn rate(&self) -> u64 {
        self.share.max(MIN_REXMIT_RATE)
    }

    /// Wire bytes the bucket holds at most now.
    #[cfg(test)]
    pub fn capacity(&self) -> u64 {
        self.capacity_ub / UB
    }

    /// A packet of `payload_len` bytes queued by the application: credits its share.
    pub fn on_app_packet(&mut self, payload_len: usize) {
        let credit = (payload_len as u64 + PKT_OVERHEAD) * u64::from(self.overhead_pct) * UB / 100;
        self.window_credit_ub = self.window_credit_ub.saturating_add(credit);
        self.capacity_ub = self.base_capacity_ub.max(self.window_credit_ub);
        self.tokens_ub = self.tokens_ub.saturating_add(credit).min(self.capacity_ub);
    }

    /// Follows a new input rate estimate (bytes per second, headers included), taken at
    /// the end of a rate window.
    pub fn on_input_rate(&mut self, now: Instant, input_bw: u64) {
        self.refill(now);
        self.set_share(input_bw);
        self.window_credit_ub = 0;
        self.tokens_ub = self.tokens_ub.min(self.capacity_ub);
    }

    /// Takes the tokens for one retransmission of `payload_len` bytes if the bucket has them.
    pub fn try_spend(&mut self, now: Instant, payload_len: usize) -> bool {
        self.refill(now);
        let need = (payload_len as u64 + PKT_OVERHEAD) * UB;
        if self.tokens_ub < need {
            return false;
        }
        self.tokens_ub -= need;
        true
    }

    fn set_share(&mut self, input_bw: u64) {
        self.share = input_bw.saturating_mul(u64::from(self.overhead_pct)) / 100;
        self.floor_rate = MIN_REXMIT_RATE.saturating_sub(self.share);
        let window = self.share.saturating_mul(REXMIT_BURST_WINDOW_US);
        self.base_capacity_ub = window.max(MIN_REXMIT_BURST_PKTS * FULL_PKT_BYTES * UB);
        self.capacity_ub = self.base_capacity_ub;
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_us = now.saturating_duration_since(self.last_refill).as_micros();
        if elapsed_us == 0 {
            return;
        }
        self.last_refill = now;
        // bytes/s * us = micro-bytes.
        let add = u128::from(self.floor_rate) * elapsed_us;
        let tokens = u128::from(self.tokens_ub) + add;
        self.tokens_ub = tokens.min(u128::from(self.capacity_ub)) as u64;
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
    fn rexmit_budget_is_a_share_of_what_is_queued_with_a_floor() {
        let t0 = crate::srt::sim::t0();
        let mut b = RexmitBudget::new(t0, 25);
        // Unknown input rate: the floor rate and the 64-packet burst, full.
        assert_eq!(b.rate(), MIN_REXMIT_RATE);
        assert_eq!(b.capacity(), 64 * 1360);
        for _ in 0..64 {
            assert!(b.try_spend(t0, 1316));
        }
        assert!(!b.try_spend(t0, 1316), "the burst is spent");
        // Four queued packets credit one retransmission; time adds nothing before the first
        // rate sample.
        for _ in 0..4 {
            b.on_app_packet(1316);
        }
        assert!(b.try_spend(t0, 1316));
        assert!(!b.try_spend(t0 + Duration::from_millis(400), 1316));
        // A slow stream (8 kB/s, a 2 kB/s share) is topped up to the 16 kB/s floor: 1360
        // bytes every 85 ms.
        let t = t0 + Duration::from_millis(500);
        b.on_input_rate(t, 8_000);
        assert_eq!(b.rate(), MIN_REXMIT_RATE);
        assert!(!b.try_spend(t + Duration::from_micros(97_142), 1316));
        assert!(b.try_spend(t + Duration::from_micros(97_143), 1316));
        // 1.36 MB/s in: 340 kB/s of share, one second of it as the bucket, no time refill.
        let t1 = t0 + Duration::from_secs(1);
        b.on_input_rate(t1, 1_360_000);
        assert_eq!((b.rate(), b.capacity()), (340_000, 340_000));
        while b.try_spend(t1, 1316) {}
        assert!(
            !b.try_spend(t1 + Duration::from_secs(60), 1316),
            "no floor refill"
        );
        // A backlog burst: 2000 packets queued at once credit 500 retransmissions, more than
        // one second of the share holds.
        for _ in 0..2000 {
            b.on_app_packet(1316);
        }
        assert_eq!(b.capacity(), 500 * 1360);
        let mut n = 0;
        while b.try_spend(t1, 1316) {
            n += 1;
        }
        assert_eq!(n, 500);
        // The next sample brings the capacity back to a second of the share.
        b.on_input_rate(t1 + Duration::from_secs(1), 1_360_000);
        assert_eq!(b.capacity(), 340_000);
    }
}
