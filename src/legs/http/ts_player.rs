//! One HTTP-TS player's queue: what the fan-out offered and the connection has not written
//! yet. It starts at a video keyframe with the stream's PAT/PMT in front, skips forward to the
//! next keyframe when the queue is full (a client that cannot keep up: counted, nobody else
//! notices), and gives up on a client whose queue is older than `max_lag` in media time.
//!
//! No I/O: the fan-out pushes, the connection's body pops; the waker is the only link.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::buf::Payload;
use crate::media::ts::{TS_PACKET_LEN, is_video_random_access, packets};
use crate::relay::leg::{Offer, Sink, Taken};

/// Bytes the connection writes: a slice of a ring payload (the ring's handle, no copy) or the
/// PSI header copied once per start.
#[derive(Debug, Clone)]
pub enum Chunk {
    Payload { payload: Payload, start: usize },
    Header(Vec<u8>),
}

impl Chunk {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Payload { payload, start } => &payload.as_slice()[*start..],
            Chunk::Header(h) => h,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first keyframe of a session (at join, or after a publisher change).
    Join,
    /// Writing everything in order.
    Live,
    /// The queue overflowed: dropping until the next keyframe.
    Resync,
}

/// What one player got and missed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TsPlayerCounters {
    /// Bytes handed to the connection.
    pub bytes_out: u64,
    /// Packets offered before its first keyframe (a join point inside a GOP).
    pub join_skipped: u64,
    /// Times it was skipped forward to the next keyframe because its queue was full.
    pub resyncs: u64,
    /// Payloads dropped while skipping forward.
    pub resync_skipped: u64,
    /// It was disconnected for lagging more than `max_lag`.
    pub lag_closed: bool,
}

#[derive(Debug)]
pub struct TsPlayer {
    phase: Phase,
    queue: VecDeque<(Chunk, Instant)>,
    queued_bytes: usize,
    cap: usize,
    max_lag: Duration,
    closed: bool,
    /// It started at a keyframe before the stream's PAT/PMT were known (a replica that began
    /// at that keyframe): nothing is written until they are, so they still come first.
    psi_pending: bool,
    waker: Option<Waker>,
    /// The tables queued at the last start, while not yet written: their continuity counters
    /// are set from the first in-band packet of each of their PIDs that follows, so the player
    /// sees each PID's counter continue (the cached packets carry the counters of whenever
    /// they were last sent).
    header_fix: Option<HeaderFix>,
    pub counters: TsPlayerCounters,
}

#[derive(Debug)]
struct HeaderFix {
    /// The header's position in the queue.
    index: usize,
    /// PIDs still waiting for their first in-band packet.
    pids: Vec<u16>,
}

/// A stream whose tables never come is written without them after this much media.
const PSI_WAIT: Duration = Duration::from_secs(1);

impl TsPlayer {
    pub fn new(cap: usize, max_lag: Duration) -> TsPlayer {
        TsPlayer {
            phase: Phase::Join,
            queue: VecDeque::new(),
            queued_bytes: 0,
            cap,
            max_lag,
            closed: false,
            psi_pending: false,
            waker: None,
            header_fix: None,
            counters: TsPlayerCounters::default(),
        }
    }

    /// Ends the response once the queue is written (the relay closes this leg).
    pub fn close(&mut self) {
        self.closed = true;
        self.wake();
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Takes what is queued (at most `max` chunks), or registers `waker` for the next offer.
    /// `None` with `finished == true`: the response is over.
    pub fn take(&mut self, max: usize, waker: &Waker, out: &mut VecDeque<Chunk>) -> bool {
        while out.len() < max && !self.psi_pending {
            let Some((c, _)) = self.queue.pop_front() else {
                break;
            };
            let n = c.bytes().len();
            self.header_fix = self.header_fix.take().and_then(|mut f| {
                f.index = f.index.checked_sub(1)?;
                Some(f)
            });
            self.queued_bytes -= n;
            self.counters.bytes_out += n as u64;
            out.push_back(c);
        }
        if self.closed {
            self.psi_pending = false;
        }
        if out.is_empty() && !self.closed {
            match &self.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => self.waker = Some(waker.clone()),
            }
        }
        self.closed && self.queue.is_empty()
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn push(&mut self, c: Chunk, at: Instant) {
        self.queued_bytes += c.bytes().len();
        self.queue.push_back((c, at));
    }

    /// Queues the tables at a start and remembers to fix their counters.
    fn push_header(&mut self, header: &[u8], at: Instant) {
        let mut pids: Vec<u16> = packets(header).map(crate::media::packet::pid).collect();
        pids.dedup();
        self.push(Chunk::Header(header.to_vec()), at);
        self.header_fix = Some(HeaderFix {
            index: self.queue.len() - 1,
            pids,
        });
    }

    /// Sets the queued header's counters from the in-band packets in `bytes` (what was just
    /// queued after it).
    fn fix_header_counters(&mut self, bytes: &[u8]) {
        let Some(fix) = &mut self.header_fix else {
            return;
        };
        for pkt in packets(bytes) {
            let pid = crate::media::packet::pid(pkt);
            let Some(i) = fix.pids.iter().position(|&p| p == pid) else {
                continue;
            };
            fix.pids.swap_remove(i);
            let next = crate::media::packet::continuity_counter(pkt);
            if let Some((Chunk::Header(h), _)) = self.queue.get_mut(fix.index) {
                // The header's packets of this PID end just before `next`.
                let n = h
                    .chunks_exact(TS_PACKET_LEN)
                    .filter(|p| pid_of(p) == pid)
                    .count() as u8;
                let mut cc = next.wrapping_sub(n) & 0x0F;
                for p in h.chunks_exact_mut(TS_PACKET_LEN) {
                    if pid_of(p) == pid {
                        p[3] = (p[3] & 0xF0) | cc;
                        cc = (cc + 1) & 0x0F;
                    }
                }
            }
        }
        if fix.pids.is_empty() {
            self.header_fix = None;
        }
    }

    /// The queue's media age exceeds `max_lag`: the client is not reading.
    fn too_far_behind(&self, now_origin: Instant) -> bool {
        self.queue
            .front()
            .is_some_and(|(_, at)| now_origin.saturating_duration_since(*at) > self.max_lag)
    }
}

/// A TS packet's PID (ISO/IEC 13818-1 §2.4.3.2), from a whole packet's bytes.
fn pid_of(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

/// The first packet of `payload` that starts a video keyframe.
fn keyframe_at(payload: &[u8]) -> Option<usize> {
    packets(payload).position(is_video_random_access)
}

impl Sink for TsPlayer {
    /// A new session (join or publisher change): wait for its keyframe and PSI. The number is
    /// unused: a byte stream has no packet numbers.
    fn base(&mut self) -> u64 {
        if self.phase == Phase::Live {
            self.phase = Phase::Join;
        }
        0
    }

    fn offer(&mut self, o: Offer<'_>) -> Taken {
        if self.closed {
            return Taken::Closed;
        }
        let bytes = o.payload.as_slice();
        if self.psi_pending {
            if let Some(psi) = o.psi {
                self.queued_bytes += psi.header.len();
                self.queue
                    .push_front((Chunk::Header(psi.header.to_vec()), o.origin));
                let mut pids: Vec<u16> =
                    packets(psi.header).map(crate::media::packet::pid).collect();
                pids.dedup();
                self.header_fix = Some(HeaderFix { index: 0, pids });
                let queued: Vec<u8> = self
                    .queue
                    .iter()
                    .skip(1)
                    .flat_map(|(c, _)| c.bytes().to_vec())
                    .collect();
                self.fix_header_counters(&queued);
                self.psi_pending = false;
            } else if self
                .queue
                .front()
                .is_some_and(|(_, at)| o.origin.saturating_duration_since(*at) > PSI_WAIT)
            {
                self.psi_pending = false;
            }
        }
        if self.too_far_behind(o.origin) {
            self.counters.lag_closed = true;
            self.close();
            return Taken::Closed;
        }
        let start = match self.phase {
            Phase::Live if self.queued_bytes + bytes.len() > self.cap => {
                self.phase = Phase::Resync;
                self.counters.resyncs += 1;
                self.counters.resync_skipped += 1;
                return Taken::Skipped;
            }
            Phase::Live => 0,
            Phase::Join | Phase::Resync => {
                // Audio-only streams (a PMT without video) start anywhere.
                let k = match (keyframe_at(bytes), o.psi) {
                    (Some(k), _) => k,
                    (None, Some(psi)) if !psi.has_video => 0,
                    _ => {
                        match self.phase {
                            Phase::Join => self.counters.join_skipped += 1,
                            _ => self.counters.resync_skipped += 1,
                        }
                        return Taken::Skipped;
                    }
                };
                if self.phase == Phase::Resync && self.queued_bytes + bytes.len() > self.cap {
                    self.counters.resync_skipped += 1;
                    return Taken::Skipped;
                }
                // After a skip too: a decoder that lost its place finds the tables again.
                match o.psi {
                    Some(psi) => self.push_header(psi.header, o.origin),
                    None if self.phase == Phase::Join => self.psi_pending = true,
                    None => {}
                }
                self.phase = Phase::Live;
                k * TS_PACKET_LEN
            }
        };
        self.push(
            Chunk::Payload {
                payload: o.payload.clone(),
                start,
            },
            o.origin,
        );
        if self.header_fix.is_some() {
            self.fix_header_counters(&bytes[start..]);
        }
        self.wake();
        Taken::Queued
    }
}
