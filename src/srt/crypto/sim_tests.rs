//! Encryption end to end between two endpoints on virtual time over seeded lossy links: the
//! KMREQ/KMRSP handshake, data both ways, retransmissions of stored ciphertext, in-band key
//! refresh on both senders, and the rejections each side sees.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Encryption, KeyLen, KmRefresh, Passphrase};
use crate::srt::connection::Delivery;
use crate::srt::endpoint::{
    AccessControl, Admit, ConnId, ConnectError, Endpoint, EndpointConfig, EndpointEvent,
};
use crate::srt::handshake::{
    CallerConfig, ConclusionRequest, Listener, ListenerConfig, RejectReason,
};
use crate::srt::seq::SeqNo;
use crate::srt::sim::link::{Link, LinkConfig};
use crate::srt::sim::t0;

const MS: Duration = Duration::from_millis(1);

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s).expect("valid")
}

/// Admits everyone with one `Admit`.
struct Policy(Admit);

impl AccessControl for Policy {
    fn check(&mut self, _req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        Ok(self.0.clone())
    }
}

struct Net {
    now: Instant,
    caller: Endpoint,
    listener: Endpoint,
    up: Link,
    down: Link,
    policy: Policy,
    caller_events: Vec<EndpointEvent>,
    listener_events: Vec<EndpointEvent>,
    /// Payloads the listener's endpoint handed over from `handle_datagram` (cut-through).
    handed_over: Vec<Vec<u8>>,
    caller_addr: SocketAddr,
    listener_addr: SocketAddr,
}

impl Net {
    fn new(loss: f64, admit: Admit, seeded: bool) -> Net {
        let now = t0();
        let link = |seed| {
            Link::new(
                LinkConfig {
                    delay: 10 * MS,
                    jitter: 2 * MS,
                    loss,
                    ..LinkConfig::default()
                },
                seed,
            )
        };
        let listener = Listener::new(*b"0123456789abcdef", now, ListenerConfig::default());
        let cfg = |seed| EndpointConfig {
            seed,
            ..EndpointConfig::default()
        };
        let mut caller = Endpoint::new(cfg(3), None, now);
        let mut listener = Endpoint::new(cfg(4), Some(listener), now);
        if seeded {
            caller.set_crypto_seed([1; 32]);
            listener.set_crypto_seed([2; 32]);
        }
        Net {
            now,
            caller,
            listener,
            up: link(11),
            down: link(12),
            policy: Policy(admit),
            caller_events: Vec::new(),
            listener_events: Vec::new(),
            handed_over: Vec::new(),
            caller_addr: "10.0.0.1:5000".parse().expect("literal"),
            listener_addr: "10.0.0.2:9000".parse().expect("literal"),
        }
    }

    fn connect(&mut self, encryption: Encryption, pbkeylen: u8) -> ConnId {
        let mut cfg = CallerConfig::new(0, SeqNo::new(0), self.listener_addr);
        cfg.stream_id = Some("#!::r=enc,m=publish".into());
        cfg.encryption = encryption;
        cfg.pbkeylen = pbkeylen;
        let id = self.caller.connect(self.now, cfg).expect("valid config");
        self.run_for(200 * MS);
        id
    }

    fn accepted(&self) -> ConnId {
        match self.listener_events.first() {
            Some(EndpointEvent::Accepted { id, .. }) => *id,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    fn run_for(&mut self, d: Duration) {
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
        while let Some((_, n)) = self.caller.poll_transmit(now, &mut buf) {
            self.up.send(now, &buf[..n]);
        }
        while let Some((_, n)) = self.listener.poll_transmit(now, &mut buf) {
            self.down.send(now, &buf[..n]);
        }
        while let Some(e) = self.caller.poll_event() {
            self.caller_events.push(e);
        }
        while let Some(e) = self.listener.poll_event() {
            self.listener_events.push(e);
        }
    }
}

/// A 1316-byte payload that names its index.
fn payload(i: u32) -> Vec<u8> {
    let mut p = vec![(i % 251) as u8; 1316];
    p[..4].copy_from_slice(&i.to_be_bytes());
    p
}

fn index(p: &[u8]) -> u32 {
    u32::from_be_bytes(p[..4].try_into().expect("4 bytes"))
}

fn encryption(p: &str, refresh: KmRefresh) -> Encryption {
    Encryption {
        refresh,
        ..Encryption::with_passphrase(pass(p))
    }
}

/// Both directions at once through 5 % loss each way, with every sender refreshing its key
/// every 100 packets: everything arrives once, in order, byte for byte, and the wire never
/// carries a payload in clear.
#[test]
fn encrypted_both_ways_through_loss_with_key_refresh() {
    let refresh = KmRefresh::new(100, 30).expect("valid");
    let admit = Admit {
        encryption: encryption("sim passphrase", refresh),
        ..Admit::default()
    };
    let mut net = Net::new(0.05, admit, true);
    let id = net.connect(encryption("sim passphrase", refresh), 32);
    assert_eq!(net.caller_events, vec![EndpointEvent::Connected { id }]);
    let lid = net.accepted();
    let n = 600u32;
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 1500];
    for i in 0..n {
        net.caller.send(id, net.now, &payload(i)).expect("open");
        net.listener.send(lid, net.now, &payload(i)).expect("open");
        net.run_for(2 * MS);
        while let Some(d) = net.listener.recv(lid, net.now, &mut buf) {
            up.push(buf[..d.len].to_vec());
        }
        while let Some(d) = net.caller.recv(id, net.now, &mut buf) {
            down.push(buf[..d.len].to_vec());
        }
    }
    net.run_for(1000 * MS);
    while let Some(d) = net.listener.recv(lid, net.now, &mut buf) {
        up.push(buf[..d.len].to_vec());
    }
    while let Some(d) = net.caller.recv(id, net.now, &mut buf) {
        down.push(buf[..d.len].to_vec());
    }
    let want: Vec<Vec<u8>> = (0..n).map(payload).collect();
    assert_eq!(
        up.iter().map(|p| index(p)).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert!(up == want, "caller -> listener payloads differ");
    assert!(down == want, "listener -> caller payloads differ");
    let cs = net.caller.connection(id).expect("open").stats();
    let ls = net.listener.connection(lid).expect("open").stats();
    for s in [&cs, &ls] {
        assert!(s.pkt_retrans > 0, "loss was recovered: {s:?}");
        assert_eq!(s.pkt_rcv_undecrypt, 0);
        // 600 packets at 100 per key: 6 pre-announces, each installed by the peer.
        assert!(s.km_refresh_sent >= 5, "{s:?}");
    }
    assert_eq!(cs.km_refresh_recv, ls.km_refresh_sent);
    assert_eq!(ls.km_refresh_recv, cs.km_refresh_sent);
}

/// The listener's cut-through path returns decrypted payloads from `handle_datagram`.
#[test]
fn cut_through_hands_over_decrypted_payloads() {
    let admit = Admit {
        delivery: Delivery::CutThrough,
        encryption: Encryption::with_passphrase(pass("cut through pass")),
    };
    let mut net = Net::new(0.0, admit, true);
    let id = net.connect(Encryption::with_passphrase(pass("cut through pass")), 24);
    for i in 0..50 {
        net.caller.send(id, net.now, &payload(i)).expect("open");
        net.run_for(2 * MS);
    }
    net.run_for(100 * MS);
    assert_eq!(net.handed_over, (0..50).map(payload).collect::<Vec<_>>());
}

/// What a caller sees for each mismatch, as libsrt callers see it from a libsrt listener.
#[test]
fn mismatches_are_rejected_with_libsrt_codes() {
    let ours = || Encryption::with_passphrase(pass("the right passphrase"));
    let theirs = || Encryption::with_passphrase(pass("a wrong passphrase!"));
    let cases = [
        // (listener admits, caller uses, caller sees)
        (
            ours(),
            theirs(),
            ConnectError::Rejected(RejectReason::BadSecret),
        ),
        (
            Encryption::default(),
            theirs(),
            ConnectError::Rejected(RejectReason::Unsecure),
        ),
        (
            ours(),
            Encryption::default(),
            ConnectError::Rejected(RejectReason::Unsecure),
        ),
        (
            Encryption {
                min_key_len: KeyLen::Aes256,
                ..ours()
            },
            ours(),
            ConnectError::Rejected(RejectReason::Unsecure),
        ),
        // Not enforced: the listener accepts and answers BADSECRET in KMRSP; our caller, which
        // always enforces, refuses that answer.
        (
            Encryption {
                enforced: false,
                ..ours()
            },
            theirs(),
            ConnectError::Refused(RejectReason::Unsecure),
        ),
    ];
    for (admit, caller, want) in cases {
        let mut net = Net::new(
            0.0,
            Admit {
                encryption: admit,
                ..Admit::default()
            },
            true,
        );
        let id = net.connect(caller, 16);
        assert_eq!(
            net.caller_events,
            vec![EndpointEvent::ConnectFailed { id, reason: want }]
        );
    }
}

/// Without a seeded key generator, encryption fails loudly instead of using guessable keys.
#[test]
fn unseeded_endpoint_refuses_encryption() {
    let admit = Admit {
        encryption: Encryption::with_passphrase(pass("the right passphrase")),
        ..Admit::default()
    };
    let mut net = Net::new(0.0, admit, false);
    let mut cfg = CallerConfig::new(0, SeqNo::new(0), net.listener_addr);
    cfg.encryption = Encryption::with_passphrase(pass("the right passphrase"));
    assert_eq!(
        net.caller.connect(net.now, cfg).err(),
        Some(ConnectError::Refused(RejectReason::Ipe))
    );
    // The listener side: the caller is seeded, the listener is not.
    net.caller.set_crypto_seed([9; 32]);
    let id = net.connect(
        Encryption::with_passphrase(pass("the right passphrase")),
        16,
    );
    assert_eq!(
        net.caller_events,
        vec![EndpointEvent::ConnectFailed {
            id,
            reason: ConnectError::Rejected(RejectReason::Ipe)
        }]
    );
}
