//! Harness shared by the integration tests (`mod support;`): everything a test needs to make real
//! libsrt tools (srt-live-transmit, ffmpeg, ffprobe; libsrt 1.5.1 from Debian) talk to a peer on
//! loopback, with and without injected loss, and to check the delivered bytes.
//!
//! It owns: locating and version-checking the tools (`tools`), deterministic test media and byte
//! comparison (`media`), child processes with bounded waits (`process`), free loopback UDP ports
//! (`net`), a seeded lossy UDP proxy (`lossy_proxy`), the stdin feeder (`feeder`) and the
//! per-tool command lines (`recipes`, `srt_url`). docs/interop-recipes.md explains the
//! observed tool behaviour behind each choice.
//!
//! Playback (issue 13) adds real clients: headless Chromium over WebDriver (`browser`), VLC and
//! GStreamer (`vlc`), the clock bar burnt into test video for glass-to-glass latency
//! (`clockbar`), PNG/RGB pixels (`image`), process groups for tools with children (`pgroup`)
//! and a static HTTP server for the harness's own test (`static_http`).
//!
//! It must not: skip a test when a tool is missing (it panics with the install hint instead),
//! wait on anything without a deadline, send traffic anywhere but 127.0.0.1, or depend on the
//! srtrelay crate (it drives our server only through sockets, like any other peer).

// Each test binary compiles this module on its own and uses a different subset of it.
#![allow(dead_code)]
// The harness drives real processes and sockets: it needs the wall clock for deadlines
// (clippy.toml denies it for the sans-IO core only in spirit; drivers allow it locally).
#![allow(clippy::disallowed_methods)]

pub mod browser;
pub mod clockbar;
pub mod etcd;
pub mod feeder;
pub mod http_client;
pub mod image;
pub mod lossy_proxy;
pub mod media;
pub mod net;
pub mod netns;
pub mod nginx_rtmp;
pub mod pgroup;
pub mod process;
pub mod recipes;
pub mod sls;
pub mod srt_url;
pub mod srtla_sender;
pub mod static_http;
pub mod tls;
pub mod tools;
pub mod upstream;
pub mod vlc;
pub mod webhook_server;
