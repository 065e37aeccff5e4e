//! Payloads written once: a packet in the ring is shared by every subscriber's send buffer,
//! each leg's datagram carries the right bytes, and a retransmission reads them through the
//! handle long after the ring recycled the slot.

use std::time::{Duration, Instant};

use crate::relay::ring::{Cursor, RingConfig, Serial, StreamRing};
use crate::srt::connection::{Connection, ConnectionConfig};
use crate::srt::packet::{Control, ControlPacket, LossListBuilder, Packet};
use crate::srt::seq::{SeqNo, Timestamp};
use crate::srt::sim::t0;

const ISN: u32 = 500;

fn ring(cap: usize) -> StreamRing {
    StreamRing::new(RingConfig {
        capacity_pkts: cap,
        max_jump_pkts: 1 << 20,
    })
}

/// A subscriber leg (socket 2, peer 1), open.
fn leg(now: Instant) -> Connection {
    Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(ISN), now), now)
}

/// The leg's sequence number for ring position `pos`, as the SRT sink numbers it.
fn seq_of(c: &Cursor, pos: u64) -> SeqNo {
    SeqNo::new(ISN + (pos - c.start_pos().expect("started")) as u32)
}

/// The publisher's packet `n`: 7 TS packets, numbered so a mix-up shows.
fn ts_payload(n: u32) -> Vec<u8> {
    let mut p = vec![0x47u8; 1316];
    for (i, b) in p.iter_mut().enumerate().skip(1) {
        *b = (n as usize * 31 + i) as u8;
    }
    p
}

/// (sequence number, retransmitted, payload) of every data packet `c` sends at `now`.
fn sent(c: &mut Connection, now: Instant) -> Vec<(u32, bool, Vec<u8>)> {
    let mut buf = [0u8; 1500];
    let mut out = Vec::new();
    while let Some(n) = c.poll_transmit(now, &mut buf) {
        if let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) {
            out.push((d.seq.value(), d.retransmitted, d.payload.to_vec()));
        }
    }
    out
}

fn nak(c: &mut Connection, now: Instant, seq: u32) {
    let mut scratch = [0u8; 16];
    let mut list = LossListBuilder::new(&mut scratch);
    list.push(SeqNo::new(seq), SeqNo::new(seq))
        .expect("one range fits");
    c.handle_packet(
        now,
        &Packet::Control(ControlPacket {
            timestamp: Timestamp::from_micros(0),
            dest_socket_id: 2,
            body: Control::Nak(list.finish()),
        }),
    );
}

#[test]
fn a_payload_shared_by_n_subscribers_is_stored_once() {
    const N: usize = 50;
    let now = t0();
    let mut r = ring(64);
    let mut legs: Vec<Connection> = (0..N).map(|_| leg(now)).collect();
    let mut c = r.cursor_at_oldest();
    for n in 0..4u32 {
        assert!(
            r.insert(Serial::new(9000 + n), now, &ts_payload(n))
                .is_stored()
        );
    }
    while let Ok(p) = r.read(&mut c) {
        let seq = seq_of(&c, p.pos);
        for l in &mut legs {
            l.send_at(seq, p.origin, p.handle.clone()).expect("room");
        }
        assert_eq!(p.handle.holders(), N + 1, "the ring's copy and N handles");
    }
    assert_eq!(
        r.payload_allocations(),
        (4, 0),
        "one write per packet, not per leg"
    );
    for l in &legs {
        assert!(
            l.buffer_heap_bytes() < 1316,
            "a leg holds no payload bytes of its own: {}",
            l.buffer_heap_bytes()
        );
    }
    // Each leg's datagrams carry the bytes (the one copy, into the datagram), paced.
    for l in &mut legs {
        let got: Vec<_> = (1..=200)
            .flat_map(|ms| sent(l, now + Duration::from_millis(ms)))
            .collect();
        let want: Vec<_> = (0..4u32).map(|n| (ISN + n, false, ts_payload(n))).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn retransmission_after_the_ring_moved_on_sends_the_right_bytes() {
    let now = t0();
    let mut r = ring(4);
    let mut l = leg(now);
    let mut c = r.cursor_at_oldest();
    let mut t = now;
    // Packet 0 goes out, then the ring wraps three times over while the leg waits for an
    // ACK that never comes.
    for n in 0..13u32 {
        assert!(
            r.insert(Serial::new(7000 + n), t, &ts_payload(n))
                .is_stored()
        );
        if n == 0 {
            let p = r.read(&mut c).expect("packet 0");
            let seq = seq_of(&c, p.pos);
            l.send_at(seq, p.origin, p.handle.clone()).expect("room");
            t += Duration::from_millis(1);
            assert_eq!(sent(&mut l, t), vec![(ISN, false, ts_payload(0))]);
        }
    }
    let first = r.position_of(Serial::new(7000));
    assert!(r.get(first).is_none(), "the ring let go of packet 0");
    assert_eq!(
        r.get(first + 12).map(|p| p.payload.to_vec()),
        Some(ts_payload(12)),
        "packet 0's slot holds packet 12"
    );
    // The held handle was not refilled under the leg; the others were.
    let (allocated, reused) = r.payload_allocations();
    assert_eq!((allocated, reused), (5, 8));
    nak(&mut l, t, ISN);
    t += Duration::from_millis(20);
    assert_eq!(sent(&mut l, t), vec![(ISN, true, ts_payload(0))]);
}
