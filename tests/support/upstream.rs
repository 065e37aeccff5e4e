//! Upstreams for the pulled-input tests: a server that plays a TS file to whoever connects,
//! paced like a live source, over raw TCP, HTTP/1.1 (chunked or with a length, in TLS or not)
//! or a unix socket, and that can be killed mid-stream like a crashed encoder.
//!
//! Owns: a listener on a kernel-chosen loopback port (or a socket path), one thread per
//! client, the pacing, and a log of connections. Must not: block without a deadline or outlive
//! its handle (drop stops the accept loop and every client within `POLL`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often loops look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Bytes per write: seven TS packets, as an encoder's socket writes.
const CHUNK: usize = 1316;

/// How the bytes are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Raw,
    /// `HTTP/1.1 200` with `Transfer-Encoding: chunked`.
    HttpChunked,
    /// `HTTP/1.0 200` with no length: the body ends when the connection closes.
    HttpClose,
    /// An HTTP answer with this status and a small HTML body (an error page).
    HttpStatus(u16),
}

pub struct Upstream {
    stop: Arc<AtomicBool>,
    /// Clients that connected so far.
    pub connections: Arc<AtomicUsize>,
    /// When each client connected.
    pub connected_at: Arc<Mutex<Vec<Instant>>>,
    addr: Option<SocketAddr>,
    path: Option<PathBuf>,
}

#[derive(Clone)]
struct Plan {
    bytes: Arc<Vec<u8>>,
    rate: u64,
    framing: Framing,
    /// Start over at the end instead of closing.
    looped: bool,
}

impl Upstream {
    /// Serves `bytes` at `rate` bytes per second over TCP on 127.0.0.1.
    pub fn tcp(bytes: Vec<u8>, rate: u64, framing: Framing, looped: bool) -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let mut u = Upstream::new(Some(addr), None);
        let plan = Plan {
            bytes: Arc::new(bytes),
            rate,
            framing,
            looped,
        };
        u.spawn_accept(
            move || l.accept().map(|(s, _)| Box::new(s) as Box<dyn Client>),
            plan,
        );
        u
    }

    /// As [`Upstream::tcp`], inside TLS with `tls`'s certificate (an `https://` upstream).
    pub fn tls(
        bytes: Vec<u8>,
        rate: u64,
        framing: Framing,
        tls: Arc<rustls::ServerConfig>,
    ) -> Upstream {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let mut u = Upstream::new(Some(addr), None);
        let plan = Plan {
            bytes: Arc::new(bytes),
            rate,
            framing,
            looped: false,
        };
        u.spawn_accept(
            move || {
                let (s, _) = l.accept()?;
                let conn = rustls::ServerConnection::new(tls.clone()).map_err(io::Error::other)?;
                Ok(Box::new(rustls::StreamOwned::new(conn, s)) as Box<dyn Client>)
            },
            plan,
        );
        u
    }

    /// Serves `bytes` over a unix socket at `path`.
    pub fn unix(path: &Path, bytes: Vec<u8>, rate: u64, looped: bool) -> Upstream {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path).expect("bind unix socket");
        l.set_nonblocking(true).expect("nonblocking");
        let mut u = Upstream::new(None, Some(path.to_owned()));
        let plan = Plan {
            bytes: Arc::new(bytes),
            rate,
            framing: Framing::Raw,
            looped,
        };
        u.spawn_accept(
            move || l.accept().map(|(s, _)| Box::new(s) as Box<dyn Client>),
            plan,
        );
        u
    }

    fn new(addr: Option<SocketAddr>, path: Option<PathBuf>) -> Upstream {
        Upstream {
            stop: Arc::new(AtomicBool::new(false)),
            connections: Arc::new(AtomicUsize::new(0)),
            connected_at: Arc::new(Mutex::new(Vec::new())),
            addr,
            path,
        }
    }

    fn spawn_accept(
        &mut self,
        mut accept: impl FnMut() -> io::Result<Box<dyn Client>> + Send + 'static,
        plan: Plan,
    ) {
        let stop = self.stop.clone();
        let n = self.connections.clone();
        let at = self.connected_at.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match accept() {
                    Ok(c) => {
                        n.fetch_add(1, Ordering::Relaxed);
                        at.lock().unwrap().push(Instant::now());
                        let (stop, plan) = (stop.clone(), plan.clone());
                        thread::spawn(move || {
                            let _ = serve(c, &plan, &stop);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
                    Err(_) => thread::sleep(POLL),
                }
            }
        });
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP upstream")
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a unix upstream")
    }

    /// Ends every client and refuses new ones, like a crashed server.
    pub fn kill(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.kill();
    }
}

trait Client: Read + Write + Send {
    fn prepare(&mut self) -> io::Result<()>;
}

impl Client for std::net::TcpStream {
    fn prepare(&mut self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_nodelay(true)?;
        self.set_read_timeout(Some(Duration::from_secs(5)))?;
        self.set_write_timeout(Some(Duration::from_secs(5)))
    }
}

/// The TLS handshake runs inside the first read or write, on the prepared socket.
impl Client for rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream> {
    fn prepare(&mut self) -> io::Result<()> {
        self.sock.prepare()
    }
}

impl Client for std::os::unix::net::UnixStream {
    fn prepare(&mut self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_write_timeout(Some(Duration::from_secs(5)))
    }
}

/// Reads a request head (HTTP framings only).
fn read_head(c: &mut dyn Client) -> io::Result<()> {
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = c.read(&mut b)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(io::Error::other("no request head"));
        }
        head.extend_from_slice(&b[..n]);
    }
    Ok(())
}

fn serve(mut c: Box<dyn Client>, plan: &Plan, stop: &AtomicBool) -> io::Result<()> {
    c.prepare()?;
    match plan.framing {
        Framing::Raw => {}
        Framing::HttpChunked => {
            read_head(&mut *c)?;
            c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n",
            )?;
        }
        Framing::HttpClose => {
            read_head(&mut *c)?;
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\n")?;
        }
        Framing::HttpStatus(code) => {
            read_head(&mut *c)?;
            let body = b"<html><body>not here</body></html>";
            let head = format!(
                "HTTP/1.1 {code} Whatever\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            c.write_all(head.as_bytes())?;
            return c.write_all(body);
        }
    }
    let start = Instant::now();
    let mut sent: u64 = 0;
    loop {
        for chunk in plan.bytes.chunks(CHUNK) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // Paced by the bytes sent so far: a late write catches up, never drifts.
            let due = start + Duration::from_secs_f64(sent as f64 / plan.rate as f64);
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if plan.framing == Framing::HttpChunked {
                c.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                c.write_all(chunk)?;
                c.write_all(b"\r\n")?;
            } else {
                c.write_all(chunk)?;
            }
            sent += chunk.len() as u64;
        }
        if !plan.looped {
            break;
        }
    }
    if plan.framing == Framing::HttpChunked {
        c.write_all(b"0\r\n\r\n")?;
    }
    Ok(())
}
