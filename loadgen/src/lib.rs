//! loadgen: the SRT load and packet-loss benchmark tool (issue 5).
//!
//! Drives N publishers and M subscribers per stream against any SRT server, with loss, delay
//! and jitter injected inside loadgen on the publisher and subscriber legs, and reports
//! delivery, loss after ARQ, retransmissions, latency percentiles and the server's CPU and
//! memory. Built on srtrelay's sans-IO SRT `Endpoint` and the shard's batched socket I/O.
//!
//! Layout: `cli` (flags) -> `config` (a validated run) -> `run` (phases, workers, report) ->
//! `worker` (one thread's event loop) with `stamp` (payload codec), `loss` (impairments),
//! `report` (JSON and table), `procstat` (/proc sampling); `sweep` and `relay_proc` for the
//! benchmark grid; `http` for `loadgen http` (HTTP-TS and HLS players). No unsafe code here: the only unsafe is srtrelay's batch and sys modules.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod http;
pub mod loss;
pub mod procstat;
pub mod progress;
pub mod relay_proc;
pub mod report;
pub mod run;
pub mod stamp;
pub mod sweep;
pub mod worker;
