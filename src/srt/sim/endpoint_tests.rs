//! Endpoint behaviour end to end on virtual time: handshake, admission, rejections, lossy
//! handshakes, connect timeout and hostile input.

use std::time::Duration;

use super::endpoints::{CALLER_ADDR, Net};
use super::link::LinkConfig;
use super::t0;
use crate::srt::endpoint::{ConnId, ConnectError, EndpointEvent};
use crate::srt::handshake::{CallerConfig, ListenerConfig, RejectReason, StreamMode};
use crate::srt::seq::SeqNo;

const MS: Duration = Duration::from_millis(1);

fn link(rtt_ms: u32, loss: f64) -> LinkConfig {
    LinkConfig {
        delay: MS * rtt_ms / 2,
        loss,
        ..LinkConfig::default()
    }
}

fn caller_cfg(net: &Net, stream_id: &str) -> CallerConfig {
    let mut c = CallerConfig::new(0, SeqNo::new(0), net.listener_addr());
    c.stream_id = Some(stream_id.to_string());
    c
}

/// Connects with `cfg` over the net and returns (caller's id, listener's id).
fn accept(net: &mut Net, cfg: CallerConfig) -> (ConnId, ConnId) {
    let id = net
        .caller
        .connect(net.now, cfg)
        .expect("valid caller config");
    net.run_for(100 * MS);
    match net.listener_events.last() {
        Some(EndpointEvent::Accepted { id: lid, .. }) => (id, *lid),
        other => panic!("expected Accepted, got {other:?}"),
    }
}

#[test]
fn handshake_admits_and_data_flows() {
    let listener = ListenerConfig {
        recv_latency: 200 * MS,
        peer_latency: 80 * MS,
        ..ListenerConfig::default()
    };
    let mut net = Net::new(t0(), link(20, 0.0), link(20, 0.0), listener, 1);
    let mut cfg = caller_cfg(&net, "#!::r=live/cam1,m=publish");
    cfg.recv_latency = 120 * MS;
    cfg.peer_latency = 300 * MS;
    let id = net.caller.connect(net.now, cfg).expect("valid config");
    net.run_for(100 * MS);
    assert_eq!(net.caller_events, vec![EndpointEvent::Connected { id }]);
    let EndpointEvent::Accepted {
        id: lid,
        stream_id: Some(sid),
        ..
    } = &net.listener_events[0]
    else {
        panic!("expected Accepted, got {:?}", net.listener_events);
    };
    let lid = *lid;
    assert_eq!(sid.resource.as_deref(), Some("live/cam1"));
    assert_eq!(sid.mode, Some(StreamMode::Publish));
    // Latency negotiation (draft §4.4): each direction takes the max of both proposals.
    let up = net.listener.connection(lid).expect("accepted").stats();
    let down = net.caller.connection(id).expect("connected").stats();
    assert_eq!((up.ms_rcv_tsbpd_delay, up.ms_snd_tsbpd_delay), (300, 120));
    assert_eq!(
        (down.ms_rcv_tsbpd_delay, down.ms_snd_tsbpd_delay),
        (120, 300)
    );
    for i in 0..200u32 {
        net.caller
            .send(id, net.now, &i.to_be_bytes())
            .expect("open");
        net.run_for(2 * MS);
    }
    net.run_for(400 * MS);
    let mut got = Vec::new();
    let mut buf = [0u8; 1500];
    while net.listener.recv(lid, net.now, &mut buf).is_some() {
        got.push(u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")));
    }
    assert_eq!(got, (0..200).collect::<Vec<_>>());
    assert_eq!(net.listener.stats().accepted, 1);
}

#[test]
fn every_reject_reason_reaches_the_caller() {
    let reasons = [
        RejectReason::BadRequest,
        RejectReason::Unauthorized,
        RejectReason::Forbidden,
        RejectReason::NotFound,
        RejectReason::Conflict,
        RejectReason::from_code(1503),
        RejectReason::from_code(1402),
        RejectReason::from_code(2042),
        RejectReason::from_code(3),
    ];
    for (i, reason) in reasons.into_iter().enumerate() {
        let mut net = Net::new(
            t0(),
            link(10, 0.0),
            link(10, 0.0),
            ListenerConfig::default(),
            10 + i as u64,
        );
        net.policy.reject.push(("cam1".into(), reason));
        let id = net
            .caller
            .connect(net.now, caller_cfg(&net, "#!::r=cam1,m=request"))
            .expect("valid");
        net.run_for(200 * MS);
        assert_eq!(
            net.caller_events,
            vec![EndpointEvent::ConnectFailed {
                id,
                reason: ConnectError::Rejected(reason)
            }],
            "reason {}",
            reason.code()
        );
        assert_eq!(
            net.listener.stats().rejections.get(&reason.code()),
            Some(&1)
        );
        assert_eq!(
            net.listener.connection_ids().count(),
            0,
            "no state kept for a rejected caller"
        );
    }
}

#[test]
fn malformed_stream_id_is_rejected_as_bad_request() {
    let mut net = Net::new(
        t0(),
        link(10, 0.0),
        link(10, 0.0),
        ListenerConfig::default(),
        3,
    );
    let id = net
        .caller
        .connect(net.now, caller_cfg(&net, "#!::r=a,r=b"))
        .expect("valid");
    net.run_for(200 * MS);
    assert_eq!(
        net.caller_events,
        vec![EndpointEvent::ConnectFailed {
            id,
            reason: ConnectError::Rejected(RejectReason::BadRequest)
        }]
    );
}

#[test]
fn lossy_handshake_connects_once() {
    // Handshake packets are lost in both directions; retries and repeated conclusions must
    // still end with exactly one connection on each side.
    for seed in 0..20 {
        let mut net = Net::new(
            t0(),
            link(40, 0.4),
            link(40, 0.4),
            ListenerConfig::default(),
            100 + seed,
        );
        let id = net
            .caller
            .connect(net.now, caller_cfg(&net, "cam"))
            .expect("valid");
        net.run_for(Duration::from_secs(3));
        match net.caller_events.as_slice() {
            [EndpointEvent::Connected { id: c }] => {
                assert_eq!(*c, id);
                assert_eq!(
                    net.listener.stats().accepted,
                    1,
                    "seed {seed}: one connection"
                );
                assert_eq!(net.listener.connection_ids().count(), 1);
            }
            [
                EndpointEvent::ConnectFailed {
                    reason: ConnectError::TimedOut,
                    ..
                },
            ] => {
                // 40 % loss both ways can defeat 12 tries; then the listener may hold a
                // connection the caller never learned of, which its idle timeout removes.
                net.run_for(Duration::from_secs(6));
                assert_eq!(net.listener.connection_ids().count(), 0, "seed {seed}");
            }
            other => panic!("seed {seed}: {other:?}"),
        }
    }
}

#[test]
fn unanswered_call_times_out() {
    let mut up = link(20, 0.0);
    up.loss = 1.0;
    let mut net = Net::new(t0(), up, link(20, 0.0), ListenerConfig::default(), 4);
    let start = net.now;
    let id = net
        .caller
        .connect(net.now, caller_cfg(&net, "cam"))
        .expect("valid");
    net.run_for(Duration::from_millis(2900));
    assert!(net.caller_events.is_empty());
    net.run_for(Duration::from_millis(200));
    assert_eq!(
        net.caller_events,
        vec![EndpointEvent::ConnectFailed {
            id,
            reason: ConnectError::TimedOut
        }]
    );
    assert!(net.now - start >= Duration::from_secs(3));
    assert!(
        net.up.stats.sent >= 10,
        "retried every 250 ms: {}",
        net.up.stats.sent
    );
}

#[test]
fn hostile_datagrams_are_counted_and_harmless() {
    let mut net = Net::new(
        t0(),
        link(10, 0.0),
        link(10, 0.0),
        ListenerConfig::default(),
        5,
    );
    let cfg = caller_cfg(&net, "cam");
    let (id, lid) = accept(&mut net, cfg);
    let mut rng = super::Rng::new(9);
    let stranger = "10.9.9.9:1234".parse().expect("literal");
    let caller: std::net::SocketAddr = CALLER_ADDR.parse().expect("literal");
    for i in 0..2000u32 {
        let len = rng.below(80) as usize;
        let mut junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if i % 3 == 0 && junk.len() >= 16 {
            // Addressed to the live connection, from the wrong address.
            junk[12..16].copy_from_slice(&lid.to_be_bytes());
            net.inject(stranger, &junk);
        } else {
            net.inject(caller, &junk);
        }
        if i % 50 == 0 {
            net.caller
                .send(id, net.now, &i.to_be_bytes())
                .expect("open");
            net.run_for(MS);
        }
    }
    net.run_for(500 * MS);
    let s = net.listener.stats();
    assert!(s.parse_errors > 0 && s.wrong_peer > 0, "{s:?}");
    let mut got = 0;
    let mut buf = [0u8; 1500];
    while net.listener.recv(lid, net.now, &mut buf).is_some() {
        got += 1;
    }
    assert_eq!(got, 40, "the established stream was not disturbed");
}

#[test]
fn timestamps_are_relative_to_each_connection_not_the_endpoint() {
    // Both endpoints have been up for an hour when the call is made. The listener derives its
    // TSBPD time base from the conclusion's timestamp (libsrt does the same), so handshake and
    // data timestamps must share the connection's origin, or delivery is off by an hour.
    let mut net = Net::new(
        t0(),
        link(20, 0.0),
        link(20, 0.0),
        ListenerConfig::default(),
        6,
    );
    net.run_for(Duration::from_secs(3600));
    let cfg = caller_cfg(&net, "cam");
    let (id, lid) = accept(&mut net, cfg);
    let sent_at = net.now;
    net.caller.send(id, net.now, b"hello").expect("open");
    let mut buf = [0u8; 64];
    let mut delivered_at = None;
    for _ in 0..400 {
        net.run_for(MS);
        if net.listener.recv(lid, net.now, &mut buf).is_some() {
            delivered_at = Some(net.now);
            break;
        }
    }
    let delay = delivered_at.expect("delivered") - sent_at;
    // 120 ms latency + 10 ms one-way, within the 1 ms step.
    assert!(
        delay >= 129 * MS && delay <= 132 * MS,
        "delivered after {delay:?}"
    );
}

#[test]
fn repeated_conclusion_gets_the_same_answer_and_no_second_connection() {
    use crate::srt::endpoint::{AcceptAll, Endpoint, EndpointConfig};
    use crate::srt::handshake::Listener;
    let now = t0();
    let caller_addr = CALLER_ADDR.parse().expect("literal");
    let listener_addr = "10.0.0.2:9000".parse().expect("literal");
    let l = Listener::new([7; 16], now, ListenerConfig::default());
    let mut listener = Endpoint::new(EndpointConfig::default(), Some(l), now);
    let mut caller = Endpoint::new(EndpointConfig::default(), None, now);
    let mut cfg = CallerConfig::new(0, SeqNo::new(0), listener_addr);
    cfg.stream_id = Some("cam".into());
    caller.connect(now, cfg).expect("valid");
    let mut buf = [0u8; 1500];
    let mut out = |ep: &mut Endpoint| {
        let n = ep
            .poll_transmit(now, &mut buf)
            .expect("something to send")
            .len;
        buf[..n].to_vec()
    };
    let induction = out(&mut caller);
    listener.handle_datagram(now, caller_addr, &induction, &mut AcceptAll);
    let induction_reply = out(&mut listener);
    caller.handle_datagram(now, listener_addr, &induction_reply, &mut AcceptAll);
    let conclusion = out(&mut caller);
    listener.handle_datagram(now, caller_addr, &conclusion, &mut AcceptAll);
    let first = out(&mut listener);
    // The reply was lost; the caller repeats its conclusion.
    listener.handle_datagram(now + 250 * MS, caller_addr, &conclusion, &mut AcceptAll);
    let n = listener
        .poll_transmit(now + 250 * MS, &mut buf)
        .expect("answered again")
        .len;
    let second = buf[..n].to_vec();
    assert_eq!(
        first[16..],
        second[16..],
        "the same handshake (only the header timestamp moves)"
    );
    assert_eq!(first[..8], second[..8]);
    assert_eq!(listener.stats().accepted, 1);
    assert_eq!(listener.connection_ids().count(), 1);
}

#[test]
fn payload_limit_follows_the_negotiated_mss() {
    let mut net = Net::new(
        t0(),
        link(10, 0.0),
        link(10, 0.0),
        ListenerConfig::default(),
        8,
    );
    let mut cfg = caller_cfg(&net, "cam");
    cfg.mtu = 500;
    let (id, lid) = accept(&mut net, cfg);
    let conn = net.listener.connection(lid).expect("accepted");
    assert_eq!(conn.config().mss, 500);
    assert_eq!(conn.config().max_payload, 500 - 44);
    assert!(
        net.listener.send(lid, net.now, &[0; 457]).is_err(),
        "too large for the peer's MSS"
    );
    assert!(net.listener.send(lid, net.now, &[0; 456]).is_ok());
    assert!(net.caller.send(id, net.now, &[0; 456]).is_ok());
}

/// What the listener's receiver does with reordering and a gap that is never filled, for a
/// connection admitted with `bonded` (an SRTLA group's merged connection) or not, under
/// `loss_max_ttl = 20`. Returns (whether the caller was offered PERIODICNAK, NAKs sent right
/// after the gap that follows a reordering, NAKs sent 100 ms later).
fn nak_behaviour(bonded: bool) -> (bool, u64, u64) {
    use crate::srt::endpoint::{Endpoint, EndpointConfig};
    use crate::srt::handshake::Listener;
    use crate::srt::packet::{DataPacket, EncryptionKey, PacketPosition};
    use crate::srt::seq::{MsgNo, Timestamp};

    let mut net = Net::new(
        t0(),
        link(10, 0.0),
        link(10, 0.0),
        ListenerConfig::default(),
        9,
    );
    let cfg = EndpointConfig {
        seed: 10,
        loss_max_ttl: 20,
        ..EndpointConfig::default()
    };
    let listener = Listener::new(*b"0123456789abcdef", net.now, ListenerConfig::default());
    net.listener = Endpoint::new(cfg, Some(listener), net.now);
    net.policy.admit.bonded = bonded;
    let cfg = caller_cfg(&net, "#!::r=live/bonded,m=publish");
    let (id, lid) = accept(&mut net, cfg);
    let offered = net
        .caller
        .connection(id)
        .expect("connected")
        .config()
        .periodic_nak;
    let conn = net.listener.connection(lid).expect("accepted").config();
    assert_eq!(conn.periodic_nak, !bonded);
    assert_eq!(conn.loss_max_ttl, if bonded { 0 } else { 20 });
    let isn = conn.isn;
    // Packets the caller never sent, straight into the listener: nothing fills a gap.
    let from = CALLER_ADDR.parse().expect("literal");
    let inject = |net: &mut Net, n: i32| {
        let seq = isn.add(n);
        let p = DataPacket {
            seq,
            position: PacketPosition::Only,
            in_order: false,
            key: EncryptionKey::None,
            retransmitted: false,
            msg_no: MsgNo::new(seq.value() + 1),
            timestamp: Timestamp::from_micros(1000),
            dest_socket_id: lid,
            payload: &[0x47; 188],
        };
        let mut buf = [0u8; 1500];
        let len = p.emit(&mut buf).expect("fits");
        net.inject(from, &buf[..len]);
    };
    // 1 before 0 (reordered, not a retransmission), then a gap at 2; each NAK goes out
    // before the next packet arrives.
    for n in [1, 0, 3] {
        inject(&mut net, n);
        net.run_for(MS);
    }
    let naks = |net: &Net| {
        net.listener
            .connection(lid)
            .map_or(0, |c| c.stats().pkt_sent_nak)
    };
    let right_after = naks(&net);
    net.run_for(100 * MS);
    (offered, right_after, naks(&net))
}

/// A bonded connection (an SRTLA group's links merged into one) runs the receiver settings
/// SRTLA needs: no reorder tolerance grown from what arrived out of order (the gap after it
/// is NAKed at once) and no periodic NAK (that NAK is not repeated), nor offered to the
/// caller. The same traffic on an ordinary connection holds the gap, then repeats its NAK.
#[test]
fn a_bonded_connection_naks_each_gap_once_at_once() {
    let (offered, right_after, later) = nak_behaviour(false);
    assert!(offered);
    assert_eq!(
        right_after, 1,
        "the first gap; the second is held for reordering"
    );
    assert!(
        later >= 3,
        "held gap released, then periodic repeats: {later}"
    );
    let (offered, right_after, later) = nak_behaviour(true);
    assert!(!offered, "PERIODICNAK not offered in HSRSP");
    assert_eq!(right_after, 2, "both gaps at once");
    assert_eq!(later, 2, "no repeats");
}
