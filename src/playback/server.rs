//! One shard's accept loop and connections. Each connection is a hyper HTTP/1.1 connection on
//! the shard's executor, raced against a watchdog that closes it when no complete request head
//! arrives within `playback.header_timeout_ms` of accept or of the end of its last response
//! (slowloris, idle keep-alive). A live HTTP-TS response is not timed out: the player's lag
//! limit ends a client that stops reading.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use log::{debug, warn};

use super::body::PlayBody;
use super::io::ShardIo;
use super::routes::{Route, query_param, route};
use super::{PlaybackCounters, PlaybackHost, PlaybackShared, Refused};
use super::{hls_routes, page};

/// hyper refuses a smaller read buffer (`playback.max_header_bytes` is at least this).
const MIN_BUF: usize = 8192;
/// Kernel send buffer per connection (the kernel doubles it): about 0.4 s of a 5 Mbit/s
/// stream.
const SEND_BUFFER: usize = 256 * 1024;
/// Accept errors (EMFILE) are retried after this, so a full fd table does not spin the shard.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `listener` until the shard stops.
pub async fn serve(
    listener: glommio::net::TcpListener,
    host: Rc<dyn PlaybackHost>,
    shared: Arc<PlaybackShared>,
) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let open = shared.connections.fetch_add(1, Ordering::Relaxed);
                if open >= shared.cfg.max_connections {
                    shared.connections.fetch_sub(1, Ordering::Relaxed);
                    PlaybackCounters::add(&shared.counters.refused_connections, 1);
                    debug!("playback: connection refused: {open} open");
                    continue;
                }
                PlaybackCounters::add(&shared.counters.accepted, 1);
                glommio::spawn_local(connection(stream, host.clone(), shared.clone())).detach();
            }
            Err(e) => {
                warn!("playback: accept failed: {e}");
                glommio::timer::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Whether a response is in progress, and until when an idle connection may wait for a head.
struct Watch {
    busy: Cell<u32>,
    deadline: Cell<Instant>,
    timeout: Duration,
}

/// Held by each response's body: the connection is busy until hyper drops it.
struct Busy(Rc<Watch>);

impl Busy {
    fn new(w: &Rc<Watch>) -> Busy {
        w.busy.set(w.busy.get() + 1);
        Busy(w.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let w = &self.0;
        w.busy.set(w.busy.get().saturating_sub(1));
        w.deadline.set(crate::shard::engine::clock() + w.timeout);
    }
}

/// A response body that keeps its connection's watchdog away while it is written.
pub struct Tracked {
    inner: PlayBody,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = super::body::PlayData;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Infallible>>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn connection(
    stream: glommio::net::TcpStream,
    host: Rc<dyn PlaybackHost>,
    shared: Arc<PlaybackShared>,
) {
    struct Open(Arc<PlaybackShared>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.connections.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let _open = Open(shared.clone());
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    // Live media is written as it comes: Nagle would hold each small tail for an ACK.
    let _ = stream.set_nodelay(true);
    // A bounded kernel buffer: with autotuning it grows to megabytes (seconds of media) and
    // hides a client that stopped reading from the player's queue, which is what skips it to
    // the next keyframe and drops it when it lags too far.
    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
    let timeout = shared.cfg.header_timeout;
    let watch = Rc::new(Watch {
        busy: Cell::new(0),
        deadline: Cell::new(crate::shard::engine::clock() + timeout),
        timeout,
    });
    let svc = {
        let watch = watch.clone();
        let shared = shared.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let busy = Busy::new(&watch);
            let (host, shared) = (host.clone(), shared.clone());
            async move {
                let resp = handle(&req, &*host, &shared, peer).await;
                Ok::<_, Infallible>(resp.map(|inner| Tracked { inner, _busy: busy }))
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_buf_size(shared.cfg.max_header_bytes.max(MIN_BUF))
        .keep_alive(true)
        // Queue body chunks and write them vectored (`io::ShardIo`), never flattened into a
        // copy per connection.
        .writev(true)
        .serve_connection(ShardIo(stream), svc);
    let served = async {
        if let Err(e) = conn.await {
            debug!("playback: {peer}: {e}");
        }
    };
    let timed_out = async {
        watchdog(&watch).await;
        PlaybackCounters::add(&shared.counters.header_timeouts, 1);
        debug!(
            "playback: {peer}: no request within {} ms",
            timeout.as_millis()
        );
    };
    futures_lite::future::or(served, timed_out).await;
}

/// Returns when the connection has been idle past its deadline.
async fn watchdog(w: &Watch) {
    loop {
        let now = crate::shard::engine::clock();
        let at = w.deadline.get();
        if w.busy.get() == 0 && now >= at {
            return;
        }
        let wait = if w.busy.get() > 0 {
            w.timeout
        } else {
            at.saturating_duration_since(now)
        };
        glommio::timer::sleep(wait.max(Duration::from_millis(1))).await;
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<PlayBody> {
    let mut r = Response::new(PlayBody::full(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn handle(
    req: &Request<Incoming>,
    host: &dyn PlaybackHost,
    shared: &PlaybackShared,
    peer: SocketAddr,
) -> Response<PlayBody> {
    let c = &shared.counters;
    PlaybackCounters::add(&c.requests, 1);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        PlaybackCounters::add(&c.bad_requests, 1);
        let mut r = status(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    // Players send no bodies; one announced is refused unread (hyper closes the connection).
    if req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v != "0")
    {
        PlaybackCounters::add(&c.bad_requests, 1);
        return status(StatusCode::PAYLOAD_TOO_LARGE, "no request bodies\n");
    }
    let head = req.method() == Method::HEAD;
    let query = req.uri().query();
    let mut resp = match route(req.uri().path()) {
        Route::Ts(name) => {
            let session = query_param(query, "s");
            if head {
                if host.is_live(name) {
                    ts_head()
                } else {
                    PlaybackCounters::add(&c.not_found, 1);
                    status(StatusCode::NOT_FOUND, "no such stream\n")
                }
            } else if let Some(denied) = play_hook(host, "http", name, peer, req.uri()).await {
                PlaybackCounters::add(&c.ts_refused, 1);
                denied
            } else {
                match host.open_ts(name, session, peer) {
                    Ok(body) => {
                        PlaybackCounters::add(&c.ts_players, 1);
                        ts_response(PlayBody::Ts(body))
                    }
                    Err(r) => {
                        PlaybackCounters::add(&c.ts_refused, 1);
                        refused(r, shared)
                    }
                }
            }
        }
        Route::Playlist(name) => {
            PlaybackCounters::add(&c.playlist_requests, 1);
            match play_hook(host, "hls", name, peer, req.uri()).await {
                Some(denied) => denied,
                None => hls_routes::playlist(name, query, shared, peer).await,
            }
        }
        Route::Segment(name, msn) => {
            PlaybackCounters::add(&c.segment_requests, 1);
            hls_routes::segment(name, msn, shared).await
        }
        Route::Part(name, msn, i) => {
            PlaybackCounters::add(&c.part_requests, 1);
            hls_routes::part(name, msn, i, shared).await
        }
        Route::Index => {
            PlaybackCounters::add(&c.page_requests, 1);
            html(page::index().to_string())
        }
        Route::Page(name) if host.is_live(name) || shared.hls.get(name).is_some() => {
            PlaybackCounters::add(&c.page_requests, 1);
            html(page::player(name, &shared.cfg.hls_js_url))
        }
        Route::StreamsJson => {
            let mut r = Response::new(PlayBody::full(page::streams_json(
                shared,
                crate::shard::engine::clock(),
            )));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Route::Asset(file) => match shared.assets.get(file) {
            Some(b) => {
                let mut r = Response::new(PlayBody::full(b.clone()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset_type(file)),
                );
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                );
                r
            }
            None => {
                PlaybackCounters::add(&c.not_found, 1);
                status(StatusCode::NOT_FOUND, "not found\n")
            }
        },
        Route::Page(_) | Route::NotFound => {
            PlaybackCounters::add(&c.not_found, 1);
            status(StatusCode::NOT_FOUND, "not found\n")
        }
    };
    resp.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("srtrelay"));
    if head {
        *resp.body_mut() = PlayBody::empty();
    }
    resp
}

fn html(body: String) -> Response<PlayBody> {
    let mut r = Response::new(PlayBody::full(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn asset_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, e)| e) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

pub(super) fn status_response(code: StatusCode, text: &'static str) -> Response<PlayBody> {
    status(code, text)
}

fn ts_headers(r: &mut Response<PlayBody>) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    // A live stream: every request is a new join; a cache must not replay one.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store"),
    );
}

fn ts_response(body: PlayBody) -> Response<PlayBody> {
    let mut r = Response::new(body);
    ts_headers(&mut r);
    r
}

fn ts_head() -> Response<PlayBody> {
    let mut r = Response::new(PlayBody::empty());
    ts_headers(&mut r);
    r
}

fn refused(r: Refused, shared: &PlaybackShared) -> Response<PlayBody> {
    match r {
        Refused::NotFound => status(StatusCode::NOT_FOUND, "no such stream\n"),
        Refused::Unauthorized => status(StatusCode::UNAUTHORIZED, "a session is required (?s=)\n"),
        Refused::Forbidden => status(StatusCode::FORBIDDEN, "session refused\n"),
        Refused::Full if shared.cfg.refused_status == 404 => {
            status(StatusCode::NOT_FOUND, "no such stream\n")
        }
        Refused::Full => {
            let mut r = status(StatusCode::SERVICE_UNAVAILABLE, "full\n");
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
    }
}

/// How often a request waiting for its `on_play` callback looks for the answer, and how long
/// it waits at most (the callback thread answers within `webhooks.timeout_ms`, at most 30 s).
const HOOK_POLL: std::time::Duration = std::time::Duration::from_millis(20);
const HOOK_WAIT: std::time::Duration = std::time::Duration::from_secs(35);

/// Asks the `on_play` callback about a player; `Some` is the refusal to answer with. Waits
/// in this connection's task only: the shard serves everyone else meanwhile.
async fn play_hook(
    host: &dyn PlaybackHost,
    protocol: &'static str,
    name: &str,
    peer: SocketAddr,
    uri: &hyper::Uri,
) -> Option<Response<PlayBody>> {
    use crate::webhooks::{Ask, Deny, Hook, Verdict};
    let mut ask = Ask::new(Hook::Play, protocol, name, Some(peer)).with("path", uri.path());
    if let Some(q) = uri.query() {
        ask = ask.with("query", q);
    }
    let mut verdict = Verdict::Deny(Deny::Timeout);
    for _ in 0..=HOOK_WAIT.as_millis() / HOOK_POLL.as_millis() {
        if let Some(v) = host.authorize(ask.clone()) {
            verdict = v;
            break;
        }
        glommio::timer::sleep(HOOK_POLL).await;
    }
    let d = match verdict {
        Verdict::Allow => return None,
        Verdict::Deny(d) => d,
    };
    log::info!("playback: webhook refused {protocol} player of {name:?} from {peer}: {d:?}");
    Some(match d {
        Deny::Status(401) => status(StatusCode::UNAUTHORIZED, "refused by on_play\n"),
        Deny::Status(404) => status(StatusCode::NOT_FOUND, "no such stream\n"),
        Deny::Status(500..) | Deny::Timeout | Deny::Failed => {
            status(StatusCode::BAD_GATEWAY, "on_play callback failed\n")
        }
        Deny::Busy => status(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many pending callbacks\n",
        ),
        Deny::Status(_) => status(StatusCode::FORBIDDEN, "refused by on_play\n"),
    })
}
