//! Why an invocation failed. What a client is told about it (HTTP status, error type) is the
//! app's business: `app::agent_errors`.

use std::fmt;

use crate::agent::conversation::UnableToTrim;
use crate::model::ModelError;
use crate::session::SessionError;
use crate::structured::StructuredOutputError;
use crate::tools::ToolError;

/// Strands' `MaxTokensReachedException` text (1.62).
pub const MAX_TOKENS_TEXT: &str = "Model stopped generating due to maximum token limit. \
The partial message has been added to the conversation history. \
You can continue by calling the agent again. \
For more information see: \
https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception";

/// An invocation or agent-construction failure. Its `Display` text says what went wrong;
/// the causes (session, model, tool errors) are its [`source`](std::error::Error::source).
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
    StructuredOutput(StructuredOutputError),
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

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::InvalidInput { message } => write!(f, "invalid input: {message}"),
            AgentError::InvalidConfig { message } => write!(f, "invalid agent configuration: {message}"),
            AgentError::Session(e) => e.fmt(f),
            AgentError::Model(e) => e.fmt(f),
            AgentError::ToolsUnavailable(e) => write!(f, "tools unavailable: {e}"),
            AgentError::StructuredOutput(e) => e.fmt(f),
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
            AgentError::StructuredOutput(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SessionError> for AgentError {
    fn from(e: SessionError) -> Self {
        AgentError::Session(e)
    }
}
