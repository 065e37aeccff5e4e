//! Helpers shared by the packet tests: hex decoding and the truncated-prefix check.

use super::{Packet, ParseError};

/// Decodes hex text, ignoring whitespace. Panics on bad input: test data only.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).expect("ascii");
            u8::from_str_radix(s, 16).expect("hex digit")
        })
        .collect()
}

/// Parses `bytes`, re-emits it and asserts the emitted bytes are identical. Returns the packet.
pub fn roundtrip(bytes: &[u8]) -> Packet<'_> {
    let p = Packet::parse(bytes).unwrap_or_else(|e| panic!("parse failed: {e}"));
    assert_eq!(p.wire_len(), bytes.len(), "wire_len of {p:?}");
    let mut out = vec![0u8; bytes.len()];
    assert_eq!(p.emit(&mut out), Ok(bytes.len()));
    assert_eq!(out, bytes, "re-emit differs for {p:?}");
    assert!(
        p.emit(&mut out[..bytes.len() - 1]).is_err(),
        "emit into a short buffer must fail"
    );
    p
}

/// Every proper prefix of a valid packet must fail to parse, or parse to a different packet:
/// truncation is never silently accepted as the same packet. Types without information in
/// the CIF (keepalive, shutdown, ...) accept any CIF length, so their prefixes from
/// `same_from` bytes on may parse equal. Prefixes shorter than a header are `Truncated`.
pub fn check_prefixes(bytes: &[u8], same_from: Option<usize>) {
    let full = Packet::parse(bytes).expect("full packet parses");
    for len in 0..bytes.len() {
        let r = Packet::parse(&bytes[..len]);
        if len < super::HEADER_LEN {
            assert_eq!(r, Err(ParseError::Truncated), "prefix {len}");
            continue;
        }
        if let Ok(p) = r {
            let may_equal = same_from.is_some_and(|from| len >= from);
            assert!(
                may_equal || p != full,
                "prefix {len} parsed as the full packet"
            );
            // Whatever parsed must emit and parse back to itself.
            let mut out = vec![0u8; p.wire_len()];
            let n = p.emit(&mut out).expect("parsed prefix re-emits");
            assert_eq!(Packet::parse(&out[..n]), Ok(p));
        }
    }
}
