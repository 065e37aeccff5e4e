//! Where a recording's segments begin and end, decided from the payloads the ring hands a
//! recorder: a segment starts at a video keyframe (any payload for audio-only streams) with
//! the stream's PAT/PMT in front, and the next one at the first keyframe at or after
//! `segment` of media arrival time. Between the tables at the start of each segment, every
//! byte of the stream is kept in order, so the segments without their leading tables are the
//! published bytes from the first keyframe.
//!
//! Owns: those decisions as [`Cut`]s (ranges of the payload just offered). Must not: do I/O,
//! read the clock (times come with the payloads), copy payload bytes.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::media::ts::{TS_PACKET_LEN, is_video_random_access, packets};
use crate::relay::leg::StreamHeader;

/// What to do with the payload just pushed, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// Open a new segment starting at `at` (the payload's arrival) and write `header` (the
    /// stream's PAT and PMT; empty when they are not known yet) first.
    Start { at: Instant, header: Vec<u8> },
    /// Write these bytes of the payload to the open segment.
    Bytes(Range<usize>),
    /// Close the open segment; its media ends at `at`.
    End { at: Instant },
}

/// What the cutter counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutStats {
    /// Payloads dropped before a segment could start (no keyframe yet).
    pub waiting: u64,
    pub segments: u64,
}

#[derive(Debug)]
pub struct Cutter {
    segment: Duration,
    /// The open segment's start.
    open: Option<Instant>,
    /// The last payload's arrival (a segment closed without a payload ends there).
    last: Option<Instant>,
    pub stats: CutStats,
}

impl Cutter {
    pub fn new(segment: Duration) -> Cutter {
        Cutter {
            segment,
            open: None,
            last: None,
            stats: CutStats::default(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// One payload of whole TS packets that arrived at `at`, with the stream's tables.
    pub fn push(
        &mut self,
        payload: &[u8],
        at: Instant,
        psi: Option<StreamHeader<'_>>,
        out: &mut Vec<Cut>,
    ) {
        self.last = Some(at);
        let audio_only = psi.is_some_and(|p| !p.has_video);
        let start_at = || -> Option<usize> {
            if audio_only {
                return Some(0);
            }
            packets(payload)
                .position(is_video_random_access)
                .map(|k| k * TS_PACKET_LEN)
        };
        let header = || psi.map(|p| p.header.to_vec()).unwrap_or_default();
        match self.open {
            None => {
                let Some(k) = start_at() else {
                    self.stats.waiting += 1;
                    return;
                };
                self.start(at, header(), out);
                out.push(Cut::Bytes(k..payload.len()));
            }
            Some(since) if at.saturating_duration_since(since) >= self.segment => {
                match start_at() {
                    Some(k) => {
                        if k > 0 {
                            out.push(Cut::Bytes(0..k));
                        }
                        out.push(Cut::End { at });
                        self.start(at, header(), out);
                        out.push(Cut::Bytes(k..payload.len()));
                    }
                    None => out.push(Cut::Bytes(0..payload.len())),
                }
            }
            Some(_) => out.push(Cut::Bytes(0..payload.len())),
        }
    }

    /// The stream lost bytes here (the recorder skipped, a new publisher session began): the
    /// open segment ends, and the next starts at a keyframe again.
    pub fn interrupt(&mut self, out: &mut Vec<Cut>) {
        if self.open.take().is_some() {
            out.push(Cut::End {
                at: self.last.expect("a segment opened with a payload"),
            });
        }
    }

    fn start(&mut self, at: Instant, header: Vec<u8>, out: &mut Vec<Cut>) {
        self.open = Some(at);
        self.stats.segments += 1;
        out.push(Cut::Start { at, header });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srt::sim::t0 as now;

    const S: Duration = Duration::from_secs(1);

    /// A TS packet: a video keyframe start (random access, PUSI, PES 0xE0) or a plain one.
    fn pkt(key: bool) -> [u8; TS_PACKET_LEN] {
        let mut p = [0xFFu8; TS_PACKET_LEN];
        p[0] = 0x47;
        p[1] = 0x01;
        p[2] = 0x00;
        if key {
            p[1] |= 0x40;
            p[3] = 0x30;
            p[4] = 1;
            p[5] = 0x40;
            p[6..10].copy_from_slice(&[0, 0, 1, 0xE0]);
        } else {
            p[3] = 0x10;
        }
        p
    }

    /// Seven packets, a keyframe at `key` if any.
    fn payload(key: Option<usize>) -> Vec<u8> {
        (0..7).flat_map(|i| pkt(key == Some(i))).collect()
    }

    const TABLES: [u8; 4] = [1, 2, 3, 4];

    fn psi(has_video: bool) -> Option<StreamHeader<'static>> {
        Some(StreamHeader {
            header: &TABLES,
            has_video,
        })
    }

    #[test]
    fn starts_at_the_first_keyframe_with_the_tables() {
        let t0 = now();
        let mut c = Cutter::new(4 * S);
        let mut out = Vec::new();
        c.push(&payload(None), t0, psi(true), &mut out);
        assert!(out.is_empty(), "nothing before a keyframe");
        assert_eq!(c.stats.waiting, 1);
        c.push(&payload(Some(3)), t0, psi(true), &mut out);
        assert_eq!(
            out,
            [
                Cut::Start {
                    at: t0,
                    header: TABLES.to_vec()
                },
                Cut::Bytes(3 * TS_PACKET_LEN..7 * TS_PACKET_LEN)
            ]
        );
    }

    #[test]
    fn cuts_at_the_first_keyframe_at_or_after_the_segment_length() {
        let t0 = now();
        let mut c = Cutter::new(4 * S);
        let mut out = Vec::new();
        let all = 0..7 * TS_PACKET_LEN;
        c.push(&payload(Some(0)), t0, psi(true), &mut out);
        out.clear();
        // A keyframe before 4 s does not cut; a payload without one at 4 s does not either.
        c.push(&payload(Some(2)), t0 + 3 * S, psi(true), &mut out);
        c.push(&payload(None), t0 + 4 * S, psi(true), &mut out);
        assert_eq!(out, [Cut::Bytes(all.clone()), Cut::Bytes(all.clone())]);
        out.clear();
        let at = t0 + 5 * S;
        c.push(&payload(Some(5)), at, psi(true), &mut out);
        assert_eq!(
            out,
            [
                Cut::Bytes(0..5 * TS_PACKET_LEN),
                Cut::End { at },
                Cut::Start {
                    at,
                    header: TABLES.to_vec()
                },
                Cut::Bytes(5 * TS_PACKET_LEN..7 * TS_PACKET_LEN),
            ]
        );
        assert_eq!(c.stats.segments, 2);
        // A keyframe at the very start of a payload: nothing written before the cut.
        out.clear();
        c.push(&payload(Some(0)), at + 4 * S, psi(true), &mut out);
        assert!(matches!(out[0], Cut::End { .. }), "{out:?}");
    }

    #[test]
    fn audio_only_streams_cut_at_any_payload() {
        let t0 = now();
        let mut c = Cutter::new(S);
        let mut out = Vec::new();
        c.push(&payload(None), t0, psi(false), &mut out);
        assert!(matches!(out[0], Cut::Start { .. }));
        out.clear();
        c.push(&payload(None), t0 + S, psi(false), &mut out);
        assert!(matches!(out[0], Cut::End { .. }), "{out:?}");
    }

    #[test]
    fn an_interruption_ends_the_segment_and_waits_for_a_keyframe() {
        let t0 = now();
        let mut c = Cutter::new(4 * S);
        let mut out = Vec::new();
        c.interrupt(&mut out);
        assert!(out.is_empty(), "nothing open");
        c.push(&payload(Some(0)), t0, None, &mut out);
        assert_eq!(
            out[0],
            Cut::Start {
                at: t0,
                header: Vec::new()
            },
            "the tables are not known yet"
        );
        c.push(&payload(None), t0 + S, psi(true), &mut out);
        out.clear();
        c.interrupt(&mut out);
        assert_eq!(out, [Cut::End { at: t0 + S }]);
        assert!(!c.is_open());
        out.clear();
        c.push(&payload(None), t0 + 2 * S, psi(true), &mut out);
        assert!(out.is_empty(), "waits for the next keyframe");
    }
}
