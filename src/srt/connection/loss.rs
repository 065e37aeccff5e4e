//! An ordered set of sequence numbers kept as disjoint inclusive ranges: the receiver's loss
//! list (what to NAK) and the sender's retransmission queue (what was NAKed).
//!
//! Ranges are mostly appended at the tail and removed at the head, so a `VecDeque` of ranges
//! stays short and cheap; sequence numbers are compared by wrapping offset, never as keys.

use std::collections::VecDeque;

use crate::srt::seq::SeqNo;

#[derive(Debug, Default, Clone)]
pub struct LossRanges {
    ranges: VecDeque<(SeqNo, SeqNo)>,
    len: u32,
}

impl LossRanges {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of sequence numbers held.
    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn first(&self) -> Option<SeqNo> {
        self.ranges.front().map(|r| r.0)
    }

    pub fn ranges(&self) -> impl Iterator<Item = (SeqNo, SeqNo)> + '_ {
        self.ranges.iter().copied()
    }

    pub fn contains(&self, seq: SeqNo) -> bool {
        let i = self.ranges.partition_point(|&(_, last)| last < seq);
        self.ranges
            .get(i)
            .is_some_and(|&(first, last)| first <= seq && seq <= last)
    }

    /// Inserts `first..=last`, merging with overlapping or adjacent ranges. Returns how many
    /// sequence numbers were new.
    pub fn insert(&mut self, first: SeqNo, last: SeqNo) -> u32 {
        if last < first {
            return 0;
        }
        // Fast path: strictly after the tail (the receiver's common case).
        if let Some(tail) = self.ranges.back_mut()
            && first.offset_from(tail.1) == 1
        {
            let added = tail.1.next().span_to(last);
            tail.1 = last;
            self.len += added;
            return added;
        }
        if self.ranges.back().is_none_or(|&(_, l)| first > l.next()) {
            let added = first.span_to(last);
            self.ranges.push_back((first, last));
            self.len += added;
            return added;
        }
        // General case: find every range touching [first-1, last+1] and merge them.
        let lo = self.ranges.partition_point(|&(_, l)| l.next() < first);
        let mut hi = lo;
        let (mut new_first, mut new_last) = (first, last);
        let mut covered = 0;
        while let Some(&(f, l)) = self.ranges.get(hi) {
            if f > last.next() {
                break;
            }
            covered += f.span_to(l);
            if f < new_first {
                new_first = f;
            }
            if l > new_last {
                new_last = l;
            }
            hi += 1;
        }
        self.ranges.drain(lo..hi);
        self.ranges.insert(lo, (new_first, new_last));
        let total = new_first.span_to(new_last);
        self.len = self.len - covered + total;
        total - covered
    }

    /// Removes one sequence number; returns whether it was present.
    pub fn remove(&mut self, seq: SeqNo) -> bool {
        let i = self.ranges.partition_point(|&(_, last)| last < seq);
        let Some(&(first, last)) = self.ranges.get(i) else {
            return false;
        };
        if seq < first {
            return false;
        }
        match (first == seq, last == seq) {
            (true, true) => {
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i].0 = seq.next(),
            (false, true) => self.ranges[i].1 = seq.prev(),
            (false, false) => {
                self.ranges[i].1 = seq.prev();
                self.ranges.insert(i + 1, (seq.next(), last));
            }
        }
        self.len -= 1;
        true
    }

    /// Removes `first..=last`; returns how many were present.
    pub fn remove_range(&mut self, first: SeqNo, last: SeqNo) -> u32 {
        if last < first {
            return 0;
        }
        let mut removed = 0;
        let mut i = self.ranges.partition_point(|&(_, l)| l < first);
        while let Some(&(f, l)) = self.ranges.get(i) {
            if f > last {
                break;
            }
            let cut_first = if f < first { first } else { f };
            let cut_last = if l > last { last } else { l };
            removed += cut_first.span_to(cut_last);
            match (f < first, l > last) {
                (false, false) => {
                    self.ranges.remove(i);
                }
                (true, false) => {
                    self.ranges[i].1 = first.prev();
                    i += 1;
                }
                (false, true) => {
                    self.ranges[i].0 = last.next();
                    break;
                }
                (true, true) => {
                    self.ranges[i].1 = first.prev();
                    self.ranges.insert(i + 1, (last.next(), l));
                    break;
                }
            }
        }
        self.len -= removed;
        removed
    }

    /// Removes everything before `seq`; returns how many were removed.
    pub fn remove_before(&mut self, seq: SeqNo) -> u32 {
        let mut removed = 0;
        while let Some(&(first, last)) = self.ranges.front() {
            if last < seq {
                removed += first.span_to(last);
                self.ranges.pop_front();
            } else {
                if first < seq {
                    removed += first.span_to(seq.prev());
                    self.ranges[0].0 = seq;
                }
                break;
            }
        }
        self.len -= removed;
        removed
    }

    /// Removes and returns the first sequence number.
    pub fn pop_first(&mut self) -> Option<SeqNo> {
        let first = self.first()?;
        self.remove(first);
        Some(first)
    }

    pub fn clear(&mut self) {
        self.ranges.clear();
        self.len = 0;
    }

    /// Frees range storage a burst of losses left behind (all of it when empty); called
    /// periodically, not per packet.
    pub fn shrink(&mut self) {
        if self.ranges.is_empty() {
            self.ranges = VecDeque::new();
        } else if self.ranges.capacity() > 4 * self.ranges.len().max(16) {
            self.ranges.shrink_to(2 * self.ranges.len().max(16));
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * std::mem::size_of::<(SeqNo, SeqNo)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(n: u32) -> SeqNo {
        SeqNo::new(n)
    }

    fn collect(l: &LossRanges) -> Vec<(u32, u32)> {
        l.ranges().map(|(a, b)| (a.value(), b.value())).collect()
    }

    #[test]
    fn insert_merges_and_counts() {
        let mut l = LossRanges::new();
        assert_eq!(l.insert(s(10), s(12)), 3);
        assert_eq!(l.insert(s(13), s(13)), 1, "adjacent extends the tail");
        assert_eq!(l.insert(s(20), s(25)), 6);
        assert_eq!(l.insert(s(5), s(6)), 2);
        assert_eq!(collect(&l), vec![(5, 6), (10, 13), (20, 25)]);
        assert_eq!(l.insert(s(7), s(21)), 9, "fills 7..=9 and 14..=19");
        assert_eq!(collect(&l), vec![(5, 25)]);
        assert_eq!(l.len(), 21);
        assert_eq!(l.insert(s(8), s(9)), 0);
    }

    #[test]
    fn remove_splits() {
        let mut l = LossRanges::new();
        l.insert(s(1), s(5));
        assert!(l.remove(s(3)));
        assert!(!l.remove(s(3)));
        assert_eq!(collect(&l), vec![(1, 2), (4, 5)]);
        assert!(l.remove(s(1)) && l.remove(s(5)));
        assert_eq!(collect(&l), vec![(2, 2), (4, 4)]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.remove_before(s(4)), 1);
        assert_eq!(l.pop_first(), Some(s(4)));
        assert!(l.is_empty());
    }

    #[test]
    fn works_across_wrap() {
        let mut l = LossRanges::new();
        l.insert(s(SeqNo::MAX - 1), s(1));
        assert_eq!(l.len(), 4);
        assert!(l.contains(s(0)) && l.contains(s(SeqNo::MAX)));
        assert_eq!(l.remove_before(s(0)), 2);
        assert_eq!(collect(&l), vec![(0, 1)]);
    }

    proptest! {
        /// Against a plain model: a sorted set of offsets from a base near the wrap point.
        #[test]
        fn matches_model(ops in proptest::collection::vec((0u8..4, 0u32..200, 0u32..8), 1..60)) {
            let base = SeqNo::new(SeqNo::MAX - 100);
            let mut l = LossRanges::new();
            let mut model = std::collections::BTreeSet::new();
            for (op, off, width) in ops {
                match op {
                    0 => {
                        let added = l.insert(base.add(off as i32), base.add((off + width) as i32));
                        let before = model.len();
                        model.extend(off..=off + width);
                        prop_assert_eq!(added as usize, model.len() - before);
                    }
                    1 => prop_assert_eq!(l.remove(base.add(off as i32)), model.remove(&off)),
                    2 => {
                        let removed = l.remove_range(base.add(off as i32), base.add((off + width) as i32));
                        let before = model.len();
                        model.retain(|&x| x < off || x > off + width);
                        prop_assert_eq!(removed as usize, before - model.len());
                    }
                    _ => {
                        let removed = l.remove_before(base.add(off as i32));
                        let keep = model.split_off(&off);
                        prop_assert_eq!(removed as usize, model.len());
                        model = keep;
                    }
                }
                prop_assert_eq!(l.len() as usize, model.len());
                let flat: Vec<u32> = l.ranges()
                    .flat_map(|(a, b)| (a.offset_from(base)..=b.offset_from(base)).map(|x| x as u32))
                    .collect();
                prop_assert_eq!(flat, model.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
