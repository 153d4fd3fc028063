//! [`AgentResult`]: how an invocation ended, and the texts the runtime answers with.

use serde_json::{Value, json};

use crate::types::{Message, Usage};

/// The stop reason of an invocation ended by
/// [`AgentBuilder::max_cycles`](crate::agent::AgentBuilder::max_cycles) (Strands 1.62 `limits`).
pub const LIMIT_TURNS: &str = "limit_turns";

/// How an invocation ended (Strands' `AgentResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentResult {
    /// `end_turn`, `tool_use` (structured output delivered by its tool), `stop_sequence`,
    /// `content_filtered`, or [`LIMIT_TURNS`].
    pub stop_reason: String,
    /// The last model message (for `limit_turns`, the last message of the history).
    pub message: Message,
    /// Token usage summed over this invocation's model calls.
    pub usage: Usage,
    /// The structured output, shaped as pydantic's `model_dump()`, when one was requested.
    pub structured_output: Option<Value>,
    /// Model calls that returned a message in this invocation.
    pub model_calls: usize,
}

impl AgentResult {
    /// Strands' `str(result)`: the structured output as compact JSON (pydantic's
    /// `model_dump_json()`), else every text block of the message followed by `"\n"`.
    pub fn text(&self) -> String {
        match &self.structured_output {
            Some(output) => crate::pyjson::to_string_compact(output),
            None => self.message.text_for_result(),
        }
    }

    /// What the Python seed app returns: the structured output, else `{"response": text()}`.
    pub fn response_value(&self) -> Value {
        match &self.structured_output {
            Some(output) => output.clone(),
            None => json!({ "response": self.text() }),
        }
    }
}
