//! A single-threaded blocking driver: one std `UdpSocket` and one sans-IO `Endpoint`.
//!
//! For tests, examples and simple tools. The relay's data path uses the glommio shards, not
//! this; it reads the clock (the core does not) and sleeps only inside `recv_from` timeouts.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::srt::endpoint::{AccessControl, Endpoint};

pub struct BlockingDriver {
    socket: UdpSocket,
    pub endpoint: Endpoint,
    buf: Vec<u8>,
}

impl BlockingDriver {
    pub fn bind(addr: SocketAddr, endpoint: Endpoint) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        Ok(BlockingDriver {
            socket,
            endpoint,
            buf: vec![0; 65536],
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The driver's notion of now: the only clock read on this path.
    #[allow(clippy::disallowed_methods)] // drivers own the clock; the core never reads it
    pub fn now() -> Instant {
        Instant::now()
    }

    /// One turn of the loop: wait for a datagram until the endpoint's next deadline (at most
    /// `max_wait`), feed everything that arrived, run due timers, and send what is queued.
    pub fn turn(&mut self, access: &mut dyn AccessControl, max_wait: Duration) -> io::Result<()> {
        self.flush()?;
        let now = Self::now();
        let wait = self
            .endpoint
            .poll_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait))
            .max(Duration::from_micros(50));
        self.socket.set_read_timeout(Some(wait))?;
        let mut first = true;
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let now = Self::now();
                    self.endpoint
                        .handle_datagram(now, from, &self.buf[..n], access);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break;
                }
                // ICMP port unreachable from a vanished peer surfaces here on Linux.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
            if first {
                // Drain whatever else is already queued without waiting.
                self.socket.set_nonblocking(true)?;
                first = false;
            }
        }
        self.socket.set_nonblocking(false)?;
        let now = Self::now();
        self.endpoint.handle_timeout(now);
        self.flush()
    }

    /// Sends everything the endpoint has queued.
    pub fn flush(&mut self) -> io::Result<()> {
        let now = Self::now();
        while let Some(t) = self.endpoint.poll_transmit(now, &mut self.buf) {
            match self.socket.send_to(&self.buf[..t.len], t.to) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
