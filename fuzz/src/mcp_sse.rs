//! `mcp_sse`: the MCP event-stream parser, JSON-RPC classification and tool-result mapping.
//!
//! Control bytes: 0..2 = the parser's event limit (`0xffff`: the client's 32 MiB), 4..8 =
//! chunking seed.
//!
//! Properties:
//! - `SseParser`: the same events and error whatever the chunking (events completed before an
//!   error are kept); no event over the limit; never an empty `data` or `event` name.
//! - `jsonrpc::parse`, on the payload and every event: never panics; a batch gives one message
//!   per element; what it accepts is JSON.
//! - `content::map_call_result`, on every response result and on the payload itself: never
//!   panics, always gives a result shaped as Strands stores it, which survives the message
//!   model's serde round trip; images it emits hold canonical base64 that decodes.
//! - base64: `decode(encode(x)) == x`; a successful decode re-encodes to what decodes the same.

use agentcore_rt::internals::mcp_content::{b64_decode, b64_encode, map_call_result};
use agentcore_rt::internals::mcp_jsonrpc::{self as jsonrpc, Incoming};
use agentcore_rt::internals::sse::{SseError, SseEvent, SseParser};
use agentcore_rt::types::{MediaSource, ToolResult, ToolResultContent, ToolStatus};
use serde_json::{Value, json};

use super::common::{Input, chunkings, from_text, has_line_longer_than, json, json_unbounded};

/// The client's limit for one message (`jsonrpc::MAX_MESSAGE_BYTES`).
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;
/// `jsonrpc::MAX_NESTING`.
const MAX_NESTING: usize = 256;

/// Runs every property on one input.
pub fn check(data: &[u8]) {
    let input = Input::new(data);
    let limit = match input.u16(0) {
        0xffff => MAX_MESSAGE_BYTES,
        n => usize::from(n % 4096) + 1,
    };
    let mut rng = input.rng();
    let runs: Vec<(Vec<SseEvent>, Option<SseError>)> = chunkings(input.payload, &mut rng)
        .iter()
        .map(|pieces| parse_events(pieces, limit))
        .collect();
    for run in &runs[1..] {
        assert_eq!(run, &runs[0], "chunking changed the events");
    }
    let (events, error) = &runs[0];
    // Bounded memory: a line over the limit is refused, never buffered.
    if has_line_longer_than(input.payload, limit) {
        assert!(error.is_some(), "a line over {} bytes was accepted", limit);
    }
    for event in events {
        assert!(event.data.len() <= limit && !event.data.is_empty() && !event.event.is_empty());
        rpc(event.data.as_bytes());
    }
    rpc(input.payload);
    if let Some(v) = json(input.payload) {
        mapped(&v);
    }
    check_base64(input.payload);
}

fn parse_events(pieces: &[&[u8]], limit: usize) -> (Vec<SseEvent>, Option<SseError>) {
    let mut parser = SseParser::new(limit);
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(e) = parser.push(piece, &mut events) {
            return (events, Some(e));
        }
    }
    parser.finish();
    (events, None)
}

fn rpc(bytes: &[u8]) {
    let parsed = jsonrpc::parse(bytes);
    let shallow = agentcore_rt::internals::pyjson::check_depth(bytes, MAX_NESTING).is_ok();
    if shallow && let Some(value) = json_unbounded(bytes) {
        // Legal JSON within the nesting limit is never dropped as "not JSON".
        if let Err(e) = &parsed {
            assert!(!e.starts_with("not JSON") && !e.contains("nested deeper"), "{e}");
        }
        if let Value::Array(items) = &value
            && let Ok(messages) = &parsed
        {
            assert_eq!(items.len(), messages.len());
        }
    }
    let Ok(messages) = parsed else {
        return;
    };
    assert!(shallow, "jsonrpc::parse accepted nesting past {MAX_NESTING}");
    let value = json_unbounded(bytes).expect("jsonrpc::parse accepted what is not JSON");
    match &value {
        Value::Array(items) => assert_eq!(items.len(), messages.len()),
        _ => assert_eq!(messages.len(), 1),
    }
    for message in messages {
        match message {
            Incoming::Response { id, outcome } => {
                assert!(!id.is_null());
                let _ = jsonrpc::id_as_u64(&id);
                if let Ok(result) = outcome {
                    mapped(&result);
                }
            }
            Incoming::Request { id, method } => {
                let reply = jsonrpc::answer_server_request(id.clone(), &method);
                assert_eq!(reply.get("id"), Some(&id));
                assert!(reply.get("result").is_some() != reply.get("error").is_some());
            }
            Incoming::Notification { .. } => {}
        }
    }
}

fn mapped(result: &Value) {
    let server_info = json!({"name": "fuzz", "version": "1"});
    let mapped = map_call_result("call_1", result, &server_info);
    assert_eq!(mapped.tool_use_id, "call_1");
    assert!(mapped.status_first);
    if mapped.extra.is_empty() {
        // The failure shape: one text item, status error.
        assert_eq!(mapped.status, ToolStatus::Error);
        assert!(
            matches!(&mapped.content[..], [ToolResultContent::Text(t)] if t.starts_with("Tool execution failed: "))
        );
    } else {
        let keys: Vec<&str> = mapped.extra.keys().map(String::as_str).collect();
        assert!(keys == ["metadata", "isError"] || keys == ["structuredContent", "metadata", "isError"]);
        assert_eq!(
            mapped.extra.get("isError"),
            Some(&Value::Bool(mapped.status == ToolStatus::Error))
        );
    }
    for item in &mapped.content {
        match item {
            ToolResultContent::Text(_) => {}
            ToolResultContent::Image(image) => {
                let MediaSource::Base64(b64) = &image.source else {
                    panic!("image without bytes: {image:?}");
                };
                let bytes = b64_decode(b64).unwrap();
                assert_eq!(&b64_encode(&bytes), b64, "not canonical base64");
                assert!(["jpeg", "png", "gif", "webp"].contains(&image.format.as_str()));
            }
            other => panic!("unexpected item {other:?}"),
        }
    }
    let stored = serde_json::to_value(&mapped).unwrap();
    assert_eq!(
        stored
            .as_object()
            .and_then(|m| m.keys().next())
            .map(String::as_str),
        Some("status")
    );
    let back: ToolResult = from_text(&stored.to_string()).unwrap();
    assert_eq!(back, mapped);
    assert_eq!(serde_json::to_value(&back).unwrap(), stored);
}

fn check_base64(bytes: &[u8]) {
    let encoded = b64_encode(bytes);
    assert_eq!(encoded.len(), bytes.len().div_ceil(3) * 4);
    assert_eq!(b64_decode(&encoded).as_deref(), Ok(bytes));
    let text = String::from_utf8_lossy(bytes);
    match b64_decode(&text) {
        Ok(decoded) => assert_eq!(b64_decode(&b64_encode(&decoded)), Ok(decoded)),
        Err(e) => assert!(
            e == "Incorrect padding" || e.starts_with("Invalid base64-encoded string"),
            "{e}"
        ),
    }
}
