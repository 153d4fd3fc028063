//! agentcore-rt: an AWS Bedrock AgentCore-compatible agent runtime.
//!
//! Serve the AgentCore runtime contract (`POST /invocations`, `GET /ping`, `/ws`) with your own
//! handler, or with the [`Agent`]: Strands' agent loop against an OpenAI-compatible model, with
//! tools and sessions stored as Strands stores them.
//!
//! ```no_run
//! use agentcore_rt::{App, Error, RequestContext};
//! use serde_json::{Value, json};
//!
//! let mut app = App::new();
//! app.entrypoint(|payload: Value, ctx: &RequestContext| {
//!     Ok::<_, Error>(json!({"echo": payload, "session": ctx.session_id}))
//! });
//! app.run("0.0.0.0:8080")?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```
//!
//! The modules are layers, and each imports only from those below it (README, "Design notes";
//! `scripts/check-layers.py` enforces it):
//!
//! - the wire (private): our own HTTP/1.1 server on `may` coroutines, SSE, WebSocket; it runs
//!   an [`App`] ([`App::bind`], [`App::run`]) and hands back a [`Server`];
//! - [`app`]: the contract handlers are written against: [`App`], [`RequestContext`],
//!   [`Output`], streams, WebSockets, and [`app::agent_entrypoint`], which puts an agent behind
//!   an app; and [`protocols`], AgentCore's other container protocols beside it (an MCP server:
//!   [`App::mcp`]);
//! - [`agent`]: the agent loop, its builder, events and errors, the sliding window;
//! - [`config`]: every setting read from the environment;
//! - [`model`], [`tools`], [`session`], [`structured`]: what the loop drives: chat models
//!   ([`ChatModel`], OpenAI-compatible), tools ([`Tool`], MCP servers), session stores
//!   ([`SessionStore`], Strands' file layout or memory), structured output;
//! - [`types`]: the domain types all of them share (messages, content blocks, [`CancelToken`]);
//! - [`telemetry`]: OpenTelemetry spans and where they are exported;
//! - [`logging`] and private leaves (Python-exact JSON, SSE parsing, clocks, ids).
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod agent;
pub mod app;
pub mod aws;
pub mod config;
pub mod logging;
pub mod model;
pub mod protocols;
pub mod session;
pub mod structured;
pub mod telemetry;
pub mod tools;
pub mod types;

mod clock;
mod error;
mod http;
mod ids;
mod pyjson;
mod sse;
mod sync;

pub use agent::{Agent, AgentBuilder, AgentError, AgentEvent, AgentResult, Prompt};
pub use app::{App, IntoOutput, Output, RequestContext, Response};
pub use error::Error;
pub use http::Server;
pub use model::ChatModel;
pub use session::{FileSessionStore, MemorySessionStore, SessionStore};
pub use tools::{FnTool, Tool, ToolProvider};
pub use types::CancelToken;

/// Parser entry points for the fuzz targets (`fuzz/`) and the integration tests that replay
/// their findings or need Python-exact JSON. Not part of the API: present only with the
/// internal `_fuzz` feature, which the crate's own tests turn on.
#[cfg(feature = "_fuzz")]
#[doc(hidden)]
pub mod internals {
    pub use crate::model::openai::MAX_SSE_LINE_BYTES;
    pub use crate::session::file::{decode_message_file, encode_message_file};

    /// Python-exact JSON (`json.dumps` / `json.loads` behaviour).
    pub mod pyjson {
        pub use crate::pyjson::*;
    }
    /// The `text/event-stream` parser.
    pub mod sse {
        pub use crate::sse::*;
    }
    /// Request heads and chunked bodies.
    pub mod http_parse {
        pub use crate::http::parse::*;
    }
    /// OpenAI chat-completion stream assembly.
    pub mod openai_stream {
        pub use crate::model::openai::stream::*;
    }
    /// MCP result content mapping and base64.
    pub mod mcp_content {
        pub use crate::tools::mcp::content::*;
    }
    /// MCP JSON-RPC framing.
    pub mod mcp_jsonrpc {
        pub use crate::tools::mcp::jsonrpc::*;
    }
}

// The README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
