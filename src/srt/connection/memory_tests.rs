//! Memory that follows use and the unresponsive-peer timeout, on virtual time: a fresh
//! connection holds no buffer memory, a burst's buffers are handed back, and a peer that only
//! sends keepalives while being sent data is closed with SHUTDOWN, one that acknowledges or
//! that has been sent nothing is not.

use std::time::{Duration, Instant};

use super::*;
use crate::srt::packet::{Ack, AckInfo, PacketPosition};
use crate::srt::sim::t0;

const MS: Duration = Duration::from_millis(1);
const ISN: u32 = 100;

fn conn(now: Instant, unresponsive: Option<Duration>) -> Connection {
    let mut cfg = ConnectionConfig::new(2, 1, SeqNo::new(ISN), now);
    cfg.peer_idle_timeout = Duration::from_secs(60);
    cfg.unresponsive_timeout = unresponsive;
    Connection::new(cfg, now)
}

fn ctrl(body: Control<'_>) -> Packet<'_> {
    Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 2,
        body,
    })
}

fn data(seq: u32, ts_us: u32, payload: &[u8]) -> Packet<'_> {
    Packet::Data(DataPacket {
        seq: SeqNo::new(seq),
        position: PacketPosition::Only,
        in_order: false,
        key: EncryptionKey::None,
        retransmitted: false,
        msg_no: MsgNo::new(seq),
        timestamp: Timestamp::from_micros(ts_us),
        dest_socket_id: 2,
        payload,
    })
}

fn light_ack(seq: u32) -> Ack {
    Ack {
        ack_no: 0,
        last_ack: SeqNo::new(seq),
        info: AckInfo::Light,
    }
}

/// Runs the connection from `from` to `to` on its own deadlines: feeds a keepalive from the
/// peer every 250 ms (and an ACK for everything sent, if `ack`), sends one packet every 10 ms,
/// drains what it transmits. Returns whether a SHUTDOWN went out and the close reason seen.
fn run(
    c: &mut Connection,
    from: Instant,
    to: Instant,
    send: bool,
    ack: bool,
) -> (bool, Option<CloseReason>) {
    let mut buf = [0u8; 1500];
    let mut shutdown = false;
    let mut now = from;
    let mut next_ka = from;
    let mut next_send = from;
    let mut steps = 0;
    while now < to && !c.is_closed() {
        steps += 1;
        assert!(steps < 1_000_000, "bounded");
        if now >= next_ka {
            c.handle_packet(now, &ctrl(Control::KeepAlive));
            if ack {
                let pos = c.snd.buf.sent_end().value();
                c.handle_packet(now, &ctrl(Control::Ack(light_ack(pos))));
            }
            next_ka = now + 250 * MS;
        }
        if send && now >= next_send {
            let _ = c.send(now, &[0x47; 188]);
            next_send = now + 10 * MS;
        }
        c.handle_timeout(now);
        while let Some(n) = c.poll_transmit(now, &mut buf) {
            if let Ok(Packet::Control(p)) = Packet::parse(&buf[..n]) {
                shutdown |= p.body == Control::Shutdown;
            }
        }
        let mut next = next_ka.min(to);
        if send {
            next = next.min(next_send);
        }
        if let Some(t) = c.poll_timeout() {
            next = next.min(t);
        }
        now = next.max(now + Duration::from_micros(100));
    }
    let reason = c.poll_event().map(|e| match e {
        Event::Closed(r) => r,
    });
    (shutdown, reason)
}

#[test]
fn fresh_connection_holds_no_buffer_memory() {
    let t = t0();
    let c = conn(t, None);
    assert_eq!(c.buffer_heap_bytes(), 0);
    // The fixed part: a few hundred bytes of state, not a ring sized by the flow window.
    let fixed = std::mem::size_of::<Connection>();
    assert!(fixed < 4096, "Connection is {fixed} bytes");
}

#[test]
fn buffers_grow_with_traffic_and_are_handed_back_when_it_stops() {
    let t = t0();
    let mut c = conn(t, None);
    // Receive a burst (TSBPD: payloads held until their play time), then let it play out.
    for i in 0..500u32 {
        c.handle_packet(t, &data(ISN + i, i * 100, &[0x47; 1316]));
    }
    let held = c.buffer_heap_bytes();
    assert!(held > 500 * 1316, "{held} bytes for 500 packets held");
    let mut out = [0u8; 1500];
    let later = t + Duration::from_millis(500);
    while c.recv(later, &mut out).is_some() {}
    // A second of send traffic nobody acknowledges, then silence.
    for _ in 0..200 {
        c.send(later, &[0x47; 1316]).expect("room");
    }
    let mut now = later;
    // Sender drop empties the buffer after ~1 s; the next trim still sees that period's peak,
    // the one after hands everything back.
    let end = later + Duration::from_secs(4);
    let mut steps = 0;
    while now < end {
        steps += 1;
        assert!(steps < 100_000, "bounded");
        c.handle_timeout(now);
        while c.poll_transmit(now, &mut out).is_some() {}
        now = c.poll_timeout().unwrap_or(end).clamp(now + MS, end);
    }
    assert_eq!(
        c.stats().pkt_snd_buf,
        0,
        "sender drop emptied the send buffer"
    );
    assert_eq!(
        c.buffer_heap_bytes(),
        0,
        "an idle connection gives its buffers back"
    );
}

#[test]
fn keepalive_only_peer_is_closed_after_the_unresponsive_timeout() {
    let t = t0();
    let mut c = conn(t, Some(Duration::from_secs(2)));
    let (shutdown, reason) = run(&mut c, t, t + Duration::from_millis(1990), true, false);
    assert!(!shutdown && reason.is_none(), "not before the timeout");
    let (shutdown, reason) = run(
        &mut c,
        t + Duration::from_millis(1990),
        t + Duration::from_secs(3),
        true,
        false,
    );
    assert!(shutdown, "the peer is told with SHUTDOWN");
    assert_eq!(reason, Some(CloseReason::Unresponsive));
}

#[test]
fn acknowledging_peer_and_peer_sent_nothing_are_not_unresponsive() {
    let t = t0();
    let end = t + Duration::from_secs(10);
    let mut acking = conn(t, Some(Duration::from_secs(2)));
    assert_eq!(run(&mut acking, t, end, true, true), (false, None));
    assert!(acking.stats().pkt_sent > 500);
    // Waiting for a publisher: keepalives only, but nothing to acknowledge.
    let mut waiting = conn(t, Some(Duration::from_secs(2)));
    assert_eq!(run(&mut waiting, t, end, false, false), (false, None));
    // Off: a keepalive-only peer stays.
    let mut off = conn(t, None);
    assert_eq!(run(&mut off, t, end, true, false), (false, None));
}
