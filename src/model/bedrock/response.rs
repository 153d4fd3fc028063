//! ConverseStream events (or one Converse answer) into a Strands message, as Strands 1.62's
//! event loop assembles them (`event_loop/streaming.py`). Sans-IO: the caller feeds decoded
//! events; nothing here blocks or reads a clock.
//!
//! A Converse answer is first turned into the events Strands derives from it
//! (`convert_non_streaming_to_streaming`), so both paths share one assembler. A message counts
//! only once `messageStop` arrived: a stream that ends before it is an error.

use serde_json::{Map, Value};

use crate::model::openai::stream::parse_arguments;
use crate::model::{ModelError, ModelStreamEvent, StopReason};
use crate::types::{ContentBlock, Message, Reasoning, Role, ToolUse, Usage};

/// A finished answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    /// The assistant message.
    pub message: Message,
    /// `stopReason`, with Strands' `end_turn` -> `tool_use` override.
    pub stop_reason: StopReason,
    /// `metadata.usage`, zeros when absent.
    pub usage: Usage,
    /// `metadata.metrics.latencyMs`.
    pub latency_ms: u64,
}

#[derive(Debug, Default)]
struct Open {
    tool: Option<(String, String)>,
    input: String,
    text: String,
    reasoning: String,
    signature: Option<String>,
    redacted: Option<Value>,
}

/// Builds one assistant message from events.
#[derive(Debug, Default)]
pub struct Assembler {
    blocks: Vec<ContentBlock>,
    open: Open,
    stop: Option<String>,
    usage: Usage,
    latency_ms: u64,
    delivered: bool,
}

fn invalid(message: impl Into<String>) -> ModelError {
    ModelError::InvalidResponse {
        message: message.into(),
    }
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Assembler::default()
    }

    /// True once output reached `on_event` (a retry would repeat it).
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// True once `messageStop` arrived.
    pub fn stopped(&self) -> bool {
        self.stop.is_some()
    }

    /// True once text or reasoning was seen (Strands' time-to-first-byte mark).
    pub fn has_content(&self) -> bool {
        self.delivered
    }

    /// Feeds one event: `kind` is the `:event-type` (the key of a Converse event), `body` its
    /// payload.
    pub fn push(
        &mut self,
        kind: &str,
        body: &Value,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(), ModelError> {
        match kind {
            "messageStart" => {}
            "contentBlockStart" => {
                if let Some(tool) = body.pointer("/start/toolUse") {
                    let field = |k: &str| {
                        tool.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string()
                    };
                    let (id, name) = (field("toolUseId"), field("name"));
                    on_event(ModelStreamEvent::ToolUseStart { id: &id, name: &name });
                    self.delivered = true;
                    self.open.tool = Some((id, name));
                }
            }
            "contentBlockDelta" => {
                let delta = body
                    .get("delta")
                    .and_then(Value::as_object)
                    .ok_or_else(|| invalid("contentBlockDelta without a delta"))?;
                if let Some(input) = delta
                    .get("toolUse")
                    .and_then(|t| t.get("input"))
                    .and_then(Value::as_str)
                {
                    if let Some((id, _)) = &self.open.tool {
                        on_event(ModelStreamEvent::ToolUseInputDelta { id, delta: input });
                    }
                    self.open.input.push_str(input);
                } else if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    on_event(ModelStreamEvent::TextDelta(text));
                    self.delivered = true;
                    self.open.text.push_str(text);
                } else if let Some(r) = delta.get("reasoningContent") {
                    if let Some(text) = r.get("text").and_then(Value::as_str) {
                        on_event(ModelStreamEvent::ReasoningDelta(text));
                        self.delivered = true;
                        self.open.reasoning.push_str(text);
                    }
                    if let Some(sig) = r.get("signature").and_then(Value::as_str) {
                        self.open.signature.get_or_insert_with(String::new).push_str(sig);
                    }
                    if let Some(red) = r.get("redactedContent") {
                        self.open.redacted = Some(red.clone());
                    }
                }
            }
            "contentBlockStop" => self.close_block(),
            "messageStop" => {
                self.close_block();
                let reason = body
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                self.stop = Some(reason.to_string());
            }
            "metadata" => {
                if let Some(u) = body.get("usage") {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64);
                    self.usage = Usage {
                        input_tokens: n("inputTokens").unwrap_or(0),
                        output_tokens: n("outputTokens").unwrap_or(0),
                        total_tokens: n("totalTokens").unwrap_or(0),
                        cache_read_input_tokens: n("cacheReadInputTokens"),
                        cache_write_input_tokens: n("cacheWriteInputTokens"),
                    };
                }
                if let Some(ms) = body.pointer("/metrics/latencyMs").and_then(Value::as_u64) {
                    self.latency_ms = ms;
                }
            }
            // Unknown events are skipped, as botocore's parser yields them and Strands ignores them.
            _ => {}
        }
        Ok(())
    }

    /// Strands' `handle_content_block_stop`: a tool call, else text, else reasoning.
    fn close_block(&mut self) {
        let open = std::mem::take(&mut self.open);
        if let Some((id, name)) = open.tool {
            self.blocks.push(ContentBlock::ToolUse(ToolUse {
                tool_use_id: id,
                name,
                input: parse_arguments(&open.input),
            }));
        } else if !open.text.is_empty() {
            self.blocks.push(ContentBlock::Text(open.text));
        } else if !open.reasoning.is_empty() {
            self.blocks.push(ContentBlock::Reasoning(Reasoning {
                text: open.reasoning,
                signature: open.signature,
            }));
        } else if let Some(red) = open.redacted {
            let mut inner = Map::new();
            inner.insert("redactedContent".into(), red);
            let mut map = Map::new();
            map.insert("reasoningContent".into(), Value::Object(inner));
            self.blocks.push(ContentBlock::Other(map));
        }
    }

    /// The message; an error unless `messageStop` arrived.
    pub fn finish(self) -> Result<Assembled, ModelError> {
        let Some(stop) = self.stop else {
            return Err(invalid("the stream ended before messageStop"));
        };
        let has_tool = self.blocks.iter().any(|b| matches!(b, ContentBlock::ToolUse(_)));
        let stop_reason = match stop.as_str() {
            "tool_use" => StopReason::ToolUse,
            "end_turn" if has_tool => StopReason::ToolUse,
            "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
            "content_filtered" | "guardrail_intervened" => StopReason::ContentFiltered,
            _ => StopReason::EndTurn,
        };
        Ok(Assembled {
            message: Message::new(Role::Assistant, self.blocks),
            stop_reason,
            usage: self.usage,
            latency_ms: self.latency_ms,
        })
    }
}

/// A Converse answer, through the events Strands derives from it.
pub fn parse_converse(
    body: &Value,
    on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
) -> Result<Assembled, ModelError> {
    let content = body
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Converse answer without output.message.content"))?;
    let mut a = Assembler::new();
    let mut push = |a: &mut Assembler, kind: &str, v: Value| a.push(kind, &v, on_event);
    push(&mut a, "messageStart", serde_json::json!({"role": "assistant"}))?;
    for block in content {
        if let Some(tool) = block.get("toolUse") {
            push(
                &mut a,
                "contentBlockStart",
                serde_json::json!({"start": {"toolUse": {"toolUseId": tool.get("toolUseId"), "name": tool.get("name")}}}),
            )?;
            let input = crate::pyjson::to_string(tool.get("input").unwrap_or(&Value::Null));
            push(
                &mut a,
                "contentBlockDelta",
                serde_json::json!({"delta": {"toolUse": {"input": input}}}),
            )?;
        } else if let Some(text) = block.get("text") {
            push(
                &mut a,
                "contentBlockDelta",
                serde_json::json!({"delta": {"text": text}}),
            )?;
        } else if let Some(r) = block.get("reasoningContent") {
            if let Some(t) = r.pointer("/reasoningText/text") {
                push(
                    &mut a,
                    "contentBlockDelta",
                    serde_json::json!({"delta": {"reasoningContent": {"text": t}}}),
                )?;
            }
            if let Some(s) = r
                .pointer("/reasoningText/signature")
                .filter(|s| s.as_str().is_some_and(|s| !s.is_empty()))
            {
                push(
                    &mut a,
                    "contentBlockDelta",
                    serde_json::json!({"delta": {"reasoningContent": {"signature": s}}}),
                )?;
            }
            if let Some(red) = r.get("redactedContent") {
                push(
                    &mut a,
                    "contentBlockDelta",
                    serde_json::json!({"delta": {"reasoningContent": {"redactedContent": red}}}),
                )?;
            }
        }
        push(&mut a, "contentBlockStop", serde_json::json!({}))?;
    }
    let stop = body.get("stopReason").cloned().unwrap_or(Value::Null);
    push(&mut a, "messageStop", serde_json::json!({"stopReason": stop}))?;
    let mut metadata = Map::new();
    for key in ["usage", "metrics"] {
        if let Some(v) = body.get(key) {
            metadata.insert(key.into(), v.clone());
        }
    }
    push(&mut a, "metadata", Value::Object(metadata))?;
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streamed_tool_use_in_fragments_and_text() {
        let mut seen = Vec::new();
        let mut a = Assembler::new();
        let mut on = |e: ModelStreamEvent<'_>| seen.push(format!("{e:?}"));
        for (k, v) in [
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"delta": {"text": "Hi "}, "contentBlockIndex": 0}),
            ),
            (
                "contentBlockDelta",
                json!({"delta": {"text": "there"}, "contentBlockIndex": 0}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            (
                "contentBlockStart",
                json!({"start": {"toolUse": {"toolUseId": "t1", "name": "echo"}}, "contentBlockIndex": 1}),
            ),
            (
                "contentBlockDelta",
                json!({"delta": {"toolUse": {"input": "{\"a\":"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"delta": {"toolUse": {"input": "1}"}}}),
            ),
            ("contentBlockStop", json!({})),
            ("messageStop", json!({"stopReason": "end_turn"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 12}}),
            ),
        ] {
            a.push(k, &v, &mut on).unwrap();
        }
        let done = a.finish().unwrap();
        assert_eq!(done.stop_reason, StopReason::ToolUse);
        assert_eq!(done.usage.total_tokens, 7);
        assert_eq!(done.latency_ms, 12);
        assert_eq!(
            serde_json::to_value(&done.message).unwrap(),
            json!({"role": "assistant", "content": [{"text": "Hi there"}, {"toolUse": {"toolUseId": "t1", "name": "echo", "input": {"a": 1}}}]})
        );
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn no_message_stop_is_an_error() {
        let mut a = Assembler::new();
        a.push("contentBlockDelta", &json!({"delta": {"text": "x"}}), &mut |_| {})
            .unwrap();
        assert!(matches!(a.finish(), Err(ModelError::InvalidResponse { .. })));
    }

    #[test]
    fn converse_answer_with_reasoning() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}},
                {"text": "done"}
            ]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
            "metrics": {"latencyMs": 5}
        });
        let done = parse_converse(&body, &mut |_| {}).unwrap();
        assert_eq!(done.stop_reason, StopReason::MaxTokens);
        assert_eq!(
            serde_json::to_value(&done.message).unwrap()["content"],
            json!([{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "s"}}}, {"text": "done"}])
        );
    }
}
