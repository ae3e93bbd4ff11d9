#![no_main]
//! libFuzzer entry point; the work is in `sockwave_fuzz::targets::websocket_decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockwave_fuzz::targets::websocket_decode(data));
