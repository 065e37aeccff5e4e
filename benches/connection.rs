//! Connection hot paths on virtual time: the receive path (`handle_packet` with 0 % and 1 %
//! loss), full ACK and NAK generation, and the sender (`send` + `poll_transmit`, retransmission
//! after a NAK). Recorded in BENCHMARKS.md, not asserted.
//!
//! Virtual time is a base `Instant` plus offsets; nothing sleeps. Where a routine needs untimed
//! upkeep between measurements (draining deliveries, running timers), `iter_custom` times only
//! the measured calls; `clock/overhead` gives the cost of that timing so it can be subtracted.
//! Every bench checks, outside the timed region, that the measured calls did their work (an
//! ACK, a NAK, a data packet came out), so a silent no-op cannot look fast.

use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use srtrelay::buf::Payload;
use srtrelay::srt::connection::{Connection, ConnectionConfig};
use srtrelay::srt::packet::{
    Ack, AckInfo, Control, ControlPacket, DataPacket, EncryptionKey, LossList, LossListBuilder,
    Packet, PacketPosition,
};
use srtrelay::srt::seq::{MsgNo, SeqNo, Timestamp};

/// 7 TS packets: the libsrt and ffmpeg live payload size.
const PAYLOAD: usize = 1316;
const ISN: u32 = 1_000;
/// Our socket id and the peer's.
const LOCAL: u32 = 2;
const PEER: u32 = 1;
/// Packet spacing on the virtual clock: 100 us is ~105 Mbit/s of 1316-byte payloads.
const SPACING: Duration = Duration::from_micros(100);
/// The 1 % loss pattern: packet `i` is missing when `i % 100 == LOSS_PHASE`.
const LOSS_EVERY: u64 = 100;
const LOSS_PHASE: u64 = 37;
/// A missing packet is retransmitted this many packet slots (20 ms) after it was skipped.
const REPAIR_AFTER: u64 = 200;
/// Packets fed between untimed upkeep in the per-packet benches.
const CHUNK: u64 = 256;
const ACK_TICK: Duration = Duration::from_millis(10);

/// Wall time of `f`. Reading the real clock is the point of a bench; virtual time never does.
#[allow(clippy::disallowed_methods)]
fn timed<R>(f: impl FnOnce() -> R) -> Duration {
    let start = Instant::now();
    black_box(f());
    start.elapsed()
}

/// The origin of virtual time.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn data<'a>(seq: SeqNo, ts: Timestamp, retransmitted: bool, payload: &'a [u8]) -> Packet<'a> {
    Packet::Data(DataPacket {
        seq,
        position: PacketPosition::Only,
        in_order: false,
        key: EncryptionKey::None,
        retransmitted,
        msg_no: MsgNo::new(seq.value() & 0x03FF_FFFF),
        timestamp: ts,
        dest_socket_id: LOCAL,
        payload,
    })
}

fn ctrl(body: Control<'_>) -> Packet<'_> {
    Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: LOCAL,
        body,
    })
}

/// What one emitted datagram was, for the checks outside the timed regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Data,
    FullAck,
    LightAck,
    /// A NAK with this many loss ranges.
    Nak(usize),
    Other,
}

/// Drains `poll_transmit` and classifies what came out.
fn drain(conn: &mut Connection, now: Instant, buf: &mut [u8]) -> Vec<Out> {
    let mut out = Vec::new();
    while let Some(n) = conn.poll_transmit(now, buf) {
        out.push(
            match Packet::parse(&buf[..n]).expect("connection emits valid packets") {
                Packet::Data(_) => Out::Data,
                Packet::Control(c) => match c.body {
                    Control::Ack(Ack {
                        info: AckInfo::Full { .. },
                        ..
                    }) => Out::FullAck,
                    Control::Ack(_) => Out::LightAck,
                    Control::Nak(list) => Out::Nak(list.iter().count()),
                    _ => Out::Other,
                },
            },
        );
    }
    out
}

/// A receiving connection fed a paced stream: packet `i` has sequence `ISN + i`, timestamp
/// `i * SPACING` and arrives at `base + i * SPACING` (so TSBPD releases it 120 ms later).
struct RxStream {
    conn: Connection,
    base: Instant,
    next: u64,
    lossy: bool,
    /// Lost packets to retransmit, with the slot index at which they come back.
    repair: Option<VecDeque<(u64, u64)>>,
    payload: Vec<u8>,
    tx: Vec<u8>,
    out: Vec<u8>,
    handled: u64,
    delivered: u64,
}

impl RxStream {
    fn new(lossy: bool, repaired: bool) -> RxStream {
        let base = t0();
        let cfg = ConnectionConfig::new(LOCAL, PEER, SeqNo::new(ISN), base);
        RxStream {
            conn: Connection::new(cfg, base),
            base,
            next: 0,
            lossy,
            repair: repaired.then(VecDeque::new),
            payload: vec![0x47; PAYLOAD],
            tx: vec![0; 1500],
            out: vec![0; 1500],
            handled: 0,
            delivered: 0,
        }
    }

    fn at(&self, i: u64) -> Instant {
        self.base + SPACING * i as u32
    }

    fn is_lost(&self, i: u64) -> bool {
        self.lossy && i % LOSS_EVERY == LOSS_PHASE
    }

    fn now(&self) -> Instant {
        self.at(self.next)
    }

    /// Feeds what arrives in slot `next` (a due retransmission, then the packet itself unless
    /// it is lost) and moves on. Returns how many packets were handled.
    fn step(&mut self) -> u64 {
        let i = self.next;
        let now = self.at(i);
        let mut n = 0;
        if let Some(q) = &mut self.repair
            && q.front().is_some_and(|&(_, due)| due <= i)
        {
            let (lost, _) = q.pop_front().expect("front checked");
            let pkt = data(
                SeqNo::new(ISN).add(lost as i32),
                Timestamp::from_micros((lost * SPACING.as_micros() as u64) as u32),
                true,
                &self.payload,
            );
            self.conn.handle_packet(now, &pkt);
            n += 1;
        }
        if self.is_lost(i) {
            if let Some(q) = &mut self.repair {
                q.push_back((i, i + REPAIR_AFTER));
            }
        } else {
            let pkt = data(
                SeqNo::new(ISN).add(i as i32),
                Timestamp::from_micros((i * SPACING.as_micros() as u64) as u32),
                false,
                &self.payload,
            );
            self.conn.handle_packet(now, &pkt);
            n += 1;
        }
        self.next += 1;
        self.handled += n;
        n
    }

    /// Untimed upkeep at the current time: deliver what TSBPD releases, run due timers, send.
    fn upkeep(&mut self) {
        let now = self.now();
        while self.conn.recv(now, &mut self.out).is_some() {
            self.delivered += 1;
        }
        if self.conn.poll_timeout().is_some_and(|t| t <= now) {
            self.conn.handle_timeout(now);
        }
        while self.conn.poll_transmit(now, &mut self.tx).is_some() {}
    }

    /// Times `handle_packet` over about `packets` packets, upkeep every `CHUNK` untimed.
    fn run(&mut self, packets: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < packets {
            let target = (packets - done).min(CHUNK);
            let mut n = 0;
            total += timed(|| {
                while n < target {
                    n += self.step();
                }
            });
            done += n;
            self.upkeep();
        }
        total
    }
}

/// (a) The receive path, per packet.
fn receive(c: &mut Criterion) {
    let mut g = c.benchmark_group("rx");
    g.throughput(Throughput::Elements(1));
    for (name, lossy, repaired) in [
        ("handle_packet/loss_0", false, false),
        ("handle_packet/loss_1pct", true, false),
        ("handle_packet/loss_1pct_repaired", true, true),
    ] {
        let mut s = RxStream::new(lossy, repaired);
        // Warm to steady state (TSBPD holds 120 ms = 1200 packets) and check the work happens.
        s.run(20_000);
        let st = s.conn.stats();
        assert!(s.delivered > 15_000, "{name}: TSBPD delivers");
        if lossy {
            assert!(
                (190..=210).contains(&st.pkt_rcv_loss),
                "{name}: 1 % detected as lost, got {}",
                st.pkt_rcv_loss
            );
            assert!(st.pkt_sent_nak >= 50, "{name}: gaps NAKed");
        } else {
            assert_eq!((st.pkt_rcv_loss, st.pkt_sent_nak), (0, 0));
        }
        if repaired {
            assert!(st.pkt_rcv_retrans >= 190, "{name}: repairs arrive");
        }
        g.bench_function(name, |b| b.iter_custom(|iters| s.run(iters)));
        let st = s.conn.stats();
        assert_eq!(st.pkt_recv, s.handled, "{name}: every packet taken");
        // Steady state held throughout: TSBPD kept delivering, the buffer never filled.
        assert!(s.delivered + 2_000 >= s.handled, "{name}: delivery kept up");
        assert_eq!(st.pkt_rcv_overflow, 0, "{name}: no overflow");
    }
    g.finish();
}

/// (b) A full ACK at the 10 ms tick on a receiver with 1 % loss, repaired 20 ms later, in
/// flight: `handle_timeout` + `poll_transmit`.
fn ack(c: &mut Criterion) {
    let mut s = RxStream::new(true, true);
    let per_tick = (ACK_TICK.as_micros() / SPACING.as_micros()) as u64;
    // Untimed: feeds up to the next tick (slot indices are multiples of 100, so ticks fall on
    // the ACK timer's 10 ms schedule), delivers and sends what is due before it.
    let prepare = |s: &mut RxStream| -> Instant {
        for _ in 0..per_tick {
            s.step();
        }
        let now = s.now();
        while s.conn.recv(now, &mut s.out).is_some() {}
        while s.conn.poll_transmit(now, &mut s.tx).is_some() {}
        now
    };
    // Warm up for a second of virtual time, then check every tick yields one full ACK first.
    for _ in 0..100 {
        let now = prepare(&mut s);
        s.conn.handle_timeout(now);
        drain(&mut s.conn, now, &mut s.tx);
    }
    for _ in 0..200 {
        let now = prepare(&mut s);
        s.conn.handle_timeout(now);
        let out = drain(&mut s.conn, now, &mut s.tx);
        assert_eq!(out.first(), Some(&Out::FullAck), "a full ACK at every tick");
    }
    let acks_before = s.conn.stats().pkt_sent_ack;
    let mut ticks = 0u64;
    c.bench_function("ack/full_at_tick_1pct_loss", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let now = prepare(&mut s);
                let (conn, tx) = (&mut s.conn, &mut s.tx);
                total += timed(|| {
                    conn.handle_timeout(now);
                    conn.poll_transmit(now, tx)
                });
                ticks += 1;
            }
            total
        })
    });
    // `prepare` may send light ACKs too, so at least one ACK per measured tick.
    let acks = s.conn.stats().pkt_sent_ack - acks_before;
    assert!(
        acks >= ticks,
        "every measured tick produced an ACK ({acks} < {ticks})"
    );
}

/// (c) NAK generation: at once on a gap, and the periodic report over ~50 loss ranges.
fn nak(c: &mut Criterion) {
    immediate_nak(c);
    periodic_nak(c);
}

/// The packet after a one-packet gap, then everything it makes the receiver send.
fn immediate_nak(c: &mut Criterion) {
    let mut s = RxStream::new(true, false);
    s.run(5_000);
    let naks_before = s.conn.stats().pkt_sent_nak;
    let mut gaps = 0u64;
    c.bench_function("nak/immediate_on_gap", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed: in-order packets up to and over the gap, and upkeep.
                while !s.is_lost(s.next) {
                    s.step();
                }
                s.step();
                s.upkeep();
                let now = s.now();
                let i = s.next;
                let pkt = data(
                    SeqNo::new(ISN).add(i as i32),
                    Timestamp::from_micros((i * SPACING.as_micros() as u64) as u32),
                    false,
                    &s.payload,
                );
                let (conn, tx) = (&mut s.conn, &mut s.tx);
                total += timed(|| {
                    conn.handle_packet(now, &pkt);
                    while conn.poll_transmit(now, tx).is_some() {}
                });
                s.next += 1;
                gaps += 1;
            }
            total
        })
    });
    let naks = s.conn.stats().pkt_sent_nak - naks_before;
    assert!(naks >= gaps, "a NAK per measured gap ({naks} < {gaps})");
}

/// The NAK timer over 50 single-packet gaps that are never repaired nor released (no `recv`).
fn periodic_nak(c: &mut Criterion) {
    let base = t0();
    let mut cfg = ConnectionConfig::new(LOCAL, PEER, SeqNo::new(ISN), base);
    // Nothing becomes due for delivery, so `poll_timeout` is the timers' and no too-late drop
    // clears the loss list.
    cfg.recv_latency = Duration::from_secs(3600);
    let mut conn = Connection::new(cfg, base);
    let payload = vec![0x47u8; PAYLOAD];
    let mut tx = vec![0u8; 1500];
    for i in 0..5_000u32 {
        if u64::from(i) % LOSS_EVERY != LOSS_PHASE {
            let pkt = data(
                SeqNo::new(ISN + i),
                Timestamp::from_micros(i * 100),
                false,
                &payload,
            );
            conn.handle_packet(base, &pkt);
        }
    }
    drain(&mut conn, base, &mut tx);
    // Confirm the first full ACK so it is not repeated: the ACK position cannot move (nothing
    // is repaired), so after this no ACK is due and the NAK timer is the only real work.
    conn.handle_timeout(base + ACK_TICK);
    drain(&mut conn, base + ACK_TICK, &mut tx);
    conn.handle_packet(base + ACK_TICK, &ctrl(Control::AckAck { ack_no: 1 }));
    let keepalive = ctrl(Control::KeepAlive);
    let mut now = base + ACK_TICK;
    // Untimed: the peer is alive (resets the idle timer); advance one ACK period. Every timer
    // deadline falls on this 10 ms grid (the NAK interval is its 20 ms floor: the ACKACK above
    // measured an RTT of 0).
    let tick = |conn: &mut Connection, now: &mut Instant| {
        conn.handle_packet(*now, &keepalive);
        *now += ACK_TICK;
        *now
    };
    let mut nak_ranges = Vec::new();
    for _ in 0..400 {
        let t = tick(&mut conn, &mut now);
        conn.handle_timeout(t);
        for out in drain(&mut conn, t, &mut tx) {
            match out {
                Out::Nak(n) => nak_ranges.push(n),
                other => panic!("only NAKs are due, got {other:?}"),
            }
        }
    }
    assert!(
        nak_ranges.len() >= 100 && nak_ranges.iter().all(|&n| n == 50),
        "periodic NAKs carry every loss range: {nak_ranges:?}"
    );
    // Time only the deadlines where the NAK timer fires (the only ones that send anything);
    // the others (ACK with nothing new to acknowledge, rate sample) are timed but discarded.
    let naks_before = conn.stats().pkt_sent_nak;
    let mut measured = 0u64;
    c.bench_function("nak/periodic_50_ranges", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let t = tick(&mut conn, &mut now);
                let mut sent = 0;
                let d = timed(|| {
                    conn.handle_timeout(t);
                    while conn.poll_transmit(t, &mut tx).is_some() {
                        sent += 1;
                    }
                });
                if sent > 0 {
                    total += d;
                    done += 1;
                }
            }
            measured += done;
            total
        })
    });
    let naks = conn.stats().pkt_sent_nak - naks_before;
    assert_eq!(naks, measured, "one periodic NAK per measured deadline");
}

/// A sending connection whose peer acknowledges everything between measured chunks.
struct TxStream {
    conn: Connection,
    now: Instant,
    next_seq: SeqNo,
    payload: Vec<u8>,
    /// Queue this ring handle with `send_at` (a relay's subscriber leg) instead of copying
    /// `payload` with `send`.
    shared: Option<Payload>,
    tx: Vec<u8>,
    queued: u64,
    emitted: u64,
}

impl TxStream {
    /// A relay leg: the payload is a shared handle, queued by reference.
    fn sharing() -> TxStream {
        let payload = Payload::copy_from_slice(&[0x47; PAYLOAD]).expect("fits");
        TxStream {
            shared: Some(payload),
            ..TxStream::new()
        }
    }

    fn new() -> TxStream {
        let base = t0();
        TxStream {
            conn: Connection::new(
                ConnectionConfig::new(PEER, LOCAL, SeqNo::new(ISN), base),
                base,
            ),
            now: base,
            next_seq: SeqNo::new(ISN),
            payload: vec![0x47; PAYLOAD],
            shared: None,
            tx: vec![0; 1500],
            queued: 0,
            emitted: 0,
        }
    }

    /// Times `send` (or `send_at`) + `poll_transmit` of `iters` packets, 100 us apart on the virtual clock.
    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            let n = (iters - done).min(CHUNK);
            let start = self.now;
            let (conn, payload, tx) = (&mut self.conn, &self.payload, &mut self.tx);
            let shared = self.shared.as_ref();
            let (mut queued, mut emitted, mut next_seq) = (0, 0, self.next_seq);
            total += timed(|| {
                for k in 1..=n {
                    let t = start + SPACING * k as u32;
                    if let Some(h) = shared {
                        if conn.send_at(next_seq, t, h.clone()).is_ok() {
                            next_seq = next_seq.next();
                            queued += 1;
                        }
                    } else if let Ok(seq) = conn.send(t, payload) {
                        next_seq = seq.next();
                        queued += 1;
                    }
                    if conn.poll_transmit(t, tx).is_some() {
                        emitted += 1;
                    }
                }
            });
            self.queued += queued;
            self.emitted += emitted;
            self.next_seq = next_seq;
            self.now = start + SPACING * n as u32;
            done += n;
            self.upkeep();
        }
        total
    }

    /// Untimed: the peer acknowledges everything sent; timers run.
    fn upkeep(&mut self) {
        let ack = ctrl(Control::Ack(Ack {
            ack_no: 0,
            last_ack: self.next_seq,
            info: AckInfo::Light,
        }));
        self.conn.handle_packet(self.now, &ack);
        if self.conn.poll_timeout().is_some_and(|t| t <= self.now) {
            self.conn.handle_timeout(self.now);
        }
        while self.conn.poll_transmit(self.now, &mut self.tx).is_some() {}
    }
}

/// (d) The sender: queue and emit one packet; retransmit after a NAK.
fn sender(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(1));

    let mut s = TxStream::new();
    s.run(20_000);
    assert_eq!(
        (s.queued, s.emitted, s.conn.stats().pkt_sent),
        (20_000, 20_000, 20_000),
        "every send was emitted at once"
    );
    g.bench_function("send_and_poll_transmit", |b| {
        b.iter_custom(|iters| s.run(iters))
    });
    assert_eq!(s.queued, s.emitted, "every send was emitted");
    assert_eq!(s.conn.stats().pkt_sent, s.emitted, "nothing else was sent");

    let mut s = TxStream::sharing();
    s.run(20_000);
    assert_eq!(
        (s.queued, s.emitted),
        (20_000, 20_000),
        "every placement emitted"
    );
    g.bench_function("send_at_shared_and_poll_transmit", |b| {
        b.iter_custom(|iters| s.run(iters))
    });
    assert_eq!(s.queued, s.emitted, "every placement was emitted");
    let held = s.shared.as_ref().map_or(0, Payload::holders);
    assert!(
        held < 64,
        "acknowledged packets let go of the handle ({held} holders)"
    );

    // Retransmission: 2000 packets in flight, NAKed one at a time in turn, so each is NAKed
    // again 200 ms later: past the one-RTT (100 ms) guard against repeated retransmission.
    const IN_FLIGHT: u32 = 2_000;
    let base = t0();
    let mut conn = Connection::new(
        ConnectionConfig::new(PEER, LOCAL, SeqNo::new(ISN), base),
        base,
    );
    let payload = vec![0x47u8; PAYLOAD];
    let mut tx = vec![0u8; 1500];
    let mut now = base;
    for _ in 0..IN_FLIGHT {
        now += SPACING;
        conn.send(now, &payload).expect("room in the send buffer");
        conn.poll_transmit(now, &mut tx).expect("paced out at once");
    }
    let lists: Vec<Vec<u8>> = (0..IN_FLIGHT)
        .map(|i| {
            let mut b = [0u8; 8];
            let mut l = LossListBuilder::new(&mut b);
            let s = SeqNo::new(ISN + i);
            l.push(s, s).expect("one entry fits");
            l.finish().as_bytes().to_vec()
        })
        .collect();
    let naks: Vec<Packet<'_>> = lists
        .iter()
        .map(|b| ctrl(Control::Nak(LossList::parse(b).expect("built list parses"))))
        .collect();
    let mut k = 0usize;
    let retrans_before = conn.stats().pkt_retrans;
    g.bench_function("retransmit_after_nak", |b| {
        b.iter(|| {
            now += SPACING;
            conn.handle_packet(now, &naks[k % naks.len()]);
            k += 1;
            conn.poll_transmit(now, &mut tx)
        })
    });
    g.finish();
    assert_eq!(
        conn.stats().pkt_retrans - retrans_before,
        k as u64,
        "every NAK was answered by a retransmission"
    );
}

/// The cost of one `timed` measurement around nothing: subtract it from the `iter_custom`
/// benches that time single calls (ack, nak).
fn clock(c: &mut Criterion) {
    c.bench_function("clock/overhead", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| timed(|| ())).sum())
    });
}

criterion_group!(benches, receive, ack, nak, sender, clock);
criterion_main!(benches);
