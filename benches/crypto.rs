//! Encryption cost per 1316-byte packet (7 TS packets): AES-CTR encrypt and decrypt with
//! 128/192/256-bit keys as a connection does them (`Crypto::encrypt` in place, `decrypt` into
//! the scratch buffer), a subscriber leg's `send` + `poll_transmit` with and without
//! encryption (the relay's per-subscriber cost), and the one-off handshake cost (KEK
//! derivation: PBKDF2-HMAC-SHA1, 2048 rounds, plus the key unwrap). Recorded, not asserted;
//! each bench checks outside the timed loop that the work happened.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::rand_core::SeedableRng;
use srtrelay::srt::connection::{Connection, ConnectionConfig};
use srtrelay::srt::crypto::{
    Crypto, Encryption, KeyLen, KeyRng, Passphrase, Responder, respond_to_kmreq,
};
use srtrelay::srt::packet::{Ack, AckInfo, Control, ControlPacket, EncryptionKey, Packet};
use srtrelay::srt::seq::{SeqNo, Timestamp};

const PAYLOAD: usize = 1316;

fn passphrase() -> Passphrase {
    Passphrase::new("benchmark passphrase").expect("valid")
}

/// A sender and the receiver that took its key material, as after a handshake.
fn pair(len: KeyLen) -> (Crypto, Crypto) {
    let enc = Encryption::with_passphrase(passphrase());
    let (tx, km) = Crypto::initiator(passphrase(), &enc, len, KeyRng::from_seed([1; 32]));
    let Responder::Accept {
        crypto: Some(rx), ..
    } = respond_to_kmreq(Some(&km), &enc, || Some(KeyRng::from_seed([2; 32])))
    else {
        panic!("same passphrase is accepted");
    };
    (tx, *rx)
}

fn ack(last_ack: SeqNo) -> Packet<'static> {
    Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 2,
        body: Control::Ack(Ack {
            ack_no: 0,
            last_ack,
            info: AckInfo::Light,
        }),
    })
}

/// The origin of virtual time for the connection benches.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn ciphers(c: &mut Criterion) {
    let mut g = c.benchmark_group("aes_ctr_1316");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for len in [KeyLen::Aes128, KeyLen::Aes192, KeyLen::Aes256] {
        let bits = len.bytes() * 8;
        let (mut tx, mut rx) = pair(len);
        let mut payload = [0x47u8; PAYLOAD];
        let mut seq = SeqNo::new(0);
        g.bench_function(format!("encrypt/aes{bits}"), |b| {
            b.iter(|| {
                seq = seq.next();
                black_box(tx.encrypt(seq, black_box(&mut payload)))
            })
        });
        // Check: a fresh packet through both ends comes back as it was.
        let mut p = [0x47u8; PAYLOAD];
        let key = tx.encrypt(SeqNo::new(7), &mut p);
        assert_ne!(p[0], 0x47);
        assert_eq!(
            rx.decrypt(key, SeqNo::new(7), &p),
            Ok(&[0x47u8; PAYLOAD][..])
        );
        g.bench_function(format!("decrypt/aes{bits}"), |b| {
            b.iter(|| {
                rx.decrypt(key, black_box(SeqNo::new(7)), black_box(&p))
                    .map(|d| d.len())
            })
        });
    }
    g.finish();
}

/// A subscriber leg sending one live packet: `send` then `poll_transmit` (paced at 1 Gbit/s
/// until a rate is measured, so nothing waits), plain against AES-128.
fn subscriber_leg(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_1316");
    g.throughput(Throughput::Elements(1));
    for encrypted in [false, true] {
        let now = t0();
        let mut conn = Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(0), now), now);
        if encrypted {
            conn.set_crypto(Box::new(pair(KeyLen::Aes128).0));
        }
        let payload = [0x47u8; PAYLOAD];
        let mut buf = [0u8; 1500];
        let mut t = now;
        let mut sent = 0u64;
        let name = if encrypted { "aes128" } else { "plain" };
        g.bench_function(name, |b| {
            b.iter(|| {
                t += Duration::from_micros(100);
                conn.send(t, black_box(&payload)).expect("room");
                // Drain: the data packet, and now and then a keepalive.
                while let Some(n) = conn.poll_transmit(t, &mut buf) {
                    if n == 16 + PAYLOAD {
                        sent += 1;
                    }
                }
                // The peer acknowledges every 64 packets (a light ACK), so the send buffer
                // stays small as in a live stream.
                let next = conn.next_send_seq();
                if next.value().is_multiple_of(64) {
                    conn.handle_packet(t, &ack(next));
                }
            })
        });
        assert!(sent > 0, "{name}: data went out");
        let mut probe = Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(0), now), now);
        if encrypted {
            probe.set_crypto(Box::new(pair(KeyLen::Aes128).0));
        }
        probe.send(now, &payload).expect("room");
        let n = probe.poll_transmit(now, &mut buf).expect("a packet");
        let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) else {
            panic!("data packet expected");
        };
        assert_eq!(d.key != EncryptionKey::None, encrypted, "{name}: KK bits");
    }
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let enc = Encryption::with_passphrase(passphrase());
    let (_, km) = Crypto::initiator(
        passphrase(),
        &enc,
        KeyLen::Aes128,
        KeyRng::from_seed([3; 32]),
    );
    c.bench_function("handshake/kmreq_unwrap_pbkdf2", |b| {
        b.iter(|| {
            let r = respond_to_kmreq(Some(black_box(&km)), &enc, || {
                Some(KeyRng::from_seed([4; 32]))
            });
            assert!(matches!(
                r,
                Responder::Accept {
                    crypto: Some(_),
                    ..
                }
            ));
        })
    });
}

criterion_group!(benches, ciphers, subscriber_leg, handshake);
criterion_main!(benches);
