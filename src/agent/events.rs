//! What an invocation reports while it runs: the runtime streams these to clients as SSE `data:`
//! events and WebSocket text messages.

use serde_json::{Map, Value};

use crate::types::{ToolResult, ToolStatus, ToolUse};

/// One progress event of [`crate::agent::Agent::invoke`], in the order things happen: text and
/// reasoning deltas while a model call streams, then each complete tool call before any of its
/// batch runs, then each tool result as its call finishes (completion order; the history keeps
/// call order).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AgentEvent<'a> {
    /// A piece of assistant text.
    TextDelta(&'a str),
    /// A piece of model reasoning.
    ReasoningDelta(&'a str),
    /// A complete tool call, reported before it runs.
    ToolUse(&'a ToolUse),
    /// A complete call of one of the invocation's
    /// [`ClientTools`](crate::agent::ClientTools): the caller runs it (nothing here does, and
    /// no [`AgentEvent::ToolResult`] follows); the invocation ends after its batch.
    ClientToolUse(&'a ToolUse),
    /// The result of a tool call.
    ToolResult {
        /// The name the model called.
        name: &'a str,
        /// The result, as stored in the history.
        result: &'a ToolResult,
    },
}

impl AgentEvent<'_> {
    /// The event as the runtime streams it (snake_case keys):
    ///
    /// ```text
    /// {"type": "text", "data": "<delta>"}
    /// {"type": "reasoning", "data": "<delta>"}
    /// {"type": "tool_use", "tool_use_id": "...", "name": "...", "input": {...}}
    /// {"type": "client_tool_use", "tool_use_id": "...", "name": "...", "input": {...}}
    /// {"type": "tool_result", "tool_use_id": "...", "name": "...", "status": "success"|"error",
    ///  "content": [<toolResult content items as stored>]}
    /// ```
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut put = |key: &str, value: Value| {
            map.insert(key.to_string(), value);
        };
        match self {
            AgentEvent::TextDelta(delta) => {
                put("type", "text".into());
                put("data", (*delta).into());
            }
            AgentEvent::ReasoningDelta(delta) => {
                put("type", "reasoning".into());
                put("data", (*delta).into());
            }
            AgentEvent::ToolUse(tool_use) | AgentEvent::ClientToolUse(tool_use) => {
                let kind = match self {
                    AgentEvent::ClientToolUse(_) => "client_tool_use",
                    _ => "tool_use",
                };
                put("type", kind.into());
                put("tool_use_id", tool_use.tool_use_id.as_str().into());
                put("name", tool_use.name.as_str().into());
                put("input", tool_use.input.clone());
            }
            AgentEvent::ToolResult { name, result } => {
                put("type", "tool_result".into());
                put("tool_use_id", result.tool_use_id.as_str().into());
                put("name", (*name).into());
                let status = match result.status {
                    ToolStatus::Success => "success",
                    ToolStatus::Error => "error",
                };
                put("status", status.into());
                put(
                    "content",
                    serde_json::to_value(&result.content).unwrap_or(Value::Array(Vec::new())),
                );
            }
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::types::ToolResultContent;

    #[test]
    fn json_schema_of_each_event() {
        let text = |e: AgentEvent<'_>| crate::pyjson::to_string(&e.to_json());
        assert_eq!(
            text(AgentEvent::TextDelta("Hel")),
            r#"{"type": "text", "data": "Hel"}"#
        );
        assert_eq!(
            text(AgentEvent::ReasoningDelta("hm")),
            r#"{"type": "reasoning", "data": "hm"}"#
        );
        let call = ToolUse {
            tool_use_id: "c1".into(),
            name: "add".into(),
            input: json!({"a": 2, "b": 3}),
        };
        assert_eq!(
            text(AgentEvent::ToolUse(&call)),
            r#"{"type": "tool_use", "tool_use_id": "c1", "name": "add", "input": {"a": 2, "b": 3}}"#
        );
        let mut result = ToolResult::error("c1", "boom");
        result.content.push(ToolResultContent::Json(json!({"k": 1})));
        assert_eq!(
            text(AgentEvent::ToolResult {
                name: "add",
                result: &result
            }),
            r#"{"type": "tool_result", "tool_use_id": "c1", "name": "add", "status": "error", "content": [{"text": "boom"}, {"json": {"k": 1}}]}"#
        );
    }
}
