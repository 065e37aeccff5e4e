//! Round-trip properties: an arbitrary typed value emits, parses back equal, and re-emits the
//! same bytes; arbitrary and mutated bytes never panic the parser.

use proptest::collection::vec;
use proptest::prelude::*;

use super::test_util::hex;
use super::*;
use crate::srt::seq::{MsgNo, SeqNo, Timestamp};

fn seq() -> impl Strategy<Value = SeqNo> {
    (0..=SeqNo::MAX).prop_map(SeqNo::new)
}

/// Bytes that survive the string coding: no trailing NUL (the padding is stripped on parse).
fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max).prop_map(|mut v| {
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    })
}

fn words(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<[u8; 4]>(), 0..=max).prop_map(|w| w.concat())
}

fn hs_ext() -> impl Strategy<Value = HsExt> {
    (any::<u32>(), any::<u32>(), any::<u16>(), any::<u16>()).prop_map(|(v, f, r, s)| HsExt {
        srt_version: v,
        flags: HsFlags(f),
        recv_tsbpd_delay_ms: r,
        send_tsbpd_delay_ms: s,
    })
}

fn key_material() -> impl Strategy<Value = KeyMaterial> {
    (
        1u8..=3,
        any::<u32>(),
        any::<[u8; 3]>(),
        words(8),
        prop::sample::select(vec![16usize, 24, 32]),
        any::<u8>(),
    )
        .prop_map(|(kk, keki, [cipher, auth, se], salt, key_len, fill)| {
            let keys = if kk == 3 { 2 } else { 1 };
            KeyMaterial {
                kk,
                keki,
                cipher,
                auth,
                se,
                salt,
                key_len,
                wrapped_keys: vec![fill; key_len * keys + 8],
            }
        })
}

fn extension() -> impl Strategy<Value = HsExtension> {
    prop_oneof![
        hs_ext().prop_map(HsExtension::HsReq),
        hs_ext().prop_map(HsExtension::HsRsp),
        key_material().prop_map(HsExtension::KmReq),
        key_material().prop_map(|k| HsExtension::KmRsp(KmResponse::Material(k))),
        any::<u32>().prop_map(|s| HsExtension::KmRsp(KmResponse::State(s))),
        text(MAX_STREAMID_LEN).prop_map(HsExtension::StreamId),
        text(16).prop_map(HsExtension::Congestion),
        text(64).prop_map(HsExtension::Filter),
        words(3).prop_map(HsExtension::Group),
        (9u16.., words(4)).prop_map(|(ext_type, data)| HsExtension::Unknown { ext_type, data }),
    ]
}

fn handshake_type() -> impl Strategy<Value = HandshakeType> {
    prop_oneof![
        Just(HandshakeType::Done),
        Just(HandshakeType::Agreement),
        Just(HandshakeType::Conclusion),
        Just(HandshakeType::WaveAHand),
        Just(HandshakeType::Induction),
        (0..=0x7FFF_FFFFu32 - 1000).prop_map(HandshakeType::Rejection),
    ]
}

fn handshake() -> impl Strategy<Value = Handshake> {
    (
        (any::<u32>(), any::<u16>(), any::<u16>(), seq()),
        (any::<u32>(), any::<u32>(), handshake_type()),
        (any::<u32>(), any::<u32>(), any::<[u8; 16]>()),
        vec(extension(), 0..6),
    )
        .prop_map(
            |((version, enc, ext, isn), (mtu, flow, kind), (socket_id, cookie, ip), exts)| {
                Handshake {
                    version,
                    encryption_field: enc,
                    extension_field: ext,
                    initial_seq: isn,
                    mtu,
                    flow_window: flow,
                    kind,
                    socket_id,
                    syn_cookie: cookie,
                    peer_ip: ip,
                    extensions: exts,
                }
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    let info = prop_oneof![
        Just(AckInfo::Light),
        any::<[u32; 3]>().prop_map(|[a, b, c]| AckInfo::Small {
            rtt_us: a,
            rtt_var_us: b,
            avail_buf_pkts: c
        }),
        any::<[u32; 6]>().prop_map(|[a, b, c, d, e, f]| AckInfo::Full {
            rtt_us: a,
            rtt_var_us: b,
            avail_buf_pkts: c,
            pkt_recv_rate_pps: d,
            est_link_capacity_pps: e,
            recv_rate_bytes_per_s: f,
        }),
    ];
    (any::<u32>(), seq(), info).prop_map(|(ack_no, last_ack, info)| Ack {
        ack_no,
        last_ack,
        info,
    })
}

/// Inclusive ranges as (first, span).
fn ranges() -> impl Strategy<Value = Vec<(SeqNo, SeqNo)>> {
    vec((seq(), 0..5000i32), 1..20)
        .prop_map(|v| v.into_iter().map(|(s, n)| (s, s.add(n))).collect())
}

/// An owned description of a control body; borrowed bodies are built in the test.
#[derive(Debug, Clone)]
enum Body {
    Handshake(Handshake),
    Simple(Control<'static>),
    Nak(Vec<(SeqNo, SeqNo)>),
    User(u16, u32, Vec<u8>),
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        handshake().prop_map(Body::Handshake),
        Just(Body::Simple(Control::KeepAlive)),
        Just(Body::Simple(Control::Shutdown)),
        Just(Body::Simple(Control::CongestionWarning)),
        ack().prop_map(|a| Body::Simple(Control::Ack(a))),
        any::<u32>().prop_map(|n| Body::Simple(Control::AckAck { ack_no: n })),
        any::<u32>().prop_map(|c| Body::Simple(Control::PeerError { code: c })),
        (any::<u32>(), seq(), seq()).prop_map(|(m, f, l)| Body::Simple(Control::DropRequest(
            DropRequest {
                msg_no: m,
                first: f,
                last: l
            }
        ))),
        ranges().prop_map(Body::Nak),
        (any::<u16>(), any::<u32>(), vec(any::<u8>(), 0..64))
            .prop_map(|(s, t, d)| Body::User(s, t, d)),
    ]
}

/// emit -> parse == value, and the parsed value re-emits the same bytes.
fn assert_roundtrip(p: &Packet<'_>) -> Result<(), TestCaseError> {
    let mut buf = vec![0u8; p.wire_len()];
    let n = p
        .emit(&mut buf)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(n, buf.len());
    let parsed = Packet::parse(&buf);
    prop_assert_eq!(parsed.as_ref(), Ok(p));
    let mut again = vec![0u8; n];
    prop_assert_eq!(parsed.map(|q| q.emit(&mut again)), Ok(Ok(n)));
    prop_assert_eq!(again, buf);
    Ok(())
}

proptest! {
    #[test]
    fn data_roundtrip(
        s in seq(),
        pp in 0u8..4,
        in_order: bool,
        key in 0u8..3,
        retransmitted: bool,
        msg in 0..=MsgNo::MAX,
        ts: u32,
        dest: u32,
        payload in vec(any::<u8>(), 0..1500),
    ) {
        let position = [PacketPosition::Middle, PacketPosition::Last, PacketPosition::First, PacketPosition::Only][pp as usize];
        let key = [EncryptionKey::None, EncryptionKey::Even, EncryptionKey::Odd][key as usize];
        let p = Packet::Data(DataPacket {
            seq: s, position, in_order, key, retransmitted,
            msg_no: MsgNo::new(msg),
            timestamp: Timestamp::from_micros(ts),
            dest_socket_id: dest,
            payload: &payload,
        });
        assert_roundtrip(&p)?;
    }

    #[test]
    fn control_roundtrip(b in body(), ts: u32, dest: u32) {
        let mut nak_buf = vec![0u8; 20 * 8];
        let body = match &b {
            Body::Handshake(hs) => Control::Handshake(hs.clone()),
            Body::Simple(c) => c.clone(),
            Body::Nak(ranges) => {
                let mut builder = LossListBuilder::new(&mut nak_buf);
                for (f, l) in ranges {
                    builder.push(*f, *l).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                Control::Nak(builder.finish())
            }
            Body::User(subtype, type_specific, data) => Control::UserDefined {
                subtype: *subtype, type_specific: *type_specific, data,
            },
        };
        let p = Packet::Control(ControlPacket {
            timestamp: Timestamp::from_micros(ts),
            dest_socket_id: dest,
            body,
        });
        assert_roundtrip(&p)?;
    }

    #[test]
    fn handshake_cif_roundtrip(hs in handshake()) {
        let mut buf = vec![0u8; hs.wire_len()];
        prop_assert_eq!(hs.emit(&mut buf), Ok(buf.len()));
        prop_assert_eq!(Handshake::parse(&buf), Ok(hs.clone()));
        if !buf.is_empty() {
            let n = buf.len() - 1;
            prop_assert_eq!(hs.emit(&mut buf[..n]), Err(EmitError::BufferTooSmall { needed: n + 1 }));
        }
    }

    #[test]
    fn loss_list_roundtrip(r in ranges()) {
        let mut buf = vec![0u8; r.len() * 8];
        let mut b = LossListBuilder::new(&mut buf);
        for (f, l) in &r {
            prop_assert!(b.push(*f, *l).is_ok());
        }
        let list = b.finish();
        let bytes = list.as_bytes().to_vec();
        let parsed = LossList::parse(&bytes);
        prop_assert_eq!(parsed, Ok(list));
        let back: Vec<_> = list.iter().collect();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        check_bytes(&bytes)?;
        let _ = Handshake::parse(&bytes);
        let _ = KeyMaterial::parse(&bytes);
        let _ = LossList::parse(&bytes).map(|l| l.iter().count());
    }

    #[test]
    fn mutated_libsrt_packets_never_panic(
        which in 0usize..4,
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut bytes = hex([
            include_str!("../../../tests/vectors/libsrt/conclusion_request_sid_kmreq.hex"),
            include_str!("../../../tests/vectors/libsrt/conclusion_response_kmrsp.hex"),
            include_str!("../../../tests/vectors/libsrt/ack_full.hex"),
            include_str!("../../../tests/vectors/libsrt/conclusion_request_ffmpeg.hex"),
        ][which]);
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        check_bytes(&bytes)?;
    }
}

/// Whatever parses must emit, and that emission must parse back to the same value.
fn check_bytes(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(p) = Packet::parse(bytes) {
        let mut out = vec![0u8; p.wire_len()];
        let n = p
            .emit(&mut out)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Packet::parse(&out[..n]), Ok(p));
    }
    Ok(())
}
