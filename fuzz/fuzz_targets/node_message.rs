#![no_main]
//! libFuzzer entry point; the work is in `sockwave_fuzz::targets::node_message`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockwave_fuzz::targets::node_message(data));
