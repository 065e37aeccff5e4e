//! Single-connection behaviour: feed a packet at time t, assert the exact reply.

use std::time::{Duration, Instant};

use super::*;
use crate::srt::packet::{Ack, AckInfo, LossList, PacketPosition};
use crate::srt::sim::t0;

const MS: Duration = Duration::from_millis(1);
const ISN: u32 = 100;

fn conn(now: Instant) -> Connection {
    Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(ISN), now), now)
}

fn data(seq: u32, ts_us: u32, payload: &[u8]) -> Packet<'_> {
    Packet::Data(DataPacket {
        seq: SeqNo::new(seq),
        position: PacketPosition::Only,
        in_order: false,
        key: crate::srt::packet::EncryptionKey::None,
        retransmitted: false,
        msg_no: MsgNo::new(seq),
        timestamp: Timestamp::from_micros(ts_us),
        dest_socket_id: 2,
        payload,
    })
}

fn ctrl(body: Control<'_>) -> Packet<'_> {
    Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 2,
        body,
    })
}

/// Every datagram the connection wants to send at `now`, parsed (owned copies).
fn transmit(c: &mut Connection, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(n) = c.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn parse(bytes: &[u8]) -> Packet<'_> {
    Packet::parse(bytes).expect("connection emits valid packets")
}

fn control_body(bytes: &[u8]) -> Control<'_> {
    match parse(bytes) {
        Packet::Control(c) => {
            assert_eq!(c.dest_socket_id, 1, "addressed to the peer");
            c.body
        }
        Packet::Data(d) => panic!("expected control, got data {d:?}"),
    }
}

fn ranges(list: &LossList<'_>) -> Vec<(u32, u32)> {
    list.iter().map(|(a, b)| (a.value(), b.value())).collect()
}

#[test]
fn gap_sends_immediate_nak() {
    let t = t0();
    let mut c = conn(t);
    for seq in [100, 101, 104] {
        c.handle_packet(t, &data(seq, 0, b"x"));
    }
    let out = transmit(&mut c, t);
    assert_eq!(out.len(), 1);
    match control_body(&out[0]) {
        Control::Nak(list) => assert_eq!(ranges(&list), vec![(102, 103)]),
        other => panic!("expected NAK, got {other:?}"),
    }
    assert_eq!(c.stats().pkt_rcv_loss, 2);
    assert_eq!(c.stats().pkt_sent_nak, 1);
}

#[test]
fn full_ack_every_10ms_carries_first_missing() {
    let t = t0();
    let mut c = conn(t);
    for seq in [100, 101, 103] {
        c.handle_packet(t, &data(seq, 0, b"x"));
    }
    transmit(&mut c, t);
    assert!(c.poll_timeout().is_some_and(|d| d <= t + 10 * MS));
    c.handle_timeout(t + 10 * MS);
    let out = transmit(&mut c, t + 10 * MS);
    assert_eq!(out.len(), 1);
    match control_body(&out[0]) {
        Control::Ack(Ack {
            ack_no: 1,
            last_ack,
            info: AckInfo::Full { avail_buf_pkts, .. },
        }) => {
            assert_eq!(last_ack, SeqNo::new(102));
            assert_eq!(avail_buf_pkts, 8192 - 4);
        }
        other => panic!("expected full ACK 1, got {other:?}"),
    }
    // Nothing new: no ACK at the next tick.
    c.handle_timeout(t + 20 * MS);
    assert!(transmit(&mut c, t + 20 * MS).is_empty());
}

#[test]
fn light_ack_every_64_packets() {
    let t = t0();
    let mut c = conn(t);
    for i in 0..64 {
        c.handle_packet(t, &data(ISN + i, 0, b"x"));
    }
    let out = transmit(&mut c, t);
    assert_eq!(out.len(), 1);
    match control_body(&out[0]) {
        Control::Ack(Ack {
            ack_no: 0,
            last_ack,
            info: AckInfo::Light,
        }) => {
            assert_eq!(last_ack, SeqNo::new(ISN + 64))
        }
        other => panic!("expected light ACK, got {other:?}"),
    }
}

#[test]
fn ackack_measures_rtt() {
    let t = t0();
    let mut c = conn(t);
    c.handle_packet(t, &data(ISN, 0, b"x"));
    c.handle_timeout(t + 10 * MS);
    assert_eq!(transmit(&mut c, t + 10 * MS).len(), 1);
    c.handle_packet(t + 40 * MS, &ctrl(Control::AckAck { ack_no: 1 }));
    assert_eq!(c.stats().ms_rtt, 30.0);
    assert_eq!(c.stats().ms_rtt_var, 15.0);
    // An unknown ACK number yields no sample.
    c.handle_packet(t + 90 * MS, &ctrl(Control::AckAck { ack_no: 77 }));
    assert_eq!(c.stats().ms_rtt, 30.0);
}

#[test]
fn keepalive_after_one_idle_second() {
    let t = t0();
    let mut c = conn(t);
    assert!(transmit(&mut c, t + 999 * MS).is_empty());
    c.handle_timeout(t + Duration::from_secs(1));
    let out = transmit(&mut c, t + Duration::from_secs(1));
    assert_eq!(out.len(), 1);
    assert_eq!(control_body(&out[0]), Control::KeepAlive);
}

#[test]
fn tsbpd_release_and_too_late_drop() {
    let t = t0();
    let mut c = conn(t);
    c.handle_packet(t, &data(ISN, 0, b"first"));
    c.handle_packet(t + 2 * MS, &data(ISN + 2, 2_000, b"third"));
    let mut out = [0u8; 64];
    assert!(
        c.recv(t + 119 * MS, &mut out).is_none(),
        "held for the 120 ms latency"
    );
    assert_eq!(c.poll_timeout(), Some(t + 10 * MS), "ACK timer first");
    assert_eq!(c.next_delivery_time(), Some(t + 120 * MS));
    let d = c.recv(t + 120 * MS, &mut out).expect("due");
    assert_eq!((d.seq, &out[..d.len]), (SeqNo::new(ISN), &b"first"[..]));
    assert!(
        c.recv(t + 121 * MS, &mut out).is_none(),
        "the gap holds delivery"
    );
    let d = c
        .recv(t + 122 * MS, &mut out)
        .expect("gap skipped when the next is due");
    assert_eq!((d.seq, &out[..d.len]), (SeqNo::new(ISN + 2), &b"third"[..]));
    assert_eq!(c.stats().pkt_rcv_drop, 1);
    // The retransmission arrives too late: belated, not delivered.
    c.handle_packet(t + 130 * MS, &data(ISN + 1, 1_000, b"second"));
    assert_eq!(c.stats().pkt_rcv_belated, 1);
}

#[test]
fn drop_request_stops_naks() {
    let t = t0();
    let mut c = conn(t);
    c.handle_packet(t, &data(ISN, 0, b"x"));
    c.handle_packet(t, &data(ISN + 3, 0, b"x"));
    transmit(&mut c, t);
    let req = DropRequest {
        msg_no: 0,
        first: SeqNo::new(ISN + 1),
        last: SeqNo::new(ISN + 2),
    };
    c.handle_packet(t + MS, &ctrl(Control::DropRequest(req)));
    assert_eq!(c.stats().pkt_rcv_drop, 2);
    c.handle_timeout(t + Duration::from_millis(300));
    let out = transmit(&mut c, t + Duration::from_millis(300));
    assert!(
        out.iter()
            .all(|p| !matches!(control_body(p), Control::Nak(_)))
    );
    match out
        .iter()
        .map(|p| control_body(p))
        .find(|b| matches!(b, Control::Ack(_)))
    {
        Some(Control::Ack(ack)) => assert_eq!(ack.last_ack, SeqNo::new(ISN + 4)),
        other => panic!("expected an ACK past the dropped range, got {other:?}"),
    }
}

fn sender(now: Instant) -> (Connection, Vec<Vec<u8>>) {
    let mut c = Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(ISN), now), now);
    for i in 0..5u8 {
        c.send(now, &[i; 100]).expect("room");
    }
    let out = transmit(&mut c, now);
    (c, out)
}

#[test]
fn sender_sends_paced_data_then_retransmits_on_nak() {
    let t = t0();
    let (mut c, first) = sender(t);
    assert_eq!(first.len(), 1, "pacing at 1 Gbit/s still spaces packets");
    let mut sent = first;
    let mut now = t;
    while sent.len() < 5 {
        now = c.poll_timeout().expect("more to send");
        sent.extend(transmit(&mut c, now));
    }
    for (i, p) in sent.iter().enumerate() {
        let Packet::Data(d) = parse(p) else {
            panic!("data expected")
        };
        assert_eq!(
            (d.seq, d.retransmitted, d.payload),
            (SeqNo::new(ISN + i as u32), false, &[i as u8; 100][..])
        );
        assert_eq!(d.msg_no, MsgNo::new(i as u32 + 1));
    }
    let mut lb = [0u8; 16];
    let mut b = crate::srt::packet::LossListBuilder::new(&mut lb);
    b.push(SeqNo::new(ISN + 1), SeqNo::new(ISN + 2))
        .expect("fits");
    // Also a bogus range far ahead of anything sent: ignored, no panic.
    let list = b.finish();
    now += 5 * MS;
    c.handle_packet(now, &ctrl(Control::Nak(list)));
    let mut re = Vec::new();
    while re.len() < 2 {
        now = c.poll_timeout().expect("retransmissions pending").max(now);
        re.extend(transmit(&mut c, now));
    }
    for (p, seq) in re.iter().zip([ISN + 1, ISN + 2]) {
        let Packet::Data(d) = parse(p) else {
            panic!("data expected")
        };
        assert!(d.retransmitted);
        assert_eq!(d.seq, SeqNo::new(seq));
        assert_eq!(d.payload, &[(seq - ISN) as u8; 100][..]);
    }
    let s = c.stats();
    assert_eq!(
        (s.pkt_sent, s.pkt_retrans, s.pkt_snd_loss, s.pkt_recv_nak),
        (7, 2, 2, 1)
    );
}

#[test]
fn full_ack_releases_and_is_ackacked() {
    let t = t0();
    let (mut c, _) = sender(t);
    let mut now = t;
    while let Some(at) = c.poll_timeout().filter(|&d| d < t + 5 * MS) {
        now = at.max(now);
        transmit(&mut c, now);
    }
    let ack = Ack {
        ack_no: 7,
        last_ack: SeqNo::new(ISN + 3),
        info: AckInfo::Full {
            rtt_us: 30_000,
            rtt_var_us: 5_000,
            avail_buf_pkts: 8000,
            pkt_recv_rate_pps: 0,
            est_link_capacity_pps: 0,
            recv_rate_bytes_per_s: 0,
        },
    };
    c.handle_packet(now, &ctrl(Control::Ack(ack)));
    let out = transmit(&mut c, now);
    assert_eq!(control_body(&out[0]), Control::AckAck { ack_no: 7 });
    let s = c.stats();
    assert_eq!((s.pkt_snd_buf, s.ms_rtt), (2, 30.0));
    // An ACK beyond anything sent is ignored.
    let bogus = Ack {
        ack_no: 0,
        last_ack: SeqNo::new(ISN + 1000),
        info: AckInfo::Light,
    };
    c.handle_packet(now, &ctrl(Control::Ack(bogus)));
    assert_eq!(c.stats().pkt_snd_buf, 2);
}

#[test]
fn sender_drops_too_late_packets_and_sends_dropreq() {
    let t = t0();
    let (mut c, _) = sender(t);
    let late = t + Duration::from_millis(1020);
    c.handle_timeout(late);
    let out = transmit(&mut c, late);
    let req = out
        .iter()
        .find_map(|p| match control_body(p) {
            Control::DropRequest(r) => Some(r),
            _ => None,
        })
        .expect("DROPREQ sent");
    assert_eq!(
        (req.first, req.last, req.msg_no),
        (SeqNo::new(ISN), SeqNo::new(ISN + 4), 5)
    );
    assert_eq!(c.stats().pkt_snd_drop, 5);
}

#[test]
fn repeated_conclusion_is_answered_again() {
    let t = t0();
    let mut c = conn(t);
    let reply = crate::srt::packet::Handshake {
        version: 5,
        encryption_field: 0,
        extension_field: 0,
        initial_seq: SeqNo::new(ISN),
        mtu: 1500,
        flow_window: 8192,
        kind: crate::srt::packet::HandshakeType::Conclusion,
        socket_id: 2,
        syn_cookie: 0,
        peer_ip: [0; 16],
        extensions: Vec::new(),
    };
    c.set_handshake_reply(reply.clone());
    c.handle_packet(t, &ctrl(Control::Handshake(reply.clone())));
    let out = transmit(&mut c, t);
    assert_eq!(out.len(), 1);
    assert_eq!(control_body(&out[0]), Control::Handshake(reply));
}

#[test]
fn peer_shutdown_closes() {
    let t = t0();
    let mut c = conn(t);
    c.handle_packet(t, &ctrl(Control::Shutdown));
    assert_eq!(
        c.poll_event(),
        Some(Event::Closed(CloseReason::PeerShutdown))
    );
    assert!(c.is_closed() && c.poll_timeout().is_none());
    assert!(transmit(&mut c, t).is_empty());
    assert_eq!(c.send(t, b"x"), Err(SendError::Closed));
}

#[test]
fn peer_shutdown_plays_out_buffered_data_first() {
    let t = t0();
    let mut c = conn(t);
    c.handle_packet(t, &data(ISN, 0, b"a"));
    c.handle_packet(t, &data(ISN + 2, 2_000, b"c"));
    c.handle_packet(t + MS, &ctrl(Control::Shutdown));
    assert!(c.poll_event().is_none(), "still draining");
    assert!(transmit(&mut c, t + MS).is_empty(), "nothing more is sent");
    assert_eq!(c.next_delivery_time(), Some(t + 120 * MS));
    assert_eq!(
        c.poll_timeout(),
        Some(t + MS + 220 * MS),
        "closes by itself if nobody reads"
    );
    let mut out = [0u8; 8];
    assert_eq!(
        c.recv(t + 120 * MS, &mut out).map(|d| d.seq),
        Some(SeqNo::new(ISN))
    );
    assert_eq!(
        c.next_delivery_time(),
        Some(t + 122 * MS),
        "the gap cannot be filled any more"
    );
    assert_eq!(
        c.recv(t + 122 * MS, &mut out).map(|d| d.seq),
        Some(SeqNo::new(ISN + 2))
    );
    assert_eq!(
        c.poll_event(),
        Some(Event::Closed(CloseReason::PeerShutdown))
    );
    assert_eq!(c.stats().pkt_rcv_drop, 1);
}

#[test]
fn oversize_payload_and_full_buffer_are_refused() {
    let t = t0();
    let mut cfg = ConnectionConfig::new(2, 1, SeqNo::new(ISN), t);
    cfg.send_buffer_pkts = 2;
    let mut c = Connection::new(cfg, t);
    assert_eq!(
        c.send(t, &[0; 1317]),
        Err(SendError::TooLarge {
            len: 1317,
            max: 1316
        })
    );
    c.send(t, b"a").unwrap();
    c.send(t, b"b").unwrap();
    assert_eq!(c.send(t, b"c"), Err(SendError::BufferFull));
    assert_eq!(c.stats().pkt_snd_overflow, 1);
}

fn cut_through(now: Instant) -> Connection {
    let mut cfg = ConnectionConfig::new(2, 1, SeqNo::new(ISN), now);
    cfg.delivery = Delivery::CutThrough;
    Connection::new(cfg, now)
}

#[test]
fn cut_through_hands_over_on_arrival_including_late_fills() {
    let t = t0();
    let mut c = cut_through(t);
    let arrive = |c: &mut Connection, at: Instant, seq: u32, ts: u32| {
        c.handle_packet(at, &data(seq, ts, b"x"))
            .map(|a| a.seq.value())
    };
    assert_eq!(arrive(&mut c, t, ISN, 0), Some(ISN));
    assert_eq!(
        arrive(&mut c, t + MS, ISN + 2, 1_000),
        Some(ISN + 2),
        "no waiting for the gap"
    );
    assert_eq!(
        arrive(&mut c, t + 5 * MS, ISN + 1, 500),
        Some(ISN + 1),
        "the late fill passes too"
    );
    assert_eq!(arrive(&mut c, t + 6 * MS, ISN + 1, 500), None, "duplicate");
    let a = c
        .handle_packet(t + 7 * MS, &data(ISN + 3, 2_000, b"x"))
        .expect("fresh");
    assert_eq!(a.origin, t + 2 * MS, "origin = time base + timestamp");
    let mut out = [0u8; 8];
    assert!(
        c.recv(t + Duration::from_secs(1), &mut out).is_none(),
        "nothing through recv"
    );
    assert!(c.next_delivery_time().is_none());
    // Bookkeeping is released at TSBPD time by handle_timeout.
    c.handle_timeout(t + 125 * MS);
    assert_eq!(c.stats().pkt_rcv_buf, 0);
    assert_eq!(c.stats().pkt_rcv_drop, 0);
    // A gap never filled is given up at TSBPD time and counted.
    c.handle_packet(t + 130 * MS, &data(ISN + 5, 130_000, b"x"));
    transmit(&mut c, t + 130 * MS);
    c.handle_timeout(t + 251 * MS);
    assert_eq!(c.stats().pkt_rcv_drop, 1);
    assert_eq!(
        arrive(&mut c, t + 260 * MS, ISN + 4, 125_000),
        None,
        "too late: belated"
    );
    assert_eq!(c.stats().pkt_rcv_belated, 1);
}
