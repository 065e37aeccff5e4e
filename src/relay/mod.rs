//! Stream registry, admission policy and fan-out.
//!
//! This first version runs every connection on one thread over the blocking driver and
//! forwards each publisher packet to its subscribers once the relay's own TSBPD releases it.
//! The thread-per-core engine (glommio shards, TS rings, cut-through, cross-core handoff)
//! replaces the driver and the forwarding loop; the admission rules here stay.

pub mod handoff;
pub mod ring;
pub mod ts;

use std::collections::HashMap;
use std::time::Instant;

use log::{debug, info};

use crate::srt::endpoint::{AccessControl, Admit, ConnId, Endpoint, EndpointEvent};
use crate::srt::handshake::{ConclusionRequest, RejectReason, StreamId, StreamMode};

/// Who a connection is to the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Publisher(String),
    Subscriber(String),
}

#[derive(Debug, Default)]
struct Stream {
    publisher: Option<ConnId>,
    /// A publisher was admitted and its connection is being set up.
    publisher_reserved: bool,
    subscribers: Vec<ConnId>,
}

/// Counters for what the relay refused or could not forward.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayStats {
    pub packets_forwarded: u64,
    /// Packets a subscriber's send buffer could not take.
    pub subscriber_drops: u64,
    pub publishers_rejected_conflict: u64,
}

pub struct Relay {
    default_stream: String,
    streams: HashMap<String, Stream>,
    roles: HashMap<ConnId, Role>,
    stats: RelayStats,
    buf: Vec<u8>,
}

/// The resource and mode a caller asks for: `#!::r=...,m=...`, a plain `name`, or nothing (the
/// default stream). Without `m`, a caller plays (`request`), as the draft's default.
pub fn resolve(stream_id: Option<&StreamId>, default_stream: &str) -> (String, StreamMode) {
    let resource = stream_id
        .and_then(|s| s.resource.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default_stream.to_string());
    let mode = stream_id
        .and_then(|s| s.mode)
        .unwrap_or(StreamMode::Request);
    (resource, mode)
}

impl Relay {
    pub fn new(default_stream: &str) -> Relay {
        Relay {
            default_stream: default_stream.to_string(),
            streams: HashMap::new(),
            roles: HashMap::new(),
            stats: RelayStats::default(),
            buf: vec![0; 2048],
        }
    }

    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// Applies endpoint events to the registry.
    pub fn on_event(&mut self, ev: EndpointEvent) {
        match ev {
            EndpointEvent::Accepted {
                id,
                peer,
                stream_id,
            } => {
                let (resource, mode) = resolve(stream_id.as_ref(), &self.default_stream);
                let stream = self.streams.entry(resource.clone()).or_default();
                if mode == StreamMode::Publish {
                    stream.publisher = Some(id);
                    stream.publisher_reserved = false;
                    info!("publisher {id:#x} from {peer} on {resource:?}");
                    self.roles.insert(id, Role::Publisher(resource));
                } else {
                    stream.subscribers.push(id);
                    info!("subscriber {id:#x} from {peer} on {resource:?}");
                    self.roles.insert(id, Role::Subscriber(resource));
                }
            }
            EndpointEvent::Closed { id, reason, .. } => {
                debug!("connection {id:#x} closed: {reason}");
                match self.roles.remove(&id) {
                    Some(Role::Publisher(r)) => {
                        if let Some(s) = self.streams.get_mut(&r) {
                            s.publisher = None;
                        }
                    }
                    Some(Role::Subscriber(r)) => {
                        if let Some(s) = self.streams.get_mut(&r) {
                            s.subscribers.retain(|&x| x != id);
                        }
                    }
                    None => {}
                }
            }
            EndpointEvent::Connected { .. } | EndpointEvent::ConnectFailed { .. } => {}
        }
    }

    /// Moves every packet publishers have released to their streams' subscribers.
    pub fn forward(&mut self, endpoint: &mut Endpoint, now: Instant) {
        for stream in self.streams.values() {
            let Some(publisher) = stream.publisher else {
                continue;
            };
            while let Some(d) = endpoint.recv(publisher, now, &mut self.buf) {
                for &sub in &stream.subscribers {
                    match endpoint.send(sub, now, &self.buf[..d.len]) {
                        Ok(_) => self.stats.packets_forwarded += 1,
                        Err(_) => self.stats.subscriber_drops += 1,
                    }
                }
            }
        }
    }
}

impl AccessControl for Relay {
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let sid = req.stream_id().as_ref().ok().and_then(|s| s.as_ref());
        let (resource, mode) = resolve(sid, &self.default_stream);
        match mode {
            StreamMode::Publish => {
                let stream = self.streams.entry(resource).or_default();
                if stream.publisher.is_some() || stream.publisher_reserved {
                    self.stats.publishers_rejected_conflict += 1;
                    return Err(RejectReason::Conflict);
                }
                stream.publisher_reserved = true;
                Ok(Admit::default())
            }
            StreamMode::Request => Ok(Admit::default()),
            // One direction per connection in this relay.
            StreamMode::Bidirectional => Err(RejectReason::from_code(1405)),
        }
    }
}
