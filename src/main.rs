//! srtrelay: parse the command line, load the configuration, set up logging, run the relay.
//!
//! Exit codes: 0 on success, 1 when the relay fails at run time (e.g. cannot bind), 2 for a
//! bad command line or configuration (clap's usage errors use 2 as well), and for a listen port
//! another process holds (checked by `--check-config` too).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use log::{error, info, warn};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use srtrelay::config::{Config, DEFAULT_CONFIG, LogFormat, format_cpu_list};
use srtrelay::service::{Supervisor, firstrun, logging};
use srtrelay::shard::engine::{Engine, Secrets};
use srtrelay::shard::socket::probe_udp_port;

/// Exit code for a bad configuration.
const EXIT_CONFIG: u8 = 2;
/// Every shard runs its first tick within this after `Engine::start`, or start-up failed.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The signal loop's wake-up period (signals, shard liveness, watchdog pings).
const WAKE: Duration = Duration::from_millis(20);

/// SRT live relay: publishers push MPEG-TS over SRT or H.264/AAC over RTMP, or the relay pulls
/// MPEG-TS; any number of players get it over SRT, HTTP-TS and HLS.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Publish:\n  \
  SRT:   ffmpeg -re -i in.ts -c copy -f mpegts 'srt://HOST:9999?streamid=#!::r=live/cam1,m=publish'\n  \
  RTMP:  ffmpeg -re -i in.mp4 -c copy -f flv rtmp://HOST/live/cam1\n  \
         (OBS: Service Custom, Server rtmp://HOST/live, Stream Key cam1 -> stream live/cam1;\n  \
          with [access] tokens the key takes a session: cam1?s=SESSION)\n  \
  Pulled by the relay ([[inputs]] in the config; each entry: stream = \"NAME\", url or urls):\n  \
         http(s)://host/path.ts  tcp://host:port  udp://239.1.1.1:5000[?source=IP&interface=IP]\n  \
         unix:///run/feed.sock  file:///srv/slate.ts (loop = true)  stdin\n  \
         srt://host:9999?streamid=...&passphrase=...&latency=MS\n  \
         e.g. ffmpeg -re -i in.mp4 -c copy -f mpegts - | srtrelay --config with-a-stdin-input.toml\n\
Play:\n  \
  ffplay 'srt://HOST:9999?streamid=#!::r=live/cam1,m=request'\n  \
  ffplay http://HOST:8080/live/cam1.ts      (HLS: http://HOST:8080/live/cam1/index.m3u8)\n\n\
Exit codes: 0 ok, 1 run-time failure, 2 bad command line or configuration \
                  (or a listen port another process holds).\n\
                  RUST_LOG, when set, overrides `log.level`."
)]
struct Args {
    /// Configuration file (TOML). Without it the embedded default config.toml is used.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration (and that its cores exist here and no other process holds
    /// its listen ports), print a summary and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the embedded default configuration, every key documented, and exit.
    #[arg(long, conflicts_with_all = ["config", "check_config"])]
    print_default_config: bool,
    /// Log line format, overriding `log.format`: `text` (env_logger) or `json` (one object
    /// per line, for journald and log collectors).
    #[arg(
        long,
        value_name = "FORMAT",
        value_parser = PossibleValuesParser::new(["text", "json"])
            .map(|s| s.parse::<LogFormat>().expect("one of the possible values")),
    )]
    log_format: Option<LogFormat>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    let source = match &args.config {
        Some(path) => path.display().to_string(),
        None => "the embedded default configuration".to_string(),
    };
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::from_toml(DEFAULT_CONFIG),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("srtrelay: configuration error in {source}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Before anything binds: a second relay on a port this one would share through
    // SO_REUSEPORT breaks the first one's live connections, so it is a configuration error.
    let ports = listen_ports_free(&config);
    if args.check_config {
        if let Err(e) = ports {
            eprintln!("srtrelay: configuration error in {source}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
        println!("srtrelay: configuration ok: {source}");
        println!("{}", summary(&config));
        return ExitCode::SUCCESS;
    }
    logging::init(
        config.log.level,
        args.log_format.unwrap_or(config.log.format),
    );
    if let Err(e) = ports {
        error!("{e}");
        eprintln!("srtrelay: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    match run(config, args.config.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("srtrelay: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every `srt.listen` address is free of other processes (port 0 is not probed).
fn listen_ports_free(c: &Config) -> Result<(), String> {
    for &addr in &c.srt.listen {
        probe_udp_port(addr).map_err(|e| format!("srt.listen: {e}"))?;
    }
    Ok(())
}

/// One line per thing an operator wants to confirm before a restart.
fn summary(c: &Config) -> String {
    let http = c.http.map_or("off".to_string(), |a| a.to_string());
    format!(
        "  srt listen: {}\n  cores: {}\n  http: {http}\n  latency: {} ms ({}..={} ms)",
        list(&c.srt.listen),
        format_cpu_list_in_order(&c.runtime.cores),
        c.srt.latency.default.as_millis(),
        c.srt.latency.min.as_millis(),
        c.srt.latency.max.as_millis(),
    )
}

fn list(v: &[std::net::SocketAddr]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Ascending lists print compactly (`0-3`); an explicit order is shown as given.
fn format_cpu_list_in_order(cores: &[usize]) -> String {
    if cores.is_sorted() {
        format_cpu_list(cores)
    } else {
        let v: Vec<String> = cores.iter().map(ToString::to_string).collect();
        v.join(",")
    }
}

/// Starts the shards, then waits for signals: SIGTERM/SIGINT stop (every shard sends SHUTDOWN to
/// its peers and exits), SIGHUP reloads the reloadable keys from the same file. Under systemd
/// (`NOTIFY_SOCKET`) it reports READY once every shard runs, RELOADING/READY around a reload,
/// STOPPING on the way out, and feeds the watchdog while every shard is alive.
fn run(config: Config, path: Option<&Path>) -> Result<(), String> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    // Before anything binds: without the OS's randomness, cookies, socket ids and keys
    // would be predictable, and a relay that cannot be trusted must not start.
    let secrets = secrets_from(getrandom_fill)?;
    match srtrelay::shard::sys::raise_nofile_limit() {
        Ok((old, new)) if old != new => info!("open files limit raised from {old} to {new}"),
        Ok(_) => {}
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    let engine = Engine::start(&config, secrets).map_err(|e| e.to_string())?;
    let stop = engine.stop_signal();
    let mut service = Supervisor::from_env(engine.heartbeats().clone());
    if let Err(e) = service.wait_started(START_TIMEOUT, || stop.is_stopped()) {
        let _ = engine.stop();
        return Err(e);
    }
    // The operator API on its own threads; it only messages the shards.
    let _http = match config.http {
        Some(addr) => Some(
            srtrelay::http::serve_with(
                addr,
                config.http_settings.clone(),
                engine.view(),
                engine.sessions().clone(),
                srtrelay::http::system_clock(),
            )
            .map_err(|e| format!("cannot serve the operator API on {addr}: {e}"))?,
        ),
        None => None,
    };
    let status = format!(
        "listening on {} with {} shard(s)",
        list(engine.local_addrs()),
        engine.heartbeats().len()
    );
    service.ready(&status);
    info!(
        "{}",
        firstrun::startup_block(&config, engine.local_addrs(), &firstrun::read_proc_sys)
    );
    let mut current = config;
    loop {
        for sig in signals.pending() {
            if sig == SIGHUP {
                service.reloading("reloading the configuration");
                let (next, outcome) = reload(&engine, current, path);
                current = next;
                service.ready(&format!("{status}; {outcome}"));
            } else {
                info!("signal {sig}: shutting down");
                service.stopping("shutting down");
                return engine.stop().map_err(|e| e.to_string());
            }
        }
        if stop.is_stopped() {
            // A shard ended on its own: report why.
            service.stopping("a shard stopped unexpectedly");
            return engine
                .stop()
                .map_err(|e| e.to_string())
                .and_then(|()| Err("a shard stopped unexpectedly".to_string()));
        }
        service.on_wake(srtrelay::service::now());
        std::thread::sleep(WAKE);
    }
}

/// SIGHUP: re-reads the file and applies what may change at run time; keeps the running
/// configuration when the file is bad or changes restart-only keys. Returns the configuration
/// in force and a one-line outcome for the service manager's status.
fn reload(engine: &Engine, current: Config, path: Option<&Path>) -> (Config, String) {
    let Some(path) = path else {
        info!("reload: running on the embedded default configuration; nothing to re-read");
        return (current, "reload: nothing to re-read".to_string());
    };
    let new = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            warn!("reload refused, configuration kept: {e}");
            return (current, format!("reload refused: {e}"));
        }
    };
    match Config::reloadable_diff(&current, &new) {
        Ok(plan) => {
            info!("reload: {plan}");
            engine.reload(&plan);
            if let Some(level) = plan.log_level {
                logging::apply_level(level);
            }
            (new, "reloaded".to_string())
        }
        Err(e) => {
            warn!("reload refused, configuration kept: {e}");
            (current, format!("reload refused: {e}"))
        }
    }
}

/// The OS random number generator (getrandom(2), blocking until the kernel's pool is
/// initialised, which it is long before a service starts).
fn getrandom_fill(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| e.to_string())
}

/// Every secret the engine needs (SYN cookie secret, socket-id/ISN seed, session-id key, AES
/// key generator seed), each drawn from `fill`. A failing source is an error, never a fallback:
/// zeros or a guessable value would make cookies, socket ids and keys predictable.
fn secrets_from(mut fill: impl FnMut(&mut [u8]) -> Result<(), String>) -> Result<Secrets, String> {
    let mut draw = |buf: &mut [u8]| {
        fill(buf).map_err(|e| {
            format!(
                "cannot read the operating system's random number generator (getrandom): {e}; \
                 refusing to start with predictable secrets"
            )
        })
    };
    let (mut cookie, mut session_key, mut crypto_seed, mut seed) =
        ([0u8; 16], [0u8; 16], [0u8; 32], [0u8; 8]);
    draw(&mut cookie)?;
    draw(&mut session_key)?;
    draw(&mut crypto_seed)?;
    draw(&mut seed)?;
    Ok(Secrets {
        cookie,
        seed: u64::from_le_bytes(seed),
        session_key,
        crypto_seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_shows_listen_cores_and_http() {
        let c = Config::from_toml("[srt]\nlisten = [\"[::1]:9000\"]\n[http]\nenabled = false")
            .expect("valid");
        let s = summary(&c);
        assert!(s.contains("srt listen: [::1]:9000"), "{s}");
        assert!(s.contains("http: off"), "{s}");
        assert_eq!(format_cpu_list_in_order(&[3, 1]), "3,1");
        assert_eq!(format_cpu_list_in_order(&[0, 1, 2]), "0-2");
    }

    #[test]
    fn secrets_come_from_the_os_and_differ_between_starts() {
        let a = secrets_from(getrandom_fill).expect("the OS RNG works here");
        let b = secrets_from(getrandom_fill).expect("the OS RNG works here");
        assert_ne!(a.cookie, [0; 16]);
        assert_ne!(a.session_key, [0; 16]);
        assert_ne!(a.crypto_seed, [0; 32]);
        assert_ne!(a.seed, 0);
        assert_ne!(a.cookie, b.cookie);
        assert_ne!(a.session_key, b.session_key);
        assert_ne!(a.crypto_seed, b.crypto_seed);
        assert_ne!(a.seed, b.seed);
        // Each secret is its own draw, not a copy of another.
        assert_ne!(a.cookie, a.session_key);
        assert_ne!(a.cookie[..], a.crypto_seed[..16]);
    }

    #[test]
    fn a_failing_random_source_refuses_to_start() {
        let e = secrets_from(|_| Err("ENOSYS".into())).expect_err("no fallback to zeros");
        assert!(e.contains("random number generator"), "{e}");
        assert!(e.contains("ENOSYS"), "{e}");
        // Failing after the first draw is refused as well.
        let mut calls = 0;
        let e = secrets_from(|buf| {
            calls += 1;
            if calls > 2 {
                return Err("EIO".into());
            }
            buf.fill(1);
            Ok(())
        });
        assert!(e.is_err());
    }
}
