//! Access control: tokens that may publish or play streams, and the single-use sessions they
//! hand out for the SRT handshake (`s=` in the Stream ID, draft-sharabayko-srt Appendix B).
//!
//! Owns: the typed access configuration ([`AccessConfig`]), token masking, pattern matching and
//! the [`SessionStore`]. Must not: read the clock or the OS's randomness (time comes in as
//! `now`, session ids from an injected [`SessionIdSource`]), or know about HTTP or sockets.
//! The store takes a `Mutex`: it is used by the HTTP thread and once per handshake, never per
//! packet.
//!
//! The flow: an operator's client POSTs to `/v1/streams/{id}/sessions` with a bearer token and
//! gets a session id; the caller connects with `#!::r={id},m=publish,s={session}`; the shard's
//! admission calls [`SessionStore::redeem`], which accepts it once.

#![deny(clippy::disallowed_methods)]

mod pattern;
mod store;

use std::fmt;
use std::time::Duration;

pub use pattern::Pattern;
pub use store::{AccessCounters, KeyedIds, Session, SessionIdSource, SessionStore};

/// What a session (or a token) allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Send a stream (`m=publish`).
    Publish,
    /// Play a stream (`m=request`).
    Request,
}

/// `[access]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `access.session_ttl`: how long an unused session stays valid.
    pub session_ttl: Duration,
    /// `access.max_sessions`: sessions kept at once (issued, used or not, until they expire).
    pub max_sessions: usize,
    /// `access.open_streams`: streams anyone may publish and play without a session.
    pub open_streams: Vec<Pattern>,
    /// `access.open_request_streams`: streams anyone may play without a session.
    pub open_request_streams: Vec<Pattern>,
    /// `access.tokens`; none means access control is off.
    pub tokens: Vec<TokenRule>,
}

/// One `[[access.tokens]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRule {
    /// For logs and the API's messages; the token itself never appears there.
    pub name: String,
    pub token: Secret,
    pub publish: Vec<Pattern>,
    pub request: Vec<Pattern>,
}

/// A secret string whose `Debug` and `Display` show only its first 4 characters and `…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why an API request failed; the HTTP layer maps it to a status and a JSON body. Messages never
/// contain a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: no usable credentials were sent.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: credentials were sent and are wrong or insufficient.
    #[error("{0}")]
    Forbidden(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 503: the session store is full (`access.max_sessions`), or the relay is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Publish => "publish",
            Mode::Request => "request",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "publish" => Some(Mode::Publish),
            "request" => Some(Mode::Request),
            _ => None,
        }
    }
}

/// Why a caller's credentials were refused. Neutral: each protocol answers with its own code
/// (SRT: 1401 and 1403, libsrt's `SRT_REJX_UNAUTHORIZED` and `SRT_REJX_FORBIDDEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No session presented where one is needed.
    Unauthorized,
    /// A session that is unknown, expired, used or for something else.
    Forbidden,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for AccessConfig {
    /// Access control off: no tokens; sessions would last 5 minutes.
    fn default() -> Self {
        AccessConfig {
            session_ttl: Duration::from_secs(300),
            max_sessions: 10_000,
            open_streams: Vec::new(),
            open_request_streams: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

impl AccessConfig {
    /// Whether `resource` needs no session for `mode`: access control is off (no tokens), or
    /// the stream is left open by pattern.
    pub fn is_open(&self, resource: &str, mode: Mode) -> bool {
        self.tokens.is_empty()
            || pattern::any_matches(&self.open_streams, resource)
            || (mode == Mode::Request && pattern::any_matches(&self.open_request_streams, resource))
    }
}

impl TokenRule {
    pub fn allows(&self, resource: &str, mode: Mode) -> bool {
        let patterns = match mode {
            Mode::Publish => &self.publish,
            Mode::Request => &self.request,
        };
        pattern::any_matches(patterns, resource)
    }
}

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First 4 characters and `…`: enough to tell tokens apart in a log, not to use one.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Unavailable(_) => 503,
        }
    }
}

/// First 4 characters of `s` and `…` (all of a shorter string is still hidden behind `…`).
pub fn mask(s: &str) -> String {
    let shown: String = s.chars().take(4).collect();
    if s.chars().count() <= 4 {
        "…".to_string()
    } else {
        format!("{shown}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_debug_and_display() {
        let rule = TokenRule {
            name: "studio".into(),
            token: Secret::new("s3cr3t-token-value-0123"),
            publish: vec![Pattern::new("live/*").unwrap()],
            request: vec![],
        };
        let debug = format!("{rule:?}");
        assert!(debug.contains("s3cr…"), "{debug}");
        assert!(!debug.contains("s3cr3t-token"), "{debug}");
        assert_eq!(rule.token.to_string(), "s3cr…");
        assert_eq!(mask("abc"), "…");
        assert_eq!(mask("ésté-x"), "ésté…");
    }

    #[test]
    fn open_patterns_and_token_rules() {
        let mut c = AccessConfig::default();
        assert!(c.is_open("anything", Mode::Publish), "no tokens: auth off");
        c.tokens.push(TokenRule {
            name: "t".into(),
            token: Secret::new("0123456789abcdef"),
            publish: vec![Pattern::new("live/*").unwrap()],
            request: vec![Pattern::new("*").unwrap()],
        });
        c.open_streams.push(Pattern::new("public/*").unwrap());
        c.open_request_streams
            .push(Pattern::new("watch/*").unwrap());
        assert!(!c.is_open("live/a", Mode::Publish));
        assert!(c.is_open("public/a", Mode::Publish));
        assert!(c.is_open("watch/a", Mode::Request));
        assert!(!c.is_open("watch/a", Mode::Publish));
        let t = &c.tokens[0];
        assert!(t.allows("live/a", Mode::Publish));
        assert!(!t.allows("other", Mode::Publish));
        assert!(t.allows("other", Mode::Request));
    }
}
