//! Bounded retransmission on virtual time: a peer that NAKs everything every millisecond and
//! claims a 100 us RTT gets at most the retransmission budget on top of the stream, while
//! honest losses (one packet, a 50-packet burst) are still repaired in time.

use std::time::{Duration, Instant};

use super::cc::RexmitBudget;
use super::sender::MIN_REXMIT_INTERVAL;
use super::*;
use crate::srt::packet::{Ack, AckInfo, LossListBuilder};
use crate::srt::sim::link::LinkConfig;
use crate::srt::sim::pair::{Pair, payload};
use crate::srt::sim::t0;

const MS: Duration = Duration::from_millis(1);
const ISN: u32 = 100;
/// 1316-byte payloads at 1 Mbit/s of payload.
const CBR_INTERVAL: Duration = Duration::from_micros(10_528);

fn sender(now: Instant) -> Connection {
    Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(ISN), now), now)
}

fn feed(c: &mut Connection, now: Instant, body: Control<'_>) {
    let pkt = Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 2,
        body,
    });
    c.handle_packet(now, &pkt);
}

/// A NAK for `first..=last`.
fn nak(c: &mut Connection, now: Instant, first: u32, last: u32) {
    let mut buf = [0u8; 16];
    let mut b = LossListBuilder::new(&mut buf);
    b.push(SeqNo::new(first), SeqNo::new(last))
        .expect("one range fits");
    feed(c, now, Control::Nak(b.finish()));
}

/// A full ACK that acknowledges nothing new and claims `rtt_us`.
fn ack(c: &mut Connection, now: Instant, ack_no: u32, rtt_us: u32) {
    let info = AckInfo::Full {
        rtt_us,
        rtt_var_us: rtt_us / 2,
        avail_buf_pkts: 8192,
        pkt_recv_rate_pps: 0,
        est_link_capacity_pps: 0,
        recv_rate_bytes_per_s: 0,
    };
    let body = Control::Ack(Ack {
        ack_no,
        last_ack: SeqNo::new(ISN),
        info,
    });
    feed(c, now, body);
}

/// Data bytes sent at `now`: (original payload bytes, retransmitted payload bytes, the
/// retransmitted sequence numbers).
fn drain(c: &mut Connection, now: Instant) -> (u64, u64, Vec<u32>) {
    let mut buf = [0u8; 1500];
    let (mut orig, mut rexmit, mut seqs) = (0, 0, Vec::new());
    while let Some(n) = c.poll_transmit(now, &mut buf) {
        if let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) {
            if d.retransmitted {
                rexmit += d.payload.len() as u64;
                seqs.push(d.seq.value());
            } else {
                orig += d.payload.len() as u64;
            }
        }
    }
    (orig, rexmit, seqs)
}

/// [`drain`] at every pacing deadline from `from` to `until`.
fn drain_until(c: &mut Connection, from: Instant, until: Instant) -> (u64, u64, Vec<u32>) {
    let (mut orig, mut rexmit, mut seqs) = (0, 0, Vec::new());
    let mut now = from;
    while now <= until {
        run_timers(c, now);
        let (o, r, s) = drain(c, now);
        orig += o;
        rexmit += r;
        seqs.extend(s);
        match c.poll_timeout() {
            Some(t) if t > now => now = t,
            _ => now += Duration::from_micros(1),
        }
    }
    (orig, rexmit, seqs)
}

fn run_timers(c: &mut Connection, now: Instant) {
    if c.poll_timeout().is_some_and(|t| t <= now) {
        c.handle_timeout(now);
    }
}

/// The attack of issue 10: a 1 Mbit/s CBR stream for 5 s; every 1 ms the peer NAKs every
/// sequence number sent so far and ACKs nothing, claiming an RTT of 100 us. Before the budget
/// the sender resent its whole second of buffer every millisecond (~200x the stream).
#[test]
fn nak_flood_gets_at_most_the_budget() {
    let t = t0();
    let mut c = sender(t);
    let burst = RexmitBudget::new(t, DEFAULT_REXMIT_OVERHEAD_PCT).capacity();
    let p = payload(0, 1316);
    let (mut stream, mut orig, mut rexmit) = (0u64, 0u64, 0u64);
    let mut next_pkt = t;
    let mut sent = 0u32;
    for ms in 0..5000u32 {
        let now = t + MS * ms;
        while next_pkt <= now {
            c.send(now, &p).expect("open, room in the buffer");
            stream += p.len() as u64;
            sent += 1;
            next_pkt += CBR_INTERVAL;
        }
        run_timers(&mut c, now);
        let (o, r, _) = drain(&mut c, now);
        orig += o;
        rexmit += r;
        ack(&mut c, now, ms + 1, 100);
        nak(&mut c, now, ISN, ISN + sent - 1);
        let (o, r, _) = drain(&mut c, now);
        orig += o;
        rexmit += r;
    }
    let s = c.stats();
    eprintln!(
        "stream {stream} B, retransmitted {rexmit} B ({:.3}x), capped {}, suppressed {}",
        rexmit as f64 / stream as f64,
        s.pkt_retrans_capped,
        s.pkt_retrans_suppressed
    );
    assert_eq!(orig, stream, "every original went out once");
    assert_eq!(s.ms_rtt, 0.1, "the peer's RTT claim was adopted");
    // Budget: 25 % of the input (headers count on both sides, so the ratio holds for
    // payloads too), the 64-packet bucket once, and a packet of rounding.
    let allowed = stream / 4 + burst * 1316 / 1360 + 1316;
    assert!(
        rexmit <= allowed,
        "retransmitted {rexmit} bytes for a {stream}-byte stream (allowed {allowed}): {s:?}"
    );
    assert!(
        rexmit > stream / 8,
        "the budget is used, not zero: {rexmit}"
    );
    assert!(s.pkt_retrans_capped > 100_000, "capped NAKs counted: {s:?}");
    assert!(s.pkt_retrans_suppressed > 0, "too-soon NAKs counted: {s:?}");
}

/// The 10 ms floor holds against a 100 us RTT claim: a packet NAKed every 1 ms is resent
/// once per 10 ms, not once per NAK.
#[test]
fn a_packet_is_resent_at_most_once_per_ten_milliseconds() {
    let t = t0();
    let mut c = sender(t);
    c.send(t, b"x").expect("open");
    drain(&mut c, t);
    ack(&mut c, t, 1, 100);
    let mut resent_at = Vec::new();
    for ms in 1..=50u32 {
        let now = t + MS * ms;
        nak(&mut c, now, ISN, ISN);
        if !drain(&mut c, now).2.is_empty() {
            resent_at.push(ms);
        }
    }
    assert_eq!(MIN_REXMIT_INTERVAL, 10 * MS);
    assert_eq!(resent_at, vec![1, 11, 21, 31, 41]);
    assert_eq!(c.stats().pkt_retrans_suppressed, 45);
    assert_eq!(c.stats().pkt_retrans_capped, 0);
}

/// An honest receiver on a 5 ms path: its single loss, NAKed once mid-stream, goes out at
/// once, and its periodic re-NAK 20 ms later (the smallest NAK interval) is honoured too.
#[test]
fn a_single_loss_is_repaired_at_once() {
    let t = t0();
    let mut c = sender(t);
    let p = payload(0, 1316);
    let mut sent = 0u32;
    let mut now = t;
    // Two seconds of stream with its rate measured, acknowledged as it goes.
    while now < t + Duration::from_secs(2) {
        c.send(now, &p).expect("room");
        sent += 1;
        run_timers(&mut c, now);
        drain(&mut c, now);
        now += CBR_INTERVAL;
    }
    ack(&mut c, now, 1, 5_000);
    let lost = ISN + sent - 3;
    nak(&mut c, now, lost, lost);
    assert_eq!(drain(&mut c, now).2, vec![lost], "resent in the same poll");
    let later = now + 20 * MS;
    nak(&mut c, later, lost, lost);
    assert_eq!(
        drain(&mut c, later).2,
        vec![lost],
        "the periodic re-NAK too"
    );
    assert_eq!(c.stats().pkt_retrans_capped, 0);
}

/// A lost keyframe: 50 packets sent back to back in a 1 Mbit/s stream (25 frames/s of four
/// packets), all lost on the link. The burst allowance repairs it within the 120 ms latency:
/// at the budget's rate alone (~32 kB/s) it would take two seconds.
#[test]
fn burst_loss_of_fifty_packets_is_repaired_within_the_latency() {
    let latency = 120 * MS;
    let link = LinkConfig {
        delay: 10 * MS,
        ..LinkConfig::default()
    };
    let mut pair = Pair::connected(t0(), SeqNo::new(ISN), latency, link.clone(), link, 31);
    let frame = 40 * MS;
    let keyframe_at = 2 * 25;
    let mut id = 0u64;
    for f in 0..5 * 25 {
        let n = if f == keyframe_at {
            let now = pair.now;
            pair.ab.cfg.outage = Some((now, now + MS));
            50
        } else {
            4
        };
        for _ in 0..n {
            pair.a
                .send(pair.now, &payload(id, 1316))
                .expect("room in the send buffer");
            pair.sent_at.push(pair.now);
            id += 1;
        }
        pair.run_for(frame);
    }
    pair.run_for(latency * 3 + Duration::from_secs(1));
    assert_eq!(pair.ab.stats.lost, 50, "the keyframe was lost whole");
    let one_way = 10 * MS;
    assert_eq!(
        pair.check_delivery(latency + one_way, MS),
        0,
        "everything delivered on time"
    );
    assert_eq!(pair.delivered.len() as u64, id);
    let a = pair.a.stats();
    assert!(a.pkt_retrans >= 50, "{a:?}");
    assert_eq!(a.pkt_retrans_capped, 0, "{a:?}");
}

/// A subscriber's keyframe backlog leaves as one burst before any rate is measured; when the
/// player's socket overflows and loses 200 of 1000 packets, the credit of the burst itself
/// (25 % = 250 packets) repairs them at once, not the 64-packet floor.
#[test]
fn a_lost_part_of_a_join_backlog_is_resent_at_once() {
    let t = t0();
    let mut c = sender(t);
    let p = payload(0, 1316);
    for _ in 0..1000 {
        c.send(t, &p).expect("room");
    }
    // Paced at 1 Gbit/s: 1000 packets leave within 11 ms.
    let (orig, _, _) = drain_until(&mut c, t, t + 20 * MS);
    assert_eq!(orig, 1000 * 1316);
    let now = t + 30 * MS;
    ack(&mut c, now, 1, 20_000);
    nak(&mut c, now, ISN + 300, ISN + 499);
    let (_, _, resent) = drain_until(&mut c, now, now + 5 * MS);
    assert_eq!(resent, (ISN + 300..ISN + 500).collect::<Vec<_>>());
    assert_eq!(c.stats().pkt_retrans_capped, 0);
}
