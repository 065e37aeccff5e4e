//! The connection's timers: a small table indexed by an enum; the next deadline is the min.
//! Model: quinn-proto `connection/timer.rs`.

use std::time::Instant;

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
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}
