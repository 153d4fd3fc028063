//! The agent: a blocking model -> tools -> model loop (Strands semantics), knowing nothing of HTTP.
//!
//! [`Agent`] is the entry point: build it once with [`Agent::builder`] (or the binary's default
//! with [`Agent::from_config`]), share it across worker threads, call [`Agent::invoke`] per
//! request. It drives the layer below: a [`crate::model`], the [`crate::tools`], a
//! [`crate::session`] store and [`crate::structured`] output.
//!
//! One invocation is Strands' agent loop (Strands' `event_loop.py`) over a session
//! store; every appended message is written to the session as it is appended, followed by an
//! `agent.json` sync, as Strands' session manager does, so the files match Strands' byte for
//! byte (timestamps, tracking ids and timings aside).
//!
//! Where we knowingly differ from Strands:
//! - Structured output has an attempt cap ([`AgentBuilder::structured_output_max_attempts`]);
//!   Strands lets the model retry forever.
//! - Cancellation ends the invocation with [`AgentError::Cancelled`] instead of a result with stop
//!   reason `cancelled`; the history is left as Strands leaves it (pending tool calls get
//!   "Tool execution cancelled" error results).
//! - A model reply whose stop reason is `tool_use` but that holds no tool call ends the turn like
//!   `end_turn`; Strands appends an empty user message and calls the model again.
//! - The partial message kept after `max_tokens` is stored with our key order (`role` first);
//!   Strands rebuilds that one message as `{"content", "role", ...}`.
//! - A prompt must hold content and no tool blocks; Strands treats an empty block list as
//!   "continue the conversation".
//!
//! The files: `invoke` (the agent, one invocation), `builder`, `from_config`, `run` (the loop),
//! `executor` (a batch of tool calls, tool-name rules), `tools` (where tools come from),
//! `prompt`, `result`, `events`, `error`, `client_tools` (tools the caller runs, for
//! [`Agent::invoke_with`]), and [`conversation`] (the sliding window).

mod builder;
mod client_tools;
pub mod conversation;
mod error;
mod events;
mod executor;
mod from_config;
mod invoke;
mod prompt;
mod result;
mod run;
mod spans;
mod tools;

pub use builder::{AgentBuilder, DEFAULT_AGENT_NAME};
pub use client_tools::{
    CLIENT_TOOL_PLACEHOLDER, ClientTools, MAX_RECORDED_CLIENT_CALLS, Next, StoredSession, is_placeholder,
    recorded_ids,
};
pub use error::{AgentError, MAX_TOKENS_TEXT};
pub use events::AgentEvent;
pub use from_config::{NO_MODEL_MESSAGE, Startup, StartupError};
pub use invoke::Agent;
pub use prompt::Prompt;
pub use result::{AgentResult, LIMIT_TURNS};
