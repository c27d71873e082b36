#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fluoro_fuzz::xray_filter(data));
