//! Loss-list coding for NAK (draft-sharabayko-srt Appendix A).
//!
//! A single lost packet is one 31-bit word with the top bit clear; a range is its first
//! sequence number with the top bit set followed by its last with the top bit clear.

use super::{EmitError, ParseError};
use crate::srt::seq::SeqNo;

/// A validated loss list borrowing its encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossList<'a> {
    bytes: &'a [u8],
}

impl<'a> LossList<'a> {
    /// Validates: non-empty, a whole number of words, every range start followed by a plain
    /// word, ranges not reversed.
    pub fn parse(bytes: &'a [u8]) -> Result<LossList<'a>, ParseError> {
        todo!()
    }

    /// Inclusive `(first, last)` ranges in wire order (`first == last` for single losses).
    pub fn iter(&self) -> impl Iterator<Item = (SeqNo, SeqNo)> + 'a {
        // placeholder so the signature type-checks; replaced by the implementation
        std::iter::empty()
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Encodes ranges into a caller buffer, stopping at the first range that does not fit, so a
/// NAK can be bounded by the MTU.
pub struct LossListBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> LossListBuilder<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        LossListBuilder { buf, len: 0 }
    }

    /// Appends an inclusive range; `Err` (and nothing written) when it does not fit.
    pub fn push(&mut self, first: SeqNo, last: SeqNo) -> Result<(), EmitError> {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded list (valid for `LossList::parse`).
    pub fn finish(self) -> LossList<'b> {
        todo!()
    }
}
