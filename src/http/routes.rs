//! Request routing and the handlers, as pure functions of an [`ApiRequest`] and the [`State`].
//!
//! Owns: the URL map, request validation, the JSON error shape, the histogram accumulator and
//! the health rules. Must not: touch sockets (the server in `mod.rs` converts to and from the
//! wire) or read the clock (the injected [`Clock`](super::Clock) does).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::counters::HttpCounters;
use super::{Clock, json as body, metrics, stats};
use crate::access::{ApiError, Mode, SessionStore};
use crate::telemetry::{HistogramSet, RelayView, ShardSnapshot, aggregate};

/// Largest request body read (a session request is a few bytes of JSON).
pub const MAX_BODY: usize = 4096;

/// What the server extracted from an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The query string without `?`, possibly empty.
    pub query: String,
    /// The token of an `Authorization: Bearer` header. `Some("")` when the header is present
    /// but not a bearer token.
    pub bearer: Option<String>,
    pub body: Vec<u8>,
    /// The body was longer than [`MAX_BODY`] and was cut.
    pub body_truncated: bool,
}

/// The answer, for the server to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Shared by the HTTP worker threads.
pub struct State {
    pub view: std::sync::Arc<dyn RelayView>,
    pub store: std::sync::Arc<SessionStore>,
    pub clock: Clock,
    /// The server's own refusals, appended to `/metrics`.
    pub http: std::sync::Arc<HttpCounters>,
    hist: Mutex<Accumulator>,
    /// The last snapshot the stats routes used, and when: they are open and polled, so a
    /// flood of them costs the shards one snapshot per `STATS_MAX_AGE`, not one per request.
    stats: Mutex<Option<(Instant, Arc<Vec<ShardSnapshot>>)>>,
}

/// How old a snapshot the stats routes may answer from (their bitrate is a per-second sample).
const STATS_MAX_AGE: Duration = Duration::from_millis(500);

/// Histograms folded from the shards' deltas: `cumulative` since start (Prometheus wants
/// monotonic buckets), `interval` since the last `?reset=true`.
struct Accumulator {
    cumulative: HistogramSet,
    interval: HistogramSet,
    interval_start: Instant,
}

const JSON: &str = "application/json";
/// Prometheus text exposition format 0.0.4.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl State {
    pub fn new(
        view: std::sync::Arc<dyn RelayView>,
        store: std::sync::Arc<SessionStore>,
        clock: Clock,
        http: std::sync::Arc<HttpCounters>,
    ) -> State {
        let now = clock();
        State {
            view,
            store,
            clock,
            http,
            hist: Mutex::new(Accumulator {
                cumulative: HistogramSet::new(),
                interval: HistogramSet::new(),
                interval_start: now,
            }),
            stats: Mutex::new(None),
        }
    }

    /// A snapshot at most `STATS_MAX_AGE` old, without the histogram deltas (those stay for
    /// the operator routes). Concurrent callers wait for one snapshot instead of each asking.
    fn stats_snapshot(&self) -> Arc<Vec<ShardSnapshot>> {
        let mut cached = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let now = (self.clock)();
        if let Some((at, snaps)) = cached.as_ref()
            && now.saturating_duration_since(*at) < STATS_MAX_AGE
        {
            return snaps.clone();
        }
        let snaps = Arc::new(self.view.snapshot(false));
        *cached = Some((now, snaps.clone()));
        snaps
    }

    /// All shards' snapshots; their histogram deltas are folded into the accumulator.
    fn snapshot(&self) -> Vec<ShardSnapshot> {
        let snaps = self.view.snapshot(true);
        let mut acc = self.hist.lock().unwrap_or_else(PoisonError::into_inner);
        aggregate::merge_histograms(&snaps, &mut acc.cumulative);
        aggregate::merge_histograms(&snaps, &mut acc.interval);
        snaps
    }
}

/// Answers one request.
pub fn route(state: &State, req: &ApiRequest) -> Reply {
    match dispatch(state, req) {
        Ok(reply) => reply,
        Err(e) => error_reply(&e),
    }
}

pub fn error_reply(e: &ApiError) -> Reply {
    json_error(e.status(), &e.to_string())
}

/// The JSON error shape every failure has: `{"error": "...", "status": N}`.
pub fn json_error(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message, "status": status }))
}

fn dispatch(state: &State, req: &ApiRequest) -> Result<Reply, ApiError> {
    let path = req.path.as_str();
    let method = req.method.as_str();
    let only = |allowed: &str| -> Result<(), ApiError> {
        if method == allowed {
            Ok(())
        } else {
            Err(ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on {path}; use {allowed}"
            )))
        }
    };
    match path {
        "/metrics" | "/v1/metrics" => {
            only("GET")?;
            Ok(metrics_reply(state))
        }
        "/v1/histograms" => {
            only("GET")?;
            let reset = query_flag(&req.query, "reset")?;
            Ok(histograms_reply(state, reset))
        }
        "/v1/health" => {
            only("GET")?;
            Ok(health_reply(state))
        }
        "/v1/streams" => {
            only("GET")?;
            let snaps = state.snapshot();
            Ok(json_reply(200, &body::streams(&snaps)))
        }
        "/v1/cluster" => {
            only("GET")?;
            let status = state
                .view
                .cluster()
                .ok_or_else(|| ApiError::NotFound("[cluster] is off on this node".into()))?;
            let v = serde_json::to_value(&status).unwrap_or(Value::Null);
            Ok(json_reply(200, &v))
        }
        "/v1/connections" => {
            only("GET")?;
            let snaps = state.snapshot();
            Ok(json_reply(200, &body::connections(&snaps)))
        }
        "/stats" => {
            only("GET")?;
            Ok(json_reply(200, &stats::publishers(&state.stats_snapshot())))
        }
        _ => {
            if let Some(rest) = path.strip_prefix("/v1/streams/") {
                if let Some(name) = rest.strip_suffix("/sessions") {
                    only("POST")?;
                    return sessions(state, &decode(name)?, req);
                }
                only("GET")?;
                let name = decode(rest)?;
                let snaps = state.snapshot();
                return body::stream(&snaps, &name)
                    .map(|v| json_reply(200, &v))
                    .ok_or_else(|| ApiError::NotFound(format!("no stream {name:?}")));
            }
            if let Some(rest) = path.strip_prefix("/stats/") {
                only("GET")?;
                let name = decode(rest)?;
                return Ok(json_reply(
                    200,
                    &stats::publisher(&state.stats_snapshot(), &name),
                ));
            }
            if let Some(rest) = path.strip_prefix("/v1/connections/") {
                let id: u32 = rest.parse().map_err(|_| {
                    ApiError::BadRequest(format!("{rest:?} is not a connection id"))
                })?;
                return connection(state, method, id);
            }
            Err(ApiError::NotFound(format!("no such endpoint: {path}")))
        }
    }
}

fn metrics_reply(state: &State) -> Reply {
    let snaps = state.snapshot();
    let now = (state.clock)();
    let access = state.store.counters(now);
    let acc = state.hist.lock().unwrap_or_else(PoisonError::into_inner);
    let mut text = metrics::render(&snaps, &access, &acc.cumulative);
    if let Some(c) = state.view.cluster() {
        metrics::render_cluster(&mut text, &c);
    }
    state.http.render(&mut text);
    Reply {
        status: 200,
        content_type: PROMETHEUS,
        body: text.into_bytes(),
    }
}

/// The interval's summaries; with `reset`, a new interval starts after this answer.
fn histograms_reply(state: &State, reset: bool) -> Reply {
    // Fold the shards' latest deltas in first, so the answer is current.
    drop(state.snapshot());
    let now = (state.clock)();
    let mut acc = state.hist.lock().unwrap_or_else(PoisonError::into_inner);
    let seconds = now
        .saturating_duration_since(acc.interval_start)
        .as_secs_f64();
    let v = body::histograms(&acc.interval, seconds, reset);
    if reset {
        acc.interval.reset();
        acc.interval_start = now;
    }
    json_reply(200, &v)
}

/// 200 `ok`; 200 `full` at or past the soft connection limit (still accepting: a load
/// balancer may steer new callers elsewhere); 503 `draining` while shutting down.
fn health_reply(state: &State) -> Reply {
    let h = state.view.health();
    let full = h.soft_limit.is_some_and(|l| h.connections >= l);
    let (status, word) = if h.draining {
        (503, "draining")
    } else if full {
        (200, "full")
    } else {
        (200, "ok")
    };
    let v = json!({
        "status": word,
        "connections": h.connections,
        "soft_limit": h.soft_limit,
    });
    json_reply(status, &v)
}

fn sessions(state: &State, resource: &str, req: &ApiRequest) -> Result<Reply, ApiError> {
    // Credentials before the body: a client without a token learns nothing else.
    let bearer = req.bearer.as_deref().unwrap_or("");
    if bearer.is_empty() {
        return Err(state.store.refuse_missing_token());
    }
    let mode = session_mode(req)?;
    let now = (state.clock)();
    let s = state.store.issue(bearer, resource, mode, now)?;
    let v = json!({
        "resource_id": s.resource_id,
        "session_id": s.session_id,
        "mode": s.mode.as_str(),
        "expires_in_seconds": s.expires_in.as_secs(),
        "streamid": format!("#!::r={},m={},s={}", s.resource_id, s.mode, s.session_id),
    });
    Ok(json_reply(200, &v))
}

/// `{"mode": "publish"}` or `{"mode": "request"}`.
fn session_mode(req: &ApiRequest) -> Result<Mode, ApiError> {
    let usage = r#"body must be JSON: {"mode": "publish"} or {"mode": "request"}"#;
    if req.body_truncated {
        return Err(ApiError::BadRequest(format!(
            "body longer than {MAX_BODY} bytes; {usage}"
        )));
    }
    let v: Value =
        serde_json::from_slice(&req.body).map_err(|_| ApiError::BadRequest(usage.into()))?;
    v.get("mode")
        .and_then(Value::as_str)
        .and_then(Mode::parse)
        .ok_or_else(|| ApiError::BadRequest(usage.into()))
}

fn connection(state: &State, method: &str, id: u32) -> Result<Reply, ApiError> {
    match method {
        "GET" => {
            let snaps = state.snapshot();
            body::connection(&snaps, id)
                .map(|v| json_reply(200, &v))
                .ok_or_else(|| ApiError::NotFound(format!("no connection {id}")))
        }
        "DELETE" => {
            if state.view.close_connection(id) {
                Ok(json_reply(200, &json!({ "closed": id })))
            } else {
                Err(ApiError::NotFound(format!("no connection {id}")))
            }
        }
        other => Err(ApiError::MethodNotAllowed(format!(
            "{other} is not allowed on /v1/connections/{id}; use GET or DELETE"
        ))),
    }
}

fn json_reply(status: u16, v: &Value) -> Reply {
    let mut body = v.to_string().into_bytes();
    body.push(b'\n');
    Reply {
        status,
        content_type: JSON,
        body,
    }
}

/// `name=true|false|1|0` in a query string; absent is false.
fn query_flag(query: &str, name: &str) -> Result<bool, ApiError> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, "true"));
        if k == name {
            return match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::BadRequest(format!(
                    "`{name}` must be true or false, not {v:?}"
                ))),
            };
        }
    }
    Ok(false)
}

/// Percent-decodes a path segment (stream names may contain `/`, sent as `%2F` or as is).
fn decode(text: &str) -> Result<String, ApiError> {
    let bad = || ApiError::BadRequest(format!("bad percent-encoding in {text:?}"));
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
            let s = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| bad())?;
    if s.is_empty() {
        return Err(ApiError::BadRequest("empty stream name".into()));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("live%2Fcam1").unwrap(), "live/cam1");
        assert_eq!(decode("live/cam1").unwrap(), "live/cam1");
        assert_eq!(decode("caf%C3%A9").unwrap(), "café");
        assert!(decode("bad%2").is_err());
        assert!(decode("bad%zz").is_err());
        assert!(decode("%FF").is_err(), "not UTF-8");
        assert!(decode("").is_err());
    }

    #[test]
    fn query_flags() {
        assert!(query_flag("reset=true", "reset").unwrap());
        assert!(query_flag("a=b&reset=1", "reset").unwrap());
        assert!(query_flag("reset", "reset").unwrap());
        assert!(!query_flag("", "reset").unwrap());
        assert!(!query_flag("reset=false", "reset").unwrap());
        assert_eq!(
            query_flag("reset=maybe", "reset").unwrap_err().status(),
            400
        );
    }
}
