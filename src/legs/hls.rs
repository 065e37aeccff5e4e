//! A stream's HLS segmenter as a subscriber leg on its publisher's shard: it reads the ring in
//! position order like an HTTP player, feeds `media::hls::Segmenter`, and publishes each new
//! snapshot to the stream's shared entry (`playback::hls`), where every shard's HTTP requests
//! read it. Segments are built once per stream, whatever the number of players.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::HlsSettings;
use crate::idhash::IdMap;
use crate::media::hls::{HlsConfig, HlsStats, Segmenter};
use crate::playback::hls::{HlsDirectory, HlsStream};
use crate::relay::leg::{LegId, LegKind, Offer, Sink, Taken};

pub struct SegmenterLeg {
    seg: Segmenter,
    stream: Arc<HlsStream>,
    published: u64,
}

impl Sink for SegmenterLeg {
    /// A new session of the ring (the leg lives for one publisher session; see `HlsLegs`).
    fn base(&mut self) -> u64 {
        0
    }

    fn offer(&mut self, o: Offer<'_>) -> Taken {
        self.seg.push(o.payload.as_slice(), o.origin);
        let g = self.seg.generation();
        if g != self.published {
            self.published = g;
            self.stream.publish(self.seg.snapshot());
        }
        Taken::Queued
    }
}

/// A shard's segmenters, one per stream published here.
pub struct HlsLegs {
    cfg: HlsConfig,
    /// Program dates: the shard's clock at start-up and the wall clock then.
    anchor: (Instant, SystemTime),
    legs: IdMap<u32, SegmenterLeg>,
    by_stream: HashMap<String, LegId>,
    next: u32,
    step: u32,
    /// Stats of segmenters that ended here, for the counters.
    pub retired: HlsStats,
}

impl HlsLegs {
    pub fn new(
        settings: HlsSettings,
        anchor: (Instant, SystemTime),
        shard: usize,
        shards: usize,
    ) -> HlsLegs {
        HlsLegs {
            cfg: HlsConfig {
                target_duration: settings.target_duration,
                part_target: settings.part_target,
                window_segments: settings.window_segments,
                ..HlsConfig::default()
            },
            anchor,
            legs: IdMap::default(),
            by_stream: HashMap::new(),
            next: shard as u32,
            step: shards.max(1) as u32,
            retired: HlsStats::default(),
        }
    }

    /// The segmenter leg for `name`'s new publisher session: this shard's running one (a
    /// takeover here) or a new leg continuing the stream's parked segmenter. `None` when one
    /// already runs here (the caller need not subscribe it again).
    pub fn start(&mut self, dir: &HlsDirectory, name: &str) -> Option<LegId> {
        if let Some(&leg) = self.by_stream.get(name)
            && let Some(l) = self.legs.get_mut(&leg.local())
        {
            l.seg.discontinuity();
            return None;
        }
        let stream = dir.open(name);
        let seg = match stream.start() {
            Some(mut s) => {
                s.discontinuity();
                s
            }
            None => Segmenter::new(self.cfg.clone(), self.anchor),
        };
        let leg = LegId::new(LegKind::Hls, self.next);
        self.next = self.next.wrapping_add(self.step);
        let published = seg.generation();
        self.legs.insert(
            leg.local(),
            SegmenterLeg {
                seg,
                stream,
                published,
            },
        );
        self.by_stream.insert(name.to_string(), leg);
        Some(leg)
    }

    /// `name`'s session ended here: its leg (for the fan-out to forget), the segmenter parked.
    pub fn end(&mut self, name: &str, now: Instant) -> Option<LegId> {
        let leg = self.by_stream.remove(name)?;
        let l = self.legs.remove(&leg.local())?;
        add_stats(&mut self.retired, l.seg.stats());
        l.stream.end(l.seg, now);
        Some(leg)
    }

    pub fn sink(&mut self, leg: LegId) -> Option<&mut SegmenterLeg> {
        self.legs.get_mut(&leg.local())
    }

    /// Whether `name`'s segmenter runs here.
    pub fn runs(&self, name: &str) -> bool {
        self.by_stream.contains_key(name)
    }

    pub fn contains(&self, leg: LegId) -> bool {
        self.legs.contains_key(&leg.local())
    }

    /// Segments and parts built on this shard, running segmenters included.
    pub fn stats(&self) -> HlsStats {
        let mut s = self.retired;
        for l in self.legs.values() {
            add_stats(&mut s, l.seg.stats());
        }
        s
    }
}

fn add_stats(a: &mut HlsStats, b: &HlsStats) {
    a.packets += b.packets;
    a.bad_packets += b.bad_packets;
    a.null_packets += b.null_packets;
    a.dropped_waiting += b.dropped_waiting;
    a.segments += b.segments;
    a.parts += b.parts;
    a.forced_cuts += b.forced_cuts;
    a.byte_cap_cuts += b.byte_cap_cuts;
    a.timestamp_jumps += b.timestamp_jumps;
    a.discontinuities += b.discontinuities;
}
