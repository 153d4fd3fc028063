//! The properties the fuzz targets check, one module per target.
//!
//! Each `check(data)` panics when a property fails. The libFuzzer targets in `fuzz_targets/` call
//! them, and so does the stable regression test `tests/it/fuzz_regressions.rs` (it includes this
//! file with `#[path]`), which replays the crash inputs kept in `tests/fuzz-regressions/<target>/`.
//! Paths are relative (`super::`) so the modules work in both crates.
//!
//! Inputs start with a few control bytes (limits, the seed that picks chunk boundaries), then the
//! payload; [`common::Input`] splits them, and seed corpora carry the same prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod common;
pub mod http_head;
pub mod json_body;
pub mod mcp_sse;
pub mod model_stream;
pub mod session_message;
