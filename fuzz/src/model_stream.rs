//! `model_stream`: the shared SSE parser as the model client uses it (data only), the stream
//! assembler and `parse_completion`.
//!
//! Control bytes: 0..2 = the decoder's line limit (`0xffff`: the client's 4 MiB), 4..8 = chunking
//! seed.
//!
//! Properties:
//! - `SseParser`: the same events and the same error whatever the chunking (events completed
//!   before an error are kept); no event is longer than the limit; an error is sticky.
//! - `StreamAssembler`, driven as the client's read loop drives it: never panics; what it
//!   reported as deltas is what the message holds (text and reasoning in order, one tool call
//!   per `ToolUseStart`, arguments equal to the reported argument deltas); text and reasoning
//!   come before tool calls, adjacent blocks of one kind are joined; a message with tool calls
//!   stops for `tool_use` unless cut short by length or a filter.
//! - `parse_completion`, on the payload and on every event that is JSON: never panics, events
//!   match the message.

use agentcore_rt::internals::MAX_SSE_LINE_BYTES;
use agentcore_rt::internals::openai_stream::{Assembled, StreamAssembler, parse_arguments, parse_completion};
use agentcore_rt::internals::sse::{SseError, SseParser};
use agentcore_rt::model::{ModelError, ModelStreamEvent, StopReason};
use agentcore_rt::types::{ContentBlock, Message};
use serde_json::Value;

use super::common::{Input, chunkings, from_text, has_line_longer_than, json};

/// Runs every property on one input.
pub fn check(data: &[u8]) {
    let input = Input::new(data);
    let max_line = match input.u16(0) {
        0xffff => MAX_SSE_LINE_BYTES,
        n => usize::from(n % 4096) + 1,
    };
    let mut rng = input.rng();
    let runs: Vec<(Vec<String>, Option<SseError>)> = chunkings(input.payload, &mut rng)
        .iter()
        .map(|pieces| decode(pieces, max_line))
        .collect();
    for run in &runs[1..] {
        assert_eq!(run, &runs[0], "chunking changed the events");
    }
    let (events, error) = &runs[0];
    // Bounded memory: a line over the limit is refused, never buffered.
    if has_line_longer_than(input.payload, max_line) {
        assert!(error.is_some(), "a line over {} bytes was accepted", max_line);
    }
    for event in events {
        assert!(
            event.len() <= max_line,
            "event of {} bytes over the limit {max_line}",
            event.len()
        );
    }
    assemble(events);
    for event in events {
        if let Some(v) = json(event.as_bytes()) {
            completion(&v);
        }
    }
    if let Some(v) = json(input.payload) {
        completion(&v);
    }
}

fn decode(pieces: &[&[u8]], max_line: usize) -> (Vec<String>, Option<SseError>) {
    let mut parser = SseParser::new(max_line);
    let mut events = Vec::new();
    let mut error = None;
    for piece in pieces {
        let mut out = Vec::new();
        let result = parser.push(piece, &mut out);
        events.extend(out.into_iter().map(|event| event.data));
        match (&error, result) {
            (None, Err(e)) => error = Some(e),
            (Some(first), again) => assert_eq!(again.as_ref(), Err(first), "error not sticky"),
            (None, Ok(())) => {}
        }
    }
    (events, error)
}

/// A reported event, owned.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Text(String),
    Reasoning(String),
    Start(String, String),
    Args(String, String),
}

fn record(events: &mut Vec<Ev>) -> impl FnMut(ModelStreamEvent<'_>) + '_ {
    |e| {
        events.push(match e {
            ModelStreamEvent::TextDelta(t) => Ev::Text(t.into()),
            ModelStreamEvent::ReasoningDelta(t) => Ev::Reasoning(t.into()),
            ModelStreamEvent::ToolUseStart { id, name } => Ev::Start(id.into(), name.into()),
            ModelStreamEvent::ToolUseInputDelta { id, delta } => Ev::Args(id.into(), delta.into()),
        })
    }
}

/// Feeds event payloads as `OpenAiModel`'s read loop does.
fn assemble(payloads: &[String]) {
    let mut reported = Vec::new();
    let mut assembler = StreamAssembler::new();
    let mut on_event = record(&mut reported);
    for data in payloads {
        let was_finished = assembler.finished();
        if let Err(error) = assembler.push_data(data, &mut on_event) {
            if was_finished && matches!(error, ModelError::InvalidResponse { .. }) {
                break;
            }
            drop(on_event);
            return;
        }
        assert!(!was_finished || assembler.finished(), "finished went back");
        if assembler.done() {
            break;
        }
    }
    drop(on_event);
    let delivered = assembler.delivered();
    let has_content = assembler.has_content();
    let Ok(assembled) = assembler.finish() else {
        return;
    };
    assert_eq!(delivered, !reported.is_empty());
    let has_text_or_reasoning = assembled
        .message
        .content
        .iter()
        .any(|b| matches!(b, ContentBlock::Text(_) | ContentBlock::Reasoning(_)));
    assert_eq!(has_content, has_text_or_reasoning);
    check_assembled(&assembled, &reported, true);
}

fn completion(body: &Value) {
    let mut reported = Vec::new();
    let result = parse_completion(body, &mut record(&mut reported));
    if let Ok(assembled) = result {
        check_assembled(&assembled, &reported, false);
    }
}

fn check_assembled(assembled: &Assembled, reported: &[Ev], streamed: bool) {
    let message = &assembled.message;
    let joined = |pick: fn(&Ev) -> Option<&str>| reported.iter().filter_map(pick).collect::<String>();
    let text = joined(|e| if let Ev::Text(t) = e { Some(t) } else { None });
    let reasoning = joined(|e| if let Ev::Reasoning(t) = e { Some(t) } else { None });
    let mut block_text = String::new();
    let mut block_reasoning = String::new();
    let mut previous_kind = None;
    let mut seen_tool = false;
    let mut tools = Vec::new();
    for block in &message.content {
        let kind = match block {
            ContentBlock::Text(t) => {
                assert!(!t.is_empty(), "empty text block");
                block_text.push_str(t);
                0
            }
            ContentBlock::Reasoning(r) => {
                assert!(!r.text.is_empty() && r.signature.is_none());
                block_reasoning.push_str(&r.text);
                1
            }
            ContentBlock::ToolUse(t) => {
                seen_tool = true;
                tools.push(t);
                2
            }
            other => panic!("unexpected block {other:?}"),
        };
        if kind != 2 {
            assert!(!seen_tool, "text after a tool call");
            if streamed {
                assert_ne!(
                    previous_kind,
                    Some(kind),
                    "adjacent blocks of one kind not joined"
                );
            }
        }
        previous_kind = Some(kind);
    }
    assert_eq!(block_text, text);
    assert_eq!(block_reasoning, reasoning);

    let starts: Vec<(&str, &str)> = reported
        .iter()
        .filter_map(|e| match e {
            Ev::Start(id, name) => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    let called: Vec<(&str, &str)> = tools
        .iter()
        .map(|t| (t.tool_use_id.as_str(), t.name.as_str()))
        .collect();
    if streamed {
        // Calls are listed by first appearance of their index, announced when id and name are
        // both known: the same set, possibly in another order.
        let mut a = starts.clone();
        let mut b = called.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    } else {
        assert_eq!(starts, called);
    }
    let mut ids: Vec<&str> = called.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() == called.len() {
        for tool in &tools {
            let arguments = joined_args(reported, &tool.tool_use_id);
            assert_eq!(
                tool.input,
                parse_arguments(&arguments),
                "arguments of {}",
                tool.tool_use_id
            );
        }
    }
    for tool in &tools {
        assert!(!tool.tool_use_id.is_empty() && !tool.name.is_empty());
    }

    if message.has_tool_use() {
        assert!(matches!(
            assembled.stop_reason,
            StopReason::ToolUse | StopReason::MaxTokens | StopReason::ContentFiltered
        ));
    }
    if !assembled.has_usage {
        assert_eq!(assembled.usage, Default::default());
    }
    // What the session stores: the message survives its own serde form.
    let stored = serde_json::to_value(message).unwrap();
    let back: Message = from_text(&stored.to_string()).unwrap();
    assert_eq!(&back, message);
}

fn joined_args(reported: &[Ev], id: &str) -> String {
    reported
        .iter()
        .filter_map(|e| match e {
            Ev::Args(i, d) if i == id => Some(d.as_str()),
            _ => None,
        })
        .collect()
}
