//! A minimal static HTTP/1.1 server on 127.0.0.1 for harness self-tests: it stands in for the
//! relay's playback server (a directory of HLS files ffmpeg writes, a player page, hls.js, a
//! TS file for VLC).
//!
//! Owns: a listener on a kernel-chosen loopback port, one short-lived thread per connection,
//! GET/HEAD of in-memory routes and of files under a root, and a log of what was asked.
//! Must not: serve outside its root (no `..`), block without a deadline, or outlive its handle
//! (the accept loop stops on drop; connection threads end within their I/O timeouts).

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a client may take to send its request head, and each write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 16 * 1024;
/// How often the accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// What a server answers: fixed bodies by path, then files under `root`.
#[derive(Default)]
pub struct Site {
    pub root: Option<PathBuf>,
    pub routes: HashMap<String, (String, Vec<u8>)>,
}

impl Site {
    /// Files under `root`.
    pub fn dir(root: &Path) -> Site {
        Site {
            root: Some(root.to_owned()),
            routes: HashMap::new(),
        }
    }

    /// Serves `body` at `path` (e.g. "/live/cam1") as `content_type`.
    pub fn route(mut self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Site {
        self.routes
            .insert(path.to_owned(), (content_type.to_owned(), body.into()));
        self
    }
}

pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl StaticServer {
    pub fn start(site: Site) -> StaticServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        // Non-blocking so the loop can notice `stop` without a connection arriving.
        listener.set_nonblocking(true).expect("non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let site = Arc::new(site);
        let accept = {
            let (stop, log) = (Arc::clone(&stop), Arc::clone(&log));
            thread::Builder::new()
                .name("static-http".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((conn, _)) => {
                                let (site, log) = (Arc::clone(&site), Arc::clone(&log));
                                let _ = thread::Builder::new()
                                    .name("static-http-conn".into())
                                    .spawn(move || serve(conn, &site, &log));
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                thread::sleep(ACCEPT_POLL)
                            }
                            Err(_) => thread::sleep(ACCEPT_POLL),
                        }
                    }
                })
                .expect("spawn accept thread")
        };
        StaticServer {
            addr,
            stop,
            accept: Some(accept),
            log,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far as `METHOD /path STATUS`, in order of completion.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, site: &Site, log: &Mutex<Vec<String>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
    let Some(head) = read_head(&mut conn) else {
        return;
    };
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let (status, ctype, body) = match method {
        "GET" | "HEAD" => lookup(site, path),
        _ => (
            405,
            "text/plain".to_owned(),
            b"method not allowed\n".to_vec(),
        ),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    // No caching: playlists change every second, and a test must see what is there now.
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let ok = conn.write_all(head.as_bytes()).is_ok()
        && (method == "HEAD" || conn.write_all(&body).is_ok());
    log.lock().expect("log lock").push(format!(
        "{method} {path} {status}{}",
        if ok { "" } else { " (client gone)" }
    ));
}

/// The request head, or `None` if the client sent none within the deadline.
fn read_head(conn: &mut TcpStream) -> Option<String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.checked_duration_since(Instant::now())?;
        conn.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match conn.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn lookup(site: &Site, path: &str) -> (u16, String, Vec<u8>) {
    if let Some((ctype, body)) = site.routes.get(path) {
        return (200, ctype.clone(), body.clone());
    }
    let not_found = || (404, "text/plain".to_owned(), b"not found\n".to_vec());
    let Some(root) = &site.root else {
        return not_found();
    };
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return not_found();
    }
    match fs::read(root.join(rel)) {
        Ok(body) => (200, content_type(rel).to_owned(), body),
        Err(_) => not_found(),
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("ts") => "video/mp2t",
        Some("js") => "text/javascript",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
