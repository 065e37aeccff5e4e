//! The SRT protocol core, sans-IO (draft-sharabayko-srt, libsrt 1.5 as the reference peer).
//!
//! Owns: wire format (`packet`), handshake (`handshake`), per-connection state (`connection`).
//! Must not: open sockets, read the clock, spawn threads, allocate per packet on the hot path.
//! Time comes in as `now: Instant` arguments; secrets and RNG seeds are injected.
#![deny(clippy::disallowed_methods)]

pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod handshake;
pub mod packet;
pub mod seq;

#[cfg(test)]
pub(crate) mod sim;
