//! The conversation data model, shaped exactly as Strands stores it (Bedrock Converse messages).
//!
//! These types are what the session store writes to `message_N.json`, what the conversation
//! window trims and what the model client maps to OpenAI's wire format. Their serde form is the
//! Strands on-disk form, key order included, so a session written here loads in Python and back
//! (Strands' `types/content.py`; the recorded sessions in `tests/fixtures/strands-sessions` pin
//! it down). Block kinds we do not model (video, cachePoint,
//! citations, redacted reasoning, ...) are kept verbatim as `Other` so nothing read from disk is
//! lost in memory.
//!
//! Binary data (images, documents) stays base64 text end to end: it arrives base64 (MCP, data
//! URLs), is stored base64 (`__bytes_encoded__`) and leaves base64 (data URLs), so decoding it
//! would only cost memory.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The caller, or tool results fed back to the model.
    User,
    /// The model.
    Assistant,
}

/// One conversation message (`{"role", "content", "metadata"?, "tracking_id"?}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author of the message.
    pub role: Role,
    /// Content blocks, in order.
    pub content: Vec<ContentBlock>,
    /// Usage and timing; present on assistant messages produced by a model call only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MessageMetadata>,
    /// A uuid4 Strands 1.62+ puts on every message; absent in files written by older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_id: Option<String>,
}

impl Message {
    /// A user message holding one text block.
    pub fn user_text(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![ContentBlock::Text(text.into())],
            metadata: None,
            tracking_id: None,
        }
    }

    /// A message with the given role and blocks, without metadata or tracking id.
    pub fn new(role: Role, content: Vec<ContentBlock>) -> Self {
        Message {
            role,
            content,
            metadata: None,
            tracking_id: None,
        }
    }

    /// The tool calls in this message, in order.
    pub fn tool_uses(&self) -> impl Iterator<Item = &ToolUse> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolUse(t) => Some(t),
            _ => None,
        })
    }

    /// The tool results in this message, in order.
    pub fn tool_results(&self) -> impl Iterator<Item = &ToolResult> {
        self.content.iter().filter_map(|b| match b {
            ContentBlock::ToolResult(t) => Some(t),
            _ => None,
        })
    }

    /// True when any block is a tool call.
    pub fn has_tool_use(&self) -> bool {
        self.content.iter().any(|b| matches!(b, ContentBlock::ToolUse(_)))
    }

    /// True when any block is a tool result.
    pub fn has_tool_result(&self) -> bool {
        self.content
            .iter()
            .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    }

    /// What Strands' `str(AgentResult)` gives for this message: every text block followed by `"\n"`.
    pub fn text_for_result(&self) -> String {
        let mut out = String::new();
        for block in &self.content {
            if let ContentBlock::Text(t) = block {
                out.push_str(t);
                out.push('\n');
            }
        }
        out
    }
}

/// `message.metadata` on model replies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageMetadata {
    /// Token usage of the model call that produced the message.
    #[serde(default)]
    pub usage: Usage,
    /// Timing of that call.
    #[serde(default)]
    pub metrics: Metrics,
}

/// Token usage, Strands' camelCase keys. Cache counters appear only when the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Their sum, as the provider reports it.
    #[serde(default)]
    pub total_tokens: u64,
    /// `prompt_tokens_details.cached_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// `prompt_tokens_details.cache_write_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u64>,
}

impl Usage {
    /// Adds another call's usage to this one (the per-invocation total).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        if let Some(n) = other.cache_read_input_tokens {
            *self.cache_read_input_tokens.get_or_insert(0) += n;
        }
        if let Some(n) = other.cache_write_input_tokens {
            *self.cache_write_input_tokens.get_or_insert(0) += n;
        }
    }
}

/// Timing of one model call. Strands' OpenAI provider never fills `latencyMs` (always 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    /// Always 0 for OpenAI-compatible providers, as in Strands.
    #[serde(default)]
    pub latency_ms: u64,
    /// Milliseconds from sending the request to the first streamed chunk.
    #[serde(default)]
    pub time_to_first_byte_ms: u64,
}

/// A content block: a one-key object on the wire (`{"text": ...}`, `{"toolUse": {...}}`, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// `{"text": "..."}`
    Text(String),
    /// `{"toolUse": {...}}` (assistant)
    ToolUse(ToolUse),
    /// `{"toolResult": {...}}` (user)
    ToolResult(ToolResult),
    /// `{"image": {...}}`
    Image(MediaBlock),
    /// `{"document": {...}}`
    Document(MediaBlock),
    /// `{"reasoningContent": {"reasoningText": {"text", "signature"?}}}`
    Reasoning(Reasoning),
    /// Any other block, kept verbatim (never sent to OpenAI).
    Other(Map<String, Value>),
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    /// Provider-assigned call id, echoed in the result.
    #[serde(rename = "toolUseId")]
    pub tool_use_id: String,
    /// Tool name as the model sent it.
    pub name: String,
    /// Parsed arguments (an object; `{}` when the model sent empty or invalid JSON).
    pub input: Value,
}

/// Outcome of a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolStatus {
    /// The tool ran and produced a result.
    Success,
    /// The tool failed; the content says why (fed back to the model).
    Error,
}

/// A tool result (`{"toolUseId", "status", "content", ...}`).
///
/// MCP results carry extra keys (`structuredContent`, `metadata`, `isError`) that are stored in
/// the session but never sent to the model; Strands writes MCP results with `status` first, plain
/// tool results with `toolUseId` first, and `status_first` keeps that byte-for-byte.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The `toolUseId` of the call this answers.
    pub tool_use_id: String,
    /// Success or error.
    pub status: ToolStatus,
    /// Result items.
    pub content: Vec<ToolResultContent>,
    /// Extra keys after `content`, in order (MCP: `structuredContent`, `metadata`, `isError`).
    pub extra: Map<String, Value>,
    /// Serialize `status` before `toolUseId` (Strands' MCP result order).
    pub status_first: bool,
}

impl ToolResult {
    /// A successful result with one text item.
    pub fn text(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        ToolResult {
            tool_use_id: tool_use_id.into(),
            status: ToolStatus::Success,
            content: vec![ToolResultContent::Text(text.into())],
            extra: Map::new(),
            status_first: false,
        }
    }

    /// An error result with one text item (the text the model sees).
    pub fn error(tool_use_id: impl Into<String>, text: impl Into<String>) -> Self {
        ToolResult {
            status: ToolStatus::Error,
            ..ToolResult::text(tool_use_id, text)
        }
    }
}

/// One item of a tool result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultContent {
    /// `{"text": "..."}`
    Text(String),
    /// `{"json": <value>}`
    Json(Value),
    /// `{"image": {...}}`
    Image(MediaBlock),
    /// `{"document": {...}}`
    Document(MediaBlock),
    /// Anything else, kept verbatim.
    Other(Map<String, Value>),
}

/// An image or document: `{"format", "name"?, "source": {"bytes": ...}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaBlock {
    /// `png`, `jpeg`, `pdf`, ...
    pub format: String,
    /// Documents only: the file name.
    pub name: Option<String>,
    /// Where the bytes are.
    pub source: MediaSource,
}

/// The `source` of a media block.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    /// Inline bytes, held as standard base64 text (stored as `{"__bytes_encoded__": true, "data": ...}`).
    Base64(String),
    /// Any other source (S3 location, ...), kept verbatim; not sent to OpenAI.
    Other(Value),
}

impl MediaBlock {
    /// Number of decoded bytes, computed from the base64 length (used by overflow truncation texts).
    pub fn byte_len(&self) -> usize {
        match &self.source {
            MediaSource::Base64(b64) => {
                let trimmed = b64.trim_end_matches('=');
                trimmed.len() * 3 / 4
            }
            MediaSource::Other(_) => 0,
        }
    }
}

/// Model reasoning text (OpenAI `reasoning_content`); kept in history, dropped on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// The reasoning text.
    pub text: String,
    /// Provider signature, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

// ---- serde: the one-key-object encoding ------------------------------------------------------

fn single_key(map: &Map<String, Value>) -> Option<(&str, &Value)> {
    if map.len() == 1 {
        map.iter().next().map(|(k, v)| (k.as_str(), v))
    } else {
        None
    }
}

impl ContentBlock {
    fn to_value(&self) -> Value {
        match self {
            ContentBlock::Text(t) => json!({ "text": t }),
            ContentBlock::ToolUse(t) => json!({ "toolUse": t }),
            ContentBlock::ToolResult(t) => json!({ "toolResult": t.to_value() }),
            ContentBlock::Image(m) => json!({ "image": m.to_value() }),
            ContentBlock::Document(m) => json!({ "document": m.to_value() }),
            ContentBlock::Reasoning(r) => json!({ "reasoningContent": { "reasoningText": r } }),
            ContentBlock::Other(map) => Value::Object(map.clone()),
        }
    }

    fn from_map(map: Map<String, Value>) -> Result<Self, String> {
        let parsed = match single_key(&map) {
            Some(("text", Value::String(t))) => Some(ContentBlock::Text(t.clone())),
            Some(("toolUse", v)) => Some(ContentBlock::ToolUse(
                ToolUse::from_value(v).map_err(|e| format!("toolUse: {e}"))?,
            )),
            Some(("toolResult", v)) => Some(ContentBlock::ToolResult(ToolResult::from_value(v)?)),
            Some(("image", v)) => MediaBlock::from_value(v).map(ContentBlock::Image),
            Some(("document", v)) => MediaBlock::from_value(v).map(ContentBlock::Document),
            Some(("reasoningContent", Value::Object(r))) => match single_key(r) {
                Some(("reasoningText", v)) => Reasoning::deserialize(v).ok().map(ContentBlock::Reasoning),
                _ => None,
            },
            _ => None,
        };
        Ok(parsed.unwrap_or(ContentBlock::Other(map)))
    }
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(d)?;
        ContentBlock::from_map(map).map_err(D::Error::custom)
    }
}

impl ToolResultContent {
    fn to_value(&self) -> Value {
        match self {
            ToolResultContent::Text(t) => json!({ "text": t }),
            ToolResultContent::Json(v) => json!({ "json": v }),
            ToolResultContent::Image(m) => json!({ "image": m.to_value() }),
            ToolResultContent::Document(m) => json!({ "document": m.to_value() }),
            ToolResultContent::Other(map) => Value::Object(map.clone()),
        }
    }

    fn from_value(v: &Value) -> Result<Self, String> {
        let Value::Object(map) = v else {
            return Err("tool result content item is not an object".into());
        };
        let parsed = match single_key(map) {
            Some(("text", Value::String(t))) => Some(ToolResultContent::Text(t.clone())),
            Some(("json", v)) => Some(ToolResultContent::Json(v.clone())),
            Some(("image", v)) => MediaBlock::from_value(v).map(ToolResultContent::Image),
            Some(("document", v)) => MediaBlock::from_value(v).map(ToolResultContent::Document),
            _ => None,
        };
        Ok(parsed.unwrap_or_else(|| ToolResultContent::Other(map.clone())))
    }
}

impl ToolResult {
    fn to_value(&self) -> Value {
        let mut map = Map::new();
        let status = serde_json::to_value(self.status).unwrap_or(Value::Null);
        if self.status_first {
            map.insert("status".into(), status);
            map.insert("toolUseId".into(), Value::String(self.tool_use_id.clone()));
        } else {
            map.insert("toolUseId".into(), Value::String(self.tool_use_id.clone()));
            map.insert("status".into(), status);
        }
        map.insert(
            "content".into(),
            Value::Array(self.content.iter().map(|c| c.to_value()).collect()),
        );
        for (k, v) in &self.extra {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }

    fn from_value(v: &Value) -> Result<Self, String> {
        let Value::Object(map) = v else {
            return Err("toolResult is not an object".into());
        };
        let tool_use_id = map
            .get("toolUseId")
            .and_then(Value::as_str)
            .ok_or("toolResult without a string toolUseId")?
            .to_string();
        let status = match map.get("status").and_then(Value::as_str) {
            Some("success") => ToolStatus::Success,
            Some("error") => ToolStatus::Error,
            other => {
                return Err(format!(
                    "toolResult status {other:?} is neither success nor error"
                ));
            }
        };
        let content = match map.get("content") {
            Some(Value::Array(items)) => items
                .iter()
                .map(ToolResultContent::from_value)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
            Some(_) => return Err("toolResult content is not an array".into()),
        };
        let status_first = map.keys().position(|k| k == "status") < map.keys().position(|k| k == "toolUseId");
        let extra = map
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "toolUseId" | "status" | "content"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(ToolResult {
            tool_use_id,
            status,
            content,
            extra,
            status_first,
        })
    }
}

impl ToolUse {
    /// Not `ToolUse::deserialize(v)`: serde_json's `Value` deserializer turns an integer literal
    /// past u128 that an f64 prints the same way (`1000000000000000000000000000000000000000`)
    /// into a float, so `input` is cloned rather than deserialized. The fields are still checked
    /// by serde, for its usual error texts.
    fn from_value(v: &Value) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(rename = "toolUseId")]
            tool_use_id: String,
            name: String,
            #[serde(rename = "input")]
            _input: serde::de::IgnoredAny,
        }
        let fields = Fields::deserialize(v)?;
        Ok(ToolUse {
            tool_use_id: fields.tool_use_id,
            name: fields.name,
            input: v.get("input").cloned().unwrap_or_default(),
        })
    }
}

impl Serialize for ToolResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ToolResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ToolResult::from_value(&v).map_err(D::Error::custom)
    }
}

impl Serialize for ToolResultContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ToolResultContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ToolResultContent::from_value(&v).map_err(D::Error::custom)
    }
}

impl MediaBlock {
    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("format".into(), Value::String(self.format.clone()));
        if let Some(name) = &self.name {
            map.insert("name".into(), Value::String(name.clone()));
        }
        let source = match &self.source {
            MediaSource::Base64(data) => json!({ "bytes": { "__bytes_encoded__": true, "data": data } }),
            MediaSource::Other(v) => v.clone(),
        };
        map.insert("source".into(), source);
        Value::Object(map)
    }

    /// `None` when the shape is not one we model; the caller then keeps the block verbatim.
    fn from_value(v: &Value) -> Option<Self> {
        let map = v.as_object()?;
        if map
            .keys()
            .any(|k| !matches!(k.as_str(), "format" | "name" | "source"))
        {
            return None;
        }
        let format = map.get("format")?.as_str()?.to_string();
        let name = match map.get("name") {
            Some(n) => Some(n.as_str()?.to_string()),
            None => None,
        };
        let source = map.get("source")?;
        let bytes = source
            .as_object()
            .and_then(|s| single_key(s))
            .and_then(|(k, b)| (k == "bytes").then_some(b));
        let source = match bytes.and_then(Value::as_object) {
            Some(b) if b.len() == 2 && b.get("__bytes_encoded__") == Some(&Value::Bool(true)) => {
                MediaSource::Base64(b.get("data")?.as_str()?.to_string())
            }
            _ => MediaSource::Other(source.clone()),
        };
        Some(MediaBlock { format, name, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(v: Value) {
        let block: ContentBlock = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    #[test]
    fn blocks_round_trip_with_key_order() {
        roundtrip(json!({"text": "hi"}));
        roundtrip(json!({"toolUse": {"toolUseId": "c1", "name": "add", "input": {"a": 2, "b": 3}}}));
        roundtrip(
            json!({"toolResult": {"toolUseId": "c1", "status": "success", "content": [{"text": "5"}]}}),
        );
        roundtrip(
            json!({"toolResult": {"status": "success", "toolUseId": "c", "content": [{"text": "42"}],
            "structuredContent": {"result": 42}, "metadata": {"k": 1}, "isError": false}}),
        );
        roundtrip(
            json!({"image": {"format": "png", "source": {"bytes": {"__bytes_encoded__": true, "data": "iVBO"}}}}),
        );
        roundtrip(
            json!({"document": {"format": "pdf", "name": "a", "source": {"bytes": {"__bytes_encoded__": true, "data": "JVBE"}}}}),
        );
        roundtrip(json!({"reasoningContent": {"reasoningText": {"text": "hmm"}}}));
        roundtrip(json!({"cachePoint": {"type": "default"}}));
        roundtrip(json!({"image": {"format": "png", "source": {"location": {"type": "s3"}}}}));
    }

    #[test]
    fn known_blocks_parse_into_variants() {
        let b: ContentBlock =
            serde_json::from_value(json!({"toolResult": {"status": "error", "toolUseId": "x",
            "content": [{"text": "boom"}, {"json": {"a": 1}}]}}))
            .unwrap();
        let ContentBlock::ToolResult(r) = b else {
            panic!("not a tool result")
        };
        assert!(r.status_first);
        assert_eq!(r.status, ToolStatus::Error);
        assert_eq!(r.content[1], ToolResultContent::Json(json!({"a": 1})));
    }

    #[test]
    fn huge_integers_in_tool_input_stay_integers() {
        // Found by the session_message fuzz target: read through a `Value`, this literal came back
        // as the float 1e+39.
        let text = r#"{"toolUse": {"toolUseId": "c", "name": "n", "input": {"n": 1000000000000000000000000000000000000000}}}"#;
        let block: ContentBlock = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            text.replace(": ", ":").replace(", ", ",")
        );
        let missing: Result<ContentBlock, _> =
            serde_json::from_str(r#"{"toolUse": {"toolUseId": "c", "name": "n"}}"#);
        assert_eq!(missing.unwrap_err().to_string(), "toolUse: missing field `input`");
    }

    #[test]
    fn result_text_has_trailing_newline_per_block() {
        let m = Message::new(
            Role::Assistant,
            vec![ContentBlock::Text("a".into()), ContentBlock::Text("b".into())],
        );
        assert_eq!(m.text_for_result(), "a\nb\n");
    }
}
