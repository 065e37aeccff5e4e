//! `[playback]`: the shards' HTTP listener for players (MPEG-TS over HTTP today; HLS/LL-HLS
//! and the player page are to follow on the same listener), as the file has it and validated. Separate from the operator API (`[http]`):
//! players are many and anonymous, operators few and authenticated.

use std::net::SocketAddr;
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
    };
    Ok(m.enabled.then_some(cfg))
}

fn ms(key: &'static str, v: i64, lo: i64) -> Result<Duration, ConfigError> {
    in_range(key, v, lo, MAX_TIMEOUT_MS).map(Duration::from_millis)
}
