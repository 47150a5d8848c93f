//! libFuzzer target for [`chatport_fuzz::orangelogic_webhook`] (see that function for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chatport_fuzz::orangelogic_webhook(data));
