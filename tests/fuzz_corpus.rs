//! Replays the committed cargo-fuzz seed corpus (fuzz/corpus/<target>/) through the same checks
//! the fuzz targets run (fuzz/checks.rs), on the stable toolchain, in the normal test command.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::fs;
use std::path::Path;

/// Runs `check` on every file of `fuzz/corpus/<target>/`; returns how many ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    assert!(dir.is_dir(), "missing corpus dir {}", dir.display());
    let mut n = 0;
    for entry in fs::read_dir(&dir).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read corpus file");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "{} failed its fuzz check", path.display());
        n += 1;
    }
    assert!(n > 0, "corpus dir {} is empty", dir.display());
    n
}

#[test]
fn packet_corpus() {
    // The libsrt captures are among the seeds.
    assert!(replay("packet", checks::packet) >= 15);
}

#[test]
fn handshake_corpus() {
    replay("handshake", checks::handshake);
}

#[test]
fn loss_list_corpus() {
    replay("loss_list", checks::loss_list);
}

#[test]
fn key_material_corpus() {
    replay("key_material", checks::key_material);
}

/// The seeds must actually exercise the parsers: every libsrt capture parses.
#[test]
fn libsrt_seeds_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/packet");
    for entry in fs::read_dir(dir).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("libsrt_") {
            let data = fs::read(&path).expect("read");
            assert!(
                srtrelay::srt::packet::Packet::parse(&data).is_ok(),
                "{name} does not parse"
            );
        }
    }
}
