//! Why an invocation failed, with the HTTP status and error kind the runtime reports for it.

use std::fmt;

use crate::agent::conversation::UnableToTrim;
use crate::model::ModelError;
use crate::session::{SessionError, SessionErrorKind};
use crate::tools::ToolError;

/// Strands' `MaxTokensReachedException` text (1.62).
pub const MAX_TOKENS_TEXT: &str = "Model stopped generating due to maximum token limit. \
The partial message has been added to the conversation history. \
You can continue by calling the agent again. \
For more information see: \
https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception";

/// An invocation or agent-construction failure.
///
/// [`AgentError::status`] and [`AgentError::kind`] give what the HTTP layer answers
/// (`{"error": <Display text>}` with that status; `kind` is the SSE `error_type`):
///
/// | variant | status | kind |
/// |---|---|---|
/// | `InvalidInput` | 400 | `ValueError` |
/// | `Session`, invalid session/agent id | 400 | `ValueError` |
/// | `Session`, lock not acquired in time (another invocation of the session runs) | 409 | `ConcurrencyException` |
/// | `Session`, anything else (I/O, corrupt file, symlink) | 500 | `SessionException` |
/// | `Model`, provider error status, transport, invalid response, throttling | 502 | `ModelError` (`ModelThrottledException` when throttled) |
/// | `Model`, timeout | 504 | `ModelError` |
/// | `Model`, no model configured | 500 | `ModelError` |
/// | `ToolsUnavailable` (an MCP server did not start, duplicate tool names) | 503 | `ToolProviderException` |
/// | `StructuredOutput` | 500 | `StructuredOutputException` |
/// | `ContextOverflow` | 500 | `ContextWindowOverflowException` |
/// | `MaxTokensReached` | 500 | `MaxTokensReachedException` |
/// | `Cancelled` | 503 | `CancelledError` |
/// | `InvalidConfig` | 500 | `ConfigurationError` |
///
/// The Python runtime answers 500 for every exception; the other statuses are ours, so clients
/// can tell their own mistakes (4xx) from upstream trouble (502/503/504).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AgentError {
    /// The prompt is unusable (no content, or tool blocks in a user prompt).
    InvalidInput {
        /// What is wrong with it.
        message: String,
    },
    /// The agent was configured inconsistently ([`crate::agent::AgentBuilder::build`]).
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// Reading or writing the session failed, or the session is busy.
    Session(SessionError),
    /// The model call failed (after the client's own retries).
    Model(ModelError),
    /// A tool provider could not supply its tools.
    ToolsUnavailable(ToolError),
    /// Structured output was requested and the model did not deliver a valid one.
    StructuredOutput {
        /// Strands' text, or ours when the attempt cap was reached.
        message: String,
    },
    /// The model rejected the context and nothing more could be trimmed.
    ContextOverflow {
        /// The provider's overflow message.
        message: String,
    },
    /// The model stopped at its output-token limit (Strands' `MaxTokensReachedException`); the
    /// partial answer is in the history, its tool calls replaced by notices.
    MaxTokensReached,
    /// The cancel flag was set; the history was left consistent.
    Cancelled,
}

impl AgentError {
    /// The HTTP status the runtime answers with (see the table on [`AgentError`]).
    pub fn status(&self) -> u16 {
        match self {
            AgentError::InvalidInput { .. } => 400,
            AgentError::Session(e) => match e.kind {
                SessionErrorKind::InvalidId { .. } => 400,
                SessionErrorKind::LockTimeout { .. } => 409,
                _ => 500,
            },
            AgentError::Model(e) => match e {
                ModelError::Provider { .. }
                | ModelError::Transport { .. }
                | ModelError::InvalidResponse { .. }
                | ModelError::Throttled { .. } => 502,
                ModelError::Timeout { .. } => 504,
                ModelError::Cancelled => 503,
                ModelError::ContextOverflow { .. } | ModelError::NotConfigured { .. } => 500,
            },
            AgentError::ToolsUnavailable(_) | AgentError::Cancelled => 503,
            AgentError::InvalidConfig { .. }
            | AgentError::StructuredOutput { .. }
            | AgentError::ContextOverflow { .. }
            | AgentError::MaxTokensReached => 500,
        }
    }

    /// A short error-kind name, Strands' exception class name where it has one.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentError::InvalidInput { .. } => "ValueError",
            AgentError::InvalidConfig { .. } => "ConfigurationError",
            AgentError::Session(e) => match e.kind {
                SessionErrorKind::InvalidId { .. } => "ValueError",
                SessionErrorKind::LockTimeout { .. } => "ConcurrencyException",
                _ => "SessionException",
            },
            AgentError::Model(ModelError::Throttled { .. }) => "ModelThrottledException",
            AgentError::Model(_) => "ModelError",
            AgentError::ToolsUnavailable(_) => "ToolProviderException",
            AgentError::StructuredOutput { .. } => "StructuredOutputException",
            AgentError::ContextOverflow { .. } => "ContextWindowOverflowException",
            AgentError::MaxTokensReached => "MaxTokensReachedException",
            AgentError::Cancelled => "CancelledError",
        }
    }
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::InvalidInput { message } => write!(f, "invalid input: {message}"),
            AgentError::InvalidConfig { message } => write!(f, "invalid agent configuration: {message}"),
            AgentError::Session(e) => e.fmt(f),
            AgentError::Model(e) => e.fmt(f),
            AgentError::ToolsUnavailable(e) => write!(f, "tools unavailable: {e}"),
            AgentError::StructuredOutput { message } => f.write_str(message),
            AgentError::ContextOverflow { message } => {
                write!(
                    f,
                    "{UnableToTrim} The model's context window is exceeded: {message}"
                )
            }
            AgentError::MaxTokensReached => f.write_str(MAX_TOKENS_TEXT),
            AgentError::Cancelled => f.write_str("invocation cancelled"),
        }
    }
}

impl std::error::Error for AgentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AgentError::Session(e) => Some(e),
            AgentError::Model(e) => Some(e),
            AgentError::ToolsUnavailable(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SessionError> for AgentError {
    fn from(e: SessionError) -> Self {
        AgentError::Session(e)
    }
}

impl From<AgentError> for crate::Error {
    /// `{"error": <text>}` with [`AgentError::status`], typed [`AgentError::kind`].
    fn from(e: AgentError) -> Self {
        crate::Error::http(e.status(), e.to_string()).with_type(e.kind())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn session(kind: SessionErrorKind) -> AgentError {
        AgentError::Session(SessionError::new("s", Some(PathBuf::from("/x")), kind))
    }

    #[test]
    fn statuses_and_kinds() {
        let cases: Vec<(AgentError, u16, &str)> = vec![
            (
                session(SessionErrorKind::InvalidId {
                    what: "session",
                    reason: "it is empty",
                }),
                400,
                "ValueError",
            ),
            (
                session(SessionErrorKind::LockTimeout {
                    waited: Duration::from_secs(1),
                }),
                409,
                "ConcurrencyException",
            ),
            (session(SessionErrorKind::SymlinkRefused), 500, "SessionException"),
            (
                AgentError::Model(ModelError::Provider {
                    status: 500,
                    message: "upstream exploded".into(),
                    body: None,
                }),
                502,
                "ModelError",
            ),
            (
                AgentError::Model(ModelError::Throttled {
                    message: "slow".into(),
                }),
                502,
                "ModelThrottledException",
            ),
            (
                AgentError::Model(ModelError::Timeout {
                    phase: crate::model::TimeoutPhase::FirstByte,
                    after: Duration::from_secs(1),
                }),
                504,
                "ModelError",
            ),
            (AgentError::MaxTokensReached, 500, "MaxTokensReachedException"),
            (AgentError::Cancelled, 503, "CancelledError"),
        ];
        for (error, status, kind) in cases {
            assert_eq!((error.status(), error.kind()), (status, kind), "{error}");
            let http: crate::Error = error.clone().into();
            assert_eq!(
                (http.status(), http.error_type(), http.message()),
                (status, kind, error.to_string().as_str())
            );
        }
    }
}
