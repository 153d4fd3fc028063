//! The spans of an invocation, as Strands 1.62's `strands/telemetry/tracer.py` makes them
//! (recorded in `tests/fixtures/traces/strands-spans.json`): `invoke_agent {name}` for the
//! invocation, `execute_event_loop_cycle` per cycle under it, `chat` per model call and
//! `execute_tool {tool}` per tool call under their cycle; all `INTERNAL`, status `OK` on
//! success, `ERROR` with an `exception` event on a failure (a tool that returns an error result:
//! `ERROR` with its first text and no event). Every span carries `session.id` where Strands
//! carries the agent's `trace_attributes` (what Strands' AgentCore examples put there).
//!
//! The attribute names follow `OTEL_SEMCONV_STABILITY_OPT_IN`: `gen_ai.system` by default,
//! `gen_ai.provider.name` and the latest event shapes with `gen_ai_latest_experimental`.
//! Message content (prompts, answers, tool arguments and results, the system prompt) is recorded
//! only when [`crate::telemetry::TracerSettings::capture_content`] is on; Strands always records
//! it, so with capture off our spans have the same attributes minus those and no message events.

use serde_json::{Value as Json, json};

use crate::agent::error::AgentError;
use crate::agent::result::AgentResult;
use crate::clock::Civil;
use crate::model::{ModelError, ModelResponse};
use crate::pyjson;
use crate::telemetry::{KeyValue, Span, SpanKind, Status, TraceContext, Tracer, Value};
use crate::types::{ContentBlock, Message, Role, ToolResult, ToolSpec, ToolStatus, ToolUse, Usage};

/// What every span of one invocation needs.
pub(super) struct Spans<'a> {
    pub(super) tracer: &'a Tracer,
    pub(super) session_id: &'a str,
    pub(super) model_id: &'a str,
    pub(super) system_prompt: Option<&'a str>,
}

/// The GenAI `system` / `provider.name` value Strands writes.
const PROVIDER: &str = "strands-agents";
/// The latest conventions' event for inputs, outputs and system instructions.
const DETAILS: &str = "gen_ai.client.inference.operation.details";

fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    (key.into(), value.into())
}

/// Python's `json.dumps(..., ensure_ascii=False)`, as Strands' `serialize`.
fn serialize(v: &Json) -> String {
    pyjson::to_string(v)
}

fn content_json(content: &[ContentBlock]) -> Json {
    serde_json::to_value(content).unwrap_or(Json::Null)
}

fn now_iso() -> String {
    Civil::now().iso_micros_utc()
}

/// Strands' `_total_prompt_tokens`: cache counters are added when the provider reports them
/// beside `inputTokens` rather than inside it.
fn prompt_tokens(usage: &Usage) -> u64 {
    if usage.input_tokens + usage.output_tokens == usage.total_tokens {
        usage.input_tokens
    } else {
        usage.input_tokens
            + usage.cache_read_input_tokens.unwrap_or(0)
            + usage.cache_write_input_tokens.unwrap_or(0)
    }
}

/// The schema with `type` as its first key: what Strands records for an MCP tool (the `mcp`
/// client library's Tool model puts it there), other keys in the server's order.
fn type_first(schema: &Json) -> Json {
    match schema.as_object() {
        Some(map) if map.contains_key("type") => {
            let mut ordered = serde_json::Map::with_capacity(map.len());
            ordered.insert("type".into(), map["type"].clone());
            for (k, v) in map {
                if k != "type" {
                    ordered.insert(k.clone(), v.clone());
                }
            }
            Json::Object(ordered)
        }
        _ => schema.clone(),
    }
}

/// A model error's exception type: Strands' exception class where it has one.
fn model_error_type(e: &ModelError) -> &'static str {
    match e {
        ModelError::ContextOverflow { .. } => "ContextWindowOverflowException",
        ModelError::Throttled { .. } => "ModelThrottledException",
        ModelError::Provider { .. } => "ModelProviderError",
        ModelError::Transport { .. } => "ModelTransportError",
        ModelError::Timeout { .. } => "TimeoutError",
        ModelError::InvalidResponse { .. } => "ModelInvalidResponseError",
        ModelError::NotConfigured { .. } => "ModelNotConfiguredError",
        ModelError::Cancelled => "CancelledError",
    }
}

fn agent_error_type(e: &AgentError) -> &'static str {
    match e {
        AgentError::Model(m) => model_error_type(m),
        AgentError::ContextOverflow { .. } => "ContextWindowOverflowException",
        AgentError::MaxTokensReached => "MaxTokensReachedException",
        AgentError::StructuredOutput(_) => "StructuredOutputException",
        AgentError::Session(_) => "SessionException",
        AgentError::ToolsUnavailable(_) => "ToolProviderException",
        AgentError::Cancelled => "CancelledError",
        AgentError::InvalidInput { .. } | AgentError::InvalidConfig { .. } => "ValueError",
    }
}

/// The OTel "parts" of a message's content blocks (Strands' `_map_content_blocks_to_otel_parts`).
fn otel_parts(content: &[ContentBlock]) -> Json {
    let blocks = content_json(content);
    let mut parts = Vec::new();
    for block in blocks.as_array().into_iter().flatten() {
        if let Some(text) = block.get("text") {
            parts.push(json!({"type": "text", "content": text}));
        } else if let Some(call) = block.get("toolUse") {
            parts.push(json!({"type": "tool_call", "name": call["name"], "id": call["toolUseId"], "arguments": call["input"]}));
        } else if let Some(result) = block.get("toolResult") {
            parts.push(json!({"type": "tool_call_response", "id": result["toolUseId"], "response": result["content"]}));
        } else if let Some(map) = block.as_object() {
            for (key, value) in map {
                parts.push(json!({"type": key, "content": value}));
            }
        }
    }
    Json::Array(parts)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// `gen_ai.{role}.message`, or `gen_ai.tool.message` for a message holding tool results.
fn message_event_name(message: &Message) -> String {
    if message
        .content
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    {
        "gen_ai.tool.message".into()
    } else {
        format!("gen_ai.{}.message", role_name(message.role))
    }
}

impl Spans<'_> {
    fn latest(&self) -> bool {
        self.tracer.settings().genai_latest_conventions
    }

    fn capture(&self) -> bool {
        self.tracer.captures_content()
    }

    /// Strands' `_start_span` + `_get_common_attributes` + the trace attributes.
    fn start(&self, name: std::fmt::Arguments<'_>, operation: &'static str, parent: &TraceContext) -> Span {
        let mut span = self.tracer.start_fmt(name, SpanKind::Internal, parent);
        if span.is_recording() {
            span.set("gen_ai.event.start_time", now_iso());
            span.set("gen_ai.operation.name", operation);
            let system_key = if self.latest() {
                "gen_ai.provider.name"
            } else {
                "gen_ai.system"
            };
            span.set(system_key, PROVIDER);
        }
        span
    }

    fn set_session(&self, span: &mut Span) {
        span.set("session.id", self.session_id);
    }

    /// Strands' `_end_span`: the end time, then the status.
    fn finish_ok(span: &mut Span) {
        span.set("gen_ai.event.end_time", now_iso());
        span.set_status(Status::Ok);
    }

    fn finish_error(span: &mut Span, exception_type: &str, message: &str) {
        span.set("gen_ai.event.end_time", now_iso());
        span.record_error(exception_type, message);
    }

    fn system_prompt_event(&self, span: &mut Span) {
        let Some(prompt) = self.system_prompt else { return };
        if self.latest() {
            span.add_event(DETAILS, || {
                vec![kv(
                    "gen_ai.system_instructions",
                    serialize(&json!([{"type": "text", "content": prompt}])),
                )]
            });
        } else {
            span.add_event("gen_ai.system.message", || {
                vec![kv("content", serialize(&json!([{"text": prompt}])))]
            });
        }
    }

    /// Strands' `_add_event_messages`.
    fn message_events(&self, span: &mut Span, messages: &[Message]) {
        if self.latest() {
            span.add_event(DETAILS, || {
                let input: Vec<Json> = messages
                    .iter()
                    .map(|m| json!({"role": role_name(m.role), "parts": otel_parts(&m.content)}))
                    .collect();
                vec![kv("gen_ai.input.messages", serialize(&Json::Array(input)))]
            });
        } else {
            for message in messages {
                span.add_event(&message_event_name(message), || {
                    vec![kv("content", serialize(&content_json(&message.content)))]
                });
            }
        }
    }

    /// `invoke_agent {name}` (Strands' `start_agent_span`), under the request's span; the
    /// prompt's events follow with [`Spans::agent_prompt`] once the session is taken.
    pub(super) fn agent(&self, name: &str, tool_names: &[&str], parent: &TraceContext) -> Span {
        let mut span = self.start(format_args!("invoke_agent {name}"), "invoke_agent", parent);
        if !span.is_recording() {
            return span;
        }
        span.set("gen_ai.agent.name", name);
        span.set("gen_ai.request.model", self.model_id);
        if !tool_names.is_empty() {
            let names: Vec<Json> = tool_names.iter().map(|n| Json::from(*n)).collect();
            span.set("gen_ai.agent.tools", serialize(&Json::Array(names)));
        }
        self.set_session(&mut span);
        span
    }

    /// The system prompt and the invocation's prompt on `invoke_agent`, as Strands records
    /// them when it starts the span (content capture only). A continuation (client tool
    /// results already in the session) has no prompt of its own.
    pub(super) fn agent_prompt(&self, span: &mut Span, prompt: Option<&Message>) {
        if !span.is_recording() || !self.capture() {
            return;
        }
        if self.latest() {
            if let Some(prompt) = self.system_prompt {
                span.set(
                    "gen_ai.system_instructions",
                    serialize(&json!([{"type": "text", "content": prompt}])),
                );
            }
        } else {
            self.system_prompt_event(span);
        }
        if let Some(prompt) = prompt {
            self.message_events(span, std::slice::from_ref(prompt));
        }
    }

    /// Ends `invoke_agent` (Strands' `end_agent_span`): the answer, the accumulated usage.
    pub(super) fn end_agent(&self, mut span: Span, outcome: &Result<AgentResult, AgentError>) {
        if !span.is_recording() {
            return;
        }
        match outcome {
            Ok(result) => {
                if self.capture() {
                    let text = result.text();
                    if self.latest() {
                        span.add_event(DETAILS, || {
                            let out = json!([{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": result.stop_reason}]);
                            vec![kv("gen_ai.output.messages", serialize(&out))]
                        });
                    } else {
                        span.add_event("gen_ai.choice", || {
                            vec![
                                kv("message", text.as_str()),
                                kv("finish_reason", result.stop_reason.as_str()),
                            ]
                        });
                    }
                }
                span.set("gen_ai.event.end_time", now_iso());
                let usage = &result.usage;
                let prompt = prompt_tokens(usage);
                span.set("gen_ai.usage.prompt_tokens", prompt);
                span.set("gen_ai.usage.completion_tokens", usage.output_tokens);
                span.set("gen_ai.usage.input_tokens", prompt);
                span.set("gen_ai.usage.output_tokens", usage.output_tokens);
                span.set("gen_ai.usage.total_tokens", usage.total_tokens);
                let read = usage.cache_read_input_tokens.unwrap_or(0);
                let write = usage.cache_write_input_tokens.unwrap_or(0);
                span.set("gen_ai.usage.cache_read.input_tokens", read);
                span.set("gen_ai.usage.cache_creation.input_tokens", write);
                if !self.latest() {
                    span.set("gen_ai.usage.cache_read_input_tokens", read);
                    span.set("gen_ai.usage.cache_write_input_tokens", write);
                }
                span.set_status(Status::Ok);
            }
            // Strands' `end_span_with_cancellation`: neither success nor failure.
            Err(AgentError::Cancelled) => {
                span.set("strands.cancellation.type", "CancelledError");
            }
            Err(e) => Self::finish_error(&mut span, agent_error_type(e), &e.to_string()),
        }
    }

    /// `execute_event_loop_cycle` (Strands' `start_event_loop_cycle_span`); `messages` is the
    /// history the cycle starts from.
    pub(super) fn cycle(
        &self,
        cycle_id: &str,
        parent_cycle_id: Option<&str>,
        messages: &[Message],
        parent: &TraceContext,
    ) -> Span {
        let mut span = self.start(
            format_args!("execute_event_loop_cycle"),
            "execute_event_loop_cycle",
            parent,
        );
        if !span.is_recording() {
            return span;
        }
        span.set("event_loop.cycle_id", cycle_id);
        self.set_session(&mut span);
        if let Some(parent_cycle_id) = parent_cycle_id {
            span.set("event_loop.parent_cycle_id", parent_cycle_id);
        }
        if self.capture() {
            self.message_events(&mut span, messages);
        }
        span
    }

    /// Ends a cycle (Strands' `end_event_loop_cycle_span`): with the tool results when it ran
    /// tools.
    pub(super) fn end_cycle(&self, mut span: Span, message: &Message, tool_results: Option<&Message>) {
        if !span.is_recording() {
            return;
        }
        if self.capture()
            && let Some(results) = tool_results
        {
            if self.latest() {
                span.add_event(DETAILS, || {
                    let input =
                        json!([{"role": role_name(results.role), "parts": otel_parts(&results.content)}]);
                    vec![kv("gen_ai.input.messages", serialize(&input))]
                });
            } else {
                span.add_event("gen_ai.choice", || {
                    vec![
                        kv("message", serialize(&content_json(&message.content))),
                        kv("tool.result", serialize(&content_json(&results.content))),
                    ]
                });
            }
        }
        Self::finish_ok(&mut span);
    }

    /// Ends a cycle that failed (Strands' `end_span_with_error`).
    pub(super) fn end_cycle_error(&self, mut span: Span, exception_type: &str, message: &str) {
        if span.is_recording() {
            Self::finish_error(&mut span, exception_type, message);
        }
    }

    /// The exception type [`Spans::end_cycle_error`] and the chat span use for a model error.
    pub(super) fn model_error_type(e: &ModelError) -> &'static str {
        model_error_type(e)
    }

    /// `chat` (Strands' `start_model_invoke_span`): `messages` is what the model is sent.
    pub(super) fn chat(&self, messages: &[Message], parent: &TraceContext) -> Span {
        let mut span = self.start(format_args!("chat"), "chat", parent);
        if !span.is_recording() {
            return span;
        }
        self.set_session(&mut span);
        span.set("gen_ai.request.model", self.model_id);
        if self.capture() {
            self.system_prompt_event(&mut span);
            self.message_events(&mut span, messages);
        }
        span
    }

    /// Ends `chat` (Strands' `end_model_invoke_span`, or `end_span_with_error`).
    pub(super) fn end_chat(&self, mut span: Span, outcome: &Result<ModelResponse, ModelError>) {
        if !span.is_recording() {
            return;
        }
        let response = match outcome {
            Ok(response) => response,
            // A cancelled call is neither a success nor a failure: the status stays unset.
            Err(ModelError::Cancelled) => return,
            Err(e) => return Self::finish_error(&mut span, model_error_type(e), &e.to_string()),
        };
        if self.capture() {
            let message = &response.message;
            let finish_reason = response.stop_reason.as_str();
            if self.latest() {
                span.add_event(DETAILS, || {
                    let out = json!([{"role": role_name(message.role), "parts": otel_parts(&message.content), "finish_reason": finish_reason}]);
                    vec![kv("gen_ai.output.messages", serialize(&out))]
                });
            } else {
                span.add_event("gen_ai.choice", || {
                    vec![
                        kv("finish_reason", finish_reason),
                        kv("message", serialize(&content_json(&message.content))),
                    ]
                });
            }
        }
        span.set("gen_ai.event.end_time", now_iso());
        let usage = &response.usage;
        let prompt = prompt_tokens(usage);
        span.set("gen_ai.usage.prompt_tokens", prompt);
        span.set("gen_ai.usage.input_tokens", prompt);
        span.set("gen_ai.usage.completion_tokens", usage.output_tokens);
        span.set("gen_ai.usage.output_tokens", usage.output_tokens);
        span.set("gen_ai.usage.total_tokens", usage.total_tokens);
        if let Some(read) = usage.cache_read_input_tokens {
            span.set("gen_ai.usage.cache_read.input_tokens", read);
            if !self.latest() {
                span.set("gen_ai.usage.cache_read_input_tokens", read);
            }
        }
        if let Some(write) = usage.cache_write_input_tokens {
            span.set("gen_ai.usage.cache_creation.input_tokens", write);
            if !self.latest() {
                span.set("gen_ai.usage.cache_write_input_tokens", write);
            }
        }
        if response.metrics.time_to_first_byte_ms > 0 {
            span.set(
                "gen_ai.server.time_to_first_token",
                response.metrics.time_to_first_byte_ms,
            );
        }
        if response.metrics.latency_ms > 0 {
            span.set("gen_ai.server.request.duration", response.metrics.latency_ms);
        }
        span.set_status(Status::Ok);
    }

    /// `execute_tool {name}` (Strands' `start_tool_call_span` and the executor's description and
    /// schema attributes); `spec` is the tool's when it exists.
    pub(super) fn tool(&self, call: &ToolUse, spec: Option<&ToolSpec>, parent: &TraceContext) -> Span {
        let mut span = self.start(format_args!("execute_tool {}", call.name), "execute_tool", parent);
        if !span.is_recording() {
            return span;
        }
        span.set("gen_ai.tool.name", call.name.as_str());
        span.set("gen_ai.tool.call.id", call.tool_use_id.as_str());
        self.set_session(&mut span);
        let capture = self.capture();
        if capture && self.latest() {
            span.set("gen_ai.tool.call.arguments", serialize(&call.input));
        }
        if let Some(spec) = spec {
            span.set("gen_ai.tool.description", spec.description.as_str());
            span.set(
                "gen_ai.tool.json_schema",
                serialize(&type_first(&spec.input_schema)),
            );
        }
        if capture {
            if self.latest() {
                span.add_event(DETAILS, || {
                    let input = json!([{"role": "tool", "parts": [{"type": "tool_call", "name": call.name, "id": call.tool_use_id, "arguments": call.input}]}]);
                    vec![kv("gen_ai.input.messages", serialize(&input))]
                });
            } else {
                span.add_event("gen_ai.tool.message", || {
                    vec![
                        kv("role", "tool"),
                        kv("content", serialize(&call.input)),
                        kv("id", call.tool_use_id.as_str()),
                    ]
                });
            }
        }
        span
    }

    /// Ends `execute_tool` (Strands' `end_tool_call_span`): an error result is an `ERROR`
    /// status with the result's first text, without an exception event.
    pub(super) fn end_tool(&self, mut span: Span, result: &ToolResult) {
        if !span.is_recording() {
            return;
        }
        let content = serde_json::to_value(&result.content).unwrap_or(Json::Null);
        let is_error = result.status == ToolStatus::Error;
        let status = if is_error { "error" } else { "success" };
        if self.capture() {
            if self.latest() {
                span.add_event(DETAILS, || {
                    let out = json!([{"role": "tool", "parts": [{"type": "tool_call_response", "id": result.tool_use_id, "response": content}]}]);
                    vec![kv("gen_ai.output.messages", serialize(&out))]
                });
            } else {
                span.add_event("gen_ai.choice", || {
                    vec![
                        kv("message", serialize(&content)),
                        kv("id", result.tool_use_id.as_str()),
                    ]
                });
            }
        }
        span.set("gen_ai.event.end_time", now_iso());
        span.set("gen_ai.tool.status", status);
        // The convention scopes the result attribute to successful calls; Strands sets it after
        // the status.
        if self.capture() && self.latest() && !is_error {
            span.set("gen_ai.tool.call.result", serialize(&content));
        }
        if is_error {
            let text = content
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|b| b.get("text").and_then(Json::as_str))
                .unwrap_or("tool returned error status")
                .to_string();
            span.set_status(Status::Error(text));
        } else {
            span.set_status(Status::Ok);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::telemetry::{SpanData, SpanSink, TracerSettings};

    #[derive(Default)]
    struct Collect(Mutex<Vec<SpanData>>);

    impl SpanSink for Collect {
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn shutdown(&self, _: Duration) {}
    }

    fn attribute<'s>(span: &'s SpanData, key: &str) -> Option<&'s Value> {
        span.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn a_cancelled_invocation_is_neither_ok_nor_an_error() {
        let sink = Arc::new(Collect::default());
        let tracer = Tracer::new(TracerSettings::default(), Some(sink.clone() as Arc<dyn SpanSink>));
        let spans = Spans {
            tracer: &tracer,
            session_id: "s",
            model_id: "m",
            system_prompt: None,
        };
        let prompt = Message::user_text("hi");
        let agent = spans.agent("a", &[], &TraceContext::NONE);
        let chat = spans.chat(std::slice::from_ref(&prompt), &agent.context());
        spans.end_chat(chat, &Err(ModelError::Cancelled));
        spans.end_agent(agent, &Err(AgentError::Cancelled));
        let done = sink.0.lock().unwrap();
        assert_eq!(done[0].name, "chat");
        assert_eq!(done[0].status, Status::Unset);
        assert!(done[0].events.is_empty());
        assert_eq!(done[1].status, Status::Unset);
        assert_eq!(
            attribute(&done[1], "strands.cancellation.type"),
            Some(&Value::from("CancelledError"))
        );
    }

    #[test]
    fn schemas_put_type_first_and_prompt_tokens_add_separate_cache_counts() {
        let schema = json!({"properties": {"a": {}}, "required": ["a"], "type": "object", "title": "t"});
        assert_eq!(
            serialize(&type_first(&schema)),
            r#"{"type": "object", "properties": {"a": {}}, "required": ["a"], "title": "t"}"#
        );
        assert_eq!(type_first(&json!(true)), json!(true));
        let inside = Usage {
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 15,
            cache_read_input_tokens: Some(4),
            cache_write_input_tokens: None,
        };
        assert_eq!(prompt_tokens(&inside), 10);
        let beside = Usage {
            total_tokens: 19,
            ..inside
        };
        assert_eq!(prompt_tokens(&beside), 14);
    }
}
