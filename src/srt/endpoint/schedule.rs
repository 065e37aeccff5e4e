//! When each of an endpoint's connections (and pending callers) next needs attention, and
//! which of them may have something to send: the endpoint's answer to "who is due?" without
//! asking every connection.
//!
//! Owns: a min-heap of `(deadline, id)` with lazy invalidation, the registered deadline per id,
//! a FIFO of ids that may have a datagram to send, and ids already taken off the heap as due.
//! Must not: know what a connection is; it only holds ids and instants handed to it.
//!
//! Why a heap and not a timer wheel: deadlines here are exact `Instant`s (pacing gaps of a few
//! microseconds next to 5 s idle timeouts), and the endpoint must hand the driver the exact
//! earliest one so that virtual-time tests see the same packets at the same instants as
//! before. A wheel would round to its slot width or need several levels; a binary heap keeps
//! exact times at O(log n) per change, which at 10 000 connections is ~14 comparisons.
//! Lazy invalidation (an entry is live only while it matches the registered deadline) avoids a
//! decrease-key: moving a deadline pushes one entry, and the stale one is discarded when it
//! reaches the top. Dead entries are bounded by rebuilding the heap once they outnumber the
//! live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::idhash::IdMap;
use std::time::Instant;

/// Live entries plus this many stale ones before the heap is rebuilt.
const STALE_SLACK: usize = 64;

#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    /// The deadline this id is registered under: on the heap, or already in `due`.
    deadline: Option<Instant>,
    /// In `due` (taken off the heap, not yet visited).
    due: bool,
    /// In `ready`.
    ready: bool,
    /// In `dirty`.
    dirty: bool,
}

#[derive(Debug, Default)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    slots: IdMap<u32, Slot>,
    ready: VecDeque<u32>,
    /// Ids taken off the heap as due (by `promote_due` or `take_due`) and not yet visited.
    due: Vec<u32>,
    /// The earliest deadline among `due` (an upper bound once some left it), and how many
    /// ids in `due` are still due.
    due_at: Option<Instant>,
    due_live: usize,
    /// Ids changed from outside the endpoint's own calls (`Endpoint::connection_mut`, or a
    /// datagram written): their deadline and close are read again before the next answer.
    dirty: Vec<u32>,
}

impl Schedule {
    /// Registers `id`'s next deadline (`None`: nothing scheduled). O(log n) when it changes,
    /// O(1) when it does not.
    pub fn set_deadline(&mut self, id: u32, deadline: Option<Instant>) {
        let slot = self.slots.entry(id).or_default();
        if slot.deadline == deadline {
            return;
        }
        slot.deadline = deadline;
        if slot.due {
            // Settled before its visit (it sent what it had): back on the heap, due again
            // only if the new deadline has come.
            self.undue(id);
        }
        if let Some(t) = deadline {
            self.heap.push(Reverse((t, id)));
        }
        self.discard_stale_top();
        if self.heap.len() > 2 * self.slots.len() + STALE_SLACK {
            self.rebuild();
        }
    }

    /// Forgets `id` (its connection is gone). Its heap entries become stale; a queued ready
    /// entry is skipped when it comes up.
    pub fn remove(&mut self, id: u32) {
        self.undue(id);
        self.slots.remove(&id);
        self.discard_stale_top();
    }

    /// The earliest registered deadline, O(1).
    pub fn next_deadline(&self) -> Option<Instant> {
        let top = self.heap.peek().map(|Reverse((t, _))| *t);
        match (top, self.due_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Moves every id whose deadline is at or before `now` to the due list and the ready
    /// queue: at its deadline a connection may pace out data or a caller resend, before the
    /// driver's next `handle_timeout` visits it.
    pub fn promote_due(&mut self, now: Instant) {
        while let Some(id) = self.pop_due(now) {
            self.push_due(id);
            self.mark_ready(id);
        }
    }

    /// Appends to `out` every id due at `now` (each once) and clears the due list. The caller
    /// visits them and registers their new deadlines afterwards.
    pub fn take_due(&mut self, now: Instant, out: &mut Vec<u32>) {
        while let Some(id) = self.pop_due(now) {
            self.push_due(id);
        }
        for id in self.due.drain(..) {
            if let Some(slot) = self.slots.get_mut(&id)
                && slot.due
            {
                slot.due = false;
                slot.deadline = None;
                out.push(id);
            }
        }
        self.due_at = None;
        self.due_live = 0;
    }

    /// Queues `id` to be asked for a datagram (once, however often it is marked).
    pub fn mark_ready(&mut self, id: u32) {
        let slot = self.slots.entry(id).or_default();
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(id);
        }
    }

    /// The id to ask for a datagram next; it stays at the front until `pop_ready`, so one
    /// connection's datagrams go out back to back (a GSO run for the shard).
    pub fn front_ready(&mut self) -> Option<u32> {
        loop {
            let &id = self.ready.front()?;
            if self.slots.get(&id).is_some_and(|s| s.ready) {
                return Some(id);
            }
            self.ready.pop_front(); // removed since it was queued
        }
    }

    /// The front id had nothing more to send.
    pub fn pop_ready(&mut self) {
        if let Some(id) = self.ready.pop_front()
            && let Some(slot) = self.slots.get_mut(&id)
        {
            slot.ready = false;
        }
    }

    /// Notes that `id`'s deadline may have changed without the endpoint seeing it.
    pub fn mark_dirty(&mut self, id: u32) {
        let slot = self.slots.entry(id).or_default();
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Moves the dirty ids to `out` (each once).
    pub fn take_dirty(&mut self, out: &mut Vec<u32>) {
        for id in self.dirty.drain(..) {
            if let Some(slot) = self.slots.get_mut(&id)
                && std::mem::take(&mut slot.dirty)
            {
                out.push(id);
            }
        }
    }

    /// Clears `id`'s dirty mark; whether it was set.
    pub fn take_dirty_one(&mut self, id: u32) -> bool {
        self.slots
            .get_mut(&id)
            .is_some_and(|s| std::mem::take(&mut s.dirty))
    }

    /// Heap entries, live and stale (for tests and the rebuild bound).
    #[cfg(test)]
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn pop_due(&mut self, now: Instant) -> Option<u32> {
        loop {
            let &Reverse((t, id)) = self.heap.peek()?;
            if t > now {
                return None;
            }
            self.heap.pop();
            if self.is_live(t, id) {
                self.discard_stale_top();
                return Some(id);
            }
        }
    }

    fn push_due(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if slot.due {
            return;
        }
        slot.due = true;
        self.due_live += 1;
        self.due.push(id);
        if let Some(t) = slot.deadline {
            self.due_at = Some(self.due_at.map_or(t, |d| d.min(t)));
        }
    }

    fn undue(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        if !slot.due {
            return;
        }
        slot.due = false;
        self.due_live -= 1;
        if self.due_live == 0 {
            self.due.clear();
            self.due_at = None;
        }
    }

    fn is_live(&self, t: Instant, id: u32) -> bool {
        self.slots
            .get(&id)
            .is_some_and(|s| !s.due && s.deadline == Some(t))
    }

    /// Keeps the invariant that the top of the heap is live, so `next_deadline` is a peek.
    fn discard_stale_top(&mut self) {
        while let Some(&Reverse((t, id))) = self.heap.peek() {
            if self.is_live(t, id) {
                return;
            }
            self.heap.pop();
        }
    }

    fn rebuild(&mut self) {
        self.heap = self
            .slots
            .iter()
            .filter(|(_, s)| !s.due)
            .filter_map(|(&id, s)| s.deadline.map(|t| Reverse((t, id))))
            .collect();
        if self.slots.capacity() > 4 * self.slots.len().max(64) {
            self.slots.shrink_to(2 * self.slots.len().max(64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);

    fn due(s: &mut Schedule, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        s.take_due(now, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn deadline_moved_earlier_fires_at_the_new_time_once() {
        let t0 = crate::srt::sim::t0();
        let mut s = Schedule::default();
        s.set_deadline(1, Some(t0 + 10 * MS));
        s.set_deadline(1, Some(t0 + 3 * MS));
        assert_eq!(s.next_deadline(), Some(t0 + 3 * MS));
        assert_eq!(due(&mut s, t0 + 2 * MS), Vec::<u32>::new());
        assert_eq!(due(&mut s, t0 + 3 * MS), vec![1]);
        // The stale 10 ms entry must not fire again.
        assert_eq!(s.next_deadline(), None);
        assert_eq!(due(&mut s, t0 + 20 * MS), Vec::<u32>::new());
    }

    #[test]
    fn deadline_moved_later_does_not_fire_early() {
        let t0 = crate::srt::sim::t0();
        let mut s = Schedule::default();
        s.set_deadline(1, Some(t0 + 3 * MS));
        s.set_deadline(2, Some(t0 + 5 * MS));
        s.set_deadline(1, Some(t0 + 10 * MS));
        // The stale 3 ms top was discarded: the peek is already the live 5 ms.
        assert_eq!(s.next_deadline(), Some(t0 + 5 * MS));
        assert_eq!(due(&mut s, t0 + 5 * MS), vec![2]);
        assert_eq!(s.next_deadline(), Some(t0 + 10 * MS));
        assert_eq!(due(&mut s, t0 + 10 * MS), vec![1]);
    }

    #[test]
    fn removed_ids_never_come_due_or_ready() {
        let t0 = crate::srt::sim::t0();
        let mut s = Schedule::default();
        s.set_deadline(1, Some(t0 + MS));
        s.mark_ready(1);
        s.set_deadline(2, Some(t0 + 2 * MS));
        s.remove(1);
        assert_eq!(s.next_deadline(), Some(t0 + 2 * MS));
        assert_eq!(s.front_ready(), None);
        assert_eq!(due(&mut s, t0 + 5 * MS), vec![2]);
    }

    #[test]
    fn promoted_ids_are_ready_and_visited_once_by_take_due() {
        let t0 = crate::srt::sim::t0();
        let mut s = Schedule::default();
        s.set_deadline(7, Some(t0 + MS));
        s.promote_due(t0 + MS);
        assert_eq!(s.front_ready(), Some(7));
        // Still reported as due until visited.
        assert_eq!(s.next_deadline(), Some(t0 + MS));
        // The same deadline registered while due does not create a second visit.
        s.set_deadline(7, Some(t0 + MS));
        assert_eq!(due(&mut s, t0 + MS), vec![7]);
        assert_eq!(s.next_deadline(), None);
        // A later one takes it off the due list and back to the heap.
        s.set_deadline(7, Some(t0 + MS));
        s.promote_due(t0 + MS);
        s.set_deadline(7, Some(t0 + 5 * MS));
        assert_eq!(s.next_deadline(), Some(t0 + 5 * MS));
        assert_eq!(due(&mut s, t0 + 4 * MS), Vec::<u32>::new());
        assert_eq!(due(&mut s, t0 + 5 * MS), vec![7]);
        assert_eq!(s.next_deadline(), None);
        s.pop_ready();
        assert_eq!(s.front_ready(), None);
    }

    #[test]
    fn ready_queue_is_fifo_without_duplicates() {
        let mut s = Schedule::default();
        for id in [3, 1, 3, 2, 1] {
            s.mark_ready(id);
        }
        let mut order = Vec::new();
        while let Some(id) = s.front_ready() {
            order.push(id);
            s.pop_ready();
        }
        assert_eq!(order, vec![3, 1, 2]);
    }

    #[test]
    fn stale_entries_stay_bounded() {
        let t0 = crate::srt::sim::t0();
        let mut s = Schedule::default();
        for id in 0..100 {
            s.set_deadline(id, Some(t0 + 1000 * MS));
        }
        // Every connection's deadline moves later 100 times (an ACK timer re-armed).
        for k in 1..=100u32 {
            for id in 0..100 {
                s.set_deadline(id, Some(t0 + (1000 + k) * MS));
            }
        }
        assert!(
            s.heap_len() <= 2 * 100 + STALE_SLACK + 1,
            "{}",
            s.heap_len()
        );
        assert_eq!(s.next_deadline(), Some(t0 + 1100 * MS));
        assert_eq!(due(&mut s, t0 + 1100 * MS).len(), 100);
    }
}
