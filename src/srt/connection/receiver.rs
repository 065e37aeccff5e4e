//! The receiving half of a connection: loss detection, ACK/NAK generation, RTT from ACKACK,
//! DROPREQ handling and TSBPD delivery (draft-sharabayko-srt §4.5-§4.8, §4.10).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::recv_buffer::{Insert, RecvBuffer, Release};
use super::tsbpd::TsbpdClock;
use super::{Arrival, Connection, Delivered, Delivery, LIGHT_ACK_PACKETS, LossRanges};
use crate::srt::crypto::{DecryptError, KmState};
use crate::srt::packet::{
    Ack, AckInfo, Control, DataPacket, DropRequest, EncryptionKey, HEADER_LEN, LossListBuilder,
};
use crate::srt::seq::{SeqNo, Timestamp};

/// Full ACKs remembered for matching ACKACKs; older ones no longer yield RTT samples.
const ACK_HISTORY: usize = 256;

#[derive(Debug)]
pub(super) struct Receiver {
    pub buf: RecvBuffer,
    pub loss: LossRanges,
    pub clock: TsbpdClock,
    pub next_ack_no: u32,
    /// (ACK number, acknowledged position, time sent) of recent full ACKs.
    pub ack_history: VecDeque<(u32, SeqNo, Instant)>,
    /// Position and time of the last full ACK sent.
    pub last_full_ack: Option<(SeqNo, Instant)>,
    /// Highest position the peer confirmed with an ACKACK.
    pub last_ackacked: SeqNo,
    pub since_light_ack: u32,
    pub rate: RecvRate,
    /// Gaps not NAKed yet under reorder tolerance: (first, last, arrival count at which to
    /// NAK, detection time). Tolerance never shrinks, so expiries are in queue order.
    pub fresh_loss: VecDeque<(SeqNo, SeqNo, u64, Instant)>,
    /// Packets stored so far: the clock fresh losses age by.
    pub arrivals: u64,
    /// Current reorder tolerance in packets, grown up to `loss_max_ttl` by observed reordering.
    pub reorder_tolerance: u32,
}

impl Receiver {
    /// The ACK position: everything before it is received or given up on.
    pub fn ack_pos(&self) -> SeqNo {
        self.loss.first().unwrap_or(self.buf.max())
    }

    pub fn next_release_time(&self, too_late_drop: bool) -> Option<Instant> {
        self.buf.next_release_time(&self.clock, too_late_drop)
    }
}

/// Receive rate over the last closed window, reported in full ACKs.
#[derive(Debug, Clone, Copy)]
pub(super) struct RecvRate {
    window_start: Instant,
    pkts: u64,
    bytes: u64,
    pub pkts_per_s: u32,
    pub bytes_per_s: u32,
}

impl RecvRate {
    pub fn new(now: Instant) -> Self {
        RecvRate {
            window_start: now,
            pkts: 0,
            bytes: 0,
            pkts_per_s: 0,
            bytes_per_s: 0,
        }
    }

    fn on_packet(&mut self, len: usize) {
        self.pkts += 1;
        self.bytes += len as u64;
    }

    pub fn roll(&mut self, now: Instant) {
        let us = now.saturating_duration_since(self.window_start).as_micros();
        let per_s = |n: u64| {
            (u128::from(n) * 1_000_000)
                .checked_div(us)
                .map(|r| r.min(u32::MAX.into()) as u32)
        };
        if let (Some(p), Some(b)) = (per_s(self.pkts), per_s(self.bytes)) {
            self.pkts_per_s = p;
            self.bytes_per_s = b;
        }
        *self = RecvRate {
            window_start: now,
            pkts: 0,
            bytes: 0,
            ..*self
        };
    }
}

impl Connection {
    pub(super) fn on_data(&mut self, now: Instant, data: &DataPacket<'_>) -> Option<Arrival> {
        self.stats.pkt_recv += 1;
        self.stats.byte_recv += data.payload.len() as u64;
        if data.retransmitted {
            self.stats.pkt_rcv_retrans += 1;
        }
        // Decrypt into the connection's scratch buffer first (draft §6.2): everything after
        // this sees the payload in clear. An unencrypted connection only pays this check.
        let decrypted = match (data.key, self.crypto.as_deref_mut()) {
            (EncryptionKey::None, _) => Ok(data.payload),
            (_, Some(crypto)) => crypto.decrypt(data.key, data.seq, data.payload),
            (_, None) => Err(DecryptError::NotSecured(KmState::Unsecured)),
        };
        let rcv = &mut self.rcv;
        let payload = match decrypted {
            Ok(p) => p,
            Err(e) => {
                // No key for it (no passphrase, a failed key exchange, a key the peer never
                // sent). Give the slot up so the packet is acknowledged rather than NAKed
                // forever.
                log::trace!("packet {:?} not decrypted: {e}", data.seq);
                self.stats.pkt_rcv_undecrypt += 1;
                rcv.loss.remove(data.seq);
                let fresh = data.seq >= rcv.buf.max();
                let old_max = rcv.buf.max();
                if rcv.buf.drop_range(data.seq, data.seq) > 0 && fresh && data.seq != old_max {
                    let n = rcv.loss.insert(old_max, data.seq.prev());
                    self.stats.pkt_rcv_loss += u64::from(n);
                    self.pending.nak.insert(old_max, data.seq.prev());
                }
                return None;
            }
        };
        let ts_ext = rcv.clock.extend(data.timestamp);
        // Cut-through hands the payload over from the datagram: the buffer keeps no copy.
        let stored = match self.cfg.delivery {
            Delivery::Tsbpd => payload,
            Delivery::CutThrough => &[],
        };
        match rcv
            .buf
            .insert(now, data.seq, data.msg_no, data.timestamp, ts_ext, stored)
        {
            Insert::Stored { gap } => {
                match gap {
                    Some((first, last)) => {
                        let n = rcv.loss.insert(first, last);
                        self.stats.pkt_rcv_loss += u64::from(n);
                        if rcv.reorder_tolerance == 0 {
                            // draft §4.8.2: report a gap at once; the periodic NAK repeats it.
                            self.pending.nak.insert(first, last);
                        } else {
                            let expiry = rcv.arrivals + u64::from(rcv.reorder_tolerance);
                            rcv.fresh_loss.push_back((first, last, expiry, now));
                        }
                    }
                    None => {
                        let was_lost = rcv.loss.remove(data.seq);
                        if was_lost && !data.retransmitted && self.cfg.loss_max_ttl > 0 {
                            // Arrived out of order on its own: widen the tolerance to the
                            // distance it was overtaken by (libsrt SRTO_LOSSMAXTTL).
                            let behind = rcv.buf.max().offset_from(data.seq).max(0) as u32;
                            rcv.reorder_tolerance =
                                rcv.reorder_tolerance.max(behind).min(self.cfg.loss_max_ttl);
                        }
                    }
                }
                rcv.arrivals += 1;
                release_fresh_losses(rcv, &mut self.pending.nak, None);
                rcv.rate.on_packet(payload.len());
                rcv.since_light_ack += 1;
                if rcv.since_light_ack >= LIGHT_ACK_PACKETS {
                    self.pending.light_ack = true;
                }
                return Some(Arrival {
                    seq: data.seq,
                    msg_no: data.msg_no,
                    timestamp: data.timestamp,
                    origin: rcv.clock.origin_time(ts_ext),
                });
            }
            Insert::Duplicate => self.stats.pkt_rcv_duplicate += 1,
            Insert::Belated => self.stats.pkt_rcv_belated += 1,
            Insert::Overflow => self.stats.pkt_rcv_overflow += 1,
        }
        None
    }

    /// Cut-through: what was handed over is released from the receive buffer's bookkeeping at
    /// its TSBPD time; gaps still open then are given up (too-late drop, counted).
    pub(super) fn release_cut_through(&mut self, now: Instant) {
        let tld = self.cfg.too_late_drop;
        let rcv = &mut self.rcv;
        while let Some(release) = rcv.buf.pop_ready(now, &rcv.clock, tld, &mut []) {
            match release {
                // Already passed on when it arrived, late or not.
                Release::Packet { .. } | Release::Late { .. } => {
                    rcv.loss.remove_before(rcv.buf.base());
                }
                Release::Dropped { last, .. } => {
                    let n = rcv.loss.remove_before(last.next());
                    self.stats.pkt_rcv_drop += u64::from(n);
                }
            }
        }
    }

    /// Every 10 ms: a full ACK when the position moved, or again when the last one was not
    /// confirmed by an ACKACK within RTT + 4 * RTTVar (libsrt `sendCtrlAck`).
    pub(super) fn on_ack_timer(&mut self, now: Instant) {
        let pos = self.rcv.ack_pos();
        let due = match self.rcv.last_full_ack {
            None => pos != self.cfg.isn,
            Some((last, _)) if pos > last => true,
            Some((last, sent)) => {
                let wait =
                    self.rtt.rtt() + Duration::from_micros(4 * u64::from(self.rtt.rtt_var_us()));
                last != self.rcv.last_ackacked && now.saturating_duration_since(sent) >= wait
            }
        };
        if due {
            self.pending.full_ack = true;
        }
    }

    /// Whether the ACK timer can find nothing to do until new input: no ACK pending, no loss
    /// (the ACK position is then the buffer's end, moved only by arrivals), and the last full
    /// ACK, if any, covers that position and was confirmed (no resend due by time alone).
    pub(super) fn ack_settled(&self) -> bool {
        if self.pending.full_ack || !self.rcv.loss.is_empty() {
            return false;
        }
        let pos = self.rcv.ack_pos();
        match self.rcv.last_full_ack {
            None => pos == self.cfg.isn,
            Some((last, _)) => last == pos && last == self.rcv.last_ackacked,
        }
    }

    pub(super) fn poll_ack(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let last_ack = self.rcv.ack_pos();
        let ack = if std::mem::take(&mut self.pending.full_ack) {
            let ack_no = self.rcv.next_ack_no;
            self.rcv.next_ack_no = match ack_no.wrapping_add(1) {
                0 => 1,
                n => n,
            };
            if self.rcv.ack_history.len() == ACK_HISTORY {
                self.rcv.ack_history.pop_front();
            }
            self.rcv.ack_history.push_back((ack_no, last_ack, now));
            self.rcv.last_full_ack = Some((last_ack, now));
            let rate = self.rcv.rate;
            Ack {
                ack_no,
                last_ack,
                info: AckInfo::Full {
                    rtt_us: self.rtt.rtt_us(),
                    rtt_var_us: self.rtt.rtt_var_us(),
                    avail_buf_pkts: self.rcv.buf.available() as u32,
                    pkt_recv_rate_pps: rate.pkts_per_s,
                    // We do not probe with packet pairs; report the receive rate (live-mode
                    // senders do not use this field).
                    est_link_capacity_pps: rate.pkts_per_s,
                    recv_rate_bytes_per_s: rate.bytes_per_s,
                },
            }
        } else if self.pending.light_ack {
            Ack {
                ack_no: 0,
                last_ack,
                info: AckInfo::Light,
            }
        } else {
            return None;
        };
        self.pending.light_ack = false;
        self.rcv.since_light_ack = 0;
        self.stats.pkt_sent_ack += 1;
        self.emit_control(now, Control::Ack(ack), buf)
    }

    pub(super) fn poll_nak(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let periodic = std::mem::take(&mut self.pending.periodic_nak);
        let immediate = !self.pending.nak.is_empty();
        if !immediate && (!periodic || self.rcv.loss.is_empty()) {
            return None;
        }
        let mut scratch = [0u8; 1500];
        let cap = (self.max_packet_len() - HEADER_LEN).min(scratch.len());
        let mut list = LossListBuilder::new(&mut scratch[..cap]);
        if immediate {
            for (first, last) in self.pending.nak.ranges() {
                if list.push(first, last).is_err() {
                    break;
                }
            }
        } else {
            // Gaps still held for reordering are newer than every other loss: stop there.
            let held = self.rcv.fresh_loss.front().map(|e| e.0);
            for (first, last) in self.rcv.loss.ranges() {
                let last = match held {
                    Some(h) if first >= h => break,
                    Some(h) if last >= h => h.prev(),
                    _ => last,
                };
                if list.push(first, last).is_err() {
                    break;
                }
            }
        }
        self.pending.nak.clear();
        if list.is_empty() {
            return None;
        }
        self.stats.pkt_sent_nak += 1;
        let list = list.finish();
        self.emit_control(now, Control::Nak(list), buf)
    }

    pub(super) fn on_ackack(&mut self, now: Instant, ack_no: u32, ts: Timestamp) {
        self.stats.pkt_recv_ackack += 1;
        let Some(i) = self.rcv.ack_history.iter().position(|e| e.0 == ack_no) else {
            return;
        };
        let (_, pos, sent) = self.rcv.ack_history[i];
        self.rcv.ack_history.drain(..=i);
        self.rtt.on_sample(now.saturating_duration_since(sent));
        self.rcv.clock.on_drift_sample(ts, now);
        if pos > self.rcv.last_ackacked {
            self.rcv.last_ackacked = pos;
        }
    }

    pub(super) fn on_drop_request(&mut self, req: &DropRequest) {
        if req.last < req.first {
            return;
        }
        let dropped = self.rcv.buf.drop_range(req.first, req.last);
        self.rcv.loss.remove_range(req.first, req.last);
        self.stats.pkt_rcv_drop += u64::from(dropped);
    }

    /// `draining`: the peer is gone, so no retransmission can fill a gap: skip gaps as if
    /// too-late drop were on.
    pub(super) fn recv_ready(
        &mut self,
        now: Instant,
        out: &mut [u8],
        draining: bool,
    ) -> Option<Delivered> {
        let tld = self.cfg.too_late_drop || draining;
        loop {
            let rcv = &mut self.rcv;
            match rcv.buf.pop_ready(now, &rcv.clock, tld, out)? {
                Release::Packet {
                    seq,
                    msg_no,
                    timestamp,
                    len,
                } => {
                    rcv.loss.remove_before(rcv.buf.base());
                    return Some(Delivered {
                        seq,
                        msg_no,
                        timestamp,
                        len,
                    });
                }
                Release::Late { seq } => {
                    rcv.loss.remove_before(seq.next());
                    self.stats.pkt_rcv_drop += 1;
                }
                Release::Dropped { last, .. } => {
                    // draft §4.6: too-late packets are skipped, counted, and no longer NAKed.
                    let n = rcv.loss.remove_before(last.next());
                    self.stats.pkt_rcv_drop += u64::from(n);
                }
            }
        }
    }
}

/// NAKs held gaps whose wait is over, for whatever in them is still missing: after enough
/// later arrivals, or, when `older_than` is given, once detected before it (a gap at the tail
/// of a stream sees no later arrivals).
pub(super) fn release_fresh_losses(
    rcv: &mut Receiver,
    nak: &mut LossRanges,
    older_than: Option<Instant>,
) {
    while let Some(&(first, last, expiry, detected)) = rcv.fresh_loss.front() {
        let by_count = expiry <= rcv.arrivals;
        let by_time = older_than.is_some_and(|t| detected <= t);
        if !by_count && !by_time {
            break;
        }
        rcv.fresh_loss.pop_front();
        for (f, l) in rcv.loss.ranges() {
            let from = if f < first { first } else { f };
            let to = if l > last { last } else { l };
            if from <= to {
                nak.insert(from, to);
            }
        }
    }
}
