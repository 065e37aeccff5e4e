//! One loadgen run: start the workers, lead them through the phases (connect publishers, connect
//! subscribers, publish for the duration, drain, close), print the progress line, sample the
//! relay's and loadgen's CPU and memory, and build the report from what the workers return.
//!
//! Owns: phase timing, the measurement window (publishing start to drain end), and the
//! aggregation of per-connection results into per-role numbers. Must not: touch sockets (the
//! workers do) or print anything but the progress line (the caller prints the report).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::clock;
use crate::config::RunConfig;
use crate::control::{Phase, ProgressSum, Shared};
use crate::procstat::{self, ProcSample};
use crate::report::{
    IoStats, Latency, LoadgenUsage, RelayUsage, Report, RoleReport, RunSummary, SrtCounters,
    cpu_pct, new_histogram, us_per_packet,
};
use crate::stamp::PAYLOAD_LEN;
use crate::worker::{self, ConnState, Link, WorkerOutput};

/// Slack on top of the connect timeout and the connect pacing before giving up on a phase.
const CONNECT_SLACK: Duration = Duration::from_secs(2);
/// How often the coordinator looks at the workers' counters.
const TICK: Duration = Duration::from_millis(20);
/// Publishing starts this long after the subscribers settled, so every worker sees the start
/// time before it arrives.
const PUBLISH_LEAD: Duration = Duration::from_millis(50);

/// Wall time of each phase and the resource samples around the measurement window.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub connect: Duration,
    pub warmup: Duration,
    pub publish: Duration,
    pub drain: Duration,
    pub relay_before: Option<ProcSample>,
    pub relay_after: Option<ProcSample>,
    pub self_before: Option<ProcSample>,
    pub self_after: Option<ProcSample>,
}

/// Runs the whole thing and returns the report.
pub fn run(cfg: RunConfig) -> anyhow::Result<Report> {
    let cfg = Arc::new(cfg);
    let plans = cfg.plans();
    let shared = Arc::new(Shared::new(clock::now(), cfg.streams as usize, plans.len()));
    let mut handles = Vec::new();
    for plan in plans {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        let h = std::thread::Builder::new()
            .name(format!("loadgen-w{}", plan.index))
            .spawn(move || worker::run(cfg, shared, plan))
            .context("spawn worker")?;
        handles.push(h);
    }
    let mut progress = ProgressLine::new(&cfg);
    let result = lead(&cfg, &shared, &handles, &mut progress);
    // Whatever happened, every worker is told to close and is joined.
    shared.set_phase(Phase::Close);
    let joined = crate::run::join_workers(handles);
    progress.finish();
    let outputs = joined?;
    let timings = result?;
    Ok(aggregate(&cfg, &outputs, &timings))
}

/// The coordinator's side of the phases.
fn lead(
    cfg: &RunConfig,
    shared: &Shared,
    workers: &[JoinHandle<anyhow::Result<WorkerOutput>>],
    progress: &mut ProgressLine,
) -> anyhow::Result<Timings> {
    let t0 = clock::now();
    let pubs = u64::from(cfg.streams);
    let subs = cfg.total_subscribers();
    let per_connect = Duration::from_secs_f64(1.0 / cfg.connect_rate.max(0.001));
    let budget = |n: u64| cfg.connect_timeout + CONNECT_SLACK + per_connect.mul_f64(n as f64);

    let deadline = clock::now() + budget(pubs);
    wait_until(shared, workers, progress, deadline, |s| {
        s.pubs_settled >= pubs
    })?;
    shared.set_phase(Phase::ConnectSubscribers);
    let deadline = clock::now() + budget(subs);
    wait_until(shared, workers, progress, deadline, |s| {
        s.subs_settled >= subs
    })?;
    let connect = clock::now().saturating_duration_since(t0);

    let publish_start = clock::now() + PUBLISH_LEAD;
    shared.start_publishing(publish_start);
    let measure_start = publish_start + cfg.warmup;
    wait_until(shared, workers, progress, measure_start, |_| false)?;
    let relay_before = cfg.relay_pid.and_then(procstat::sample);
    let self_before = procstat::sample_self();
    let publish_end = measure_start + cfg.duration;
    wait_until(shared, workers, progress, publish_end, |_| false)?;
    let publish = publish_end.saturating_duration_since(measure_start);

    shared.set_phase(Phase::Drain);
    let drain_start = clock::now();
    let drain_deadline = drain_start + cfg.drain_max;
    // Done when every connected subscriber has everything its publisher sent.
    wait_until(shared, workers, progress, drain_deadline, |s| {
        s.complete >= s.subs_up
    })?;
    let drain = clock::now().saturating_duration_since(drain_start);
    let relay_after = cfg.relay_pid.and_then(procstat::sample);
    let self_after = procstat::sample_self();
    Ok(Timings {
        connect,
        warmup: cfg.warmup,
        publish,
        drain,
        relay_before,
        relay_after,
        self_before,
        self_after,
    })
}

/// Ticks until `done` holds for the summed counters or `deadline` passes; fails if a worker
/// ended early (its error is collected when it is joined).
fn wait_until(
    shared: &Shared,
    workers: &[JoinHandle<anyhow::Result<WorkerOutput>>],
    progress: &mut ProgressLine,
    deadline: Instant,
    done: impl Fn(&ProgressSum) -> bool,
) -> anyhow::Result<()> {
    loop {
        let sum = shared.sum();
        progress.maybe_print(&sum, shared.phase());
        if done(&sum) {
            return Ok(());
        }
        if workers.iter().any(JoinHandle::is_finished) {
            anyhow::bail!("a worker stopped early");
        }
        let now = clock::now();
        if now >= deadline {
            return Ok(());
        }
        std::thread::sleep(TICK.min(deadline - now));
    }
}

/// Builds the report from the workers' results.
pub fn aggregate(cfg: &RunConfig, outputs: &[WorkerOutput], t: &Timings) -> Report {
    let mut transit = new_histogram();
    let mut e2e = new_histogram();
    let mut pub_connect = new_histogram();
    let mut sub_connect = new_histogram();
    let mut io = IoStats::default();
    let mut pubs = RoleReport::default();
    let mut subs = RoleReport::default();
    // Payloads each stream's schedule called for: what its subscribers should get (so a
    // publisher that failed or could not keep up shows as subscriber loss too).
    let mut scheduled: BTreeMap<u32, u64> = BTreeMap::new();
    let mut thread_cpu = Vec::new();
    for o in outputs {
        // Same bounds everywhere, so adding cannot fail.
        let _ = transit.add(&o.transit);
        let _ = e2e.add(&o.e2e);
        let _ = pub_connect.add(&o.pub_connect);
        let _ = sub_connect.add(&o.sub_connect);
        add_io(&mut io, &o.io);
        pubs.leg.add(&o.pub_leg);
        subs.leg.add(&o.sub_leg);
        thread_cpu.push(cpu_pct(o.cpu, t.publish + t.drain));
        for p in &o.publishers {
            let c = count_link(&mut pubs, &p.link);
            pubs.expected += p.expected();
            pubs.delivered += p.handed_measured.saturating_sub(c.pkt_snd_drop);
            pubs.retransmissions += c.pkt_retrans;
            *scheduled.entry(p.stream).or_default() += p.expected();
        }
    }
    for o in outputs {
        for s in &o.subscribers {
            let c = count_link(&mut subs, &s.link);
            subs.expected += scheduled.get(&s.stream).copied().unwrap_or(0);
            subs.delivered += s.delivered;
            subs.duplicates += s.duplicates;
            subs.foreign += s.foreign;
            subs.retransmissions += c.pkt_rcv_retrans;
        }
    }
    pubs.connect = Latency::from_histogram(&pub_connect);
    subs.connect = Latency::from_histogram(&sub_connect);
    pubs.finish();
    subs.finish();

    let window = t.publish + t.drain;
    let relay = cfg
        .relay_pid
        .map(|pid| relay_usage(pid, t, window, subs.delivered));
    let loadgen_cpu = match (t.self_before, t.self_after) {
        (Some(a), Some(b)) => b.cpu.saturating_sub(a.cpu),
        _ => Duration::ZERO,
    };
    let saturated = thread_cpu.iter().any(|&p| p > 90.0);
    Report {
        run: summary(cfg, t),
        publishers: pubs,
        transit: Latency::from_histogram(&transit),
        end_to_end: Latency::from_histogram(&e2e),
        relay,
        loadgen: LoadgenUsage {
            cpu_s: loadgen_cpu.as_secs_f64(),
            cpu_pct: cpu_pct(loadgen_cpu, window),
            cpu_us_per_delivered_pkt: us_per_packet(loadgen_cpu, subs.delivered),
            thread_cpu_pct: thread_cpu,
            saturated,
        },
        subscribers: subs,
        io,
    }
}

/// Counts one connection into its role; returns its SRT counters over the measured part.
fn count_link(role: &mut RoleReport, link: &Link) -> SrtCounters {
    role.count += 1;
    if link.connected {
        role.connected += 1;
    }
    match &link.state {
        ConnState::Failed(reason) => {
            role.failed_connects += 1;
            *role.failure_reasons.entry(reason.clone()).or_default() += 1;
        }
        ConnState::Connecting(_) | ConnState::Idle => {
            role.failed_connects += 1;
            *role
                .failure_reasons
                .entry("still connecting at the end of the connect phase".into())
                .or_default() += 1;
        }
        ConnState::Closed { by_peer: true } => role.disconnects += 1,
        ConnState::Closed { by_peer: false } | ConnState::Up(_) => {}
    }
    let c = link.stats.map_or_else(SrtCounters::default, |s| {
        SrtCounters::between(link.stats_at_measure.as_ref(), &s)
    });
    role.srt.add(&c);
    c
}

fn add_io(a: &mut IoStats, b: &IoStats) {
    a.recv_datagrams += b.recv_datagrams;
    a.recv_syscalls += b.recv_syscalls;
    a.send_datagrams += b.send_datagrams;
    a.send_syscalls += b.send_syscalls;
    a.send_blocked_drops += b.send_blocked_drops;
    a.socket_errors += b.socket_errors;
    a.endpoint_drops += b.endpoint_drops;
}

fn relay_usage(pid: u32, t: &Timings, window: Duration, delivered: u64) -> RelayUsage {
    match (t.relay_before, t.relay_after) {
        (Some(a), Some(b)) => {
            let cpu = b.cpu.saturating_sub(a.cpu);
            RelayUsage {
                pid,
                alive: true,
                cpu_s: cpu.as_secs_f64(),
                cpu_pct: cpu_pct(cpu, window),
                cpu_us_per_delivered_pkt: us_per_packet(cpu, delivered),
                rss_kb_start: a.rss_kb,
                rss_kb_end: b.rss_kb,
                peak_rss_kb: b.peak_rss_kb,
            }
        }
        (a, _) => RelayUsage {
            pid,
            alive: false,
            cpu_s: 0.0,
            cpu_pct: 0.0,
            cpu_us_per_delivered_pkt: None,
            rss_kb_start: a.map_or(0, |s| s.rss_kb),
            rss_kb_end: 0,
            peak_rss_kb: 0,
        },
    }
}

fn summary(cfg: &RunConfig, t: &Timings) -> RunSummary {
    RunSummary {
        target: cfg.target.to_string(),
        streams: cfg.streams,
        subscribers_per_stream: cfg.subs_per_stream,
        bitrate_mbps: cfg.bitrate_bps / 1e6,
        payload_bytes: PAYLOAD_LEN,
        packets_per_second: cfg.packets_per_second(),
        duration_s: cfg.duration.as_secs_f64(),
        latency_ms: cfg.latency.as_millis() as u64,
        warmup_s: t.warmup.as_secs_f64(),
        threads: cfg.threads,
        pub_ports: cfg.pub_ports,
        sub_ports: cfg.sub_ports,
        seed: cfg.seed,
        source: cfg.source_desc.clone(),
        pub_leg: crate::cli::describe(&cfg.pub_leg),
        sub_leg: crate::cli::describe(&cfg.sub_leg),
        connect_s: t.connect.as_secs_f64(),
        publish_s: t.publish.as_secs_f64(),
        drain_s: t.drain.as_secs_f64(),
    }
}

/// The progress line on stderr: rewritten in place on a terminal, one line per interval
/// otherwise (for logs).
struct ProgressLine {
    every: Option<Duration>,
    out: crate::progress::StatusLine,
    start: Instant,
    last: Instant,
    last_delivered: u64,
    relay_pid: Option<u32>,
    last_relay_cpu: Option<Duration>,
    subs: u64,
    pubs: u64,
}

impl ProgressLine {
    fn new(cfg: &RunConfig) -> ProgressLine {
        let now = clock::now();
        ProgressLine {
            every: cfg.progress,
            out: crate::progress::StatusLine::default(),
            start: now,
            last: now,
            last_delivered: 0,
            relay_pid: cfg.relay_pid,
            last_relay_cpu: cfg.relay_pid.and_then(procstat::sample).map(|s| s.cpu),
            subs: cfg.total_subscribers(),
            pubs: u64::from(cfg.streams),
        }
    }

    fn maybe_print(&mut self, s: &ProgressSum, phase: Phase) {
        let Some(every) = self.every else { return };
        let now = clock::now();
        let dt = now.saturating_duration_since(self.last);
        if dt < every {
            return;
        }
        self.last = now;
        let rate = (s.delivered.saturating_sub(self.last_delivered)) as f64 / dt.as_secs_f64();
        self.last_delivered = s.delivered;
        let relay = match self.relay_pid.and_then(procstat::sample) {
            Some(r) => {
                let pct = self
                    .last_relay_cpu
                    .map(|c| cpu_pct(r.cpu.saturating_sub(c), dt));
                self.last_relay_cpu = Some(r.cpu);
                pct.map_or(String::new(), |p| {
                    format!(
                        " | relay cpu {p:.0}% rss {:.0} MiB",
                        r.rss_kb as f64 / 1024.0
                    )
                })
            }
            None if self.relay_pid.is_some() => " | relay GONE".to_string(),
            None => String::new(),
        };
        let phase = match phase {
            Phase::ConnectPublishers => "connect-pub",
            Phase::ConnectSubscribers => "connect-sub",
            Phase::Publish => "publish",
            Phase::Drain => "drain",
            Phase::Close => "close",
        };
        let line = format!(
            "[{:6.1}s] {phase:<11} pubs {}/{} subs {}/{} failed {} disc {} | sent {} delivered {} \
             ({:.0} pkt/s) | sub rexmit {}{relay}",
            now.saturating_duration_since(self.start).as_secs_f64(),
            s.pubs_up,
            self.pubs,
            s.subs_up,
            self.subs,
            s.failed,
            s.disconnects,
            s.sent,
            s.delivered,
            rate,
            s.sub_retrans,
        );
        self.out.print(&line);
    }

    fn finish(&mut self) {
        self.out.finish();
    }
}

/// Joins every worker (all of them, whatever one returned) and gives their outputs, or the
/// first error: a worker's own, or its panic.
pub(crate) fn join_workers<T>(
    handles: Vec<std::thread::JoinHandle<anyhow::Result<T>>>,
) -> anyhow::Result<Vec<T>> {
    let mut outputs = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(o)) => outputs.push(o),
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(anyhow::anyhow!("a worker thread panicked"));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(outputs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::sample;
    use crate::stamp::PayloadSource;
    use crate::worker::{Publisher, Subscriber};
    use srtrelay::srt::connection::Stats;

    fn link(state: ConnState, connected: bool, stats: Option<Stats>) -> Link {
        Link {
            sock: 0,
            state,
            connect_started: None,
            connect_us: Some(1000),
            connected,
            stats,
            stats_at_measure: None,
        }
    }

    fn output(index: usize) -> WorkerOutput {
        WorkerOutput {
            index,
            publishers: Vec::new(),
            subscribers: Vec::new(),
            transit: new_histogram(),
            e2e: new_histogram(),
            pub_connect: new_histogram(),
            sub_connect: new_histogram(),
            cpu: Duration::from_millis(500),
            io: IoStats::default(),
            pub_leg: Default::default(),
            sub_leg: Default::default(),
        }
    }

    #[test]
    fn aggregate_counts_expected_per_subscriber_from_its_publisher() {
        let cfg = RunConfig {
            relay_pid: Some(4242),
            ..sample()
        };
        let stats = Stats {
            pkt_retrans: 7,
            pkt_snd_drop: 2,
            ..Default::default()
        };
        // Worker 0: stream 0's publisher (100 handed of 100 scheduled, 2 dropped by SRT's
        // sender) and two of its subscribers; worker 1: stream 1's publisher, which never
        // connected, and one of its subscribers.
        let mut w0 = output(0);
        let mut p0 = Publisher::new(0, 0, PayloadSource::Synthetic);
        p0.link = link(ConnState::Closed { by_peer: false }, true, Some(stats));
        (p0.scheduled, p0.handed, p0.handed_measured) = (100, 100, 100);
        w0.publishers.push(p0);
        for (delivered, dups) in [(100, 0), (97, 3)] {
            let mut s = Subscriber::new(0, 0, 0);
            s.link = link(
                ConnState::Closed { by_peer: false },
                true,
                Some(Stats {
                    pkt_rcv_retrans: 5,
                    ..Default::default()
                }),
            );
            (s.delivered, s.duplicates) = (delivered, dups);
            w0.subscribers.push(s);
        }
        let mut w1 = output(1);
        let mut p1 = Publisher::new(1, 0, PayloadSource::Synthetic);
        p1.link = link(ConnState::Failed("rejected: 1403".into()), false, None);
        p1.scheduled = 100;
        w1.publishers.push(p1);
        let mut s = Subscriber::new(1, 0, 0);
        s.link = link(ConnState::Closed { by_peer: true }, true, None);
        w1.subscribers.push(s);

        let t = Timings {
            connect: Duration::from_millis(100),
            warmup: Duration::ZERO,
            publish: Duration::from_secs(1),
            drain: Duration::ZERO,
            relay_before: Some(ProcSample {
                cpu: Duration::from_secs(10),
                rss_kb: 1000,
                peak_rss_kb: 1000,
            }),
            relay_after: Some(ProcSample {
                cpu: Duration::from_millis(10_197),
                rss_kb: 1500,
                peak_rss_kb: 2000,
            }),
            self_before: None,
            self_after: None,
        };
        let r = aggregate(&cfg, &[w0, w1], &t);
        let p = &r.publishers;
        assert_eq!((p.count, p.connected, p.failed_connects), (2, 1, 1));
        assert_eq!(p.failure_reasons.get("rejected: 1403"), Some(&1));
        assert_eq!((p.expected, p.delivered, p.lost), (200, 98, 102));
        assert_eq!(p.retransmissions, 7);
        let s = &r.subscribers;
        assert_eq!((s.count, s.connected, s.disconnects), (3, 3, 1));
        // Every subscriber expects its stream's 100 scheduled payloads, including stream 1's
        // whose publisher never connected.
        assert_eq!((s.expected, s.delivered, s.lost), (300, 197, 103));
        assert!((s.delivery_pct - 197.0 / 3.0).abs() < 1e-9);
        assert_eq!((s.duplicates, s.retransmissions), (3, 10));
        let relay = r.relay.expect("relay pid given");
        assert!(relay.alive);
        assert!((relay.cpu_s - 0.197).abs() < 1e-9);
        // 197 ms over 197 delivered payloads: 1000 us each.
        assert!((relay.cpu_us_per_delivered_pkt.unwrap() - 1000.0).abs() < 1e-6);
        assert_eq!((relay.rss_kb_end, relay.peak_rss_kb), (1500, 2000));
        assert_eq!(r.loadgen.thread_cpu_pct, vec![50.0, 50.0]);
        assert!(!r.loadgen.saturated);
    }

    #[test]
    fn a_relay_that_vanished_is_reported_gone() {
        let t = Timings {
            connect: Duration::ZERO,
            warmup: Duration::ZERO,
            publish: Duration::from_secs(1),
            drain: Duration::ZERO,
            relay_before: None,
            relay_after: None,
            self_before: None,
            self_after: None,
        };
        let u = relay_usage(9, &t, Duration::from_secs(1), 10);
        assert!(!u.alive && u.cpu_us_per_delivered_pkt.is_none());
    }
}
