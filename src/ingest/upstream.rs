//! The upstream URLs of pulled inputs (`[[inputs]] urls`): parsed into a typed [`Upstream`],
//! and shown with their secrets masked.
//!
//! Owns: the grammar of each kind (what is accepted, what is refused and where), percent-
//! decoding where a kind needs it, and the display form for logs and `/v1/streams`. Must not:
//! resolve names (host names stay names here and are resolved later, off the shard), open
//! anything, or look at the file system (the config checks once, at load, that files exist).

#![deny(clippy::disallowed_methods)]

mod text;

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use crate::srt::crypto::{KeyLen, Passphrase};
use text::{MASK, mask_secrets, percent_decode, percent_encode};

/// Longest URL accepted: far beyond any real one, and it bounds every copy made here.
pub const MAX_URL_LEN: usize = 4096;
/// `sun_path` is 108 bytes on Linux, one of them the terminating NUL.
pub const MAX_UNIX_PATH_LEN: usize = 107;
/// The Stream ID limit of draft-sharabayko-srt §3.2.1.3.
pub const MAX_STREAM_ID_LEN: usize = 512;

/// One upstream of a pulled input. `Display` masks secrets; `Debug` shows the same masked
/// form, so a config printed with `{:?}` leaks nothing either.
#[derive(Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `http://` or `https://`: a GET whose body (chunked or not) is MPEG-TS.
    Http {
        /// As written; keep it out of logs (the display form masks it).
        url: String,
        /// A name or an IP literal (IPv6 without brackets).
        host: String,
        /// 80 or 443 unless given.
        port: u16,
        /// For the request line: starts with `/`, printable ASCII, no fragment.
        path_and_query: String,
        tls: bool,
    },
    /// `tcp://host:port`: the relay connects and reads MPEG-TS.
    Tcp(HostPort),
    /// `udp://addr:port`: datagrams received on `group_or_addr`: a multicast group to join, or
    /// a local unicast address (`0.0.0.0` for any) that a sender sends to.
    Udp {
        group_or_addr: SocketAddr,
        /// `?source=`: a source-specific join (SSM, RFC 4607); multicast groups only.
        source: Option<IpAddr>,
        /// `?interface=`: the local IPv4 address whose interface joins; IPv4 groups only.
        interface: Option<Ipv4Addr>,
    },
    /// `unix:///path`: a stream socket the relay connects to.
    Unix(PathBuf),
    /// `file:///path.ts`: read and paced in real time by its PCR.
    File(PathBuf),
    /// `stdin`, `-` or `stdin://`.
    Stdin,
    /// `srt://host:port?...`: the relay calls another SRT server (caller mode) and requests a
    /// stream, as `srt-live-transmit` and ffmpeg would.
    Srt {
        host: String,
        port: u16,
        /// `?streamid=`, percent-decoded (`%23%21%3A%3Ar=live/x` is `#!::r=live/x`).
        stream_id: Option<String>,
        /// `?passphrase=`; 10 to 79 bytes.
        passphrase: Option<Passphrase>,
        /// `?latency=` in milliseconds (as libsrt's `SRTO_LATENCY` and srt-live-transmit;
        /// ffmpeg's `latency` option is in microseconds). `None`: the relay's default.
        latency: Option<Duration>,
        /// `?pbkeylen=` 16, 24 or 32; only with a passphrase. `None`: libsrt's default (16).
        pbkeylen: Option<KeyLen>,
    },
}

/// A host (a name or an IP literal, IPv6 without brackets) and a port, not resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

/// Why a URL was refused: which part of it, and what is wrong there. Never quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {reason}")]
pub struct UpstreamError {
    pub part: UrlPart,
    pub reason: String,
}

/// Where in a URL an [`UpstreamError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPart {
    Url,
    Scheme,
    Host,
    Port,
    Path,
    Query,
}

impl Upstream {
    /// Parses one URL of `[[inputs]] urls`. Host names are accepted for tcp, http(s) and srt
    /// (resolved when connecting); udp takes IP addresses only (a group is joined, a local
    /// address bound: neither is looked up).
    pub fn parse(url: &str) -> Result<Upstream, UpstreamError> {
        if matches!(url, "stdin" | "-" | "stdin://") {
            return Ok(Upstream::Stdin);
        }
        if url.len() > MAX_URL_LEN {
            return Err(err(
                UrlPart::Url,
                format!("{} bytes; at most {MAX_URL_LEN}", url.len()),
            ));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(err(
                UrlPart::Scheme,
                "expected scheme://..., such as srt://host:port or http://host/path.ts",
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" => http(url, rest, false),
            "https" => http(url, rest, true),
            "tcp" => tcp(rest),
            "udp" => udp(rest),
            "unix" => local_path(rest, "unix").and_then(unix),
            "file" => local_path(rest, "file").and_then(file),
            "srt" => srt(rest),
            "stdin" => Err(err(UrlPart::Path, "stdin takes nothing after stdin://")),
            "rtmp" | "rtmps" => Err(err(
                UrlPart::Scheme,
                "pulling RTMP is not supported; have the encoder publish to the relay's [rtmp] \
                 listener",
            )),
            _ => Err(err(
                UrlPart::Scheme,
                format!(
                    "{scheme:?} is not one of http, https, tcp, udp, unix, file, srt \
                     (or stdin)"
                ),
            )),
        }
    }

    /// The scheme, for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Upstream::Http { tls: false, .. } => "http",
            Upstream::Http { tls: true, .. } => "https",
            Upstream::Tcp(_) => "tcp",
            Upstream::Udp { .. } => "udp",
            Upstream::Unix(_) => "unix",
            Upstream::File(_) => "file",
            Upstream::Stdin => "stdin",
            Upstream::Srt { .. } => "srt",
        }
    }

    /// Whether the display form hides something (then it does not parse back to `self`).
    pub fn has_secrets(&self) -> bool {
        match self {
            Upstream::Http { url, .. } => mask_secrets(url) != *url,
            Upstream::Srt {
                stream_id,
                passphrase,
                ..
            } => passphrase.is_some() || stream_id.as_ref().is_some_and(|s| mask_secrets(s) != *s),
            _ => false,
        }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Http { url, .. } => f.write_str(&mask_secrets(url)),
            Upstream::Tcp(hp) => write!(f, "tcp://{hp}"),
            Upstream::Udp {
                group_or_addr,
                source,
                interface,
            } => {
                write!(f, "udp://{group_or_addr}")?;
                let mut sep = '?';
                if let Some(s) = source {
                    write!(f, "{sep}source={s}")?;
                    sep = '&';
                }
                if let Some(i) = interface {
                    write!(f, "{sep}interface={i}")?;
                }
                Ok(())
            }
            Upstream::Unix(p) => write!(f, "unix://{}", percent_encode(p.as_os_str().as_bytes())),
            Upstream::File(p) => write!(f, "file://{}", percent_encode(p.as_os_str().as_bytes())),
            Upstream::Stdin => f.write_str("stdin"),
            Upstream::Srt {
                host,
                port,
                stream_id,
                passphrase,
                latency,
                pbkeylen,
            } => {
                write!(f, "srt://{}", HostPort::display(host, *port))?;
                let mut sep = '?';
                let mut param = |f: &mut fmt::Formatter<'_>, kv: String| {
                    let r = write!(f, "{sep}{kv}");
                    sep = '&';
                    r
                };
                if let Some(s) = stream_id {
                    let shown = percent_encode(mask_secrets(s).as_bytes());
                    param(f, format!("streamid={shown}"))?;
                }
                if passphrase.is_some() {
                    param(f, format!("passphrase={MASK}"))?;
                }
                if let Some(l) = latency {
                    param(f, format!("latency={}", l.as_millis()))?;
                }
                if let Some(k) = pbkeylen {
                    param(f, format!("pbkeylen={}", k.bytes()))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Upstream({self})")
    }
}

impl HostPort {
    fn display(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&HostPort::display(&self.host, self.port))
    }
}

impl fmt::Display for UrlPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlPart::Url => "URL",
            UrlPart::Scheme => "scheme",
            UrlPart::Host => "host",
            UrlPart::Port => "port",
            UrlPart::Path => "path",
            UrlPart::Query => "query",
        })
    }
}

fn err(part: UrlPart, reason: impl Into<String>) -> UpstreamError {
    UpstreamError {
        part,
        reason: reason.into(),
    }
}

/// The authority (up to the first `/`, `?` or `#`) and what follows it.
fn split_authority(rest: &str) -> (&str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.split_at(end)
}

fn http(url: &str, rest: &str, tls: bool) -> Result<Upstream, UpstreamError> {
    // Whatever is here ends up in a request line: nothing the server could read as a break.
    if let Some((i, c)) = url.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(err(
            UrlPart::Url,
            format!(
                "{c:?} at byte {} must be percent-encoded (no spaces, control or non-ASCII \
                 characters)",
                i + 1
            ),
        ));
    }
    let (authority, tail) = split_authority(rest);
    let (host, port) = host_port(authority, Some(if tls { 443 } else { 80 }))?;
    let without_fragment = tail.split('#').next().unwrap_or("");
    let path_and_query = if without_fragment.starts_with('/') {
        without_fragment.to_string()
    } else {
        format!("/{without_fragment}")
    };
    Ok(Upstream::Http {
        url: url.to_string(),
        host,
        port,
        path_and_query,
        tls,
    })
}

fn tcp(rest: &str) -> Result<Upstream, UpstreamError> {
    let (authority, tail) = split_authority(rest);
    let (host, port) = host_port(authority, None)?;
    if !matches!(tail, "" | "/") {
        return Err(err(
            UrlPart::Path,
            "tcp URLs take no path or query: tcp://host:port",
        ));
    }
    Ok(Upstream::Tcp(HostPort { host, port }))
}

fn udp(rest: &str) -> Result<Upstream, UpstreamError> {
    // `udp://@239.1.1.1:5000` is VLC's way of saying "receive", and the same thing here.
    let rest = rest.strip_prefix('@').unwrap_or(rest);
    let (authority, tail) = split_authority(rest);
    let authority = match authority.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"), // `udp://:5000`: any local address
        None => authority.to_string(),
    };
    let (host, port) = host_port(&authority, None)?;
    let ip: IpAddr = host.parse().map_err(|_| {
        err(
            UrlPart::Host,
            format!(
                "{host:?} is not an IP address: udp takes a multicast group or a local address \
                 (names are not resolved)"
            ),
        )
    })?;
    let query = query_of(tail, "udp")?;
    let (mut source, mut interface) = (None, None);
    for (key, value) in query_pairs(query)? {
        match key.as_str() {
            "source" => {
                let s: IpAddr = value.parse().map_err(|_| {
                    err(
                        UrlPart::Query,
                        format!("source={value:?} is not an IP address"),
                    )
                })?;
                if !ip.is_multicast() {
                    return Err(err(
                        UrlPart::Query,
                        "source= (a source-specific join) needs a multicast group address",
                    ));
                }
                if s.is_ipv4() != ip.is_ipv4() || s.is_multicast() || s.is_unspecified() {
                    return Err(err(
                        UrlPart::Query,
                        format!(
                            "source={s} must be a unicast address of the group's family \
                             (IPv{})",
                            if ip.is_ipv4() { 4 } else { 6 }
                        ),
                    ));
                }
                source = Some(s);
            }
            "interface" => {
                let i: Ipv4Addr = value.parse().map_err(|_| {
                    err(
                        UrlPart::Query,
                        format!("interface={value:?} is not an IPv4 address"),
                    )
                })?;
                if !(ip.is_ipv4() && ip.is_multicast()) {
                    return Err(err(
                        UrlPart::Query,
                        "interface= picks where an IPv4 multicast group is joined; this \
                         address is not one",
                    ));
                }
                interface = Some(i);
            }
            other => return Err(unknown_key(other, &["source", "interface"])),
        }
    }
    Ok(Upstream::Udp {
        group_or_addr: SocketAddr::new(ip, port),
        source,
        interface,
    })
}

/// The absolute path of a `unix://` or `file://` URL, percent-decoded (RFC 8089 §2; the only
/// host allowed is `localhost`).
fn local_path(rest: &str, scheme: &str) -> Result<PathBuf, UpstreamError> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(err(
            UrlPart::Path,
            format!("{scheme} URLs take an absolute path: {scheme}:///path/to/it"),
        ));
    }
    if path.contains(['?', '#']) {
        return Err(err(
            UrlPart::Path,
            "no query or fragment here; in a file name write ? as %3F and # as %23",
        ));
    }
    let bytes = percent_decode(path).map_err(|e| err(UrlPart::Path, e))?;
    if bytes.contains(&0) {
        return Err(err(UrlPart::Path, "a path cannot contain %00"));
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

fn unix(path: PathBuf) -> Result<Upstream, UpstreamError> {
    let len = path.as_os_str().len();
    if len > MAX_UNIX_PATH_LEN {
        return Err(err(
            UrlPart::Path,
            format!("{len} bytes; a Unix socket path is at most {MAX_UNIX_PATH_LEN}"),
        ));
    }
    Ok(Upstream::Unix(path))
}

fn file(path: PathBuf) -> Result<Upstream, UpstreamError> {
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(err(UrlPart::Path, "names a directory, not a file"));
    }
    Ok(Upstream::File(path))
}

fn srt(rest: &str) -> Result<Upstream, UpstreamError> {
    // Stream IDs are often written with a bare `#!::`: a fragment means nothing to SRT, so
    // `#` is part of the query here.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = host_port(authority, None)?;
    let query = query_of(tail, "srt")?;
    let (mut stream_id, mut passphrase, mut latency, mut pbkeylen) = (None, None, None, None);
    for (key, value) in query_pairs(query)? {
        match key.as_str() {
            "streamid" => {
                if value.is_empty() || value.len() > MAX_STREAM_ID_LEN {
                    return Err(err(
                        UrlPart::Query,
                        format!("streamid must be 1 to {MAX_STREAM_ID_LEN} bytes"),
                    ));
                }
                stream_id = Some(value);
            }
            "passphrase" => {
                let p = Passphrase::new(value).map_err(|e| err(UrlPart::Query, e.to_string()))?;
                passphrase = Some(p);
            }
            "latency" => {
                let ms = digits(&value).filter(|ms| *ms <= 65_535).ok_or_else(|| {
                    err(
                        UrlPart::Query,
                        format!("latency={value:?} must be 0 to 65535 milliseconds"),
                    )
                })?;
                latency = Some(Duration::from_millis(ms));
            }
            "pbkeylen" => {
                let k = digits(&value)
                    .and_then(|n| KeyLen::from_bytes(n as usize))
                    .ok_or_else(|| {
                        err(
                            UrlPart::Query,
                            format!("pbkeylen={value:?} must be 16, 24 or 32"),
                        )
                    })?;
                pbkeylen = Some(k);
            }
            "mode" if value == "caller" => {}
            "mode" => {
                return Err(err(
                    UrlPart::Query,
                    format!(
                        "mode={value:?}: a pulled input calls its upstream (mode=caller); \
                         listener and rendezvous are not supported"
                    ),
                ));
            }
            other => {
                return Err(unknown_key(
                    other,
                    &["streamid", "passphrase", "latency", "pbkeylen", "mode"],
                ));
            }
        }
    }
    if pbkeylen.is_some() && passphrase.is_none() {
        return Err(err(UrlPart::Query, "pbkeylen needs a passphrase"));
    }
    Ok(Upstream::Srt {
        host,
        port,
        stream_id,
        passphrase,
        latency,
        pbkeylen,
    })
}

/// The query after an optional `/`; any other path is refused.
fn query_of<'a>(tail: &'a str, scheme: &str) -> Result<&'a str, UpstreamError> {
    let tail = tail.strip_prefix('/').unwrap_or(tail);
    if tail.is_empty() {
        return Ok("");
    }
    tail.strip_prefix('?').ok_or_else(|| {
        err(
            UrlPart::Path,
            format!("{scheme} URLs have no path, only ?key=value options"),
        )
    })
}

/// `key=value` pairs split on `&`, both percent-decoded; each key at most once.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, UpstreamError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(err(
                UrlPart::Query,
                format!("{:?} has no =value", short(pair)),
            ));
        };
        let utf8 = |s: &str| {
            let bytes = percent_decode(s).map_err(|e| err(UrlPart::Query, e))?;
            String::from_utf8(bytes).map_err(|_| {
                err(
                    UrlPart::Query,
                    "a value decodes to bytes that are not UTF-8",
                )
            })
        };
        let (k, v) = (utf8(k)?, utf8(v)?);
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(err(
                UrlPart::Query,
                format!("{:?} is given twice", short(&k)),
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn unknown_key(key: &str, known: &[&str]) -> UpstreamError {
    err(
        UrlPart::Query,
        format!(
            "unknown option {:?} (known: {})",
            short(key),
            known.join(", ")
        ),
    )
}

/// A key quoted in an error, cut so a pasted secret without its `=` is not echoed whole.
fn short(s: &str) -> String {
    let cut: String = s.chars().take(24).collect();
    if text::is_secret_key(s) || cut.len() < s.len() {
        format!("{}…", s.chars().take(4).collect::<String>())
    } else {
        cut
    }
}

/// A decimal number of ASCII digits only (`str::parse` would take a leading `+`).
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `host[:port]`, `[v6][:port]`; `default` when the port is left out (an error if `None`).
fn host_port(authority: &str, default: Option<u16>) -> Result<(String, u16), UpstreamError> {
    if authority.contains('@') {
        return Err(err(
            UrlPart::Host,
            "user:password@ is not supported (pass a token in the query instead)",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6
            .split_once(']')
            .ok_or_else(|| err(UrlPart::Host, "an IPv6 address opened with [ is not closed"))?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(err(
                UrlPart::Host,
                format!(
                    "[{}] is not an IPv6 address (zone ids are not supported)",
                    short(inside)
                ),
            ));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| err(UrlPart::Port, "expected :port after the IPv6 address"))?,
            ),
        };
        (inside.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((_, p)) if p.contains(':') => {
                return Err(err(
                    UrlPart::Host,
                    "an IPv6 address needs brackets: [2001:db8::1]:9000",
                ));
            }
            Some((h, p)) => (hostname(h)?, Some(p)),
            None => (hostname(authority)?, None),
        }
    };
    let port = match (port, default) {
        (Some(p), _) => digits(p)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0)
            .ok_or_else(|| {
                err(
                    UrlPart::Port,
                    format!("{:?} is not a port (1 to 65535)", short(p)),
                )
            })?,
        (None, Some(d)) => d,
        (None, None) => return Err(err(UrlPart::Port, "a port is needed: host:port")),
    };
    Ok((host, port))
}

/// A DNS name (RFC 1123 labels, `_` tolerated) or an IPv4 literal.
fn hostname(h: &str) -> Result<String, UpstreamError> {
    if h.is_empty() {
        return Err(err(UrlPart::Host, "no host"));
    }
    let numeric = h.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if numeric {
        return h.parse::<Ipv4Addr>().map(|_| h.to_string()).map_err(|_| {
            err(
                UrlPart::Host,
                format!("{:?} is not an IPv4 address", short(h)),
            )
        });
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(err(
            UrlPart::Host,
            format!("{:?} is not a host name or IP address", short(h)),
        ));
    }
    Ok(h.to_string())
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
