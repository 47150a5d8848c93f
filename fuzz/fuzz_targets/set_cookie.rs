//! libFuzzer target for [`chatport_fuzz::set_cookie`] (see that function for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatport_fuzz::set_cookie(data));
