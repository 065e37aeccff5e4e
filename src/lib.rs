//! srtrelay: an SRT live relay.
//!
//! `srt` is the sans-IO protocol core (no sockets, clock reads or threads); everything that
//! touches the OS lives outside it.
#![deny(unsafe_code)]

pub mod access;
pub mod backup;
pub mod buf;
pub mod cluster;
pub mod config;
pub mod driver;
pub mod http;
pub mod idhash;
pub mod ingest;
pub mod inputs;
pub mod legs;
pub mod media;
pub mod outputs;
pub mod playback;
pub mod record;
pub mod relay;
pub mod rng;
pub mod rtmp;
pub mod service;
pub mod shard;
pub mod srt;
pub mod srtla;
pub mod telemetry;
pub mod webhooks;
