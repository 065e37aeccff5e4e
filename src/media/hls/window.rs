//! The finished segments and parts an HTTP leg serves, as one immutable snapshot per change.
//!
//! Owns: the segment and part types (bytes shared by handle, never copied per request), the
//! lookups by media sequence number and part index, and the availability answers for
//! blocking playlist reload and preload-hint requests (RFC 8216bis §6.2.5.2, §6.2.6).
//! Must not: change after it is built (a snapshot is `Arc`-shared across threads), or render
//! per request (the playlist text is rendered once per snapshot).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes};

use super::{Availability, TICKS_PER_SECOND};

/// One partial segment (LL-HLS) or, in plain HLS, the one chunk that is a whole segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub bytes: Bytes,
    /// 90 kHz ticks from this part's first cut point to the next one.
    pub duration_ticks: u64,
    /// Starts with the PSI header and a random-access point (the first part of a segment
    /// that starts at one).
    pub independent: bool,
}

/// A finished media segment: its parts, concatenated, are its bytes.
#[derive(Debug)]
pub struct Segment {
    pub msn: u64,
    pub duration_ticks: u64,
    /// LL-HLS: the segment's parts in order. Plain HLS: one chunk, never listed as a part.
    pub parts: Vec<Part>,
    /// The segment carries `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// Its Discontinuity Sequence Number (§4.4.3.3): the discontinuities before it, its own
    /// included.
    pub discontinuity_sequence: u64,
    pub program_date_time: SystemTime,
    /// Starts with a random-access point (false only for forced cuts).
    pub independent: bool,
    pub len: usize,
    chunks: Arc<[Bytes]>,
}

impl Segment {
    pub(crate) fn new(
        msn: u64,
        parts: Vec<Part>,
        discontinuity: bool,
        discontinuity_sequence: u64,
        program_date_time: SystemTime,
        independent: bool,
    ) -> Segment {
        let chunks: Arc<[Bytes]> = parts.iter().map(|p| p.bytes.clone()).collect();
        Segment {
            msn,
            duration_ticks: parts.iter().map(|p| p.duration_ticks).sum(),
            len: chunks.iter().map(Bytes::len).sum(),
            parts,
            discontinuity,
            discontinuity_sequence,
            program_date_time,
            independent,
            chunks,
        }
    }

    /// The segment's bytes as a `Buf` over its parts (a handle per part, no copy).
    pub fn bytes(&self) -> MediaBytes {
        MediaBytes::new(self.chunks.clone())
    }

    pub fn duration(&self) -> Duration {
        ticks_to_duration(self.duration_ticks)
    }
}

/// A segment's bytes: its parts' handles read in order, as a [`bytes::Buf`] (so
/// `http_body_util::Full::new(media_bytes)` is a response body) without joining them.
#[derive(Debug, Clone)]
pub struct MediaBytes {
    chunks: Arc<[Bytes]>,
    index: usize,
    offset: usize,
    remaining: usize,
}

impl MediaBytes {
    fn new(chunks: Arc<[Bytes]>) -> MediaBytes {
        let remaining = chunks.iter().map(Bytes::len).sum();
        MediaBytes {
            chunks,
            index: 0,
            offset: 0,
            remaining,
        }
    }

    /// Bytes not yet read.
    pub fn len(&self) -> usize {
        self.remaining
    }

    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// A copy of the unread bytes in one buffer (tests and tools; HTTP should send the Buf).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut b = self.clone();
        let mut out = Vec::with_capacity(b.remaining);
        while b.has_remaining() {
            let c = b.chunk();
            out.extend_from_slice(c);
            let n = c.len();
            b.advance(n);
        }
        out
    }
}

impl Buf for MediaBytes {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks
            .get(self.index)
            .map_or(&[][..], |c| &c[self.offset..])
    }

    fn advance(&mut self, mut cnt: usize) {
        // `Buf::advance` may panic past the end; stopping there is kinder.
        cnt = cnt.min(self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(c) = self.chunks.get(self.index) else {
                return;
            };
            let left = c.len() - self.offset;
            if cnt < left {
                self.offset += cnt;
                return;
            }
            cnt -= left;
            self.index += 1;
            self.offset = 0;
        }
        // Never rest on an empty chunk: `chunk()` must be non-empty while bytes remain.
        while self.remaining > 0
            && self
                .chunks
                .get(self.index)
                .is_some_and(|c| c.len() == self.offset)
        {
            self.index += 1;
            self.offset = 0;
        }
    }
}

/// The segment being built, as far as it is finished.
#[derive(Debug, Clone)]
pub(crate) struct OpenSegment {
    pub msn: u64,
    pub discontinuity: bool,
    pub discontinuity_sequence: u64,
    pub program_date_time: SystemTime,
    pub parts: Vec<Part>,
}

/// What an HTTP leg serves, frozen at one [`HlsSnapshot::generation`].
#[derive(Debug)]
pub struct HlsSnapshot {
    pub(crate) generation: u64,
    pub(crate) playlist: Bytes,
    /// Finished segments still downloadable, ascending by msn (contiguous).
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Index into `segments` of the first one the playlist lists.
    pub(crate) listed_from: usize,
    pub(crate) open: Option<OpenSegment>,
    /// The open segment's msn, or the one the next segment will get.
    pub(crate) next_msn: u64,
    pub(crate) target_duration_s: u64,
    pub(crate) part_target_ticks: Option<u64>,
    /// Parts per segment, to count the Advance Part Limit across a segment boundary.
    pub(crate) parts_per_segment: u64,
}

impl HlsSnapshot {
    pub(crate) fn empty(part_target_ticks: Option<u64>, target_duration_s: u64) -> HlsSnapshot {
        HlsSnapshot {
            generation: 0,
            playlist: Bytes::new(),
            segments: Vec::new(),
            listed_from: 0,
            open: None,
            next_msn: 0,
            target_duration_s,
            part_target_ticks,
            parts_per_segment: 1,
        }
    }

    /// Changes whenever a part or segment is finished (or a discontinuity closed one).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether there is a playlist to serve: the first segment is finished (so its
    /// EXT-X-TARGETDURATION reflects the stream's real GOP and need not change later,
    /// §6.2.1). Until then a leg answers the playlist with 404 or holds it.
    pub fn is_ready(&self) -> bool {
        !self.playlist.is_empty()
    }

    /// The media playlist text (empty until [`Self::is_ready`]).
    pub fn playlist(&self) -> &str {
        std::str::from_utf8(&self.playlist).expect("the playlist is rendered from a String")
    }

    /// The playlist as a shared handle, for a response body without a copy.
    pub fn playlist_bytes(&self) -> Bytes {
        self.playlist.clone()
    }

    /// EXT-X-TARGETDURATION (the blocking timeout is three of these, §6.2.5.2).
    pub fn target_duration(&self) -> Duration {
        Duration::from_secs(self.target_duration_s)
    }

    /// EXT-X-PART-INF PART-TARGET, `None` for plain HLS.
    pub fn part_target(&self) -> Option<Duration> {
        self.part_target_ticks.map(ticks_to_duration)
    }

    /// EXT-X-MEDIA-SEQUENCE: the first listed segment's msn.
    pub fn media_sequence(&self) -> u64 {
        self.segments
            .get(self.listed_from)
            .map_or(self.next_msn, |s| s.msn)
    }

    /// The msn of the segment being built (its parts are `part-{msn}-{i}.ts`), or of the next
    /// one to open.
    pub fn next_msn(&self) -> u64 {
        self.next_msn
    }

    /// A finished segment still kept (listed or just out of the window).
    pub fn segment(&self, msn: u64) -> Option<MediaBytes> {
        self.finished(msn).map(|s| s.bytes())
    }

    /// Part `index` of segment `msn`, finished (LL-HLS only).
    pub fn part(&self, msn: u64, index: u32) -> Option<Bytes> {
        self.part_target_ticks?;
        let parts = match (self.finished(msn), &self.open) {
            (Some(s), _) => &s.parts,
            (None, Some(o)) if o.msn == msn => &o.parts,
            _ => return None,
        };
        parts.get(index as usize).map(|p| p.bytes.clone())
    }

    /// For a blocking playlist reload `_HLS_msn=msn[&_HLS_part=part]` (§6.2.5.2): `Ready`
    /// once the playlist holds segment `msn` (or part `part` of it) or anything later;
    /// `NotYet` while it is coming; `TooFarAhead` beyond the last segment plus two, or beyond
    /// the last part plus the Advance Part Limit. Never `Gone`. In plain HLS `part` is ignored.
    pub fn has(&self, msn: u64, part: Option<u32>) -> Availability {
        let unfinished = self.next_msn;
        if msn > unfinished + 1 {
            return Availability::TooFarAhead;
        }
        let (Some(pt), Some(p)) = (self.part_target_ticks, part) else {
            return if msn < unfinished {
                Availability::Ready
            } else {
                Availability::NotYet
            };
        };
        let (mut msn, mut p) = (msn, u64::from(p));
        // §6.2.5.2: a part index past the last part of its segment means part 0 of the next.
        while msn < unfinished {
            match self.finished(msn) {
                Some(s) if p >= s.parts.len() as u64 => {
                    msn += 1;
                    p = 0;
                }
                // The part is listed, or its segment left the window: later ones are listed.
                _ => return Availability::Ready,
            }
        }
        let have = self
            .open
            .as_ref()
            .filter(|o| o.msn == unfinished)
            .map_or(0, |o| o.parts.len() as u64);
        if msn == unfinished && p < have {
            return Availability::Ready;
        }
        // Parts between the last one listed and the one asked for.
        let ahead = ((msn - unfinished) * self.parts_per_segment + p + 1).saturating_sub(have);
        if ahead > advance_part_limit(pt) {
            Availability::TooFarAhead
        } else {
            Availability::NotYet
        }
    }

    /// For `seg-{msn}.ts`: `Ready` if kept, `NotYet` for the segment being built, `Gone` once
    /// dropped, `TooFarAhead` past the one being built.
    pub fn has_segment(&self, msn: u64) -> Availability {
        if self.finished(msn).is_some() {
            Availability::Ready
        } else if msn < self.next_msn {
            Availability::Gone
        } else if msn == self.next_msn {
            Availability::NotYet
        } else {
            Availability::TooFarAhead
        }
    }

    /// For `part-{msn}-{index}.ts`: `Ready` if finished and kept; `NotYet` for exactly the
    /// part the preload hint names (hold it until it is finished: §6.2.6 wants a hinted part
    /// sent only once all of it can be); `Gone` once dropped, or for a hinted part that will
    /// never exist because its segment ended before it; `TooFarAhead` for a part not hinted
    /// and not there (404, §6.2.6). Plain HLS has no parts: `Gone`.
    pub fn has_part(&self, msn: u64, index: u32) -> Availability {
        if self.part_target_ticks.is_none() {
            return Availability::Gone;
        }
        let index = index as usize;
        if let Some(s) = self.finished(msn) {
            return if index < s.parts.len() {
                Availability::Ready
            } else {
                Availability::Gone
            };
        }
        if msn < self.next_msn {
            return Availability::Gone;
        }
        let have = self
            .open
            .as_ref()
            .filter(|o| o.msn == msn)
            .map_or(0, |o| o.parts.len());
        if msn == self.next_msn && index < have {
            Availability::Ready
        } else if msn == self.next_msn && index == have {
            Availability::NotYet
        } else {
            Availability::TooFarAhead
        }
    }

    /// The finished segments still kept, ascending.
    pub fn segments(&self) -> &[Arc<Segment>] {
        &self.segments
    }

    fn finished(&self, msn: u64) -> Option<&Arc<Segment>> {
        let first = self.segments.first()?.msn;
        let i = usize::try_from(msn.checked_sub(first)?).ok()?;
        self.segments.get(i)
    }
}

/// §6.2.5.2: "three divided by the Part Target Duration if the Part Target Duration is less
/// than one second, or three otherwise", in parts.
pub(crate) fn advance_part_limit(part_target_ticks: u64) -> u64 {
    if part_target_ticks < TICKS_PER_SECOND {
        3 * TICKS_PER_SECOND / part_target_ticks.max(1)
    } else {
        3
    }
}

pub(crate) fn ticks_to_duration(ticks: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(TICKS_PER_SECOND);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}
