//! The model seam: what the agent loop needs from a chat model, independent of any provider.
//!
//! `openai` implements it for any OpenAI-compatible chat-completions API. Tests and library users
//! can plug in their own `ChatModel`. Calls are blocking and run on worker threads, never on a
//! coroutine.

pub mod bedrock;
pub mod openai;
mod tool_schema;
pub(crate) mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::telemetry::TraceContext;
use crate::types::{CancelToken, ToolSpec};
use crate::types::{Message, Metrics, Usage};

/// How the model may pick tools (Strands' `tool_choice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// `"auto"`.
    Auto,
    /// Must call some tool: `"required"`.
    Any,
    /// Must call this tool: `{"type":"function","function":{"name": ...}}`.
    Tool(String),
}

/// One model call's input.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequest<'a> {
    /// Sent as the first `system` message when present.
    pub system_prompt: Option<&'a str>,
    /// The conversation, oldest first.
    pub messages: &'a [Message],
    /// Tools offered to the model (`"tools": []` is sent when empty, as Strands does).
    pub tools: &'a [ToolSpec],
    /// `None` leaves `tool_choice` out of the request.
    pub tool_choice: Option<&'a ToolChoice>,
    /// The `chat` span's context: the providers send it as `traceparent` (and `tracestate`,
    /// `baggage`; Bedrock also as `X-Amzn-Trace-Id`). `None` sends no trace headers.
    pub trace: Option<&'a TraceContext>,
}

/// Why the model stopped, mapped from `finish_reason` as Strands does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `stop` or anything unrecognised.
    EndTurn,
    /// `tool_calls`, or any message that contains tool calls.
    ToolUse,
    /// `length`.
    MaxTokens,
    /// `content_filter`.
    ContentFiltered,
}

impl StopReason {
    /// Strands' snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::ToolUse => "tool_use",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContentFiltered => "content_filtered",
        }
    }
}

/// Incremental output while a model call streams (for SSE/WebSocket clients).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModelStreamEvent<'a> {
    /// A piece of assistant text.
    TextDelta(&'a str),
    /// A piece of reasoning text.
    ReasoningDelta(&'a str),
    /// The model started a tool call (first delta of a tool-call index).
    ToolUseStart {
        /// Call id.
        id: &'a str,
        /// Tool name.
        name: &'a str,
    },
    /// A piece of a tool call's JSON arguments.
    ToolUseInputDelta {
        /// Call id.
        id: &'a str,
        /// Argument text fragment.
        delta: &'a str,
    },
}

/// A finished model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelResponse {
    /// The assistant message (content only; the loop adds metadata and tracking id).
    pub message: Message,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Token usage (zeros when the provider sent none).
    pub usage: Usage,
    /// Timing.
    pub metrics: Metrics,
}

/// Which limit a [`ModelError::Timeout`] hit. `Display` gives the name used in error texts
/// (`connect`, `first byte`, `stream idle`, `overall`), which reach clients in error bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutPhase {
    /// DNS resolution or connecting (TCP, proxy tunnel, TLS).
    Connect,
    /// From sending the request to the first byte of the response body.
    FirstByte,
    /// Silence between two reads once the body flows.
    StreamIdle,
    /// The whole call, retries and their backoff included.
    Total,
}

impl TimeoutPhase {
    /// The phase's name in error texts.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::FirstByte => "first byte",
            TimeoutPhase::StreamIdle => "stream idle",
            TimeoutPhase::Total => "overall",
        }
    }
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error underneath a [`ModelError`]; shared, so that the error stays `Clone`.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a model call failed.
///
/// Equality compares what the variants say, not their [`Cause`]s: a cause's text is already
/// part of the message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModelError {
    /// The prompt does not fit the model's context window: the loop trims and retries.
    ContextOverflow {
        /// Provider's message.
        message: String,
    },
    /// Rate limited, after the client's own bounded retries.
    Throttled {
        /// Provider's message.
        message: String,
    },
    /// The provider answered with an error status (after retries for 5xx).
    Provider {
        /// HTTP status.
        status: u16,
        /// Provider's error message (or body, shortened).
        message: String,
        /// Provider's error body as JSON, when it was JSON.
        body: Option<serde_json::Value>,
    },
    /// Could not reach the provider (connect, DNS, TLS, reset), after retries.
    Transport {
        /// What failed.
        message: String,
        /// The HTTP client's error, when there was one ([`std::error::Error::source`]).
        cause: Option<Cause>,
    },
    /// A timeout; `phase` names it.
    Timeout {
        /// Which timeout fired.
        phase: TimeoutPhase,
        /// The configured limit.
        after: Duration,
    },
    /// The provider's answer could not be understood (bad JSON, truncated stream, ...).
    InvalidResponse {
        /// What was wrong.
        message: String,
    },
    /// No model is configured (the binary started without `OPENAI_API_KEY`/`OPENAI_BASE_URL`).
    NotConfigured {
        /// What to set.
        message: String,
    },
    /// The invocation was cancelled (client went away, shutdown).
    Cancelled,
}

impl PartialEq for ModelError {
    fn eq(&self, other: &Self) -> bool {
        use ModelError as E;
        match (self, other) {
            (E::ContextOverflow { message: a }, E::ContextOverflow { message: b })
            | (E::Throttled { message: a }, E::Throttled { message: b })
            | (E::Transport { message: a, .. }, E::Transport { message: b, .. })
            | (E::InvalidResponse { message: a }, E::InvalidResponse { message: b })
            | (E::NotConfigured { message: a }, E::NotConfigured { message: b }) => a == b,
            (
                E::Provider {
                    status: s1,
                    message: m1,
                    body: b1,
                },
                E::Provider {
                    status: s2,
                    message: m2,
                    body: b2,
                },
            ) => (s1, m1, b1) == (s2, m2, b2),
            (E::Timeout { phase: p1, after: a1 }, E::Timeout { phase: p2, after: a2 }) => {
                (p1, a1) == (p2, a2)
            }
            (E::Cancelled, E::Cancelled) => true,
            _ => false,
        }
    }
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::ContextOverflow { message } => write!(f, "model context window exceeded: {message}"),
            ModelError::Throttled { message } => {
                write!(f, "model provider is throttling requests: {message}")
            }
            ModelError::Provider { status, message, .. } => {
                write!(f, "model provider returned HTTP {status}: {message}")
            }
            ModelError::Transport { message, .. } => {
                write!(f, "cannot reach the model provider: {message}")
            }
            ModelError::Timeout { phase, after } => {
                write!(
                    f,
                    "model call timed out ({phase} timeout, {} ms)",
                    after.as_millis()
                )
            }
            ModelError::InvalidResponse { message } => {
                write!(f, "model provider sent an invalid response: {message}")
            }
            ModelError::NotConfigured { message } => write!(f, "no model configured: {message}"),
            ModelError::Cancelled => write!(f, "model call cancelled"),
        }
    }
}

impl std::error::Error for ModelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ModelError::Transport {
                cause: Some(cause), ..
            } => Some(&**cause),
            _ => None,
        }
    }
}

/// A chat model. Implementations must be cheap to share across worker threads.
pub trait ChatModel: Send + Sync {
    /// Runs one model call, blocking until it ends. Streaming implementations report deltas to
    /// `on_event` as they arrive; all implementations return the assembled message.
    ///
    /// Once `cancel` fires (the client left, the server drains) an implementation abandons the
    /// call promptly, closing its connection, and returns [`ModelError::Cancelled`]: nothing
    /// half-generated is returned.
    fn converse(
        &self,
        request: &ModelRequest<'_>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<ModelResponse, ModelError>;

    /// Model id, for logs and the final event.
    fn model_id(&self) -> &str;
}
