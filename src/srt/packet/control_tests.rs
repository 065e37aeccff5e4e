//! Byte-vector tests for the control types the libsrt captures do not cover (they are in
//! `vectors.rs`): small ACK, NAK, congestion warning, DROPREQ, PEERERROR, user-defined.

use super::*;
use crate::srt::packet::Packet;
use crate::srt::packet::test_util::{check_prefixes, hex, roundtrip};

fn body(bytes: &[u8]) -> Control<'_> {
    match Packet::parse(bytes) {
        Ok(Packet::Control(c)) => c.body,
        other => panic!("expected control, got {other:?}"),
    }
}

#[test]
fn small_ack() {
    let bytes = hex("80020000 00000007 00000064 0000002a \
                     00000100 00001388 000009c4 00000200");
    let p = roundtrip(&bytes);
    assert_eq!(p.timestamp().as_micros(), 100);
    assert_eq!(p.dest_socket_id(), 42);
    assert_eq!(
        body(&bytes),
        Control::Ack(Ack {
            ack_no: 7,
            last_ack: SeqNo::new(0x100),
            info: AckInfo::Small {
                rtt_us: 5000,
                rtt_var_us: 2500,
                avail_buf_pkts: 512
            }
        })
    );
    check_prefixes(&bytes, None);
}

#[test]
fn ack_cif_sizes() {
    let head = "80020000 00000001 00000000 00000000";
    let words = ["00000010", "1", "2", "3", "4", "5", "6", "7"].map(|w| format!("{w:0>8}"));
    let with = |n: usize| hex(&format!("{head}{}", words[..n].concat()));
    // 24-byte UDT full ACK: receive rate reads as 0.
    let udt = with(6);
    assert!(matches!(
        body(&udt),
        Control::Ack(Ack {
            info: AckInfo::Full {
                est_link_capacity_pps: 5,
                recv_rate_bytes_per_s: 0,
                ..
            },
            ..
        })
    ));
    // 32-byte SRT 1.0.2 ACK: the extra word is ignored.
    let v102 = with(8);
    assert!(matches!(
        body(&v102),
        Control::Ack(Ack {
            info: AckInfo::Full {
                recv_rate_bytes_per_s: 6,
                ..
            },
            ..
        })
    ));
    for n in [2, 3, 5] {
        assert!(
            matches!(Packet::parse(&with(n)), Err(ParseError::Malformed(_))),
            "{n} words"
        );
    }
    assert_eq!(Packet::parse(&with(0)), Err(ParseError::Truncated));
}

#[test]
fn nak_with_ranges() {
    // Lost: 0x10, 0x20..=0x2f.
    let bytes = hex("80030000 00000000 00000005 00000009 \
                     00000010 80000020 0000002f");
    let Control::Nak(list) = body(&bytes) else {
        panic!("expected NAK")
    };
    let ranges: Vec<_> = list.iter().collect();
    assert_eq!(
        ranges,
        [
            (SeqNo::new(0x10), SeqNo::new(0x10)),
            (SeqNo::new(0x20), SeqNo::new(0x2f))
        ]
    );
    roundtrip(&bytes);
    check_prefixes(&bytes, None);
}

#[test]
fn nak_needs_a_loss_list() {
    assert_eq!(
        Packet::parse(&hex("80030000 00000000 00000005 00000009")),
        Err(ParseError::Truncated)
    );
    let empty = ControlPacket {
        timestamp: Timestamp::from_micros(0),
        dest_socket_id: 0,
        body: Control::Nak(crate::srt::packet::LossListBuilder::new(&mut []).finish()),
    };
    assert!(matches!(
        empty.emit(&mut [0u8; 64]),
        Err(EmitError::FieldOverflow(_))
    ));
}

#[test]
fn congestion_warning_accepts_any_cif() {
    let bytes = hex("80040000 00000000 00000001 00000002 00000000");
    assert_eq!(body(&bytes), Control::CongestionWarning);
    roundtrip(&bytes);
    check_prefixes(&bytes, Some(16));
    let long = hex("80040000 00000000 00000001 00000002 0102030405060708");
    assert_eq!(body(&long), Control::CongestionWarning);
}

#[test]
fn drop_request() {
    let bytes = hex("80070000 0000abcd 00000001 00000002 00000100 00000104");
    assert_eq!(
        body(&bytes),
        Control::DropRequest(DropRequest {
            msg_no: 0xabcd,
            first: SeqNo::new(0x100),
            last: SeqNo::new(0x104)
        })
    );
    roundtrip(&bytes);
    check_prefixes(&bytes, None);
}

#[test]
fn peer_error() {
    let bytes = hex("80080000 00000fa0 00000001 00000002 00000000");
    assert_eq!(body(&bytes), Control::PeerError { code: 4000 });
    roundtrip(&bytes);
    check_prefixes(&bytes, Some(16));
}

#[test]
fn user_defined_keeps_subtype_and_raw_cif() {
    // libsrt KM refresh: type 0x7FFF, subtype 3 (KMREQ).
    let bytes = hex("ffff0003 00000000 00000001 00000002 12202901 00000000");
    assert_eq!(
        body(&bytes),
        Control::UserDefined {
            subtype: 3,
            type_specific: 0,
            data: &[0x12, 0x20, 0x29, 0x01, 0, 0, 0, 0]
        }
    );
    roundtrip(&bytes);
    check_prefixes(&bytes, None);
}

#[test]
fn unknown_control_type() {
    let bytes = hex("80090000 00000000 00000001 00000002 00000000");
    assert_eq!(
        Packet::parse(&bytes),
        Err(ParseError::UnknownControlType(9))
    );
    let bytes = hex("fffe0000 00000000 00000001 00000002");
    assert_eq!(
        Packet::parse(&bytes),
        Err(ParseError::UnknownControlType(0x7ffe))
    );
}

#[test]
fn subtype_of_known_types_is_ignored() {
    // Only the user-defined type has a meaningful subtype; others re-emit it as 0.
    let bytes = hex("80010005 00000000 00000001 00000002 00000000");
    assert_eq!(body(&bytes), Control::KeepAlive);
}
