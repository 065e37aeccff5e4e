//! The operator API's hardening limits and its optional operator token, as validated values.
//!
//! Owns: [`HttpSettings`] (what `[http]` says beyond the address) and its defaults. Must not:
//! parse the file (the config module does) or act on anything (the server does).

use std::time::Duration;

use crate::access::Secret;

/// Smallest `http.max_header_bytes`: hyper needs at least this much read buffer.
pub const MIN_HEADER_BYTES: usize = 8192;

/// `[http]` beyond `enabled` and `listen`. Every key needs a restart (the server reads them
/// once at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// `http.max_connections`: open TCP connections at once; past it a newcomer gets a short
    /// 503 and is closed.
    pub max_connections: usize,
    /// `http.header_timeout_ms`: a request head (request line and headers) must arrive whole
    /// within this, counted from the connection's start or from the first byte of a follow-up
    /// request.
    pub header_timeout: Duration,
    /// `http.body_timeout_ms`: a request body (only the session route reads one) must arrive
    /// whole within this.
    pub body_timeout: Duration,
    /// `http.idle_timeout_ms`: a kept-alive connection with no request in progress is closed
    /// after this long without a byte from the client.
    pub idle_timeout: Duration,
    /// `http.max_header_bytes`: the largest request head; past it 431 and close.
    pub max_header_bytes: usize,
    /// `http.token`: when set, every operator route but `/v1/health` and the session route
    /// needs `Authorization: Bearer <token>`.
    pub token: Option<Secret>,
    /// `stats.enabled`: serve the scene switchers' stats JSON (`/stats`, `/stats/{stream}`).
    pub stats: bool,
    /// `stats.public`: the stats JSON needs no `http.token` (the tools poll it bare).
    pub stats_public: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            token: None,
            stats: true,
            stats_public: true,
        }
    }
}
