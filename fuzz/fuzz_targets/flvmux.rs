#![no_main]
//! Fuzz target: `checks::flvmux` (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::flvmux(data);
});
