#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agentcore_rt_fuzz::session_message::check(data));
