//! Cuts one live TS stream into HLS segments and LL-HLS parts.
//!
//! Owns: where segments and parts begin (video random-access points and video PES starts,
//! audio PES starts for audio-only streams), their durations on the stream's own 90 kHz clock,
//! the PSI header at each segment start, the sliding window, discontinuities, program dates,
//! and the snapshot it publishes after each change.
//! Must not: read the clock (`arrival` comes in), copy segment bytes after writing them once,
//! or grow past `max_segment_bytes` per segment and the window's segment count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::BytesMut;

use super::playlist::{PlaylistParams, render};
use super::window::{HlsSnapshot, OpenSegment, Part, Segment};
use super::{HlsConfig, HlsStats, TICKS_PER_SECOND};
use crate::media::packet::{self, NULL_PID, TsPacket};
use crate::media::pes::{self, RandomAccess, timestamp_delta};
use crate::media::psi::PsiCache;
use crate::media::ts::{TS_PACKET_LEN, TS_SYNC_BYTE, packets, random_access_indicator};

/// A timestamp more than this far behind the last one starts a new timeline (an encoder
/// restart); smaller steps back are glitches, taken as no time passing.
const MAX_BACKWARD_TICKS: i64 = TICKS_PER_SECOND as i64;
/// A timestamp more than this far ahead of the last one starts a new timeline too.
const MAX_FORWARD_TICKS: i64 = 10 * TICKS_PER_SECOND as i64;
/// The frame interval, as used to keep parts within PART-TARGET, is at most 200 ms (5 fps):
/// a gap in the stream must not make every later part one frame long.
const MAX_FRAME_TICKS: u64 = TICKS_PER_SECOND / 5;
/// Until two video PES starts were seen, assume 30 fps.
const DEFAULT_FRAME_TICKS: u64 = TICKS_PER_SECOND / 30;
/// Parts per segment are bounded even if timestamps stall.
const MAX_PARTS_PER_SEGMENT: usize = 256;
/// §6.2.1 lets program dates overlap by less than a second (the later segment only partly)
/// to follow the arrival clock: chained dates are re-anchored on arrival once they drift
/// further than this, and never step back by more than this (nor half the previous segment).
const MAX_DATE_DRIFT: Duration = Duration::from_millis(500);

/// An HLS segmenter for one stream: feed it the stream's TS packets with [`Segmenter::push`],
/// serve from [`Segmenter::snapshot`].
///
/// Durations are measured on the video DTS (PTS when no DTS is sent) of each segment's and
/// part's first access unit, so a segment's EXTINF is exactly the sum of its parts', and both
/// follow the encoder's clock, not the network's; PES without timestamps fall back to arrival
/// times. A part is cut at a video PES start when waiting for the next frame would take it
/// past PART-TARGET (§4.4.4.9: a part MUST NOT be longer), so parts are a frame shorter than
/// the target at most; the first part of each segment is the only one marked INDEPENDENT,
/// because only it starts with the PAT/PMT a player starting there needs.
#[derive(Debug)]
pub struct Segmenter {
    cfg: HlsConfig,
    anchor: (Instant, SystemTime),
    target_ticks: u64,
    part_target_ticks: Option<u64>,
    psi: PsiCache,
    clock: Clock,
    open: Option<Building>,
    /// Finished segments still downloadable, ascending; the newest `listed` are in the
    /// playlist.
    segments: VecDeque<Arc<Segment>>,
    listed: usize,
    next_msn: u64,
    last_dsn: u64,
    started_any: bool,
    pending_discontinuity: bool,
    target_duration_s: u64,
    frame_ticks: u64,
    last_cut: Option<u64>,
    waiting_since: Option<Instant>,
    force_start: bool,
    /// Where the previous segment's dates end, and its duration.
    next_date: Option<(SystemTime, Duration)>,
    size_hint: usize,
    generation: u64,
    dirty: bool,
    snapshot: Arc<HlsSnapshot>,
    stats: HlsStats,
}

impl Segmenter {
    /// `wall_anchor` pairs an `Instant` with the wall-clock time it was read at, so arrival
    /// instants map to EXT-X-PROGRAM-DATE-TIME without reading the clock here.
    pub fn new(cfg: HlsConfig, wall_anchor: (Instant, SystemTime)) -> Segmenter {
        let cfg = cfg.normalized();
        let target_ticks = duration_ticks(cfg.target_duration);
        let part_target_ticks = cfg.part_target.map(duration_ticks);
        let target_duration_s = cfg.target_duration.as_secs_f64().ceil() as u64;
        Segmenter {
            snapshot: Arc::new(HlsSnapshot::empty(part_target_ticks, target_duration_s)),
            cfg,
            anchor: wall_anchor,
            target_ticks,
            part_target_ticks,
            psi: PsiCache::new(),
            clock: Clock::default(),
            open: None,
            segments: VecDeque::new(),
            listed: 0,
            next_msn: 0,
            last_dsn: 0,
            started_any: false,
            pending_discontinuity: false,
            target_duration_s,
            frame_ticks: DEFAULT_FRAME_TICKS,
            last_cut: None,
            waiting_since: None,
            force_start: false,
            next_date: None,
            size_hint: 0,
            generation: 0,
            dirty: false,
            stats: HlsStats::default(),
        }
    }

    /// Takes whole TS packets (an SRT payload is usually seven) that arrived at `arrival`.
    /// Bytes after the last whole packet are dropped and counted.
    pub fn push(&mut self, ts: &[u8], arrival: Instant) {
        if !ts.len().is_multiple_of(TS_PACKET_LEN) {
            self.stats.bad_packets += 1;
        }
        for pkt in packets(ts) {
            self.push_packet(pkt, arrival);
        }
        self.publish();
    }

    /// A new publisher session, or a gap the relay skipped: closes the open part and segment
    /// and marks the next segment EXT-X-DISCONTINUITY. The PAT/PMT are learnt again and the
    /// next segment waits for a random-access point.
    pub fn discontinuity(&mut self) {
        self.close_open();
        self.pending_discontinuity = true;
        self.psi = PsiCache::new();
        self.new_timeline();
        self.publish();
    }

    /// The current state, shared: cheap to call per request.
    pub fn snapshot(&self) -> Arc<HlsSnapshot> {
        self.snapshot.clone()
    }

    /// Changes whenever a part or segment is finished.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn stats(&self) -> &HlsStats {
        &self.stats
    }

    pub fn psi(&self) -> &PsiCache {
        &self.psi
    }

    /// The configuration in effect (normalized).
    pub fn config(&self) -> &HlsConfig {
        &self.cfg
    }

    fn push_packet(&mut self, pkt: &TsPacket, arrival: Instant) {
        self.stats.packets += 1;
        if pkt[0] != TS_SYNC_BYTE {
            self.stats.bad_packets += 1;
            return;
        }
        self.psi.observe(pkt);
        let pid = packet::pid(pkt);
        if pid == NULL_PID {
            self.stats.null_packets += 1;
            return;
        }
        if self.psi.header().is_none() {
            self.stats.dropped_waiting += 1;
            return;
        }
        if let Some(cut) = self.cut_point(pkt, pid) {
            self.on_cut(cut, arrival);
        } else if packet::pusi(pkt) && !self.psi.is_psi_pid(pid) {
            self.on_other_start(arrival);
        }
        self.append(pkt);
    }

    /// A PES start on the PID whose timestamps clock the stream: the video PID, or the first
    /// audio PID of an audio-only stream.
    fn cut_point(&self, pkt: &TsPacket, pid: u16) -> Option<Cut> {
        if !packet::pusi(pkt) {
            return None;
        }
        let video = self.psi.video();
        let clock_pid = match video {
            Some(v) => v.pid,
            None => *self.psi.audio_pids().first()?,
        };
        if pid != clock_pid {
            return None;
        }
        let start = pes::pes_start(pkt)?;
        let key = match video {
            // The NAL units decide when they can (some encoders never set the indicator);
            // else the random-access indicator, or parameter sets, which encoders send right
            // before a keyframe.
            Some(v) => match pes::video_random_access(v.stream_type, start.es) {
                RandomAccess::Yes => true,
                RandomAccess::No => false,
                RandomAccess::Unknown { parameter_sets } => {
                    parameter_sets || random_access_indicator(pkt)
                }
            },
            // Every audio frame is a random-access point.
            None => true,
        };
        Some(Cut {
            ts: start.decode_time(),
            key,
        })
    }

    fn on_cut(&mut self, cut: Cut, arrival: Instant) {
        let ticks = match self.clock.stamp(cut.ts, arrival) {
            Some(t) => t,
            None => {
                // §6.2.1: a change in timing information MUST be signalled as a discontinuity.
                self.stats.timestamp_jumps += 1;
                self.close_open();
                self.pending_discontinuity = true;
                self.new_timeline();
                self.clock.stamp(cut.ts, arrival).unwrap_or(0)
            }
        };
        if let Some(prev) = self.last_cut
            && ticks > prev
        {
            self.frame_ticks = (ticks - prev).min(MAX_FRAME_TICKS);
        }
        self.last_cut = Some(ticks);
        let target = self.target_ticks;
        let Some(b) = &mut self.open else {
            let since = *self.waiting_since.get_or_insert(arrival);
            let waited = arrival.saturating_duration_since(since);
            if cut.key || self.force_start || waited >= 3 * self.cfg.target_duration {
                self.start_segment(ticks, arrival, cut.key);
            }
            return;
        };
        b.last_ticks = ticks;
        let elapsed = ticks.saturating_sub(b.start_ticks);
        if (cut.key && elapsed >= target) || elapsed >= 3 * target {
            self.finish_segment(ticks);
            self.start_segment(ticks, arrival, cut.key);
            return;
        }
        if let Some(pt) = self.part_target_ticks {
            let part = ticks.saturating_sub(b.cur_start_ticks);
            // Cut now if the part would outgrow PART-TARGET by waiting for one more frame.
            if part > 0 && part + self.frame_ticks > pt && b.parts.len() < MAX_PARTS_PER_SEGMENT {
                b.finish_part(ticks);
                self.stats.parts += 1;
                self.dirty = true;
            }
        }
    }

    /// A PES start on another PID: the only cut points a stream whose clock PID went silent
    /// (a PMT naming video that never comes) still offers. Cut by arrival time there, later
    /// than the timestamp rule would, so streams with timestamps never get here.
    fn on_other_start(&mut self, arrival: Instant) {
        let limit = 4 * self.cfg.target_duration;
        match &self.open {
            Some(b) if arrival.saturating_duration_since(b.start_arrival) >= limit => {
                let ticks = self.clock.stamp(None, arrival).unwrap_or(0);
                self.finish_segment(ticks);
                self.start_segment(ticks, arrival, false);
            }
            None => {
                let since = *self.waiting_since.get_or_insert(arrival);
                if arrival.saturating_duration_since(since) >= limit {
                    let ticks = self.clock.stamp(None, arrival).unwrap_or(0);
                    self.start_segment(ticks, arrival, false);
                }
            }
            Some(_) => {}
        }
    }

    fn append(&mut self, pkt: &TsPacket) {
        let Some(b) = &mut self.open else {
            self.stats.dropped_waiting += 1;
            return;
        };
        if b.len + TS_PACKET_LEN > self.cfg.max_segment_bytes {
            self.stats.byte_cap_cuts += 1;
            self.stats.dropped_waiting += 1;
            self.close_open();
            // The next cut point starts a segment whether or not it is a keyframe.
            self.force_start = true;
            return;
        }
        b.cur.extend_from_slice(pkt);
        b.len += TS_PACKET_LEN;
    }

    fn start_segment(&mut self, ticks: u64, arrival: Instant, independent: bool) {
        let Some(header) = self.psi.header() else {
            return;
        };
        let discontinuity = self.pending_discontinuity && self.started_any;
        self.pending_discontinuity = false;
        if discontinuity {
            self.stats.discontinuities += 1;
        }
        if !independent {
            self.stats.forced_cuts += 1;
        }
        let dsn = self.last_dsn + u64::from(discontinuity);
        self.last_dsn = dsn;
        let arrived = self.wall_time(arrival);
        // Dates chain from segment to segment along the media clock, so the date of a
        // point in the media is unambiguous (§6.2.1), unless arrival has drifted away; a
        // burst of late packets (arrival behind the chain) must not make a segment's date
        // overlap its predecessor's by more than a part of it, across a discontinuity too.
        let date = match self.next_date {
            Some((d, _)) if !discontinuity && drift(d, arrived) <= MAX_DATE_DRIFT => d,
            Some((d, prev)) => {
                let floor = d.checked_sub(MAX_DATE_DRIFT.min(prev / 2)).unwrap_or(d);
                arrived.max(floor)
            }
            None => arrived,
        };
        // One allocation per segment in steady state: parts are split off the front.
        let capacity = (self.size_hint + self.size_hint / 4)
            .clamp(64 << 10, self.cfg.max_segment_bytes)
            .max(header.len());
        let mut cur = BytesMut::with_capacity(capacity);
        cur.extend_from_slice(header);
        self.open = Some(Building {
            msn: self.next_msn,
            discontinuity,
            dsn,
            date,
            independent,
            start_ticks: ticks,
            start_arrival: arrival,
            parts: Vec::new(),
            len: header.len(),
            cur,
            cur_start_ticks: ticks,
            cur_independent: independent,
            last_ticks: ticks,
        });
        self.next_msn += 1;
        self.started_any = true;
        self.waiting_since = None;
        self.force_start = false;
    }

    /// Closes the open segment where its last access unit would end.
    fn close_open(&mut self) {
        if let Some(b) = &self.open {
            let end = b.last_ticks.max(b.cur_start_ticks) + self.frame_ticks;
            self.finish_segment(end);
        }
    }

    fn finish_segment(&mut self, end_ticks: u64) {
        let Some(mut b) = self.open.take() else {
            return;
        };
        // Plain HLS: the one chunk is not a part.
        if b.finish_part(end_ticks) && self.part_target_ticks.is_some() {
            self.stats.parts += 1;
        }
        if b.parts.is_empty() {
            return;
        }
        let seg = Segment::new(
            b.msn,
            b.parts,
            b.discontinuity,
            b.dsn,
            b.date,
            b.independent,
        );
        self.next_date = b
            .date
            .checked_add(seg.duration())
            .map(|end| (end, seg.duration()));
        self.size_hint = seg.len;
        // §4.4.3.1 (version 6): EXT-X-TARGETDURATION is the longest EXTINF rounded to the
        // nearest second. It only grows, as §6.2.1 forbids changing it; publishing starts
        // with the first segment, so a stream whose GOP is longer than the target sets it
        // before any client sees it.
        let rounded = (seg.duration_ticks + TICKS_PER_SECOND / 2) / TICKS_PER_SECOND;
        self.target_duration_s = self.target_duration_s.max(rounded);
        self.segments.push_back(Arc::new(seg));
        self.listed += 1;
        self.stats.segments += 1;
        self.slide();
        self.dirty = true;
    }

    /// §6.2.2: segments leave the playlist oldest first, never leaving less than three
    /// target durations listed, and stay downloadable `keep_after_window` segments longer.
    fn slide(&mut self) {
        let min_listed_ticks = 3 * self.target_duration_s * TICKS_PER_SECOND;
        let hard_cap = 4 * self.cfg.window_segments;
        while self.listed > self.cfg.window_segments {
            let first = self.segments.len() - self.listed;
            let listed_ticks: u64 = self.segments.range(first..).map(|s| s.duration_ticks).sum();
            let oldest = self.segments[first].duration_ticks;
            if listed_ticks - oldest < min_listed_ticks && self.listed <= hard_cap {
                break;
            }
            self.listed -= 1;
        }
        while self.segments.len() > self.listed + self.cfg.keep_after_window {
            self.segments.pop_front();
        }
    }

    fn new_timeline(&mut self) {
        self.clock = Clock::default();
        self.last_cut = None;
        self.waiting_since = None;
        self.force_start = false;
    }

    fn wall_time(&self, arrival: Instant) -> SystemTime {
        let (at, wall) = self.anchor;
        if arrival >= at {
            wall.checked_add(arrival - at).unwrap_or(wall)
        } else {
            wall.checked_sub(at - arrival).unwrap_or(wall)
        }
    }

    /// Builds the next snapshot if anything changed since the last one.
    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.generation += 1;
        let first = self.segments.len() - self.listed;
        let segments: Vec<Arc<Segment>> = self.segments.iter().cloned().collect();
        let open = self.open.as_ref().map(|b| OpenSegment {
            msn: b.msn,
            discontinuity: b.discontinuity,
            discontinuity_sequence: b.dsn,
            program_date_time: b.date,
            parts: b.parts.clone(),
        });
        let listed = &segments[first..];
        let next_msn = open.as_ref().map_or(self.next_msn, |o| o.msn);
        // §4.4.3.3 with §6.2.2: the first listed segment's number, less the tag it carries.
        let discontinuity_sequence = match (listed.first(), &open) {
            (Some(s), _) => s.discontinuity_sequence - u64::from(s.discontinuity),
            (None, Some(o)) => o.discontinuity_sequence - u64::from(o.discontinuity),
            (None, None) => self.last_dsn,
        };
        let playlist = if self.stats.segments == 0 {
            String::new()
        } else {
            render(&PlaylistParams {
                target_duration_s: self.target_duration_s,
                part_target_ticks: self.part_target_ticks,
                listed,
                open: open.as_ref(),
                next_msn,
                discontinuity_sequence,
                parts_from_msn: self.parts_from_msn(listed, open.as_ref()),
            })
        };
        let parts_per_segment = match (self.part_target_ticks, listed.last()) {
            (_, Some(s)) => s.parts.len() as u64,
            (Some(pt), None) => self.target_ticks.div_ceil(pt),
            (None, None) => 1,
        }
        .max(1);
        self.snapshot = Arc::new(HlsSnapshot {
            generation: self.generation,
            playlist: playlist.into(),
            segments,
            listed_from: first,
            open,
            next_msn,
            target_duration_s: self.target_duration_s,
            part_target_ticks: self.part_target_ticks,
            parts_per_segment,
        });
    }

    /// §6.2.2: EXT-X-PART tags SHOULD go once they are more than three target durations from
    /// the end; we list the parts of the newest segments that lie wholly within that, and
    /// always those of the newest one.
    fn parts_from_msn(&self, listed: &[Arc<Segment>], open: Option<&OpenSegment>) -> u64 {
        let budget = 3 * self.target_duration_s * TICKS_PER_SECOND;
        let mut tail: u64 = open.map_or(0, |o| o.parts.iter().map(|p| p.duration_ticks).sum());
        let mut from = u64::MAX;
        for s in listed.iter().rev() {
            if from != u64::MAX && tail + s.duration_ticks > budget {
                break;
            }
            tail += s.duration_ticks;
            from = s.msn;
        }
        from
    }
}

#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Decode time of the access unit starting here, 90 kHz, 33 bits.
    ts: Option<u64>,
    key: bool,
}

/// The segment being written.
#[derive(Debug)]
struct Building {
    msn: u64,
    discontinuity: bool,
    dsn: u64,
    date: SystemTime,
    independent: bool,
    start_ticks: u64,
    start_arrival: Instant,
    parts: Vec<Part>,
    /// The part being written; finished parts are split off its front.
    cur: BytesMut,
    cur_start_ticks: u64,
    cur_independent: bool,
    len: usize,
    /// The latest cut point inside this segment.
    last_ticks: u64,
}

impl Building {
    /// Whether there was a part to finish.
    fn finish_part(&mut self, end_ticks: u64) -> bool {
        if self.cur.is_empty() {
            return false;
        }
        self.parts.push(Part {
            bytes: self.cur.split().freeze(),
            duration_ticks: end_ticks.saturating_sub(self.cur_start_ticks),
            independent: self.cur_independent,
        });
        self.cur_start_ticks = end_ticks.max(self.cur_start_ticks);
        self.cur_independent = false;
        true
    }
}

/// The stream's timeline in 90 kHz ticks, unwrapped and never decreasing: from the PES
/// timestamps where there are some, from arrival times where there are none.
#[derive(Debug, Default)]
struct Clock {
    /// The last timestamp taken at face value and its tick.
    base: Option<(u64, u64)>,
    /// The last tick handed out and when.
    last: Option<(u64, Instant)>,
}

impl Clock {
    /// The tick of a cut point; `None` when `ts` jumps (a new timeline begins).
    fn stamp(&mut self, ts: Option<u64>, arrival: Instant) -> Option<u64> {
        let floor = self.last.map_or(0, |(t, _)| t);
        let by_arrival = self.last.map_or(0, |(t, at)| {
            t + duration_ticks(arrival.saturating_duration_since(at))
        });
        let ticks = match (ts, self.base) {
            (Some(raw), Some((base_raw, base_ticks))) => {
                let d = timestamp_delta(raw, base_raw);
                if !(-MAX_BACKWARD_TICKS..=MAX_FORWARD_TICKS).contains(&d) {
                    return None;
                }
                if d >= 0 {
                    let t = base_ticks + d as u64;
                    self.base = Some((raw, t));
                    t.max(floor)
                } else {
                    // A small step back: no time passes; the base keeps the true mapping.
                    floor
                }
            }
            (Some(raw), None) => {
                self.base = Some((raw, by_arrival));
                by_arrival
            }
            (None, _) => by_arrival,
        };
        self.last = Some((ticks, arrival));
        Some(ticks)
    }
}

fn duration_ticks(d: Duration) -> u64 {
    let ticks = d.as_nanos() * u128::from(TICKS_PER_SECOND) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

fn drift(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}
