//! The shards: one glommio executor per configured core, pinned, each owning a UDP socket bound
//! with `SO_REUSEPORT` to the relay's address and every SRT connection the kernel hashes to it.
//!
//! Owns the OS side of the data path: sockets (`socket`), batched datagram I/O (`batch`), the
//! socket as seen from inside an executor (`udp`), executors and shutdown (`executor`), and
//! the few raw libc calls they share (`sys`). Must not parse SRT or hold relay policy:
//! datagrams go to `srt::Endpoint` and come back from its `poll_transmit`. The shard is also
//! where the clock is read (the sans-IO core is handed `now`).
//!
//! `unsafe` is allowed only in `batch` and `sys`, each block with a `// SAFETY:` note.

// The shard owns the clock: it reads `Instant::now` and hands `now` to the sans-IO core.
#![allow(clippy::disallowed_methods)]

#[allow(unsafe_code)]
pub mod batch;
pub mod engine;
pub mod executor;
pub mod socket;
#[allow(unsafe_code)]
pub mod sys;
pub mod tcp;
pub mod udp;
