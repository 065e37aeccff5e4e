//! The send buffer: packets from the oldest unacknowledged to the newest queued, each with its
//! sequence number implied by position (draft-sharabayko-srt §4.5.1, §4.6, §4.8).
//!
//! Owns payload storage and recycles it: acknowledged or dropped packets return their `Vec`
//! to a pool, so steady-state sending does not allocate. Must not: decide when to send
//! (pacing is `cc`'s job) or read the clock.

use std::collections::VecDeque;
use std::time::Instant;

use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

#[derive(Debug)]
pub struct SendSlot {
    pub msg_no: MsgNo,
    pub timestamp: Timestamp,
    /// When the application handed the packet over (its age decides sender drop).
    pub origin: Instant,
    pub data: Vec<u8>,
    /// Last time it went on the wire, original or retransmission.
    pub last_sent: Option<Instant>,
    pub retransmits: u32,
}

#[derive(Debug)]
pub struct SendBuffer {
    slots: VecDeque<SendSlot>,
    /// Sequence number of `slots[0]`: the oldest unacknowledged packet.
    first: SeqNo,
    /// Index of the first packet never sent.
    unsent: usize,
    capacity: usize,
    pool: Vec<Vec<u8>>,
}

/// A range of packets removed by sender drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub first: SeqNo,
    pub last: SeqNo,
    pub last_msg_no: MsgNo,
    pub bytes: u64,
    /// How many of them had never been sent.
    pub unsent: u32,
}

impl SendBuffer {
    pub fn new(isn: SeqNo, capacity: usize) -> Self {
        SendBuffer {
            slots: VecDeque::with_capacity(capacity.min(1024)),
            first: isn,
            unsent: 0,
            capacity: capacity.max(1),
            pool: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.capacity
    }

    /// Oldest unacknowledged sequence number.
    pub fn first_seq(&self) -> SeqNo {
        self.first
    }

    /// Sequence number the next new packet gets.
    pub fn next_seq(&self) -> SeqNo {
        self.first.add(self.slots.len() as i32)
    }

    /// Sequence number of the first packet never sent.
    pub fn next_unsent_seq(&self) -> SeqNo {
        self.first.add(self.unsent as i32)
    }

    pub fn has_unsent(&self) -> bool {
        self.unsent < self.slots.len()
    }

    pub fn oldest_origin(&self) -> Option<Instant> {
        self.slots.front().map(|s| s.origin)
    }

    /// Timestamp span held, for the `msSndBuf` statistic.
    pub fn span_us(&self) -> u32 {
        match (self.slots.front(), self.slots.back()) {
            (Some(f), Some(b)) => b.timestamp.offset_from(f.timestamp).max(0) as u32,
            _ => 0,
        }
    }

    /// Queues a packet; returns its sequence number, or `None` when full.
    pub fn push(
        &mut self,
        msg_no: MsgNo,
        timestamp: Timestamp,
        origin: Instant,
        payload: &[u8],
    ) -> Option<SeqNo> {
        if self.is_full() {
            return None;
        }
        let mut data = self.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(payload);
        let seq = self.next_seq();
        self.slots.push_back(SendSlot {
            msg_no,
            timestamp,
            origin,
            data,
            last_sent: None,
            retransmits: 0,
        });
        Some(seq)
    }

    /// Takes the next never-sent packet, marking it sent at `now`.
    pub fn next_unsent(&mut self, now: Instant) -> Option<(SeqNo, &SendSlot)> {
        let idx = self.unsent;
        let seq = self.first.add(idx as i32);
        let slot = self.slots.get_mut(idx)?;
        slot.last_sent = Some(now);
        self.unsent += 1;
        Some((seq, &*slot))
    }

    /// A packet already sent, for retransmission; `None` when acknowledged, dropped or unsent.
    pub fn sent_packet_mut(&mut self, seq: SeqNo) -> Option<&mut SendSlot> {
        let off = seq.offset_from(self.first);
        if off < 0 || off as usize >= self.unsent {
            return None;
        }
        self.slots.get_mut(off as usize)
    }

    /// Releases everything before `ack` (the receiver's next expected). Returns how many were
    /// released; an ACK beyond what was sent is ignored (returns `None`).
    pub fn acknowledge(&mut self, ack: SeqNo) -> Option<usize> {
        let off = ack.offset_from(self.first);
        if off < 0 || off as usize > self.unsent {
            return None;
        }
        Some(self.release_front(off as usize))
    }

    /// Sender too-late drop (draft §4.6): removes packets whose origin is at or before
    /// `deadline`.
    pub fn drop_older_than(&mut self, deadline: Instant) -> Option<Dropped> {
        let n = self
            .slots
            .iter()
            .take_while(|s| s.origin <= deadline)
            .count();
        if n == 0 {
            return None;
        }
        let first = self.first;
        let last_msg_no = self.slots[n - 1].msg_no;
        let bytes = self.slots.iter().take(n).map(|s| s.data.len() as u64).sum();
        let unsent = n.saturating_sub(self.unsent) as u32;
        self.release_front(n);
        Some(Dropped {
            first,
            last: self.first.prev(),
            last_msg_no,
            bytes,
            unsent,
        })
    }

    fn release_front(&mut self, n: usize) -> usize {
        for slot in self.slots.drain(..n) {
            if self.pool.len() < 64 {
                self.pool.push(slot.data);
            }
        }
        self.first = self.first.add(n as i32);
        self.unsent -= n.min(self.unsent);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn push_send_ack_drop() {
        let t0 = crate::srt::sim::t0();
        let mut b = SendBuffer::new(SeqNo::new(SeqNo::MAX), 3);
        let ts = Timestamp::from_micros(0);
        assert_eq!(
            b.push(MsgNo::new(1), ts, t0, b"a"),
            Some(SeqNo::new(SeqNo::MAX))
        );
        assert_eq!(
            b.push(MsgNo::new(2), ts, t0 + Duration::from_millis(5), b"bb"),
            Some(SeqNo::new(0))
        );
        b.push(MsgNo::new(3), ts, t0 + Duration::from_millis(10), b"ccc");
        assert!(b.is_full());
        assert!(b.push(MsgNo::new(4), ts, t0, b"d").is_none());
        let (seq, slot) = b.next_unsent(t0).expect("queued");
        assert_eq!(
            (seq, slot.data.as_slice()),
            (SeqNo::new(SeqNo::MAX), &b"a"[..])
        );
        assert!(b.sent_packet_mut(SeqNo::new(0)).is_none(), "not sent yet");
        b.next_unsent(t0);
        assert_eq!(
            b.acknowledge(SeqNo::new(2)),
            None,
            "ack beyond sent is bogus"
        );
        assert_eq!(b.acknowledge(SeqNo::new(0)), Some(1));
        assert_eq!(b.first_seq(), SeqNo::new(0));
        let d = b
            .drop_older_than(t0 + Duration::from_millis(10))
            .expect("two old packets");
        assert_eq!(
            (d.first, d.last, d.bytes, d.unsent),
            (SeqNo::new(0), SeqNo::new(1), 5, 1)
        );
        assert!(b.is_empty() && !b.has_unsent());
        assert_eq!(b.next_seq(), SeqNo::new(2));
    }
}
