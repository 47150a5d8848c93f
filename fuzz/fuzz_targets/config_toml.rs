//! libFuzzer target for [`chatport_fuzz::config_toml`] (see that function for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatport_fuzz::config_toml(data));
