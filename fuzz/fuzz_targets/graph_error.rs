//! libFuzzer target for [`chatport_fuzz::graph_error`] (see that function for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatport_fuzz::graph_error(data));
