//! Handshake byte-vector tests beyond the libsrt captures in `vectors.rs`: string-coded
//! extensions, GROUP, unknown blocks, length limits and the handshake type field.

use super::*;
use crate::srt::packet::test_util::hex;

/// A conclusion base (48 bytes) followed by `ext` hex.
fn cif(ext: &str) -> Vec<u8> {
    hex(&format!(
        "00000005 00000005 00000100 000005dc 00002000 ffffffff \
         00000abc 12345678 0100007f 00000000 00000000 00000000 {ext}"
    ))
}

fn roundtrip(cif: &[u8]) -> Handshake {
    let hs = Handshake::parse(cif).expect("parses");
    assert_eq!(hs.wire_len(), cif.len());
    let mut out = vec![0u8; cif.len()];
    assert_eq!(hs.emit(&mut out), Ok(cif.len()));
    assert_eq!(out, cif);
    hs
}

#[test]
fn base_fields() {
    let hs = roundtrip(&cif(""));
    assert_eq!(hs.version, 5);
    assert_eq!(hs.encryption_field, 0);
    assert_eq!(hs.extension_field, 5);
    assert_eq!(hs.initial_seq, SeqNo::new(0x100));
    assert_eq!(hs.mtu, 1500);
    assert_eq!(hs.flow_window, 8192);
    assert_eq!(hs.kind, HandshakeType::Conclusion);
    assert_eq!(hs.socket_id, 0xabc);
    assert_eq!(hs.syn_cookie, 0x1234_5678);
    for len in 0..Handshake::BASE_LEN {
        assert_eq!(
            Handshake::parse(&cif("")[..len]),
            Err(ParseError::Truncated)
        );
    }
}

#[test]
fn string_extensions_swap_each_word_and_strip_padding() {
    // SID "abcde" -> "dcba" "\0\0\0e"; CONGESTION "live"; FILTER "fec".
    let bytes = cif("00050002 64636261 00000065 00060001 6576696c 00070001 00636566");
    let hs = roundtrip(&bytes);
    assert_eq!(
        hs.extensions,
        [
            HsExtension::StreamId(b"abcde".to_vec()),
            HsExtension::Congestion(b"live".to_vec()),
            HsExtension::Filter(b"fec".to_vec()),
        ]
    );
    assert_eq!(hs.stream_id(), Some(&b"abcde"[..]));
}

#[test]
fn group_and_unknown_blocks_stay_raw() {
    // GROUP: group id then type/flags/weight, plain big-endian words (libsrt fillHsExtGroup).
    let bytes = cif("00080002 40000001 01000000 00630001 deadbeef 00640000");
    let hs = roundtrip(&bytes);
    assert_eq!(
        hs.extensions,
        [
            HsExtension::Group(hex("40000001 01000000")),
            HsExtension::Unknown {
                ext_type: 0x63,
                data: hex("deadbeef")
            },
            HsExtension::Unknown {
                ext_type: 0x64,
                data: vec![]
            },
        ]
    );
}

#[test]
fn stream_id_limit_is_512_bytes() {
    let max = vec![b'x'; MAX_STREAMID_LEN];
    let words: String = (0..128).map(|_| "78787878").collect();
    let hs = roundtrip(&cif(&format!("00050080 {words}")));
    assert_eq!(hs.stream_id(), Some(&max[..]));

    // Longer parses (so the listener can refuse it with an answer) but keeps no contents.
    let too_long = cif(&format!("00050081 {words} 78787878"));
    let parsed = Handshake::parse(&too_long).expect("an over-long stream id parses");
    assert_eq!(
        parsed.extensions,
        vec![HsExtension::StreamIdTooLong { wire_len: 516 }]
    );
    assert_eq!(parsed.stream_id(), None);
    assert!(matches!(
        parsed.emit(&mut [0u8; 1024]),
        Err(EmitError::FieldOverflow(_))
    ));
    let mut hs = hs;
    hs.extensions = vec![HsExtension::StreamId(vec![b'x'; 513])];
    assert!(matches!(
        hs.emit(&mut [0u8; 1024]),
        Err(EmitError::FieldOverflow(_))
    ));
}

#[test]
fn extension_running_past_the_end_is_malformed() {
    // Declares 3 words, carries 2.
    let bytes = cif("00010003 00010501 000000bf");
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(ParseError::Malformed(_))
    ));
    // Partial block header.
    let mut bytes = cif("");
    bytes.extend_from_slice(&[0, 1]);
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(ParseError::Malformed(_))
    ));
    // HSREQ shorter than 3 words.
    let bytes = cif("00010002 00010501 000000bf");
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(ParseError::Malformed(_))
    ));
}

#[test]
fn handshake_type_field() {
    let cases = [
        (0xFFFF_FFFD, Some(HandshakeType::Done)),
        (0xFFFF_FFFE, Some(HandshakeType::Agreement)),
        (0xFFFF_FFFF, Some(HandshakeType::Conclusion)),
        (0, Some(HandshakeType::WaveAHand)),
        (1, Some(HandshakeType::Induction)),
        (1000, Some(HandshakeType::Rejection(0))),
        (1403, Some(HandshakeType::Rejection(403))),
        (
            0x7FFF_FFFF,
            Some(HandshakeType::Rejection(0x7FFF_FFFF - 1000)),
        ),
        (2, None),
        (999, None),
        (0x8000_0000, None),
        (0xFFFF_FFFC, None),
    ];
    for (wire, kind) in cases {
        assert_eq!(HandshakeType::from_wire(wire), kind, "{wire:#x}");
        if let Some(k) = kind {
            assert_eq!(k.to_wire(), Some(wire));
        }
    }
    assert_eq!(HandshakeType::Rejection(0x7FFF_FFFF).to_wire(), None);
    let mut bytes = cif("");
    bytes[20..24].copy_from_slice(&2u32.to_be_bytes());
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(ParseError::Malformed(_))
    ));
}

#[test]
fn initial_seq_top_bit_is_malformed() {
    let mut bytes = cif("");
    bytes[8] |= 0x80;
    assert!(matches!(
        Handshake::parse(&bytes),
        Err(ParseError::Malformed(_))
    ));
}

#[test]
fn peer_ip_coding_matches_libsrt() {
    use std::net::IpAddr;
    let v4: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(
        peer_ip_to_wire(v4),
        hex("0100007f 00000000 00000000 00000000")[..]
    );
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let wire = peer_ip_to_wire(v6);
    assert_eq!(wire, hex("b80d0120 00000000 00000000 01000000")[..]);
    assert_eq!(peer_ip_from_wire(&wire, true), v6);
    assert_eq!(peer_ip_from_wire(&peer_ip_to_wire(v4), false), v4);
}

#[test]
fn emit_checks_room() {
    let bytes = cif("00050001 00636261");
    let hs = roundtrip(&bytes);
    let mut out = vec![0u8; bytes.len() - 1];
    assert_eq!(
        hs.emit(&mut out),
        Err(EmitError::BufferTooSmall {
            needed: bytes.len()
        })
    );
}
