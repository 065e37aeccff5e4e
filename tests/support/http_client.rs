//! A minimal blocking HTTP/1.1 client for the playback tests: one request per connection, the
//! head parsed by hand (status, headers), chunked or length-delimited or close-delimited
//! bodies, every read bounded by a deadline. Small on purpose: the tests must see exactly the
//! bytes the relay sent, which a client library would hide.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    stream: TcpStream,
    /// Bytes read past the head, not yet decoded.
    buf: Vec<u8>,
    framing: Framing,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked { left_in_chunk: usize, done: bool },
    Close,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads body bytes until at least `n` are decoded, the body ends, or `timeout`.
    pub fn read_body_until(&mut self, n: usize, timeout: Duration) -> &[u8] {
        let deadline = Instant::now() + timeout;
        while self.body.len() < n && !self.finished() && Instant::now() < deadline {
            self.decode();
            if self.body.len() >= n || self.finished() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let mut tmp = [0u8; 64 * 1024];
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.decode();
                    if self.framing == Framing::Close {
                        self.framing = Framing::Length(0);
                    }
                    break;
                }
                Ok(k) => self.buf.extend_from_slice(&tmp[..k]),
                Err(_) => break,
            }
        }
        self.decode();
        &self.body
    }

    /// Reads the whole body (bounded by `timeout`).
    pub fn read_to_end(&mut self, timeout: Duration) -> &[u8] {
        self.read_body_until(usize::MAX, timeout)
    }

    pub fn finished(&self) -> bool {
        matches!(
            self.framing,
            Framing::Length(0) | Framing::Chunked { done: true, .. }
        )
    }

    pub fn text(&mut self, timeout: Duration) -> String {
        String::from_utf8_lossy(self.read_to_end(timeout)).into_owned()
    }

    fn decode(&mut self) {
        loop {
            match &mut self.framing {
                Framing::Close => {
                    self.body.append(&mut self.buf);
                    return;
                }
                Framing::Length(left) => {
                    let k = (*left).min(self.buf.len());
                    self.body.extend(self.buf.drain(..k));
                    *left -= k;
                    return;
                }
                Framing::Chunked { done: true, .. } => return,
                Framing::Chunked {
                    left_in_chunk,
                    done,
                } => {
                    if *left_in_chunk > 0 {
                        let k = (*left_in_chunk).min(self.buf.len());
                        if k == 0 {
                            return;
                        }
                        self.body.extend(self.buf.drain(..k));
                        *left_in_chunk -= k;
                        if *left_in_chunk == 0 {
                            // Its CRLF is consumed with the next size line.
                        }
                        continue;
                    }
                    // A size line, preceded by the previous chunk's CRLF.
                    let start = if self.buf.starts_with(b"\r\n") { 2 } else { 0 };
                    let Some(end) = find(&self.buf[start..], b"\r\n") else {
                        return;
                    };
                    let line = String::from_utf8_lossy(&self.buf[start..start + end]).into_owned();
                    let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                        .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
                    self.buf.drain(..start + end + 2);
                    if size == 0 {
                        *done = true;
                        return;
                    }
                    *left_in_chunk = size;
                }
            }
        }
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Sends `GET path` (HTTP/1.1, `Connection: close` unless `keep_alive`) and reads the head.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, String> {
    request(addr, "GET", path, "HTTP/1.1", timeout)
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    version: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let raw =
        format!("{method} {path} {version}\r\nHost: {addr}\r\nUser-Agent: srtrelay-test\r\n\r\n");
    raw_request(addr, raw.as_bytes(), timeout)
}

/// Sends `raw` as is and reads a response head.
pub fn raw_request(addr: SocketAddr, raw: &[u8], timeout: Duration) -> Result<Response, String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(timeout)).unwrap();
    s.write_all(raw).map_err(|e| format!("write: {e}"))?;
    read_head(s, timeout)
}

pub fn read_head(mut s: TcpStream, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no response head within {timeout:?}"));
        }
        s.set_read_timeout(Some(left)).unwrap();
        let mut tmp = [0u8; 4096];
        match s.read(&mut tmp) {
            Ok(0) => return Err(format!("closed after {} bytes of head", buf.len())),
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
            Err(e) => return Err(format!("read: {e}")),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let framing = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        Framing::Chunked {
            left_in_chunk: 0,
            done: false,
        }
    } else if let Some(n) = get("content-length") {
        Framing::Length(n.parse().map_err(|_| "bad content-length".to_string())?)
    } else {
        Framing::Close
    };
    let mut r = Response {
        status,
        headers,
        stream: s,
        buf: rest,
        framing,
        body: Vec::new(),
    };
    r.decode();
    Ok(r)
}
