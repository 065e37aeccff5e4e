//! The command line: `loadgen [RUN FLAGS]` for one run, `loadgen sweep [SWEEP FLAGS]` for the
//! benchmark sweep, `loadgen http [HTTP FLAGS]` for HTTP players (`http/mod.rs`). Parses and validates flags into a [`RunConfig`]; the README documents every
//! flag and is kept in step with this file.
//!
//! Owns: flag names, defaults, units and their checks. Must not: run anything.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};

use crate::config::{RunConfig, auto_rcvbuf_pkts};
use crate::loss::{GilbertElliott, Impairment};
use crate::stamp::{PayloadSource, TsReplay};

/// SRT load and packet-loss benchmark: N publishers and M subscribers per stream against any
/// SRT server (srtrelay or another relay), with loss injected inside loadgen.
#[derive(Parser, Debug)]
#[command(
    name = "loadgen",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Exit codes: 0 ok, 1 run-time failure, 2 bad command line, 3 subscriber delivery \
                  below --expect-delivery."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start the relay binary for each point of a subscribers x bitrate x loss grid, run
    /// loadgen against it, and write a markdown table.
    Sweep(crate::sweep::SweepArgs),
    /// HTTP players (HTTP-TS streams or HLS) against a playback server.
    Http(crate::http::HttpArgs),
}

/// One run.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// SRT server to load, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", required = true)]
    pub target: Option<String>,
    /// Connect the subscribers here instead of --target (e.g. a cluster edge pulling the
    /// stream from the relay the publishers feed), HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub sub_target: Option<String>,
    /// Streams, one publisher each.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub streams: u32,
    /// Subscribers per stream.
    #[arg(long, visible_alias = "subs", default_value_t = 1, value_name = "M")]
    pub subscribers: u32,
    /// Stream name; {index} is the stream number (0..N-1).
    #[arg(long, default_value = "loadgen-{index}", value_name = "TEMPLATE")]
    pub stream_name: String,
    /// Publisher Stream ID; {stream} is the stream name, {index} its number.
    #[arg(
        long,
        default_value = "#!::r={stream},m=publish",
        value_name = "TEMPLATE"
    )]
    pub pub_streamid: String,
    /// Subscriber Stream ID; also {sub}, the subscriber's number within its stream.
    #[arg(
        long,
        default_value = "#!::r={stream},m=request",
        value_name = "TEMPLATE"
    )]
    pub sub_streamid: String,
    /// Payload bitrate per stream in Mbit/s (1316-byte payloads, SRT overhead on top).
    #[arg(long, default_value_t = 5.0, value_name = "MBPS")]
    pub bitrate: f64,
    /// Payloads sent back to back per burst (frames); bursts are spaced to keep the bitrate.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub burst: u32,
    /// Replay this MPEG-TS file in a loop (6 file packets behind each stamp packet) instead of
    /// synthetic payloads.
    #[arg(long, value_name = "PATH")]
    pub ts_file: Option<PathBuf>,
    /// Measured publishing time in seconds (connecting, warm-up and draining come on top).
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub duration: f64,
    /// Publish this long before measuring, seconds: payloads, CPU and SRT counters of the
    /// warm-up are left out (start-up transients: rate estimation, buffers filling).
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub warmup: f64,
    /// SRT latency proposed for both directions, milliseconds.
    #[arg(long, default_value_t = 120, value_name = "MS")]
    pub latency: u64,
    /// Encrypt the publisher leg with this SRT passphrase (10 to 79 characters).
    #[arg(long, value_name = "TEXT")]
    pub pub_passphrase: Option<String>,
    /// Encrypt the subscriber legs with this SRT passphrase (10 to 79 characters).
    #[arg(long, value_name = "TEXT")]
    pub sub_passphrase: Option<String>,
    /// AES key length of encrypted legs, bytes: 16, 24 or 32.
    #[arg(long, default_value_t = 16, value_name = "BYTES")]
    pub pbkeylen: u8,
    /// Give up on a connection attempt after this long, milliseconds.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub connect_timeout: u64,
    /// Connection attempts started per second, all threads together.
    #[arg(long, default_value_t = 200.0, value_name = "PER_S")]
    pub connect_rate: f64,
    /// Local UDP sockets for publishers [default: one per publisher].
    #[arg(long, value_name = "K")]
    pub pub_ports: Option<usize>,
    /// Local UDP sockets for subscribers, so SO_REUSEPORT spreads them over the server's
    /// shards [default: one per 8 subscribers].
    #[arg(long, value_name = "K")]
    pub sub_ports: Option<usize>,
    /// Worker threads; connections are split between them.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Pin worker threads to these CPUs, round-robin (e.g. "1", "0,2", "2-3").
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Local address to bind [default: the unspecified address of the target's family].
    #[arg(long, value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Random loss in percent on both legs (shorthand; --pub-loss/--sub-loss override it).
    #[arg(long, value_name = "PCT")]
    pub loss: Option<f64>,
    /// Publisher leg (loadgen to server): random loss in percent.
    #[arg(long, value_name = "PCT")]
    pub pub_loss: Option<f64>,
    /// Publisher leg: Gilbert-Elliott burst loss, percent p(good->bad),p(bad->good),loss-in-bad.
    #[arg(long, value_name = "PGB,PBG,LOSS")]
    pub pub_burst: Option<String>,
    /// Publisher leg: fixed delay in milliseconds.
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub pub_delay: f64,
    /// Publisher leg: jitter in milliseconds (uniform +-, reorders when above the spacing).
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub pub_jitter: f64,
    /// Subscriber leg (server to loadgen): random loss in percent.
    #[arg(long, value_name = "PCT")]
    pub sub_loss: Option<f64>,
    /// Subscriber leg: Gilbert-Elliott burst loss, as --pub-burst.
    #[arg(long, value_name = "PGB,PBG,LOSS")]
    pub sub_burst: Option<String>,
    /// Subscriber leg: fixed delay in milliseconds.
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub sub_delay: f64,
    /// Subscriber leg: jitter in milliseconds.
    #[arg(long, default_value_t = 0.0, value_name = "MS")]
    pub sub_jitter: f64,
    /// Seed for the loss, delay and id generators.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
    /// Sample this process (the relay) for CPU and memory over the measurement window.
    #[arg(long, value_name = "PID")]
    pub relay_pid: Option<u32>,
    /// Subscriber receive buffer (and flow window) in packets [default: from bitrate and
    /// latency, 256..8192].
    #[arg(long, value_name = "N")]
    pub rcvbuf_pkts: Option<usize>,
    /// Longest wait for the last deliveries after publishing, seconds [default: 4 x latency
    /// + injected delay + 2 s].
    #[arg(long, value_name = "SECS")]
    pub drain_max: Option<f64>,
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 if subscriber delivery is below this percentage.
    #[arg(long, value_name = "PCT")]
    pub expect_delivery: Option<f64>,
    /// Progress line interval on stderr in seconds; 0 turns it off.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub progress: f64,
}

impl RunArgs {
    /// Checks every flag and builds the run.
    pub fn to_config(&self) -> anyhow::Result<RunConfig> {
        let target_s = self.target.as_deref().context("--target is required")?;
        let target = target_s
            .to_socket_addrs()
            .with_context(|| format!("--target {target_s}"))?
            .next()
            .with_context(|| format!("--target {target_s}: no address"))?;
        let sub_target = match self.sub_target.as_deref() {
            None => None,
            Some(s) => Some(
                s.to_socket_addrs()
                    .with_context(|| format!("--sub-target {s}"))?
                    .next()
                    .with_context(|| format!("--sub-target {s}: no address"))?,
            ),
        };
        if self.streams == 0 {
            bail!("--streams must be at least 1");
        }
        positive("--bitrate", self.bitrate)?;
        positive("--duration", self.duration)?;
        positive("--connect-rate", self.connect_rate)?;
        if !(0.0..=3600.0).contains(&self.warmup) {
            bail!("--warmup {}: must be 0..=3600 s", self.warmup);
        }
        if self.burst == 0 || self.threads == 0 {
            bail!("--burst and --threads must be at least 1");
        }
        if self.latency > 65_535 {
            bail!("--latency is at most 65535 ms (the handshake carries 16 bits)");
        }
        let (source, source_desc) = match &self.ts_file {
            None => (PayloadSource::Synthetic, "synthetic".to_string()),
            Some(path) => {
                let data =
                    std::fs::read(path).with_context(|| format!("--ts-file {}", path.display()))?;
                let replay = TsReplay::new(data)
                    .map_err(|e| anyhow::anyhow!("--ts-file {}: {e}", path.display()))?;
                (
                    PayloadSource::Replay(replay),
                    format!("replay {}", path.display()),
                )
            }
        };
        let pub_leg = leg(
            "pub",
            self.pub_loss.or(self.loss),
            self.pub_burst.as_deref(),
            self.pub_delay,
            self.pub_jitter,
        )?;
        let sub_leg = leg(
            "sub",
            self.sub_loss.or(self.loss),
            self.sub_burst.as_deref(),
            self.sub_delay,
            self.sub_jitter,
        )?;
        let subs_total = self.streams as usize * self.subscribers as usize;
        let pub_ports = self.pub_ports.unwrap_or(self.streams as usize).max(1);
        let sub_ports = self.sub_ports.unwrap_or(subs_total.div_ceil(8)).max(1);
        let latency = Duration::from_millis(self.latency);
        let bitrate_bps = self.bitrate * 1e6;
        let pps = bitrate_bps / (crate::stamp::PAYLOAD_LEN as f64 * 8.0);
        let extra = sub_leg.delay + sub_leg.jitter + pub_leg.delay + pub_leg.jitter;
        let drain_max = match self.drain_max {
            Some(s) => Duration::from_secs_f64(positive("--drain-max", s)?),
            None => latency * 4 + extra + Duration::from_secs(2),
        };
        let rcvbuf_pkts = match self.rcvbuf_pkts {
            Some(n) if (32..=1 << 20).contains(&n) => n,
            Some(n) => bail!("--rcvbuf-pkts {n}: must be 32..=1048576"),
            None => auto_rcvbuf_pkts(pps, latency, sub_leg.delay + sub_leg.jitter),
        };
        if let Some(p) = self.expect_delivery
            && !(0.0..=100.0).contains(&p)
        {
            bail!("--expect-delivery {p}: must be 0..=100");
        }
        for p in [&self.pub_passphrase, &self.sub_passphrase]
            .into_iter()
            .flatten()
        {
            if !(10..=79).contains(&p.len()) {
                bail!("a passphrase must be 10 to 79 characters, not {}", p.len());
            }
        }
        if ![16, 24, 32].contains(&self.pbkeylen) {
            bail!("--pbkeylen {}: must be 16, 24 or 32", self.pbkeylen);
        }
        Ok(RunConfig {
            target,
            sub_target,
            bind_ip: self.bind.unwrap_or(match target {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
            streams: self.streams,
            subs_per_stream: self.subscribers,
            stream_name: self.stream_name.clone(),
            pub_streamid: self.pub_streamid.clone(),
            sub_streamid: self.sub_streamid.clone(),
            bitrate_bps,
            burst: self.burst,
            source,
            source_desc,
            warmup: Duration::from_secs_f64(self.warmup),
            duration: Duration::from_secs_f64(self.duration),
            latency,
            pub_passphrase: self.pub_passphrase.clone(),
            sub_passphrase: self.sub_passphrase.clone(),
            pbkeylen: self.pbkeylen,
            connect_timeout: Duration::from_millis(self.connect_timeout),
            connect_rate: self.connect_rate,
            pub_ports: pub_ports.min(self.streams as usize),
            sub_ports: sub_ports.min(subs_total.max(1)),
            threads: self.threads,
            cpus: match &self.cpus {
                Some(list) => parse_cpu_list(list)?,
                None => Vec::new(),
            },
            pub_leg,
            sub_leg,
            seed: self.seed,
            relay_pid: self.relay_pid,
            rcvbuf_pkts,
            progress: (self.progress > 0.0).then(|| Duration::from_secs_f64(self.progress)),
            drain_max,
        })
    }
}

/// One leg's impairment from its flags; percentages become probabilities.
pub fn leg(
    name: &str,
    random_pct: Option<f64>,
    burst: Option<&str>,
    delay_ms: f64,
    jitter_ms: f64,
) -> anyhow::Result<Impairment> {
    let random_loss = match random_pct {
        Some(p) => percent(&format!("--{name}-loss"), p)?,
        None => 0.0,
    };
    let burst = match burst {
        None => None,
        Some(s) => {
            let flag = format!("--{name}-burst");
            let v: Vec<f64> = s
                .split(',')
                .map(|x| x.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("{flag} {s}: three numbers PGB,PBG,LOSS"))?;
            let [gb, bg, loss] = v[..] else {
                bail!("{flag} {s}: three numbers PGB,PBG,LOSS");
            };
            Some(GilbertElliott {
                p_good_bad: percent(&flag, gb)?,
                p_bad_good: percent(&flag, bg)?,
                loss_bad: percent(&flag, loss)?,
            })
        }
    };
    for (flag, v) in [("delay", delay_ms), ("jitter", jitter_ms)] {
        if !(0.0..=60_000.0).contains(&v) {
            bail!("--{name}-{flag} {v}: must be 0..=60000 ms");
        }
    }
    Ok(Impairment {
        random_loss,
        burst,
        delay: Duration::from_secs_f64(delay_ms / 1000.0),
        jitter: Duration::from_secs_f64(jitter_ms / 1000.0),
    })
}

/// "none", or what the leg does, e.g. "5% random + 20 ms delay +- 5 ms".
pub fn describe(imp: &Impairment) -> String {
    if imp.is_none() {
        return "none".into();
    }
    let mut parts = Vec::new();
    if imp.random_loss > 0.0 {
        parts.push(format!("{}% random", trim(imp.random_loss * 100.0)));
    }
    if let Some(b) = imp.burst {
        parts.push(format!(
            "burst {}%/{}%/{}% (mean loss {}%)",
            trim(b.p_good_bad * 100.0),
            trim(b.p_bad_good * 100.0),
            trim(b.loss_bad * 100.0),
            trim(b.mean_loss() * 100.0)
        ));
    }
    if !imp.delay.is_zero() || !imp.jitter.is_zero() {
        parts.push(format!(
            "{} ms delay +- {} ms",
            trim(imp.delay.as_secs_f64() * 1000.0),
            trim(imp.jitter.as_secs_f64() * 1000.0)
        ));
    }
    parts.join(" + ")
}

/// "2", "0,2", "2-3", "0,2-3".
pub fn parse_cpu_list(s: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
                if a > b {
                    bail!("cpu range {part}: start after end");
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().with_context(|| format!("cpu {part}"))?),
        }
    }
    if out.is_empty() {
        bail!("empty cpu list {s:?}");
    }
    Ok(out)
}

fn percent(flag: &str, p: f64) -> anyhow::Result<f64> {
    if !(0.0..=100.0).contains(&p) {
        bail!("{flag} {p}: a percentage must be 0..=100");
    }
    Ok(p / 100.0)
}

fn positive(flag: &str, v: f64) -> anyhow::Result<f64> {
    if !(v > 0.0 && v.is_finite()) {
        bail!("{flag} {v}: must be positive");
    }
    Ok(v)
}

/// A number without trailing zeros: 5 not 5.000, 0.5 not 0.500.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_make_a_valid_run() {
        let cli = parse(&["--target", "127.0.0.1:9000"]).unwrap();
        let c = cli.run.to_config().unwrap();
        assert_eq!(c.target, "127.0.0.1:9000".parse().unwrap());
        assert_eq!((c.streams, c.subs_per_stream, c.threads), (1, 1, 1));
        assert_eq!(c.bind_ip, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(c.pub_streamid_of(0), "#!::r=loadgen-0,m=publish");
        assert_eq!(c.sub_streamid_of(0, 0), "#!::r=loadgen-0,m=request");
        assert!(c.pub_leg.is_none() && c.sub_leg.is_none());
        assert_eq!(c.drain_max, Duration::from_millis(2480));
        assert_eq!(c.progress, Some(Duration::from_secs(1)));
    }

    #[test]
    fn target_is_required_unless_sweeping() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["sweep"]).is_ok());
    }

    #[test]
    fn loss_shorthand_and_per_leg_flags() {
        let cli = parse(&[
            "--target",
            "[::1]:9000",
            "--loss",
            "5",
            "--sub-loss",
            "1",
            "--pub-burst",
            "1,25,100",
            "--sub-delay",
            "20",
            "--sub-jitter",
            "5",
            "--subs",
            "20",
            "--progress",
            "0",
        ])
        .unwrap();
        let c = cli.run.to_config().unwrap();
        assert_eq!(c.bind_ip, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert!((c.pub_leg.random_loss - 0.05).abs() < 1e-12);
        assert!((c.sub_leg.random_loss - 0.01).abs() < 1e-12);
        let b = c.pub_leg.burst.unwrap();
        assert!((b.p_good_bad - 0.01).abs() < 1e-12 && (b.loss_bad - 1.0).abs() < 1e-12);
        assert_eq!(c.sub_leg.delay, Duration::from_millis(20));
        assert_eq!(c.sub_ports, 3, "20 subscribers, 8 per port");
        assert_eq!(c.progress, None);
        assert_eq!(
            describe(&c.pub_leg),
            "5% random + burst 1%/25%/100% (mean loss 3.846%)"
        );
        assert_eq!(describe(&c.sub_leg), "1% random + 20 ms delay +- 5 ms");
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let bad = |extra: &[&str]| {
            let mut args = vec!["--target", "127.0.0.1:9000"];
            args.extend_from_slice(extra);
            parse(&args)
                .unwrap()
                .run
                .to_config()
                .unwrap_err()
                .to_string()
        };
        assert!(bad(&["--loss", "150"]).contains("--pub-loss"));
        assert!(bad(&["--sub-burst", "1,2"]).contains("--sub-burst"));
        assert!(bad(&["--bitrate", "0"]).contains("--bitrate"));
        assert!(bad(&["--latency", "70000"]).contains("--latency"));
        assert!(bad(&["--ts-file", "/nonexistent.ts"]).contains("--ts-file"));
        assert!(bad(&["--rcvbuf-pkts", "8"]).contains("--rcvbuf-pkts"));
        assert!(bad(&["--expect-delivery", "101"]).contains("--expect-delivery"));
        assert!(parse(&["--target", "x", "--no-such-flag"]).is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("0, 2-4").unwrap(), vec![0, 2, 3, 4]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("a").is_err());
    }
}
