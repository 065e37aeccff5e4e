//! What the operator API's own server refused, cut or failed at, counted and rendered for
//! `/metrics`, and the rate-limited log line that goes with each refusal.
//!
//! Owns: [`HttpCounters`] (atomics shared by the accept loop, the connection tasks and the
//! request handlers) and [`Reject`], the reasons. Must not: decide what to refuse (the server
//! does) or log more than [`LOG_BURST`] lines per [`LOG_INTERVAL`]: every reason is something
//! a client can trigger at will.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::service::ratelimit::RateLimited;

/// Window of the refusal log's rate limit.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Lines per window; the rest are counted and mentioned in the next line written.
pub const LOG_BURST: u32 = 5;

/// Why a connection or request was refused or cut. `as_str` is the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// `http.max_connections` open already: 503 and close.
    ConnectionLimit,
    /// Out of file descriptors (EMFILE/ENFILE): closed at once with the spare descriptor.
    FdExhausted,
    /// The request head did not arrive whole within `http.header_timeout_ms`.
    HeaderTimeout,
    /// A kept-alive connection sent nothing for `http.idle_timeout_ms`.
    IdleTimeout,
    /// The request body did not arrive whole within `http.body_timeout_ms`.
    BodyTimeout,
    /// The request head is over `http.max_header_bytes` (431).
    HeaderTooLarge,
    /// The body is over the route's limit, declared or sent (413).
    BodyTooLarge,
    /// Not HTTP/1.x hyper can parse (400 and close).
    Malformed,
    /// `http.token` is set and the request did not carry it (401).
    Unauthorized,
}

impl Reject {
    pub const ALL: [Reject; 9] = [
        Reject::ConnectionLimit,
        Reject::FdExhausted,
        Reject::HeaderTimeout,
        Reject::IdleTimeout,
        Reject::BodyTimeout,
        Reject::HeaderTooLarge,
        Reject::BodyTooLarge,
        Reject::Malformed,
        Reject::Unauthorized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::ConnectionLimit => "connection_limit",
            Reject::FdExhausted => "fd_exhausted",
            Reject::HeaderTimeout => "header_timeout",
            Reject::IdleTimeout => "idle_timeout",
            Reject::BodyTimeout => "body_timeout",
            Reject::HeaderTooLarge => "header_too_large",
            Reject::BodyTooLarge => "body_too_large",
            Reject::Malformed => "malformed",
            Reject::Unauthorized => "unauthorized",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The server's counters. Relaxed atomics: each is an independent count for a scrape.
#[derive(Debug)]
pub struct HttpCounters {
    rejected: [AtomicU64; Reject::ALL.len()],
    accepted: AtomicU64,
    open: AtomicU64,
    accept_errors: AtomicU64,
    log: Mutex<RateLimited>,
}

impl Default for HttpCounters {
    fn default() -> Self {
        HttpCounters {
            rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            accepted: AtomicU64::new(0),
            open: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            log: Mutex::new(RateLimited::new(LOG_INTERVAL, LOG_BURST)),
        }
    }
}

impl HttpCounters {
    /// Counts a refusal and logs it (rate-limited) with `detail` (a peer address, a size).
    pub fn reject(&self, why: Reject, detail: &str, now: Instant) {
        self.rejected[why.index()].fetch_add(1, Ordering::Relaxed);
        if why == Reject::IdleTimeout {
            // Ordinary keep-alive housekeeping (a browser tab, a scraper between scrapes).
            log::debug!("operator API: closed an idle connection: {detail}");
            return;
        }
        self.log_limited(now, |held| {
            format!("operator API: refused ({}): {detail}{held}", why.as_str())
        });
    }

    /// Counts a failed `accept` (the loop backs off and keeps listening) and logs it,
    /// rate-limited.
    pub fn accept_error(&self, e: &std::io::Error, now: Instant) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
        self.log_limited(now, |held| {
            format!("operator API: accept failed: {e}; backing off, still listening{held}")
        });
    }

    pub fn rejected(&self, why: Reject) -> u64 {
        self.rejected[why.index()].load(Ordering::Relaxed)
    }

    pub fn on_open(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn on_close(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text of these counters, appended to `/metrics`.
    pub fn render(&self, out: &mut String) {
        let mut head = |name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            "srt_http_rejected_total",
            "counter",
            "Operator API connections and requests refused or cut, by reason.",
        );
        for why in Reject::ALL {
            let _ = writeln!(
                out,
                "srt_http_rejected_total{{reason=\"{}\"}} {}",
                why.as_str(),
                self.rejected(why)
            );
        }
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        one(
            "srt_http_connections_total",
            "counter",
            "Operator API TCP connections accepted under the connection limit.",
            self.accepted.load(Ordering::Relaxed),
        );
        one(
            "srt_http_connections_current",
            "gauge",
            "Operator API TCP connections open now.",
            self.open.load(Ordering::Relaxed),
        );
        one(
            "srt_http_accept_errors_total",
            "counter",
            "Failed accepts on the operator API's listener (e.g. out of file descriptors).",
            self.accept_errors.load(Ordering::Relaxed),
        );
    }

    fn log_limited(&self, now: Instant, line: impl FnOnce(String) -> String) {
        let allowed = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .allow(now);
        if let Some(held) = allowed {
            let held = if held > 0 {
                format!(" ({held} similar lines held back)")
            } else {
                String::new()
            };
            log::warn!("{}", line(held));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_rendered_and_counted() {
        let c = HttpCounters::default();
        #[allow(clippy::disallowed_methods)] // a base instant for the rate limiter
        let now = Instant::now();
        c.reject(Reject::BodyTooLarge, "test", now);
        c.reject(Reject::BodyTooLarge, "test", now);
        let mut text = String::new();
        c.render(&mut text);
        assert!(text.contains("srt_http_rejected_total{reason=\"body_too_large\"} 2"));
        for why in Reject::ALL {
            assert!(
                text.contains(&format!("reason=\"{}\"", why.as_str())),
                "{text}"
            );
        }
        assert_eq!(c.rejected(Reject::Unauthorized), 0);
    }
}
