//! agentcore-rt: an AWS Bedrock AgentCore-compatible agent runtime.
//!
//! The crate is layered, and each layer only looks down:
//!
//! - [`http`]: the wire. Our own HTTP/1.1 server on `may` coroutines (one per connection),
//!   `/invocations`, `/ping`, `/ws`, SSE framing, WebSocket upgrade. The only module that knows
//!   about sockets.
//! - [`app`]: the contract users program against: [`App`] with its entrypoint, ping and websocket
//!   handlers, [`RequestContext`], async-task tracking, and the worker pool that keeps blocking
//!   work off coroutines.
//! - [`agent`]: the default entrypoint: a blocking model -> tools -> model loop against an
//!   OpenAI-compatible API, MCP tools, a sliding conversation window and structured output.
//!   Knows nothing about HTTP.
//! - [`session`]: conversation persistence in Strands' FileSessionManager layout.
//! - [`config`], [`error`], [`pyjson`], [`sse`], [`log`], [`clock`], [`ids`]: leaves.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod agent;
pub mod app;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod logging;
pub mod model;
pub mod pyjson;
pub mod session;
pub mod sse;
pub mod structured;
mod sync;
pub mod tools;
pub mod types;

pub use app::{App, RequestContext};
pub use error::Error;
