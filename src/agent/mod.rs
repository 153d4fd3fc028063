//! The agent: a blocking model -> tools -> model loop (Strands semantics), knowing nothing of HTTP.
//!
//! [`Agent`] is the entry point: build it once with [`Agent::builder`], share it across worker
//! threads, call [`Agent::invoke`] per request. It drives the layer below: a [`crate::model`], the
//! [`crate::tools`], a [`crate::session`] store and [`crate::structured`] output.

pub mod conversation;
mod error;
mod events;
mod runner;

pub use error::{AgentError, MAX_TOKENS_TEXT};
pub use events::AgentEvent;
pub use runner::{Agent, AgentBuilder, AgentResult, LIMIT_TURNS, Prompt};
