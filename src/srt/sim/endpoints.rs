//! Two endpoints, a caller side and a listener side, over simulated links: the full path from
//! bytes through handshake to connections, with the listener's access policy in the loop.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::link::{Link, LinkConfig};
use crate::srt::endpoint::{AccessControl, Admit, Endpoint, EndpointConfig, EndpointEvent};
use crate::srt::handshake::{ConclusionRequest, Listener, ListenerConfig, RejectReason};

pub const CALLER_ADDR: &str = "10.0.0.1:5000";
pub const LISTENER_ADDR: &str = "10.0.0.2:9000";

/// Rejects resources listed here with the given reason, accepts the rest with `admit`.
#[derive(Default)]
pub struct Policy {
    pub reject: Vec<(String, RejectReason)>,
    pub admit: Admit,
}

impl AccessControl for Policy {
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let resource = match req.stream_id() {
            Ok(Some(sid)) => sid.resource.clone().unwrap_or_default(),
            _ => String::new(),
        };
        match self.reject.iter().find(|(r, _)| *r == resource) {
            Some((_, reason)) => Err(*reason),
            None => Ok(self.admit.clone()),
        }
    }
}

pub struct Net {
    pub now: Instant,
    pub caller: Endpoint,
    pub listener: Endpoint,
    pub up: Link,
    pub down: Link,
    pub policy: Policy,
    pub caller_events: Vec<EndpointEvent>,
    pub listener_events: Vec<EndpointEvent>,
    /// Payloads the listener handed over from `handle_datagram` (cut-through connections).
    pub handed_over: Vec<Vec<u8>>,
    caller_addr: SocketAddr,
    listener_addr: SocketAddr,
}

impl Net {
    pub fn new(
        now: Instant,
        up: LinkConfig,
        down: LinkConfig,
        listener_cfg: ListenerConfig,
        seed: u64,
    ) -> Net {
        let listener = Listener::new(*b"0123456789abcdef", now, listener_cfg);
        let cfg = |seed| EndpointConfig {
            seed,
            ..EndpointConfig::default()
        };
        Net {
            now,
            caller: Endpoint::new(cfg(seed), None, now),
            listener: Endpoint::new(cfg(seed + 1), Some(listener), now),
            up: Link::new(up, seed),
            down: Link::new(down, seed + 7),
            policy: Policy::default(),
            caller_events: Vec::new(),
            listener_events: Vec::new(),
            handed_over: Vec::new(),
            caller_addr: CALLER_ADDR.parse().expect("literal"),
            listener_addr: LISTENER_ADDR.parse().expect("literal"),
        }
    }

    pub fn listener_addr(&self) -> SocketAddr {
        self.listener_addr
    }

    /// Delivers a raw datagram to the listener as if from `from`.
    pub fn inject(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.listener
            .handle_datagram(self.now, from, datagram, &mut self.policy);
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.process();
            let next = [
                self.caller.poll_timeout(),
                self.listener.poll_timeout(),
                self.up.next_arrival(),
                self.down.next_arrival(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => {
                    self.now = end;
                    self.process();
                    return;
                }
            }
        }
    }

    fn process(&mut self) {
        let now = self.now;
        while let Some(d) = self.up.pop_due(now) {
            if let Some(r) =
                self.listener
                    .handle_datagram(now, self.caller_addr, &d, &mut self.policy)
            {
                self.handed_over.push(r.payload.to_vec());
            }
        }
        while let Some(d) = self.down.pop_due(now) {
            self.caller
                .handle_datagram(now, self.listener_addr, &d, &mut self.policy);
        }
        self.caller.handle_timeout(now);
        self.listener.handle_timeout(now);
        let mut buf = [0u8; 1500];
        while let Some(t) = self.caller.poll_transmit(now, &mut buf) {
            assert_eq!(t.to, self.listener_addr);
            self.up.send(now, &buf[..t.len]);
        }
        while let Some(t) = self.listener.poll_transmit(now, &mut buf) {
            assert_eq!(t.to, self.caller_addr);
            self.down.send(now, &buf[..t.len]);
        }
        while let Some(e) = self.caller.poll_event() {
            self.caller_events.push(e);
        }
        while let Some(e) = self.listener.poll_event() {
            self.listener_events.push(e);
        }
    }
}
