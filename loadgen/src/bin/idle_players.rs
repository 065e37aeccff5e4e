//! Idle-subscriber benchmark: connects one silent publisher per stream and N players to each,
//! then samples the relay's CPU while nothing but keepalives flows. It measures what a relay
//! spends per connected-but-idle connection (its timers), which a busy benchmark hides.
//!
//! Owns: its sockets (plain nonblocking std sockets, several so `SO_REUSEPORT` spreads the
//! players over the relay's shards) and one `Endpoint` per socket. Must not: send data.
//!
//! `idle_players --target 127.0.0.1:9999 --streams 10 --players 1000 --relay-pid PID`
#![forbid(unsafe_code)]

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use loadgen::procstat;
use srtrelay::srt::endpoint::{AcceptAll, Endpoint, EndpointConfig, EndpointEvent};
use srtrelay::srt::handshake::CallerConfig;
use srtrelay::srt::seq::SeqNo;

#[derive(Parser, Debug)]
struct Args {
    /// The relay, HOST:PORT.
    #[arg(long)]
    target: SocketAddr,
    /// Streams, one silent publisher each.
    #[arg(long, default_value_t = 10)]
    streams: usize,
    /// Players per stream.
    #[arg(long, default_value_t = 1000)]
    players: usize,
    /// Local sockets for the players.
    #[arg(long, default_value_t = 64)]
    sockets: usize,
    /// Connection attempts started per second.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Measured seconds, after every connection is up and a settling pause.
    #[arg(long, default_value_t = 20.0)]
    secs: f64,
    /// The relay's process id, sampled for CPU over the measured window.
    #[arg(long)]
    relay_pid: u32,
}

struct Side {
    socket: UdpSocket,
    ep: Endpoint,
}

#[derive(Default)]
struct Counts {
    connected: usize,
    failed: usize,
    closed: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sockets == 0 {
        bail!("--sockets must be at least 1");
    }
    let start = now();
    let mut sides = Vec::new();
    for i in 0..args.sockets + 1 {
        let socket = UdpSocket::bind("127.0.0.1:0").context("bind")?;
        socket.set_nonblocking(true)?;
        let cfg = EndpointConfig {
            seed: 0x1D1E + i as u64,
            ..EndpointConfig::default()
        };
        sides.push(Side {
            socket,
            ep: Endpoint::new(cfg, None, start),
        });
    }
    let mut counts = Counts::default();
    // Side 0 carries the publishers; the players are spread over the others.
    for s in 0..args.streams {
        let sid = format!("#!::r=idle-{s},m=publish");
        connect(&mut sides[0].ep, args.target, sid, now())?;
    }
    pump_until(
        &mut sides,
        &mut counts,
        now() + Duration::from_secs(10),
        |c| c.connected + c.failed >= args.streams,
    )?;
    if counts.connected != args.streams {
        bail!(
            "{} of {} publishers connected",
            counts.connected,
            args.streams
        );
    }
    let total = args.streams * args.players;
    let gap = Duration::from_secs_f64(1.0 / args.rate.max(1.0));
    let mut next_connect = now();
    let mut started = 0;
    let connect_deadline = now() + Duration::from_secs_f64(30.0 + total as f64 / args.rate);
    while counts.connected + counts.failed < args.streams + total {
        let t = now();
        if t > connect_deadline {
            bail!("connecting took too long: {} connected", counts.connected);
        }
        while started < total && next_connect <= t {
            let (stream, side) = (started % args.streams, 1 + started % args.sockets);
            let sid = format!("#!::r=idle-{stream},m=request");
            connect(&mut sides[side].ep, args.target, sid, t)?;
            started += 1;
            next_connect += gap;
        }
        turn(&mut sides, &mut counts)?;
    }
    let players = counts.connected - args.streams;
    eprintln!(
        "{players} players connected ({} failed); settling",
        counts.failed
    );
    pump_until(
        &mut sides,
        &mut counts,
        now() + Duration::from_secs(3),
        |_| false,
    )?;
    let before = procstat::sample(args.relay_pid).context("relay process")?;
    let t0 = now();
    pump_until(
        &mut sides,
        &mut counts,
        t0 + Duration::from_secs_f64(args.secs),
        |_| false,
    )?;
    let after = procstat::sample(args.relay_pid).context("relay process")?;
    let wall = now().saturating_duration_since(t0);
    let cpu = after.cpu.saturating_sub(before.cpu);
    println!(
        "players {players} closed_during_run {} relay_cpu_pct {:.2} rss_mb {:.1} wall_s {:.1}",
        counts.closed,
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
        after.rss_kb as f64 / 1024.0,
        wall.as_secs_f64()
    );
    Ok(())
}

fn connect(ep: &mut Endpoint, target: SocketAddr, sid: String, t: Instant) -> anyhow::Result<()> {
    let mut cc = CallerConfig::new(0, SeqNo::new(0), target);
    cc.stream_id = Some(sid);
    ep.connect(t, cc)
        .map_err(|e| anyhow::anyhow!("connect: {e}"))?;
    Ok(())
}

/// Runs turns until `done` or `until`.
fn pump_until(
    sides: &mut [Side],
    counts: &mut Counts,
    until: Instant,
    done: impl Fn(&Counts) -> bool,
) -> anyhow::Result<()> {
    while now() < until && !done(counts) {
        turn(sides, counts)?;
    }
    Ok(())
}

/// One pass over every socket: input, due timers, output, events; then a short sleep.
fn turn(sides: &mut [Side], counts: &mut Counts) -> anyhow::Result<()> {
    let mut buf = [0u8; 1500];
    for side in sides.iter_mut() {
        loop {
            match side.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    side.ep
                        .handle_datagram(now(), from, &buf[..n], &mut AcceptAll);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        let t = now();
        if side.ep.poll_timeout().is_some_and(|d| d <= t) {
            side.ep.handle_timeout(t);
        }
        while let Some(tx) = side.ep.poll_transmit(t, &mut buf) {
            match side.socket.send_to(&buf[..tx.len], tx.to) {
                Ok(_) => {}
                // A full socket buffer loses a keepalive or a handshake; both are resent.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(ev) = side.ep.poll_event() {
            match ev {
                EndpointEvent::Connected { .. } => counts.connected += 1,
                EndpointEvent::ConnectFailed { .. } => counts.failed += 1,
                EndpointEvent::Closed { .. } => counts.closed += 1,
                EndpointEvent::Accepted { .. } => {}
            }
        }
    }
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

#[allow(clippy::disallowed_methods)] // a driver owns the clock
fn now() -> Instant {
    Instant::now()
}
