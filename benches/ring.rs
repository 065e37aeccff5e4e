//! Relay ring costs: storing a 1316-byte publisher packet (7 TS packets, the ffmpeg and libsrt
//! live default), fan-out reads to 1, 16 and 256 cursors, a late gap fill, the cross-shard
//! handoff copy, and the TS check. Recorded, not asserted.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use srtrelay::media::ts;
use srtrelay::relay::handoff::{Handoff, StreamKey};
use srtrelay::relay::ring::Serial;
use srtrelay::relay::ring::{RingConfig, StreamRing};

/// Origin times are carried, never compared here; any instant will do.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn ts_payload() -> [u8; 1316] {
    let mut p = [0xA5u8; 1316];
    for chunk in p.chunks_mut(ts::TS_PACKET_LEN) {
        chunk[0] = ts::TS_SYNC_BYTE;
    }
    p
}

fn ring() -> StreamRing {
    StreamRing::new(RingConfig::default())
}

fn insert(c: &mut Criterion) {
    let payload = ts_payload();
    let origin = t0();
    let mut r = ring();
    let mut seq = Serial::new(Serial::MAX - 1000);
    c.bench_function("ring/insert_1316", |b| {
        b.iter(|| {
            seq = seq.add(1);
            r.insert(black_box(seq), origin, black_box(&payload))
        })
    });

    // The head moves on by two (leaving a gap), then a retransmission fills the gap: one
    // iteration is two stored packets.
    let mut r = ring();
    let mut seq = Serial::new(0);
    r.insert(seq, origin, &payload);
    c.bench_function("ring/new_head_plus_late_fill_1316", |b| {
        b.iter(|| {
            seq = seq.add(2);
            r.insert(black_box(seq), origin, &payload);
            r.insert(black_box(seq.add(-1)), origin, &payload)
        })
    });
}

fn fanout(c: &mut Criterion) {
    let payload = ts_payload();
    let origin = t0();
    let mut group = c.benchmark_group("ring/fanout_1316");
    for n in [1usize, 16, 256] {
        let mut r = ring();
        let mut cursors = vec![r.cursor_at_head(); n];
        let mut seq = Serial::new(0);
        // One iteration: one insert, then every cursor reads that packet. Throughput is per
        // delivered packet, insert included (amortized over `n`).
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                seq = seq.add(1);
                r.insert(seq, origin, &payload);
                let mut bytes = 0;
                for cur in cursors.iter_mut() {
                    if let Ok(p) = r.read(cur) {
                        bytes += black_box(p.payload).len();
                    }
                }
                bytes
            })
        });
    }
    group.finish();
}

fn handoff(c: &mut Criterion) {
    let payload = ts_payload();
    let origin = t0();
    let mut src = ring();
    let mut replica = ring();
    let mut seq = Serial::new(0);
    // Source read, message build (payload copy), replica insert: the work per packet per
    // subscriber shard, without the queue itself.
    c.bench_function("handoff/build_and_apply_1316", |b| {
        b.iter(|| {
            seq = seq.add(1);
            src.insert(seq, origin, &payload);
            let pos = src.head().unwrap_or_default();
            let msg = src.get(pos).map(|p| Handoff::new(StreamKey(1), &p));
            msg.map(|m| black_box(&m).apply(&mut replica))
        })
    });

    c.bench_function("ts/validate_1316", |b| {
        b.iter(|| ts::validate(black_box(&payload)))
    });
    c.bench_function("ts/has_video_random_access_1316", |b| {
        b.iter(|| ts::has_video_random_access(black_box(&payload)))
    });
}

criterion_group!(benches, insert, fanout, handoff);
criterion_main!(benches);
