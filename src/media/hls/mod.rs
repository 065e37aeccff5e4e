//! HLS and Low-Latency HLS from a live MPEG-TS stream, sans-IO.
//!
//! Owns: cutting the stream into MPEG-TS media segments and partial segments (`segmenter`),
//! the sliding window of finished ones and the immutable snapshot HTTP legs serve from
//! (`window`), rendering the media playlist (`playlist`), and a checker of the playlist rules
//! that integration tests run on what the relay serves (`validate`).
//! Spec: RFC 8216bis (draft-pantos-hls-rfc8216bis; §4.4 tags, §6.2 server duties).
//! Must not: read the clock (times come in as arguments), know HTTP or legs, grow without
//! bound, or panic on any input.

#![deny(clippy::disallowed_methods)]

mod playlist;
mod segmenter;
pub mod validate;
mod window;

use std::time::Duration;

pub use playlist::{format_duration_ticks, format_program_date_time};
pub use segmenter::Segmenter;
pub use window::{HlsSnapshot, MediaBytes, Part, Segment};

/// 90 kHz: every duration here is counted in PES timestamp ticks, so part durations add up
/// exactly to their segment's.
pub const TICKS_PER_SECOND: u64 = crate::media::pes::TIMESTAMP_HZ;

/// URI of media segment `msn`, relative to the playlist (the HTTP leg routes on it).
pub fn segment_uri(msn: u64) -> String {
    format!("seg-{msn}.ts")
}

/// URI of part `index` of segment `msn`, relative to the playlist.
pub fn part_uri(msn: u64, index: usize) -> String {
    format!("part-{msn}-{index}.ts")
}

/// How a stream is segmented. `Default` is LL-HLS with 2 s segments and 333 ms parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsConfig {
    /// A segment is cut at the first video random-access point at least this long after its
    /// start. Clamped to at least 1 s (EXT-X-TARGETDURATION counts whole seconds).
    pub target_duration: Duration,
    /// `Some`: LL-HLS, parts of at most this long (clamped to 50 ms ..= `target_duration`);
    /// `None`: plain HLS.
    pub part_target: Option<Duration>,
    /// Segments the playlist lists (at least 3; more while the listed ones add up to less
    /// than three target durations, §6.2.2).
    pub window_segments: usize,
    /// Segments kept downloadable after they leave the playlist: §6.2.2 wants a segment
    /// available for its duration plus the playlist's after it first appeared, which is one
    /// more segment; two leave room for a client that reloads late.
    pub keep_after_window: usize,
    /// A segment never grows past this many bytes (a stream without keyframes is cut here,
    /// or at three target durations, whichever comes first). At least 64 KiB.
    pub max_segment_bytes: usize,
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig {
            target_duration: Duration::from_secs(2),
            part_target: Some(Duration::from_millis(333)),
            window_segments: 6,
            keep_after_window: 2,
            max_segment_bytes: 32 << 20,
        }
    }
}

impl HlsConfig {
    /// The configuration with every field inside the bounds documented on it.
    pub fn normalized(&self) -> HlsConfig {
        let target = self.target_duration.max(Duration::from_secs(1));
        HlsConfig {
            target_duration: target,
            part_target: self
                .part_target
                .map(|p| p.clamp(Duration::from_millis(50), target)),
            window_segments: self.window_segments.max(3),
            keep_after_window: self.keep_after_window,
            max_segment_bytes: self.max_segment_bytes.max(64 << 10),
        }
    }
}

/// Whether a playlist state or resource a client asks for exists (RFC 8216bis §6.2.5.2
/// blocking playlist reload, §6.2.6 preload hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// There: answer now.
    Ready,
    /// Expected soon: hold the request until [`HlsSnapshot::generation`] changes, then ask
    /// again (give up after three target durations with 503, §6.2.5.2).
    NotYet,
    /// Was there and is no longer kept, or will never exist (a hinted part whose segment
    /// ended earlier): 404. For a playlist reload this cannot happen: an old `_HLS_msn` is
    /// `Ready` (§6.2.5.2: deliver the playlist even if the segment left it).
    Gone,
    /// Further ahead than the spec lets a client block for: 400 (§6.2.5.2).
    TooFarAhead,
}

/// Counters kept by [`Segmenter`]; plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HlsStats {
    /// TS packets taken.
    pub packets: u64,
    /// Packets without the 0x47 sync byte, and pushes with trailing bytes that are not a
    /// whole packet (those bytes are dropped).
    pub bad_packets: u64,
    /// Null packets (PID 0x1FFF), left out of segments.
    pub null_packets: u64,
    /// Packets dropped while no segment was open: before the PAT/PMT were known, before the
    /// first random-access point, after a cut at the byte cap.
    pub dropped_waiting: u64,
    pub segments: u64,
    pub parts: u64,
    /// Segments that start without a random-access point (no keyframe for three target
    /// durations, or after a byte-cap cut).
    pub forced_cuts: u64,
    /// Segments closed because they reached `max_segment_bytes`.
    pub byte_cap_cuts: u64,
    /// Timestamp jumps (backwards, or forwards by more than 10 s) taken as discontinuities.
    pub timestamp_jumps: u64,
    /// Discontinuities marked, asked for or from timestamp jumps.
    pub discontinuities: u64,
}

#[cfg(test)]
mod playlist_tests;
#[cfg(test)]
mod segmenter_tests;
#[cfg(test)]
mod validate_tests;
