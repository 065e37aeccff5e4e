//! One worker thread: a single-threaded loop over its publishers' and subscribers' UDP sockets,
//! one sans-IO SRT `Endpoint` per socket, batched receive (`recvmmsg`, GRO) and send
//! (`sendmmsg`, GSO), with the leg impairments applied at the socket boundary.
//!
//! Owns: its sockets, endpoints, connections and histograms for the whole run; it reads the
//! clock once per turn. Must not: share anything per packet with other threads (it publishes
//! counters to `control::Progress` once per turn and returns its results at the end).
//!
//! A turn: wait (poll) until a socket is readable or the earliest deadline (endpoint timers,
//! TSBPD deliveries, delayed datagrams, the next scheduled payload, the next connect); then
//! receive, release delayed datagrams, publish, run due timers, deliver, transmit, handle
//! events, and refresh the cached deadlines of the sockets that were touched. Only touched
//! sockets are re-polled, which keeps a turn's cost proportional to the work rather than to the
//! number of connections (the TSBPD delivery deadline is still a scan of a socket's members).

mod conns;
mod io;

pub use conns::{ConnState, Link, Publisher, Schedule, SeqWindow, Subscriber};

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use srtrelay::shard::sys::thread_cpu_time;
use srtrelay::srt::connection::Stats;
use srtrelay::srt::crypto::Passphrase;
use srtrelay::srt::endpoint::EndpointEvent;
use srtrelay::srt::handshake::CallerConfig;
use srtrelay::srt::seq::SeqNo;

use self::io::{Held, Kind, Member, Sock};
use crate::clock;
use crate::config::{Plan, RunConfig};
use crate::control::{Phase, Shared};
use crate::loss::{DelayLine, Verdict};
use crate::report::{IoStats, new_histogram};
use crate::stamp::{PAYLOAD_LEN, Stamp};

/// Longest sleep in one turn: how quickly a worker notices a phase change.
const MAX_WAIT: Duration = Duration::from_millis(10);
/// After closing, how long to keep turning for SHUTDOWNs to go out and events to come back.
const CLOSE_GRACE: Duration = Duration::from_millis(300);
/// How often the progress counters are published.
const PROGRESS_EVERY: Duration = Duration::from_millis(20);
/// How often the sampled progress counters (retransmissions) are refreshed.
const SLOW_PROGRESS: Duration = Duration::from_millis(500);

/// What a worker hands back.
pub struct WorkerOutput {
    pub index: usize,
    pub publishers: Vec<Publisher>,
    pub subscribers: Vec<Subscriber>,
    /// Subscriber arrival minus send stamp, us.
    pub transit: Histogram<u64>,
    /// Subscriber TSBPD delivery minus send stamp, us.
    pub e2e: Histogram<u64>,
    pub pub_connect: Histogram<u64>,
    pub sub_connect: Histogram<u64>,
    /// This thread's CPU time from the end of the warm-up to the close.
    pub cpu: Duration,
    pub io: IoStats,
    pub pub_leg: crate::loss::LegStats,
    pub sub_leg: crate::loss::LegStats,
}

/// Runs one worker until the coordinator's `Close` phase has been carried out.
pub fn run(cfg: Arc<RunConfig>, shared: Arc<Shared>, plan: Plan) -> anyhow::Result<WorkerOutput> {
    if let Some(cpu) = plan.cpu
        && !core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
    {
        anyhow::bail!("worker {}: cannot pin to CPU {cpu}", plan.index);
    }
    let mut w = Worker::new(cfg, shared, &plan)?;
    w.run_loop()?;
    Ok(w.finish())
}

struct Worker {
    cfg: Arc<RunConfig>,
    shared: Arc<Shared>,
    index: usize,
    socks: Vec<Sock>,
    pubs: Vec<Publisher>,
    subs: Vec<Subscriber>,
    io: io::Batches,
    delayed_in: DelayLine<Held>,
    delayed_out: DelayLine<Held>,
    pool: Vec<Vec<u8>>,
    transit: Histogram<u64>,
    e2e: Histogram<u64>,
    pub_connect: Histogram<u64>,
    sub_connect: Histogram<u64>,
    payload: Box<[u8; PAYLOAD_LEN]>,
    rbuf: Vec<u8>,
    phase: Option<Phase>,
    connects: VecDeque<Member>,
    connect_interval: Duration,
    next_connect: Instant,
    /// When the warm-up ends and measuring starts.
    measure_start: Option<Instant>,
    /// This thread's CPU time when measuring started.
    cpu_at_measure: Option<Duration>,
    cpu: Duration,
    closing_since: Option<Instant>,
    last_progress: Instant,
    last_slow_progress: Instant,
}

impl Worker {
    fn new(cfg: Arc<RunConfig>, shared: Arc<Shared>, plan: &Plan) -> anyhow::Result<Worker> {
        let now = clock::now();
        let mut socks = Vec::new();
        for i in 0..plan.pub_ports {
            socks
                .push(Sock::open(&cfg, Kind::Pub, plan.index, i, now).context("publisher socket")?);
        }
        for i in 0..plan.sub_ports {
            let s = Sock::open(&cfg, Kind::Sub, plan.index, plan.pub_ports + i, now)
                .context("subscriber socket")?;
            socks.push(s);
        }
        let pubs = plan
            .publishers
            .iter()
            .enumerate()
            .map(|(i, &s)| Publisher::new(s, i % plan.pub_ports.max(1), cfg.source.clone()))
            .collect();
        let subs = plan
            .subscribers
            .iter()
            .enumerate()
            .map(|(i, &(s, k))| Subscriber::new(s, k, plan.pub_ports + i % plan.sub_ports.max(1)))
            .collect();
        let io = io::Batches::new(socks.first().map(|s| &s.udp));
        let threads = cfg.threads.max(1) as f64;
        let connect_interval = Duration::from_secs_f64(threads / cfg.connect_rate.max(0.001));
        Ok(Worker {
            index: plan.index,
            socks,
            pubs,
            subs,
            io,
            delayed_in: DelayLine::default(),
            delayed_out: DelayLine::default(),
            pool: Vec::new(),
            transit: new_histogram(),
            e2e: new_histogram(),
            pub_connect: new_histogram(),
            sub_connect: new_histogram(),
            payload: Box::new([0; PAYLOAD_LEN]),
            rbuf: vec![0; 2048],
            phase: None,
            connects: VecDeque::new(),
            connect_interval,
            next_connect: now,
            measure_start: None,
            cpu_at_measure: None,
            cpu: Duration::ZERO,
            closing_since: None,
            last_progress: now,
            last_slow_progress: now,
            cfg,
            shared,
        })
    }

    fn run_loop(&mut self) -> anyhow::Result<()> {
        loop {
            let now = clock::now();
            let phase = self.shared.phase();
            if self.phase != Some(phase) {
                self.enter(phase, now);
            }
            if let Some(since) = self.closing_since {
                let open = self.socks.iter().any(|s| !s.members.is_empty());
                if !open || now.saturating_duration_since(since) > CLOSE_GRACE {
                    return Ok(());
                }
            }
            self.start_connects(now);
            self.receive(now)?;
            while let Some(h) = self.delayed_in.pop_due(now) {
                self.feed(h.sock, now, h.addr, &h.data);
                self.pool.push(h.data);
            }
            if self.cpu_at_measure.is_none() && self.measure_start.is_some_and(|t| now >= t) {
                self.start_measuring();
            }
            self.publish(now);
            for s in &mut self.socks {
                if s.deadline.is_some_and(|t| t <= now) {
                    s.ep.handle_timeout(now);
                    s.dirty = true;
                }
            }
            self.deliver(now);
            for si in 0..self.socks.len() {
                if self.socks[si].dirty {
                    self.transmit(si, now)?;
                }
            }
            self.release_delayed_out(now)?;
            for si in 0..self.socks.len() {
                if self.socks[si].dirty {
                    self.events(si, now);
                    self.socks[si].refresh();
                }
            }
            if self.phase == Some(Phase::Drain) {
                self.check_complete();
            }
            self.report_progress(now);
            self.wait(now)?;
        }
    }

    /// Carries out a phase change (possibly skipping phases the coordinator went through
    /// between two turns).
    fn enter(&mut self, phase: Phase, now: Instant) {
        let prev = self.phase;
        self.phase = Some(phase);
        if prev.is_none() {
            self.connects.extend((0..self.pubs.len()).map(Member::Pub));
            self.next_connect = now;
        }
        if phase >= Phase::ConnectSubscribers && prev < Some(Phase::ConnectSubscribers) {
            self.connects.extend((0..self.subs.len()).map(Member::Sub));
            self.next_connect = self.next_connect.max(now);
        }
        if phase >= Phase::Publish && prev < Some(Phase::Publish) {
            let start = self.shared.publish_start();
            self.measure_start = Some(start + self.cfg.warmup);
            for p in &mut self.pubs {
                p.schedule = Some(self.cfg.schedule(p.stream, start));
                p.measure_from = self.cfg.measure_from(p.stream, start);
                p.measure_until = self.cfg.measure_until(p.stream, start);
            }
            for s in &mut self.subs {
                s.measure_from = self.cfg.measure_from(s.stream, start);
                s.measure_until = self.cfg.measure_until(s.stream, start);
            }
        }
        if phase >= Phase::Drain && prev < Some(Phase::Drain) {
            // Everything due before the end goes out before the count is final.
            self.publish(now);
            for p in &self.pubs {
                self.shared.set_published(p.stream, p.handed_measured);
            }
        }
        if phase >= Phase::Close && prev < Some(Phase::Close) {
            self.close_all(now);
        }
    }

    fn start_connects(&mut self, now: Instant) {
        while self.next_connect <= now {
            let Some(m) = self.connects.pop_front() else {
                return;
            };
            self.next_connect += self.connect_interval;
            let cfg = &self.cfg;
            let (link, streamid, flow_window, passphrase, remote) = match m {
                Member::Pub(i) => {
                    let p = &mut self.pubs[i];
                    let id = cfg.pub_streamid_of(p.stream);
                    let r = cfg.target;
                    (&mut p.link, id, io::PUB_RCVBUF_PKTS, &cfg.pub_passphrase, r)
                }
                Member::Sub(i) => {
                    let s = &mut self.subs[i];
                    let id = cfg.sub_streamid_of(s.stream, s.number);
                    let r = cfg.sub_target.unwrap_or(cfg.target);
                    (&mut s.link, id, cfg.rcvbuf_pkts, &cfg.sub_passphrase, r)
                }
            };
            let mut cc = CallerConfig::new(0, SeqNo::new(0), remote);
            cc.stream_id = Some(streamid);
            cc.recv_latency = cfg.latency;
            cc.peer_latency = cfg.latency;
            // libsrt advertises min(SRTO_RCVBUF, SRTO_FC): never more than the buffer holds.
            cc.flow_window = u32::try_from(flow_window).unwrap_or(u32::MAX);
            cc.connect_timeout = cfg.connect_timeout;
            if let Some(p) = passphrase {
                // Validated by the command line (10..=79 characters).
                cc.encryption.passphrase = Passphrase::new(p.clone()).ok();
                cc.pbkeylen = cfg.pbkeylen;
            }
            let sock = &mut self.socks[link.sock];
            match sock.ep.connect(now, cc) {
                Ok(id) => {
                    sock.members.push((id, m));
                    sock.dirty = true;
                    link.state = ConnState::Connecting(id);
                    link.connect_started = Some(now);
                }
                Err(e) => link.state = ConnState::Failed(e.to_string()),
            }
        }
    }

    fn receive(&mut self, now: Instant) -> anyhow::Result<()> {
        // Split borrows: the receive batch is read while sockets, subscribers and the delay
        // line are written.
        let Worker {
            socks,
            subs,
            io,
            delayed_in,
            pool,
            transit,
            shared,
            ..
        } = self;
        for (si, sock) in socks.iter_mut().enumerate() {
            if !std::mem::take(&mut sock.readable) {
                continue;
            }
            // Bounded so one flooded socket cannot starve the others' timers.
            for _ in 0..16 {
                let n = match io.rx.recv(sock.fd()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if io::is_transient(&e) => {
                        // An ICMP error from the server (e.g. port unreachable) surfaces once.
                        io.stats.socket_errors += 1;
                        continue;
                    }
                    Err(e) => return Err(e).context("recvmmsg"),
                };
                io.stats.recv_syscalls += 1;
                for r in io.rx.iter() {
                    if r.truncated {
                        io.stats.endpoint_drops += 1;
                        continue;
                    }
                    for seg in r.segments() {
                        io.stats.recv_datagrams += 1;
                        if sock.kind == Kind::Sub && sock.leg.is_active() {
                            match sock.leg.judge(now) {
                                Verdict::Drop => continue,
                                Verdict::Delay(at) => {
                                    let mut data = pool.pop().unwrap_or_default();
                                    data.clear();
                                    data.extend_from_slice(seg);
                                    let addr = r.from;
                                    delayed_in.push(
                                        at,
                                        Held {
                                            sock: si,
                                            addr,
                                            data,
                                        },
                                    );
                                    continue;
                                }
                                Verdict::Pass => {}
                            }
                        }
                        io::feed(sock, subs, transit, shared.start, now, r.from, seg);
                    }
                }
                if n < io.rx.slots() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn feed(&mut self, si: usize, now: Instant, from: std::net::SocketAddr, data: &[u8]) {
        let start = self.shared.start;
        io::feed(
            &mut self.socks[si],
            &mut self.subs,
            &mut self.transit,
            start,
            now,
            from,
            data,
        );
    }

    fn publish(&mut self, now: Instant) {
        let start = self.shared.start;
        for p in &mut self.pubs {
            let Some(sched) = p.schedule else {
                continue;
            };
            let due = sched.due_count(now);
            while p.scheduled < due {
                let seq = p.scheduled;
                p.scheduled += 1;
                let ConnState::Up(id) = p.link.state else {
                    p.send_errors += 1;
                    continue;
                };
                let stamp = Stamp {
                    stream: p.stream,
                    seq,
                    sent_ns: now.saturating_duration_since(start).as_nanos() as u64,
                };
                p.source.fill(&mut self.payload, &stamp);
                let sock = &mut self.socks[p.link.sock];
                match sock.ep.send(id, now, &self.payload[..]) {
                    Ok(_) => {
                        p.handed += 1;
                        if (p.measure_from..p.measure_until).contains(&seq) {
                            p.handed_measured += 1;
                        }
                    }
                    Err(_) => p.send_errors += 1,
                }
                sock.dirty = true;
            }
        }
    }

    /// Drains TSBPD deliveries on subscriber sockets that were touched or have one due.
    fn deliver(&mut self, now: Instant) {
        let now_ns = now.saturating_duration_since(self.shared.start).as_nanos() as u64;
        for s in &mut self.socks {
            if s.kind != Kind::Sub || !(s.dirty || s.delivery.is_some_and(|t| t <= now)) {
                continue;
            }
            s.dirty = true; // deliveries move the receive window: refresh its deadlines
            for &(id, m) in &s.members {
                let Member::Sub(i) = m else { continue };
                while let Some(d) = s.ep.recv(id, now, &mut self.rbuf) {
                    let payload = &self.rbuf[..d.len.min(self.rbuf.len())];
                    self.subs[i].on_delivered(payload, now_ns, &mut self.e2e);
                }
            }
        }
    }

    fn transmit(&mut self, si: usize, now: Instant) -> anyhow::Result<()> {
        io::transmit(
            &mut self.socks[si],
            &mut self.io,
            &mut self.delayed_out,
            &mut self.pool,
            si,
            now,
        )
    }

    fn release_delayed_out(&mut self, now: Instant) -> anyhow::Result<()> {
        let mut current: Option<usize> = None;
        while let Some(h) = self.delayed_out.pop_due(now) {
            if let Some(c) = current
                && (c != h.sock || self.io.tx.spare().is_none())
            {
                self.io.flush(&self.socks[c])?;
            }
            current = Some(h.sock);
            // Room was just made by the flush above if the batch was full.
            if self.io.tx.push(h.addr, &h.data).is_err() {
                self.io.stats.send_blocked_drops += 1;
            }
            self.pool.push(h.data);
        }
        if let Some(c) = current {
            self.io.flush(&self.socks[c])?;
        }
        Ok(())
    }

    fn events(&mut self, si: usize, now: Instant) {
        while let Some(ev) = self.socks[si].ep.poll_event() {
            let (id, outcome) = match ev {
                EndpointEvent::Connected { id } => (id, Outcome::Up),
                EndpointEvent::ConnectFailed { id, reason } => {
                    (id, Outcome::Failed(reason.to_string()))
                }
                EndpointEvent::Closed { id, stats, .. } => (id, Outcome::Closed(stats)),
                EndpointEvent::Accepted { .. } => continue,
            };
            let sock = &mut self.socks[si];
            let Some(pos) = sock.members.iter().position(|&(c, _)| c == id) else {
                continue;
            };
            let m = sock.members[pos].1;
            if !matches!(outcome, Outcome::Up) {
                sock.members.swap_remove(pos);
            }
            let (link, hist) = match m {
                Member::Pub(i) => (&mut self.pubs[i].link, &mut self.pub_connect),
                Member::Sub(i) => (&mut self.subs[i].link, &mut self.sub_connect),
            };
            match outcome {
                Outcome::Up => {
                    let us = link
                        .connect_started
                        .map_or(0, |t| now.saturating_duration_since(t).as_micros() as u64);
                    hist.saturating_record(us.max(1));
                    link.connect_us = Some(us);
                    link.connected = true;
                    link.state = ConnState::Up(id);
                }
                Outcome::Failed(reason) => link.state = ConnState::Failed(reason),
                Outcome::Closed(stats) => {
                    // A snapshot taken before loadgen closed it is the one to keep.
                    link.stats.get_or_insert(*stats);
                    link.state = ConnState::Closed {
                        by_peer: self.closing_since.is_none(),
                    };
                }
            }
        }
    }

    fn check_complete(&mut self) {
        for s in &mut self.subs {
            if !s.complete
                && let Some(n) = self.shared.published(s.stream)
                && s.delivered >= n
            {
                s.complete = true;
            }
        }
    }

    /// The warm-up is over: from here on CPU time and SRT counters count.
    fn start_measuring(&mut self) {
        self.cpu_at_measure = Some(thread_cpu_time());
        for s in &self.socks {
            for &(id, m) in &s.members {
                let link = match m {
                    Member::Pub(i) => &mut self.pubs[i].link,
                    Member::Sub(i) => &mut self.subs[i].link,
                };
                link.stats_at_measure = s.ep.connection(id).map(|c| c.stats());
            }
        }
    }

    fn close_all(&mut self, now: Instant) {
        if let Some(t0) = self.cpu_at_measure {
            self.cpu = thread_cpu_time().saturating_sub(t0);
        }
        self.closing_since = Some(now);
        for s in &mut self.socks {
            for &(id, m) in &s.members {
                let link = match m {
                    Member::Pub(i) => &mut self.pubs[i].link,
                    Member::Sub(i) => &mut self.subs[i].link,
                };
                if let Some(c) = s.ep.connection(id) {
                    link.stats = Some(c.stats());
                }
                s.ep.close(id);
            }
            s.dirty = true;
        }
    }

    /// Publishes this worker's counters, at most every `PROGRESS_EVERY` (they are O(connections)
    /// to compute).
    fn report_progress(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_progress) < PROGRESS_EVERY {
            return;
        }
        self.last_progress = now;
        let p = &self.shared.progress[self.index];
        let links = || {
            self.pubs
                .iter()
                .map(|x| (true, &x.link))
                .chain(self.subs.iter().map(|x| (false, &x.link)))
        };
        let count = |pred: &dyn Fn(bool, &Link) -> bool| {
            links().filter(|(is_pub, l)| pred(*is_pub, l)).count() as u64
        };
        let up = |l: &Link| matches!(l.state, ConnState::Up(_));
        p.pubs_settled
            .store(count(&|p, l| p && l.state.is_settled()), Relaxed);
        p.pubs_up.store(count(&|p, l| p && up(l)), Relaxed);
        p.subs_settled
            .store(count(&|p, l| !p && l.state.is_settled()), Relaxed);
        p.subs_up.store(count(&|p, l| !p && up(l)), Relaxed);
        p.failed.store(
            count(&|_, l| matches!(l.state, ConnState::Failed(_))),
            Relaxed,
        );
        p.disconnects.store(
            count(&|_, l| l.state == ConnState::Closed { by_peer: true }),
            Relaxed,
        );
        p.complete.store(
            self.subs.iter().filter(|s| s.complete).count() as u64,
            Relaxed,
        );
        p.sent
            .store(self.pubs.iter().map(|x| x.handed_measured).sum(), Relaxed);
        p.delivered
            .store(self.subs.iter().map(|x| x.delivered).sum(), Relaxed);
        if now.saturating_duration_since(self.last_slow_progress) >= SLOW_PROGRESS {
            self.last_slow_progress = now;
            let retrans: u64 = self
                .socks
                .iter()
                .filter(|s| s.kind == Kind::Sub)
                .flat_map(|s| s.members.iter().filter_map(|&(id, _)| s.ep.connection(id)))
                .map(|c| c.stats().pkt_rcv_retrans)
                .sum();
            p.sub_retrans.store(retrans, Relaxed);
        }
    }

    fn wait(&mut self, now: Instant) -> anyhow::Result<()> {
        let mut next = now + MAX_WAIT;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = next.min(t);
            }
        };
        for s in &self.socks {
            consider(s.deadline);
            consider(s.delivery);
        }
        consider(self.delayed_in.next_due());
        consider(self.delayed_out.next_due());
        for p in &self.pubs {
            consider(p.next_due());
        }
        if !self.connects.is_empty() {
            consider(Some(self.next_connect));
        }
        let timeout = next.saturating_duration_since(clock::now());
        io::wait_readable(&mut self.socks, timeout)
    }

    fn finish(self) -> WorkerOutput {
        let mut pub_leg = crate::loss::LegStats::default();
        let mut sub_leg = crate::loss::LegStats::default();
        let mut io = self.io.stats;
        for s in &self.socks {
            match s.kind {
                Kind::Pub => pub_leg.add(&s.leg.stats),
                Kind::Sub => sub_leg.add(&s.leg.stats),
            }
            let st = s.ep.stats();
            io.endpoint_drops += st.parse_errors + st.unknown_socket + st.wrong_peer;
        }
        WorkerOutput {
            index: self.index,
            publishers: self.pubs,
            subscribers: self.subs,
            transit: self.transit,
            e2e: self.e2e,
            pub_connect: self.pub_connect,
            sub_connect: self.sub_connect,
            cpu: self.cpu,
            io,
            pub_leg,
            sub_leg,
        }
    }
}

enum Outcome {
    Up,
    Failed(String),
    Closed(Box<Stats>),
}
