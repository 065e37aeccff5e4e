//! srtrelay: parse the command line, load the configuration, run the relay.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use log::{error, info};

use srtrelay::config::{Config, DEFAULT_CONFIG};
use srtrelay::driver::BlockingDriver;
use srtrelay::relay::Relay;
use srtrelay::srt::endpoint::{Endpoint, EndpointConfig};
use srtrelay::srt::handshake::{Listener, ListenerConfig};

/// SRT live relay: publishers push MPEG-TS over SRT, any number of players pull it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (TOML). Without it the embedded default config.toml is used.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Print the embedded default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Config::from_toml(DEFAULT_CONFIG),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("srtrelay: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    env_logger::Builder::new()
        .filter_level(config.log_level)
        .parse_default_env()
        .init();
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> std::io::Result<()> {
    let now = BlockingDriver::now();
    let listener_cfg = ListenerConfig {
        recv_latency: config.latency,
        peer_latency: config.latency,
        ..ListenerConfig::default()
    };
    let endpoint_cfg = EndpointConfig {
        recv_buffer_pkts: config.recv_buffer_pkts,
        send_buffer_pkts: config.send_buffer_pkts,
        max_payload: config.max_payload,
        peer_idle_timeout: config.peer_idle_timeout,
        loss_max_ttl: config.loss_max_ttl,
        seed: seed(),
    };
    let listener = Listener::new(secret(), now, listener_cfg);
    let endpoint = Endpoint::new(endpoint_cfg, Some(listener), now);
    // One socket until the sharded engine lands: the first listen address.
    let addr = config.listen[0];
    let mut driver = BlockingDriver::bind(addr, endpoint)?;
    info!("srtrelay listening on {}", driver.local_addr()?);
    let mut relay = Relay::new(&config.default_stream);
    loop {
        driver.turn(&mut relay, Duration::from_millis(1))?;
        while let Some(ev) = driver.endpoint.poll_event() {
            relay.on_event(ev);
        }
        relay.forward(&mut driver.endpoint, BlockingDriver::now());
    }
}

/// Cookie secret and id seed: from the OS's randomness, so cookies cannot be predicted.
fn secret() -> [u8; 16] {
    let mut s = [0u8; 16];
    if let Ok(bytes) = std::fs::read("/proc/sys/kernel/random/uuid") {
        for (i, b) in bytes
            .iter()
            .filter(|b| b.is_ascii_hexdigit())
            .enumerate()
            .take(32)
        {
            let v = (*b as char).to_digit(16).unwrap_or(0) as u8;
            s[i / 2] |= v << (4 * (1 - i % 2));
        }
    }
    s
}

fn seed() -> u64 {
    let s = secret();
    u64::from_le_bytes(s[..8].try_into().expect("16-byte secret"))
}
