//! Loss-list coding for NAK (draft-sharabayko-srt Appendix A).
//!
//! A single lost packet is one 31-bit word with the top bit clear; a range is its first
//! sequence number with the top bit set followed by its last with the top bit clear.

use super::wire::{self, TOP_BIT};
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
    ///
    /// A range whose first and last are equal is accepted (libsrt never sends one, but it is
    /// unambiguous); it iterates as a single loss.
    pub fn parse(bytes: &'a [u8]) -> Result<LossList<'a>, ParseError> {
        if bytes.is_empty() {
            return Err(ParseError::Truncated);
        }
        if !bytes.len().is_multiple_of(4) {
            return Err(ParseError::Malformed("loss list is not whole 32-bit words"));
        }
        let mut at = 0;
        while at < bytes.len() {
            let word = wire::be_u32(bytes, at)?;
            at += 4;
            if word & TOP_BIT == 0 {
                continue;
            }
            let last = wire::be_u32(bytes, at)
                .map_err(|_| ParseError::Malformed("loss range start without an end"))?;
            at += 4;
            if last & TOP_BIT != 0 {
                return Err(ParseError::Malformed(
                    "loss range end has the range bit set",
                ));
            }
            if SeqNo::new(last).offset_from(SeqNo::new(word)) < 0 {
                return Err(ParseError::Malformed("reversed loss range"));
            }
        }
        Ok(LossList { bytes })
    }

    /// Inclusive `(first, last)` ranges in wire order (`first == last` for single losses).
    pub fn iter(&self) -> impl Iterator<Item = (SeqNo, SeqNo)> + 'a {
        LossIter { bytes: self.bytes }
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Walks validated loss-list words. It cannot meet a malformed list, but stops instead of
/// panicking if it ever did.
struct LossIter<'a> {
    bytes: &'a [u8],
}

impl Iterator for LossIter<'_> {
    type Item = (SeqNo, SeqNo);

    fn next(&mut self) -> Option<(SeqNo, SeqNo)> {
        let first = wire::be_u32(self.bytes, 0).ok()?;
        if first & TOP_BIT == 0 {
            self.bytes = self.bytes.get(4..)?;
            return Some((SeqNo::new(first), SeqNo::new(first)));
        }
        let last = wire::be_u32(self.bytes, 4).ok()?;
        self.bytes = self.bytes.get(8..)?;
        Some((SeqNo::new(first), SeqNo::new(last)))
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
    ///
    /// `first == last` is written as one plain word, anything longer as a range pair
    /// (Appendix A). A reversed range is `FieldOverflow`.
    pub fn push(&mut self, first: SeqNo, last: SeqNo) -> Result<(), EmitError> {
        let words = match last.offset_from(first) {
            0 => 1,
            d if d > 0 => 2,
            _ => return Err(EmitError::FieldOverflow("reversed loss range")),
        };
        let end = self.len + 4 * words;
        wire::ensure_room(self.buf, end)?;
        if words == 1 {
            wire::put_u32(self.buf, self.len, first.value());
        } else {
            wire::put_u32(self.buf, self.len, first.value() | TOP_BIT);
            wire::put_u32(self.buf, self.len + 4, last.value());
        }
        self.len = end;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Encoded length so far, in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The encoded list (valid for `LossList::parse` unless empty: a NAK must carry at least
    /// one range, and `ControlPacket::emit` refuses an empty one).
    pub fn finish(self) -> LossList<'b> {
        let LossListBuilder { buf, len } = self;
        let buf: &'b [u8] = buf;
        LossList {
            bytes: buf.get(..len).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: u32) -> SeqNo {
        SeqNo::new(v)
    }

    /// Appendix A example shape: single 5, range 7..=9, single 0x7FFFFFFF, range wrapping
    /// 0x7FFFFFFE..=1.
    const BYTES: [u8; 24] = [
        0x00, 0x00, 0x00, 0x05, //
        0x80, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x09, //
        0x7F, 0xFF, 0xFF, 0xFF, //
        0xFF, 0xFF, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x01,
    ];

    #[test]
    fn parses_singles_and_ranges() {
        let l = LossList::parse(&BYTES).unwrap();
        let v: Vec<_> = l.iter().collect();
        assert_eq!(
            v,
            vec![
                (s(5), s(5)),
                (s(7), s(9)),
                (s(0x7FFF_FFFF), s(0x7FFF_FFFF)),
                (s(0x7FFF_FFFE), s(1)),
            ]
        );
        assert_eq!(l.as_bytes(), &BYTES);
    }

    #[test]
    fn builder_writes_the_same_bytes() {
        let mut buf = [0u8; 64];
        let mut b = LossListBuilder::new(&mut buf);
        assert!(b.is_empty());
        b.push(s(5), s(5)).unwrap();
        b.push(s(7), s(9)).unwrap();
        b.push(s(0x7FFF_FFFF), s(0x7FFF_FFFF)).unwrap();
        b.push(s(0x7FFF_FFFE), s(1)).unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(b.finish().as_bytes(), &BYTES);
    }

    #[test]
    fn builder_stops_when_full_without_writing() {
        let mut buf = [0u8; 6];
        let mut b = LossListBuilder::new(&mut buf);
        b.push(s(1), s(1)).unwrap();
        assert_eq!(
            b.push(s(3), s(4)),
            Err(EmitError::BufferTooSmall { needed: 12 })
        );
        assert_eq!(
            b.push(s(4), s(3)),
            Err(EmitError::FieldOverflow("reversed loss range"))
        );
        assert_eq!(b.finish().as_bytes(), &[0, 0, 0, 1]);
        assert_eq!(buf[4..], [0, 0]);
    }

    #[test]
    fn rejects_bad_lists() {
        assert_eq!(LossList::parse(&[]), Err(ParseError::Truncated));
        assert!(matches!(
            LossList::parse(&BYTES[..5]),
            Err(ParseError::Malformed(_))
        ));
        // Range start as the last word.
        assert!(matches!(
            LossList::parse(&BYTES[..8]),
            Err(ParseError::Malformed(_))
        ));
        // Two range starts in a row.
        let two = [0x80, 0, 0, 1, 0x80, 0, 0, 2];
        assert!(matches!(
            LossList::parse(&two),
            Err(ParseError::Malformed(_))
        ));
        // Reversed range.
        let rev = [0x80, 0, 0, 9, 0, 0, 0, 7];
        assert!(matches!(
            LossList::parse(&rev),
            Err(ParseError::Malformed(_))
        ));
        // Every prefix of the good list either fails or is a shorter valid list.
        for len in 0..BYTES.len() {
            if let Ok(l) = LossList::parse(&BYTES[..len]) {
                assert!(l.iter().count() < 4);
            }
        }
    }
}
