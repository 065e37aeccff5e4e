//! The operator API: Prometheus metrics, histograms, stream and connection inspection, closing
//! connections, session issuing, health.
//!
//! Owns: the HTTP server (tiny_http, a maintained synchronous server: requests are parsed by
//! it, not by hand) on its own threads, and the conversion between its requests and the pure
//! `routes`. Must not: run on or block a shard: every engine call goes through
//! [`RelayView`], which messages the shards and may block only these threads; no async runtime
//! is shared with the shards.
//!
//! Endpoints (JSON unless noted; errors are `{"error": "...", "status": N}`):
//! - `GET /metrics`, `GET /v1/metrics`: Prometheus text exposition.
//! - `GET /v1/histograms[?reset=true]`: p50/p90/p99/p99.9/max/count per histogram over the
//!   current interval; `reset=true` starts a new interval after answering.
//! - `GET /v1/health`: 200 `ok`, 200 `full` (soft connection limit reached), 503 `draining`.
//! - `GET /v1/streams`, `GET /v1/streams/{name}` (`/` in a name as is or `%2F`).
//! - `GET /v1/connections`, `GET /v1/connections/{id}`, `DELETE /v1/connections/{id}`
//!   (closes it with SHUTDOWN).
//! - `POST /v1/streams/{name}/sessions` with `Authorization: Bearer <token>` and
//!   `{"mode": "publish"|"request"}`: a single-use session for the Stream ID's `s=`.

mod json;
mod metrics;
mod routes;

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::access::SessionStore;
use crate::telemetry::RelayView;

pub use metrics::{escape_label, render as render_metrics};
pub use routes::{ApiRequest, MAX_BODY, PROMETHEUS, Reply, State, route};

/// Where the API reads the time (session expiry, histogram intervals). Injected so tests can
/// move time; [`system_clock`] in the binary.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Request-handling threads: a slow client holds one, scrapes keep flowing on the other.
const WORKERS: usize = 2;

/// The running server. Dropping it stops it too.
pub struct HttpHandle {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

/// The monotonic clock of the OS.
pub fn system_clock() -> Clock {
    // The HTTP threads are drivers, not the sans-IO core: they may read the clock.
    #[allow(clippy::disallowed_methods)]
    Arc::new(Instant::now)
}

/// Serves the API on `addr` (port 0 picks a free port; see [`HttpHandle::local_addr`]).
pub fn serve(
    addr: SocketAddr,
    view: Arc<dyn RelayView>,
    store: Arc<SessionStore>,
    clock: Clock,
) -> io::Result<HttpHandle> {
    let server = tiny_http::Server::http(addr).map_err(io::Error::other)?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("HTTP server is not on an IP address"))?;
    let server = Arc::new(server);
    let state = Arc::new(State::new(view, store, clock));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(WORKERS);
    for i in 0..WORKERS {
        let (server, state, stop) = (server.clone(), state.clone(), stop.clone());
        let worker = thread::Builder::new()
            .name(format!("http-{i}"))
            .spawn(move || work(&server, &state, &stop))?;
        workers.push(worker);
    }
    log::info!("operator API listening on http://{addr}");
    Ok(HttpHandle {
        addr,
        server,
        stop,
        workers,
    })
}

impl HttpHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets each worker finish its request, and joins them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Each call wakes one thread blocked in `recv`.
        for _ in &self.workers {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            if w.join().is_err() {
                log::error!("an HTTP worker panicked");
            }
        }
    }
}

impl Drop for HttpHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn work(server: &tiny_http::Server, state: &State, stop: &AtomicBool) {
    loop {
        let req = server.recv();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match req {
            Ok(req) => handle(state, req),
            Err(e) => {
                // An accept error (e.g. out of file descriptors): do not spin on it.
                log::warn!("operator API: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn handle(state: &State, mut req: tiny_http::Request) {
    let (path, query) = match req.url().split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (req.url().to_string(), String::new()),
    };
    let bearer = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| bearer_token(h.value.as_str()));
    let mut body = Vec::new();
    let read = req
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body);
    let reply = match read {
        Ok(_) => {
            let body_truncated = body.len() > MAX_BODY;
            body.truncate(MAX_BODY);
            let api = ApiRequest {
                method: req.method().as_str().to_ascii_uppercase(),
                path,
                query,
                bearer,
                body,
                body_truncated,
            };
            route(state, &api)
        }
        Err(e) => routes::error_reply(&crate::access::ApiError::BadRequest(format!(
            "cannot read the request body: {e}"
        ))),
    };
    log::debug!("{} {} -> {}", req.method(), req.url(), reply.status);
    let response = tiny_http::Response::from_data(reply.body)
        .with_status_code(reply.status)
        .with_header(
            tiny_http::Header::from_bytes("Content-Type", reply.content_type)
                .expect("static ASCII header"),
        )
        .with_header(
            tiny_http::Header::from_bytes("Cache-Control", "no-store")
                .expect("static ASCII header"),
        );
    if let Err(e) = req.respond(response) {
        log::debug!("operator API: client went away: {e}");
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1); empty for another
/// scheme, which the session endpoint then refuses as missing.
fn bearer_token(value: &str) -> String {
    let v = value.trim();
    match v.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), "abc");
        assert_eq!(bearer_token("bearer   abc "), "abc");
        assert_eq!(bearer_token("Basic abc"), "");
        assert_eq!(bearer_token("Bearer"), "");
    }
}
