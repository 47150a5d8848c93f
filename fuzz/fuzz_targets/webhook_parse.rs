//! libFuzzer target for [`chatport_fuzz::webhook_parse`] (see that function for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatport_fuzz::webhook_parse(data));
