//! `srt://` URLs for each tool, from one description.
//!
//! Owns: the per-tool spelling of the same SRT settings. The two tools disagree on units and
//! escaping (docs/interop-recipes.md):
//! - latency: srt-live-transmit takes MILLIseconds (`latency=200`), ffmpeg MICROseconds
//!   (`latency=200000`); a wrong unit silently gives 200 s or 0.2 ms.
//! - stream id: both pass the query value through raw, with no percent-decoding (checked on
//!   the wire: `%23!::` arrives as `%23!::`, not `#!::`). A raw `#` is fine in both (neither
//!   treats it as a URL fragment). Both split the query on `&`, so a stream id cannot contain
//!   `&`; ffmpeg also truncates query values to 255 bytes.
//! - connect timeout: ffmpeg `connect_timeout` is in milliseconds, srt-live-transmit's
//!   `conntimeo` too.
//!
//! Must not: quote for a shell. Recipes pass arguments to `Command` directly; shell users must
//! single-quote the whole URL (it contains `#`, `!`, `&`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// Which side opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Caller,
    Listener,
}

/// SRT settings common to both tools.
#[derive(Clone, Debug)]
pub struct SrtUrl {
    /// Caller: where to connect. Listener: where to bind (always 127.0.0.1 in tests).
    pub addr: SocketAddr,
    pub mode: Mode,
    /// SRTO_LATENCY (sets both receive and peer latency). `None`: libsrt's 120 ms default.
    pub latency: Option<Duration>,
    /// SRTO_STREAMID, sent by callers, e.g. `#!::r=live/cam1,m=publish`.
    pub streamid: Option<String>,
    /// SRTO_PASSPHRASE (10..=79 chars) enables AES encryption.
    pub passphrase: Option<String>,
    /// SRTO_PBKEYLEN in bytes: 16, 24 or 32.
    pub pbkeylen: Option<u32>,
    /// SRTO_CONNTIMEO: how long a caller tries to connect (libsrt default 3 s).
    pub connect_timeout: Option<Duration>,
    /// Further socket options spelled the same in both tools (e.g. `kmrefreshrate`), in order.
    pub options: Vec<(String, String)>,
}

impl SrtUrl {
    pub fn caller(addr: SocketAddr) -> Self {
        Self::new(addr, Mode::Caller)
    }

    pub fn listener(addr: SocketAddr) -> Self {
        Self::new(addr, Mode::Listener)
    }

    fn new(addr: SocketAddr, mode: Mode) -> Self {
        SrtUrl {
            addr,
            mode,
            latency: None,
            streamid: None,
            passphrase: None,
            pbkeylen: None,
            connect_timeout: None,
            options: Vec::new(),
        }
    }

    pub fn with_streamid(mut self, streamid: &str) -> Self {
        self.streamid = Some(streamid.to_owned());
        self
    }

    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    pub fn with_passphrase(mut self, passphrase: &str, pbkeylen: u32) -> Self {
        self.passphrase = Some(passphrase.to_owned());
        self.pbkeylen = Some(pbkeylen);
        self
    }

    /// A socket option both tools take under the same name and unit, such as `kmrefreshrate`
    /// and `kmpreannounce` (packets).
    pub fn with_option(mut self, key: &str, value: &str) -> Self {
        self.options.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The same settings for another address (e.g. the proxy in front of the server).
    pub fn at(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// For srt-live-transmit: latency in milliseconds.
    pub fn for_srt_live_transmit(&self) -> String {
        let mut url = self.base();
        if let Some(latency) = self.latency {
            push(&mut url, "latency", &latency.as_millis().to_string());
        }
        self.push_common(&mut url, usize::MAX);
        if let Some(timeout) = self.connect_timeout {
            push(&mut url, "conntimeo", &timeout.as_millis().to_string());
        }
        url
    }

    /// For ffmpeg/ffprobe: latency in MICROseconds.
    pub fn for_ffmpeg(&self) -> String {
        let mut url = self.base();
        if let Some(latency) = self.latency {
            push(&mut url, "latency", &latency.as_micros().to_string());
        }
        // ffmpeg 5.1 copies query values into a 256-byte buffer (av_find_info_tag).
        self.push_common(&mut url, 255);
        if let Some(timeout) = self.connect_timeout {
            push(
                &mut url,
                "connect_timeout",
                &timeout.as_millis().to_string(),
            );
        }
        url
    }

    fn base(&self) -> String {
        let mut url = format!("srt://{}", self.addr);
        if self.mode == Mode::Listener {
            push(&mut url, "mode", "listener");
        }
        url
    }

    /// Stream id and passphrase, raw: neither tool percent-decodes.
    fn push_common(&self, url: &mut String, max_value_len: usize) {
        for (key, value) in [
            ("streamid", &self.streamid),
            ("passphrase", &self.passphrase),
        ] {
            let Some(value) = value else { continue };
            assert!(
                !value.contains('&'),
                "{key} cannot contain '&' in an srt:// URL: {value:?}"
            );
            assert!(
                value.len() <= max_value_len,
                "{key} longer than {max_value_len} bytes is truncated: {value:?}"
            );
            push(url, key, value);
        }
        if let Some(len) = self.pbkeylen {
            push(url, "pbkeylen", &len.to_string());
        }
        for (key, value) in &self.options {
            push(url, key, value);
        }
    }
}

fn push(url: &mut String, key: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    let _ = write!(url, "{key}={value}");
}
