//! `loadgen sweep`: the benchmark grid of issue 5 part 2. For each point (subscribers x bitrate
//! x loss) it starts a fresh relay binary, runs loadgen against it with `--relay-pid`, and adds
//! a row to a markdown table; every report can also go to a JSON-lines file.
//!
//! Owns: the grid, the per-point run settings and the table format. Must not: assert on
//! numbers (a benchmark records, it does not judge) or run the full grid from a test.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

use crate::cli::{leg, parse_cpu_list};
use crate::config::{RunConfig, auto_rcvbuf_pkts};
use crate::relay_proc::{DEFAULT_CONFIG_TEMPLATE, RelayProcess, sibling_relay_binary};
use crate::report::Report;
use crate::stamp::{PAYLOAD_LEN, PayloadSource};

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// Relay binary [default: srtrelay next to loadgen, e.g. target/release/srtrelay].
    #[arg(long, value_name = "PATH")]
    pub relay_bin: Option<PathBuf>,
    /// Relay config template: {listen} and {latency_ms} are filled in [default: a minimal
    /// config with the operator API off].
    #[arg(long, value_name = "FILE")]
    pub relay_config: Option<PathBuf>,
    /// Subscriber counts (one stream).
    #[arg(long, default_value = "1,10,100,200,500,1000", value_name = "LIST")]
    pub subs: String,
    /// Bitrates in Mbit/s.
    #[arg(long, default_value = "5,20", value_name = "LIST")]
    pub mbps: String,
    /// Random loss percentages.
    #[arg(long, default_value = "0,5", value_name = "LIST")]
    pub loss: String,
    /// Which legs the loss applies to: both, pub or sub.
    #[arg(long, default_value = "both", value_name = "LEGS")]
    pub loss_legs: String,
    /// Measured publishing time per point, seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Warm-up before each point's measurement, seconds (the core's input-rate pacing needs a
    /// few seconds to settle after a stream starts; see the README).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub warmup: f64,
    /// SRT latency for loadgen and the relay, milliseconds.
    #[arg(long, default_value_t = 120, value_name = "MS")]
    pub latency: u64,
    /// loadgen worker threads.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Pin loadgen's workers to these CPUs (e.g. "1"); pin the relay with its own config.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Connection attempts per second.
    #[arg(long, default_value_t = 200.0, value_name = "PER_S")]
    pub connect_rate: f64,
    /// Seed for the loss and id generators.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Write the markdown table here as well as to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Append every point's full report as one JSON line.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// One grid point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub subs: u32,
    pub mbps: f64,
    pub loss_pct: f64,
}

/// Runs the grid; prints the table to stdout (and `--out`).
pub fn run(args: &SweepArgs) -> anyhow::Result<()> {
    let bin = match &args.relay_bin {
        Some(p) => p.clone(),
        None => sibling_relay_binary()
            .context("no srtrelay next to loadgen: build it (cargo build --release --bins) or pass --relay-bin")?,
    };
    let template = match &args.relay_config {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?,
        None => DEFAULT_CONFIG_TEMPLATE.to_string(),
    };
    let points = grid(args)?;
    let cpus = match &args.cpus {
        Some(l) => parse_cpu_list(l)?,
        None => Vec::new(),
    };
    let mut json = match &args.json_out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("{}", p.display()))?,
        ),
        None => None,
    };
    let mut rows = Vec::new();
    for (i, pt) in points.iter().enumerate() {
        eprintln!(
            "sweep {}/{}: {} subscribers, {} Mbit/s, {}% loss ({})",
            i + 1,
            points.len(),
            pt.subs,
            pt.mbps,
            pt.loss_pct,
            args.loss_legs
        );
        let relay = RelayProcess::start(&bin, &template, args.latency)?;
        let cfg = point_config(args, pt, relay.addr(), relay.pid(), cpus.clone())?;
        let outcome = crate::run::run(cfg);
        let row = match &outcome {
            Ok(report) => {
                if let Some(f) = json.as_mut() {
                    writeln!(f, "{}", serde_json::to_string(report)?)?;
                }
                row(pt, report)
            }
            Err(e) => format!(
                "| {} | {} | {} | failed: {} |",
                pt.subs,
                pt.mbps,
                pt.loss_pct,
                e.to_string().replace('|', "/")
            ),
        };
        eprintln!("{row}");
        rows.push(row);
        drop(relay);
    }
    let table = table(args, &rows);
    print!("{table}");
    if let Some(p) = &args.out {
        std::fs::write(p, &table).with_context(|| format!("{}", p.display()))?;
    }
    Ok(())
}

/// The grid in the order it runs: loss, then bitrate, then subscribers (cheap points first).
pub fn grid(args: &SweepArgs) -> anyhow::Result<Vec<Point>> {
    let subs: Vec<u32> = list(&args.subs, "--subs")?;
    let mbps: Vec<f64> = list(&args.mbps, "--mbps")?;
    let loss: Vec<f64> = list(&args.loss, "--loss")?;
    let mut out = Vec::new();
    for &l in &loss {
        for &m in &mbps {
            for &s in &subs {
                out.push(Point {
                    subs: s,
                    mbps: m,
                    loss_pct: l,
                });
            }
        }
    }
    Ok(out)
}

/// The run for one point against the relay at `target`.
pub fn point_config(
    args: &SweepArgs,
    pt: &Point,
    target: std::net::SocketAddr,
    relay_pid: u32,
    cpus: Vec<usize>,
) -> anyhow::Result<RunConfig> {
    let loss = (pt.loss_pct > 0.0).then_some(pt.loss_pct);
    let (pub_loss, sub_loss) = match args.loss_legs.as_str() {
        "both" => (loss, loss),
        "pub" => (loss, None),
        "sub" => (None, loss),
        other => bail!("--loss-legs {other}: one of both, pub, sub"),
    };
    let pub_leg = leg("pub", pub_loss, None, 0.0, 0.0)?;
    let sub_leg = leg("sub", sub_loss, None, 0.0, 0.0)?;
    let latency = Duration::from_millis(args.latency);
    let bitrate_bps = pt.mbps * 1e6;
    let pps = bitrate_bps / (PAYLOAD_LEN as f64 * 8.0);
    Ok(RunConfig {
        target,
        sub_target: None,
        pub_passphrase: None,
        sub_passphrase: None,
        pbkeylen: 16,
        bind_ip: std::net::Ipv4Addr::LOCALHOST.into(),
        streams: 1,
        subs_per_stream: pt.subs,
        stream_name: "sweep-{index}".into(),
        pub_streamid: "#!::r={stream},m=publish".into(),
        sub_streamid: "#!::r={stream},m=request".into(),
        bitrate_bps,
        burst: 1,
        source: PayloadSource::Synthetic,
        source_desc: "synthetic".into(),
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        latency,
        connect_timeout: Duration::from_secs(3),
        connect_rate: args.connect_rate,
        pub_ports: 1,
        sub_ports: (pt.subs as usize).div_ceil(8).max(1),
        threads: args.threads.max(1),
        cpus,
        pub_leg,
        sub_leg,
        seed: args.seed,
        relay_pid: Some(relay_pid),
        rcvbuf_pkts: auto_rcvbuf_pkts(pps, latency, Duration::ZERO),
        progress: None,
        drain_max: latency * 4 + Duration::from_secs(2),
    })
}

/// A markdown row for one finished point.
pub fn row(pt: &Point, r: &Report) -> String {
    let s = &r.subscribers;
    let ms = |us: u64| format!("{:.1}", us as f64 / 1000.0);
    let (relay_us, relay_pct, relay_mib) = match &r.relay {
        Some(u) if u.alive => (
            u.cpu_us_per_delivered_pkt
                .map_or("n/a".into(), |v| format!("{v:.2}")),
            format!("{:.0}", u.cpu_pct),
            format!("{:.0}", u.peak_rss_kb as f64 / 1024.0),
        ),
        Some(_) => ("GONE".into(), "-".into(), "-".into()),
        None => ("-".into(), "-".into(), "-".into()),
    };
    let mut notes = Vec::new();
    if r.loadgen.saturated {
        notes.push("loadgen saturated".to_string());
    }
    if s.failed_connects + r.publishers.failed_connects > 0 {
        notes.push(format!(
            "{} failed connects",
            s.failed_connects + r.publishers.failed_connects
        ));
    }
    if s.disconnects > 0 {
        notes.push(format!("{} disconnects", s.disconnects));
    }
    format!(
        "| {} | {} | {} | {:.3} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
        pt.subs,
        pt.mbps,
        pt.loss_pct,
        s.delivery_pct,
        s.lost,
        s.retransmissions,
        relay_us,
        relay_pct,
        relay_mib,
        ms(r.transit.p50_us),
        ms(r.transit.p99_us),
        ms(r.end_to_end.p99_us),
        r.loadgen.cpu_pct,
        r.loadgen
            .cpu_us_per_delivered_pkt
            .map_or("n/a".into(), |v| format!("{v:.2}")),
        notes.join("; ")
    )
}

fn table(args: &SweepArgs, rows: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "loadgen sweep: 1 stream, {} s per point after {} s warm-up, latency {} ms, random loss \
         on {} leg(s), {} loadgen thread(s), seed {}\n",
        args.duration, args.warmup, args.latency, args.loss_legs, args.threads, args.seed
    );
    out.push_str(
        "| subs | Mbit/s | loss % | delivery % | lost | rexmit recv | relay CPU us/pkt | \
         relay CPU % | relay peak MiB | transit p50 ms | transit p99 ms | e2e p99 ms | \
         loadgen CPU % | loadgen us/pkt | notes |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(r);
        out.push('\n');
    }
    out
}

fn list<T: std::str::FromStr>(s: &str, flag: &str) -> anyhow::Result<Vec<T>> {
    let v: Result<Vec<T>, _> = s
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::parse)
        .collect();
    match v {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => bail!("{flag} {s}: a comma-separated list of numbers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SweepArgs {
        let cli = crate::cli::Cli::try_parse_from(
            ["loadgen", "sweep"].iter().chain(extra.iter()).copied(),
        )
        .unwrap();
        match cli.command {
            Some(crate::cli::Command::Sweep(a)) => a,
            _ => panic!("sweep expected"),
        }
    }

    #[test]
    fn default_grid_is_the_issue_grid() {
        let g = grid(&args(&[])).unwrap();
        assert_eq!(g.len(), 6 * 2 * 2);
        assert_eq!(
            g[0],
            Point {
                subs: 1,
                mbps: 5.0,
                loss_pct: 0.0
            }
        );
        assert_eq!(
            g[23],
            Point {
                subs: 1000,
                mbps: 20.0,
                loss_pct: 5.0
            }
        );
    }

    #[test]
    fn point_config_applies_loss_to_the_chosen_legs() {
        let pt = Point {
            subs: 100,
            mbps: 20.0,
            loss_pct: 5.0,
        };
        let target = "127.0.0.1:1".parse().unwrap();
        let c = point_config(&args(&[]), &pt, target, 7, vec![]).unwrap();
        assert!((c.pub_leg.random_loss - 0.05).abs() < 1e-12);
        assert!((c.sub_leg.random_loss - 0.05).abs() < 1e-12);
        assert_eq!((c.sub_ports, c.relay_pid), (13, Some(7)));
        let c = point_config(&args(&["--loss-legs", "sub"]), &pt, target, 7, vec![]).unwrap();
        assert!(c.pub_leg.is_none() && c.sub_leg.random_loss > 0.0);
        assert!(point_config(&args(&["--loss-legs", "x"]), &pt, target, 7, vec![]).is_err());
        assert!(grid(&args(&["--subs", "a,b"])).is_err());
    }
}
