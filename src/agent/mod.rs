//! The agent: a blocking model -> tools -> model loop (Strands semantics), knowing nothing of HTTP.
//!
//! [`Agent`] is the entry point: build it once with [`Agent::builder`], share it across worker
//! threads, call [`Agent::invoke`] per request. The submodules are its parts: the message model,
//! the model seam and its OpenAI client, tools and MCP, the conversation window, structured output.

pub mod conversation;
mod error;
mod events;
mod memory;
pub mod message;
pub mod model;
mod runner;
pub mod structured;
pub mod tools;

pub use error::{AgentError, MAX_TOKENS_TEXT};
pub use events::AgentEvent;
pub use runner::{Agent, AgentBuilder, AgentResult, LIMIT_TURNS, Prompt};
