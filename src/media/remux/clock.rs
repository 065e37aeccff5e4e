//! RTMP message timestamps (32-bit milliseconds) onto one signed timeline shared by the tracks.
//!
//! Owns: extending each track's timestamps across the 32-bit wrap (RTMP §5.3.1.3: about 49.7
//! days), keeping each track's decode times from going backwards, and rebasing the whole
//! stream when a publisher's clock leaps.
//! Must not: know about TS, read the clock, or panic on any timestamp sequence.

#![deny(clippy::disallowed_methods)]

/// A track's time going back by at most this much is held at its last value (decode times
/// must not decrease); more is a clock reset and rebases the stream.
pub const MAX_BACKWARD_MS: i64 = 1_000;
/// A track's time leaping forward by more than this is a clock reset too: no live encoder
/// pauses a track that long, and keeping the leap would stall players for its length.
pub const MAX_FORWARD_MS: i64 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Video = 0,
    Audio = 1,
}

/// Where a message lands on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Milliseconds since the stream's first message; may be negative when the other track
    /// started a little earlier.
    pub ms: i64,
    /// The track's time went backwards or leapt: held or rebased (the caller counts it).
    pub jumped: bool,
}

#[derive(Debug, Default, Clone)]
pub struct Clock {
    /// The first message's extended timestamp: timeline 0.
    base: Option<i64>,
    /// Added to every track after a rebase, so the timeline continues where it was.
    shift: i64,
    tracks: [TrackClock; 2],
}

#[derive(Debug, Default, Clone, Copy)]
struct TrackClock {
    /// The last timestamp extended to 64 bits.
    last_raw: Option<i64>,
    /// The last timeline value handed out.
    last_ms: Option<i64>,
}

impl Clock {
    /// Places one message of `track` stamped `timestamp_ms`.
    ///
    /// A timestamp is extended to the value nearest its track's previous one (a signed 32-bit
    /// distance), so the wrap is just another step; a track's first timestamp is extended
    /// near the other track's, so a stream whose tracks start on either side of the wrap is
    /// not split 49 days apart.
    pub fn place(&mut self, track: Track, timestamp_ms: u32) -> Placed {
        let other = match track {
            Track::Video => Track::Audio,
            Track::Audio => Track::Video,
        };
        let reference = self.tracks[track as usize]
            .last_raw
            .or(self.tracks[other as usize].last_raw)
            .unwrap_or(i64::from(timestamp_ms));
        // Truncating to u32 keeps the low 32 bits, which is all the wrapping distance needs.
        let step = timestamp_ms.wrapping_sub(reference as u32) as i32;
        let raw = reference + i64::from(step);
        let base = *self.base.get_or_insert(raw);
        let t = &mut self.tracks[track as usize];
        t.last_raw = Some(raw);
        let mut ms = raw - base + self.shift;
        let mut jumped = false;
        if let Some(last) = t.last_ms {
            let d = ms - last;
            if !(0..=MAX_FORWARD_MS).contains(&d) {
                jumped = true;
                if !(-MAX_BACKWARD_MS..=MAX_FORWARD_MS).contains(&d) {
                    self.shift += last - ms;
                }
                ms = last;
            }
        }
        t.last_ms = Some(ms);
        Placed { ms, jumped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(c: &mut Clock, t: Track, ts: u32) -> (i64, bool) {
        let p = c.place(t, ts);
        (p.ms, p.jumped)
    }

    #[test]
    fn wraps_across_32_bits() {
        let mut c = Clock::default();
        let start = u32::MAX - 40;
        assert_eq!(ms(&mut c, Track::Video, start), (0, false));
        assert_eq!(
            ms(&mut c, Track::Video, start.wrapping_add(33)),
            (33, false)
        );
        assert_eq!(
            ms(&mut c, Track::Video, start.wrapping_add(66)),
            (66, false)
        );
        assert_eq!(ms(&mut c, Track::Video, 100), (141, false));
        // Audio starts after the wrap but lands next to video, not 49 days away.
        assert_eq!(ms(&mut c, Track::Audio, 90), (131, false));
        // And audio that started before the wrap on its own.
        let mut a = Clock::default();
        assert_eq!(ms(&mut a, Track::Audio, u32::MAX), (0, false));
        assert_eq!(ms(&mut a, Track::Audio, 20), (21, false));
    }

    #[test]
    fn tracks_interleave_out_of_order() {
        let mut c = Clock::default();
        assert_eq!(ms(&mut c, Track::Audio, 1000), (0, false));
        // Video starting a little earlier than audio is not a jump.
        assert_eq!(ms(&mut c, Track::Video, 967), (-33, false));
        assert_eq!(ms(&mut c, Track::Audio, 1021), (21, false));
        assert_eq!(ms(&mut c, Track::Video, 1000), (0, false));
    }

    #[test]
    fn small_backward_steps_are_held() {
        let mut c = Clock::default();
        ms(&mut c, Track::Video, 500);
        assert_eq!(ms(&mut c, Track::Video, 533), (33, false));
        assert_eq!(ms(&mut c, Track::Video, 520), (33, true));
        // The source clock was fine all along: the next frame is where it says.
        assert_eq!(ms(&mut c, Track::Video, 566), (66, false));
        // Equal timestamps are no jump.
        assert_eq!(ms(&mut c, Track::Video, 566), (66, false));
    }

    #[test]
    fn clock_resets_rebase_every_track() {
        let mut c = Clock::default();
        ms(&mut c, Track::Video, 50_000);
        ms(&mut c, Track::Audio, 50_010);
        // The publisher's clock restarts at 0 for both tracks.
        assert_eq!(ms(&mut c, Track::Video, 0), (0, true));
        assert_eq!(ms(&mut c, Track::Audio, 12), (12, false));
        assert_eq!(ms(&mut c, Track::Video, 33), (33, false));
        // A leap forward by a minute is rebased the same way.
        assert_eq!(ms(&mut c, Track::Video, 60_033), (33, true));
        assert_eq!(ms(&mut c, Track::Video, 60_066), (66, false));
        // Leaps to the far side of the 32-bit range stay finite.
        for ts in [u32::MAX / 2, 3, u32::MAX, 0x8000_0000, 7] {
            let p = c.place(Track::Audio, ts);
            assert!(p.ms.abs() < 1 << 33, "{p:?}");
        }
    }
}
