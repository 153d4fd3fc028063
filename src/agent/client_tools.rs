//! Tools the caller runs itself (an AG-UI frontend's tools), as ag-ui-strands runs them on a
//! Strands agent: each is offered to the model for one invocation as a proxy; a call to one is
//! not run here but answered with [`CLIENT_TOOL_PLACEHOLDER`] in the history, and the
//! invocation ends after that tool batch so the caller can run it. The next invocation replaces
//! the stored placeholder with the real result ([`StoredSession::replace_placeholder`]) and
//! continues from the history ([`Next::Continue`]).

use std::collections::HashSet;

use serde_json::Value;

use crate::agent::error::AgentError;
use crate::agent::prompt::Prompt;
use crate::session::SessionWriter;
use crate::types::{ContentBlock, Message, ToolResult, ToolResultContent, ToolSpec, ToolUse};

/// The result a client tool's call gets in the history until the caller's arrives: the text of
/// ag-ui-strands' proxy tools (`PROXY_RESULT_PLACEHOLDER`).
pub const CLIENT_TOOL_PLACEHOLDER: &str = "Forwarded to client";

/// At most this many client call ids are kept recorded (the oldest go first), as
/// ag-ui-strands bounds calls a client never answers (`_FRONTEND_CALL_IDS_MAX`).
pub const MAX_RECORDED_CLIENT_CALLS: usize = 512;

/// Tools offered to the model for one invocation whose calls the caller runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientTools {
    /// What the model is told about each, after the agent's own tools. A name one of the
    /// agent's tools already has fails the invocation ([`AgentError::InvalidInput`]) before
    /// anything is stored: the agent's tool would run and the caller's never.
    pub specs: Vec<ToolSpec>,
    /// The `agent.state` key under which the ids of the calls made to these tools are recorded
    /// (a JSON list, newest last, at most [`MAX_RECORDED_CLIENT_CALLS`]): which stored results
    /// are placeholders the caller may replace.
    pub record_calls_under: Option<String>,
}

impl ClientTools {
    pub(super) fn names(&self) -> HashSet<&str> {
        self.specs.iter().map(|s| s.name.as_str()).collect()
    }

    /// Adds the ids of `calls` to the recorded ones in `state` (an object; anything else is
    /// replaced by one).
    pub(super) fn record<'c>(&self, state: &mut Value, calls: impl Iterator<Item = &'c ToolUse>) {
        let Some(key) = &self.record_calls_under else {
            return;
        };
        let mut ids = recorded_ids(state, key);
        for call in calls {
            if !ids.contains(&call.tool_use_id) {
                ids.push(call.tool_use_id.clone());
            }
        }
        if ids.len() > MAX_RECORDED_CLIENT_CALLS {
            ids.drain(..ids.len() - MAX_RECORDED_CLIENT_CALLS);
        }
        set_state(state, key, ids);
    }
}

/// The ids recorded under `key` in `state`: a list of non-blank strings; anything else reads as
/// none (ag-ui-strands' `recorded_frontend_call_ids`).
pub fn recorded_ids(state: &Value, key: &str) -> Vec<String> {
    match state.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|id| !id.trim().is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn set_state(state: &mut Value, key: &str, ids: Vec<String>) {
    if !state.is_object() {
        *state = Value::Object(serde_json::Map::new());
    }
    if let Some(map) = state.as_object_mut() {
        map.insert(key.to_string(), Value::from(ids));
    }
}

/// What an invocation does after the caller has looked at the stored session.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Append this prompt and run (as [`crate::agent::Agent::invoke`] does).
    Prompt(Prompt),
    /// Call the model on the history as stored (Strands' `stream_async(None)`): for a history
    /// whose last message holds the tool results the caller just completed.
    Continue,
}

/// The session an invocation took, as restored and before anything is appended: what
/// [`crate::agent::Agent::invoke_with`]'s caller reads and corrects to decide how to go on.
pub struct StoredSession<'a> {
    pub(super) messages: &'a mut [Message],
    /// The index in the whole stored history of `messages[0]` (the window's offset).
    pub(super) first_index: u64,
    pub(super) state: &'a mut Value,
    pub(super) writer: &'a mut dyn SessionWriter,
}

impl StoredSession<'_> {
    /// The history the invocation continues from (after the window), as stored.
    pub fn messages(&self) -> &[Message] {
        self.messages
    }

    /// `agent.state`.
    pub fn state(&self) -> &Value {
        self.state
    }

    /// `agent.state`, to change: stored with the invocation's next sync.
    pub fn state_mut(&mut self) -> &mut Value {
        self.state
    }

    /// Puts `result` in place of the stored result of its call when that one is still the
    /// [`CLIENT_TOOL_PLACEHOLDER`], writing the message back (Strands' `update_message`), as
    /// ag-ui-strands reconciles a frontend tool's result. True when the stored result now is
    /// `result` (replaced, or already the same); false when there is no such call or its result
    /// is something else.
    pub fn replace_placeholder(&mut self, result: &ToolResult) -> Result<bool, AgentError> {
        for (position, message) in self.messages.iter_mut().enumerate().rev() {
            let Some(stored) = message.content.iter().position(
                |block| matches!(block, ContentBlock::ToolResult(r) if r.tool_use_id == result.tool_use_id),
            ) else {
                continue;
            };
            let ContentBlock::ToolResult(current) = &message.content[stored] else {
                continue;
            };
            if current.status == result.status && current.content == result.content {
                return Ok(true);
            }
            if !is_placeholder(current) {
                return Ok(false);
            }
            let mut corrected = message.clone();
            corrected.content[stored] = ContentBlock::ToolResult(result.clone());
            let index = self.first_index + position as u64;
            self.writer.replace_message(index, message, &corrected)?;
            *message = corrected;
            return Ok(true);
        }
        Ok(false)
    }
}

/// Whether a stored result is the proxy's placeholder (any text item of it, as ag-ui-strands
/// checks).
pub fn is_placeholder(result: &ToolResult) -> bool {
    result
        .content
        .iter()
        .any(|c| matches!(c, ToolResultContent::Text(t) if t == CLIENT_TOOL_PLACEHOLDER))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn recorded_ids_are_bounded_and_read_strictly() {
        let tools = ClientTools {
            specs: Vec::new(),
            record_calls_under: Some("k".into()),
        };
        let mut state = json!({"other": 1, "k": ["a", " ", 3]});
        assert_eq!(recorded_ids(&state, "k"), ["a"]);
        let calls: Vec<ToolUse> = (0..MAX_RECORDED_CLIENT_CALLS + 1)
            .map(|i| ToolUse {
                tool_use_id: format!("c{i}"),
                name: "f".into(),
                input: json!({}),
            })
            .collect();
        tools.record(&mut state, calls.iter());
        let ids = recorded_ids(&state, "k");
        assert_eq!(ids.len(), MAX_RECORDED_CLIENT_CALLS);
        assert_eq!(ids.first().map(String::as_str), Some("c1"));
        assert_eq!(state["other"], 1);
        let mut not_an_object = json!("x");
        tools.record(&mut not_an_object, calls[..1].iter());
        assert_eq!(not_an_object, json!({"k": ["c0"]}));
        assert!(recorded_ids(&json!({"k": {"legacy": "map"}}), "k").is_empty());
    }
}
