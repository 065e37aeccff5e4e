//! The sending half of a connection: the send buffer, ACK and NAK processing, retransmission,
//! sender too-late drop with DROPREQ, and pacing (draft-sharabayko-srt §4.6, §4.8, §5.1).
//!
//! Retransmission is bounded whatever the peer says: a packet is resent at most once per
//! max(RTT, [`MIN_REXMIT_INTERVAL`]) and all retransmissions together stay within the
//! [`RexmitBudget`](super::cc::RexmitBudget); NAKed packets beyond it are dropped from the
//! queue and counted (`pkt_retrans_capped`). A receiver that really lost them NAKs again.

use std::time::{Duration, Instant};

use super::cc::{LiveCc, RexmitBudget};
use super::send_buffer::{SendBuffer, SendSlot, SlotData};
use super::timers::Timer;
use super::{Connection, LossRanges, emit_data};
use crate::srt::packet::{
    Ack, AckInfo, DataPacket, DropRequest, EncryptionKey, LossList, PacketPosition,
};
use crate::srt::seq::{MsgNo, SeqNo};

/// libsrt SRT_TLPKTDROP_MINTHRESHOLD_MS: the sender keeps packets at least this long.
const SND_DROP_MIN: Duration = Duration::from_secs(1);
/// libsrt adds two ACK periods to the sender drop threshold.
const SND_DROP_SLACK: Duration = Duration::from_millis(20);
/// Bound on queued DROPREQs, so a peer NAKing ancient ranges cannot grow a queue.
const MAX_PENDING_DROPREQ: usize = 32;
/// A packet is not retransmitted twice within max(RTT, this). The RTT a pure sender knows is
/// the one the peer reports in its ACKs, so a peer claiming 100 us could otherwise ask for
/// every packet every 100 us. 10 ms is half the smallest periodic NAK interval (draft
/// §4.8.2: at least 20 ms), so an honest receiver's repeated request is never refused.
pub(super) const MIN_REXMIT_INTERVAL: Duration = Duration::from_millis(10);
/// At most one warning per connection this often about NAKs beyond the budget.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(super) struct Sender {
    pub buf: SendBuffer,
    /// Sequence numbers NAKed by the peer and not yet retransmitted.
    pub rexmit: LossRanges,
    pub next_msg_no: MsgNo,
    /// The peer's free receive buffer from its last full ACK.
    pub peer_avail_buf: u32,
    pub cc: LiveCc,
    /// What retransmissions may add to the stream (SRTO_OHEADBW-like).
    pub budget: RexmitBudget,
    /// When we last warned that retransmissions were capped, and how many were since.
    pub cap_warned_at: Option<Instant>,
    pub capped_since_warning: u64,
}

impl Sender {
    fn in_flight(&self) -> u32 {
        self.buf.sent_end().offset_from(self.buf.first_seq()).max(0) as u32
    }

    /// Whether `poll_data` would send something once pacing allows: retransmissions, or new
    /// packets inside the flow window.
    pub fn has_data_to_send(&self, flow_window: u32) -> bool {
        !self.rexmit.is_empty()
            || (self.buf.has_unsent() && self.in_flight() < self.window(flow_window))
    }

    fn window(&self, flow_window: u32) -> u32 {
        self.peer_avail_buf.min(flow_window).max(1)
    }
}

impl Connection {
    pub(super) fn on_ack(&mut self, _now: Instant, ack: &Ack) {
        self.stats.pkt_recv_ack += 1;
        if self.snd.buf.acknowledge(ack.last_ack).is_some() {
            self.snd.rexmit.remove_before(ack.last_ack);
        }
        match ack.info {
            AckInfo::Light => {}
            AckInfo::Small {
                rtt_us,
                rtt_var_us,
                avail_buf_pkts,
            }
            | AckInfo::Full {
                rtt_us,
                rtt_var_us,
                avail_buf_pkts,
                ..
            } => {
                self.rtt.on_peer_estimate(rtt_us, rtt_var_us);
                self.snd.peer_avail_buf = avail_buf_pkts;
                if ack.ack_no != 0 {
                    self.pending.ackacks.push_back(ack.ack_no);
                }
            }
        }
        self.arm_snd_drop();
    }

    pub(super) fn on_nak(&mut self, _now: Instant, list: &LossList<'_>) {
        self.stats.pkt_recv_nak += 1;
        let first_held = self.snd.buf.first_seq();
        let sent_end = self.snd.buf.sent_end();
        for (first, last) in list.iter() {
            if last < first {
                continue;
            }
            // Already acknowledged or dropped: tell the receiver to stop asking (libsrt
            // answers such NAKs with DROPREQ too).
            if first < first_held && self.pending.drop_requests.len() < MAX_PENDING_DROPREQ {
                let below = if last < first_held {
                    last
                } else {
                    first_held.prev()
                };
                self.pending.drop_requests.push_back(DropRequest {
                    msg_no: 0,
                    first,
                    last: below,
                });
            }
            let from = if first < first_held {
                first_held
            } else {
                first
            };
            let to = if last < sent_end {
                last
            } else {
                sent_end.prev()
            };
            if from <= to && from < sent_end && to >= first_held {
                self.stats.pkt_snd_loss += u64::from(from.span_to(to));
                self.snd.rexmit.insert(from, to);
            }
        }
    }

    pub(super) fn poll_data(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        if !self.snd.cc.can_send(now) {
            return None;
        }
        let min_interval = self.rtt.rtt().max(MIN_REXMIT_INTERVAL);
        let dest_socket_id = self.cfg.peer_socket_id;
        while let Some(seq) = self.snd.rexmit.pop_first() {
            let Some(slot) = self.snd.buf.sent_packet_mut(seq) else {
                continue;
            };
            // A NAK that left before our last retransmission arrived is stale: skip packets
            // retransmitted less than one RTT ago (libsrt's reduced retransmission), with a
            // floor the peer cannot talk down.
            if slot.retransmits > 0
                && slot
                    .last_sent
                    .is_some_and(|t| now.saturating_duration_since(t) < min_interval)
            {
                self.stats.pkt_retrans_suppressed += 1;
                continue;
            }
            // Its key was replaced in the receiver's slot by a newer one (two refreshes since it
            // was encrypted): resent, it would be decrypted with the wrong key and delivered as
            // garbage. The receiver's too-late drop skips it instead; count it as dropped.
            if let Some(crypto) = self.crypto.as_deref()
                && slot.key != EncryptionKey::None
                && !crypto.peer_may_hold(slot.key_generation)
            {
                self.stats.pkt_snd_drop += 1;
                continue;
            }
            // Over budget: drop this request and everything queued behind it rather than
            // defer them (a deferred queue would spin `poll_timeout` until tokens come).
            if !self.snd.budget.try_spend(now, slot.data.len()) {
                let capped = 1 + u64::from(self.snd.rexmit.len());
                self.snd.rexmit.clear();
                self.on_retrans_capped(now, capped);
                break;
            }
            slot.last_sent = Some(now);
            slot.retransmits += 1;
            // Stored encrypted on its first transmission: resent as it was.
            let (n, len) = emit_slot(seq, slot, true, dest_socket_id, out)?;
            self.stats.pkt_retrans += 1;
            self.stats.byte_retrans += len;
            self.on_data_sent(now, len);
            return Some(n);
        }
        let window = self
            .snd
            .peer_avail_buf
            .min(self.cfg.peer_flow_window)
            .max(1);
        if self.snd.in_flight() >= window {
            return None;
        }
        // An encrypting leg needs bytes of its own; a clear one sends the shared payload.
        let encrypting = self.crypto.is_some();
        let (seq, slot) = self.snd.buf.next_unsent(now, encrypting)?;
        // Encrypt in place, once (libsrt `packData`: "Encrypt if 1st time this packet is
        // sent"): retransmissions then cost no cipher work and carry the original KK even
        // after a key switch, which the receiver still holds for `preannounce` packets.
        if let Some(crypto) = self.crypto.as_deref_mut()
            && let SlotData::Owned(own) = &mut slot.data
        {
            slot.key = crypto.encrypt(seq, own);
            slot.key_generation = crypto.tx_generation();
        }
        let (n, len) = emit_slot(seq, slot, false, dest_socket_id, out)?;
        self.on_data_sent(now, len);
        Some(n)
    }

    fn on_data_sent(&mut self, now: Instant, len: u64) {
        self.stats.pkt_sent += 1;
        self.stats.byte_sent += len;
        self.snd.cc.on_packet_sent(now);
    }

    /// Counts NAKed packets dropped for want of budget, and says so now and then (a peer can
    /// trigger this at will, so at most once per [`CAP_WARNING_INTERVAL`] per connection).
    fn on_retrans_capped(&mut self, now: Instant, count: u64) {
        self.stats.pkt_retrans_capped += count;
        self.snd.capped_since_warning += count;
        let due = self
            .snd
            .cap_warned_at
            .is_none_or(|t| now.saturating_duration_since(t) >= CAP_WARNING_INTERVAL);
        if due {
            log::warn!(
                "connection {}: peer NAKs more than the retransmission budget ({} bytes/s): \
                 {} NAKed packets not retransmitted since the last warning",
                self.cfg.local_socket_id,
                self.snd.budget.rate(),
                self.snd.capped_since_warning,
            );
            self.snd.cap_warned_at = Some(now);
            self.snd.capped_since_warning = 0;
        }
    }

    /// draft §4.6 / libsrt `sndDropTooLate`: packets older than max(peer latency, 1 s) + 20 ms
    /// can no longer be played by the receiver; drop them and tell it with DROPREQ.
    pub(super) fn on_snd_drop_timer(&mut self, now: Instant) {
        if let Some(deadline) = now.checked_sub(self.snd_drop_threshold())
            && let Some(d) = self.snd.buf.drop_older_than(deadline)
        {
            {
                let count = u64::from(d.first.span_to(d.last));
                self.stats.pkt_snd_drop += count;
                self.stats.byte_snd_drop += d.bytes;
                self.snd.rexmit.remove_before(self.snd.buf.first_seq());
                if self.pending.drop_requests.len() < MAX_PENDING_DROPREQ {
                    self.pending.drop_requests.push_back(DropRequest {
                        msg_no: d.last_msg_no.value(),
                        first: d.first,
                        last: d.last,
                    });
                }
            }
        }
        self.arm_snd_drop();
    }

    pub(super) fn arm_snd_drop(&mut self) {
        match self.snd.buf.oldest_origin() {
            Some(origin) if self.cfg.too_late_drop => {
                let at = origin + self.snd_drop_threshold();
                self.timers.set(Timer::SndDrop, at);
            }
            _ => self.timers.stop(Timer::SndDrop),
        }
    }

    fn snd_drop_threshold(&self) -> Duration {
        self.cfg.send_latency.max(SND_DROP_MIN) + SND_DROP_SLACK
    }
}

/// Writes the data packet for a send-buffer slot into `out`: (datagram length, payload length).
fn emit_slot(
    seq: SeqNo,
    slot: &SendSlot,
    retransmitted: bool,
    dest_socket_id: u32,
    out: &mut [u8],
) -> Option<(usize, u64)> {
    let pkt = DataPacket {
        seq,
        position: PacketPosition::Only,
        in_order: false,
        key: slot.key,
        retransmitted,
        msg_no: slot.msg_no,
        timestamp: slot.timestamp,
        dest_socket_id,
        payload: slot.data.as_slice(),
    };
    let n = emit_data(&pkt, out)?;
    Some((n, pkt.payload.len() as u64))
}
