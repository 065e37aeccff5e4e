//! Wrapping protocol numbers: packet sequence numbers (31 bit), message numbers (26 bit) and
//! timestamps (32 bit, microseconds).
//!
//! They wrap, so they are `PartialOrd` by signed distance only, never `Ord` and never map keys
//! (draft-sharabayko-srt §3.1; libsrt `srtcore/common.h` `CSeqNo`). Index rings by offset.

use std::cmp::Ordering;
use std::fmt;

/// A 31-bit packet sequence number.
///
/// Two numbers compare by their shortest wrapping distance, which is meaningful while they are
/// less than 2^30 apart (libsrt's `CSeqNo::seqcmp` uses the same threshold).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNo(u32);

impl SeqNo {
    pub const MAX: u32 = 0x7FFF_FFFF;
    const MODULUS: i64 = 1 << 31;
    const HALF: i64 = 1 << 30;

    /// Masks `raw` to 31 bits.
    pub const fn new(raw: u32) -> Self {
        SeqNo(raw & Self::MAX)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    pub const fn next(self) -> Self {
        SeqNo(self.0.wrapping_add(1) & Self::MAX)
    }

    pub const fn prev(self) -> Self {
        SeqNo(self.0.wrapping_sub(1) & Self::MAX)
    }

    /// `self + n`, wrapping; `n` may be negative.
    pub const fn add(self, n: i32) -> Self {
        SeqNo((self.0 as i64 + n as i64).rem_euclid(Self::MODULUS) as u32)
    }

    /// Signed distance `self - other` in `(-2^30, 2^30]`: positive when `self` is after `other`.
    pub const fn offset_from(self, other: SeqNo) -> i32 {
        let mut d = (self.0 as i64 - other.0 as i64).rem_euclid(Self::MODULUS);
        if d > Self::HALF {
            d -= Self::MODULUS;
        }
        d as i32
    }

    /// Number of sequence numbers in the inclusive range `self..=last` (1 when equal); 0 when
    /// `last` is before `self`.
    pub const fn span_to(self, last: SeqNo) -> u32 {
        let d = last.offset_from(self);
        if d < 0 { 0 } else { d as u32 + 1 }
    }
}

impl PartialOrd for SeqNo {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.offset_from(*other).cmp(&0))
    }
}

impl fmt::Debug for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl fmt::Display for SeqNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A 26-bit message number (draft §3.1, data packet word 1). Live mode sends one packet per
/// message; 0 is never used, so the successor of `MAX` is 1 (libsrt `MsgNo::incmsg`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct MsgNo(u32);

impl MsgNo {
    pub const MAX: u32 = 0x03FF_FFFF;

    pub const fn new(raw: u32) -> Self {
        MsgNo(raw & Self::MAX)
    }

    pub const fn value(self) -> u32 {
        self.0
    }

    pub const fn next(self) -> Self {
        let n = (self.0 + 1) & Self::MAX;
        MsgNo(if n == 0 { 1 } else { n })
    }
}

/// A 32-bit packet timestamp in microseconds since the connection's start time; wraps about
/// every 71.6 minutes (draft §4.5.1.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Timestamp(u32);

impl Timestamp {
    pub const fn from_micros(us: u32) -> Self {
        Timestamp(us)
    }

    pub const fn as_micros(self) -> u32 {
        self.0
    }

    /// Signed wrapping distance `self - other` in microseconds.
    pub const fn offset_from(self, other: Timestamp) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    pub const fn add_micros(self, us: u32) -> Self {
        Timestamp(self.0.wrapping_add(us))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.offset_from(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seq_wraps_at_31_bits() {
        let max = SeqNo::new(SeqNo::MAX);
        assert_eq!(max.next(), SeqNo::new(0));
        assert_eq!(SeqNo::new(0).prev(), max);
        assert_eq!(SeqNo::new(0).offset_from(max), 1);
        assert_eq!(max.offset_from(SeqNo::new(0)), -1);
        assert!(SeqNo::new(3) > max);
        assert_eq!(max.add(5), SeqNo::new(4));
        assert_eq!(SeqNo::new(4).add(-5), max);
        assert_eq!(max.span_to(SeqNo::new(1)), 3);
        assert_eq!(SeqNo::new(1).span_to(max), 0);
        assert_eq!(
            SeqNo::new(0x8000_0001),
            SeqNo::new(1),
            "top bit is masked off"
        );
    }

    #[test]
    fn msgno_skips_zero() {
        assert_eq!(MsgNo::new(MsgNo::MAX).next(), MsgNo::new(1));
        assert_eq!(MsgNo::new(7).next(), MsgNo::new(8));
    }

    #[test]
    fn timestamp_wraps() {
        let t = Timestamp::from_micros(u32::MAX - 10);
        let u = t.add_micros(20);
        assert_eq!(u.as_micros(), 9);
        assert_eq!(u.offset_from(t), 20);
        assert!(u > t);
    }

    proptest! {
        #[test]
        fn seq_add_then_offset_is_identity(a in 0u32..=SeqNo::MAX, n in -(1i32 << 30) + 1..(1i32 << 30)) {
            let s = SeqNo::new(a);
            prop_assert_eq!(s.add(n).offset_from(s), n);
            prop_assert_eq!(s.add(n).add(-n), s);
        }
    }
}
