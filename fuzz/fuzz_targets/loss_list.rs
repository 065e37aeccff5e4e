#![no_main]
//! Fuzz target: `checks::loss_list` (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::loss_list(data));
