//! Packets captured from libsrt 1.5.1 on loopback (tests/vectors/libsrt/README.md): each is
//! parsed, its fields checked against what libsrt sent, re-emitted byte for byte, and every
//! truncated prefix is rejected.

use super::test_util::{check_prefixes, hex, roundtrip};
use super::*;
use crate::srt::seq::{MsgNo, SeqNo};

macro_rules! vector {
    ($name:literal) => {
        hex(include_str!(concat!(
            "../../../tests/vectors/libsrt/",
            $name,
            ".hex"
        )))
    };
}

fn control(p: Packet<'_>) -> ControlPacket<'_> {
    match p {
        Packet::Control(c) => c,
        Packet::Data(d) => panic!("expected control, got {d:?}"),
    }
}

fn handshake(p: Packet<'_>) -> Handshake {
    match control(p).body {
        Control::Handshake(hs) => hs,
        other => panic!("expected handshake, got {other:?}"),
    }
}

const LOCALHOST_WIRE: [u8; 16] = [1, 0, 0, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

#[test]
fn induction_request() {
    let bytes = vector!("induction_request");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(hs.version, HS_VERSION_4);
    assert_eq!(hs.encryption_field, 0);
    // libsrt puts UDT_DGRAM (2) in the extension field of an HSv4-style induction.
    assert_eq!(hs.extension_field, 2);
    assert_eq!(hs.kind, HandshakeType::Induction);
    assert_eq!(hs.mtu, 1500);
    assert_eq!(hs.flow_window, 8192);
    assert_eq!(hs.syn_cookie, 0);
    assert_eq!(hs.socket_id, 0x33FE_230A);
    assert_eq!(hs.initial_seq, SeqNo::new(0x70DF_0FCF));
    assert_eq!(hs.peer_ip, LOCALHOST_WIRE);
    assert_eq!(
        peer_ip_from_wire(&hs.peer_ip, false),
        std::net::IpAddr::from([127, 0, 0, 1])
    );
    assert!(hs.extensions.is_empty());
    check_prefixes(&bytes, None);
}

#[test]
fn induction_response() {
    let bytes = vector!("induction_response");
    let p = roundtrip(&bytes);
    // The listener answers to the caller's socket id, and echoes it in the CIF too.
    assert_eq!(p.dest_socket_id(), 0x33FE_230A);
    let hs = handshake(p);
    assert_eq!(hs.version, HS_VERSION_5);
    assert_eq!(hs.extension_field, HS_MAGIC);
    assert_eq!(hs.kind, HandshakeType::Induction);
    assert_eq!(hs.socket_id, 0x33FE_230A);
    assert_eq!(hs.syn_cookie, 0xDA6B_A1F6);
    check_prefixes(&bytes, None);
}

#[test]
fn conclusion_request_with_sid_and_kmreq() {
    let bytes = vector!("conclusion_request_sid_kmreq");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(hs.version, HS_VERSION_5);
    assert_eq!(hs.kind, HandshakeType::Conclusion);
    // PBKEYLEN 16 -> encryption field 2 (draft §3.2.1 Table 3).
    assert_eq!(hs.encryption_field, 2);
    assert_eq!(
        hs.extension_field,
        ext_flags::HSREQ | ext_flags::KMREQ | ext_flags::CONFIG
    );
    assert_eq!(hs.syn_cookie, 0xDA6B_A1F6);
    let req = hs.hs_req().expect("HSREQ");
    assert_eq!(req.srt_version, 0x01_05_01);
    // TSBPDSND|TSBPDRCV|CRYPT|TLPKTDROP|PERIODICNAK|REXMITFLG|PACKET_FILTER; no STREAM.
    assert_eq!(req.flags, HsFlags(0xBF));
    assert!(!req.flags.contains(HsFlags::STREAM));
    assert_eq!(req.recv_tsbpd_delay_ms, 120);
    assert_eq!(req.send_tsbpd_delay_ms, 0);
    assert_eq!(hs.stream_id(), Some(&b"#!::r=live/cam1,m=publish"[..]));
    let km = hs
        .extensions
        .iter()
        .find_map(|e| match e {
            HsExtension::KmReq(km) => Some(km),
            _ => None,
        })
        .expect("KMREQ");
    assert_eq!((km.kk, km.cipher, km.se, km.key_len), (1, 2, 2, 16));
    assert_eq!(km.salt.len(), 16);
    assert_eq!(km.wrapped_keys.len(), 24);
    // Extension order on the wire: HSREQ, SID, KMREQ.
    let types: Vec<u16> = hs.extensions.iter().map(HsExtension::ext_type).collect();
    assert_eq!(types, [ext_type::HSREQ, ext_type::SID, ext_type::KMREQ]);
    // KM bytes are not word-swapped: the sign reads 0x2029 in wire order.
    let at = bytes.len() - 56;
    assert_eq!(&bytes[at..at + 4], &[0x12, 0x20, 0x29, 0x01]);
    check_prefixes(&bytes, None);
}

#[test]
fn conclusion_response_with_kmrsp() {
    let bytes = vector!("conclusion_response_kmrsp");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(hs.kind, HandshakeType::Conclusion);
    assert_eq!(hs.extension_field, ext_flags::HSREQ | ext_flags::KMREQ);
    let rsp = hs.hs_rsp().expect("HSRSP");
    assert_eq!(rsp.flags, HsFlags(0xBF));
    assert_eq!(
        (rsp.recv_tsbpd_delay_ms, rsp.send_tsbpd_delay_ms),
        (120, 120)
    );
    assert!(hs.hs_req().is_none());
    assert!(matches!(
        hs.extensions.last(),
        Some(HsExtension::KmRsp(KmResponse::Material(km))) if km.key_len == 16
    ));
    check_prefixes(&bytes, None);
}

#[test]
fn ffmpeg_conclusion_and_plain_response() {
    let bytes = vector!("conclusion_request_ffmpeg");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(hs.extension_field, ext_flags::HSREQ | ext_flags::CONFIG);
    assert_eq!(hs.hs_req().map(|h| h.flags), Some(HsFlags(0xBF)));
    assert_eq!(hs.stream_id(), Some(&b"live/cam2"[..]));
    check_prefixes(&bytes, None);

    let bytes = vector!("conclusion_response_hsrsp");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(hs.extensions.len(), 1);
    assert_eq!(hs.hs_rsp().map(|h| h.recv_tsbpd_delay_ms), Some(120));
    check_prefixes(&bytes, None);
}

#[test]
fn kmrsp_error_state_is_one_little_endian_word() {
    let bytes = vector!("conclusion_response_kmrsp_badsecret");
    let hs = handshake(roundtrip(&bytes));
    assert_eq!(
        hs.extensions.last(),
        Some(&HsExtension::KmRsp(KmResponse::State(4)))
    );
    assert_eq!(&bytes[bytes.len() - 8..], &[0, 4, 0, 1, 4, 0, 0, 0]);
    check_prefixes(&bytes, None);
}

#[test]
fn rejection_code_is_1000_plus_reason() {
    let bytes = vector!("rejection_unsecure");
    let hs = handshake(roundtrip(&bytes));
    // SRT_REJ_UNSECURE = 11 -> 1011 = 0x3F3 in the handshake type field.
    assert_eq!(hs.kind, HandshakeType::Rejection(11));
    assert!(hs.extensions.is_empty());
    check_prefixes(&bytes, None);
}

#[test]
fn data_packets() {
    let bytes = vector!("data_encrypted");
    let Packet::Data(d) = roundtrip(&bytes) else {
        panic!("expected data")
    };
    assert_eq!(d.seq, SeqNo::new(0x70DF_0FCF));
    assert_eq!(d.position, PacketPosition::Only);
    assert!(!d.in_order);
    assert_eq!(d.key, EncryptionKey::Even);
    assert!(!d.retransmitted);
    assert_eq!(d.msg_no, MsgNo::new(1));
    assert_eq!(d.payload.len(), 1456);
    check_prefixes(&bytes, None);

    let bytes = vector!("data_plain");
    let Packet::Data(d) = roundtrip(&bytes) else {
        panic!("expected data")
    };
    // ffmpeg sets the O bit, srt-live-transmit does not.
    assert!(d.in_order);
    assert_eq!(d.key, EncryptionKey::None);
    assert_eq!(d.payload.first(), Some(&0x47), "TS sync byte");
    check_prefixes(&bytes, None);
}

#[test]
fn full_ack_is_28_bytes_of_cif() {
    let bytes = vector!("ack_full");
    assert_eq!(bytes.len(), 44);
    let c = control(roundtrip(&bytes));
    let Control::Ack(ack) = c.body else {
        panic!("expected ACK, got {:?}", c.body)
    };
    assert_eq!(ack.ack_no, 1);
    assert_eq!(ack.last_ack, SeqNo::new(0x70DF_0FE3));
    assert!(matches!(
        ack.info,
        AckInfo::Full {
            rtt_us: 100_000,
            rtt_var_us: 50_000,
            avail_buf_pkts: 0x1FEB,
            ..
        }
    ));
    // Cutting the receive rate gives a valid 24-byte UDT full ACK, which is a different value.
    check_prefixes(&bytes, None);
}

#[test]
fn light_ack_is_4_bytes_of_cif() {
    let bytes = vector!("ack_light");
    assert_eq!(bytes.len(), 20);
    let c = control(roundtrip(&bytes));
    assert_eq!(
        c.body,
        Control::Ack(Ack {
            ack_no: 0,
            last_ack: SeqNo::new(0x5298_172C),
            info: AckInfo::Light
        })
    );
    check_prefixes(&bytes, None);
}

#[test]
fn ackack_keepalive_shutdown_have_4_zero_bytes() {
    let bytes = vector!("ackack");
    let c = control(roundtrip(&bytes));
    assert_eq!(c.body, Control::AckAck { ack_no: 1 });
    check_prefixes(&bytes, Some(16));

    for (bytes, body) in [
        (vector!("keepalive"), Control::KeepAlive),
        (vector!("shutdown"), Control::Shutdown),
    ] {
        assert_eq!(bytes.len(), 20);
        assert_eq!(&bytes[16..], &[0, 0, 0, 0]);
        let c = control(roundtrip(&bytes));
        assert_eq!(c.body, body);
        check_prefixes(&bytes, Some(16));
    }
}
