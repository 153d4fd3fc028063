//! Why MCP work fails: [`McpError`] for one request, [`McpStartError`] for the provider's start.

use std::fmt;
use std::sync::Arc;

use super::jsonrpc::RpcError;
use crate::tools::Cause;

/// Why a request failed. `Display` is the text Strands puts after `Tool execution failed: `.
#[derive(Debug, Clone)]
pub(crate) enum McpError {
    /// The server answered with a JSON-RPC error (the Python SDK shows its message only).
    Rpc(RpcError),
    /// No answer in time (the Python SDK's text).
    Timeout { method: String },
    /// The connection ended while we waited, or before we asked (the Python SDK's text).
    Closed,
    /// The invocation was cancelled while we waited.
    Cancelled,
    /// Streamable HTTP: the server no longer knows our session (404); re-initialize.
    SessionExpired,
    /// Anything else: spawn failure, HTTP status, a malformed answer. The text says which; the
    /// cause, when there is one, is the error underneath (an OS or HTTP client error).
    Other { message: String, cause: Option<Cause> },
}

impl McpError {
    /// [`McpError::Other`] without a cause.
    pub(crate) fn other(message: impl Into<String>) -> Self {
        McpError::Other {
            message: message.into(),
            cause: None,
        }
    }

    /// [`McpError::Other`] caused by `cause` (whose text `message` already includes).
    pub(crate) fn caused(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        McpError::Other {
            message: message.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpError::Rpc(e) => write!(f, "{e}"),
            McpError::Timeout { method } => write!(f, "Request '{method}' timed out"),
            McpError::Closed => f.write_str("Connection closed"),
            McpError::Cancelled => {
                f.write_str("Tool execution cancelled locally; remote execution may have continued")
            }
            McpError::SessionExpired => f.write_str("Session not found: the server expired the MCP session"),
            McpError::Other { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for McpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            McpError::Other {
                cause: Some(cause), ..
            } => Some(&**cause),
            _ => None,
        }
    }
}

/// Why [`McpToolProvider::start`](super::McpToolProvider::start) refused to start.
///
/// Equality ignores causes (their text is part of the message).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum McpStartError {
    /// A server without `continue_on_error` failed its start-up probe (start, initialize,
    /// tools/list within `startup_timeout`).
    ServerFailed {
        /// The server's name.
        server: String,
        /// What went wrong.
        message: String,
        /// The failure itself ([`std::error::Error::source`]).
        cause: Option<Cause>,
    },
    /// Two tools would reach the model with the same name (after prefixes and filters; `-` and
    /// `_` count as equal, as in Strands).
    DuplicateTool {
        /// The colliding name (the second one seen).
        tool: String,
        /// The server that offered it first.
        first_server: String,
        /// The server that offered it again.
        second_server: String,
    },
}

impl PartialEq for McpStartError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                McpStartError::ServerFailed {
                    server: s1,
                    message: m1,
                    ..
                },
                McpStartError::ServerFailed {
                    server: s2,
                    message: m2,
                    ..
                },
            ) => (s1, m1) == (s2, m2),
            (
                McpStartError::DuplicateTool {
                    tool: t1,
                    first_server: f1,
                    second_server: s1,
                },
                McpStartError::DuplicateTool {
                    tool: t2,
                    first_server: f2,
                    second_server: s2,
                },
            ) => (t1, f1, s1) == (t2, f2, s2),
            _ => false,
        }
    }
}

impl Eq for McpStartError {}

impl fmt::Display for McpStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpStartError::ServerFailed { server, message, .. } => {
                write!(f, "MCP server '{server}' failed to start: {message}")
            }
            McpStartError::DuplicateTool {
                tool,
                first_server,
                second_server,
            } if first_server == second_server => {
                write!(
                    f,
                    "duplicate tool name '{tool}': MCP server '{first_server}' offers it twice"
                )
            }
            McpStartError::DuplicateTool {
                tool,
                first_server,
                second_server,
            } => write!(
                f,
                "duplicate tool name '{tool}': offered by MCP servers '{first_server}' and '{second_server}' \
                 (set `prefix` or `tool_filters` on one of them)"
            ),
        }
    }
}

impl std::error::Error for McpStartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            McpStartError::ServerFailed {
                cause: Some(cause), ..
            } => Some(&**cause),
            _ => None,
        }
    }
}
