//! Bytes of an ingest (any chunking) to relay payloads of 1..=7 whole TS packets.
//!
//! Owns: finding the 188-byte packet sync at a source's start and after a loss (ISO/IEC
//! 13818-1 §2.4.3.2), refusing a source that is not TS at all, assembling payloads (seven
//! packets, fewer only when [`TsIngestConfig::max_hold`] runs out, on [`TsIngest::flush`] or
//! at a switch), the payload's time, and every drop counter. Each packet goes through the
//! [`Splice`] so a switch of source is invisible to players.
//! Must not: rewrite the first source's bytes, read the clock, or buffer more than one search
//! window (or partial packet) and one partial payload ([`MAX_BUFFERED`]).

#![deny(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use thiserror::Error;

use super::splice::{Splice, Step};
use crate::media::packet::{self, TsPacket};
use crate::media::ts::{TS_PACKET_LEN, TS_SYNC_BYTE};

/// Packets per relay payload: 7 × 188 = 1316 bytes, what an SRT publisher sends per datagram.
pub const PACKETS_PER_PAYLOAD: usize = 7;
/// The largest payload handed out.
pub const MAX_PAYLOAD_LEN: usize = PACKETS_PER_PAYLOAD * TS_PACKET_LEN;
/// A candidate sync byte is accepted when this many following packets also start with 0x47:
/// four sync bytes 188 apart occur by chance in random data once in 2^32 positions.
pub const SYNC_CONFIRM_PACKETS: usize = 3;
/// The search window: a candidate and its confirming packets' sync bytes.
const SEARCH_LEN: usize = (SYNC_CONFIRM_PACKETS + 1) * TS_PACKET_LEN;
/// Upper bound of [`TsIngest::buffered_bytes`]: the search window or a partial packet (never
/// both), and a partial payload.
pub const MAX_BUFFERED: usize = SEARCH_LEN + MAX_PAYLOAD_LEN;
/// Bytes of a source's start kept to say what it looks like when it is not TS.
const SNIFF_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsIngestConfig {
    /// A partial payload (fewer than 7 packets) waits at most this long for more packets: a
    /// low-rate stream must not wait for its seventh packet.
    pub max_hold: Duration,
    /// The most garbage that may precede a source's first packet before it is refused as
    /// [`IngestError::NotTs`]. After the first sync a source may lose and regain it freely.
    pub sync_search_bytes: usize,
}

impl Default for TsIngestConfig {
    fn default() -> Self {
        TsIngestConfig {
            max_hold: Duration::from_millis(10),
            sync_search_bytes: 10 * TS_PACKET_LEN,
        }
    }
}

/// Why a source's bytes cannot be ingested; the caller logs it and tries the next upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IngestError {
    /// No packet sync within [`TsIngestConfig::sync_search_bytes`] of the source's start.
    /// The source stays refused (its bytes counted as skipped) until the next switch.
    #[error(
        "not MPEG-TS: no 188-byte packet sync after {skipped} bytes of the source (it looks like {looks_like})"
    )]
    NotTs {
        skipped: usize,
        looks_like: &'static str,
    },
}

/// Counters of one ingest; plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsIngestStats {
    pub bytes_in: u64,
    /// Whole packets framed from the input (before any splice drop).
    pub packets_in: u64,
    /// Packets handed out in payloads, splice headers included.
    pub packets_out: u64,
    pub payloads_out: u64,
    /// Payloads of fewer than 7 packets (flushed by time, by `flush` or at a switch).
    pub short_payloads: u64,
    /// A packet boundary without the sync byte after the source had sync.
    pub sync_losses: u64,
    /// Bytes that were not part of an emitted or framed packet: garbage before sync or after
    /// a loss, a partial packet cut off by a switch, a refused source's bytes, misaligned
    /// input to `push_packets`.
    pub bytes_skipped: u64,
    /// Sources refused as not TS.
    pub not_ts: u64,
    pub switches: u64,
    /// Switches whose new source reached its splice point (tables and random access).
    pub splices: u64,
    /// Packets dropped while waiting for the new source's tables and random-access point.
    pub switch_dropped_packets: u64,
    /// Discontinuity indicators set on the PCR PID at a splice.
    pub discontinuities_marked: u64,
    /// Packets with `transport_error_indicator` set. They are kept: the relay forwards what
    /// the source sent, and decoders know to conceal a flagged packet.
    pub transport_errors: u64,
}

/// The sans-IO pipeline between an ingest's bytes and the relay ring.
#[derive(Debug)]
pub struct TsIngest {
    cfg: TsIngestConfig,
    sync: SyncState,
    /// While searching: bytes not yet ruled out as the start of a packet.
    search: [u8; SEARCH_LEN],
    search_len: usize,
    /// While synced: the packet being completed.
    partial: TsPacket,
    partial_len: usize,
    /// Bytes skipped in this source before its first sync; `None` once it had sync.
    unsynced_skipped: Option<usize>,
    head: [u8; SNIFF_LEN],
    head_len: usize,
    batch: Batch,
    splice: Splice,
    stats: TsIngestStats,
}

impl TsIngest {
    pub fn new(cfg: TsIngestConfig) -> Self {
        TsIngest {
            cfg,
            sync: SyncState::Searching,
            search: [0; SEARCH_LEN],
            search_len: 0,
            partial: [0; TS_PACKET_LEN],
            partial_len: 0,
            unsynced_skipped: Some(0),
            head: [0; SNIFF_LEN],
            head_len: 0,
            batch: Batch::new(),
            splice: Splice::new(),
            stats: TsIngestStats::default(),
        }
    }

    /// Bytes read at `now` from the current source, in any chunking: one byte at a time gives
    /// the same payload bytes as one big chunk. Each ready payload (1..=7 whole packets; 7
    /// unless flushed by time or a switch) is handed to `out` with the instant it stands for:
    /// the `now` of the push that brought its last packet.
    pub fn push(
        &mut self,
        bytes: &[u8],
        now: Instant,
        out: &mut dyn FnMut(&[u8], Instant),
    ) -> Result<(), IngestError> {
        self.stats.bytes_in += bytes.len() as u64;
        self.flush_if_due(now, out);
        self.sniff(bytes);
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = match self.sync {
                SyncState::Synced => self.feed_synced(rest, now, out),
                SyncState::Searching => self.search(rest, now, out),
                SyncState::Refused(_) => {
                    self.stats.bytes_skipped += rest.len() as u64;
                    rest.len()
                }
            };
            rest = &rest[n..];
        }
        match self.sync {
            SyncState::Refused(e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Whole TS packets already aligned (RTMP's remux output): as [`TsIngest::push`] without
    /// the sync search. Not to be mixed with `push` within one source. A trailing partial
    /// packet or one without the sync byte is skipped, counted.
    pub fn push_packets(
        &mut self,
        packets: &[u8],
        now: Instant,
        out: &mut dyn FnMut(&[u8], Instant),
    ) {
        self.stats.bytes_in += packets.len() as u64;
        self.flush_if_due(now, out);
        for chunk in packets.chunks(TS_PACKET_LEN) {
            match <&TsPacket>::try_from(chunk) {
                Ok(p) if p[0] == TS_SYNC_BYTE => self.on_packet(*p, now, out),
                _ => self.stats.bytes_skipped += chunk.len() as u64,
            }
        }
    }

    /// Hands out the partial payload now: the end of an RTMP frame or of a source.
    pub fn flush(&mut self, _now: Instant, out: &mut dyn FnMut(&[u8], Instant)) {
        self.batch.flush(&mut self.stats, out);
    }

    /// When a held partial payload must go.
    pub fn deadline(&self) -> Option<Instant> {
        self.batch.first_at.map(|t| t + self.cfg.max_hold)
    }

    pub fn on_timeout(&mut self, now: Instant, out: &mut dyn FnMut(&[u8], Instant)) {
        self.flush_if_due(now, out);
    }

    /// The next bytes come from another source (a failover to another upstream, a reconnect,
    /// a file loop). The partial payload goes out first; the partial packet and any search
    /// window are dropped (counted as skipped); the new source is searched for sync afresh
    /// and spliced in at its tables and random-access point.
    pub fn switch_source(&mut self, now: Instant, out: &mut dyn FnMut(&[u8], Instant)) {
        self.flush(now, out);
        self.stats.bytes_skipped += (self.partial_len + self.search_len) as u64;
        self.partial_len = 0;
        self.search_len = 0;
        self.sync = SyncState::Searching;
        self.unsynced_skipped = Some(0);
        self.head_len = 0;
        self.splice.switch_source(&mut self.stats);
    }

    pub fn stats(&self) -> &TsIngestStats {
        &self.stats
    }

    /// Whether the current source's packets are dropped until its tables and random-access
    /// point come (after a switch).
    pub fn is_splicing(&self) -> bool {
        self.splice.is_waiting()
    }

    /// Input bytes held: at most [`MAX_BUFFERED`].
    pub fn buffered_bytes(&self) -> usize {
        self.search_len + self.partial_len + self.batch.len
    }

    fn flush_if_due(&mut self, now: Instant, out: &mut dyn FnMut(&[u8], Instant)) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.batch.flush(&mut self.stats, out);
        }
    }

    /// Keeps the source's first bytes to name what it is if it never syncs.
    fn sniff(&mut self, bytes: &[u8]) {
        if self.unsynced_skipped.is_none() {
            return;
        }
        let n = (SNIFF_LEN - self.head_len).min(bytes.len());
        self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
        self.head_len += n;
    }

    /// Frames packets from `bytes` while they keep sync; returns how many bytes it took
    /// (fewer than all only at a sync loss, which switches to searching).
    fn feed_synced(
        &mut self,
        bytes: &[u8],
        now: Instant,
        out: &mut dyn FnMut(&[u8], Instant),
    ) -> usize {
        let mut rest = bytes;
        if self.partial_len > 0 {
            let n = (TS_PACKET_LEN - self.partial_len).min(rest.len());
            self.partial[self.partial_len..self.partial_len + n].copy_from_slice(&rest[..n]);
            self.partial_len += n;
            rest = &rest[n..];
            if self.partial_len < TS_PACKET_LEN {
                return bytes.len();
            }
            self.partial_len = 0;
            self.on_packet(self.partial, now, out);
        }
        while let Some(&first) = rest.first() {
            if first != TS_SYNC_BYTE {
                self.stats.sync_losses += 1;
                self.sync = SyncState::Searching;
                return bytes.len() - rest.len();
            }
            match rest.split_first_chunk::<TS_PACKET_LEN>() {
                Some((p, tail)) => {
                    self.on_packet(*p, now, out);
                    rest = tail;
                }
                None => {
                    self.partial[..rest.len()].copy_from_slice(rest);
                    self.partial_len = rest.len();
                    return bytes.len();
                }
            }
        }
        bytes.len()
    }

    /// Adds `bytes` to the search window and looks for a confirmed sync; returns how many
    /// bytes it took. Positions ruled out are skipped (counted); a candidate whose
    /// confirming bytes have not arrived yet is kept, so the outcome does not depend on how
    /// the input was chunked.
    fn search(&mut self, bytes: &[u8], now: Instant, out: &mut dyn FnMut(&[u8], Instant)) -> usize {
        let take = (SEARCH_LEN - self.search_len).min(bytes.len());
        self.search[self.search_len..self.search_len + take].copy_from_slice(&bytes[..take]);
        self.search_len += take;
        let window = &self.search[..self.search_len];
        let (skip, found) = match find_sync(window) {
            Candidate::Confirmed(i) => (i, true),
            Candidate::Unconfirmed(i) => (i, false),
            Candidate::None => (window.len(), false),
        };
        if let Some(skipped) = &mut self.unsynced_skipped {
            *skipped += skip;
            if *skipped > self.cfg.sync_search_bytes {
                let e = IngestError::NotTs {
                    skipped: *skipped,
                    looks_like: looks_like(&self.head[..self.head_len]),
                };
                self.stats.not_ts += 1;
                self.stats.bytes_skipped += self.search_len as u64;
                self.search_len = 0;
                self.sync = SyncState::Refused(e);
                return take;
            }
        }
        self.stats.bytes_skipped += skip as u64;
        self.search.copy_within(skip..self.search_len, 0);
        self.search_len -= skip;
        if found {
            self.sync = SyncState::Synced;
            self.unsynced_skipped = None;
            let window = self.search;
            let len = std::mem::take(&mut self.search_len);
            let used = self.feed_synced(&window[..len], now, out);
            // The window holds only confirmed packets' starts, so it is framed whole; should
            // it not be, the rest is searched again.
            let left = len - used;
            self.search[..left].copy_from_slice(&window[used..len]);
            self.search_len = left;
        }
        take
    }

    /// One whole packet of the current source: through the splice into the payload.
    fn on_packet(&mut self, mut pkt: TsPacket, now: Instant, out: &mut dyn FnMut(&[u8], Instant)) {
        self.stats.packets_in += 1;
        if packet::transport_error(&pkt) {
            self.stats.transport_errors += 1;
        }
        match self.splice.process(&mut pkt, &mut self.stats) {
            Step::Drop => {}
            Step::Emit => self.batch.add(&pkt, now, &mut self.stats, out),
            Step::Start => {
                for h in self.splice.header().chunks_exact(TS_PACKET_LEN) {
                    self.batch.add(h, now, &mut self.stats, out);
                }
                self.batch.add(&pkt, now, &mut self.stats, out);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncState {
    Searching,
    Synced,
    /// The source was refused; its further bytes are skipped until a switch.
    Refused(IngestError),
}

/// The payload being assembled.
#[derive(Debug)]
struct Batch {
    buf: [u8; MAX_PAYLOAD_LEN],
    len: usize,
    /// When its first packet came: the hold deadline runs from there.
    first_at: Option<Instant>,
    /// When its last packet came: the time a flushed payload stands for.
    last_at: Option<Instant>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            buf: [0; MAX_PAYLOAD_LEN],
            len: 0,
            first_at: None,
            last_at: None,
        }
    }

    fn add(
        &mut self,
        pkt: &[u8],
        now: Instant,
        stats: &mut TsIngestStats,
        out: &mut dyn FnMut(&[u8], Instant),
    ) {
        self.buf[self.len..self.len + TS_PACKET_LEN].copy_from_slice(pkt);
        self.len += TS_PACKET_LEN;
        self.first_at.get_or_insert(now);
        self.last_at = Some(now);
        if self.len == MAX_PAYLOAD_LEN {
            self.flush(stats, out);
        }
    }

    fn flush(&mut self, stats: &mut TsIngestStats, out: &mut dyn FnMut(&[u8], Instant)) {
        let Some(at) = self.last_at.take() else {
            return;
        };
        let n = self.len / TS_PACKET_LEN;
        stats.payloads_out += 1;
        stats.packets_out += n as u64;
        if n < PACKETS_PER_PAYLOAD {
            stats.short_payloads += 1;
        }
        out(&self.buf[..self.len], at);
        self.len = 0;
        self.first_at = None;
    }
}

/// Where a packet could start in a search window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    /// At this offset, with [`SYNC_CONFIRM_PACKETS`] sync bytes following 188 apart.
    Confirmed(usize),
    /// At this offset, its confirming bytes not all there yet, those there agreeing.
    Unconfirmed(usize),
    None,
}

/// The first offset of `window` that may start a packet.
fn find_sync(window: &[u8]) -> Candidate {
    'offsets: for (i, &b) in window.iter().enumerate() {
        if b != TS_SYNC_BYTE {
            continue;
        }
        for k in 1..=SYNC_CONFIRM_PACKETS {
            match window.get(i + k * TS_PACKET_LEN) {
                Some(&TS_SYNC_BYTE) => {}
                Some(_) => continue 'offsets,
                None => return Candidate::Unconfirmed(i),
            }
        }
        return Candidate::Confirmed(i);
    }
    Candidate::None
}

/// A guess at what a refused source's first bytes are, for the log line.
fn looks_like(head: &[u8]) -> &'static str {
    let text = head.trim_ascii_start();
    if text.starts_with(b"HTTP/") {
        "an HTTP response inside the body"
    } else if text.starts_with(b"#EXTM3U") {
        "an HLS playlist"
    } else if text.starts_with(b"<") {
        "an HTML or XML page"
    } else if text.starts_with(b"{") || text.starts_with(b"[") {
        "JSON"
    } else if head.starts_with(b"FLV") {
        "FLV"
    } else if matches!(
        head.get(4..8),
        Some(b"ftyp" | b"moov" | b"moof" | b"styp" | b"mdat")
    ) {
        "MP4"
    } else if !head.is_empty()
        && head
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        "text"
    } else {
        "binary data"
    }
}

#[cfg(test)]
#[path = "packetizer_tests.rs"]
mod tests;
