//! One worker thread: a mio event loop driving its share of the players over non-blocking
//! sockets, one connection per player at a time (HTTP/1.1 keep-alive, no pipelining), timers in
//! a heap, a single read buffer for the thread. 1000 players are 1000 sockets and one thread.
//!
//! Owns: sockets, per-player state machines (TS stream, HLS poller), the read throttle of slow
//! players, the per-player counters. Must not: block, sleep, or allocate per byte read (bodies
//! go straight from the read buffer into the checks; only playlists are kept, to be parsed).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::m3u8::{self, Playlist};
use super::response::{Response, get_request};
use super::tscheck::{KeyframeStart, TsCheck};
use super::{HttpConfig, HttpShared, Mode};
use crate::clock;
use crate::report::new_histogram;

/// One read buffer per thread: a socket is drained through it and nothing stays in it.
const READ_BUF: usize = 256 * 1024;
/// Longest playlist kept (a bound against a server that streams one forever).
const MAX_PLAYLIST: usize = 1 << 20;
/// Wait before trying again after a failed connection or request.
const RETRY: Duration = Duration::from_millis(500);
/// How often request deadlines are checked and the progress counters published.
const SWEEP: Duration = Duration::from_millis(100);
/// Longest sleep of the loop, so a phase change is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// What the coordinator gives a worker.
pub struct WorkerPlan {
    pub index: usize,
    pub cpu: Option<usize>,
    pub players: Vec<PlayerSpec>,
}

#[derive(Debug, Clone)]
pub struct PlayerSpec {
    pub id: u32,
    /// Path and query of the TS stream or the playlist.
    pub path: String,
    pub slow: bool,
}

/// One player's numbers at the end of the run.
#[derive(Debug, Clone, Default)]
pub struct PlayerResult {
    pub id: u32,
    pub slow: bool,
    /// Body bytes read inside the measurement window.
    pub bytes: u64,
    /// Some response had status 200.
    pub ever_ok: bool,
    /// Receiving at the end: TS: a 200 stream open and not stalled; HLS: the last playlist
    /// came back 200 recently.
    pub playing_at_end: bool,
    /// Connections that ended while a response was being read (TS: the stream ended).
    pub disconnects: u64,
    /// Responses with a status other than 200.
    pub http_errors: u64,
    /// Failed connects, timeouts, framing or playlist errors, by reason.
    pub failures: BTreeMap<String, u64>,
    pub cc_errors: u64,
    pub resyncs: u64,
    pub ts_packets: u64,
    pub keyframe_yes: u64,
    pub keyframe_no: u64,
    pub playlists: u64,
    pub blocking_reloads: u64,
    /// HLS, inside the window: whole segments and parts fetched with status 200.
    pub segments: u64,
    pub parts: u64,
    /// HLS, inside the window: segments that left the playlist before this player fetched
    /// them, and fetches that failed.
    pub gaps: u64,
    pub failed_fetches: u64,
}

pub struct WorkerOutput {
    pub players: Vec<PlayerResult>,
    /// First request's start to first response byte, per player.
    pub ttfb: Histogram<u64>,
    /// Request start to the first PAT, per TS connection.
    pub first_pat: Histogram<u64>,
    /// HLS live-edge latency per fetched segment or part in the window, normal players.
    pub latency: Histogram<u64>,
    /// The same for slow (`--read-rate`) players, which fall behind by design.
    pub latency_slow: Histogram<u64>,
    pub cpu: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ts,
    Playlist { blocking: bool },
    Media { part: bool },
}

/// Why a player's timer fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// Start (or restart) its stream or playlist.
    Begin,
    /// The read throttle has budget again.
    Refill,
    /// Next HLS step: a fetch from the queue or a playlist reload.
    Next,
}

struct Conn {
    stream: TcpStream,
    connecting: bool,
    out: Vec<u8>,
    out_pos: usize,
    /// Bumped per new socket, so a read loop notices its socket was replaced under it.
    generation: u64,
    reusable: bool,
}

struct Request {
    kind: Kind,
    started: Instant,
    resp: Response,
    /// Sent on a kept-alive connection: a close before any byte is a stale connection, retried.
    reused: bool,
    last_byte: Instant,
    deadline_extra: Duration,
    /// HLS media: when the fetched media ends, Unix ms.
    end_pdt_ms: Option<f64>,
}

#[derive(Debug, Clone)]
struct Fetch {
    path: String,
    part: bool,
    end_pdt_ms: Option<f64>,
}

#[derive(Default)]
struct Hls {
    playlist_path: String,
    target: f64,
    can_block: bool,
    uses_parts: bool,
    next_msn: Option<u64>,
    next_part: usize,
    queue: VecDeque<Fetch>,
    reload_started: Option<Instant>,
    changed: bool,
    last_ok: Option<Instant>,
}

struct Throttle {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Throttle {
    fn new(rate: u64, now: Instant) -> Throttle {
        let rate = rate as f64;
        // 100 ms of budget, at least a few packets' worth.
        let burst = (rate / 10.0).max(4096.0);
        Throttle {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) -> usize {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.tokens as usize
    }

    /// When a 4 KiB (or burst-sized) read will be allowed.
    fn ready_at(&self, now: Instant) -> Instant {
        let want = self.burst.min(4096.0) - self.tokens;
        now + Duration::from_secs_f64((want / self.rate).max(0.001))
    }
}

struct Player {
    spec: PlayerSpec,
    conn: Option<Conn>,
    req: Option<Request>,
    throttle: Option<Throttle>,
    timer_gen: u64,
    wake: Option<Wake>,
    first_started: Option<Instant>,
    ttfb_done: bool,
    settled: bool,
    ts: Option<TsCheck>,
    hls: Option<Hls>,
    playlist_body: Vec<u8>,
    r: PlayerResult,
}

/// The measurement window as the worker sees it.
#[derive(Clone, Copy)]
struct Window {
    start: Option<Instant>,
    end: Option<Instant>,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        self.start.is_some_and(|s| t >= s) && self.end.is_none_or(|e| t < e)
    }
}

/// What a player's handlers need from the loop.
struct Ctx<'a> {
    cfg: &'a HttpConfig,
    poll: &'a Poll,
    timers: &'a mut BinaryHeap<Reverse<(Instant, usize, u64)>>,
    now: Instant,
    window: Window,
    ttfb: &'a mut Histogram<u64>,
    first_pat: &'a mut Histogram<u64>,
    latency: &'a mut Histogram<u64>,
    latency_slow: &'a mut Histogram<u64>,
    next_generation: &'a mut u64,
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, crate::report::HIST_MAX_US)
}

pub fn run(
    cfg: Arc<HttpConfig>,
    shared: Arc<HttpShared>,
    plan: WorkerPlan,
) -> anyhow::Result<WorkerOutput> {
    if let Some(cpu) = plan.cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        anyhow::bail!("http worker {}: cannot pin to CPU {cpu}", plan.index);
    }
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; READ_BUF];
    let mut timers = BinaryHeap::new();
    let mut ttfb = new_histogram();
    let mut first_pat = new_histogram();
    let mut latency = new_histogram();
    let mut latency_slow = new_histogram();
    let mut next_generation = 0u64;
    let start = clock::now();
    let mut players: Vec<Player> = plan
        .players
        .into_iter()
        .map(|spec| {
            let slow = spec.slow;
            Player {
                r: PlayerResult {
                    id: spec.id,
                    slow,
                    ..PlayerResult::default()
                },
                throttle: cfg
                    .read_rate
                    .filter(|_| slow)
                    .map(|rate| Throttle::new(rate, start)),
                spec,
                conn: None,
                req: None,
                timer_gen: 0,
                wake: None,
                first_started: None,
                ttfb_done: false,
                settled: false,
                ts: None,
                hls: None,
                playlist_body: Vec::new(),
            }
        })
        .collect();
    // Starts are paced at this worker's share of --connect-rate.
    let threads = shared.progress.len().max(1) as f64;
    let start_every = Duration::from_secs_f64(threads / cfg.connect_rate);
    let mut next_start = start;
    let mut started = 0usize;
    let mut next_sweep = start + SWEEP;
    let progress = &shared.progress[plan.index];
    let mut cpu_at_measure = None;
    let mut cpu = Duration::ZERO;
    loop {
        let now = clock::now();
        let (start, end) = shared.window();
        let window = Window { start, end };
        if cpu_at_measure.is_none() && window.start.is_some_and(|s| now >= s) {
            cpu_at_measure = Some(srtrelay::shard::sys::thread_cpu_time());
        }
        if shared.closing() {
            if let Some(t0) = cpu_at_measure {
                cpu = srtrelay::shard::sys::thread_cpu_time().saturating_sub(t0);
            }
            break;
        }
        let mut ctx = Ctx {
            cfg: &cfg,
            poll: &poll,
            timers: &mut timers,
            now,
            window,
            ttfb: &mut ttfb,
            first_pat: &mut first_pat,
            latency: &mut latency,
            latency_slow: &mut latency_slow,
            next_generation: &mut next_generation,
        };
        while started < players.len() && next_start <= now {
            let p = &mut players[started];
            p.first_started = Some(now);
            begin(p, started, &mut ctx);
            started += 1;
            next_start += start_every;
        }
        while let Some(Reverse((at, idx, generation))) = ctx.timers.peek().copied() {
            if at > now {
                break;
            }
            ctx.timers.pop();
            let p = &mut players[idx];
            if p.timer_gen != generation {
                continue;
            }
            match p.wake.take() {
                Some(Wake::Begin) => begin(p, idx, &mut ctx),
                Some(Wake::Next) => hls_next(p, idx, &mut ctx),
                Some(Wake::Refill) => drive(p, idx, &mut scratch, &mut ctx),
                None => {}
            }
        }
        if now >= next_sweep {
            next_sweep = now + SWEEP;
            for (idx, p) in players.iter_mut().enumerate() {
                check_deadline(p, idx, &mut ctx);
            }
            // Counters for the progress line and the coordinator, with the sweep: a walk over
            // every player is not for every turn.
            let (mut settled, mut playing, mut bytes, mut errors, mut disc) = (0, 0, 0, 0, 0);
            for p in &players {
                settled += u64::from(p.settled);
                playing += u64::from(is_playing(p, now, &cfg));
                bytes += p.r.bytes;
                // Every failure, statuses and disconnects included, is counted once by reason.
                errors += p.r.failures.values().sum::<u64>();
                disc += p.r.disconnects;
            }
            progress.settled.store(settled, Relaxed);
            progress.playing.store(playing, Relaxed);
            progress.bytes.store(bytes, Relaxed);
            progress.errors.store(errors, Relaxed);
            progress.disconnects.store(disc, Relaxed);
        }
        // Sleep until the next timer, start or sweep, at most MAX_WAIT (`ctx`'s borrows ended
        // with its last use above).
        let mut wake_at = now + MAX_WAIT;
        if let Some(Reverse((at, _, _))) = timers.peek() {
            wake_at = wake_at.min(*at);
        }
        if started < players.len() {
            wake_at = wake_at.min(next_start);
        }
        wake_at = wake_at.min(next_sweep);
        match poll.poll(&mut events, Some(wake_at.saturating_duration_since(now))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        let now = clock::now();
        let mut ctx = Ctx {
            cfg: &cfg,
            poll: &poll,
            timers: &mut timers,
            now,
            window,
            ttfb: &mut ttfb,
            first_pat: &mut first_pat,
            latency: &mut latency,
            latency_slow: &mut latency_slow,
            next_generation: &mut next_generation,
        };
        for ev in events.iter() {
            let idx = ev.token().0;
            if let Some(p) = players.get_mut(idx) {
                drive(p, idx, &mut scratch, &mut ctx);
            }
        }
    }
    let now = clock::now();
    let mut out = Vec::with_capacity(players.len());
    for mut p in players {
        p.r.playing_at_end = is_playing(&p, now, &cfg);
        if let Some(ts) = &p.ts {
            add_ts(&mut p.r, ts);
        }
        out.push(p.r);
    }
    Ok(WorkerOutput {
        players: out,
        ttfb,
        first_pat,
        latency,
        latency_slow,
        cpu,
    })
}

fn is_playing(p: &Player, now: Instant, cfg: &HttpConfig) -> bool {
    match cfg.mode {
        Mode::Ts => p.req.as_ref().is_some_and(|r| {
            r.resp.head().is_some_and(|h| h.status == 200)
                && now.saturating_duration_since(r.last_byte) < cfg.timeout
        }),
        Mode::Hls => p.hls.as_ref().is_some_and(|h| {
            let within = Duration::from_secs_f64((h.target * 3.0).max(2.0)) + cfg.timeout;
            h.last_ok
                .is_some_and(|t| now.saturating_duration_since(t) < within)
        }),
    }
}

fn add_ts(r: &mut PlayerResult, ts: &TsCheck) {
    r.cc_errors += ts.cc_errors;
    r.resyncs += ts.resyncs;
    r.ts_packets += ts.packets;
}

fn schedule(p: &mut Player, idx: usize, at: Instant, wake: Wake, ctx: &mut Ctx<'_>) {
    p.timer_gen += 1;
    p.wake = Some(wake);
    ctx.timers.push(Reverse((at, idx, p.timer_gen)));
}

fn fail(p: &mut Player, reason: impl Into<String>) {
    *p.r.failures.entry(reason.into()).or_default() += 1;
}

/// Starts the player's stream (TS) or its first playlist load (HLS).
fn begin(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    match ctx.cfg.mode {
        Mode::Ts => {
            if let Some(ts) = p.ts.take() {
                add_ts(&mut p.r, &ts);
            }
            p.ts = Some(TsCheck::new());
            let path = p.spec.path.clone();
            request(p, idx, Kind::Ts, &path, Duration::ZERO, None, ctx);
        }
        Mode::Hls => {
            let hls = p.hls.get_or_insert_with(|| Hls {
                playlist_path: p.spec.path.clone(),
                ..Hls::default()
            });
            hls.reload_started = Some(ctx.now);
            let path = hls.playlist_path.clone();
            request(
                p,
                idx,
                Kind::Playlist { blocking: false },
                &path,
                Duration::ZERO,
                None,
                ctx,
            );
        }
    }
}

/// Sends a GET on the player's connection, opening one when it has none that can be reused.
fn request(
    p: &mut Player,
    idx: usize,
    kind: Kind,
    path: &str,
    deadline_extra: Duration,
    end_pdt_ms: Option<f64>,
    ctx: &mut Ctx<'_>,
) {
    let reuse = p.conn.as_ref().is_some_and(|c| c.reusable);
    if !reuse {
        close(p, ctx);
        let stream = match TcpStream::connect(ctx.cfg.addr) {
            Ok(s) => s,
            Err(e) => return failed(p, idx, format!("connect: {}", e.kind()), ctx),
        };
        let mut stream = stream;
        if let Err(e) = ctx.poll.registry().register(
            &mut stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return failed(p, idx, format!("register: {e}"), ctx);
        }
        // Requests are one small write each: no reason to wait for Nagle.
        let _ = stream.set_nodelay(true);
        *ctx.next_generation += 1;
        p.conn = Some(Conn {
            stream,
            connecting: true,
            out: Vec::new(),
            out_pos: 0,
            generation: *ctx.next_generation,
            reusable: false,
        });
    }
    let conn = p.conn.as_mut().expect("just set");
    conn.out = get_request(&ctx.cfg.host_header, path);
    conn.out_pos = 0;
    conn.reusable = false;
    p.playlist_body.clear();
    p.req = Some(Request {
        kind,
        started: ctx.now,
        resp: Response::new(),
        reused: reuse,
        last_byte: ctx.now,
        deadline_extra,
        end_pdt_ms,
    });
    if reuse && let Err(e) = flush(conn) {
        failed(p, idx, format!("write: {}", e.kind()), ctx);
    }
}

fn close(p: &mut Player, ctx: &mut Ctx<'_>) {
    if let Some(mut c) = p.conn.take() {
        let _ = ctx.poll.registry().deregister(&mut c.stream);
    }
}

fn flush(c: &mut Conn) -> io::Result<()> {
    while c.out_pos < c.out.len() {
        match c.stream.write(&c.out[c.out_pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => c.out_pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A request failed (connect, I/O, framing, timeout): count it, drop the connection, and try
/// again after [`RETRY`].
fn failed(p: &mut Player, idx: usize, reason: String, ctx: &mut Ctx<'_>) {
    fail(p, reason);
    let kind = p.req.take().map(|r| r.kind);
    close(p, ctx);
    p.settled = true;
    retry(p, idx, kind, ctx);
}

fn retry(p: &mut Player, idx: usize, kind: Option<Kind>, ctx: &mut Ctx<'_>) {
    let at = ctx.now + RETRY;
    match kind {
        // A failed segment is skipped (a live player moves on); the next step goes on.
        Some(Kind::Media { .. }) => {
            if let Some(h) = p.hls.as_mut() {
                h.queue.pop_front();
            }
            if ctx.window.contains(ctx.now) {
                p.r.failed_fetches += 1;
            }
            schedule(p, idx, ctx.now, Wake::Next, ctx);
        }
        _ => schedule(p, idx, at, Wake::Begin, ctx),
    }
}

fn check_deadline(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    let Some(r) = &p.req else { return };
    let now = ctx.now;
    if r.resp.head().is_none() {
        if now.saturating_duration_since(r.started) > ctx.cfg.timeout + r.deadline_extra {
            let what = if p.conn.as_ref().is_some_and(|c| c.connecting) {
                "connect timeout"
            } else {
                "no response within --timeout"
            };
            failed(p, idx, what.to_string(), ctx);
        }
    } else if now.saturating_duration_since(r.last_byte) > ctx.cfg.timeout
        && p.wake != Some(Wake::Refill)
    {
        // The body stopped for a whole timeout: a player would give up and reconnect.
        p.r.disconnects += 1;
        failed(p, idx, "body stalled for --timeout".to_string(), ctx);
    }
}

/// Socket readiness (or the throttle's refill): finish connecting, write, read what is there.
fn drive(p: &mut Player, idx: usize, scratch: &mut [u8], ctx: &mut Ctx<'_>) {
    let Some(c) = p.conn.as_mut() else { return };
    if c.connecting {
        if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
            return failed(p, idx, format!("connect: {}", e.kind()), ctx);
        }
        match c.stream.peer_addr() {
            Ok(_) => c.connecting = false,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => return failed(p, idx, format!("connect: {}", e.kind()), ctx),
        }
    }
    if let Err(e) = flush(c) {
        return failed(p, idx, format!("write: {}", e.kind()), ctx);
    }
    let generation = c.generation;
    loop {
        let Some(c) = p.conn.as_mut().filter(|c| c.generation == generation) else {
            return;
        };
        let mut limit = scratch.len();
        if let Some(t) = p.throttle.as_mut() {
            limit = limit.min(t.refill(ctx.now));
            if limit == 0 {
                let at = t.ready_at(ctx.now);
                if p.wake != Some(Wake::Refill) {
                    schedule(p, idx, at, Wake::Refill, ctx);
                }
                return;
            }
        }
        match c.stream.read(&mut scratch[..limit]) {
            Ok(0) => return eof(p, idx, ctx),
            Ok(n) => {
                if let Some(t) = p.throttle.as_mut() {
                    t.tokens -= n as f64;
                }
                on_bytes(p, idx, &scratch[..n], ctx);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if p.req.as_ref().is_some_and(|r| r.resp.started()) {
                    p.r.disconnects += 1;
                }
                return failed(p, idx, format!("read: {}", e.kind()), ctx);
            }
        }
    }
}

fn eof(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    let Some(mut r) = p.req.take() else {
        // An idle kept-alive connection the server closed: the next request opens another.
        return close(p, ctx);
    };
    close(p, ctx);
    if r.resp.close_ends_body() {
        p.req = Some(r);
        return complete(p, idx, ctx);
    }
    if !r.resp.started() && r.reused {
        // The server closed a kept-alive connection as we reused it: not the stream's fault.
        let path = last_path(p, &r);
        let kind = r.kind;
        return request(p, idx, kind, &path, r.deadline_extra, r.end_pdt_ms, ctx);
    }
    if r.resp.started() {
        p.r.disconnects += 1;
    }
    let what = if r.kind == Kind::Ts && r.resp.head().is_some() {
        "stream closed by the server"
    } else {
        "connection closed mid-response"
    };
    fail(p, what);
    p.settled = true;
    retry(p, idx, Some(r.kind), ctx);
}

/// The path a request was for, to send it again.
fn last_path(p: &Player, r: &Request) -> String {
    match r.kind {
        Kind::Ts => p.spec.path.clone(),
        Kind::Playlist { .. } => p
            .hls
            .as_ref()
            .map(|h| h.playlist_path.clone())
            .unwrap_or_default(),
        Kind::Media { .. } => p
            .hls
            .as_ref()
            .and_then(|h| h.queue.front().map(|f| f.path.clone()))
            .unwrap_or_default(),
    }
}

fn on_bytes(p: &mut Player, idx: usize, mut data: &[u8], ctx: &mut Ctx<'_>) {
    let now = ctx.now;
    let in_window = ctx.window.contains(now);
    while !data.is_empty() {
        let Some(r) = p.req.as_mut() else {
            // Bytes nobody asked for: the connection cannot be trusted.
            fail(p, "bytes after the response");
            return close(p, ctx);
        };
        r.last_byte = now;
        let ok = r.resp.head().is_some_and(|h| h.status == 200);
        let kind = r.kind;
        let started = r.started;
        let res = {
            let ts = &mut p.ts;
            let body = &mut p.playlist_body;
            let result = &mut p.r;
            let first_pat = &mut *ctx.first_pat;
            r.resp.feed(data, &mut |b: &[u8]| {
                if !ok {
                    return;
                }
                match kind {
                    Kind::Ts => {
                        if in_window {
                            result.bytes += b.len() as u64;
                        }
                        if let Some(ts) = ts.as_mut() {
                            let ev = ts.feed(b);
                            if ev.first_pat {
                                let _ =
                                    first_pat.record(us(now.saturating_duration_since(started)));
                            }
                            match ev.keyframe {
                                Some(KeyframeStart::Yes) => result.keyframe_yes += 1,
                                Some(KeyframeStart::No) => result.keyframe_no += 1,
                                None => {}
                            }
                        }
                    }
                    Kind::Playlist { .. } => {
                        if body.len() + b.len() <= MAX_PLAYLIST {
                            body.extend_from_slice(b);
                        }
                    }
                    Kind::Media { .. } => {
                        if in_window {
                            result.bytes += b.len() as u64;
                        }
                    }
                }
            })
        };
        let fed = match res {
            Ok(f) => f,
            Err(e) => {
                if p.req.as_ref().is_some_and(|r| r.resp.head().is_some()) {
                    p.r.disconnects += 1;
                }
                return failed(p, idx, e.to_string(), ctx);
            }
        };
        data = &data[fed.used..];
        if fed.head_now {
            let r = p.req.as_ref().expect("still there");
            let h = r.resp.head().expect("head_now");
            if !p.ttfb_done {
                p.ttfb_done = true;
                let from = p.first_started.unwrap_or(r.started);
                let _ = ctx.ttfb.record(us(now.saturating_duration_since(from)));
            }
            if h.status != 200 {
                p.r.http_errors += 1;
                fail(p, format!("HTTP {}", h.status));
            } else {
                p.r.ever_ok = true;
            }
            if matches!(kind, Kind::Ts | Kind::Playlist { .. }) {
                p.settled = true;
            }
        }
        if fed.done {
            complete(p, idx, ctx);
            if !data.is_empty() {
                fail(p, "bytes after the response");
                return close(p, ctx);
            }
            return;
        }
    }
}

/// A response ended (its body complete, or its close-delimited connection closed).
fn complete(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    let r = p.req.take().expect("a request completed");
    let head = r
        .resp
        .head()
        .cloned()
        .expect("complete responses have a head");
    if let Some(c) = p.conn.as_mut() {
        c.reusable = head.keep_alive;
    }
    if !head.keep_alive {
        close(p, ctx);
    }
    let ok = head.status == 200;
    match r.kind {
        Kind::Ts => {
            // A live stream has no end: treat it like a drop and reconnect.
            if ok {
                p.r.disconnects += 1;
                fail(p, "stream ended by the server");
            }
            schedule(p, idx, ctx.now + RETRY, Wake::Begin, ctx);
        }
        Kind::Playlist { blocking } => {
            if blocking && ok {
                p.r.blocking_reloads += 1;
            }
            if ok {
                p.r.playlists += 1;
                on_playlist(p, idx, ctx);
            } else {
                let wait = p.hls.as_ref().map_or(RETRY, |h| half_target(h.target));
                schedule(p, idx, ctx.now + wait, Wake::Begin, ctx);
            }
        }
        Kind::Media { part } => {
            if let Some(h) = p.hls.as_mut() {
                h.queue.pop_front();
            }
            if ctx.window.contains(ctx.now) {
                if ok {
                    if part {
                        p.r.parts += 1;
                    } else {
                        p.r.segments += 1;
                    }
                    if let Some(end) = r.end_pdt_ms {
                        let lat_ms = clock::unix_ms() - end;
                        let h = if p.spec.slow {
                            &mut *ctx.latency_slow
                        } else {
                            &mut *ctx.latency
                        };
                        let _ = h.record((lat_ms.max(0.001) * 1000.0) as u64);
                    }
                } else {
                    p.r.failed_fetches += 1;
                }
            }
            hls_next(p, idx, ctx);
        }
    }
}

fn half_target(target: f64) -> Duration {
    if target > 0.0 {
        Duration::from_secs_f64(target / 2.0)
    } else {
        RETRY
    }
}

/// Resolves a playlist's URI against the playlist's own path (RFC 3986 §5.2, the cases HLS
/// servers produce: absolute URL on the same server, absolute path, relative path).
pub fn resolve(base_path: &str, uri: &str) -> String {
    if let Some(rest) = uri.strip_prefix("http://") {
        // Same server assumed: the path of an absolute URL.
        return rest
            .find('/')
            .map_or("/".to_string(), |i| rest[i..].to_string());
    }
    if uri.starts_with('/') {
        return uri.to_string();
    }
    let base = base_path.split(['?', '#']).next().unwrap_or("");
    let dir = base.rfind('/').map_or("/", |i| &base[..=i]);
    format!("{dir}{uri}")
}

/// A playlist arrived: queue what is new, then fetch or schedule the reload.
fn on_playlist(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    let text = String::from_utf8_lossy(&p.playlist_body).into_owned();
    let hls = p.hls.as_mut().expect("HLS players have state");
    let m = match m3u8::parse(&text) {
        Ok(Playlist::Media(m)) => m,
        Ok(Playlist::Multivariant(v)) => {
            hls.playlist_path = resolve(&hls.playlist_path, &v[0]);
            return schedule(p, idx, ctx.now, Wake::Begin, ctx);
        }
        Err(e) => {
            fail(p, format!("bad playlist: {e}"));
            let wait = half_target(p.hls.as_ref().map_or(0.0, |h| h.target));
            return schedule(p, idx, ctx.now + wait, Wake::Begin, ctx);
        }
    };
    let in_window = ctx.window.contains(ctx.now);
    hls.target = m.target_duration;
    hls.can_block = m.can_block_reload;
    hls.last_ok = Some(ctx.now);
    let uses_parts = m.can_block_reload
        && (!m.trailing_parts.is_empty() || m.segments.iter().any(|s| !s.parts.is_empty()));
    hls.uses_parts = uses_parts;
    // A new player starts at the newest complete segment (then follows parts, if any).
    let mut next = *hls
        .next_msn
        .get_or_insert_with(|| m.segments.last().map_or(m.next_msn(), |s| s.msn));
    if next > m.next_msn() {
        // The playlist went back (a restarted stream): start over at its live edge.
        fail(p, "playlist media sequence went back");
        let hls = p.hls.as_mut().expect("HLS");
        next = m.segments.last().map_or(m.next_msn(), |s| s.msn);
        hls.next_part = 0;
        hls.next_msn = Some(next);
    }
    let hls = p.hls.as_mut().expect("HLS");
    let mut gaps = 0;
    if m.media_sequence > next {
        gaps += m.media_sequence - next;
        next = m.media_sequence;
        hls.next_part = 0;
    }
    let before = hls.queue.len();
    let base = hls.playlist_path.clone();
    let from = next;
    for seg in m.segments.iter().filter(|s| s.msn >= from) {
        let seg_pdt = seg.pdt_ms;
        if hls.next_part > 0 && seg.msn == next && seg.parts.len() > hls.next_part {
            // Part of it fetched already as parts: the rest of its parts.
            let mut t = seg_pdt.map(|t| {
                t + seg.parts[..hls.next_part]
                    .iter()
                    .map(|x| x.duration * 1000.0)
                    .sum::<f64>()
            });
            for part in &seg.parts[hls.next_part..] {
                t = t.map(|t| t + part.duration * 1000.0);
                hls.queue.push_back(Fetch {
                    path: resolve(&base, &part.uri),
                    part: true,
                    end_pdt_ms: t,
                });
            }
        } else if !(hls.next_part > 0 && seg.msn == next && seg.parts.len() == hls.next_part) {
            hls.queue.push_back(Fetch {
                path: resolve(&base, &seg.uri),
                part: false,
                end_pdt_ms: seg_pdt.map(|t| t + seg.duration * 1000.0),
            });
        }
        next = seg.msn + 1;
        hls.next_part = 0;
    }
    if uses_parts && next == m.next_msn() {
        let mut t = m.trailing_pdt_ms;
        for (i, part) in m.trailing_parts.iter().enumerate() {
            t = t.map(|t| t + part.duration * 1000.0);
            if i >= hls.next_part {
                hls.queue.push_back(Fetch {
                    path: resolve(&base, &part.uri),
                    part: true,
                    end_pdt_ms: t,
                });
                hls.next_part = i + 1;
            }
        }
    }
    hls.next_msn = Some(next);
    hls.changed = hls.queue.len() > before;
    if in_window {
        p.r.gaps += gaps;
    }
    hls_next(p, idx, ctx);
}

/// The next HLS step: fetch the queue's head, or reload the playlist (blocking when the server
/// can, else after the RFC 8216 §6.3.4 wait).
fn hls_next(p: &mut Player, idx: usize, ctx: &mut Ctx<'_>) {
    if p.req.is_some() {
        return;
    }
    let Some(hls) = p.hls.as_mut() else { return };
    if let Some(f) = hls.queue.front().cloned() {
        let kind = Kind::Media { part: f.part };
        return request(p, idx, kind, &f.path, Duration::ZERO, f.end_pdt_ms, ctx);
    }
    if hls.can_block
        && let Some(msn) = hls.next_msn
    {
        let sep = if hls.playlist_path.contains('?') {
            '&'
        } else {
            '?'
        };
        let mut path = format!("{}{sep}_HLS_msn={msn}", hls.playlist_path);
        if hls.uses_parts {
            path.push_str(&format!("&_HLS_part={}", hls.next_part));
        }
        hls.reload_started = Some(ctx.now);
        // The server may hold the request up to three target durations (LL-HLS §6.2.5.2).
        let extra = Duration::from_secs_f64(hls.target * 3.0);
        return request(
            p,
            idx,
            Kind::Playlist { blocking: true },
            &path,
            extra,
            None,
            ctx,
        );
    }
    // Changed: wait a target duration from the last load's start; unchanged: half of one.
    let wait = if hls.changed {
        Duration::from_secs_f64(hls.target.max(0.1))
    } else {
        half_target(hls.target)
    };
    let from = hls.reload_started.unwrap_or(ctx.now);
    let at = (from + wait).max(ctx.now);
    schedule(p, idx, at, Wake::Begin, ctx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_resolve_against_the_playlist() {
        assert_eq!(
            resolve("/live/cam1/index.m3u8", "seg7.ts"),
            "/live/cam1/seg7.ts"
        );
        assert_eq!(
            resolve("/live/cam1/index.m3u8?_HLS_msn=3", "p.ts?x=1"),
            "/live/cam1/p.ts?x=1"
        );
        assert_eq!(
            resolve("/live/cam1/index.m3u8", "/other/seg.ts"),
            "/other/seg.ts"
        );
        assert_eq!(
            resolve("/index.m3u8", "http://127.0.0.1:8080/a/b.ts"),
            "/a/b.ts"
        );
        assert_eq!(
            resolve("/a/master.m3u8", "v0/index.m3u8"),
            "/a/v0/index.m3u8"
        );
    }

    #[test]
    fn throttle_allows_its_rate() {
        let t0 = clock::now();
        let mut t = Throttle::new(100_000, t0);
        assert_eq!(t.refill(t0), 10_000, "starts with 100 ms of budget");
        t.tokens -= 10_000.0;
        assert_eq!(t.refill(t0 + Duration::from_millis(50)), 5_000);
        t.tokens -= 5_000.0;
        let at = t.ready_at(t0 + Duration::from_millis(50));
        let wait = at - (t0 + Duration::from_millis(50));
        assert!((wait.as_secs_f64() - 0.04096).abs() < 1e-3, "{wait:?}");
    }
}
