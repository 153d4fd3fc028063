#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| agentcore_rt_fuzz::model_stream::check(data));
