//! loadgen: parse the command line, run once or sweep, print the report, exit.
//!
//! Exit codes: 0 ok, 1 run-time failure, 2 bad command line (clap uses 2 too), 3 subscriber
//! (or, for `loadgen http`, player) delivery below `--expect-delivery`.

use std::process::ExitCode;

use clap::Parser;
use loadgen::cli::{Cli, Command};

const EXIT_USAGE: u8 = 2;
const EXIT_BELOW_EXPECTATION: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Sweep(args)) => match loadgen::sweep::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("loadgen sweep: {e:#}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Http(args)) => run_http(&args),
        None => run(&cli.run),
    }
}

fn run_http(args: &loadgen::http::HttpArgs) -> ExitCode {
    let cfg = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen http: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let report = match loadgen::http::run(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen http: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("loadgen http: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.table());
    }
    if let Some(want) = args.expect_delivery
        && report.players.delivery_pct < want
    {
        eprintln!(
            "loadgen http: delivery {:.3}% is below --expect-delivery {want}%",
            report.players.delivery_pct
        );
        return ExitCode::from(EXIT_BELOW_EXPECTATION);
    }
    ExitCode::SUCCESS
}

fn run(args: &loadgen::cli::RunArgs) -> ExitCode {
    let cfg = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let report = match loadgen::run::run(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("loadgen: cannot encode the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.table());
    }
    if let Some(want) = args.expect_delivery
        && report.subscribers.delivery_pct < want
    {
        eprintln!(
            "loadgen: subscriber delivery {:.3}% is below --expect-delivery {want}%",
            report.subscribers.delivery_pct
        );
        return ExitCode::from(EXIT_BELOW_EXPECTATION);
    }
    ExitCode::SUCCESS
}
