//! One integration-test binary (one link step); a module per area.

mod a2a;
mod agent;
mod agui;
mod aws;
mod bedrock;
mod contract;
mod e2e;
mod faults;
mod fuzz_regressions;
mod hostile;
mod http;
mod llama;
mod mcp;
mod mcp_bound;
mod mcp_server;
mod model;
mod otlp;
mod s3;
mod session;
mod sigv4;
mod structured;
mod support;
mod traces;
mod traces_routes;
mod ws;
