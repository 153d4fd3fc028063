//! The wire: our own HTTP/1.1 server on `may` coroutines, one coroutine per connection.
//!
//! Why not may_minihttp (the server may's author ships): it cannot hand a connection over for
//! a WebSocket upgrade, cannot stream a response (no SSE), caps requests at 16 headers, parses
//! an unread body as the next request, and panics on a bad Content-Length. This module is the
//! only one that knows about sockets, httparse and tungstenite.
//!
//! The server core does not know what it serves: a connection hands each parsed request to a
//! `Service` (service.rs), which decides. The AgentCore contract is one (agentcore.rs).
//!
//! Files, from the socket up: `io` (the buffered socket), `parse` (heads, chunked bodies),
//! `request` (a parsed request, keep-alive), `body` (reading bodies), `response` (writing
//! answers), `service` (the seam), `conn` (one connection's state machine), `invoke` (handlers
//! on the worker pool, SSE), `upgrade` and `ws` (WebSocket), `access` (the request log),
//! `shared`, `pool`, `idle` and `server` (running it all).

mod a2a;
mod access;
mod agentcore;
mod auth;
mod body;
mod conn;
mod idle;
mod invoke;
mod io;
mod mcp;
pub(crate) mod parse;
mod pool;
mod request;
mod response;
mod server;
mod service;
mod shared;
mod upgrade;
mod ws;

pub use server::Server;
