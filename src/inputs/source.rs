//! One upstream connection of a pulled input, of any kind, as a byte source on the shard's
//! executor: `open` connects (within the input's connect timeout), `read` returns the next
//! bytes, the end, or nothing within a wait (the runner's stall and close checks).
//! File sources are paced here by their PCR (`ingest::pace::PcrPacer`), so the ring sees a
//! file as it would a live feed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;

use std::rc::Rc;

use super::http::HttpSource;
use crate::config::InputConfig;
use crate::ingest::pace::PcrPacer;
use crate::ingest::upstream::Upstream;
use crate::legs::ingest::{IngestHost, PullState, SrtCall};

/// Bytes asked of the socket per read.
pub const READ_CHUNK: usize = 64 * 1024;
/// A file is read ahead by this much and released packet by packet at its PCR time.
const FILE_CHUNK: usize = 188 * 348;

/// What one `read` gave.
pub enum Read {
    /// `n` bytes at the start of the buffer.
    Data(usize),
    /// Nothing within the wait.
    Idle,
    /// The upstream ended (EOF, a closed stream, the end of a file that does not loop).
    End,
    /// A file that loops started over: the bytes after this are another "source" to splice.
    Restarted,
}

pub enum Source {
    Tcp(glommio::net::TcpStream),
    Unix(glommio::net::UnixStream),
    Udp(glommio::net::UdpSocket),
    Http(Box<HttpSource>),
    File(Box<FileSource>),
    Stdin(StdinSource),
    Srt(SrtSource),
}

/// An `srt://` input: a call from the shard's own SRT endpoint, read in order (TSBPD) through
/// the host. Dropping it hangs up.
pub struct SrtSource {
    host: Rc<dyn IngestHost>,
    id: u32,
    /// Delivered, not yet handed to the runner.
    pending: Vec<u8>,
    /// What the runner has taken of `pending`.
    taken: usize,
}

impl Drop for SrtSource {
    fn drop(&mut self) {
        self.host.srt_hangup(self.id);
    }
}

pub struct FileSource {
    path: PathBuf,
    file: glommio::io::BufferedFile,
    pos: u64,
    looped: bool,
    /// Read ahead, not yet released.
    pending: Vec<u8>,
    pacer: PcrPacer,
    /// The release time of the first pending packet, once computed (the pacer sees each
    /// packet once).
    head_at: Option<Instant>,
}

/// Races `fut` against a sleep of `wait`.
pub async fn within<T>(wait: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(fut.await) }, async {
        glommio::timer::sleep(wait).await;
        None
    })
    .await
}

/// Resolves `host:port` off the shard (the resolver may block).
pub async fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let h = host.to_string();
    glommio::executor()
        .spawn_blocking(move || (h.as_str(), port).to_socket_addrs().map(|mut a| a.next()))
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address")))
}

impl Source {
    /// Connects to `up` within `timeout`.
    pub async fn open(
        up: &Upstream,
        cfg: &InputConfig,
        host: &Rc<dyn IngestHost>,
    ) -> io::Result<Source> {
        let (looped, timeout) = (cfg.looped, cfg.connect_timeout);
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
        match up {
            Upstream::Tcp(hp) => {
                let addr = resolve(&hp.host, hp.port).await?;
                let s = within(timeout, glommio::net::TcpStream::connect(addr))
                    .await
                    .ok_or_else(timed_out)??;
                Ok(Source::Tcp(s))
            }
            Upstream::Unix(path) => Ok(Source::Unix(
                within(timeout, glommio::net::UnixStream::connect(path))
                    .await
                    .ok_or_else(timed_out)??,
            )),
            Upstream::Udp {
                group_or_addr: addr,
                source,
                interface,
            } => Ok(Source::Udp(udp_socket(*addr, *source, *interface)?)),
            Upstream::Http { .. } => Ok(Source::Http(Box::new(
                within(timeout, HttpSource::get(up, cfg.tls_ca_file.as_deref()))
                    .await
                    .ok_or_else(timed_out)??,
            ))),
            Upstream::File(path) => {
                let file = glommio::io::BufferedFile::open(path).await.map_err(|e| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{}: {e}", path.display()))
                })?;
                Ok(Source::File(Box::new(FileSource {
                    path: path.clone(),
                    file,
                    pos: 0,
                    looped,
                    pending: Vec::new(),
                    pacer: PcrPacer::new(),
                    head_at: None,
                })))
            }
            Upstream::Stdin => Ok(Source::Stdin(StdinSource { pending: None })),
            Upstream::Srt {
                host: name,
                port,
                stream_id,
                passphrase,
                latency,
                pbkeylen,
            } => {
                let remote = resolve(name, *port).await?;
                let id = host
                    .srt_call(SrtCall {
                        remote,
                        stream_id: stream_id.clone(),
                        passphrase: passphrase.clone(),
                        pbkeylen: *pbkeylen,
                        latency: *latency,
                        timeout,
                    })
                    .map_err(io::Error::other)?;
                let src = SrtSource {
                    host: host.clone(),
                    id,
                    pending: Vec::new(),
                    taken: 0,
                };
                // The endpoint gives up at `timeout` and says so; the margin covers a busy shard.
                let deadline = clock() + timeout + Duration::from_secs(1);
                loop {
                    let mut none = Vec::new();
                    match src.host.srt_pull(id, &mut none) {
                        PullState::Connected { .. } => return Ok(Source::Srt(src)),
                        PullState::Connecting if clock() < deadline => {
                            glommio::timer::sleep(Duration::from_millis(5)).await;
                        }
                        PullState::Connecting => {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "SRT call timed out",
                            ));
                        }
                        PullState::Failed(why) | PullState::Closed(why) => {
                            return Err(io::Error::new(
                                io::ErrorKind::ConnectionRefused,
                                format!("SRT call failed: {why}"),
                            ));
                        }
                    }
                }
            }
        }
    }

    /// The next bytes into `buf`, waiting at most `wait`.
    pub async fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Read> {
        let got = match self {
            Source::Tcp(s) => within(wait, s.read(buf)).await,
            Source::Unix(s) => within(wait, s.read(buf)).await,
            Source::Udp(s) => {
                // glommio's own timeout, not a race: a dropped receive could lose the datagram
                // io_uring completed into it.
                let _ = s.set_read_timeout(Some(wait.max(Duration::from_millis(1))));
                // Unconnected (any sender of the group): `recv_from`, not `recv`.
                return match s.recv_from(buf).await {
                    // A datagram of zero bytes is not the end of a UDP feed.
                    Ok((0, _)) => Ok(Read::Idle),
                    Ok((n, _)) => Ok(Read::Data(n)),
                    Err(e) => {
                        let e = io::Error::from(e);
                        if matches!(
                            e.kind(),
                            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                        ) {
                            Ok(Read::Idle)
                        } else {
                            Err(e)
                        }
                    }
                };
            }
            Source::Http(h) => return h.read(buf, wait).await,
            Source::File(f) => return f.read(buf, wait).await,
            Source::Stdin(s) => s.read(buf, wait).await,
            Source::Srt(s) => return s.read(buf, wait).await,
        };
        match got {
            None => Ok(Read::Idle),
            Some(Ok(0)) => Ok(Read::End),
            Some(Ok(n)) => Ok(Read::Data(n)),
            Some(Err(e)) => Err(e),
        }
    }
}

/// A blocking read of stdin on glommio's blocking pool (a pipe or a terminal cannot be read
/// through io_uring readiness portably). The read in flight is kept across waits: dropping it
/// would lose what it reads.
pub struct StdinSource {
    pending: Option<StdinRead>,
}

type StdinRead = std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<Vec<u8>>>>>;

impl StdinSource {
    async fn read(&mut self, buf: &mut [u8], wait: Duration) -> Option<io::Result<usize>> {
        use std::io::Read as _;
        let max = buf.len();
        let fut = self.pending.get_or_insert_with(|| {
            Box::pin(glommio::executor().spawn_blocking(move || {
                let mut b = vec![0u8; max];
                let n = std::io::stdin().lock().read(&mut b)?;
                b.truncate(n);
                Ok(b)
            }))
        });
        let r = within(wait, fut).await?;
        self.pending = None;
        Some(r.map(|v| {
            buf[..v.len()].copy_from_slice(&v);
            v.len()
        }))
    }
}

/// A UDP socket for `addr`: bound to its port, joined to the group when `addr` is multicast
/// (source-specific when `source` is given), on `interface` (default: any).
fn udp_socket(
    addr: SocketAddr,
    source: Option<IpAddr>,
    interface: Option<Ipv4Addr>,
) -> io::Result<glommio::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    // Several relays (or a relay and a recorder) may listen to one group on one host.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    // A feed arrives in bursts (a GOP's worth at keyframes): a large buffer absorbs them.
    let _ = s.set_recv_buffer_size(4 << 20);
    let iface = interface.unwrap_or(Ipv4Addr::UNSPECIFIED);
    match addr.ip() {
        IpAddr::V4(g) if g.is_multicast() => {
            // Bound to the group, not INADDR_ANY: other groups on the same port stay out.
            s.bind(&addr.into())?;
            match source {
                Some(IpAddr::V4(src)) => s.join_ssm_v4(&src, &g, &iface)?,
                Some(IpAddr::V6(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "an IPv6 source for an IPv4 group",
                    ));
                }
                None => s.join_multicast_v4(&g, &iface)?,
            }
        }
        IpAddr::V6(g) if g.is_multicast() => {
            s.bind(&addr.into())?;
            s.join_multicast_v6(&g, 0)?;
        }
        _ => s.bind(&addr.into())?,
    }
    Ok(glommio::net::UdpSocket::from(s))
}

impl SrtSource {
    async fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Read> {
        let deadline = clock() + wait;
        loop {
            if self.taken < self.pending.len() {
                let n = (self.pending.len() - self.taken).min(buf.len());
                buf[..n].copy_from_slice(&self.pending[self.taken..self.taken + n]);
                self.taken += n;
                if self.taken == self.pending.len() {
                    self.pending.clear();
                    self.taken = 0;
                }
                return Ok(Read::Data(n));
            }
            let now = clock();
            match self.host.srt_pull(self.id, &mut self.pending) {
                PullState::Connected { next } => {
                    if !self.pending.is_empty() {
                        continue;
                    }
                    if now >= deadline {
                        return Ok(Read::Idle);
                    }
                    // Until the next packet's play time, or a little while when none is
                    // buffered yet (arrivals do not wake this task).
                    let until = next
                        .unwrap_or(now + Duration::from_millis(5))
                        .min(deadline)
                        .max(now + Duration::from_millis(1));
                    glommio::timer::sleep(until - now).await;
                }
                PullState::Connecting => glommio::timer::sleep(Duration::from_millis(5)).await,
                PullState::Closed(_) if !self.pending.is_empty() => continue,
                PullState::Closed(_) => return Ok(Read::End),
                PullState::Failed(why) => return Err(io::Error::other(why)),
            }
        }
    }
}

impl FileSource {
    async fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Read> {
        if self.pending.len() < 188 {
            let r = self
                .file
                .read_at(self.pos, FILE_CHUNK)
                .await
                .map_err(|e| io::Error::other(format!("{}: {e}", self.path.display())))?;
            if r.is_empty() {
                if !self.looped || self.pos == 0 {
                    return Ok(Read::End);
                }
                self.pos = 0;
                self.pending.clear();
                self.head_at = None;
                self.pacer.restart();
                return Ok(Read::Restarted);
            }
            self.pos += r.len() as u64;
            self.pending.extend_from_slice(&r);
        }
        // Release every whole packet that is due; sleep (within `wait`) until the next one.
        let now = clock();
        let mut n = 0;
        while self.pending.len() - n >= 188 && n + 188 <= buf.len() {
            let at = match self.head_at {
                Some(at) => at,
                None => {
                    let pkt: &[u8; 188] = self.pending[n..n + 188].try_into().expect("188 bytes");
                    let at = self.pacer.release_at(pkt, now);
                    self.head_at = Some(at);
                    at
                }
            };
            if at > now {
                break;
            }
            self.head_at = None;
            n += 188;
        }
        if n == 0 {
            if self.pending.len() >= 188 {
                let d = self
                    .head_at
                    .map_or(wait, |at| at.saturating_duration_since(now).min(wait));
                glommio::timer::sleep(d).await;
                return Ok(Read::Idle);
            }
            // A tail shorter than a packet: not TS; the ingest counts it.
            n = self.pending.len();
        }
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(Read::Data(n))
    }
}

#[allow(clippy::disallowed_methods)] // the shard side owns the clock
fn clock() -> Instant {
    Instant::now()
}
