//! The players' HTTP listener, served by the shards: each shard accepts on its own
//! `SO_REUSEPORT` TCP socket (`shard::tcp`) and serves HTTP-TS from its local ring or replica
//! (a subscriber leg per response, `legs::http`), HLS from the stream's shared segment window,
//! and the player page. hyper parses and frames (`io.rs` adapts the shard's glommio socket);
//! routes are decided from the path alone (`routes.rs`); the shard's side (admission, legs) is
//! behind [`PlaybackHost`], implemented by the engine.
//!
//! Same robustness as the operator API: a process-wide connection cap, a head-size limit, a
//! deadline from accept (or the end of the last response) to a complete head, no request
//! bodies, and every refusal counted.

pub mod board;
pub mod body;
pub mod hls;
pub mod hls_routes;
pub mod io;
pub mod page;
pub mod routes;
pub mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use crate::config::PlaybackConfig;
use body::TsBody;

/// Why a player was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such stream (and `streams.unknown_stream = "reject"`).
    NotFound,
    /// `[access]` wants a session and none was given (`?s=`).
    Unauthorized,
    /// The session is unknown, expired or used.
    Forbidden,
    /// `[limits]` are reached.
    Full,
}

/// The shard's side of playback.
pub trait PlaybackHost {
    /// Starts an HTTP-TS player of `name` on this shard.
    fn open_ts(
        &self,
        name: &str,
        session: Option<&str>,
        peer: SocketAddr,
    ) -> Result<TsBody, Refused>;

    /// Whether `name` has a publisher now (anywhere).
    fn is_live(&self, name: &str) -> bool;

    /// The `on_play` callback's verdict on `ask` (an unconfigured one allows), or `None`
    /// while it runs: ask again a little later.
    fn authorize(&self, ask: crate::webhooks::Ask) -> Option<crate::webhooks::Verdict>;
}

/// Counters for metrics, all shards together (relaxed atomics: one add per request or frame).
#[derive(Debug, Default)]
pub struct PlaybackCounters {
    pub accepted: AtomicU64,
    /// Connections closed at accept because `playback.max_connections` were open.
    pub refused_connections: AtomicU64,
    /// Connections closed for not completing a request head in time.
    pub header_timeouts: AtomicU64,
    pub requests: AtomicU64,
    pub bad_requests: AtomicU64,
    pub not_found: AtomicU64,
    pub ts_players: AtomicU64,
    pub ts_refused: AtomicU64,
    pub ts_bytes_out: AtomicU64,
    /// Bytes of HLS segments and parts in responses.
    pub hls_bytes_out: AtomicU64,
    pub playlist_requests: AtomicU64,
    pub segment_requests: AtomicU64,
    pub part_requests: AtomicU64,
    pub page_requests: AtomicU64,
}

impl PlaybackCounters {
    pub fn totals(&self) -> crate::telemetry::PlaybackTotals {
        let g = Self::get;
        crate::telemetry::PlaybackTotals {
            accepted: g(&self.accepted),
            refused_connections: g(&self.refused_connections),
            header_timeouts: g(&self.header_timeouts),
            requests: g(&self.requests),
            bad_requests: g(&self.bad_requests),
            not_found: g(&self.not_found),
            ts_players: g(&self.ts_players),
            ts_refused: g(&self.ts_refused),
            playlist_requests: g(&self.playlist_requests),
            segment_requests: g(&self.segment_requests),
            part_requests: g(&self.part_requests),
            page_requests: g(&self.page_requests),
            hls_bytes_out: g(&self.hls_bytes_out),
        }
    }

    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What every shard's listener shares.
#[derive(Debug)]
pub struct PlaybackShared {
    pub cfg: PlaybackConfig,
    /// Every stream's HLS segments and playlist, published by its segmenter's shard.
    pub hls: hls::HlsDirectory,
    /// The engine's clock and the wall clock at start-up, for program dates.
    pub anchor: (Instant, SystemTime),
    pub board: board::Board,
    pub counters: PlaybackCounters,
    /// Open connections, all shards.
    pub connections: AtomicUsize,
    /// `playback.assets_dir`, read once at start-up (a shard never touches the disk).
    pub assets: HashMap<String, Bytes>,
}

/// Files and bytes `playback.assets_dir` may hold (a copy of hls.js and its source map).
const MAX_ASSETS: usize = 64;
const MAX_ASSET_BYTES: u64 = 16 << 20;

/// Reads the regular files directly in `dir` whose names the asset route serves.
pub fn load_assets(dir: &Path) -> std::io::Result<HashMap<String, Bytes>> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_file()
            || routes::route(&format!("/_/assets/{name}")) != routes::Route::Asset(&name)
        {
            continue;
        }
        if out.len() == MAX_ASSETS || e.metadata()?.len() > MAX_ASSET_BYTES {
            return Err(std::io::Error::other(format!(
                "{}: more than {MAX_ASSETS} files or a file over {MAX_ASSET_BYTES} bytes",
                dir.display()
            )));
        }
        out.insert(name, Bytes::from(std::fs::read(e.path())?));
    }
    Ok(out)
}

impl PlaybackShared {
    pub fn new(
        cfg: PlaybackConfig,
        shards: usize,
        anchor: (Instant, SystemTime),
        assets: HashMap<String, Bytes>,
    ) -> Arc<PlaybackShared> {
        Arc::new(PlaybackShared {
            assets,
            cfg,
            hls: hls::HlsDirectory::default(),
            anchor,
            board: board::Board::new(shards),
            counters: PlaybackCounters::default(),
            connections: AtomicUsize::new(0),
        })
    }
}
