//! An MCP server (Model Context Protocol, Streamable HTTP transport, stateless): what AgentCore
//! runs on `:8000/mcp` for `serverProtocol: MCP`.
//!
//! [`McpServer`] is the protocol: JSON-RPC messages in, JSON-RPC messages out (`initialize`,
//! `ping`, `tools/list`, `tools/call`, notifications), with the tools it is given. The wire
//! layer mounts it on `POST /mcp` ([`App::mcp`]) and chooses between a JSON
//! answer and an SSE stream from the request's `Accept`; no state is kept between requests, so
//! any replica can answer any request and `Mcp-Session-Id` is never needed (nor refused).
//!
//! ```no_run
//! use agentcore_rt::App;
//! use agentcore_rt::protocols::mcp::{CallResult, McpServer};
//! use serde_json::json;
//!
//! let mut server = McpServer::new("greeter", "1.0.0");
//! server.tool(
//!     json!({
//!         "name": "greet",
//!         "description": "Greets someone",
//!         "inputSchema": {"type": "object", "properties": {"who": {"type": "string"}}}
//!     }),
//!     |args, call| {
//!         call.progress(0.5, Some(1.0), Some("thinking"));
//!         let who = args.get("who").and_then(|w| w.as_str()).unwrap_or("world");
//!         Ok(CallResult::text(format!("Hello, {who}!")))
//!     },
//! );
//! let mut app = App::new();
//! app.mcp(server);
//! app.run("0.0.0.0:8000")?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub mod agent_tools;
mod dispatch;
mod rpc;
mod tool;

use crate::app::App;

pub use dispatch::{Accepts, McpServer};
pub use rpc::{INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR};
pub use tool::{CallResult, McpTools, ToolCall};

/// The protocol revisions this server speaks, newest first. `initialize` answers with the
/// client's revision when it is one of these, else with the first (the spec's rule).
/// 2025-11-25 is the newest the official SDKs negotiate with `initialize` (TypeScript SDK 1.32,
/// Python `mcp` 2.3); 2026-07-28's per-request envelope (`server/discover`) is not spoken, and
/// clients fall back to `initialize` when it is refused.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The revision a request without an `MCP-Protocol-Version` header is taken to speak (the
/// spec's backwards-compatibility rule).
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-03-26";

/// Most messages one batch may hold (batches exist in 2025-03-26 only); a larger batch is
/// refused whole with `-32600`.
pub const MAX_BATCH: usize = 64;

impl App {
    /// Serves `server` as an MCP server (Streamable HTTP on `POST /mcp`, `/ping` beside it) and
    /// switches the app to [`Protocol::Mcp`](crate::config::Protocol::Mcp). Call it after
    /// [`App::config`], which sets the protocol too.
    pub fn mcp(&mut self, server: McpServer) -> &mut App {
        self.mount(crate::config::Protocol::Mcp, server);
        self
    }

    /// The MCP server [`App::mcp`] set.
    pub fn mcp_server(&self) -> Option<std::sync::Arc<McpServer>> {
        self.mounted::<McpServer>()
    }
}
