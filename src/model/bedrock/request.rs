//! The Converse / ConverseStream request body, built exactly as Strands 1.62's `BedrockModel`
//! builds it (`format_request`, `_format_bedrock_messages`, `_format_request_message_content`).
//!
//! Bedrock validates content blocks strictly and rejects unknown fields, so, as Strands does,
//! every block is rebuilt from the fields Bedrock accepts; blocks it cannot take (non-S3
//! locations, reasoning the model would refuse) are dropped, and a message left empty goes too.
//! Keys follow Strands' dict order, which botocore keeps on the wire. The model id is not in the
//! body: botocore moves it into the path.

use serde_json::{Map, Value, json};

use crate::model::tool_schema::normalize_schema;
use crate::model::{ModelRequest, ToolChoice};
use crate::types::{
    ContentBlock, MediaBlock, MediaSource, Message, Reasoning, Role, ToolResult, ToolResultContent, ToolSpec,
};

/// Strands' `BedrockConfig` keys read from `MODEL_PARAMS`.
pub const KNOWN_PARAMS: &[&str] = &[
    "max_tokens",
    "temperature",
    "top_p",
    "stop_sequences",
    "additional_request_fields",
    "additional_response_field_paths",
    "additional_args",
    "include_tool_result_status",
    "service_tier",
];

/// Models that get `status` in tool results (Strands' `_MODELS_INCLUDE_STATUS`).
const MODELS_INCLUDE_STATUS: &[&str] = &["anthropic.claude"];

/// Models that get JSON tool results as text (Strands' `_MODELS_CONVERT_JSON_TO_TEXT`).
const MODELS_CONVERT_JSON_TO_TEXT: &[&str] = &["amazon.nova"];

/// Models that reject replayed `reasoningText` (Strands' `_MODELS_REJECT_REASONING_TEXT`).
const MODELS_REJECT_REASONING_TEXT: &[&str] = &[
    "amazon.nova-lite",
    "amazon.nova-pro",
    "google.gemma",
    "meta.llama",
    "mistral.devstral",
    "mistral.ministral",
    "mistral.mistral-large",
    "nvidia.nemotron-nano-9b",
    "nvidia.nemotron-super",
    "openai.gpt-5",
    "openai.gpt-6",
    "qwen.qwen3-235b",
    "qwen.qwen3-coder",
    "writer.palmyra",
    "xai.grok",
];

/// The complete JSON body for `request`.
pub fn build_body(model_id: &str, params: &Map<String, Value>, request: &ModelRequest<'_>) -> Value {
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(format_messages(model_id, params, request.messages)),
    );
    let system = request
        .system_prompt
        .map(|text| vec![json!({ "text": text })])
        .unwrap_or_default();
    body.insert("system".into(), Value::Array(system));
    if let Some(tier) = params.get("service_tier").filter(|v| truthy(v)) {
        body.insert("serviceTier".into(), json!({ "type": tier }));
    }
    // Strands' tool registry normalises every spec (and leaves out one nested too deep) before
    // BedrockModel sees it; the noop BedrockModel adds itself is sent as written.
    let spec = |t: &ToolSpec, schema: Value| json!({"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": schema}}});
    let mut specs: Vec<Value> = request
        .tools
        .iter()
        .filter_map(|t| Some(spec(t, normalize_schema(&t.input_schema, 0)?)))
        .collect();
    // Bedrock refuses tool blocks in a conversation without a toolConfig: Strands offers a noop.
    if specs.is_empty()
        && request
            .messages
            .iter()
            .any(|m| m.has_tool_use() || m.has_tool_result())
    {
        let noop = noop_tool();
        specs.push(spec(&noop, noop.input_schema.clone()));
    }
    if !specs.is_empty() {
        body.insert(
            "toolConfig".into(),
            json!({"tools": specs, "toolChoice": tool_choice(request.tool_choice)}),
        );
    }
    if let Some(fields) = additional_request_fields(params, request.tool_choice) {
        body.insert("additionalModelRequestFields".into(), fields);
    }
    if let Some(paths) = params
        .get("additional_response_field_paths")
        .filter(|v| truthy(v))
    {
        body.insert("additionalModelResponseFieldPaths".into(), paths.clone());
    }
    let mut inference = Map::new();
    for (ours, theirs) in [
        ("max_tokens", "maxTokens"),
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("stop_sequences", "stopSequences"),
    ] {
        if let Some(v) = params.get(ours).filter(|v| !v.is_null()) {
            inference.insert(theirs.into(), v.clone());
        }
    }
    body.insert("inferenceConfig".into(), Value::Object(inference));
    if let Some(Value::Object(extra)) = params.get("additional_args") {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    Value::Object(body)
}

/// Python truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(n) => n.as_f64() != Some(0.0),
    }
}

fn tool_choice(choice: Option<&ToolChoice>) -> Value {
    match choice {
        None | Some(ToolChoice::Auto) => json!({"auto": {}}),
        Some(ToolChoice::Any) => json!({"any": {}}),
        Some(ToolChoice::Tool(name)) => json!({"tool": {"name": name}}),
    }
}

/// Strands' `_get_additional_request_fields`: `thinking` is left out while a tool is forced,
/// which Bedrock does not allow together.
fn additional_request_fields(params: &Map<String, Value>, choice: Option<&ToolChoice>) -> Option<Value> {
    let fields = params.get("additional_request_fields").filter(|v| truthy(v))?;
    let forcing = matches!(choice, Some(ToolChoice::Any | ToolChoice::Tool(_)));
    match fields {
        Value::Object(map) if forcing && map.contains_key("thinking") => {
            let rest: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| *k != "thinking")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (!rest.is_empty()).then_some(Value::Object(rest))
        }
        other => Some(other.clone()),
    }
}

/// Strands' `noop_tool` spec.
fn noop_tool() -> ToolSpec {
    ToolSpec {
        name: "noop".into(),
        description: "This is a fake tool that MUST be completely ignored.".into(),
        input_schema: json!({"properties": {}, "type": "object"}),
    }
}

fn format_messages(model_id: &str, params: &Map<String, Value>, messages: &[Message]) -> Vec<Value> {
    let options = Options::new(model_id, params);
    messages
        .iter()
        .filter_map(|message| {
            let content: Vec<Value> = message
                .content
                .iter()
                .filter_map(|block| options.block(block))
                .collect();
            let role = match message.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            (!content.is_empty()).then(|| json!({"content": content, "role": role}))
        })
        .collect()
}

struct Options<'a> {
    model_id: &'a str,
    include_status: bool,
    json_as_text: bool,
}

impl<'a> Options<'a> {
    fn new(model_id: &'a str, params: &Map<String, Value>) -> Self {
        let include_status = match params.get("include_tool_result_status") {
            Some(Value::Bool(b)) => *b,
            _ => MODELS_INCLUDE_STATUS.iter().any(|m| model_id.contains(m)),
        };
        Options {
            model_id,
            include_status,
            json_as_text: MODELS_CONVERT_JSON_TO_TEXT.iter().any(|m| model_id.contains(m)),
        }
    }

    /// Strands' `_rejects_reasoning_block` for a `reasoningText` block.
    fn rejects_reasoning(&self, reasoning: &Reasoning) -> bool {
        let id = self.model_id.to_lowercase();
        if id.contains("deepseek") {
            return true;
        }
        let signed = reasoning.signature.as_deref().is_some_and(|s| !s.is_empty());
        if id.contains("anthropic") || id.contains("claude") {
            return !signed;
        }
        if id.starts_with("arn:") || !id.contains('.') {
            return false;
        }
        if MODELS_REJECT_REASONING_TEXT.iter().any(|m| id.contains(m)) {
            return true;
        }
        signed
    }

    fn block(&self, block: &ContentBlock) -> Option<Value> {
        match block {
            ContentBlock::Text(t) => Some(json!({"text": t})),
            ContentBlock::ToolUse(t) => Some(json!({"toolUse": {
                "input": if t.input.is_object() { t.input.clone() } else { json!({}) },
                "name": t.name,
                "toolUseId": t.tool_use_id,
            }})),
            ContentBlock::ToolResult(r) => Some(json!({"toolResult": self.tool_result(r)})),
            ContentBlock::Image(m) => media(m, false).map(|m| json!({"image": m})),
            ContentBlock::Document(m) => media(m, true).map(|m| json!({"document": m})),
            ContentBlock::Reasoning(r) => {
                if self.rejects_reasoning(r) {
                    return None;
                }
                let mut text = Map::new();
                text.insert("text".into(), Value::String(r.text.clone()));
                if let Some(sig) = r.signature.as_ref().filter(|s| !s.is_empty()) {
                    text.insert("signature".into(), Value::String(sig.clone()));
                }
                Some(json!({"reasoningContent": {"reasoningText": text}}))
            }
            ContentBlock::Other(map) => other_block(map),
        }
    }

    fn tool_result(&self, r: &ToolResult) -> Value {
        let mut content: Vec<Value> = r
            .content
            .iter()
            .filter_map(|item| match item {
                ToolResultContent::Text(t) => Some(json!({"text": t})),
                ToolResultContent::Json(v) if self.json_as_text => {
                    Some(json!({"text": crate::pyjson::to_string(v)}))
                }
                ToolResultContent::Json(v) => Some(json!({"json": v})),
                ToolResultContent::Image(m) => media(m, false).map(|m| json!({"image": m})),
                ToolResultContent::Document(m) => media(m, true).map(|m| json!({"document": m})),
                ToolResultContent::Other(map) => other_block(map),
            })
            .collect();
        if r.content.is_empty() {
            content.push(json!({"text": ""}));
        }
        let mut out = Map::new();
        out.insert("content".into(), Value::Array(content));
        out.insert("toolUseId".into(), Value::String(r.tool_use_id.clone()));
        if self.include_status {
            let status = match r.status {
                crate::types::ToolStatus::Success => "success",
                crate::types::ToolStatus::Error => "error",
            };
            out.insert("status".into(), Value::String(status.into()));
        }
        Value::Object(out)
    }
}

/// An image's or document's accepted fields; `None` when its source is not bytes or S3.
fn media(m: &MediaBlock, document: bool) -> Option<Value> {
    let source = match &m.source {
        MediaSource::Base64(b64) => json!({"bytes": b64}),
        MediaSource::Other(v) => location(v.get("location")?)?,
    };
    let mut out = Map::new();
    if document {
        if let Some(name) = &m.name {
            out.insert("name".into(), Value::String(name.clone()));
        }
        out.insert("format".into(), Value::String(m.format.clone()));
        out.insert("source".into(), source);
    } else {
        out.insert("format".into(), Value::String(m.format.clone()));
        out.insert("source".into(), source);
    }
    Some(Value::Object(out))
}

/// Strands' `_handle_location`: only S3 locations reach Bedrock.
fn location(loc: &Value) -> Option<Value> {
    if loc.get("type").and_then(Value::as_str) != Some("s3") {
        return None;
    }
    let mut s3 = Map::new();
    s3.insert("uri".into(), loc.get("uri")?.clone());
    if let Some(owner) = loc.get("bucketOwner") {
        s3.insert("bucketOwner".into(), owner.clone());
    }
    Some(json!({"s3Location": s3}))
}

/// Blocks kept verbatim in history: the kinds Bedrock knows are trimmed to their accepted
/// fields; unknown SDK members are dropped.
fn other_block(map: &Map<String, Value>) -> Option<Value> {
    let (kind, value) = map.iter().next()?;
    match kind.as_str() {
        "SDK_UNKNOWN_MEMBER" => None,
        "cachePoint" => {
            let mut point = Map::new();
            point.insert("type".into(), value.get("type")?.clone());
            if let Some(ttl) = value.get("ttl").filter(|v| truthy(v)) {
                point.insert("ttl".into(), ttl.clone());
            }
            Some(json!({"cachePoint": point}))
        }
        "reasoningContent" => {
            let redacted = value.get("redactedContent")?;
            Some(json!({"reasoningContent": {"redactedContent": redacted}}))
        }
        _ => Some(Value::Object(map.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolUse;

    #[test]
    fn a_tool_turn_maps_as_strands_maps_it() {
        let messages = vec![
            Message::user_text("hi"),
            Message::new(
                Role::Assistant,
                vec![
                    ContentBlock::Reasoning(Reasoning {
                        text: "think".into(),
                        signature: Some("sig".into()),
                    }),
                    ContentBlock::ToolUse(ToolUse {
                        tool_use_id: "t1".into(),
                        name: "echo".into(),
                        input: json!("not an object"),
                    }),
                ],
            ),
            Message::new(
                Role::User,
                vec![ContentBlock::ToolResult(ToolResult::text("t1", "ok"))],
            ),
            Message::new(Role::Assistant, vec![]),
        ];
        let mut params = Map::new();
        params.insert("max_tokens".into(), json!(100));
        params.insert(
            "additional_request_fields".into(),
            json!({"thinking": {"type": "enabled"}}),
        );
        let request = ModelRequest {
            system_prompt: Some("be brief"),
            messages: &messages,
            tools: &[],
            tool_choice: Some(&ToolChoice::Any),
            trace: None,
        };
        let body = build_body("global.anthropic.claude-sonnet-4-6", &params, &request);
        assert_eq!(
            body,
            json!({
                "messages": [
                    {"content": [{"text": "hi"}], "role": "user"},
                    {"content": [
                        {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
                        {"toolUse": {"input": {}, "name": "echo", "toolUseId": "t1"}}
                    ], "role": "assistant"},
                    {"content": [{"toolResult": {"content": [{"text": "ok"}], "toolUseId": "t1", "status": "success"}}], "role": "user"}
                ],
                "system": [{"text": "be brief"}],
                "toolConfig": {"tools": [{"toolSpec": {
                    "name": "noop",
                    "description": "This is a fake tool that MUST be completely ignored.",
                    "inputSchema": {"json": {"properties": {}, "type": "object"}}
                }}], "toolChoice": {"any": {}}},
                "inferenceConfig": {"maxTokens": 100}
            })
        );
    }

    #[test]
    fn unsigned_reasoning_is_dropped_for_claude_and_kept_elsewhere() {
        let messages = vec![Message::new(
            Role::Assistant,
            vec![ContentBlock::Reasoning(Reasoning {
                text: "t".into(),
                signature: None,
            })],
        )];
        let request = ModelRequest {
            system_prompt: None,
            messages: &messages,
            tools: &[],
            tool_choice: None,
            trace: None,
        };
        let claude = build_body("us.anthropic.claude-x", &Map::new(), &request);
        assert_eq!(claude["messages"], json!([]));
        let other = build_body("arn:aws:bedrock:x", &Map::new(), &request);
        assert_eq!(
            other["messages"][0]["content"][0]["reasoningContent"]["reasoningText"]["text"],
            "t"
        );
    }
}
