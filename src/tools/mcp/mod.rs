//! MCP tools: a Model Context Protocol client and the provider that runs its servers.
//!
//! Layers, each using only the ones above it:
//! - `jsonrpc` (wire messages, no I/O; reachable by the fuzz targets), `config` (what
//!   a server is configured as), `error` and `log`.
//! - `config_file`: the `mcpServers` file ([`load_config`]), read through an environment lookup.
//! - `dispatch`: what a connection does with each message a server sends (responses to their
//!   waiting callers, server requests answered, notifications).
//! - `stdio` (child process, newline-delimited JSON-RPC) and `streamable_http` (ureq POSTs with
//!   JSON or SSE replies): transports, handing what they read to `dispatch`.
//! - `client`: the protocol (initialize, tools/list, tools/call), thread-safe, with a timeout
//!   on every wait.
//! - `content`: a `tools/call` result -> Strands' stored tool result.
//! - `instance`: a started server, the slot it lives in, the tools that call through it.
//! - `provider`: [`McpToolProvider`], which starts servers per session, per request or shared,
//!   restarts crashed ones, reaps idle ones and stops them all at shutdown.
//!
//! Everything here blocks; it runs on worker threads, never on coroutines.

mod client;
mod config;
mod config_file;
// Public (hidden) only so the fuzz targets reach them.
pub(crate) mod content;
mod dispatch;
mod error;
mod instance;
pub(crate) mod jsonrpc;
mod log;
mod provider;
mod stdio;
mod streamable_http;

pub use config::{Lifecycle, McpConfig, McpServerConfig, ToolFilters, Transport};
pub use config_file::{McpConfigError, load_config};
pub use error::McpStartError;
pub use provider::McpToolProvider;
