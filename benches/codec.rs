//! Wire codec throughput: parse and emit of a 1316-byte data packet (7 TS packets, the ffmpeg
//! and libsrt live default), a full ACK, and a NAK with 10 loss ranges. Recorded, not asserted.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use srtrelay::srt::packet::{
    Ack, AckInfo, Control, ControlPacket, DataPacket, EncryptionKey, LossListBuilder, Packet,
    PacketPosition,
};
use srtrelay::srt::seq::{MsgNo, SeqNo, Timestamp};

fn data_packet(payload: &[u8]) -> DataPacket<'_> {
    DataPacket {
        seq: SeqNo::new(0x1234_5678),
        position: PacketPosition::Only,
        in_order: false,
        key: EncryptionKey::None,
        retransmitted: false,
        msg_no: MsgNo::new(42),
        timestamp: Timestamp::from_micros(1_000_000),
        dest_socket_id: 0x0102_0304,
        payload,
    }
}

fn full_ack() -> ControlPacket<'static> {
    ControlPacket {
        timestamp: Timestamp::from_micros(1_000_000),
        dest_socket_id: 0x0102_0304,
        body: Control::Ack(Ack {
            ack_no: 7,
            last_ack: SeqNo::new(0x1234_5678),
            info: AckInfo::Full {
                rtt_us: 20_000,
                rtt_var_us: 5_000,
                avail_buf_pkts: 8_000,
                pkt_recv_rate_pps: 3_000,
                est_link_capacity_pps: 80_000,
                recv_rate_bytes_per_s: 4_000_000,
            },
        }),
    }
}

fn codec(c: &mut Criterion) {
    let payload = [0x47u8; 1316];
    let mut buf = [0u8; 1500];

    let data = data_packet(&payload);
    c.bench_function("data_1316/emit", |b| {
        b.iter(|| black_box(&data).emit(black_box(&mut buf)))
    });
    let n = data.emit(&mut buf).expect("fits");
    let wire = buf[..n].to_vec();
    c.bench_function("data_1316/parse", |b| {
        b.iter(|| Packet::parse(black_box(&wire)))
    });
    c.bench_function("data_1316/emit_header", |b| {
        b.iter(|| black_box(&data).emit_header(black_box(&mut buf)))
    });

    let ack = full_ack();
    c.bench_function("ack_full/emit", |b| {
        b.iter(|| black_box(&ack).emit(black_box(&mut buf)))
    });
    let n = ack.emit(&mut buf).expect("fits");
    let wire = buf[..n].to_vec();
    c.bench_function("ack_full/parse", |b| {
        b.iter(|| Packet::parse(black_box(&wire)))
    });

    // 10 ranges of 3 lost packets, 100 apart.
    let mut list_buf = [0u8; 80];
    let mut builder = LossListBuilder::new(&mut list_buf);
    for i in 0..10 {
        let first = SeqNo::new(1000 + 100 * i);
        builder.push(first, first.add(2)).expect("fits");
    }
    let nak = ControlPacket {
        timestamp: Timestamp::from_micros(1_000_000),
        dest_socket_id: 0x0102_0304,
        body: Control::Nak(builder.finish()),
    };
    c.bench_function("nak_10_ranges/emit", |b| {
        b.iter(|| black_box(&nak).emit(black_box(&mut buf)))
    });
    let n = nak.emit(&mut buf).expect("fits");
    let wire = buf[..n].to_vec();
    c.bench_function("nak_10_ranges/parse", |b| {
        b.iter(|| Packet::parse(black_box(&wire)))
    });
    c.bench_function("nak_10_ranges/parse_and_iterate", |b| {
        b.iter(|| match Packet::parse(black_box(&wire)) {
            Ok(Packet::Control(ControlPacket {
                body: Control::Nak(list),
                ..
            })) => list.iter().count(),
            _ => 0,
        })
    });
    let mut nak_list = [0u8; 80];
    c.bench_function("nak_10_ranges/build", |b| {
        b.iter(|| {
            let mut builder = LossListBuilder::new(black_box(&mut nak_list));
            for i in 0..10 {
                let first = SeqNo::new(1000 + 100 * i);
                let _ = builder.push(first, first.add(2));
            }
            builder.len()
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
