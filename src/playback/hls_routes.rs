//! The HLS requests: the media playlist (with RFC 8216bis §6.2.5.2 blocking reload:
//! `_HLS_msn`, `_HLS_part`), segments and parts (a part the playlist hints at is held until it
//! exists, §6.2.6). Everything comes from the stream's latest shared snapshot; a held request
//! waits on the stream's wakers with a bound of three target durations.

use std::net::SocketAddr;
use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::body::PlayBody;
use super::hls::wait_until;
use super::routes::query_param;
use super::server::status_response as status;
use super::{PlaybackCounters, PlaybackShared};
use crate::media::hls::Availability;

/// How long a held request may wait: §6.2.5.2 lets a server answer 503 after three target
/// durations.
fn hold_limit(shared: &PlaybackShared) -> Duration {
    shared
        .cfg
        .hls
        .map_or(Duration::from_secs(6), |h| 3 * h.target_duration)
}

/// Segments and parts never change: a CDN may keep them as long as the window lists them and
/// more.
const MEDIA_CACHE: &str = "public, max-age=60, immutable";

pub async fn playlist(
    name: &str,
    query: Option<&str>,
    shared: &PlaybackShared,
    peer: SocketAddr,
) -> Response<PlayBody> {
    let Some(stream) = shared.hls.get(name) else {
        return status(StatusCode::NOT_FOUND, "no such stream\n");
    };
    stream.seen(peer.ip(), crate::shard::engine::clock());
    let msn = query_param(query, "_HLS_msn");
    let part = query_param(query, "_HLS_part");
    let (msn, part) = match (msn.map(str::parse::<u64>), part.map(str::parse::<u32>)) {
        (None, None) => (None, None),
        (Some(Ok(m)), None) => (Some(m), None),
        (Some(Ok(m)), Some(Ok(p))) => (Some(m), Some(p)),
        // §6.2.5.2: _HLS_part without _HLS_msn, or values that do not parse.
        _ => return status(StatusCode::BAD_REQUEST, "bad _HLS_msn/_HLS_part\n"),
    };
    let limit = hold_limit(shared);
    let answer = wait_until(&stream, limit, |s| match msn {
        None => s.is_ready().then_some(Ok(())),
        Some(m) => match s.has(m, part) {
            Availability::Ready | Availability::Gone => Some(Ok(())),
            Availability::TooFarAhead => Some(Err(())),
            Availability::NotYet => None,
        },
    })
    .await;
    let snap = match (answer, stream.snapshot()) {
        (Some(Ok(())), Some(s)) => s,
        (Some(Err(())), _) => {
            return status(StatusCode::BAD_REQUEST, "_HLS_msn is too far ahead\n");
        }
        _ => return unavailable(),
    };
    let mut r = Response::new(PlayBody::full(snap.playlist_bytes()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    // A blocking request's answer is the playlist at (or after) that part: cacheable for a
    // moment under its unique query. The plain playlist changes with every part.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if msn.is_some() {
            "public, max-age=1"
        } else {
            "no-cache"
        }),
    );
    r
}

pub async fn segment(name: &str, msn: u64, shared: &PlaybackShared) -> Response<PlayBody> {
    let Some(stream) = shared.hls.get(name) else {
        return status(StatusCode::NOT_FOUND, "no such stream\n");
    };
    let found = wait_until(&stream, hold_limit(shared), |s| match s.has_segment(msn) {
        Availability::Ready => s.segment(msn).map(Some),
        Availability::NotYet => None,
        Availability::Gone | Availability::TooFarAhead => Some(None),
    })
    .await;
    match found {
        Some(Some(bytes)) => {
            PlaybackCounters::add(&shared.counters.hls_bytes_out, bytes.len() as u64);
            media(PlayBody::Media(Some(bytes)))
        }
        Some(None) => status(StatusCode::NOT_FOUND, "no such segment\n"),
        None => unavailable(),
    }
}

pub async fn part(name: &str, msn: u64, index: u32, shared: &PlaybackShared) -> Response<PlayBody> {
    let Some(stream) = shared.hls.get(name) else {
        return status(StatusCode::NOT_FOUND, "no such stream\n");
    };
    let found = wait_until(&stream, hold_limit(shared), |s| {
        match s.has_part(msn, index) {
            Availability::Ready => s.part(msn, index).map(Some),
            Availability::NotYet => None,
            Availability::Gone | Availability::TooFarAhead => Some(None),
        }
    })
    .await;
    match found {
        Some(Some(bytes)) => {
            PlaybackCounters::add(&shared.counters.hls_bytes_out, bytes.len() as u64);
            media(PlayBody::full(bytes))
        }
        Some(None) => status(StatusCode::NOT_FOUND, "no such part\n"),
        None => unavailable(),
    }
}

fn media(body: PlayBody) -> Response<PlayBody> {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp2t"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(MEDIA_CACHE));
    r
}

fn unavailable() -> Response<PlayBody> {
    let mut r = status(StatusCode::SERVICE_UNAVAILABLE, "not available yet\n");
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}
