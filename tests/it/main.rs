//! One integration-test binary (one link step); a module per area.

mod fuzz_regressions;
mod http;
mod mcp;
mod model;
mod session;
mod structured;
mod support;
mod ws;
