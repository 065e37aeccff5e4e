//! Response bodies: whole ones (pages, playlists, segments: shared bytes, no copy) and the
//! live HTTP-TS stream, which drains its player's queue as the socket takes it. A client that
//! does not read leaves its body unpolled; the player's queue then fills and the fan-out skips
//! it forward (`legs::http::ts_player`), so nobody else waits.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use crate::legs::http::PlayerRef;
use crate::legs::http::ts_player::Chunk;
use crate::media::hls::MediaBytes;
use crate::relay::leg::LegId;

/// Chunks per frame: one chunked-encoding header per wake-up, not per ring packet.
const FRAME_CHUNKS: usize = 64;

pub enum PlayBody {
    Full(Option<Bytes>),
    /// An HLS segment: its parts' handles, sent as one `Buf`.
    Media(Option<MediaBytes>),
    Ts(TsBody),
}

impl PlayBody {
    pub fn full(b: impl Into<Bytes>) -> PlayBody {
        PlayBody::Full(Some(b.into()))
    }

    pub fn empty() -> PlayBody {
        PlayBody::Full(None)
    }
}

/// What a frame carries: whole bytes, or a run of player chunks (ring handles).
pub enum PlayData {
    Bytes(Bytes),
    Media(MediaBytes),
    Chunks(Batch),
}

impl Buf for PlayData {
    fn remaining(&self) -> usize {
        match self {
            PlayData::Bytes(b) => b.remaining(),
            PlayData::Media(m) => m.remaining(),
            PlayData::Chunks(c) => c.remaining(),
        }
    }

    fn chunk(&self) -> &[u8] {
        match self {
            PlayData::Bytes(b) => b.chunk(),
            PlayData::Media(m) => m.chunk(),
            PlayData::Chunks(c) => c.chunk(),
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            PlayData::Bytes(b) => b.advance(n),
            PlayData::Media(m) => m.advance(n),
            PlayData::Chunks(c) => c.advance(n),
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        match self {
            PlayData::Bytes(b) => b.chunks_vectored(dst),
            PlayData::Media(m) => m.chunks_vectored(dst),
            PlayData::Chunks(c) => c.chunks_vectored(dst),
        }
    }
}

/// Player chunks taken in one poll, read through in order.
pub struct Batch {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    offset: usize,
    remaining: usize,
}

impl Batch {
    fn new(chunks: VecDeque<Chunk>) -> Batch {
        let remaining = chunks.iter().map(|c| c.bytes().len()).sum();
        Batch {
            chunks,
            offset: 0,
            remaining,
        }
    }
}

impl Buf for Batch {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks
            .front()
            .map_or(&[][..], |c| &c.bytes()[self.offset..])
    }

    fn advance(&mut self, mut n: usize) {
        assert!(n <= self.remaining, "advance past the end of a batch");
        self.remaining -= n;
        while n > 0 {
            let front = self.chunks.front().map_or(0, |c| c.bytes().len()) - self.offset;
            if n < front {
                self.offset += n;
                return;
            }
            n -= front;
            self.offset = 0;
            self.chunks.pop_front();
        }
        // Drop chunks that were exactly consumed.
        while self
            .chunks
            .front()
            .is_some_and(|c| c.bytes().len() == self.offset)
        {
            self.chunks.pop_front();
            self.offset = 0;
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if n == dst.len() {
                break;
            }
            let b = if i == 0 {
                &c.bytes()[self.offset..]
            } else {
                c.bytes()
            };
            if !b.is_empty() {
                dst[n] = std::io::IoSlice::new(b);
                n += 1;
            }
        }
        n
    }
}

/// The live stream of one HTTP-TS player. Dropping it (the response ended or the client went
/// away) reports the player gone to its shard.
pub struct TsBody {
    player: PlayerRef,
    leg: LegId,
    departures: Rc<RefCell<Vec<LegId>>>,
}

impl TsBody {
    pub fn new(player: PlayerRef, leg: LegId, departures: Rc<RefCell<Vec<LegId>>>) -> TsBody {
        TsBody {
            player,
            leg,
            departures,
        }
    }
}

impl TsBody {
    /// Takes what is queued (at most `max` chunks) or registers `waker` for the next offer;
    /// true once the stream is over for this reader.
    pub fn take(&self, max: usize, waker: &std::task::Waker, out: &mut VecDeque<Chunk>) -> bool {
        self.player.borrow_mut().take(max, waker, out)
    }
}

impl Drop for TsBody {
    fn drop(&mut self) {
        self.player.borrow_mut().close();
        self.departures.borrow_mut().push(self.leg);
    }
}

impl Body for PlayBody {
    type Data = PlayData;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<PlayData>, Infallible>>> {
        match self.get_mut() {
            PlayBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(PlayData::Bytes(b))))),
            PlayBody::Media(m) => {
                Poll::Ready(m.take().map(|m| Ok(Frame::data(PlayData::Media(m)))))
            }
            PlayBody::Ts(t) => {
                let mut out = VecDeque::new();
                let finished = t
                    .player
                    .borrow_mut()
                    .take(FRAME_CHUNKS, cx.waker(), &mut out);
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(PlayData::Chunks(Batch::new(out))))));
                }
                if finished {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, PlayBody::Full(None) | PlayBody::Media(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            PlayBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            PlayBody::Full(None) | PlayBody::Media(None) => SizeHint::with_exact(0),
            PlayBody::Media(Some(m)) => SizeHint::with_exact(m.len() as u64),
            PlayBody::Ts(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Payload;

    #[test]
    fn a_batch_reads_through_its_chunks_in_order() {
        let p = Payload::copy_from_slice(&[1, 2, 3, 4, 5]).unwrap();
        let chunks: VecDeque<Chunk> = [
            Chunk::Header(vec![9, 9]),
            Chunk::Payload {
                payload: p.clone(),
                start: 2,
            },
            Chunk::Payload {
                payload: p,
                start: 0,
            },
        ]
        .into();
        let mut b = Batch::new(chunks);
        assert_eq!(b.remaining(), 2 + 3 + 5);
        let mut got = Vec::new();
        while b.has_remaining() {
            let c = b.chunk().to_vec();
            // Take one byte at a time from the first chunk, the rest whole: both paths.
            let n = if got.is_empty() { 1 } else { c.len() };
            got.extend_from_slice(&c[..n]);
            b.advance(n);
        }
        assert_eq!(got, [9, 9, 3, 4, 5, 1, 2, 3, 4, 5]);
    }
}
