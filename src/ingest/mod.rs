//! Ingests that are not SRT publishers: pulled inputs (HTTP, TCP, UDP, unix sockets, files,
//! stdin, SRT caller) and RTMP after its FLV-to-TS remux, turned into the relay's payloads.
//!
//! Owns, sans-IO: finding and keeping TS packet sync in an arbitrary byte stream, cutting it
//! into ring payloads of 1..=7 whole packets (`packetizer`), the splice when the bytes start
//! coming from another source (`splice`), and real-time pacing of file inputs by their PCR
//! (`pace`).
//! Must not: open sockets or files, read the clock, spawn threads, or know which protocol
//! delivered the bytes; the shard drives these types and hands their payloads to the relay.

pub mod pace;
pub mod packetizer;
pub mod splice;
