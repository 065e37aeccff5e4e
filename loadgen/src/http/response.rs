//! An HTTP/1.1 response as bytes arrive: the head parsed by `httparse` once it is complete,
//! then the body framed by `Transfer-Encoding: chunked`, `Content-Length` or the connection's
//! end (RFC 9112 §6.3), handed to a sink without being buffered.
//!
//! Owns: request text, head limits and body framing. Must not: touch sockets or the clock.

use std::fmt;

use super::chunked::{ChunkError, ChunkedDecoder};

/// Largest response head accepted; a server sending more is broken or hostile.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub enum ResponseError {
    Head(httparse::Error),
    HeadTooLarge,
    BadContentLength,
    /// Transfer-Encoding other than a final `chunked` (RFC 9112 §6.1: we ask for nothing else).
    UnsupportedTransferEncoding(String),
    Chunked(ChunkError),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Head(e) => write!(f, "bad response head: {e}"),
            ResponseError::HeadTooLarge => write!(f, "response head over {MAX_HEAD} bytes"),
            ResponseError::BadContentLength => write!(f, "bad Content-Length"),
            ResponseError::UnsupportedTransferEncoding(t) => {
                write!(f, "unsupported Transfer-Encoding {t:?}")
            }
            ResponseError::Chunked(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// A GET for `path` (with its query) on `host`, keeping the connection open.
pub fn get_request(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: loadgen\r\nAccept: */*\r\n\r\n")
        .into_bytes()
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the server closes the connection.
    Close,
}

/// The parts of a head a player acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Whether the connection may carry another request after this body.
    pub keep_alive: bool,
    pub chunked: bool,
    pub content_length: Option<u64>,
}

/// One response being read.
#[derive(Debug)]
pub struct Response {
    head_buf: Vec<u8>,
    head: Option<Head>,
    framing: Option<Framing>,
    done: bool,
}

/// What [`Response::feed`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes of the input consumed. A call that completes the head stops there, so the caller
    /// can look at the status before any body byte reaches its sink; a call that ends the body
    /// leaves what follows it (a server that sent more than asked for).
    pub used: usize,
    /// The head completed in this call.
    pub head_now: bool,
    /// The body is complete.
    pub done: bool,
}

impl Default for Response {
    fn default() -> Self {
        Self::new()
    }
}

impl Response {
    pub fn new() -> Response {
        Response {
            head_buf: Vec::new(),
            head: None,
            framing: None,
            done: false,
        }
    }

    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether any byte of this response arrived.
    pub fn started(&self) -> bool {
        self.head.is_some() || !self.head_buf.is_empty()
    }

    /// Reads from `input`; body bytes go to `body`. Call again with `input[used..]` while
    /// bytes are left and the response is not done.
    pub fn feed(
        &mut self,
        input: &[u8],
        body: &mut impl FnMut(&[u8]),
    ) -> Result<Fed, ResponseError> {
        if self.head.is_none() {
            // Parse the input itself when the head arrives whole in one read (the common
            // case), else the bytes kept so far plus this input.
            let keep = self.head_buf.len();
            let parsed = if keep == 0 {
                parse_head(input)?
            } else {
                let take = input.len().min(MAX_HEAD + 1 - keep);
                self.head_buf.extend_from_slice(&input[..take]);
                parse_head(&self.head_buf)?
            };
            let Some((len, head, framing)) = parsed else {
                if keep == 0 {
                    self.head_buf
                        .extend_from_slice(&input[..input.len().min(MAX_HEAD + 1)]);
                }
                if self.head_buf.len() > MAX_HEAD {
                    return Err(ResponseError::HeadTooLarge);
                }
                return Ok(Fed {
                    used: input.len(),
                    ..Fed::default()
                });
            };
            // `len` counts from the first kept byte.
            self.head_buf = Vec::new();
            self.done = matches!(framing, Framing::Length(0)) || !has_body(head.status);
            self.framing = Some(framing);
            self.head = Some(head);
            return Ok(Fed {
                used: len - keep,
                head_now: true,
                done: self.done,
            });
        }
        if self.done {
            return Ok(Fed {
                used: 0,
                head_now: false,
                done: true,
            });
        }
        let used = match self.framing.as_mut().expect("set with the head") {
            Framing::Length(left) => {
                let take = input
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                if take > 0 {
                    body(&input[..take]);
                }
                *left -= take as u64;
                self.done = *left == 0;
                take
            }
            Framing::Chunked(d) => {
                let n = d.feed(input, body).map_err(ResponseError::Chunked)?;
                self.done = d.is_done();
                n
            }
            Framing::Close => {
                if !input.is_empty() {
                    body(input);
                }
                input.len()
            }
        };
        Ok(Fed {
            used,
            head_now: false,
            done: self.done,
        })
    }

    /// The server closed the connection: whether that ended the body properly (only a
    /// close-delimited body ends so).
    pub fn close_ends_body(&mut self) -> bool {
        if matches!(self.framing, Some(Framing::Close)) {
            self.done = true;
        }
        self.done
    }
}

/// 1xx, 204 and 304 responses have no body (RFC 9112 §6.3 rule 1).
fn has_body(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head, Framing)>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf).map_err(ResponseError::Head)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(n) => n,
    };
    let status = resp.code.unwrap_or(0);
    let http11 = resp.version == Some(1);
    let mut keep_alive = http11;
    let mut chunked = false;
    let mut content_length = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            let last = v.rsplit(',').next().unwrap_or("").trim().to_string();
            if last != "chunked" {
                return Err(ResponseError::UnsupportedTransferEncoding(v));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or(ResponseError::BadContentLength)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(ResponseError::BadContentLength);
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.split(',').any(|t| t.trim() == "close") {
                keep_alive = false;
            } else if v.split(',').any(|t| t.trim() == "keep-alive") {
                keep_alive = true;
            }
        }
    }
    // Chunked wins over a Content-Length (RFC 9112 §6.3 rule 3).
    let framing = if chunked {
        Framing::Chunked(ChunkedDecoder::new())
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else if has_body(status) {
        keep_alive = false;
        Framing::Close
    } else {
        Framing::Length(0)
    };
    let head = Head {
        status,
        keep_alive,
        chunked,
        content_length,
    };
    Ok(Some((len, head, framing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes; the response, its body and the bytes left over.
    fn read_all(wire: &[u8], step: usize) -> (Response, Vec<u8>, usize) {
        let mut r = Response::new();
        let mut body = Vec::new();
        for (i, piece) in wire.chunks(step).enumerate() {
            let mut rest = piece;
            while !rest.is_empty() {
                let fed = r.feed(rest, &mut |b| body.extend_from_slice(b)).unwrap();
                rest = &rest[fed.used..];
                if fed.done {
                    let left = rest.len() + wire.len().saturating_sub((i + 1) * step);
                    return (r, body, left);
                }
            }
        }
        (r, body, 0)
    }

    #[test]
    fn chunked_head_and_body_in_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for step in 1..=wire.len() {
            let (r, body, left) = read_all(wire, step);
            let h = r.head().unwrap();
            assert_eq!((h.status, h.chunked, h.keep_alive), (200, true, true));
            assert_eq!(body, b"abcde", "step {step}");
            assert!(r.is_done() && left == 0, "step {step}");
        }
    }

    #[test]
    fn content_length_and_excess() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcdHTTP";
        let (r, body, left) = read_all(wire, wire.len());
        assert_eq!(body, b"abcd");
        assert_eq!(r.head().unwrap().content_length, Some(4));
        assert_eq!((r.is_done(), left), (true, 4));
    }

    #[test]
    fn close_delimited_and_http10() {
        let mut r = Response::new();
        let mut body = Vec::new();
        let wire = b"HTTP/1.0 200 OK\r\n\r\nxyz";
        let fed = r.feed(wire, &mut |b| body.extend_from_slice(b)).unwrap();
        assert!(fed.head_now && !fed.done && fed.used == wire.len() - 3);
        let fed = r
            .feed(&wire[fed.used..], &mut |b| body.extend_from_slice(b))
            .unwrap();
        assert!(!fed.done && fed.used == 3);
        assert!(!r.head().unwrap().keep_alive);
        assert!(r.close_ends_body());
        assert_eq!(body, b"xyz");
        // A chunked body cut by a close did not end properly.
        let (mut r, body, _) = read_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            100,
        );
        assert_eq!(body, b"ab");
        assert!(!r.close_ends_body());
    }

    #[test]
    fn bodiless_statuses_and_connection_close() {
        let (r, _, _) = read_all(b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", 5);
        assert!(r.is_done());
        assert!(!r.head().unwrap().keep_alive);
        let (r, _, _) = read_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 64);
        assert_eq!((r.head().unwrap().status, r.is_done()), (404, true));
    }

    #[test]
    fn bad_heads_are_refused() {
        let mut r = Response::new();
        assert!(
            r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &mut |_| {})
                .is_err()
        );
        let mut r = Response::new();
        assert!(
            r.feed(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                &mut |_| {}
            )
            .is_err()
        );
        let mut r = Response::new();
        assert!(r.feed(b"garbage\r\n\r\n", &mut |_| {}).is_err());
        let mut r = Response::new();
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        let res = big
            .chunks(1000)
            .map(|c| r.feed(c, &mut |_| {}))
            .find(|r| r.is_err());
        assert!(matches!(
            res,
            Some(Err(ResponseError::HeadTooLarge)) | Some(Err(ResponseError::Head(_)))
        ));
    }
}
