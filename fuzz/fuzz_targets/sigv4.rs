#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluoro_fuzz::sigv4(data));
