//! Two connections joined by two simulated links on virtual time. `a` publishes a paced
//! stream of numbered payloads; `b` receives, and every delivery is checked and recorded.

use std::time::{Duration, Instant};

use super::link::{Link, LinkConfig};
use crate::srt::connection::{Connection, ConnectionConfig};
use crate::srt::packet::Packet;
use crate::srt::seq::SeqNo;

/// A paced constant-bitrate source at `a`.
#[derive(Debug, Clone)]
pub struct Source {
    pub interval: Duration,
    pub payload_len: usize,
    pub count: u64,
    next_at: Instant,
    next_id: u64,
}

/// One payload delivered at `b`.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub id: u64,
    pub seq: SeqNo,
    pub at: Instant,
}

pub struct Pair {
    pub now: Instant,
    pub a: Connection,
    pub b: Connection,
    pub ab: Link,
    pub ba: Link,
    pub source: Option<Source>,
    /// Send time of payload `id` (index).
    pub sent_at: Vec<Instant>,
    pub delivered: Vec<Delivery>,
    /// Payloads `a` could not queue (send buffer full).
    pub refused: u64,
    /// Payloads `b` handed over on arrival (cut-through), in arrival order.
    pub arrivals: Vec<Delivery>,
    buf: Vec<u8>,
}

/// The payload for `id`: the id, then a pattern derived from it, so corruption shows.
pub fn payload(id: u64, len: usize) -> Vec<u8> {
    let mut p = id.to_be_bytes().to_vec();
    p.extend(
        (0..len.saturating_sub(8)).map(|i| (id as usize).wrapping_mul(31).wrapping_add(i) as u8),
    );
    p.truncate(len.max(8));
    p
}

impl Pair {
    /// Two already-connected endpoints: `a` (socket 1) and `b` (socket 2) with the given
    /// latency and ISN, each side's timestamps starting at `start`.
    ///
    /// `b`'s TSBPD time base includes the link delay, as if set from a handshake that crossed
    /// the same link.
    pub fn connected(
        start: Instant,
        isn: SeqNo,
        latency: Duration,
        ab: LinkConfig,
        ba: LinkConfig,
        seed: u64,
    ) -> Pair {
        Pair::connected_at(start, start, isn, latency, ab, ba, seed)
    }

    /// Like `connected`, with virtual time beginning at `now` rather than at `start`.
    pub fn connected_at(
        now: Instant,
        start: Instant,
        isn: SeqNo,
        latency: Duration,
        ab: LinkConfig,
        ba: LinkConfig,
        seed: u64,
    ) -> Pair {
        let (a_cfg, b_cfg) = Pair::configs(start, isn, latency, &ab, &ba);
        Pair::with_configs(now, a_cfg, b_cfg, ab, ba, seed)
    }

    /// The configurations `connected` uses, for tests that adjust them before `with_configs`:
    /// `a` is socket 1, `b` socket 2, both with `latency`, each time base including the delay
    /// of the link towards it.
    pub fn configs(
        start: Instant,
        isn: SeqNo,
        latency: Duration,
        ab: &LinkConfig,
        ba: &LinkConfig,
    ) -> (ConnectionConfig, ConnectionConfig) {
        let mut a_cfg = ConnectionConfig::new(1, 2, isn, start);
        let mut b_cfg = ConnectionConfig::new(2, 1, isn, start);
        a_cfg.peer_time_base = start + ba.delay;
        b_cfg.peer_time_base = start + ab.delay;
        for cfg in [&mut a_cfg, &mut b_cfg] {
            cfg.recv_latency = latency;
            cfg.send_latency = latency;
        }
        (a_cfg, b_cfg)
    }

    pub fn with_configs(
        now: Instant,
        a_cfg: ConnectionConfig,
        b_cfg: ConnectionConfig,
        ab: LinkConfig,
        ba: LinkConfig,
        seed: u64,
    ) -> Pair {
        Pair {
            now,
            a: Connection::new(a_cfg, now),
            b: Connection::new(b_cfg, now),
            ab: Link::new(ab, seed),
            ba: Link::new(ba, seed ^ 0x5555_5555),
            source: None,
            sent_at: Vec::new(),
            delivered: Vec::new(),
            refused: 0,
            arrivals: Vec::new(),
            buf: vec![0; 1500],
        }
    }

    /// Starts a source at `a`: `count` payloads of `payload_len` bytes every `interval`.
    pub fn start_source(&mut self, interval: Duration, payload_len: usize, count: u64) {
        self.source = Some(Source {
            interval,
            payload_len,
            count,
            next_at: self.now,
            next_id: 0,
        });
    }

    /// Runs until virtual time `end`.
    pub fn run_until(&mut self, end: Instant) {
        let mut spins = 0;
        loop {
            self.process();
            let next = self.next_event();
            match next {
                Some(t) if t <= end => {
                    if t <= self.now {
                        spins += 1;
                        assert!(
                            spins < 100,
                            "no progress at {:?}: a {:?} b {:?}",
                            self.now,
                            self.a.poll_timeout(),
                            self.b.poll_timeout()
                        );
                    } else {
                        spins = 0;
                        self.now = t;
                    }
                }
                _ => {
                    self.now = end;
                    self.process();
                    return;
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.run_until(end);
    }

    fn next_event(&self) -> Option<Instant> {
        let src = self
            .source
            .as_ref()
            .filter(|s| s.next_id < s.count)
            .map(|s| s.next_at);
        [
            self.a.poll_timeout(),
            self.b.poll_timeout(),
            self.b.next_delivery_time(),
            self.ab.next_arrival(),
            self.ba.next_arrival(),
            src,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn process(&mut self) {
        let now = self.now;
        if let Some(src) = self.source.as_mut() {
            while src.next_id < src.count && src.next_at <= now {
                let p = payload(src.next_id, src.payload_len);
                if self.a.send(now, &p).is_err() {
                    self.refused += 1;
                }
                self.sent_at.push(now);
                src.next_id += 1;
                src.next_at += src.interval;
            }
        }
        while let Some(d) = self.ab.pop_due(now) {
            let packet = Packet::parse(&d).expect("a sends valid packets");
            let arrival = self.b.handle_packet(now, &packet);
            if let (Some(a), Packet::Data(data)) = (arrival, &packet)
                && self.b.config().delivery == crate::srt::connection::Delivery::CutThrough
            {
                let id = u64::from_be_bytes(data.payload[..8].try_into().expect("8-byte id"));
                assert_eq!(data.payload, payload(id, data.payload.len()).as_slice());
                self.arrivals.push(Delivery {
                    id,
                    seq: a.seq,
                    at: now,
                });
            }
        }
        while let Some(d) = self.ba.pop_due(now) {
            self.a
                .handle_datagram(now, &d)
                .expect("b sends valid packets");
        }
        for conn in [&mut self.a, &mut self.b] {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
        }
        while let Some(n) = self.a.poll_transmit(now, &mut self.buf) {
            self.ab.send(now, &self.buf[..n]);
        }
        while let Some(n) = self.b.poll_transmit(now, &mut self.buf) {
            self.ba.send(now, &self.buf[..n]);
        }
        let mut out = [0u8; 1500];
        while let Some(d) = self.b.recv(now, &mut out) {
            let p = &out[..d.len];
            let id = u64::from_be_bytes(p[..8].try_into().expect("payloads carry an 8-byte id"));
            assert_eq!(p, payload(id, d.len).as_slice(), "payload {id} corrupted");
            self.delivered.push(Delivery {
                id,
                seq: d.seq,
                at: now,
            });
        }
        while self.a.recv(now, &mut out).is_some() {}
    }

    /// The exactly-once, in-order, on-time contract; returns how many payloads were lost.
    ///
    /// Every sent payload is delivered once, in order, at its send time + latency (within
    /// `tolerance`), or is missing and counted by `b` as dropped.
    /// `offset` is the expected delay from sending to delivery: latency plus the one-way
    /// delay folded into the time base.
    pub fn check_delivery(&self, offset: Duration, tolerance: Duration) -> u64 {
        let mut last: Option<u64> = None;
        for d in &self.delivered {
            if let Some(l) = last {
                assert!(
                    d.id > l,
                    "payload {} delivered after {} (duplicate or out of order)",
                    d.id,
                    l
                );
            }
            last = Some(d.id);
            let due = self.sent_at[d.id as usize] + offset;
            let skew = if d.at > due { d.at - due } else { due - d.at };
            assert!(
                skew <= tolerance,
                "payload {} delivered {:?} off its TSBPD time",
                d.id,
                skew
            );
        }
        let missing = self.sent_at.len() as u64 - self.delivered.len() as u64;
        let stats = self.b.stats();
        assert_eq!(
            missing,
            stats.pkt_rcv_drop + self.refused,
            "missing payloads must all be counted as dropped (b: {stats:?})"
        );
        missing
    }
}
