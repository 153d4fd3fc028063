//! MCP tools: a Model Context Protocol client and the provider that runs its servers.
//!
//! Layers, each using only the ones above it:
//! - [`sse`] and `jsonrpc`: wire formats, no I/O (the SSE parser is public so it can be fuzzed).
//! - `stdio` (child process, newline-delimited JSON-RPC) and `streamable_http` (ureq POSTs with
//!   JSON or SSE replies): transports.
//! - `client`: the protocol (initialize, tools/list, tools/call, answering server requests),
//!   thread-safe, with a timeout on every wait.
//! - `content`: a `tools/call` result -> Strands' stored tool result.
//! - [`config`]: the `mcpServers` file.
//! - `provider`: [`McpToolProvider`], which starts servers per session, per request or shared,
//!   restarts crashed ones, reaps idle ones and stops them all at shutdown.
//!
//! Everything here blocks; it runs on worker threads, never on coroutines.

mod client;
pub mod config;
// Public (hidden) only so the fuzz targets reach them.
#[doc(hidden)]
pub mod content;
#[doc(hidden)]
pub mod jsonrpc;
mod provider;
mod stdio;
mod streamable_http;

pub use config::{
    Lifecycle, McpConfig, McpConfigError, McpServerConfig, ToolFilters, Transport, load_config,
};
pub use provider::{McpStartError, McpToolProvider};

pub(crate) use crate::logging::Level;

/// The one place this module logs through: the crate's JSON log, naming the server.
pub(crate) fn log(level: Level, server: &str, message: &str) {
    crate::logging::Line::new(level, message)
        .str("server", server)
        .emit();
}
