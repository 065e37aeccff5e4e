//! The connection's timers: a small table indexed by an enum; the next deadline is the min.
//! Model: quinn-proto `connection/timer.rs`.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Periodic full ACK, every 10 ms (draft §4.8.1).
    Ack = 0,
    /// Periodic NAK (draft §4.8.2).
    Nak = 1,
    /// Send a keepalive after 1 s without sending anything (libsrt COMM_KEEPALIVE_PERIOD).
    KeepAlive = 2,
    /// Close after the peer has been silent for the idle timeout.
    Idle = 3,
    /// Sender-side too-late drop check.
    SndDrop = 4,
    /// Live congestion control: input rate estimation window.
    RateSample = 5,
    /// Close a peer that was sent data and has acknowledged nothing for the unresponsive
    /// timeout; armed by the first data packet after an ACK, stopped by every ACK.
    Unresponsive = 6,
}

impl Timer {
    /// Seconds-scale timers, where being served a few milliseconds late changes nothing a
    /// peer can tell: a driver may coalesce them (`EndpointConfig::timer_slack`). ACK, NAK and
    /// the sender's drop check are fine-grained.
    pub fn is_coarse(self) -> bool {
        matches!(
            self,
            Timer::KeepAlive | Timer::Idle | Timer::RateSample | Timer::Unresponsive
        )
    }
}

const COUNT: usize = 7;
/// Every timer, in the order `handle_timeout` serves them.
pub const ALL: [Timer; COUNT] = [
    Timer::Ack,
    Timer::Nak,
    Timer::KeepAlive,
    Timer::Idle,
    Timer::SndDrop,
    Timer::RateSample,
    Timer::Unresponsive,
];

#[derive(Debug, Default, Clone, Copy)]
pub struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
    /// Periodic timers parked at the instant they last fired with nothing to do (see
    /// `park`).
    parked: [Option<Instant>; COUNT],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
        self.parked[timer as usize] = None;
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
        self.parked[timer as usize] = None;
    }

    /// Stops a periodic timer that fired at `fired` and found nothing to do, and that can
    /// find something only after new input: an idle connection's ACK and NAK timers would
    /// otherwise wake it 150 times a second for nothing. `resume` re-arms it on the grid it
    /// would have kept (`fired` + k periods), so the packets and their times are the same.
    pub fn park(&mut self, timer: Timer, fired: Instant) {
        self.deadlines[timer as usize] = None;
        self.parked[timer as usize] = Some(fired);
    }

    /// Re-arms a parked timer at its next tick at or after `now` (at least one period after it
    /// was parked). Call before handling the input, with the period in force until then.
    pub fn resume(&mut self, timer: Timer, now: Instant, period: Duration) {
        let Some(fired) = self.parked[timer as usize].take() else {
            return;
        };
        let period_ns = period.as_nanos().max(1);
        let since_ns = now.saturating_duration_since(fired).as_nanos();
        let ticks = since_ns.div_ceil(period_ns).max(1);
        let next = fired + period.saturating_mul(u32::try_from(ticks).unwrap_or(u32::MAX));
        self.deadlines[timer as usize] = Some(next);
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The next deadline of the fine-grained timers and of the coarse ones.
    pub fn next_deadlines(&self) -> (Option<Instant>, Option<Instant>) {
        let (mut fine, mut coarse) = (None, None);
        for timer in ALL {
            let Some(t) = self.get(timer) else {
                continue;
            };
            let slot = if timer.is_coarse() {
                &mut coarse
            } else {
                &mut fine
            };
            *slot = Some(slot.map_or(t, |s: Instant| s.min(t)));
        }
        (fine, coarse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn resume_keeps_the_grid_of_a_parked_timer() {
        let t0 = crate::srt::sim::t0();
        let mut t = TimerTable::default();
        t.park(Timer::Ack, t0);
        assert_eq!(t.next_deadlines(), (None, None));
        // Input 35 ms later: the timer would have fired at 10, 20, 30 (nothing to do) and 40.
        t.resume(Timer::Ack, t0 + 35 * MS, 10 * MS);
        assert_eq!(t.get(Timer::Ack), Some(t0 + 40 * MS));
        // Input exactly on a tick is served by that tick (input before timers, as drivers do).
        t.park(Timer::Ack, t0 + 40 * MS);
        t.resume(Timer::Ack, t0 + 60 * MS, 10 * MS);
        assert_eq!(t.get(Timer::Ack), Some(t0 + 60 * MS));
        // Input in the instant it was parked: the next tick, one period on.
        t.park(Timer::Ack, t0 + 60 * MS);
        t.resume(Timer::Ack, t0 + 60 * MS, 10 * MS);
        assert_eq!(t.get(Timer::Ack), Some(t0 + 70 * MS));
    }

    #[test]
    fn resume_of_a_running_or_stopped_timer_changes_nothing() {
        let t0 = crate::srt::sim::t0();
        let mut t = TimerTable::default();
        t.set(Timer::Ack, t0 + 5 * MS);
        t.resume(Timer::Ack, t0 + 50 * MS, 10 * MS);
        assert_eq!(t.get(Timer::Ack), Some(t0 + 5 * MS));
        t.park(Timer::Nak, t0);
        t.stop(Timer::Nak);
        t.resume(Timer::Nak, t0 + 50 * MS, 10 * MS);
        assert_eq!(t.get(Timer::Nak), None);
    }
}
