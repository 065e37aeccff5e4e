//! A glommio TCP stream as hyper's I/O: hyper parses and frames, the shard's executor does the
//! socket work (io_uring), and the connection never leaves its shard.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// Request heads are small: reads go through a stack buffer into hyper's (which may be
/// uninitialised memory; copying avoids `unsafe` for bytes that are not the media path).
const READ_CHUNK: usize = 4096;

pub struct ShardIo(pub TcpStream);

impl hyper::rt::Read for ShardIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_into::<READ_CHUNK>(Pin::new(&mut self.get_mut().0), cx, buf)
    }
}

/// A futures-io read into hyper's cursor through a `N`-byte stack buffer.
pub fn poll_read_into<const N: usize>(
    r: Pin<&mut impl AsyncRead>,
    cx: &mut Context<'_>,
    mut buf: hyper::rt::ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    let mut tmp = [0u8; N];
    let want = buf.remaining().min(N);
    match r.poll_read(cx, &mut tmp[..want]) {
        Poll::Ready(Ok(n)) => {
            buf.put_slice(&tmp[..n]);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

impl hyper::rt::Write for ShardIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    /// Queued chunks go out in one `sendmsg` from where they are (ring handles, HLS parts):
    /// no copy into hyper's buffer. When the socket is full, glommio's write readiness (a
    /// write of the first chunk) parks the task until it drains.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        match crate::shard::sys::send_vectored(&me.0, bufs) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                Pin::new(&mut me.0).poll_write(cx, first)
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}
