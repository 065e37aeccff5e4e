//! Encryption end to end between two endpoints on virtual time over seeded lossy links: the
//! KMREQ/KMRSP handshake, data both ways, retransmissions of stored ciphertext, in-band key
//! refresh on both senders, and the rejections each side sees.

use std::time::Duration;

use super::{Encryption, KeyLen, KmRefresh, Passphrase};
use crate::srt::connection::Delivery;
use crate::srt::endpoint::{Admit, ConnId, ConnectError, EndpointEvent};
use crate::srt::handshake::{CallerConfig, ListenerConfig, RejectReason};
use crate::srt::seq::SeqNo;
use crate::srt::sim::endpoints::Net;
use crate::srt::sim::link::{Link, LinkConfig};
use crate::srt::sim::t0;

const MS: Duration = Duration::from_millis(1);

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s).expect("valid")
}

/// Two endpoints over links with 10 ms delay, 2 ms jitter and `loss` each way; the listener
/// admits every caller with `admit`; `seeded` gives both endpoints key generators.
fn net(loss: f64, admit: Admit, seeded: bool) -> Net {
    let link = LinkConfig {
        delay: 10 * MS,
        jitter: 2 * MS,
        loss,
        ..LinkConfig::default()
    };
    // Endpoint seeds 3 and 4 (from `Net::new`), link seeds 11 and 12: the loss pattern these
    // tests were written against.
    let mut net = Net::new(
        t0(),
        link.clone(),
        link.clone(),
        ListenerConfig::default(),
        3,
    );
    net.up = Link::new(link.clone(), 11);
    net.down = Link::new(link, 12);
    net.policy.admit = admit;
    if seeded {
        net.caller.set_crypto_seed([1; 32]);
        net.listener.set_crypto_seed([2; 32]);
    }
    net
}

/// Calls the listener with `encryption` and runs the handshake.
fn connect(net: &mut Net, encryption: Encryption, pbkeylen: u8) -> ConnId {
    let mut cfg = CallerConfig::new(0, SeqNo::new(0), net.listener_addr());
    cfg.stream_id = Some("#!::r=enc,m=publish".into());
    cfg.encryption = encryption;
    cfg.pbkeylen = pbkeylen;
    let id = net.caller.connect(net.now, cfg).expect("valid config");
    net.run_for(200 * MS);
    id
}

fn accepted(net: &Net) -> ConnId {
    match net.listener_events.first() {
        Some(EndpointEvent::Accepted { id, .. }) => *id,
        other => panic!("expected Accepted, got {other:?}"),
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
    let mut net = net(0.05, admit, true);
    let id = connect(&mut net, encryption("sim passphrase", refresh), 32);
    assert_eq!(net.caller_events, vec![EndpointEvent::Connected { id }]);
    let lid = accepted(&net);
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
        ..Admit::default()
    };
    let mut net = net(0.0, admit, true);
    let id = connect(
        &mut net,
        Encryption::with_passphrase(pass("cut through pass")),
        24,
    );
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
        let mut net = net(
            0.0,
            Admit {
                encryption: admit,
                ..Admit::default()
            },
            true,
        );
        let id = connect(&mut net, caller, 16);
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
    let mut net = net(0.0, admit, false);
    let mut cfg = CallerConfig::new(0, SeqNo::new(0), net.listener_addr());
    cfg.encryption = Encryption::with_passphrase(pass("the right passphrase"));
    assert_eq!(
        net.caller.connect(net.now, cfg).err(),
        Some(ConnectError::Refused(RejectReason::Ipe))
    );
    // The listener side: the caller is seeded, the listener is not.
    net.caller.set_crypto_seed([9; 32]);
    let id = connect(
        &mut net,
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
