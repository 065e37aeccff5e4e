#![no_main]
//! Fuzz target: `checks::key_material` (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::key_material(data));
