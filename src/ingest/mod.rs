//! Ingests that are not SRT publishers: pulled inputs (HTTP, TCP, UDP, unix sockets, files,
//! stdin, SRT caller) and RTMP after its FLV-to-TS remux, turned into the relay's payloads.
//!
//! Owns, sans-IO: finding and keeping TS packet sync in an arbitrary byte stream, cutting it
//! into ring payloads of 1..=7 whole packets (`packetizer`), the splice when the bytes start
//! coming from another source (`splice`, with its timestamps continued by `restamp`), real-time pacing of file inputs by their PCR
//! (`pace`), the inputs' upstream URLs (`upstream`) and the failover schedule over them
//! (`failover`).
//! Must not: open sockets or files, read the clock, spawn threads, or know which protocol
//! delivered the bytes; the shard side (`src/inputs`, `src/rtmp/server.rs`) drives these
//! types and hands their payloads to the relay.

pub mod failover;
pub mod pace;
pub mod packetizer;
pub mod restamp;
pub mod splice;
pub mod upstream;
