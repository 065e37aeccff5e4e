//! What every shard knows about its streams, put together for the player page and
//! `/_/streams.json`: a process-wide table each shard rewrites once a second (one lock per
//! shard per second, never on the packet path), read by whichever shard a browser asks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One stream as one shard sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStreamInfo {
    /// The publisher is on this shard: its session and ingress rate.
    pub publishing: Option<(u32, u64)>,
    pub srt_players: u32,
    pub http_ts_players: u32,
}

/// One stream across shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub name: String,
    pub bitrate_bps: u64,
    pub uptime: Duration,
    pub srt_players: u32,
    pub http_ts_players: u32,
}

#[derive(Debug, Default)]
struct Inner {
    shards: Vec<HashMap<String, ShardStreamInfo>>,
    /// When each live session was first reported, by (name, session).
    since: HashMap<(String, u32), Instant>,
}

#[derive(Debug, Default)]
pub struct Board {
    inner: Mutex<Inner>,
}

impl Board {
    pub fn new(shards: usize) -> Board {
        Board {
            inner: Mutex::new(Inner {
                shards: vec![HashMap::new(); shards],
                since: HashMap::new(),
            }),
        }
    }

    /// Shard `shard`'s streams now (replacing what it said before).
    pub fn update(&self, shard: usize, now: Instant, streams: HashMap<String, ShardStreamInfo>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if shard >= g.shards.len() {
            return;
        }
        g.shards[shard] = streams;
        let live: Vec<(String, u32)> = g
            .shards
            .iter()
            .flat_map(|m| {
                m.iter()
                    .filter_map(|(n, i)| i.publishing.map(|(k, _)| (n.clone(), k)))
            })
            .collect();
        g.since.retain(|k, _| live.contains(k));
        for k in live {
            g.since.entry(k).or_insert(now);
        }
    }

    /// Live streams (with a publisher somewhere), by name.
    pub fn streams(&self, now: Instant) -> Vec<StreamSummary> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_name: HashMap<&str, StreamSummary> = HashMap::new();
        for m in &g.shards {
            for (name, i) in m {
                let s = by_name.entry(name).or_insert_with(|| StreamSummary {
                    name: name.clone(),
                    bitrate_bps: 0,
                    uptime: Duration::ZERO,
                    srt_players: 0,
                    http_ts_players: 0,
                });
                s.srt_players += i.srt_players;
                s.http_ts_players += i.http_ts_players;
                if let Some((key, bps)) = i.publishing {
                    s.bitrate_bps = bps;
                    if let Some(t) = g.since.get(&(name.clone(), key)) {
                        s.uptime = now.saturating_duration_since(*t);
                    }
                }
            }
        }
        let live: Vec<&str> = g
            .shards
            .iter()
            .flat_map(|m| m.iter().filter(|(_, i)| i.publishing.is_some()))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut out: Vec<StreamSummary> = by_name
            .into_iter()
            .filter(|(n, _)| live.contains(n))
            .map(|(_, s)| s)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_and_only_live_streams_show() {
        let b = Board::new(2);
        let t = crate::srt::sim::t0();
        let info = |p: Option<(u32, u64)>, srt, http| ShardStreamInfo {
            publishing: p,
            srt_players: srt,
            http_ts_players: http,
        };
        b.update(
            0,
            t,
            [("cam".to_string(), info(Some((7, 5_000_000)), 1, 2))].into(),
        );
        b.update(
            1,
            t + Duration::from_secs(1),
            [
                ("cam".to_string(), info(None, 3, 4)),
                ("waiting".to_string(), info(None, 1, 0)),
            ]
            .into(),
        );
        let s = b.streams(t + Duration::from_secs(5));
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].name, "cam");
        assert_eq!((s[0].srt_players, s[0].http_ts_players), (4, 6));
        assert_eq!(s[0].bitrate_bps, 5_000_000);
        assert_eq!(s[0].uptime, Duration::from_secs(5));
    }
}
