#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agentcore_rt_fuzz::json_body::check(data));
