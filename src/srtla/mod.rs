//! SRTLA (BELABOX's SRT link aggregation): a bonded sender spreads the packets of one SRT
//! connection over several UDP links (cellular modems); the receiver merges them into one SRT
//! connection to an SRT server and sends the server's answers back over the links.
//!
//! Owns: the wire format (`packet.rs`) and the receiver's state machine (`receiver.rs`),
//! sans-IO: datagrams and `now` in, replies, forwarding decisions, events and a deadline out.
//! The driver (`server.rs`) owns the sockets: one for the links, and per group one connected
//! to the relay's own SRT listener, whose connections from these sockets run the receiver
//! settings SRTLA needs (see `legs::srt` and `srt::endpoint::BondedPeers`). Must not: read the
//! clock or randomness in `packet`/`receiver`, or know streams.

pub mod packet;
pub mod receiver;
// pub mod server;

pub use receiver::{
    CloseWhy, Counters, Event, GroupHandle, GroupStats, Handled, LinkStats, Receiver,
    ReceiverConfig, Transmit,
};
