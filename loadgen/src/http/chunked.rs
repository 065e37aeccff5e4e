//! The HTTP/1.1 chunked transfer coding (RFC 9112 §7.1), decoded as bytes arrive: a chunk
//! header, its data or the CRLF behind it may be split across any number of reads.
//!
//! Owns: the decoder's state machine. Must not: buffer body bytes (they go straight to the
//! caller's sink) or forgive framing errors: loadgen exists to find a server's mistakes, so a
//! bare LF, a missing CRLF after the data or a size that is not hex fails the response.

use std::fmt;

/// Hex digits of a chunk size; 15 keep it within u64 with room for the shift.
const MAX_SIZE_DIGITS: u32 = 15;
/// Longest chunk extension or trailer line accepted (a bound against a server that never ends
/// one).
const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk-size line that does not start with a hex digit or has a stray byte.
    BadSize(u8),
    /// More than 15 hex digits.
    SizeTooLong,
    /// A CR not followed by LF, or a line ended by a bare LF.
    BadLineEnd(u8),
    /// The data of a chunk not followed by CRLF.
    MissingDataCrlf(u8),
    /// An extension or trailer line over 8 KiB.
    LineTooLong,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::BadSize(b) => write!(f, "chunked: bad byte 0x{b:02x} in a chunk size"),
            ChunkError::SizeTooLong => write!(f, "chunked: chunk size over 15 hex digits"),
            ChunkError::BadLineEnd(b) => write!(f, "chunked: expected CRLF, got 0x{b:02x}"),
            ChunkError::MissingDataCrlf(b) => {
                write!(f, "chunked: chunk data not followed by CRLF (0x{b:02x})")
            }
            ChunkError::LineTooLong => write!(f, "chunked: extension or trailer over 8 KiB"),
        }
    }
}

impl std::error::Error for ChunkError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of the size; `digits` so far.
    Size {
        digits: u32,
    },
    /// After the size: optional whitespace and `;ext` up to CR.
    Extension {
        len: usize,
    },
    /// CR of the size line seen, LF next.
    SizeLf,
    /// `remaining` bytes of chunk data left.
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// After the last chunk: trailer fields, then an empty line. `len` of the current line.
    Trailer {
        len: usize,
    },
    TrailerLf {
        empty: bool,
    },
    Done,
}

/// Decodes one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            size: 0,
        }
    }

    /// Whether the last chunk and the trailer's empty line have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, handing each run of body bytes to `out`. Returns how many bytes of
    /// `input` belong to this body: all of them unless it ended inside `input`.
    pub fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => return Ok(i),
                State::Data { remaining } => {
                    let take =
                        (input.len() - i).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    out(&input[i..i + take]);
                    i += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataCr
                    } else {
                        State::Data { remaining: left }
                    };
                    continue;
                }
                _ => {}
            }
            let b = input[i];
            i += 1;
            self.state = match self.state {
                State::Size { digits } => match hex(b) {
                    Some(d) if digits < MAX_SIZE_DIGITS => {
                        self.size = self.size << 4 | u64::from(d);
                        State::Size { digits: digits + 1 }
                    }
                    Some(_) => return Err(ChunkError::SizeTooLong),
                    None if digits == 0 => return Err(ChunkError::BadSize(b)),
                    None => match b {
                        b'\r' => State::SizeLf,
                        // BWS before the extension (RFC 9112 §7.1.1).
                        b';' | b' ' | b'\t' => State::Extension { len: 1 },
                        _ => return Err(ChunkError::BadSize(b)),
                    },
                },
                State::Extension { len } => match b {
                    b'\r' => State::SizeLf,
                    b'\n' => return Err(ChunkError::BadLineEnd(b)),
                    _ if len >= MAX_LINE => return Err(ChunkError::LineTooLong),
                    _ => State::Extension { len: len + 1 },
                },
                State::SizeLf => match b {
                    b'\n' if self.size == 0 => State::Trailer { len: 0 },
                    b'\n' => State::Data {
                        remaining: self.size,
                    },
                    _ => return Err(ChunkError::BadLineEnd(b)),
                },
                State::DataCr => match b {
                    b'\r' => State::DataLf,
                    _ => return Err(ChunkError::MissingDataCrlf(b)),
                },
                State::DataLf => match b {
                    b'\n' => {
                        self.size = 0;
                        State::Size { digits: 0 }
                    }
                    _ => return Err(ChunkError::MissingDataCrlf(b)),
                },
                State::Trailer { len } => match b {
                    b'\r' => State::TrailerLf { empty: len == 0 },
                    b'\n' => return Err(ChunkError::BadLineEnd(b)),
                    _ if len >= MAX_LINE => return Err(ChunkError::LineTooLong),
                    _ => State::Trailer { len: len + 1 },
                },
                State::TrailerLf { empty } => match b {
                    b'\n' if empty => State::Done,
                    b'\n' => State::Trailer { len: 0 },
                    _ => return Err(ChunkError::BadLineEnd(b)),
                },
                State::Data { .. } | State::Done => unreachable!("handled above"),
            };
        }
        Ok(i)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces of `step` bytes; the body and the bytes consumed.
    fn decode(wire: &[u8], step: usize) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut used = 0;
        for piece in wire.chunks(step) {
            let n = d.feed(piece, &mut |b| body.extend_from_slice(b))?;
            used += n;
            if n < piece.len() {
                break;
            }
        }
        Ok((body, used, d.is_done()))
    }

    #[test]
    fn decodes_whole_and_split_at_every_byte() {
        let wire = b"4\r\nWiki\r\n5;name=val\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        for step in 1..=wire.len() {
            let (body, used, done) = decode(wire, step).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert_eq!((used, done), (wire.len(), true), "step {step}");
        }
    }

    #[test]
    fn trailers_and_what_follows_the_body() {
        let wire = b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\nHTTP/1.1 200 OK";
        let (body, used, done) = decode(wire, wire.len()).unwrap();
        assert_eq!(body, b"abc");
        assert!(done);
        assert_eq!(
            &wire[used..],
            b"HTTP/1.1 200 OK",
            "the next response is not eaten"
        );
    }

    #[test]
    fn upper_case_hex_leading_zeros_and_large_sizes() {
        let mut wire = b"00A\r\n0123456789\r\n1F4\r\n".to_vec();
        wire.extend(std::iter::repeat_n(b'x', 500));
        wire.extend_from_slice(b"\r\n0\r\n\r\n");
        let (body, _, done) = decode(&wire, 7).unwrap();
        assert_eq!(body.len(), 510);
        assert!(done);
    }

    #[test]
    fn an_unfinished_body_is_not_done() {
        let (body, used, done) = decode(b"5\r\nhel", 2).unwrap();
        assert_eq!((body.as_slice(), used, done), (&b"hel"[..], 6, false));
    }

    #[test]
    fn framing_errors_are_refused() {
        let err = |w: &[u8]| decode(w, 1).unwrap_err();
        assert_eq!(err(b"x\r\n"), ChunkError::BadSize(b'x'));
        assert_eq!(err(b"\r\n"), ChunkError::BadSize(b'\r'));
        assert_eq!(err(b"5\nhello"), ChunkError::BadSize(b'\n'));
        assert_eq!(err(b"5\r\rhello"), ChunkError::BadLineEnd(b'\r'));
        assert_eq!(err(b"3\r\nabcd\r\n"), ChunkError::MissingDataCrlf(b'd'));
        assert_eq!(err(b"3\r\nabc\rX"), ChunkError::MissingDataCrlf(b'X'));
        assert_eq!(err(b"1234567890abcdef\r\n"), ChunkError::SizeTooLong);
        assert_eq!(err(b"0\r\nX: y\n"), ChunkError::BadLineEnd(b'\n'));
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'e', MAX_LINE + 1));
        assert_eq!(err(&long), ChunkError::LineTooLong);
    }
}
