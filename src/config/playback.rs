//! `[playback]` and `[playback.hls]`: the shards' HTTP listener for players (MPEG-TS over
//! HTTP, HLS/LL-HLS, the player page), as the file has it and validated. Separate from the operator API (`[http]`):
//! players are many and anonymous, operators few and authenticated.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::{MAX_TIMEOUT_MS, in_range, invalid, socket_addr};

/// The playback listener, validated. `Config::playback` is `None` when `playback.enabled =
/// false`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybackConfig {
    pub listen: SocketAddr,
    /// TCP connections at once, all shards together (players and playlist/segment clients).
    pub max_connections: usize,
    /// From accept (or the end of the previous response) to a complete request head.
    pub header_timeout: Duration,
    pub max_header_bytes: usize,
    /// The status a player gets when `[limits]` refuse it (503, or 404 for set-top boxes that
    /// retry forever on 5xx).
    pub refused_status: u16,
    /// Bytes an HTTP-TS player may have queued before it is skipped to the next keyframe.
    pub ts_queue_bytes: usize,
    /// A player whose queue is older than this (media time) is disconnected.
    pub max_lag: Duration,
    /// How long a hole in the publisher's numbering is held for the byte-stream legs (HTTP,
    /// the segmenter) before it is skipped: SRT's retransmission needs its latency.
    pub reorder_hold: Duration,
    /// `None`: `playback.hls.enabled = false`.
    pub hls: Option<HlsSettings>,
    /// Where the player page loads hls.js from.
    pub hls_js_url: String,
    /// Served at `/_/assets/` when set (a local copy of hls.js, for networks without a CDN).
    pub assets_dir: Option<PathBuf>,
}

/// `[playback.hls]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsSettings {
    pub target_duration: Duration,
    /// `None`: plain HLS (no LL-HLS parts).
    pub part_target: Option<Duration>,
    pub window_segments: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PlaybackModel {
    enabled: bool,
    listen: String,
    max_connections: i64,
    header_timeout_ms: i64,
    max_header_bytes: i64,
    refused_status: i64,
    ts_queue_bytes: i64,
    max_lag_ms: i64,
    reorder_hold_ms: i64,
    hls_js_url: String,
    assets_dir: String,
    hls: HlsModel,
}

impl Default for PlaybackModel {
    fn default() -> Self {
        PlaybackModel {
            enabled: true,
            listen: "0.0.0.0:8080".into(),
            max_connections: 4096,
            header_timeout_ms: 10_000,
            max_header_bytes: 8192,
            refused_status: 503,
            ts_queue_bytes: 4 << 20,
            max_lag_ms: 10_000,
            reorder_hold_ms: 250,
            hls_js_url: "https://cdn.jsdelivr.net/npm/hls.js@1.7.4/dist/hls.min.js".into(),
            assets_dir: String::new(),
            hls: HlsModel::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HlsModel {
    enabled: bool,
    target_duration_ms: i64,
    part_ms: i64,
    window_segments: i64,
}

impl Default for HlsModel {
    fn default() -> Self {
        HlsModel {
            enabled: true,
            target_duration_ms: 2000,
            part_ms: 333,
            window_segments: 6,
        }
    }
}

pub(super) fn playback(m: &PlaybackModel) -> Result<Option<PlaybackConfig>, ConfigError> {
    // Checked even when disabled, so turning it on later does not reveal an old typo.
    let listen = socket_addr("playback.listen", &m.listen)?;
    let refused_status = match m.refused_status {
        503 | 404 => m.refused_status as u16,
        _ => return Err(invalid("playback.refused_status", "must be 503 or 404")),
    };
    let hls = hls(&m.hls)?;
    if m.hls_js_url.is_empty() || m.hls_js_url.contains(['"', '<', '>', '\'', ' ']) {
        return Err(invalid(
            "playback.hls_js_url",
            "must be a URL without quotes, spaces or angle brackets",
        ));
    }
    let assets_dir = (!m.assets_dir.is_empty()).then(|| PathBuf::from(&m.assets_dir));
    let cfg = PlaybackConfig {
        listen,
        max_connections: in_range("playback.max_connections", m.max_connections, 1, 1_000_000)?
            as usize,
        header_timeout: ms("playback.header_timeout_ms", m.header_timeout_ms, 100)?,
        max_header_bytes: in_range(
            "playback.max_header_bytes",
            m.max_header_bytes,
            8192,
            1 << 20,
        )? as usize,
        refused_status,
        ts_queue_bytes: in_range(
            "playback.ts_queue_bytes",
            m.ts_queue_bytes,
            64 << 10,
            1 << 30,
        )? as usize,
        max_lag: ms("playback.max_lag_ms", m.max_lag_ms, 500)?,
        reorder_hold: ms("playback.reorder_hold_ms", m.reorder_hold_ms, 0)?,
        hls,
        hls_js_url: m.hls_js_url.clone(),
        assets_dir,
    };
    Ok(m.enabled.then_some(cfg))
}

fn hls(m: &HlsModel) -> Result<Option<HlsSettings>, ConfigError> {
    let target = in_range(
        "playback.hls.target_duration_ms",
        m.target_duration_ms,
        1000,
        30_000,
    )?;
    // RFC 8216bis §4.4.3.7: parts are much shorter than segments; 0 turns LL-HLS off.
    let part = in_range("playback.hls.part_ms", m.part_ms, 0, 5_000)?;
    if part != 0 && (part < 100 || part * 2 > target) {
        return Err(invalid(
            "playback.hls.part_ms",
            "must be 0 (no LL-HLS parts) or 100 ms to half of `playback.hls.target_duration_ms`",
        ));
    }
    let window = in_range("playback.hls.window_segments", m.window_segments, 3, 60)?;
    let s = HlsSettings {
        target_duration: Duration::from_millis(target),
        part_target: (part != 0).then(|| Duration::from_millis(part)),
        window_segments: window as usize,
    };
    Ok(m.enabled.then_some(s))
}

fn ms(key: &'static str, v: i64, lo: i64) -> Result<Duration, ConfigError> {
    in_range(key, v, lo, MAX_TIMEOUT_MS).map(Duration::from_millis)
}
