//! 33-bit 90 kHz PES times onto the millisecond timeline RTMP sends, monotonic per track.
//!
//! Owns: extending PTS/DTS across the 33-bit wrap (ISO/IEC 13818-1 §2.4.3.7, about 26.5 h), the
//! origin (the first time placed is 0), holding a track's time when it steps back a little,
//! and rebasing every track when the source's clock leaps or a discontinuity is signalled, so
//! that each track's timestamps never go back.
//! Must not: know about FLV or TS packets, read the clock, or panic on any sequence.

#![deny(clippy::disallowed_methods)]

use crate::media::pes::{TIMESTAMP_WRAP, timestamp_delta};

/// A track stepping back by at most this (90 kHz ticks: 1 s) is held at its last time; more
/// is a clock reset and rebases the stream.
pub const MAX_BACKWARD_TICKS: i64 = 90_000;
/// A track leaping forward by more than this (30 s) is a clock reset too (as
/// `remux::clock::MAX_FORWARD_MS`).
pub const MAX_FORWARD_TICKS: i64 = 30 * 90_000;
/// After a discontinuity indicator, only a step within this (1 s) is taken as continuous:
/// the relay's own splices keep times continuous across their signalled discontinuity.
pub const DISCONTINUITY_TOLERANCE_TICKS: i64 = 90_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video = 0,
    Audio = 1,
}

/// Where a time lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// 90 kHz ticks since the origin; negative for a track that starts a little before it.
    pub ticks: i64,
    /// Held or rebased (the caller counts it).
    pub jumped: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Timeline {
    origin: Option<i64>,
    /// The latest time seen on any track, unwrapped: the reference for the next one.
    last_raw: Option<i64>,
    shift: i64,
    last: [Option<i64>; 2],
    /// A discontinuity indicator was seen: each track's next step is checked tightly.
    discontinuity: [bool; 2],
}

impl Timeline {
    /// The discontinuity indicator (§2.4.3.5) was set: the next time of each track may belong
    /// to a new time base.
    pub fn discontinuity(&mut self) {
        self.discontinuity = [true; 2];
    }

    /// Places `t` (33-bit 90 kHz) on `track`; the first call sets the origin.
    pub fn place(&mut self, track: Track, t: u64) -> Placed {
        let raw = self.unwrap(t);
        self.last_raw = Some(raw);
        let origin = *self.origin.get_or_insert(raw);
        let mut ticks = raw - origin + self.shift;
        let mut jumped = false;
        let i = track as usize;
        if let Some(last) = self.last[i] {
            let d = ticks - last;
            let continuous = if self.discontinuity[i] {
                (0..=DISCONTINUITY_TOLERANCE_TICKS).contains(&d)
            } else {
                (-MAX_BACKWARD_TICKS..=MAX_FORWARD_TICKS).contains(&d)
            };
            if !continuous {
                // A new time base: it continues where the stream is, for every track.
                let newest = self.last.iter().flatten().copied().max().unwrap_or(last);
                self.shift += newest - ticks;
                ticks = newest;
                jumped = true;
            } else if d < 0 {
                ticks = last;
                jumped = true;
            }
        }
        self.discontinuity[i] = false;
        self.last[i] = Some(ticks);
        Placed { ticks, jumped }
    }

    fn unwrap(&self, t: u64) -> i64 {
        let t = t % TIMESTAMP_WRAP;
        match self.last_raw {
            None => t as i64,
            Some(last) => last + timestamp_delta(t, last.rem_euclid(TIMESTAMP_WRAP as i64) as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &mut Timeline, track: Track, ts: u64) -> (i64, bool) {
        let p = t.place(track, ts);
        (p.ticks, p.jumped)
    }

    #[test]
    fn wraps_and_interleaves() {
        let mut t = Timeline::default();
        let start = TIMESTAMP_WRAP - 3_000;
        assert_eq!(at(&mut t, Track::Video, start), (0, false));
        assert_eq!(at(&mut t, Track::Audio, start - 900), (-900, false));
        assert_eq!(at(&mut t, Track::Video, 600), (3_600, false));
        assert_eq!(at(&mut t, Track::Audio, 1_000), (4_000, false));
    }

    #[test]
    fn small_steps_back_are_held_and_leaps_rebase() {
        let mut t = Timeline::default();
        at(&mut t, Track::Video, 90_000);
        assert_eq!(at(&mut t, Track::Video, 93_600), (3_600, false));
        assert_eq!(at(&mut t, Track::Video, 92_000), (3_600, true));
        at(&mut t, Track::Audio, 95_000);
        // The source restarts at 0: both tracks continue from the newest time.
        assert_eq!(at(&mut t, Track::Video, 0), (5_000, true));
        assert_eq!(at(&mut t, Track::Audio, 1_000), (6_000, false));
        // A leap of an hour: video continues at the newest time, audio's.
        assert_eq!(at(&mut t, Track::Video, 3600 * 90_000), (6_000, true));
    }

    #[test]
    fn discontinuity_rebases_unless_continuous() {
        let mut t = Timeline::default();
        at(&mut t, Track::Video, 1_000);
        at(&mut t, Track::Video, 4_600);
        t.discontinuity();
        // Continuous across the flag (a relay splice): kept.
        assert_eq!(at(&mut t, Track::Video, 8_200), (7_200, false));
        t.discontinuity();
        // 10 s later on a new base: rebased, where the default rule would keep the gap.
        assert_eq!(at(&mut t, Track::Video, 908_200), (7_200, true));
        assert_eq!(at(&mut t, Track::Video, 911_800), (10_800, false));
    }
}
