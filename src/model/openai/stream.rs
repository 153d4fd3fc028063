//! Turning `chat.completion.chunk` objects (or one `chat.completion`) into a Strands message,
//! exactly as Strands 1.62's OpenAIModel and event loop do (spec §4.2). Sans-IO: the caller feeds
//! parsed chunks and reads the result; nothing here blocks, reads a clock or panics.
//!
//! Streaming rules: chunks without choices are skipped (but still count as "the last chunk" for
//! usage); reasoning (`reasoning_content`, else `reasoning`) and text deltas build blocks,
//! consecutive deltas of one kind joined; tool-call deltas are buffered by `index`; the first chunk
//! with a `finish_reason` ends the content, and what follows is only read for the trailing usage
//! chunk. Deltas are reported to `on_event` as they arrive.

use serde_json::{Map, Value};

use super::error::{ErrorDetails, classify};
use crate::model::{ModelError, ModelStreamEvent, StopReason};
use crate::types::{ContentBlock, Message, Reasoning, Role, ToolUse, Usage};

/// A finished parse: the assistant message, why it stopped, and usage.
#[derive(Debug, Clone, PartialEq)]
pub struct Assembled {
    /// The assistant message (reasoning and text blocks, then tool calls).
    pub message: Message,
    /// The stop reason, with Strands' `end_turn` -> `tool_use` override applied.
    pub stop_reason: StopReason,
    /// Usage from the last chunk (or the completion), zeros when there was none.
    pub usage: Usage,
    /// Whether the provider reported usage at all (Strands only fills metrics then).
    pub has_usage: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Reasoning,
    Text,
}

#[derive(Debug, Default)]
struct ToolCallBuffer {
    index: i64,
    id: String,
    name: String,
    arguments: String,
    /// `ToolUseStart` has been reported.
    announced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading content.
    Content,
    /// A `finish_reason` arrived: only the usage of the last chunk still matters.
    Draining,
}

/// Builds one assistant message from streamed chunks.
#[derive(Debug)]
pub struct StreamAssembler {
    blocks: Vec<ContentBlock>,
    open: Option<(BlockKind, String)>,
    tool_calls: Vec<ToolCallBuffer>,
    finish_reason: Option<String>,
    phase: Phase,
    done: bool,
    last_usage: Option<Usage>,
    delivered: bool,
}

impl Default for StreamAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        StreamAssembler {
            blocks: Vec::new(),
            open: None,
            tool_calls: Vec::new(),
            finish_reason: None,
            phase: Phase::Content,
            done: false,
            last_usage: None,
            delivered: false,
        }
    }

    /// Feeds one SSE event payload: `[DONE]` or a JSON chunk.
    pub fn push_data(
        &mut self,
        data: &str,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(), ModelError> {
        if data.starts_with("[DONE]") {
            self.done = true;
            return Ok(());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| ModelError::InvalidResponse {
            message: format!("stream chunk is not valid JSON ({e}): {}", excerpt(data)),
        })?;
        self.push_chunk(&chunk, on_event)
    }

    /// Feeds one parsed chunk. An `{"error": ...}` chunk ends the call with that error.
    pub fn push_chunk(
        &mut self,
        chunk: &Value,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(), ModelError> {
        if chunk.get("error").is_some_and(is_truthy) {
            return Err(classify(None, ErrorDetails::from_stream_chunk(chunk)));
        }
        self.last_usage = chunk.get("usage").and_then(parse_usage);
        if self.phase == Phase::Draining {
            return Ok(());
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        else {
            return Ok(());
        };
        let delta = choice.get("delta");
        let field = |name: &str| {
            delta
                .and_then(|d| d.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };

        if let Some(reasoning) = field("reasoning_content").or_else(|| field("reasoning")) {
            self.append(BlockKind::Reasoning, reasoning);
            self.delivered = true;
            on_event(ModelStreamEvent::ReasoningDelta(reasoning));
        }
        if let Some(text) = field("content") {
            self.append(BlockKind::Text, text);
            self.delivered = true;
            on_event(ModelStreamEvent::TextDelta(text));
        }
        if let Some(calls) = delta.and_then(|d| d.get("tool_calls")).and_then(Value::as_array) {
            for (position, call) in calls.iter().enumerate() {
                self.push_tool_delta(position, call, on_event);
            }
        }
        if let Some(reason) = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            self.finish_reason = Some(reason.to_string());
            self.close_block();
            self.phase = Phase::Draining;
        }
        Ok(())
    }

    /// True once any delta has been reported to `on_event` (a retry would repeat it).
    pub fn delivered(&self) -> bool {
        self.delivered
    }

    /// True once text or reasoning has arrived (Strands' time-to-first-byte point).
    pub fn has_content(&self) -> bool {
        !self.blocks.is_empty() || self.open.is_some()
    }

    /// True once a `finish_reason` arrived: the message is complete.
    pub fn finished(&self) -> bool {
        self.phase == Phase::Draining
    }

    /// True once `[DONE]` arrived: nothing more is to be read.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The assembled result. A stream without a `finish_reason` was cut off, and is an error
    /// rather than a silently partial message: also when it ended with `[DONE]`, which
    /// llama-cpp-python's server sends when a new request interrupts a stream.
    pub fn finish(mut self) -> Result<Assembled, ModelError> {
        if !self.finished() {
            let message = if self.done {
                "the stream ended with [DONE] but no finish_reason: the answer was cut off"
            } else {
                "the stream ended before the model finished (no finish_reason and no [DONE])"
            };
            return Err(ModelError::InvalidResponse {
                message: message.into(),
            });
        }
        self.close_block();
        let mut content = std::mem::take(&mut self.blocks);
        for call in std::mem::take(&mut self.tool_calls) {
            // Strands skips tool calls without an id or name rather than failing the turn.
            if call.id.is_empty() || call.name.is_empty() {
                continue;
            }
            content.push(ContentBlock::ToolUse(ToolUse {
                tool_use_id: call.id,
                name: call.name,
                input: parse_arguments(&call.arguments),
            }));
        }
        Ok(assemble(content, self.finish_reason.as_deref(), self.last_usage))
    }

    fn append(&mut self, kind: BlockKind, text: &str) {
        match &mut self.open {
            Some((open_kind, buffer)) if *open_kind == kind => buffer.push_str(text),
            _ => {
                self.close_block();
                self.open = Some((kind, text.to_string()));
            }
        }
    }

    fn close_block(&mut self) {
        if let Some((kind, text)) = self.open.take() {
            self.blocks.push(match kind {
                BlockKind::Text => ContentBlock::Text(text),
                BlockKind::Reasoning => ContentBlock::Reasoning(Reasoning {
                    text,
                    signature: None,
                }),
            });
        }
    }

    fn push_tool_delta(
        &mut self,
        position: usize,
        call: &Value,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) {
        // The openai SDK requires `index`; a provider that leaves it out gets the array position.
        let index = call
            .get("index")
            .and_then(Value::as_i64)
            .unwrap_or(position as i64);
        let slot = match self.tool_calls.iter().position(|c| c.index == index) {
            Some(slot) => slot,
            None => {
                self.tool_calls.push(ToolCallBuffer {
                    index,
                    ..ToolCallBuffer::default()
                });
                self.tool_calls.len() - 1
            }
        };
        let buffer = &mut self.tool_calls[slot];
        let (id, name, arguments) = tool_call_parts(call);
        // The first id and name win; later deltas only add argument text.
        if buffer.id.is_empty() {
            buffer.id = id.to_string();
        }
        if buffer.name.is_empty() {
            buffer.name = name.to_string();
        }
        buffer.arguments.push_str(arguments);
        if !buffer.announced && !buffer.id.is_empty() && !buffer.name.is_empty() {
            buffer.announced = true;
            self.delivered = true;
            on_event(ModelStreamEvent::ToolUseStart {
                id: &buffer.id,
                name: &buffer.name,
            });
            // Argument text that came before the id and name is reported now, in one piece.
            if !buffer.arguments.is_empty() {
                on_event(ModelStreamEvent::ToolUseInputDelta {
                    id: &buffer.id,
                    delta: &buffer.arguments,
                });
            }
        } else if buffer.announced && !arguments.is_empty() {
            on_event(ModelStreamEvent::ToolUseInputDelta {
                id: &buffer.id,
                delta: arguments,
            });
        }
    }
}

/// Parses a non-streaming `chat.completion` body (`choices[0].message`), reporting its pieces to
/// `on_event` so streaming clients still see them.
pub fn parse_completion(
    body: &Value,
    on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
) -> Result<Assembled, ModelError> {
    if body.get("error").is_some_and(is_truthy) {
        return Err(classify(None, ErrorDetails::from_stream_chunk(body)));
    }
    if !body.is_object() {
        return Err(ModelError::InvalidResponse {
            message: format!("completion is not a JSON object: {}", excerpt(&body.to_string())),
        });
    }
    let choice = body
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let message = choice.and_then(|c| c.get("message"));
    let field = |name: &str| {
        message
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let mut content = Vec::new();
    if let Some(reasoning) = field("reasoning_content").or_else(|| field("reasoning")) {
        on_event(ModelStreamEvent::ReasoningDelta(reasoning));
        content.push(ContentBlock::Reasoning(Reasoning {
            text: reasoning.to_string(),
            signature: None,
        }));
    }
    if let Some(text) = field("content") {
        on_event(ModelStreamEvent::TextDelta(text));
        content.push(ContentBlock::Text(text.to_string()));
    }
    let calls = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for call in calls {
        let (id, name, arguments) = tool_call_parts(call);
        if id.is_empty() || name.is_empty() {
            continue;
        }
        on_event(ModelStreamEvent::ToolUseStart { id, name });
        if !arguments.is_empty() {
            on_event(ModelStreamEvent::ToolUseInputDelta { id, delta: arguments });
        }
        content.push(ContentBlock::ToolUse(ToolUse {
            tool_use_id: id.to_string(),
            name: name.to_string(),
            input: parse_arguments(arguments),
        }));
    }
    let finish_reason = choice
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str);
    Ok(assemble(
        content,
        finish_reason,
        body.get("usage").and_then(parse_usage),
    ))
}

fn assemble(content: Vec<ContentBlock>, finish_reason: Option<&str>, usage: Option<Usage>) -> Assembled {
    let mut stop_reason = match finish_reason {
        Some("tool_calls") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::ContentFiltered,
        _ => StopReason::EndTurn,
    };
    let message = Message::new(Role::Assistant, content);
    // Some models say "stop" while calling tools; the loop must still run them.
    if stop_reason == StopReason::EndTurn && message.has_tool_use() {
        stop_reason = StopReason::ToolUse;
    }
    Assembled {
        message,
        stop_reason,
        has_usage: usage.is_some(),
        usage: usage.unwrap_or_default(),
    }
}

/// Deepest tool arguments we read. Python's `json.loads` (what Strands uses) accepts about a
/// thousand levels; the session store keeps 512 per file, and a message adds a few levels.
const MAX_ARGUMENT_DEPTH: usize = 500;

/// Tool arguments as Strands reads them: blank -> `{}`, invalid JSON -> `{}`, else the value.
pub fn parse_arguments(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    crate::pyjson::from_slice_bounded(arguments.as_bytes(), MAX_ARGUMENT_DEPTH)
        .unwrap_or_else(|_| Value::Object(Map::new()))
}

/// `usage` as Strands maps it; `None` when absent or null.
fn parse_usage(usage: &Value) -> Option<Usage> {
    let usage = usage.as_object()?;
    let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let details = usage.get("prompt_tokens_details").and_then(Value::as_object);
    let detail = |key: &str| details.and_then(|d| d.get(key)).and_then(Value::as_u64);
    Some(Usage {
        input_tokens: count(usage.get("prompt_tokens")),
        output_tokens: count(usage.get("completion_tokens")),
        total_tokens: count(usage.get("total_tokens")),
        cache_read_input_tokens: detail("cached_tokens"),
        cache_write_input_tokens: detail("cache_write_tokens"),
    })
}

/// Python truthiness for a JSON value.
fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn excerpt(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// `id`, `function.name` and `function.arguments` of an OpenAI tool call (or of one delta of
/// it); a missing or non-string field is `""`.
fn tool_call_parts(call: &Value) -> (&str, &str, &str) {
    fn text(value: Option<&Value>) -> &str {
        value.and_then(Value::as_str).unwrap_or_default()
    }
    let function = call.get("function");
    (
        text(call.get("id")),
        text(function.and_then(|f| f.get("name"))),
        text(function.and_then(|f| f.get("arguments"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq)]
    enum Ev {
        Text(String),
        Reasoning(String),
        Start(String, String),
        Args(String, String),
    }

    fn run(chunks: &[Value]) -> (Result<Assembled, ModelError>, Vec<Ev>) {
        let mut events = Vec::new();
        let mut on_event = |e: ModelStreamEvent<'_>| {
            events.push(match e {
                ModelStreamEvent::TextDelta(t) => Ev::Text(t.into()),
                ModelStreamEvent::ReasoningDelta(t) => Ev::Reasoning(t.into()),
                ModelStreamEvent::ToolUseStart { id, name } => Ev::Start(id.into(), name.into()),
                ModelStreamEvent::ToolUseInputDelta { id, delta } => Ev::Args(id.into(), delta.into()),
            })
        };
        let mut a = StreamAssembler::new();
        for c in chunks {
            if let Err(e) = a.push_chunk(c, &mut on_event) {
                return (Err(e), events);
            }
        }
        (a.finish(), events)
    }

    fn delta(d: Value) -> Value {
        json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]})
    }

    fn finish(reason: &str) -> Value {
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
    }

    #[test]
    fn tool_calls_split_across_deltas() {
        let (r, events) = run(&[
            delta(json!({"role": "assistant", "content": null})),
            delta(
                json!({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "two", "arguments": ""}}]}),
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "type": "function", "function": {"name": "one", "arguments": "{\"x\""}}]}),
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "ignored", "function": {"name": "ignored", "arguments": ": 1}"}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": "not json"}}]})),
            delta(json!({"tool_calls": [{"index": 2, "function": {"arguments": "{}"}}]})),
            finish("tool_calls"),
            json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10,
                "prompt_tokens_details": {"cached_tokens": 0}}}),
        ]);
        let r = r.unwrap();
        assert_eq!(
            serde_json::to_value(&r.message.content).unwrap(),
            json!([{"toolUse": {"toolUseId": "b", "name": "two", "input": {}}},
                   {"toolUse": {"toolUseId": "a", "name": "one", "input": {"x": 1}}}])
        );
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 7,
                output_tokens: 3,
                total_tokens: 10,
                cache_read_input_tokens: Some(0),
                cache_write_input_tokens: None
            }
        );
        assert_eq!(
            events,
            [
                Ev::Start("b".into(), "two".into()),
                Ev::Start("a".into(), "one".into()),
                Ev::Args("a".into(), "{\"x\"".into()),
                Ev::Args("a".into(), ": 1}".into()),
                Ev::Args("b".into(), "not json".into()),
            ]
        );
    }

    #[test]
    fn reasoning_and_text_blocks_and_drain() {
        let (r, events) = run(&[
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"reasoning_content": "think "})),
            delta(json!({"reasoning": "more", "reasoning_content": ""})),
            delta(json!({"content": "Hel"})),
            delta(json!({"content": "lo", "reasoning_content": "again"})),
            finish("length"),
            delta(json!({"content": "after finish is ignored"})),
            json!({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}),
        ]);
        let r = r.unwrap();
        assert_eq!(
            serde_json::to_value(&r.message.content).unwrap(),
            json!([{"reasoningContent": {"reasoningText": {"text": "think more"}}}, {"text": "Hel"},
                   {"reasoningContent": {"reasoningText": {"text": "again"}}}, {"text": "lo"}])
        );
        assert_eq!(r.stop_reason, StopReason::MaxTokens);
        assert_eq!(r.usage.total_tokens, 3);
        assert_eq!(events.len(), 5);
    }

    #[test]
    fn finish_reason_mapping_and_override() {
        for (reason, expected) in [
            ("stop", StopReason::EndTurn),
            ("length", StopReason::MaxTokens),
            ("content_filter", StopReason::ContentFiltered),
            ("tool_calls", StopReason::ToolUse),
            ("something_new", StopReason::EndTurn),
        ] {
            let (r, _) = run(&[delta(json!({"content": "x"})), finish(reason)]);
            assert_eq!(r.unwrap().stop_reason, expected, "{reason}");
        }
        let (r, _) = run(&[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "t", "arguments": " "}}]}),
            ),
            finish("stop"),
        ]);
        let r = r.unwrap();
        assert_eq!(r.stop_reason, StopReason::ToolUse);
        assert!(!r.has_usage);
    }

    #[test]
    fn usage_comes_from_the_last_chunk_only() {
        let (r, _) = run(&[
            json!({"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
            json!({"choices": []}),
        ]);
        assert!(!r.unwrap().has_usage);
    }

    #[test]
    fn truncated_stream_and_error_chunk() {
        let (r, _) = run(&[delta(json!({"content": "x"}))]);
        assert!(matches!(r, Err(ModelError::InvalidResponse { .. })), "{r:?}");
        let (r, _) = run(&[json!({"error": {"message": "Rate limit reached", "type": "requests"}})]);
        assert!(matches!(r, Err(ModelError::Throttled { .. })), "{r:?}");
        let mut a = StreamAssembler::new();
        assert!(matches!(
            a.push_data("{nope", &mut |_| {}),
            Err(ModelError::InvalidResponse { .. })
        ));
        a.push_data("[DONE]", &mut |_| {}).unwrap();
        assert!(matches!(a.finish(), Err(ModelError::InvalidResponse { .. })));
        // [DONE] after content but before any finish_reason: cut off, not a complete answer.
        let mut a = StreamAssembler::new();
        a.push_data(&delta(json!({"content": "Once upon"})).to_string(), &mut |_| {})
            .unwrap();
        a.push_data("[DONE]", &mut |_| {}).unwrap();
        let r = a.finish();
        assert!(
            matches!(&r, Err(ModelError::InvalidResponse { message }) if message.contains("[DONE] but no finish_reason")),
            "{r:?}"
        );
    }

    #[test]
    fn non_streaming_completion() {
        let body = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {
            "role": "assistant", "content": "Hi", "reasoning_content": "hmm",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 1}"}},
                           {"id": "", "type": "function", "function": {"name": "x", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}});
        let mut n = 0;
        let r = parse_completion(&body, &mut |_| n += 1).unwrap();
        assert_eq!(
            serde_json::to_value(&r.message.content).unwrap(),
            json!([{"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "Hi"},
                   {"toolUse": {"toolUseId": "c1", "name": "add", "input": {"a": 1}}}])
        );
        assert_eq!(
            (r.stop_reason, r.usage.total_tokens, n),
            (StopReason::ToolUse, 11, 4)
        );
    }

    #[test]
    fn arguments_parsing() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments(" \n"), json!({}));
        assert_eq!(parse_arguments("{bad"), json!({}));
        assert_eq!(parse_arguments(" [1, 2] "), json!([1, 2]));
    }

    /// Random SSE-ish byte soup through the decoder and the assembler: errors are fine, panics
    /// are not. (The same entry points are what a cargo-fuzz target would drive.)
    #[test]
    fn random_input_never_panics() {
        use crate::sse::SseParser;
        const TOKENS: &[&str] = &[
            "data: ",
            "data:",
            "\n",
            "\r",
            "\r\n",
            "\n\n",
            ": c\n",
            "event: x\n",
            "[DONE]",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"choices\"",
            "\"delta\"",
            "\"content\"",
            "\"tool_calls\"",
            "\"index\"",
            "\"id\"",
            "\"function\"",
            "\"arguments\"",
            "\"name\"",
            "\"finish_reason\"",
            "\"usage\"",
            "\"error\"",
            "\"reasoning\"",
            "\"x\"",
            "\"stop\"",
            "0",
            "-1",
            "1e999",
            "null",
            "true",
            "\u{e9}",
            "\u{ff}",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..3000 {
            let mut input = String::new();
            for _ in 0..(next() % 60) {
                input.push_str(TOKENS[(next() % TOKENS.len() as u64) as usize]);
            }
            let mut parser = SseParser::new(256);
            let mut events = Vec::new();
            let mut assembler = StreamAssembler::new();
            let bytes = input.as_bytes();
            let cut = (next() as usize) % (bytes.len() + 1);
            for piece in [&bytes[..cut], &bytes[cut..]] {
                if parser.push(piece, &mut events).is_err() {
                    break;
                }
                for event in events.drain(..) {
                    let _ = assembler.push_data(&event.data, &mut |_| {});
                }
            }
            let _ = assembler.finish();
            if let Ok(v) = serde_json::from_str::<Value>(&input) {
                let _ = parse_completion(&v, &mut |_| {});
            }
        }
    }
}
