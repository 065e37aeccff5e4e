#![no_main]
//! Fuzz target: `checks::rtmp_publisher` (see fuzz/checks.rs).

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::rtmp_publisher(data);
});
