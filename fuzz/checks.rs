//! The invariants every fuzz target checks, shared with `tests/fuzz_corpus.rs` (which replays
//! the committed corpus on stable) through `#[path]`, so both check exactly the same thing.
//!
//! Each check: parsing never panics; whatever parses emits without error into a buffer of
//! exactly `wire_len` bytes, and the emitted bytes parse back to an equal value that re-emits
//! the same bytes.

#![allow(dead_code)] // each fuzz target uses only its own check

use srtrelay::srt::packet::{
    Handshake, KeyMaterial, KmResponse, LossList, LossListBuilder, Packet,
};

pub fn packet(data: &[u8]) {
    let Ok(p) = Packet::parse(data) else { return };
    let mut out = vec![0u8; p.wire_len()];
    let n = p.emit(&mut out).expect("a parsed packet emits");
    assert_eq!(n, out.len(), "emit length != wire_len");
    let again = Packet::parse(&out).expect("an emitted packet parses");
    assert_eq!(again, p, "parse(emit(p)) != p");
    let mut out2 = vec![0u8; n];
    assert_eq!(again.emit(&mut out2), Ok(n));
    assert_eq!(out2, out, "re-emit differs");
}

pub fn handshake(data: &[u8]) {
    let Ok(hs) = Handshake::parse(data) else {
        return;
    };
    let mut out = vec![0u8; hs.wire_len()];
    let n = hs.emit(&mut out).expect("a parsed handshake emits");
    assert_eq!(n, out.len(), "emit length != wire_len");
    let again = Handshake::parse(&out).expect("an emitted handshake parses");
    assert_eq!(again, hs, "parse(emit(hs)) != hs");
    // Accessors walk the extensions; they must agree with the list.
    assert_eq!(hs.stream_id().is_some(), again.stream_id().is_some());
}

pub fn loss_list(data: &[u8]) {
    let Ok(list) = LossList::parse(data) else {
        return;
    };
    assert_eq!(list.as_bytes(), data);
    let ranges: Vec<_> = list.iter().collect();
    assert!(!ranges.is_empty(), "a parsed loss list has a range");
    // Re-encode through the builder: same ranges, never longer than the input.
    let mut buf = vec![0u8; data.len()];
    let mut b = LossListBuilder::new(&mut buf);
    for (first, last) in &ranges {
        b.push(*first, *last)
            .expect("a parsed range re-encodes in the same space");
    }
    let rebuilt = b.finish();
    let reparsed = LossList::parse(rebuilt.as_bytes()).expect("a built list parses");
    assert_eq!(reparsed.iter().collect::<Vec<_>>(), ranges);
}

pub fn key_material(data: &[u8]) {
    if let Ok(km) = KeyMaterial::parse(data) {
        let mut out = vec![0u8; km.wire_len()];
        assert_eq!(km.emit(&mut out), Ok(out.len()));
        assert_eq!(KeyMaterial::parse(&out), Ok(km));
    }
    if let Ok(r) = KmResponse::parse(data) {
        let mut out = vec![0u8; r.wire_len()];
        assert_eq!(r.emit(&mut out), Ok(out.len()));
        assert_eq!(KmResponse::parse(&out), Ok(r));
    }
}
