//! AgentCore's other container protocols, served from the same binary as the HTTP contract:
//! an MCP server (Streamable HTTP on `:8000/mcp`), an A2A agent (JSON-RPC 2.0 on `:9000`), and
//! AG-UI events on the HTTP contract's routes. Each is written against the same agent, tools,
//! sessions and limits as `/invocations`; the wire layer mounts it on its listener.
//!
//! An [`App`] serves one protocol, its [`Protocol`]: set it with
//! [`App::protocol`] (or `PROTOCOL` / `--protocol` for the binary, read
//! into [`ServerConfig::protocol`](crate::config::ServerConfig::protocol)), give the app that
//! protocol's handler, and [`App::bind`] mounts it: the listener answers
//! `/ping` on the protocol's port and hands everything else to the handler, through the same
//! limits, timeouts, worker pool and access log as `/invocations`.

pub mod mcp;

pub use crate::config::Protocol;

pub mod a2a;
pub mod agui;

use std::sync::Arc;

use crate::agent::Agent;
use crate::app::{App, agent_entrypoint};
use crate::config::EventFormat;

/// Puts `agent` behind the HTTP contract's routes in the events the app's settings ask for:
/// AG-UI's with [`ServerConfig::event_format`](crate::config::ServerConfig::event_format)
/// `agui` ([`agui::install`]), the native ones otherwise ([`agent_entrypoint::install`]). MCP
/// and A2A servers are mounted with [`App::mcp`] and [`App::a2a`].
pub fn install_agent(app: &mut App, agent: Option<Arc<Agent>>) {
    match app.server_config().event_format {
        EventFormat::Agui => agui::install(app, agent),
        _ => agent_entrypoint::install(app, agent),
    }
}
