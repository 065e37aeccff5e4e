#![no_main]
//! Fuzz target: `checks::srtla` (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::srtla(data);
});
