//! The operator API's TCP side: one thread running a small single-threaded tokio runtime, an
//! accept loop that never gives up, a connection cap, and per-connection deadlines.
//!
//! Owns: accepting (with a spare descriptor so a client is refused cleanly even when the
//! process is out of descriptors), the `http.max_connections` cap, hyper's HTTP/1 connection
//! driver with its head-size limit, and the header and idle deadlines of each connection.
//! Must not: run a route on the runtime thread (routes may block on the shards:
//! [`super::service`] moves them to tokio's bounded blocking pool), or spawn a thread per
//! connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::counters::Reject;
use super::service::{self, Shared};
use super::settings::MIN_HEADER_BYTES;

/// First pause after a failed accept; doubled per failure in a row up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// What a client past the connection cap (or past the descriptor limit) reads before close.
const BUSY_REPLY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\nContent-Length: 59\r\nConnection: close\r\n\
Retry-After: 1\r\nCache-Control: no-store\r\n\r\n\
{\"error\":\"too many operator API connections\",\"status\":503}\n";

/// Accepts until `stop` is notified. Failed accepts are counted, logged (rate-limited) and
/// waited out; the loop only ends on `stop`.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<Notify>) {
    let permits = Arc::new(Semaphore::new(shared.settings.max_connections));
    // Held in reserve for EMFILE: closing it frees one descriptor, enough to accept the
    // client at the head of the backlog and tell it to go away instead of leaving it hanging.
    let mut spare = spare_fd();
    let mut backoff = MIN_BACKOFF;
    loop {
        let accepted = tokio::select! {
            _ = stop.notified() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = MIN_BACKOFF;
                if spare.is_none() {
                    // Lost to another thread's open after an EMFILE: take one back now that
                    // descriptors are free again.
                    spare = spare_fd();
                }
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        shared.counters.on_open();
                        tokio::spawn(connection(stream, peer, shared.clone(), permit));
                    }
                    Err(_) => {
                        let detail = format!(
                            "{peer}: {} connections open",
                            shared.settings.max_connections
                        );
                        shared.counters.reject(
                            Reject::ConnectionLimit,
                            &detail,
                            super::wall_clock(),
                        );
                        refuse(stream);
                    }
                }
            }
            Err(e) if is_transient(&e) => {}
            Err(e) => {
                shared.counters.accept_error(&e, super::wall_clock());
                if is_fd_exhaustion(&e) && spare.take().is_some() {
                    // `spare` is closed now: one descriptor for the waiting client.
                    let refused = match futures_lite::future::poll_once(listener.accept()).await {
                        Some(Ok((stream, peer))) => {
                            let detail = format!("{peer}: out of file descriptors ({e})");
                            shared.counters.reject(
                                Reject::FdExhausted,
                                &detail,
                                super::wall_clock(),
                            );
                            refuse(stream);
                            true
                        }
                        _ => false,
                    };
                    spare = spare_fd();
                    if refused && spare.is_some() {
                        // Progress: the next waiting client is refused at once, not after a
                        // pause per client.
                        continue;
                    }
                }
                tokio::select! {
                    _ = stop.notified() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection until it ends, breaks a deadline, or the server stops (the runtime drops
/// the task). `_permit` is its slot under `http.max_connections`.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let svc = {
        let (shared, activity) = (shared.clone(), activity.clone());
        hyper::service::service_fn(move |req| {
            service::handle(shared.clone(), activity.clone(), peer, req)
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // Our own deadlines below: hyper's would also cut a kept-alive connection at the
        // header timeout, leaving no separate idle timeout.
        .header_read_timeout(None)
        .max_buf_size(shared.settings.max_header_bytes.max(MIN_HEADER_BYTES))
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let s = &shared.settings;
    loop {
        let (deadline, _) = activity.deadline(s.header_timeout, s.idle_timeout);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    on_error(&shared, peer, &e);
                }
                break;
            }
            _ = tokio::time::sleep_until(deadline) => {
                // The phase may have moved on while we slept: only a deadline still in force
                // closes the connection (dropping `conn` closes the socket).
                let (again, why) = activity.deadline(s.header_timeout, s.idle_timeout);
                if let Some(why) = why.filter(|_| again <= Instant::now()) {
                    shared.counters.reject(why, &peer.to_string(), super::wall_clock());
                    break;
                }
            }
        }
    }
    shared.counters.on_close();
}

/// Counts what hyper gave up on. hyper has already answered 431 (head too large) or 400
/// (unparsable) where it could.
fn on_error(shared: &Shared, peer: SocketAddr, e: &hyper::Error) {
    let why = if e.is_parse_too_large() {
        Some(Reject::HeaderTooLarge)
    } else if e.is_parse() || e.is_parse_status() {
        Some(Reject::Malformed)
    } else {
        // The client went away, or a write failed: nothing to refuse.
        log::debug!("operator API: connection from {peer} ended: {e}");
        None
    };
    if let Some(why) = why {
        shared
            .counters
            .reject(why, &format!("{peer}: {e}"), super::wall_clock());
    }
}

/// A short 503, then close. `try_write` only: a fresh socket's send buffer takes 200 bytes,
/// and a client that does not read must not hold us. One non-blocking read first takes what
/// the client already sent, so the close is a FIN its 503 arrives before, not a reset (Linux
/// resets a connection closed with unread data).
fn refuse(stream: TcpStream) {
    let mut scratch = [0u8; 2048];
    let _ = stream.try_read(&mut scratch);
    let _ = stream.try_write(BUSY_REPLY);
}

fn spare_fd() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Errors about one client that left before we took it: nothing to wait out.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Where a connection is in its request cycle, and since when: the base of its deadline.
pub(super) struct Activity {
    base: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
}

/// A request head is arriving (or is awaited on a fresh connection): `header_timeout`.
const HEAD: u8 = 0;
/// A route is running: no deadline of ours (the body has its own).
const BUSY: u8 = 1;
/// Between requests on a kept-alive connection: `idle_timeout` since the last byte.
const IDLE: u8 = 2;

impl Activity {
    fn new(now: Instant) -> Activity {
        Activity {
            base: now,
            phase: AtomicU8::new(HEAD),
            since_ms: AtomicU64::new(0),
        }
    }

    /// A request head is complete and its route starts.
    pub(super) fn on_request(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// The route answered; the connection waits for the next request.
    pub(super) fn on_answered(&self) {
        self.mark(Instant::now());
        self.phase.store(IDLE, Ordering::Relaxed);
    }

    fn on_read(&self, now: Instant) {
        // The first byte of a follow-up request starts its header deadline.
        if self
            .phase
            .compare_exchange(IDLE, HEAD, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.mark(now);
        }
    }

    fn on_write(&self, now: Instant) {
        // A response still leaving is not idleness (a slow reader of a big scrape).
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.mark(now);
        }
    }

    fn mark(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.base).as_millis();
        self.since_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// When the current phase times out and what that is counted as; a busy connection is
    /// looked at again after the longer timeout.
    fn deadline(&self, header: Duration, idle: Duration) -> (Instant, Option<Reject>) {
        let since = self.base + Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            HEAD => (since + header, Some(Reject::HeaderTimeout)),
            IDLE => (since + idle, Some(Reject::IdleTimeout)),
            _ => (Instant::now() + header.max(idle), None),
        }
    }
}

/// The TCP stream with its reads and writes reported to [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.on_read(Instant::now());
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write(Instant::now());
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.on_write(Instant::now());
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_reply_is_well_formed() {
        let text = std::str::from_utf8(BUSY_REPLY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["status"], 503);
    }

    #[test]
    fn deadlines_follow_the_request_cycle() {
        let t0 = Instant::now();
        let (header, idle) = (Duration::from_secs(10), Duration::from_secs(30));
        let a = Activity::new(t0);
        // A fresh connection owes its first head within the header timeout.
        assert_eq!(
            a.deadline(header, idle),
            (t0 + header, Some(Reject::HeaderTimeout))
        );
        a.on_request();
        assert_eq!(a.deadline(header, idle).1, None);
        a.on_answered();
        let (d, why) = a.deadline(header, idle);
        assert_eq!(why, Some(Reject::IdleTimeout));
        assert!(d >= t0 + idle);
        // The first byte of the next request switches to the header timeout from then.
        let later = t0 + Duration::from_secs(5);
        a.on_read(later);
        assert_eq!(
            a.deadline(header, idle),
            (later + header, Some(Reject::HeaderTimeout))
        );
        // More bytes of the same head do not extend it (a slowloris gains nothing).
        a.on_read(later + Duration::from_secs(3));
        assert_eq!(a.deadline(header, idle).0, later + header);
    }
}
