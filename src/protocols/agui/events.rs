//! The agent's events as AG-UI events, in the order and shapes ag-ui-strands 1.0 emits for a
//! Strands agent, each serialised as `ag_ui.core` models serialise (`model_dump_json(by_alias=True)`:
//! camelCase keys in field order, compact, optional fields without a value left out).
//!
//! A run is `RUN_STARTED`, `STATE_SNAPSHOT` when the input carried an object state, then per
//! model turn a text message (`TEXT_MESSAGE_START` / `_CONTENT`... / `_END`, or the
//! `REASONING_*` envelope for reasoning), each tool call as `TOOL_CALL_START` / `_ARGS` / `_END`
//! once the model has finished it and `TOOL_CALL_RESULT` when it has run (a frontend tool's
//! call: no result, and its `_END` after the rest of its batch, as ag-ui-strands defers it),
//! and last
//! `STATE_SNAPSHOT` (the final state) and `RUN_FINISHED`, or `RUN_ERROR` after closing whatever
//! message was open. ag-ui-strands also sends `MESSAGES_SNAPSHOT`s (the conversation so far) and
//! `RAW` events (Strands' own unmapped events, such as model metadata); these are not sent.

use serde_json::{Map, Value, json};

use crate::agent::{AgentEvent, AgentResult};
use crate::types::{ToolResult, ToolResultContent, Usage};

/// The protocol version RUN_STARTED declares: the one ag-ui-protocol 1.0's models were
/// generated from (`ag_ui.core.PROTOCOL_VERSION`).
pub const PROTOCOL_VERSION: &str = "1.0";

/// Which message envelope is open, so the next event knows what to close first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Open {
    None,
    Text(String),
    Reasoning(String),
}

/// Turns one run's agent events into AG-UI events (JSON values, in order).
#[derive(Debug)]
pub struct RunEvents {
    thread_id: String,
    run_id: String,
    open: Open,
    /// The last text message sent: the parent of the tool calls the same turn makes.
    last_text_id: Option<String>,
    /// Frontend calls whose `TOOL_CALL_END` waits for the rest of their batch, as
    /// ag-ui-strands defers it: the client starts running them once it arrives.
    deferred_ends: Vec<String>,
    /// The state the run ends with (the input's: the agent does not change it).
    state: Map<String, Value>,
    new_id: fn() -> String,
}

impl RunEvents {
    /// A translator for the run `run_id` of the thread `thread_id`, with uuid4 message ids.
    pub fn new(thread_id: &str, run_id: &str) -> RunEvents {
        RunEvents::with_ids(thread_id, run_id, crate::ids::uuid4)
    }

    fn with_ids(thread_id: &str, run_id: &str, new_id: fn() -> String) -> RunEvents {
        RunEvents {
            thread_id: thread_id.to_string(),
            run_id: run_id.to_string(),
            open: Open::None,
            last_text_id: None,
            deferred_ends: Vec::new(),
            state: Map::new(),
            new_id,
        }
    }

    /// `RUN_STARTED`, then `STATE_SNAPSHOT` when `state` is an object (without its
    /// `messages` key, which the frontend manages itself, as ag-ui-strands filters it).
    pub fn start(&mut self, state: Option<&Value>) -> Vec<Value> {
        let mut out = vec![event(
            "RUN_STARTED",
            [
                ("threadId", self.thread_id.as_str().into()),
                ("runId", self.run_id.as_str().into()),
                ("protocolVersion", PROTOCOL_VERSION.into()),
            ],
        )];
        if let Some(Value::Object(state)) = state {
            self.state = state.clone();
            let snapshot: Map<String, Value> = state
                .iter()
                .filter(|(k, _)| k.as_str() != "messages")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.push(event("STATE_SNAPSHOT", [("snapshot", Value::Object(snapshot))]));
        }
        out
    }

    /// The AG-UI events one agent event becomes.
    pub fn on_event(&mut self, agent_event: &AgentEvent<'_>) -> Vec<Value> {
        let mut out = Vec::new();
        match agent_event {
            AgentEvent::TextDelta(delta) => {
                let id = match &self.open {
                    Open::Text(id) => id.clone(),
                    _ => {
                        self.close(&mut out);
                        let id = (self.new_id)();
                        out.push(event(
                            "TEXT_MESSAGE_START",
                            [("messageId", id.as_str().into()), ("role", "assistant".into())],
                        ));
                        self.open = Open::Text(id.clone());
                        self.last_text_id = Some(id.clone());
                        id
                    }
                };
                out.push(event(
                    "TEXT_MESSAGE_CONTENT",
                    [("messageId", id.into()), ("delta", (*delta).into())],
                ));
            }
            AgentEvent::ReasoningDelta(delta) => {
                let id = match &self.open {
                    Open::Reasoning(id) => id.clone(),
                    _ => {
                        self.close(&mut out);
                        let id = (self.new_id)();
                        out.push(event("REASONING_START", [("messageId", id.as_str().into())]));
                        out.push(event(
                            "REASONING_MESSAGE_START",
                            [("messageId", id.as_str().into()), ("role", "reasoning".into())],
                        ));
                        self.open = Open::Reasoning(id.clone());
                        id
                    }
                };
                out.push(event(
                    "REASONING_MESSAGE_CONTENT",
                    [("messageId", id.into()), ("delta", (*delta).into())],
                ));
            }
            AgentEvent::ToolUse(call) | AgentEvent::ClientToolUse(call) => {
                self.close(&mut out);
                let id = call.tool_use_id.as_str();
                let mut start = vec![
                    ("toolCallId", Value::from(id)),
                    ("toolCallName", call.name.as_str().into()),
                ];
                if let Some(parent) = &self.last_text_id {
                    start.push(("parentMessageId", parent.as_str().into()));
                }
                out.push(event("TOOL_CALL_START", start));
                out.push(event(
                    "TOOL_CALL_ARGS",
                    [
                        ("toolCallId", id.into()),
                        ("delta", crate::pyjson::to_string_compact(&call.input).into()),
                    ],
                ));
                if matches!(agent_event, AgentEvent::ClientToolUse(_)) {
                    self.deferred_ends.push(id.to_string());
                } else {
                    out.push(event("TOOL_CALL_END", [("toolCallId", id.into())]));
                }
            }
            AgentEvent::ToolResult { result, .. } => {
                self.close(&mut out);
                out.push(event(
                    "TOOL_CALL_RESULT",
                    [
                        ("messageId", (self.new_id)().into()),
                        ("toolCallId", result.tool_use_id.as_str().into()),
                        ("content", result_text(result).into()),
                    ],
                ));
            }
            // AgentEvent is non_exhaustive: a kind this mapping does not know yet has no
            // AG-UI counterpart to send.
            #[allow(unreachable_patterns)]
            _ => {}
        }
        out
    }

    /// Closes the open message, then `RUN_FINISHED` with the outcome `success`, the run's
    /// token usage and, when a structured-output schema is set, its object as `result`.
    pub fn finish(&mut self, result: &AgentResult) -> Vec<Value> {
        let usage = (result.model_calls > 0).then_some(&result.usage);
        self.finish_with(result.structured_output.as_ref(), usage)
    }

    /// [`finish`](RunEvents::finish) for a handler of one's own: the final `STATE_SNAPSHOT`
    /// (the state [`start`](RunEvents::start) was given, `{}` without one, as ag-ui-strands
    /// always sends it), then `RUN_FINISHED` with `result` and `usage` when given.
    pub fn finish_with(&mut self, result: Option<&Value>, usage: Option<&Usage>) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        self.end_deferred(&mut out);
        out.push(event(
            "STATE_SNAPSHOT",
            [("snapshot", Value::Object(self.state.clone()))],
        ));
        let mut fields = vec![
            ("threadId", Value::from(self.thread_id.as_str())),
            ("runId", self.run_id.as_str().into()),
        ];
        if let Some(result) = result {
            fields.push(("result", result.clone()));
        }
        fields.push(("outcome", json!({"type": "success"})));
        if let Some(u) = usage {
            let mut usage = Map::new();
            usage.insert("inputTokens".into(), u.input_tokens.into());
            usage.insert("outputTokens".into(), u.output_tokens.into());
            usage.insert("totalTokens".into(), u.total_tokens.into());
            if let Some(cached) = u.cache_read_input_tokens {
                usage.insert("cachedInputTokens".into(), cached.into());
            }
            fields.push(("usage", Value::Array(vec![Value::Object(usage)])));
        }
        out.push(event("RUN_FINISHED", fields));
        out
    }

    /// Closes the open message, then `RUN_ERROR` with `message` and `code`.
    pub fn fail(&mut self, message: &str, code: &str) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out);
        self.end_deferred(&mut out);
        out.push(event(
            "RUN_ERROR",
            [("message", message.into()), ("code", code.into())],
        ));
        out
    }

    /// The deferred `TOOL_CALL_END`s of frontend calls: the batch is over (the run ends after
    /// it).
    fn end_deferred(&mut self, out: &mut Vec<Value>) {
        for id in std::mem::take(&mut self.deferred_ends) {
            out.push(event("TOOL_CALL_END", [("toolCallId", id.into())]));
        }
    }

    fn close(&mut self, out: &mut Vec<Value>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Text(id) => out.push(event("TEXT_MESSAGE_END", [("messageId", id.into())])),
            Open::Reasoning(id) => {
                out.push(event(
                    "REASONING_MESSAGE_END",
                    [("messageId", id.as_str().into())],
                ));
                out.push(event("REASONING_END", [("messageId", id.into())]));
            }
        }
    }
}

/// An event: `type` first, then its fields in the model's order.
fn event<'a>(kind: &str, fields: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), kind.into());
    for (k, v) in fields {
        map.insert(k.into(), v);
    }
    Value::Object(map)
}

/// `TOOL_CALL_RESULT.content` as ag-ui-strands writes it: the last text block, parsed as JSON
/// when it is JSON, else the JSON block (or the list of non-text blocks), compact JSON text;
/// `""` for a result with no content.
fn result_text(result: &ToolResult) -> String {
    let last_text = result.content.iter().rev().find_map(|c| match c {
        ToolResultContent::Text(t) => Some(t),
        _ => None,
    });
    let value = match last_text {
        Some(text) => serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone())),
        None => {
            let mut rest: Vec<Value> = result
                .content
                .iter()
                .map(|c| match c {
                    ToolResultContent::Json(v) => v.clone(),
                    other => serde_json::to_value(other).unwrap_or(Value::Null),
                })
                .collect();
            match rest.len() {
                0 => return String::new(),
                1 => rest.remove(0),
                _ => Value::Array(rest),
            }
        }
    };
    crate::pyjson::to_string_compact(&value)
}

/// One event as compact JSON text, the SSE `data:` / WebSocket message it travels as.
pub fn to_json_text(event: &Value) -> String {
    crate::pyjson::to_string_compact(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolUse;

    fn ids() -> String {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        format!("m{}", N.fetch_add(1, Ordering::Relaxed))
    }

    fn types(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["type"].as_str().unwrap_or("")).collect()
    }

    #[test]
    fn a_turn_with_text_then_a_tool_call() {
        let mut run = RunEvents::with_ids("t", "r", ids);
        assert_eq!(
            RunEvents::with_ids("t", "r", ids).start(Some(&json!([1]))).len(),
            1
        );
        let start = run.start(Some(&json!({"k": 1, "messages": []})));
        assert_eq!(
            to_json_text(&start[0]),
            r#"{"type":"RUN_STARTED","threadId":"t","runId":"r","protocolVersion":"1.0"}"#
        );
        assert_eq!(
            to_json_text(&start[1]),
            r#"{"type":"STATE_SNAPSHOT","snapshot":{"k":1}}"#
        );
        let mut all = Vec::new();
        all.extend(run.on_event(&AgentEvent::TextDelta("Hé")));
        all.extend(run.on_event(&AgentEvent::TextDelta("llo")));
        let call = ToolUse {
            tool_use_id: "c1".into(),
            name: "add".into(),
            input: json!({"a": 2, "b": 3.5}),
        };
        all.extend(run.on_event(&AgentEvent::ToolUse(&call)));
        let result = ToolResult::text("c1", "5.5");
        all.extend(run.on_event(&AgentEvent::ToolResult {
            name: "add",
            result: &result,
        }));
        assert_eq!(
            types(&all),
            [
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "TOOL_CALL_START",
                "TOOL_CALL_ARGS",
                "TOOL_CALL_END",
                "TOOL_CALL_RESULT"
            ]
        );
        let text_id = all[0]["messageId"].clone();
        assert_eq!(all[0]["role"], "assistant");
        assert_eq!(all[2]["messageId"], text_id);
        assert_eq!(all[4]["parentMessageId"], text_id);
        assert_eq!(
            to_json_text(&all[1]),
            format!(r#"{{"type":"TEXT_MESSAGE_CONTENT","messageId":{text_id},"delta":"Hé"}}"#)
        );
        assert_eq!(all[5]["delta"], r#"{"a":2,"b":3.5}"#);
        assert_eq!(all[7]["content"], "5.5");
        assert_ne!(all[7]["messageId"], text_id);
    }

    #[test]
    fn reasoning_and_failure_close_their_envelopes() {
        let mut run = RunEvents::with_ids("t", "r", ids);
        let mut all = run.on_event(&AgentEvent::ReasoningDelta("hm"));
        all.extend(run.on_event(&AgentEvent::TextDelta("x")));
        all.extend(run.fail("boom", "ModelError"));
        assert_eq!(
            types(&all),
            [
                "REASONING_START",
                "REASONING_MESSAGE_START",
                "REASONING_MESSAGE_CONTENT",
                "REASONING_MESSAGE_END",
                "REASONING_END",
                "TEXT_MESSAGE_START",
                "TEXT_MESSAGE_CONTENT",
                "TEXT_MESSAGE_END",
                "RUN_ERROR"
            ]
        );
        assert_eq!(
            to_json_text(&all[8]),
            r#"{"type":"RUN_ERROR","message":"boom","code":"ModelError"}"#
        );
    }

    #[test]
    fn a_frontend_calls_end_waits_for_its_batch() {
        let mut run = RunEvents::with_ids("t", "r", ids);
        let frontend = ToolUse {
            tool_use_id: "fe".into(),
            name: "change_background".into(),
            input: json!({"color": "blue"}),
        };
        let server = ToolUse {
            tool_use_id: "c1".into(),
            name: "add".into(),
            input: json!({}),
        };
        let mut all = run.on_event(&AgentEvent::ClientToolUse(&frontend));
        all.extend(run.on_event(&AgentEvent::ToolUse(&server)));
        all.extend(run.on_event(&AgentEvent::ToolResult {
            name: "add",
            result: &ToolResult::text("c1", "5"),
        }));
        all.extend(run.finish_with(None, None));
        assert_eq!(
            types(&all),
            [
                "TOOL_CALL_START",
                "TOOL_CALL_ARGS",
                "TOOL_CALL_START",
                "TOOL_CALL_ARGS",
                "TOOL_CALL_END",
                "TOOL_CALL_RESULT",
                "TOOL_CALL_END",
                "STATE_SNAPSHOT",
                "RUN_FINISHED"
            ]
        );
        assert_eq!(
            (&all[4]["toolCallId"], &all[6]["toolCallId"]),
            (&json!("c1"), &json!("fe"))
        );
        // A failure ends the call too: no call is left open.
        let mut failing = RunEvents::with_ids("t", "r", ids);
        let mut all = failing.on_event(&AgentEvent::ClientToolUse(&frontend));
        all.extend(failing.fail("boom", "E"));
        assert_eq!(
            types(&all),
            ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "RUN_ERROR"]
        );
    }

    #[test]
    fn tool_result_content_is_what_ag_ui_strands_writes() {
        let text = |t: &str| result_text(&ToolResult::text("c", t));
        assert_eq!(text("5"), "5");
        assert_eq!(text("hello"), r#""hello""#);
        assert_eq!(text(r#"{"a": [1, 2]}"#), r#"{"a":[1,2]}"#);
        let mut json_only = ToolResult::text("c", "");
        json_only.content = vec![ToolResultContent::Json(json!({"k": "v"}))];
        assert_eq!(result_text(&json_only), r#"{"k":"v"}"#);
        json_only.content.clear();
        assert_eq!(result_text(&json_only), "");
    }
}
