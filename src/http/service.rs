//! One HTTP request: from hyper's request to an [`ApiRequest`], through the operator token
//! check and the body limits, to the pure `routes` on the blocking pool, and back.
//!
//! Owns: the `http.token` check (constant time), which routes read a body (only the session
//! route) and how much (declared length checked before anything is read, the read capped and
//! timed), and moving route handling off the runtime thread. Must not: route (that is
//! `routes`) or call [`crate::telemetry::RelayView`] on the runtime thread: it may block.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;

use super::counters::{HttpCounters, Reject};
use super::routes::{self, ApiRequest, MAX_BODY, Reply, State};
use super::server::Activity;
use super::settings::HttpSettings;

/// What every connection task shares.
pub(super) struct Shared {
    pub state: Arc<State>,
    pub settings: HttpSettings,
    pub counters: Arc<HttpCounters>,
}

/// Answers one request. Never fails: every problem is an HTTP status.
pub(super) async fn handle(
    shared: Arc<Shared>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    activity.on_request();
    let (method, target) = (req.method().clone(), req.uri().to_string());
    let (reply, www_authenticate) = match answer(&shared, peer, req).await {
        Ok(reply) => (reply, false),
        Err(refusal) => (refusal.reply(), refusal.why == Reject::Unauthorized),
    };
    activity.on_answered();
    log::debug!("{peer} {method} {target} -> {}", reply.status);
    Ok(response(reply, www_authenticate))
}

/// A request refused before its route ran.
struct Refusal {
    why: Reject,
    status: u16,
    message: String,
}

impl Refusal {
    fn reply(&self) -> Reply {
        routes::json_error(self.status, &self.message)
    }
}

async fn answer(
    shared: &Shared,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Reply, Refusal> {
    let now = super::wall_clock();
    let refuse = |why: Reject, status: u16, message: String| {
        shared
            .counters
            .reject(why, &format!("{peer}: {message}"), now);
        Refusal {
            why,
            status,
            message,
        }
    };
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().map(bearer_token).unwrap_or_default());
    let sessions_route = is_sessions_route(&path);
    let stats_route = is_stats_route(&path);
    if stats_route && !shared.settings.stats {
        let message = format!("no such endpoint: {path} (stats.enabled = false)");
        return Ok(routes::json_error(404, &message));
    }
    if let Some(token) = &shared.settings.token
        && needs_operator_token(&path)
        // The scene switchers poll it without credentials (`stats.public`).
        && !(stats_route && shared.settings.stats_public)
    {
        let sent = bearer.as_deref().unwrap_or("");
        // Constant time in the token's content (a length mismatch is told apart early; the
        // length of a 16+ character token is no help to a guesser).
        if !bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
            let message = "this operator API needs `Authorization: Bearer <http.token>`".into();
            return Err(refuse(Reject::Unauthorized, 401, message));
        }
    }
    let method = req.method().as_str().to_ascii_uppercase();
    // Only the session route takes a body; elsewhere it is never read, whatever length is
    // declared (hyper then closes the connection instead of draining it).
    let body = if sessions_route && req.method() == Method::POST {
        read_body(shared, req, &refuse).await?
    } else {
        Vec::new()
    };
    let api = ApiRequest {
        method,
        path,
        query,
        bearer,
        body,
        body_truncated: false,
    };
    let state = shared.state.clone();
    // Routes call the engine, which may block: on tokio's bounded blocking pool, never on the
    // thread that accepts and drives connections.
    match tokio::task::spawn_blocking(move || routes::route(&state, &api)).await {
        Ok(reply) => Ok(reply),
        Err(e) => {
            log::error!("operator API: a route handler failed: {e}");
            Ok(routes::json_error(500, "internal error"))
        }
    }
}

/// The body, at most [`MAX_BODY`] bytes, within `http.body_timeout_ms`. The declared length is
/// checked first and never used to size a buffer: chunks are kept as they arrive.
async fn read_body(
    shared: &Shared,
    req: Request<Incoming>,
    refuse: &impl Fn(Reject, u16, String) -> Refusal,
) -> Result<Vec<u8>, Refusal> {
    let too_large = || format!("request body over {MAX_BODY} bytes");
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(refuse(Reject::BodyTooLarge, 413, too_large()));
    }
    let limited = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(shared.settings.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(refuse(Reject::BodyTooLarge, 413, too_large()))
        }
        Ok(Err(e)) => Err(refuse(
            Reject::Malformed,
            400,
            format!("cannot read the request body: {e}"),
        )),
        Err(_) => Err(refuse(
            Reject::BodyTimeout,
            408,
            format!(
                "request body not received within {} ms",
                shared.settings.body_timeout.as_millis()
            ),
        )),
    }
}

/// `POST /v1/streams/{name}/sessions`: authorised by its own `[access]` tokens.
fn is_sessions_route(path: &str) -> bool {
    path.strip_prefix("/v1/streams/")
        .is_some_and(|rest| rest.ends_with("/sessions"))
}

/// `GET /stats` and `/stats/{stream}`, the scene switchers' JSON.
fn is_stats_route(path: &str) -> bool {
    path == "/stats" || path.starts_with("/stats/")
}

/// Every route needs `http.token` (when set) except health, which load balancers and
/// watchdogs probe without credentials, and the session route, whose bearer is an `[access]`
/// token of an encoder or player, not the operator's.
fn needs_operator_token(path: &str) -> bool {
    path != "/v1/health" && !is_sessions_route(path)
}

fn response(reply: Reply, www_authenticate: bool) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(reply.content_type),
    );
    h.insert(
        CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    if www_authenticate {
        h.insert(
            WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
    }
    r
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
    use super::*;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), "abc");
        assert_eq!(bearer_token("bearer   abc "), "abc");
        assert_eq!(bearer_token("Basic abc"), "");
        assert_eq!(bearer_token("Bearer"), "");
    }

    #[test]
    fn which_routes_need_the_operator_token() {
        assert!(!needs_operator_token("/v1/health"));
        assert!(!needs_operator_token("/v1/streams/live/cam1/sessions"));
        assert!(needs_operator_token("/metrics"));
        assert!(needs_operator_token("/v1/streams/live/cam1"));
        assert!(needs_operator_token("/v1/connections/7"));
        assert!(needs_operator_token("/v1/nothing"));
        assert!(needs_operator_token("/v1/health/"));
    }
}
