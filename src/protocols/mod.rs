//! AgentCore's other container protocols, served from the same binary as the HTTP contract:
//! an MCP server (Streamable HTTP on `:8000/mcp`), an A2A agent (JSON-RPC 2.0 on `:9000`), and
//! AG-UI events on the HTTP contract's routes. Each is written against the same agent, tools,
//! sessions and limits as `/invocations`; the wire layer mounts it on its listener.
//!
//! An [`App`](crate::App) serves one protocol, its [`Protocol`]: set it with
//! [`App::protocol`](crate::App::protocol) (or `PROTOCOL` / `--protocol` for the binary, read
//! into [`ServerConfig::protocol`](crate::config::ServerConfig::protocol)), give the app that
//! protocol's handler, and [`App::bind`](crate::App::bind) mounts it: the listener answers
//! `/ping` on the protocol's port and hands everything else to the handler, through the same
//! limits, timeouts, worker pool and access log as `/invocations`.

pub mod mcp;

pub use crate::config::Protocol;

pub mod a2a;
pub mod agui;
