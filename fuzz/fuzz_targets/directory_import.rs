//! Fuzzes `keystep::fuzzing::directory_import`: no panic, no stack overflow, bounded time.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = keystep::fuzzing::directory_import(data);
});
