//! `loadgen http`: N HTTP players against a playback server, as HTTP-TS viewers (`--mode ts`:
//! one long GET of a chunked or close-delimited MPEG-TS stream each) or HLS players (`--mode
//! hls`: live playlist polling or LL-HLS blocking reload, then every new segment or part).
//!
//! Layout: `chunked` (transfer coding), `response` (head via httparse, body framing), `tscheck`
//! (sync, CC, keyframe start), `m3u8` (playlists), `worker` (the mio event loop and the player
//! state machines), `report` (JSON and table). This file: flags, the run's phases (connect,
//! warm-up, measured window), the relay's and loadgen's CPU and memory, the aggregation.
//!
//! Owns: the measurement window and what each report number means. Must not: touch sockets.

pub mod chunked;
pub mod m3u8;
pub mod report;
pub mod response;
pub mod tscheck;
pub mod worker;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use crate::cli::parse_cpu_list;
use crate::clock;
use crate::procstat::{self, ProcSample};
use crate::report::{Latency, cpu_pct, new_histogram};
use report::{
    HlsSummary, HttpLoadgenUsage, HttpPlayers, HttpReport, HttpRunSummary, ProcsUsage, Rates,
    Spread, TsSummary,
};
use worker::{PlayerResult, PlayerSpec, WorkerOutput, WorkerPlan};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// HTTP-TS: one long GET per player, the body an endless MPEG-TS stream.
    Ts,
    /// HLS: poll the media playlist, fetch each new segment (or LL-HLS part).
    Hls,
}

/// `loadgen http`: HTTP players against a playback server.
#[derive(Args, Debug, Clone)]
pub struct HttpArgs {
    /// URL of the stream (ts) or its media or multivariant playlist (hls), http:// only; {i}
    /// (or {index}) is the stream number 0..streams-1, {player} the player number.
    #[arg(long, value_name = "TEMPLATE", required = true)]
    pub url: String,
    /// What the players do.
    #[arg(long, value_enum, default_value_t = Mode::Ts)]
    pub mode: Mode,
    /// Players in all.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub players: u32,
    /// Streams: player p watches stream p mod N.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: u32,
    /// Measured time in seconds, after every player got its first response and the warm-up.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Playing before the measured part, seconds; not counted.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub warmup: f64,
    /// Players started per second, all threads together.
    #[arg(long, default_value_t = 200.0, value_name = "PER_S")]
    pub connect_rate: f64,
    /// A response whose first byte takes longer (a blocking playlist reload: plus three target
    /// durations), or a body that stops for this long, fails, milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub timeout: u64,
    /// Event-loop threads; players are dealt round-robin.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Pin the threads to these CPUs, round-robin (e.g. "1", "0,2", "2-3").
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Slow players read at most this many bytes per second (a token bucket on their reads).
    #[arg(long, value_name = "BYTES_PER_S")]
    pub read_rate: Option<u64>,
    /// Fraction of the players that are slow when --read-rate is given, spread evenly.
    #[arg(long, default_value_t = 0.1, value_name = "0..1")]
    pub slow_fraction: f64,
    /// The stream's nominal bitrate: with it, TS delivery is measured against it; without it,
    /// against the median normal player.
    #[arg(long, value_name = "MBPS")]
    pub bitrate: Option<f64>,
    /// Sample these processes (the server; repeat or comma-separate for several, e.g. nginx's
    /// workers and ffmpeg) for CPU and memory, summed.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub relay_pid: Vec<u32>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 if delivery is below this percentage.
    #[arg(long, value_name = "PCT")]
    pub expect_delivery: Option<f64>,
    /// Progress line interval on stderr in seconds; 0 turns it off.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub progress: f64,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub mode: Mode,
    pub url: String,
    pub addr: SocketAddr,
    /// `host[:port]` as in the URL, for the Host header.
    pub host_header: String,
    /// The path template (after the authority), `/` at least.
    pub path_template: String,
    pub players: u32,
    pub streams: u32,
    pub duration: Duration,
    pub warmup: Duration,
    pub connect_rate: f64,
    pub timeout: Duration,
    pub threads: usize,
    pub cpus: Vec<usize>,
    pub read_rate: Option<u64>,
    pub slow_fraction: f64,
    pub bitrate_bps: Option<f64>,
    pub relay_pids: Vec<u32>,
    pub progress: Option<Duration>,
}

impl HttpArgs {
    pub fn to_config(&self) -> anyhow::Result<HttpConfig> {
        let rest = self
            .url
            .strip_prefix("http://")
            .context("--url: only http:// URLs")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('{') || authority.is_empty() || authority.contains('@') {
            bail!("--url {}: the host must be plain host[:port]", self.url);
        }
        let with_port = if authority.starts_with('[') {
            if authority.contains("]:") {
                authority.to_string()
            } else {
                format!("{authority}:80")
            }
        } else if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("--url host {authority}"))?
            .next()
            .with_context(|| format!("--url host {authority}: no address"))?;
        if self.players == 0 || self.streams == 0 || self.threads == 0 {
            bail!("--players, --streams and --threads must be at least 1");
        }
        for (flag, v) in [
            ("--duration", self.duration),
            ("--connect-rate", self.connect_rate),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("{flag} {v}: must be positive");
            }
        }
        if !(0.0..=3600.0).contains(&self.warmup) {
            bail!("--warmup {}: must be 0..=3600 s", self.warmup);
        }
        if !(0.0..=1.0).contains(&self.slow_fraction) {
            bail!("--slow-fraction {}: must be 0..=1", self.slow_fraction);
        }
        if self.read_rate == Some(0) {
            bail!("--read-rate must be at least 1 byte/s");
        }
        if let Some(b) = self.bitrate
            && !(b > 0.0 && b.is_finite())
        {
            bail!("--bitrate {b}: must be positive");
        }
        if let Some(p) = self.expect_delivery
            && !(0.0..=100.0).contains(&p)
        {
            bail!("--expect-delivery {p}: must be 0..=100");
        }
        if self.timeout == 0 {
            bail!("--timeout must be at least 1 ms");
        }
        Ok(HttpConfig {
            mode: self.mode,
            url: self.url.clone(),
            addr,
            host_header: authority.to_string(),
            path_template: path.to_string(),
            players: self.players,
            streams: self.streams,
            duration: Duration::from_secs_f64(self.duration),
            warmup: Duration::from_secs_f64(self.warmup),
            connect_rate: self.connect_rate,
            timeout: Duration::from_millis(self.timeout),
            threads: self.threads,
            cpus: match &self.cpus {
                Some(s) => parse_cpu_list(s).context("--cpus")?,
                None => Vec::new(),
            },
            read_rate: self.read_rate,
            slow_fraction: if self.read_rate.is_some() {
                self.slow_fraction
            } else {
                0.0
            },
            bitrate_bps: self.bitrate.map(|b| b * 1e6),
            relay_pids: self.relay_pid.clone(),
            progress: (self.progress > 0.0).then(|| Duration::from_secs_f64(self.progress)),
        })
    }
}

impl HttpConfig {
    /// Player `p`'s path: `{i}`/`{index}` its stream, `{player}` itself.
    pub fn path_of(&self, p: u32) -> String {
        let s = (p % self.streams).to_string();
        self.path_template
            .replace("{index}", &s)
            .replace("{i}", &s)
            .replace("{player}", &p.to_string())
    }

    /// Slow players spread evenly: p is slow where floor((p+1) f) passes an integer.
    pub fn is_slow(&self, p: u32) -> bool {
        let f = self.slow_fraction;
        ((f64::from(p) + 1.0) * f).floor() > (f64::from(p) * f).floor()
    }
}

/// Counters one worker publishes once per loop turn.
#[derive(Debug, Default)]
pub struct WorkerProgress {
    pub settled: AtomicU64,
    pub playing: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub disconnects: AtomicU64,
}

/// What the coordinator and the workers share: the window (set once, nanoseconds from
/// `start`; `u64::MAX` until then) and the close signal.
pub struct HttpShared {
    start: Instant,
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
    close: AtomicBool,
    pub progress: Vec<WorkerProgress>,
}

impl HttpShared {
    fn new(start: Instant, workers: usize) -> HttpShared {
        HttpShared {
            start,
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(u64::MAX),
            close: AtomicBool::new(false),
            progress: (0..workers).map(|_| WorkerProgress::default()).collect(),
        }
    }

    fn at(&self, ns: u64) -> Option<Instant> {
        (ns != u64::MAX).then(|| self.start + Duration::from_nanos(ns))
    }

    /// The measurement window, once the coordinator set it.
    pub fn window(&self) -> (Option<Instant>, Option<Instant>) {
        // The end is stored first, so a start seen implies its end is there too.
        let start = self.at(self.window_start_ns.load(Relaxed));
        let end = self.at(self.window_end_ns.load(Relaxed));
        (start, end)
    }

    fn set_window(&self, start: Instant, end: Instant) {
        let ns = |t: Instant| t.saturating_duration_since(self.start).as_nanos() as u64;
        self.window_end_ns.store(ns(end), Relaxed);
        self.window_start_ns.store(ns(start), Relaxed);
    }

    pub fn closing(&self) -> bool {
        self.close.load(Relaxed)
    }

    fn sum(&self) -> [u64; 5] {
        let mut s = [0; 5];
        for p in &self.progress {
            s[0] += p.settled.load(Relaxed);
            s[1] += p.playing.load(Relaxed);
            s[2] += p.bytes.load(Relaxed);
            s[3] += p.errors.load(Relaxed);
            s[4] += p.disconnects.load(Relaxed);
        }
        s
    }
}

const TICK: Duration = Duration::from_millis(20);
const CONNECT_SLACK: Duration = Duration::from_secs(2);

/// Runs the players and returns the report.
pub fn run(cfg: HttpConfig) -> anyhow::Result<HttpReport> {
    let cfg = Arc::new(cfg);
    let threads = cfg.threads.min(cfg.players as usize).max(1);
    let mut plans: Vec<WorkerPlan> = (0..threads)
        .map(|i| WorkerPlan {
            index: i,
            cpu: (!cfg.cpus.is_empty()).then(|| cfg.cpus[i % cfg.cpus.len()]),
            players: Vec::new(),
        })
        .collect();
    for p in 0..cfg.players {
        plans[p as usize % threads].players.push(PlayerSpec {
            id: p,
            path: cfg.path_of(p),
            slow: cfg.is_slow(p),
        });
    }
    let relay_idle = sample_all(&cfg.relay_pids);
    let t0 = clock::now();
    let shared = Arc::new(HttpShared::new(t0, threads));
    let mut handles = Vec::new();
    for plan in plans {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("loadgen-http{}", plan.index))
                .spawn(move || worker::run(cfg, shared, plan))
                .context("spawn worker")?,
        );
    }
    let mut progress = Progress::new(&cfg, t0);
    let led = lead(&cfg, &shared, &handles, &mut progress);
    shared.close.store(true, Relaxed);
    let joined = crate::run::join_workers(handles);
    progress.finish();
    let outputs = joined?;
    let t = led?;
    Ok(aggregate(&cfg, &outputs, &t, relay_idle))
}

/// Times and samples around the measurement window.
pub struct Timings {
    pub connect: Duration,
    pub window: Duration,
    pub relay_before: Option<ProcSample>,
    pub relay_after: Option<ProcSample>,
    pub self_before: Option<ProcSample>,
    pub self_after: Option<ProcSample>,
}

fn lead(
    cfg: &HttpConfig,
    shared: &HttpShared,
    workers: &[std::thread::JoinHandle<anyhow::Result<WorkerOutput>>],
    progress: &mut Progress,
) -> anyhow::Result<Timings> {
    let t0 = clock::now();
    let n = u64::from(cfg.players);
    let budget = cfg.timeout + CONNECT_SLACK + Duration::from_secs_f64(n as f64 / cfg.connect_rate);
    wait(shared, workers, progress, t0 + budget, |s| s[0] >= n)?;
    let connect = clock::now().saturating_duration_since(t0);
    let start = clock::now() + cfg.warmup;
    let end = start + cfg.duration;
    shared.set_window(start, end);
    wait(shared, workers, progress, start, |_| false)?;
    let relay_before = sample_all(&cfg.relay_pids);
    let self_before = procstat::sample_self();
    wait(shared, workers, progress, end, |_| false)?;
    let relay_after = sample_all(&cfg.relay_pids);
    let self_after = procstat::sample_self();
    Ok(Timings {
        connect,
        window: end.saturating_duration_since(start),
        relay_before,
        relay_after,
        self_before,
        self_after,
    })
}

fn wait(
    shared: &HttpShared,
    workers: &[std::thread::JoinHandle<anyhow::Result<WorkerOutput>>],
    progress: &mut Progress,
    deadline: Instant,
    done: impl Fn(&[u64; 5]) -> bool,
) -> anyhow::Result<()> {
    loop {
        let s = shared.sum();
        progress.maybe_print(&s);
        if done(&s) {
            return Ok(());
        }
        if workers.iter().any(|h| h.is_finished()) {
            bail!("a worker stopped early");
        }
        let now = clock::now();
        if now >= deadline {
            return Ok(());
        }
        std::thread::sleep(TICK.min(deadline - now));
    }
}

/// The processes summed: CPU and memory; `None` when none is given or one is unreadable.
fn sample_all(pids: &[u32]) -> Option<ProcSample> {
    if pids.is_empty() {
        return None;
    }
    let mut sum = ProcSample {
        cpu: Duration::ZERO,
        rss_kb: 0,
        peak_rss_kb: 0,
    };
    for &pid in pids {
        let s = procstat::sample(pid)?;
        sum.cpu += s.cpu;
        sum.rss_kb += s.rss_kb;
        sum.peak_rss_kb += s.peak_rss_kb;
    }
    Some(sum)
}

fn spread(mut v: Vec<f64>) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    v.sort_by(f64::total_cmp);
    Spread {
        count: v.len() as u64,
        min_bps: v[0],
        median_bps: v[v.len() / 2],
        max_bps: v[v.len() - 1],
    }
}

pub fn aggregate(
    cfg: &HttpConfig,
    outputs: &[WorkerOutput],
    t: &Timings,
    relay_idle: Option<ProcSample>,
) -> HttpReport {
    let mut ttfb = new_histogram();
    let mut first_pat = new_histogram();
    let mut latency = new_histogram();
    let mut latency_slow = new_histogram();
    let all: Vec<&PlayerResult> = outputs.iter().flat_map(|o| &o.players).collect();
    for o in outputs {
        let _ = ttfb.add(&o.ttfb);
        let _ = first_pat.add(&o.first_pat);
        let _ = latency.add(&o.latency);
        let _ = latency_slow.add(&o.latency_slow);
    }
    let secs = t.window.as_secs_f64().max(1e-9);
    let rate = |p: &&PlayerResult| p.bytes as f64 / secs;
    let normal: Vec<f64> = all.iter().filter(|p| !p.slow).map(rate).collect();
    let slow: Vec<f64> = all.iter().filter(|p| p.slow).map(rate).collect();
    let total_bytes: u64 = all.iter().map(|p| p.bytes).sum();
    let mut players = HttpPlayers {
        count: u64::from(cfg.players),
        slow: slow.len() as u64,
        ..HttpPlayers::default()
    };
    for p in &all {
        players.connected += u64::from(p.ever_ok);
        players.playing_at_end += u64::from(p.playing_at_end);
        players.disconnects += p.disconnects;
        players.http_errors += p.http_errors;
        for (k, v) in &p.failures {
            *players.failures.entry(k.clone()).or_default() += v;
        }
    }
    let rates = Rates {
        normal: spread(normal.clone()),
        slow: spread(slow),
        total_bytes,
        total_mbps: total_bytes as f64 * 8.0 / secs / 1e6,
    };
    // Delivery: the mean per-player share of what it should have had (slow players, throttled
    // on purpose, are left out unless every player is slow).
    let judged: Vec<&&PlayerResult> = if all.iter().any(|p| !p.slow) {
        all.iter().filter(|p| !p.slow).collect()
    } else {
        all.iter().collect()
    };
    let share: Vec<f64> = match cfg.mode {
        Mode::Ts => {
            let reference = cfg.bitrate_bps.map_or_else(
                || spread(judged.iter().map(|p| p.bytes as f64).collect()).median_bps,
                |b| b / 8.0 * secs,
            );
            judged
                .iter()
                .map(|p| {
                    if reference > 0.0 {
                        (p.bytes as f64 / reference).min(1.0)
                    } else {
                        0.0
                    }
                })
                .collect()
        }
        Mode::Hls => judged
            .iter()
            .map(|p| {
                let got = (p.segments + p.parts) as f64;
                let missed = (p.gaps + p.failed_fetches) as f64;
                if got + missed > 0.0 {
                    got / (got + missed)
                } else if p.playing_at_end {
                    1.0
                } else {
                    0.0
                }
            })
            .collect(),
    };
    players.delivery_pct = if share.is_empty() {
        0.0
    } else {
        share.iter().sum::<f64>() * 100.0 / share.len() as f64
    };
    let ts = (cfg.mode == Mode::Ts).then(|| TsSummary {
        keyframe_start_yes: all.iter().map(|p| p.keyframe_yes).sum(),
        keyframe_start_no: all.iter().map(|p| p.keyframe_no).sum(),
        keyframe_start_unknown: all
            .iter()
            .filter(|p| p.ever_ok && p.keyframe_yes + p.keyframe_no == 0)
            .count() as u64,
        cc_errors: all.iter().map(|p| p.cc_errors).sum(),
        resyncs: all.iter().map(|p| p.resyncs).sum(),
        packets: all.iter().map(|p| p.ts_packets).sum(),
    });
    let hls = (cfg.mode == Mode::Hls).then(|| HlsSummary {
        playlists: all.iter().map(|p| p.playlists).sum(),
        blocking_reloads: all.iter().map(|p| p.blocking_reloads).sum(),
        segments: all.iter().map(|p| p.segments).sum(),
        parts: all.iter().map(|p| p.parts).sum(),
        gaps: all.iter().map(|p| p.gaps).sum(),
        failed_fetches: all.iter().map(|p| p.failed_fetches).sum(),
        latency: Latency::from_histogram(&latency),
        latency_slow: Latency::from_histogram(&latency_slow),
    });
    let mb = total_bytes as f64 / 1e6;
    let relay = match (&t.relay_before, &t.relay_after) {
        _ if cfg.relay_pids.is_empty() => None,
        (Some(b), Some(a)) => {
            let cpu = a.cpu.saturating_sub(b.cpu);
            let idle = relay_idle.map_or(b.rss_kb, |s| s.rss_kb);
            Some(ProcsUsage {
                pids: cfg.relay_pids.clone(),
                alive: true,
                cpu_s: cpu.as_secs_f64(),
                cpu_pct: cpu_pct(cpu, t.window),
                cpu_s_per_delivered_mb: (mb > 0.0).then(|| cpu.as_secs_f64() / mb),
                rss_kb_idle: idle,
                rss_kb_start: b.rss_kb,
                rss_kb_end: a.rss_kb,
                peak_rss_kb: a.peak_rss_kb,
                rss_kb_per_player: (players.playing_at_end > 0)
                    .then(|| a.rss_kb.saturating_sub(idle) as f64 / players.playing_at_end as f64),
            })
        }
        _ => Some(ProcsUsage {
            pids: cfg.relay_pids.clone(),
            alive: false,
            ..ProcsUsage::default()
        }),
    };
    let (self_cpu, self_pct) = match (&t.self_before, &t.self_after) {
        (Some(b), Some(a)) => {
            let c = a.cpu.saturating_sub(b.cpu);
            (c.as_secs_f64(), cpu_pct(c, t.window))
        }
        _ => (0.0, 0.0),
    };
    let thread_cpu_pct: Vec<f64> = outputs.iter().map(|o| cpu_pct(o.cpu, t.window)).collect();
    HttpReport {
        run: HttpRunSummary {
            url: cfg.url.clone(),
            mode: cfg.mode,
            players: cfg.players,
            streams: cfg.streams,
            threads: outputs.len(),
            read_rate_bps: cfg.read_rate,
            slow_fraction: cfg.slow_fraction,
            bitrate_mbps: cfg.bitrate_bps.map(|b| b / 1e6),
            warmup_s: cfg.warmup.as_secs_f64(),
            duration_s: cfg.duration.as_secs_f64(),
            connect_s: t.connect.as_secs_f64(),
            window_s: secs,
        },
        players,
        rates,
        ttfb: Latency::from_histogram(&ttfb),
        first_pat: Latency::from_histogram(&first_pat),
        ts,
        hls,
        relay,
        loadgen: HttpLoadgenUsage {
            cpu_s: self_cpu,
            cpu_pct: self_pct,
            cpu_s_per_mb: (mb > 0.0).then(|| self_cpu / mb),
            saturated: thread_cpu_pct.iter().any(|&p| p > 90.0),
            thread_cpu_pct,
        },
    }
}

struct Progress {
    every: Option<Duration>,
    out: crate::progress::StatusLine,
    start: Instant,
    last: Instant,
    last_bytes: u64,
    players: u32,
    pids: Vec<u32>,
    last_relay_cpu: Option<Duration>,
}

impl Progress {
    fn new(cfg: &HttpConfig, start: Instant) -> Progress {
        Progress {
            every: cfg.progress,
            out: crate::progress::StatusLine::default(),
            start,
            last: start,
            last_bytes: 0,
            players: cfg.players,
            last_relay_cpu: sample_all(&cfg.relay_pids).map(|s| s.cpu),
            pids: cfg.relay_pids.clone(),
        }
    }

    fn maybe_print(&mut self, s: &[u64; 5]) {
        let Some(every) = self.every else { return };
        let now = clock::now();
        let dt = now.saturating_duration_since(self.last);
        if dt < every {
            return;
        }
        self.last = now;
        // Bytes are counted inside the window only, so the rate shows from its start.
        let rate = s[2].saturating_sub(self.last_bytes) as f64 / dt.as_secs_f64() / 1e6;
        self.last_bytes = s[2];
        let relay = match sample_all(&self.pids) {
            Some(r) => {
                let pct = self
                    .last_relay_cpu
                    .map(|c| cpu_pct(r.cpu.saturating_sub(c), dt));
                self.last_relay_cpu = Some(r.cpu);
                pct.map_or(String::new(), |p| {
                    format!(
                        " | server cpu {p:.0}% rss {:.0} MiB",
                        r.rss_kb as f64 / 1024.0
                    )
                })
            }
            None if !self.pids.is_empty() => " | server GONE".to_string(),
            None => String::new(),
        };
        let line = format!(
            "[{:6.1}s] players {}/{} playing {} | {rate:.1} MB/s | errors {} disc {}{relay}",
            now.saturating_duration_since(self.start).as_secs_f64(),
            s[0],
            self.players,
            s[1],
            s[3],
            s[4],
        );
        self.out.print(&line);
    }

    fn finish(&mut self) {
        self.out.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> anyhow::Result<HttpConfig> {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: HttpArgs,
        }
        let mut v = vec!["t"];
        v.extend_from_slice(extra);
        T::try_parse_from(v)?.a.to_config()
    }

    #[test]
    fn url_templates_and_slow_players() {
        let c = args(&[
            "--url",
            "http://127.0.0.1:8080/live/cam{i}.ts?p={player}",
            "--players",
            "10",
            "--streams",
            "3",
            "--read-rate",
            "1000",
            "--slow-fraction",
            "0.2",
        ])
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.host_header, "127.0.0.1:8080");
        assert_eq!(c.path_of(4), "/live/cam1.ts?p=4");
        let slow: Vec<u32> = (0..10).filter(|&p| c.is_slow(p)).collect();
        assert_eq!(slow, [4, 9], "2 of 10, spread");
        let c = args(&["--url", "http://127.0.0.1", "--slow-fraction", "0.5"]).unwrap();
        assert_eq!((c.addr.port(), c.path_of(0).as_str()), (80, "/"));
        assert!(!c.is_slow(0), "no --read-rate: nobody is slow");
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(args(&["--url", "https://x/"]).is_err());
        assert!(args(&["--url", "http://h{i}:1/"]).is_err());
        assert!(args(&["--url", "http://127.0.0.1:1/", "--players", "0"]).is_err());
        assert!(args(&["--url", "http://127.0.0.1:1/", "--slow-fraction", "2"]).is_err());
        assert!(args(&["--url", "http://127.0.0.1:1/", "--mode", "dash"]).is_err());
        let c = args(&[
            "--url",
            "http://127.0.0.1:1/",
            "--relay-pid",
            "1,2",
            "--relay-pid",
            "3",
        ])
        .unwrap();
        assert_eq!(c.relay_pids, [1, 2, 3]);
    }
}
