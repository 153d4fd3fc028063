//! The wire: our own HTTP/1.1 server on `may` coroutines, one coroutine per connection.
//!
//! Why not may_minihttp (the server may's author ships): it cannot hand a connection over for
//! a WebSocket upgrade, cannot stream a response (no SSE), caps requests at 16 headers, parses
//! an unread body as the next request, and panics on a bad Content-Length. This module is the
//! only one that knows about sockets, httparse and tungstenite.

mod conn;
mod idle;
pub mod parse;
mod pool;
pub mod response;
pub mod router;
mod server;
mod ws;

pub use server::Server;
