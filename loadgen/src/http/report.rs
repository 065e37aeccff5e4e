//! The `loadgen http` report: what `--json` prints and the table, in the style of the SRT
//! report (units in the names; "MB" is 10^6 bytes, rates are body bytes per second).
//!
//! Owns: the shape and the text. Must not: compute anything but formatting (`http::aggregate`
//! fills it in).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::Mode;
use crate::report::Latency;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpReport {
    pub run: HttpRunSummary,
    pub players: HttpPlayers,
    pub rates: Rates,
    /// Each player's start to the first byte of its first response (a playlist for HLS).
    pub ttfb: Latency,
    /// TS: each connection's request to its first PAT.
    pub first_pat: Latency,
    pub ts: Option<TsSummary>,
    pub hls: Option<HlsSummary>,
    /// The `--relay-pid` processes, summed, over the window.
    pub relay: Option<ProcsUsage>,
    pub loadgen: HttpLoadgenUsage,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpRunSummary {
    pub url: String,
    pub mode: Mode,
    pub players: u32,
    pub streams: u32,
    pub threads: usize,
    pub read_rate_bps: Option<u64>,
    pub slow_fraction: f64,
    pub bitrate_mbps: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Until every player had a first response (or the connect budget ran out).
    pub connect_s: f64,
    /// The measured window.
    pub window_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpPlayers {
    pub count: u64,
    pub slow: u64,
    /// Players that had a response with status 200.
    pub connected: u64,
    /// Receiving at the end of the window (TS: stream open and flowing; HLS: last playlist
    /// fresh).
    pub playing_at_end: u64,
    /// Responses cut off by the server or a stall (TS: a stream that ended).
    pub disconnects: u64,
    /// Responses with a status other than 200.
    pub http_errors: u64,
    /// Every failure by reason, each counted once: statuses, connect errors, timeouts,
    /// disconnects, framing, bad playlists.
    pub failures: BTreeMap<String, u64>,
    /// Mean per-player share of what it should have had, normal players: TS bytes against
    /// `--bitrate` (or the median player), HLS fetched / (fetched + gaps + failed fetches).
    /// What `--expect-delivery` checks.
    pub delivery_pct: f64,
}

/// Per-player receive rates in the window, bytes per second.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub count: u64,
    pub min_bps: f64,
    pub median_bps: f64,
    pub max_bps: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Rates {
    pub normal: Spread,
    /// The `--read-rate` players.
    pub slow: Spread,
    pub total_bytes: u64,
    /// All players together, megabits per second.
    pub total_mbps: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TsSummary {
    /// Connections whose first video PES after PAT and PMT was a random-access point.
    pub keyframe_start_yes: u64,
    pub keyframe_start_no: u64,
    /// Players that got a stream but never a video PES after PAT and PMT.
    pub keyframe_start_unknown: u64,
    pub cc_errors: u64,
    pub resyncs: u64,
    pub packets: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HlsSummary {
    pub playlists: u64,
    pub blocking_reloads: u64,
    /// In the window: whole segments and parts fetched, segments missed (left the playlist
    /// before a player got to them), fetches that failed.
    pub segments: u64,
    pub parts: u64,
    pub gaps: u64,
    pub failed_fetches: u64,
    /// Per fetched segment or part of a normal player: wall clock when it arrived minus (its
    /// PROGRAM-DATE-TIME plus its duration).
    pub latency: Latency,
    /// The same for the slow players.
    pub latency_slow: Latency,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcsUsage {
    pub pids: Vec<u32>,
    pub alive: bool,
    pub cpu_s: f64,
    pub cpu_pct: f64,
    /// CPU seconds per 10^6 body bytes delivered to the players.
    pub cpu_s_per_delivered_mb: Option<f64>,
    /// Before any player started.
    pub rss_kb_idle: u64,
    pub rss_kb_start: u64,
    pub rss_kb_end: u64,
    /// Sum of the processes' VmHWM.
    pub peak_rss_kb: u64,
    /// (RSS at the end - idle RSS) / players playing at the end.
    pub rss_kb_per_player: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HttpLoadgenUsage {
    pub cpu_s: f64,
    pub cpu_pct: f64,
    pub cpu_s_per_mb: Option<f64>,
    pub thread_cpu_pct: Vec<f64>,
    /// A thread above 90 %: the run measured loadgen, not the server.
    pub saturated: bool,
}

fn kbps(bps: f64) -> String {
    format!("{:.0}", bps * 8.0 / 1000.0)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl HttpReport {
    pub fn table(&self) -> String {
        let r = &self.run;
        let mut out = String::new();
        let mode = match r.mode {
            Mode::Ts => "ts",
            Mode::Hls => "hls",
        };
        let slow = match r.read_rate_bps {
            Some(rate) => format!(", {} slow at {rate} B/s", self.players.slow),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "loadgen http --mode {mode} -> {}: {} player(s) over {} stream(s){slow}, {:.1} s after \
             {:.1} s warm-up, {} thread(s); connect {:.2} s",
            r.url, r.players, r.streams, r.window_s, r.warmup_s, r.threads, r.connect_s
        );
        let p = &self.players;
        let _ = writeln!(
            out,
            "\nplayers {}/{} connected, {} playing at the end, {} disconnects, {} HTTP errors, \
             delivery {:.3}%",
            p.connected, p.count, p.playing_at_end, p.disconnects, p.http_errors, p.delivery_pct
        );
        for (reason, n) in &p.failures {
            let _ = writeln!(out, "  {n} x {reason}");
        }
        let _ = writeln!(
            out,
            "\n{:<22} {:>8} {:>10} {:>10} {:>10}",
            "rate (kbit/s)", "players", "min", "median", "max"
        );
        for (name, s) in [("normal", &self.rates.normal), ("slow", &self.rates.slow)] {
            if s.count > 0 {
                let _ = writeln!(
                    out,
                    "{name:<22} {:>8} {:>10} {:>10} {:>10}",
                    s.count,
                    kbps(s.min_bps),
                    kbps(s.median_bps),
                    kbps(s.max_bps)
                );
            }
        }
        let _ = writeln!(
            out,
            "all players: {:.1} Mbit/s, {:.1} MB",
            self.rates.total_mbps,
            self.rates.total_bytes as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "\n{:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "p50", "p99", "p99.9", "max", "samples"
        );
        let mut rows = vec![("time to first byte", &self.ttfb)];
        if self.ts.is_some() {
            rows.push(("time to first PAT", &self.first_pat));
        }
        if let Some(h) = &self.hls {
            rows.push(("HLS live edge", &h.latency));
            if h.latency_slow.samples > 0 {
                rows.push(("HLS live edge, slow", &h.latency_slow));
            }
        }
        for (name, l) in rows {
            let _ = writeln!(
                out,
                "{name:<22} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9}",
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
                l.samples
            );
        }
        if let Some(t) = &self.ts {
            let _ = writeln!(
                out,
                "\nts: keyframe start yes {} no {} unknown {}; {} CC errors, {} resyncs, {} packets",
                t.keyframe_start_yes,
                t.keyframe_start_no,
                t.keyframe_start_unknown,
                t.cc_errors,
                t.resyncs,
                t.packets
            );
        }
        if let Some(h) = &self.hls {
            let _ = writeln!(
                out,
                "\nhls: {} playlists ({} blocking), {} segments, {} parts, {} gaps, {} failed fetches",
                h.playlists, h.blocking_reloads, h.segments, h.parts, h.gaps, h.failed_fetches
            );
        }
        out.push('\n');
        match &self.relay {
            Some(u) if u.alive => {
                let per_mb = u
                    .cpu_s_per_delivered_mb
                    .map_or("n/a".into(), |v| format!("{:.2} ms", v * 1000.0));
                let per_player = u
                    .rss_kb_per_player
                    .map_or("n/a".into(), |v| format!("{v:.0} kB"));
                let _ = writeln!(
                    out,
                    "server pid {:?}: cpu {:.2} s ({:.1}% of a core), {per_mb} per delivered MB; \
                     rss {:.1} MiB idle, {:.1} -> {:.1} MiB (peak {:.1} MiB), {per_player} per player",
                    u.pids,
                    u.cpu_s,
                    u.cpu_pct,
                    u.rss_kb_idle as f64 / 1024.0,
                    u.rss_kb_start as f64 / 1024.0,
                    u.rss_kb_end as f64 / 1024.0,
                    u.peak_rss_kb as f64 / 1024.0
                );
            }
            Some(u) => {
                let _ = writeln!(out, "server pid {:?}: GONE by the end of the run", u.pids);
            }
            None => {
                let _ = writeln!(out, "server: not measured (no --relay-pid)");
            }
        }
        let l = &self.loadgen;
        let threads: Vec<String> = l
            .thread_cpu_pct
            .iter()
            .map(|p| format!("{p:.0}%"))
            .collect();
        let _ = writeln!(
            out,
            "loadgen: cpu {:.2} s ({:.1}% of a core), threads [{}]{}",
            l.cpu_s,
            l.cpu_pct,
            threads.join(" "),
            if l.saturated {
                "  SATURATED: this run measured loadgen, add --threads"
            } else {
                ""
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json() {
        let r = HttpReport {
            run: HttpRunSummary {
                url: "http://127.0.0.1:8080/live/cam{i}.ts".into(),
                mode: Mode::Ts,
                players: 4,
                streams: 1,
                threads: 1,
                read_rate_bps: Some(50_000),
                slow_fraction: 0.25,
                bitrate_mbps: None,
                warmup_s: 1.0,
                duration_s: 3.0,
                connect_s: 0.1,
                window_s: 3.0,
            },
            players: HttpPlayers {
                count: 4,
                slow: 1,
                connected: 4,
                playing_at_end: 4,
                delivery_pct: 100.0,
                ..HttpPlayers::default()
            },
            rates: Rates {
                normal: Spread {
                    count: 3,
                    min_bps: 125_000.0,
                    median_bps: 125_000.0,
                    max_bps: 126_000.0,
                },
                slow: Spread {
                    count: 1,
                    min_bps: 50_000.0,
                    median_bps: 50_000.0,
                    max_bps: 50_000.0,
                },
                total_bytes: 1_275_000,
                total_mbps: 3.4,
            },
            ttfb: Latency {
                samples: 4,
                p50_us: 1500,
                ..Latency::default()
            },
            first_pat: Latency::default(),
            ts: Some(TsSummary {
                keyframe_start_yes: 4,
                ..TsSummary::default()
            }),
            hls: None,
            relay: None,
            loadgen: HttpLoadgenUsage::default(),
        };
        let t = r.table();
        assert!(t.contains("players 4/4 connected"), "{t}");
        assert!(t.contains("keyframe start yes 4"), "{t}");
        assert!(t.contains("1000"), "125 kB/s is 1000 kbit/s: {t}");
        assert!(t.contains("1 slow at 50000 B/s"), "{t}");
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"mode\":\"ts\""), "{json}");
        let back: HttpReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
