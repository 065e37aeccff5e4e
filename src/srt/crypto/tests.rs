//! Known-answer tests: RFC 3394 key wrap, RFC 6070 PBKDF2-HMAC-SHA1, and a libsrt 1.5.1
//! capture (KMREQ + an encrypted data packet, passphrase `0123456789abcdef`, AES-128) that
//! our unwrap and decrypt must turn back into MPEG-TS. Then the key refresh schedule between
//! two `Crypto`s.

use rand_chacha::rand_core::SeedableRng;

use super::keys::{Kek, SALT_LEN, Sek, ctr_iv};
use super::km::{KK_BOTH, KK_EVEN, KmKeys};
use super::*;
use crate::srt::packet::test_util::hex;
use crate::srt::packet::{DataPacket, EncryptionKey, KeyMaterial, KmResponse};
use crate::srt::seq::SeqNo;

const LIBSRT_PASSPHRASE: &str = "0123456789abcdef";

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s).expect("valid test passphrase")
}

fn rng(seed: u8) -> KeyRng {
    KeyRng::from_seed([seed; 32])
}

/// The KMREQ body of scenario A (tests/vectors/libsrt/README.md): the conclusion's last 56
/// bytes.
fn libsrt_km() -> KeyMaterial {
    let pkt = hex(include_str!(
        "../../../tests/vectors/libsrt/conclusion_request_sid_kmreq.hex"
    ));
    KeyMaterial::parse(&pkt[pkt.len() - 56..]).expect("captured KM parses")
}

fn libsrt_data() -> Vec<u8> {
    hex(include_str!(
        "../../../tests/vectors/libsrt/data_encrypted.hex"
    ))
}

#[test]
fn rfc3394_key_wrap_vectors() {
    // RFC 3394 §4.1, §4.3 and §4.6: 128-bit key with a 128-bit KEK, 192 with 192, 256 with 256.
    let cases = [
        (
            KeyLen::Aes128,
            "000102030405060708090A0B0C0D0E0F",
            "00112233445566778899AABBCCDDEEFF",
            "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5",
        ),
        (
            KeyLen::Aes192,
            "000102030405060708090A0B0C0D0E0F1011121314151617",
            "00112233445566778899AABBCCDDEEFF0001020304050607",
            "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2",
        ),
        (
            KeyLen::Aes256,
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
        ),
    ];
    for (len, kek, key, wrapped) in cases {
        let kek = Kek::from_bytes(len, &hex(kek));
        let (key, wrapped) = (hex(key), hex(wrapped));
        let mut out = vec![0u8; wrapped.len()];
        kek.wrap(&key, &mut out).expect("wrap");
        assert_eq!(out, wrapped, "{len:?}");
        let mut back = vec![0u8; key.len()];
        kek.unwrap(&wrapped, &mut back).expect("unwrap");
        assert_eq!(back, key);
        let mut tampered = wrapped.clone();
        tampered[3] ^= 1;
        assert_eq!(kek.unwrap(&tampered, &mut back), Err(BadSecret));
    }
}

#[test]
fn rfc6070_pbkdf2_hmac_sha1_vectors() {
    // RFC 6070 test cases 1, 2 and 3: the PRF libsrt uses for the KEK.
    for (rounds, want) in [
        (1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
        (2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
        (4096, "4b007901b765489abead49d926f721d065a429c1"),
    ] {
        let mut out = [0u8; 20];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(b"password", b"salt", rounds, &mut out);
        assert_eq!(out.to_vec(), hex(want), "{rounds} rounds");
    }
}

#[test]
fn ctr_iv_is_salt_xor_sequence_number() {
    let salt: [u8; SALT_LEN] = std::array::from_fn(|i| 0x10 + i as u8);
    let iv = ctr_iv(&salt, SeqNo::new(0x0102_0304));
    // Bytes 0..10: salt; 10..14: salt XOR the big-endian sequence number; 14..16: block
    // counter 0 (salt bytes 14 and 15 are not used).
    assert_eq!(&iv[..10], &salt[..10]);
    assert_eq!(
        &iv[10..14],
        &[0x1A ^ 0x01, 0x1B ^ 0x02, 0x1C ^ 0x03, 0x1D ^ 0x04]
    );
    assert_eq!(&iv[14..], &[0, 0]);
}

#[test]
fn libsrt_key_material_unwraps_and_decrypts_captured_ts() {
    let km = libsrt_km();
    assert_eq!((km.kk, km.key_len, km.salt.len()), (KK_EVEN, 16, 16));
    let mut kek = None;
    let keys = unwrap_km(&km, &pass(LIBSRT_PASSPHRASE), &mut kek).expect("right passphrase");
    assert!(keys.odd.is_none());
    let sek = keys.even.expect("even key");
    let datagram = libsrt_data();
    let pkt = DataPacket::parse(&datagram).expect("captured data packet");
    assert_eq!(pkt.key, EncryptionKey::Even);
    assert_eq!(
        pkt.payload.len(),
        1456,
        "1472-byte datagram, 16-byte header"
    );
    assert_ne!(pkt.payload[0], 0x47, "the capture is encrypted");
    let mut plain = vec![0u8; pkt.payload.len()];
    sek.apply_b2b(&keys.salt, pkt.seq, pkt.payload, &mut plain);
    // srt-live-transmit read the TS file in 1456-byte chunks: TS packets are 188 bytes, so
    // the sync byte sits at every multiple of 188 from the chunk's first packet on.
    let first = plain.iter().position(|&b| b == 0x47).expect("a sync byte");
    assert!(first < 188);
    let syncs = (first..plain.len())
        .step_by(188)
        .filter(|&i| plain[i] == 0x47);
    assert_eq!(syncs.count(), (plain.len() - first).div_ceil(188));
    // The same through a Crypto, as a listener would set it up.
    let Responder::Accept {
        crypto: Some(mut crypto),
        km_response,
    } = respond_to_kmreq(
        Some(&km),
        &Encryption::with_passphrase(pass(LIBSRT_PASSPHRASE)),
        || Some(rng(1)),
    )
    else {
        panic!("right passphrase accepted");
    };
    assert_eq!(km_response, Some(KmResponse::Material(km.clone())));
    assert_eq!(
        crypto.decrypt(pkt.key, pkt.seq, pkt.payload),
        Ok(&plain[..])
    );
    assert_eq!(
        crypto.decrypt(EncryptionKey::Odd, pkt.seq, pkt.payload),
        Err(DecryptError::NoKey(Parity::Odd))
    );
}

#[test]
fn wrong_passphrase_is_bad_secret_and_responses_follow_libsrt() {
    let km = libsrt_km();
    let mut kek = None;
    assert_eq!(
        unwrap_km(&km, &pass("0123456789abcdeX"), &mut kek).err(),
        Some(KmError::BadSecret)
    );
    let wrong = Encryption::with_passphrase(pass("0123456789abcdeX"));
    let reject = |r: Responder| match r {
        Responder::Reject(reason) => Some(reason.code()),
        Responder::Accept { .. } => None,
    };
    let answer = |r: Responder| match r {
        Responder::Accept { km_response, .. } => km_response,
        Responder::Reject(_) => panic!("expected accept"),
    };
    // Enforced (libsrt's default): 1010 for a wrong passphrase, 1011 for a one-sided one.
    assert_eq!(
        reject(respond_to_kmreq(Some(&km), &wrong, || Some(rng(1)))),
        Some(10)
    );
    let none = Encryption::default();
    assert_eq!(
        reject(respond_to_kmreq(Some(&km), &none, || Some(rng(1)))),
        Some(11)
    );
    assert_eq!(
        reject(respond_to_kmreq(None, &wrong, || Some(rng(1)))),
        Some(11)
    );
    assert_eq!(reject(respond_to_kmreq(None, &none, || Some(rng(1)))), None);
    // Not enforced: accepted, with the state libsrt sends in a one-word KMRSP.
    let lax = |e: Encryption| Encryption {
        enforced: false,
        ..e
    };
    assert_eq!(
        answer(respond_to_kmreq(Some(&km), &lax(wrong.clone()), || Some(
            rng(1)
        ))),
        Some(KmResponse::State(KmState::BadSecret.code()))
    );
    assert_eq!(
        answer(respond_to_kmreq(Some(&km), &lax(none), || Some(rng(1)))),
        Some(KmResponse::State(KmState::NoSecret.code()))
    );
    // A key shorter than our floor is refused even when not enforced.
    let strict = Encryption {
        min_key_len: KeyLen::Aes256,
        ..lax(Encryption::with_passphrase(pass(LIBSRT_PASSPHRASE)))
    };
    assert_eq!(
        reject(respond_to_kmreq(Some(&km), &strict, || Some(rng(1)))),
        Some(11)
    );
}

#[test]
fn built_key_material_round_trips_for_every_key_length() {
    for len in [KeyLen::Aes128, KeyLen::Aes192, KeyLen::Aes256] {
        let salt = [7u8; SALT_LEN];
        let p = pass("a passphrase of ours");
        let kek = Kek::derive(&p, &salt, len);
        let even = Sek::new(len, &[1; 32]).unwrap();
        let odd = Sek::new(len, &[2; 32]).unwrap();
        let km = build_km(
            &kek,
            &salt,
            KmKeys::Both {
                even: &even,
                odd: &odd,
            },
        );
        assert_eq!((km.kk, km.key_len), (KK_BOTH, len.bytes()));
        assert_eq!(km.wrapped_keys.len(), 2 * len.bytes() + 8);
        // Through the wire format and back.
        let mut wire = vec![0u8; km.wire_len()];
        km.emit(&mut wire).unwrap();
        let parsed = KeyMaterial::parse(&wire).unwrap();
        let mut cache = None;
        let keys = unwrap_km(&parsed, &p, &mut cache).unwrap();
        assert_eq!(keys.even.unwrap().bytes(), even.bytes());
        assert_eq!(keys.odd.unwrap().bytes(), odd.bytes());
        assert!(cache.as_ref().is_some_and(|k| k.matches(&salt, len)));
        assert!(unwrap_km(&parsed, &pass("another passphrase"), &mut None).is_err());
    }
}

#[test]
fn passphrase_length_and_debug_masking() {
    assert_eq!(Passphrase::new("short").unwrap_err().len, 5);
    assert!(Passphrase::new("x".repeat(79)).is_ok());
    assert!(Passphrase::new("x".repeat(80)).is_err());
    let p = pass("secret-words-here");
    let shown = format!("{p:?} {:?}", Encryption::with_passphrase(p.clone()));
    assert!(!shown.contains("secret"), "{shown}");
    let (crypto, _) = Crypto::initiator(p, &Encryption::default(), KeyLen::Aes128, rng(3));
    assert!(!format!("{crypto:?}").contains("secret"));
}

/// A sender refreshing every 10 packets (pre-announce 4) and a receiver that gets every KMREQ:
/// each packet decrypts, the KK bits flip after each refresh period, and each refresh is
/// announced once with both keys before the switch.
#[test]
fn refresh_schedule_preannounces_switches_and_retires() {
    let p = pass("refresh passphrase");
    let enc = Encryption {
        refresh: KmRefresh::new(10, 4).unwrap(),
        ..Encryption::with_passphrase(p.clone())
    };
    let now = crate::srt::handshake::test_util::t0();
    let rtt = std::time::Duration::from_millis(20);
    let init = Initiator::new(p.clone(), &enc, KeyLen::Aes192, rng(5));
    let mut tx = *init.crypto;
    let Responder::Accept {
        crypto: Some(mut rx),
        ..
    } = respond_to_kmreq(Some(&init.km), &enc, || Some(rng(6)))
    else {
        panic!("same passphrase");
    };
    let mut kk = Vec::new();
    let mut announced = Vec::new();
    for i in 0..40u32 {
        let seq = SeqNo::new(1000 + i);
        let mut payload = [i as u8; 188];
        let key = tx.encrypt(seq, &mut payload);
        kk.push(key);
        while let Some(m) = tx.poll_km(now, rtt) {
            let KmPacket::Request(bytes) = m else {
                panic!("sender only requests");
            };
            let km = KeyMaterial::parse(&bytes).unwrap();
            assert_eq!(km.kk, KK_BOTH, "a refresh announces both keys");
            announced.push(i);
            rx.on_kmreq(&bytes);
            let Some(KmPacket::Response(echo)) = rx.poll_km(now, rtt) else {
                panic!("receiver answers");
            };
            assert_eq!(echo, bytes);
            tx.on_kmrsp(&echo);
        }
        assert_eq!(
            rx.decrypt(key, seq, &payload),
            Ok(&[i as u8; 188][..]),
            "{i}"
        );
    }
    // The first key counts from 1 (libsrt): it serves 10 packets, then each new one 11.
    let flips: Vec<usize> = (1..kk.len()).filter(|&i| kk[i] != kk[i - 1]).collect();
    assert_eq!(flips, vec![10, 21, 32]);
    assert_eq!(kk[0], EncryptionKey::Even);
    assert_eq!(kk[10], EncryptionKey::Odd);
    // Announced `preannounce` packets before each switch.
    assert_eq!(announced, vec![6, 17, 28, 39]);
    assert_eq!((tx.refreshes_sent, rx.refreshes_recv), (4, 4));
    // Acknowledged: nothing is retried.
    assert_eq!(tx.poll_km(now + rtt * 10, rtt), None);
}

#[test]
fn unanswered_kmreq_is_retried_ten_times_then_given_up() {
    let p = pass("retry passphrase");
    let enc = Encryption {
        refresh: KmRefresh::new(10, 4).unwrap(),
        ..Encryption::with_passphrase(p.clone())
    };
    let now = crate::srt::handshake::test_util::t0();
    let rtt = std::time::Duration::from_millis(100);
    let mut tx = *Initiator::new(p, &enc, KeyLen::Aes128, rng(7)).crypto;
    for i in 0..8 {
        tx.encrypt(SeqNo::new(i), &mut [0u8; 16]);
    }
    let mut sent = Vec::new();
    let mut t = now;
    for _ in 0..40 {
        if let Some(due) = tx.next_km_time(rtt, t) {
            t = t.max(due);
        }
        if let Some(KmPacket::Request(_)) = tx.poll_km(t, rtt) {
            sent.push(t.duration_since(now));
        }
        t += std::time::Duration::from_millis(10);
    }
    assert_eq!(sent.len(), 10, "{sent:?}");
    // 1.5 RTT apart.
    assert!(
        sent.windows(2).all(|w| w[1] - w[0] >= rtt * 3 / 2),
        "{sent:?}"
    );
    assert_eq!(tx.next_km_time(rtt, t), None);
}

/// An in-band KMREQ with a new salt is refused without a PBKDF2 derivation: libsrt never
/// changes the salt on a connection. Enforced, nothing is answered (as libsrt); otherwise the
/// error state is.
#[test]
fn in_band_kmreq_with_a_new_salt_is_refused() {
    let p = pass("salt passphrase");
    for enforced in [true, false] {
        let enc = Encryption {
            enforced,
            ..Encryption::with_passphrase(p.clone())
        };
        let init = Initiator::new(p.clone(), &enc, KeyLen::Aes128, rng(8));
        let Responder::Accept {
            crypto: Some(mut rx),
            ..
        } = respond_to_kmreq(Some(&init.km), &enc, || Some(rng(9)))
        else {
            panic!("same passphrase");
        };
        // Another initiator's KM: same passphrase, different salt and key.
        let other = Initiator::new(p.clone(), &enc, KeyLen::Aes128, rng(10)).km;
        let mut wire = vec![0u8; other.wire_len()];
        other.emit(&mut wire).unwrap();
        rx.on_kmreq(&wire);
        let now = crate::srt::handshake::test_util::t0();
        let answer = rx.poll_km(now, std::time::Duration::from_millis(10));
        let want = (!enforced).then(|| KmPacket::Response(vec![KmState::NoSecret as u8, 0, 0, 0]));
        assert_eq!(answer, want, "enforced {enforced}");
        assert_eq!((rx.rx_state(), rx.refreshes_recv), (KmState::Secured, 0));
    }
}

/// A connection (socket 2, ISN 100) encrypting with a key refreshed every 4 packets.
fn refreshing_connection() -> (crate::srt::connection::Connection, std::time::Instant) {
    use crate::srt::connection::{Connection, ConnectionConfig};
    let p = pass("rexmit passphrase");
    let enc = Encryption {
        refresh: KmRefresh::new(4, 1).unwrap(),
        ..Encryption::with_passphrase(p.clone())
    };
    let now = crate::srt::handshake::test_util::t0();
    let mut conn = Connection::new(ConnectionConfig::new(2, 1, SeqNo::new(100), now), now);
    conn.set_crypto(Initiator::new(p, &enc, KeyLen::Aes128, rng(11)).crypto);
    (conn, now)
}

/// The peer NAKs `seqs` (each a single lost packet).
fn nak(conn: &mut crate::srt::connection::Connection, t: std::time::Instant, seqs: &[u32]) {
    use crate::srt::packet::{Control, ControlPacket, LossListBuilder, Packet};
    use crate::srt::seq::Timestamp;
    let mut scratch = [0u8; 64];
    let mut list = LossListBuilder::new(&mut scratch);
    for &s in seqs {
        list.push(SeqNo::new(s), SeqNo::new(s)).unwrap();
    }
    let nak = Packet::Control(ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 2,
        body: Control::Nak(list.finish()),
    });
    conn.handle_packet(t, &nak);
}

/// On a connection: the first transmission encrypts in place and a retransmission after a key
/// switch resends the very same ciphertext with its original KK.
#[test]
fn retransmission_resends_the_stored_ciphertext_with_its_key() {
    use crate::srt::packet::Packet;

    let (mut conn, now) = refreshing_connection();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut buf = [0u8; 1500];
    let mut t = now;
    for i in 0..8u8 {
        conn.send(t, &[i; 188]).expect("open");
        t += std::time::Duration::from_millis(1);
        while let Some(n) = conn.poll_transmit(t, &mut buf) {
            if let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) {
                assert_ne!(d.payload, &[i; 188][..], "encrypted on the wire");
                sent.push(buf[..n].to_vec());
            }
        }
    }
    let key_of = |datagram: &[u8]| match Packet::parse(datagram) {
        Ok(Packet::Data(d)) => (d.key, d.payload.to_vec(), d.retransmitted),
        other => panic!("data expected, got {other:?}"),
    };
    assert_ne!(
        key_of(&sent[1]).0,
        key_of(&sent[7]).0,
        "the key switched meanwhile"
    );
    // The peer NAKs packet 101 (the second one).
    nak(&mut conn, t, &[101]);
    let mut rexmit = None;
    while let Some(n) = conn.poll_transmit(t + std::time::Duration::from_millis(1), &mut buf) {
        if let Ok(Packet::Data(_)) = Packet::parse(&buf[..n]) {
            rexmit = Some(buf[..n].to_vec());
        }
    }
    let (key, payload, retransmitted) = key_of(&rexmit.expect("retransmitted"));
    let (orig_key, orig_payload, _) = key_of(&sent[1]);
    assert!(retransmitted);
    assert_eq!((key, payload), (orig_key, orig_payload));
}

/// Two refreshes later the receiver's slot of that parity holds a newer key: a retransmission
/// would decrypt to garbage, so it is dropped (counted) and left to the receiver's too-late
/// drop. Found by the key-refresh interop test under 5 % loss: one payload arrived corrupted.
#[test]
fn a_packet_whose_key_the_peer_no_longer_holds_is_not_retransmitted() {
    use crate::srt::packet::Packet;

    let (mut conn, now) = refreshing_connection();
    let mut buf = [0u8; 1500];
    let mut t = now;
    // 20 packets: several refreshes, so packet 101's key (generation 0) is long overwritten.
    for i in 0..20u8 {
        conn.send(t, &[i; 188]).expect("open");
        t += std::time::Duration::from_millis(1);
        while conn.poll_transmit(t, &mut buf).is_some() {}
    }
    let drops_before = conn.stats().pkt_snd_drop;
    nak(&mut conn, t, &[101, 119]);
    let mut resent = Vec::new();
    while let Some(n) = conn.poll_transmit(t + std::time::Duration::from_millis(1), &mut buf) {
        if let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) {
            resent.push(d.seq);
        }
    }
    // The current key's packet goes again; the stale one does not, and is counted.
    assert_eq!(resent, vec![SeqNo::new(119)]);
    assert_eq!(conn.stats().pkt_snd_drop, drops_before + 1);
}

/// A relay leg placing shared payloads (`send_at`) encrypts exactly as one that queues copies
/// (`send`): same keys, same ciphertext, retransmissions included. The shared bytes stay clear
/// for the other legs, and the encrypting leg lets go of the handle once it holds its own
/// ciphertext.
#[test]
fn an_encrypted_leg_encrypts_its_own_copy_of_a_shared_payload() {
    use crate::buf::Payload;
    use crate::srt::packet::Packet;

    let (mut copying, now) = refreshing_connection();
    let (mut sharing, _) = refreshing_connection();
    let drain = |c: &mut crate::srt::connection::Connection, t| {
        let mut buf = [0u8; 1500];
        let mut out = Vec::new();
        while let Some(n) = c.poll_transmit(t, &mut buf) {
            if let Ok(Packet::Data(d)) = Packet::parse(&buf[..n]) {
                out.push((d.seq, d.key, d.retransmitted, d.payload.to_vec()));
            }
        }
        out
    };
    let mut t = now;
    for i in 0..8u8 {
        let clear = [i; 188];
        let shared = Payload::copy_from_slice(&clear).expect("fits");
        copying.send(t, &clear).expect("open");
        sharing
            .send_at(SeqNo::new(100 + u32::from(i)), t, shared.clone())
            .expect("open");
        assert_eq!(shared.holders(), 2, "queued as a handle");
        t += std::time::Duration::from_millis(1);
        let (a, b) = (drain(&mut copying, t), drain(&mut sharing, t));
        assert_eq!(a.len(), 1);
        assert_eq!(a, b, "packet {i}");
        assert_ne!(b[0].3, clear, "encrypted on the wire");
        assert_eq!(&*shared, &clear[..], "the shared bytes stay clear");
        assert_eq!(
            shared.holders(),
            1,
            "the leg keeps its own ciphertext instead"
        );
    }
    for c in [&mut copying, &mut sharing] {
        nak(c, t, &[101]);
    }
    t += std::time::Duration::from_millis(1);
    let (a, b) = (drain(&mut copying, t), drain(&mut sharing, t));
    assert_eq!(a.len(), 1);
    assert!(b[0].2, "retransmitted");
    assert_eq!(a, b);
}
