//! SRTLA (BELABOX's SRT link aggregation): a bonded sender spreads the packets of one SRT
//! connection over several UDP links (cellular modems); the receiver merges them into one SRT
//! connection to an SRT server and sends the server's answers back over the links.
//!
//! Owns: the wire format (`packet.rs`), the receiver's state machine (`receiver.rs`),
//! sans-IO: datagrams and `now` in, replies, forwarding decisions, events and a deadline out;
//! and its driver on shard 0 (`server.rs`), which owns the sockets: one for the links, and per
//! group one connected to the relay's own SRT listener. The relay's connections from those
//! sockets run the receiver settings SRTLA needs (`srt::endpoint::Admit::bonded`), chosen by
//! admission from [`BondedPeers`]. Must not: read the clock or randomness in
//! `packet`/`receiver`, or know streams.

pub mod packet;
pub mod receiver;
pub mod server;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

pub use receiver::{
    CloseWhy, Counters, Event, GroupHandle, GroupStats, Handled, LinkStats, Receiver,
    ReceiverConfig, Transmit,
};

/// The addresses the SRTLA groups' merged SRT connections come from (their sockets towards
/// the relay's listener). Written by the SRTLA server when a group opens or closes, read by
/// every shard's admission when it accepts a conclusion: handshake time only, never per
/// packet, so a lock is no cost.
#[derive(Debug, Clone, Default)]
pub struct BondedPeers(Arc<RwLock<HashSet<SocketAddr>>>);

impl BondedPeers {
    pub fn insert(&self, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(addr);
    }

    pub fn remove(&self, addr: SocketAddr) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }

    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&addr)
    }
}
