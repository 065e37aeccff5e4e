//! The operator API: Prometheus metrics, histograms, stream and connection inspection, closing
//! connections, session issuing, health.
//!
//! Owns: the HTTP server (hyper 1.x HTTP/1: requests are parsed by it, not by hand) on its own
//! thread with its own small tokio runtime, hardened like every listener (`server`: connection
//! cap, head-size limit, header and idle deadlines, an accept loop that survives EMFILE;
//! `service`: body limits, the optional operator token), and the conversion between its
//! requests and the pure `routes`. Must not: run on or block a shard: every engine call goes
//! through [`RelayView`], which messages the shards and may block only the blocking pool; no
//! async runtime is shared with the shards.
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
//!
//! With `http.token` set, every route but `/v1/health` and the session route (which has its
//! own `[access]` tokens) needs `Authorization: Bearer <http.token>`, else 401.

mod counters;
mod json;
mod metrics;
mod routes;
mod server;
mod service;
mod settings;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::access::SessionStore;
use crate::telemetry::RelayView;

pub use counters::{HttpCounters, Reject};
pub use metrics::{escape_label, render as render_metrics};
pub use routes::{ApiRequest, MAX_BODY, PROMETHEUS, Reply, State, route};
pub use settings::{HttpSettings, MIN_HEADER_BYTES};

/// Where the API reads the time (session expiry, histogram intervals). Injected so tests can
/// move time; [`system_clock`] in the binary.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Threads that run route handlers (tokio's blocking pool, bounded): a slow scrape holds one,
/// the others and the accept loop keep going. Requests past them queue, and the queue is
/// bounded by `http.max_connections` (one request at a time per HTTP/1 connection).
const BLOCKING_THREADS: usize = 4;

/// How long a stop waits for route handlers still running.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// The running server. Dropping it stops it too.
pub struct HttpHandle {
    addr: SocketAddr,
    stop: Arc<tokio::sync::Notify>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<HttpCounters>,
}

/// The monotonic clock of the OS.
pub fn system_clock() -> Clock {
    Arc::new(wall_clock)
}

/// Serves the API on `addr` with the default [`HttpSettings`] (port 0 picks a free port; see
/// [`HttpHandle::local_addr`]).
pub fn serve(
    addr: SocketAddr,
    view: Arc<dyn RelayView>,
    store: Arc<SessionStore>,
    clock: Clock,
) -> io::Result<HttpHandle> {
    serve_with(addr, HttpSettings::default(), view, store, clock)
}

/// Serves the API on `addr` with `settings`. The port is bound before this returns.
pub fn serve_with(
    addr: SocketAddr,
    settings: HttpSettings,
    view: Arc<dyn RelayView>,
    store: Arc<SessionStore>,
    clock: Clock,
) -> io::Result<HttpHandle> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("http-route")
        .build()?;
    // Registers the socket with this runtime's reactor, which the thread below drives.
    let listener = {
        let _entered = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let counters = Arc::new(HttpCounters::default());
    let state = Arc::new(State::new(view, store, clock, counters.clone()));
    let shared = Arc::new(service::Shared {
        state,
        settings,
        counters: counters.clone(),
    });
    let summary = format!(
        "at most {} connections, operator token {}",
        shared.settings.max_connections,
        if shared.settings.token.is_some() {
            "required (health and sessions open)"
        } else {
            "off"
        }
    );
    let stop = Arc::new(tokio::sync::Notify::new());
    let thread = {
        let stop = stop.clone();
        thread::Builder::new().name("http".into()).spawn(move || {
            runtime.block_on(server::accept_loop(listener, shared, stop));
            // Drops every connection task (closing its socket); a route still running on the
            // blocking pool gets a moment to finish.
            runtime.shutdown_timeout(STOP_GRACE);
        })?
    };
    log::info!("operator API listening on http://{addr} ({summary})");
    Ok(HttpHandle {
        addr,
        stop,
        thread: Some(thread),
        counters,
    })
}

impl HttpHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server refused and cut so far (also in `/metrics`).
    pub fn counters(&self) -> &HttpCounters {
        &self.counters
    }

    /// Stops accepting, closes every connection, and joins the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // A stored permit: the loop sees it even if it is not waiting right now.
        self.stop.notify_one();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            log::error!("the operator API thread panicked");
        }
    }
}

impl Drop for HttpHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The OS clock, for deadlines and log rate limits on the server's own threads.
fn wall_clock() -> Instant {
    // The HTTP threads are drivers, not the sans-IO core: they may read the clock.
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}
