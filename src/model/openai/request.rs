//! The chat-completions request body, built exactly as Strands 1.62 builds it.
//!
//! Three steps, as in Strands: normalise the assistant messages on a copy (blank text, invalid tool
//! names), map Strands messages to OpenAI messages, and assemble the top-level body. Key order
//! follows what the Python openai SDK puts on the wire: it rebuilds the body as `messages`,
//! `model`, then its parameters in alphabetical order, and appends `extra_body` last, so that is
//! what we do too (spec §4.1, vectors `strands-openai-requests.json`).

use serde_json::{Map, Value, json};

use super::config::MessageFormat;
use crate::model::{ModelRequest, ToolChoice};
use crate::types::ToolSpec;
use crate::types::{
    ContentBlock, MediaBlock, MediaSource, Message, Role, ToolResult, ToolResultContent, ToolUse,
};

/// What Strands sends in place of an empty or blank assistant text.
pub const BLANK_TEXT: &str = "[blank text]";

/// The name an assistant tool call gets on the wire when its own name is not a valid tool name.
pub const INVALID_TOOL_NAME: &str = "INVALID_TOOL_NAME";

/// The text Strands adds to a tool message whose images were moved into a user message.
const IMAGE_MOVED_TEXT: &str =
    "Tool successfully returned an image. The image is being provided in the following user message.";

/// The parts of the client configuration that shape the body.
#[derive(Debug, Clone, Copy)]
pub struct BodyOptions<'a> {
    /// `model`.
    pub model_id: &'a str,
    /// User parameters merged at the top level (`temperature`, `max_tokens`, `extra_body`, ...).
    pub params: &'a Map<String, Value>,
    /// `stream`; when true, `stream_options` is sent too.
    pub stream: bool,
    /// How message content is written.
    pub format: MessageFormat,
}

/// The complete JSON body of one `POST /chat/completions`.
pub fn build_body(options: BodyOptions<'_>, request: &ModelRequest<'_>) -> Value {
    let mut params = options.params.clone();
    // Strands pops these from params: `stream` always yields to the configured mode, and
    // `stream_options` is only sent when streaming.
    params.remove("stream");
    let stream_options = params
        .remove("stream_options")
        .unwrap_or_else(|| json!({"include_usage": true}));
    // The openai SDK consumes these keyword arguments itself rather than sending them.
    let extra_body = params.remove("extra_body");
    for sdk_only in ["extra_headers", "extra_query", "timeout"] {
        params.remove(sdk_only);
    }

    let mut rest: Vec<(String, Value)> = Vec::new();
    rest.push(("stream".into(), Value::Bool(options.stream)));
    if options.stream {
        rest.push(("stream_options".into(), stream_options));
    }
    rest.push((
        "tools".into(),
        Value::Array(request.tools.iter().filter_map(format_tool).collect()),
    ));
    if let Some(choice) = request.tool_choice {
        rest.push(("tool_choice".into(), format_tool_choice(choice)));
    }
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(format_messages(
            request.system_prompt,
            request.messages,
            options.format,
        )),
    );
    body.insert("model".into(), Value::String(options.model_id.to_string()));
    for (key, value) in params {
        // Later keys win, as with Python's `{**request, **params}`.
        rest.retain(|(k, _)| *k != key);
        if key == "messages" || key == "model" {
            body.insert(key, value);
        } else {
            rest.push((key, value));
        }
    }
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    body.extend(rest);
    if let Some(Value::Object(extra)) = extra_body {
        body.extend(extra);
    }
    Value::Object(body)
}

// ---- messages --------------------------------------------------------------------------------

/// The OpenAI `messages` array: the system prompt, then every message mapped (spec §4.1).
pub fn format_messages(
    system_prompt: Option<&str>,
    messages: &[Message],
    format: MessageFormat,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    if let Some(prompt) = system_prompt.filter(|p| !p.is_empty()) {
        out.push(json!({"role": "system", "content": prompt}));
    }
    for message in messages {
        let normalized;
        let message = if message.role == Role::Assistant {
            normalized = normalize_assistant(message);
            &normalized
        } else {
            message
        };
        format_message(message, format, &mut out);
    }
    out
}

/// Strands' `_normalize_messages` for one assistant message, on a copy: empty content becomes
/// `[blank text]`; invalid tool names become `INVALID_TOOL_NAME`; with tool calls present blank
/// texts are dropped, otherwise they become `[blank text]`.
pub fn normalize_assistant(message: &Message) -> Message {
    let mut content = message.content.clone();
    if content.is_empty() {
        content.push(ContentBlock::Text(BLANK_TEXT.into()));
    } else if message.has_tool_use() {
        content.retain(|b| !matches!(b, ContentBlock::Text(t) if is_py_blank(t)));
        for block in &mut content {
            if let ContentBlock::ToolUse(tool_use) = block
                && !is_valid_tool_name(&tool_use.name)
            {
                tool_use.name = INVALID_TOOL_NAME.into();
            }
        }
    } else {
        for block in &mut content {
            if let ContentBlock::Text(t) = block
                && is_py_blank(t)
            {
                *t = BLANK_TEXT.into();
            }
        }
    }
    Message::new(message.role, content)
}

/// Strands' tool name check: `re.match(r"^[a-zA-Z0-9_\-]{1,}$", name)` and at most 64 characters.
/// Python's `$` also matches before one trailing newline, so `"add\n"` passes; so it does here.
pub fn is_valid_tool_name(name: &str) -> bool {
    let core = name.strip_suffix('\n').unwrap_or(name);
    !core.is_empty()
        && core
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name.chars().count() <= 64
}

/// `not s.strip()` in Python: empty or only whitespace (Python counts U+001C..U+001F too).
fn is_py_blank(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

fn format_message(message: &Message, format: MessageFormat, out: &mut Vec<Value>) {
    let mut contents = Vec::new();
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for block in &message.content {
        match block {
            ContentBlock::Text(text) => contents.push(text_part(text)),
            ContentBlock::Image(media) => contents.extend(image_part(media)),
            ContentBlock::Document(media) => contents.extend(document_part(media)),
            ContentBlock::ToolUse(tool_use) => tool_calls.push(format_tool_call(tool_use)),
            ContentBlock::ToolResult(result) => tool_results.push(result),
            // Strands drops reasoning and cachePoint blocks (with a warning) and raises on any
            // other kind; we drop them all, since a stored session must never make calls fail.
            ContentBlock::Reasoning(_) | ContentBlock::Other(_) => {}
        }
    }

    // Tool messages come first, so they directly follow the assistant's tool calls; images they
    // returned move into user messages after all of them (OpenAI accepts images from users only).
    let mut image_messages = Vec::new();
    for result in tool_results {
        let (tool_message, images) = format_tool_message(result);
        out.push(tool_message);
        if let Some(images) = images {
            image_messages.push(images);
        }
    }
    out.extend(image_messages);

    // A message with neither content nor tool calls is not sent at all (e.g. a user message that
    // only held tool results).
    if contents.is_empty() && tool_calls.is_empty() {
        return;
    }
    let mut formatted = Map::new();
    formatted.insert("role".into(), Value::String(role_name(message.role).into()));
    match format {
        MessageFormat::Strands if !contents.is_empty() => {
            formatted.insert("content".into(), Value::Array(contents));
        }
        MessageFormat::Strands => {}
        MessageFormat::Plain => {
            formatted.insert("content".into(), plain_content(contents));
        }
    }
    if !tool_calls.is_empty() {
        formatted.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    out.push(Value::Object(formatted));
}

/// The content of a message in [`MessageFormat::Plain`]: text parts only become one string
/// (`""` for none, the case of a message with only tool calls); with any media the list stays.
fn plain_content(contents: Vec<Value>) -> Value {
    let texts: Option<Vec<&str>> = contents
        .iter()
        .map(|part| match part.get("type").and_then(Value::as_str) {
            Some("text") => part.get("text").and_then(Value::as_str),
            _ => None,
        })
        .collect();
    match texts {
        Some(texts) => Value::String(texts.join("\n")),
        None => Value::Array(contents),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn text_part(text: &str) -> Value {
    json!({"text": text, "type": "text"})
}

/// `None` for media that is not inline bytes: Strands skips location-sourced blocks.
fn image_part(media: &MediaBlock) -> Option<Value> {
    let MediaSource::Base64(data) = &media.source else {
        return None;
    };
    let mime = mime_type(&media.format);
    Some(json!({
        "image_url": {"detail": "auto", "format": mime, "url": format!("data:{mime};base64,{data}")},
        "type": "image_url",
    }))
}

fn document_part(media: &MediaBlock) -> Option<Value> {
    let MediaSource::Base64(data) = &media.source else {
        return None;
    };
    let mime = mime_type(&media.format);
    // Strands requires a name (it fails without one); a made-up one keeps the call going.
    let filename = media
        .name
        .clone()
        .unwrap_or_else(|| format!("document.{}", media.format));
    Some(json!({
        "file": {"file_data": format!("data:{mime};base64,{data}"), "filename": filename},
        "type": "file",
    }))
}

/// Python's `mimetypes.types_map[".<format>"]` (3.13 defaults) for the formats Bedrock-style
/// blocks use, `application/octet-stream` otherwise.
pub fn mime_type(format: &str) -> &'static str {
    match format.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpeg" | "jpg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "csv" => "text/csv",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "html" | "htm" => "text/html",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn format_tool_call(tool_use: &ToolUse) -> Value {
    json!({
        "function": {"arguments": crate::pyjson::to_string(&tool_use.input), "name": tool_use.name},
        "id": tool_use.tool_use_id,
        "type": "function",
    })
}

/// One `role: tool` message, plus the user message its images move to, if any.
fn format_tool_message(result: &ToolResult) -> (Value, Option<Value>) {
    // Adjacent text items (and `json` items, dumped as Python does) merge with "\n"; images and
    // documents keep their place between them.
    let mut merged: Vec<Value> = Vec::new();
    let mut open_text: Option<String> = None;
    let mut has_media = false;
    let flush = |open_text: &mut Option<String>, merged: &mut Vec<Value>| {
        if let Some(text) = open_text.take() {
            merged.push(json!({"type": "text", "text": text}));
        }
    };
    for item in &result.content {
        let text = match item {
            ToolResultContent::Text(t) => Some(t.clone()),
            ToolResultContent::Json(v) => Some(crate::pyjson::to_string(v)),
            _ => None,
        };
        if let Some(text) = text {
            match &mut open_text {
                Some(open) => {
                    open.push('\n');
                    open.push_str(&text);
                }
                None => open_text = Some(text),
            }
            continue;
        }
        let part = match item {
            ToolResultContent::Image(media) => image_part(media),
            ToolResultContent::Document(media) => document_part(media),
            _ => None,
        };
        if let Some(part) = part {
            flush(&mut open_text, &mut merged);
            merged.push(part);
            has_media = true;
        }
    }

    let tool_message =
        |content: Value| json!({"role": "tool", "tool_call_id": result.tool_use_id, "content": content});
    if !has_media {
        // All text: one string (Strands' choice for compatibility with vLLM, Ollama, ...).
        return (tool_message(Value::String(open_text.unwrap_or_default())), None);
    }
    flush(&mut open_text, &mut merged);
    let (images, mut rest): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|part| part.get("type").and_then(Value::as_str) == Some("image_url"));
    if images.is_empty() {
        return (tool_message(Value::Array(rest)), None);
    }
    rest.push(json!({"type": "text", "text": IMAGE_MOVED_TEXT}));
    (
        tool_message(Value::Array(rest)),
        Some(json!({"role": "user", "content": images})),
    )
}

use crate::model::tool_schema::normalize_schema;

// ---- tools -----------------------------------------------------------------------------------

/// `{"type": "function", "function": {name, description, parameters}}` with the schema normalised
/// as Strands normalises it; `None` (tool left out, as Strands does) if the schema nests too deep.
pub fn format_tool(spec: &ToolSpec) -> Option<Value> {
    let parameters = normalize_schema(&spec.input_schema, 0)?;
    Some(json!({
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": parameters},
    }))
}

fn format_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => Value::String("auto".into()),
        ToolChoice::Any => Value::String("required".into()),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ToolStatus;

    fn body(
        messages: &[Message],
        tools: &[ToolSpec],
        choice: Option<&ToolChoice>,
        params: Map<String, Value>,
    ) -> Value {
        let request = ModelRequest {
            system_prompt: Some("sys"),
            messages,
            tools,
            tool_choice: choice,
            trace: None,
        };
        build_body(
            BodyOptions {
                model_id: "m",
                params: &params,
                stream: true,
                format: MessageFormat::Strands,
            },
            &request,
        )
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn top_level_keys_follow_the_sdk_order_and_params_merge() {
        let params: Map<String, Value> = serde_json::from_str(
            r#"{"temperature": 0.5, "max_tokens": 10, "stream": false, "extra_body": {"zz": 1, "a": 2}}"#,
        )
        .unwrap();
        let v = body(&[Message::user_text("hi")], &[], Some(&ToolChoice::Any), params);
        assert_eq!(
            keys(&v),
            [
                "messages",
                "model",
                "max_tokens",
                "stream",
                "stream_options",
                "temperature",
                "tool_choice",
                "tools",
                "zz",
                "a"
            ]
        );
        assert_eq!(v["stream"], json!(true));
        assert_eq!(v["tool_choice"], json!("required"));
        assert_eq!(v["tools"], json!([]));
    }

    #[test]
    fn non_streaming_body_has_no_stream_options() {
        let params = Map::new();
        let request = ModelRequest {
            system_prompt: None,
            messages: &[],
            tools: &[],
            tool_choice: Some(&ToolChoice::Auto),
            trace: None,
        };
        let v = build_body(
            BodyOptions {
                model_id: "m",
                params: &params,
                stream: false,
                format: MessageFormat::Strands,
            },
            &request,
        );
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"messages":[],"model":"m","stream":false,"tool_choice":"auto","tools":[]}"#
        );
    }

    #[test]
    fn assistant_normalisation() {
        let empty = Message::new(Role::Assistant, vec![]);
        let blank = Message::new(Role::Assistant, vec![ContentBlock::Text(" \n".into())]);
        let with_tool = Message::new(
            Role::Assistant,
            vec![
                ContentBlock::Text("  ".into()),
                ContentBlock::ToolUse(ToolUse {
                    tool_use_id: "c1".into(),
                    name: "bad name!".into(),
                    input: json!({}),
                }),
            ],
        );
        let msgs = format_messages(None, &[empty, blank, with_tool], MessageFormat::Strands);
        assert_eq!(
            serde_json::to_string(&msgs).unwrap(),
            concat!(
                r#"[{"role":"assistant","content":[{"text":"[blank text]","type":"text"}]},"#,
                r#"{"role":"assistant","content":[{"text":"[blank text]","type":"text"}]},"#,
                r#"{"role":"assistant","tool_calls":[{"function":{"arguments":"#,
                r#""{}","name":"INVALID_TOOL_NAME"},"id":"c1","type":"function"}]}]"#
            )
        );
    }

    /// A conversation with every shape `MessageFormat` distinguishes: multi-part text, an
    /// assistant answer, a tool call without text, one with text, its result, and media.
    fn format_conversation() -> Vec<Message> {
        let call = |id: &str| {
            ContentBlock::ToolUse(ToolUse {
                tool_use_id: id.into(),
                name: "now".into(),
                input: json!({"tz": "UTC"}),
            })
        };
        let image = MediaBlock {
            format: "png".into(),
            name: None,
            source: MediaSource::Base64("AAAA".into()),
        };
        vec![
            Message::new(
                Role::User,
                vec![ContentBlock::Text("a".into()), ContentBlock::Text("b".into())],
            ),
            Message::new(Role::Assistant, vec![ContentBlock::Text("c".into())]),
            Message::new(Role::Assistant, vec![call("t1")]),
            Message::new(Role::Assistant, vec![ContentBlock::Text("d".into()), call("t2")]),
            Message::new(
                Role::User,
                vec![ContentBlock::ToolResult(ToolResult::text("t2", "12:00"))],
            ),
            Message::new(
                Role::User,
                vec![ContentBlock::Text("see".into()), ContentBlock::Image(image)],
            ),
        ]
    }

    const CALL_T1: &str =
        r#"{"function":{"arguments":"{\"tz\": \"UTC\"}","name":"now"},"id":"t1","type":"function"}"#;
    const CALL_T2: &str =
        r#"{"function":{"arguments":"{\"tz\": \"UTC\"}","name":"now"},"id":"t2","type":"function"}"#;
    const IMAGE_PART: &str = r#"{"image_url":{"detail":"auto","format":"image/png","url":"data:image/png;base64,AAAA"},"type":"image_url"}"#;

    #[test]
    fn strands_format_keeps_content_lists_and_omits_empty_content() {
        let msgs = format_messages(Some("sys"), &format_conversation(), MessageFormat::Strands);
        let expected = [
            r#"{"role":"system","content":"sys"}"#.to_string(),
            r#"{"role":"user","content":[{"text":"a","type":"text"},{"text":"b","type":"text"}]}"#.into(),
            r#"{"role":"assistant","content":[{"text":"c","type":"text"}]}"#.into(),
            format!(r#"{{"role":"assistant","tool_calls":[{CALL_T1}]}}"#),
            format!(
                r#"{{"role":"assistant","content":[{{"text":"d","type":"text"}}],"tool_calls":[{CALL_T2}]}}"#
            ),
            r#"{"role":"tool","tool_call_id":"t2","content":"12:00"}"#.into(),
            format!(r#"{{"role":"user","content":[{{"text":"see","type":"text"}},{IMAGE_PART}]}}"#),
        ];
        assert_eq!(
            serde_json::to_string(&msgs).unwrap(),
            format!("[{}]", expected.join(","))
        );
    }

    #[test]
    fn plain_format_sends_text_as_strings_and_empty_content_with_tool_calls() {
        let msgs = format_messages(Some("sys"), &format_conversation(), MessageFormat::Plain);
        let expected = [
            r#"{"role":"system","content":"sys"}"#.to_string(),
            r#"{"role":"user","content":"a\nb"}"#.into(),
            r#"{"role":"assistant","content":"c"}"#.into(),
            format!(r#"{{"role":"assistant","content":"","tool_calls":[{CALL_T1}]}}"#),
            format!(r#"{{"role":"assistant","content":"d","tool_calls":[{CALL_T2}]}}"#),
            r#"{"role":"tool","tool_call_id":"t2","content":"12:00"}"#.into(),
            // Media keeps the list form: a string cannot carry it.
            format!(r#"{{"role":"user","content":[{{"text":"see","type":"text"}},{IMAGE_PART}]}}"#),
        ];
        assert_eq!(
            serde_json::to_string(&msgs).unwrap(),
            format!("[{}]", expected.join(","))
        );
        // Blank assistant text is still normalised first, as in Strands' format.
        let blank = Message::new(Role::Assistant, vec![]);
        assert_eq!(
            format_messages(None, &[blank], MessageFormat::Plain),
            [json!({"role": "assistant", "content": BLANK_TEXT})]
        );
    }

    #[test]
    fn message_format_parses_and_defaults_to_strands() {
        assert_eq!(MessageFormat::default(), MessageFormat::Strands);
        assert_eq!("plain".parse(), Ok(MessageFormat::Plain));
        assert_eq!("Strands".parse(), Ok(MessageFormat::Strands));
        assert!("list".parse::<MessageFormat>().is_err());
    }

    #[test]
    fn tool_name_rules_match_python() {
        assert!(is_valid_tool_name("add"));
        assert!(is_valid_tool_name("a-b_C9"));
        assert!(is_valid_tool_name("add\n"));
        assert!(!is_valid_tool_name(""));
        assert!(!is_valid_tool_name("\n"));
        assert!(!is_valid_tool_name("a b"));
        assert!(!is_valid_tool_name("é"));
        assert!(is_valid_tool_name(&"x".repeat(64)));
        assert!(!is_valid_tool_name(&"x".repeat(65)));
    }

    #[test]
    fn tool_results_map_to_tool_messages_before_other_content() {
        let image = MediaBlock {
            format: "png".into(),
            name: None,
            source: MediaSource::Base64("AAAA".into()),
        };
        let result = ToolResult {
            tool_use_id: "c1".into(),
            status: ToolStatus::Success,
            content: vec![
                ToolResultContent::Text("a".into()),
                ToolResultContent::Json(json!({"k": 1})),
                ToolResultContent::Image(image.clone()),
                ToolResultContent::Text("b".into()),
            ],
            extra: Map::new(),
            status_first: false,
        };
        let user = Message::new(
            Role::User,
            vec![
                ContentBlock::Text("look".into()),
                ContentBlock::ToolResult(result),
                ContentBlock::Image(image),
            ],
        );
        let only_results = Message::new(
            Role::User,
            vec![ContentBlock::ToolResult(ToolResult::text("c2", ""))],
        );
        let msgs = format_messages(None, &[user, only_results], MessageFormat::Strands);
        let expected = json!([
            {"role": "tool", "tool_call_id": "c1", "content": [
                {"type": "text", "text": format!("a\n{}", crate::pyjson::to_string(&json!({"k": 1})))},
                {"type": "text", "text": "b"},
                {"type": "text", "text": IMAGE_MOVED_TEXT}]},
            {"role": "user", "content": [{"image_url": {"detail": "auto", "format": "image/png",
                "url": "data:image/png;base64,AAAA"}, "type": "image_url"}]},
            {"role": "user", "content": [{"text": "look", "type": "text"},
                {"image_url": {"detail": "auto", "format": "image/png", "url": "data:image/png;base64,AAAA"},
                 "type": "image_url"}]},
            {"role": "tool", "tool_call_id": "c2", "content": ""},
        ]);
        assert_eq!(
            serde_json::to_string(&msgs).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    #[test]
    fn reasoning_other_and_location_blocks_are_dropped() {
        let located = MediaBlock {
            format: "png".into(),
            name: None,
            source: MediaSource::Other(json!({"s3": 1})),
        };
        let m = Message::new(
            Role::User,
            vec![
                ContentBlock::Other(serde_json::from_str(r#"{"cachePoint": {"type": "default"}}"#).unwrap()),
                ContentBlock::Image(located),
            ],
        );
        assert!(format_messages(Some(""), &[m], MessageFormat::Strands).is_empty());
    }

    #[test]
    fn schema_normalisation() {
        let schema = json!({"properties": {"a": {}, "b": "junk", "c": {"anyOf": [{"type": "int"}]},
            "d": {"$ref": "#/x"}, "e": {"type": "object", "properties": {"f": {"type": "integer"}}}}});
        let n = normalize_schema(&schema, 0).unwrap();
        let expected = json!({"properties": {
            "a": {"type": "string", "description": "Property a"},
            "b": {"type": "string", "description": "Property b"},
            "c": {"anyOf": [{"type": "int"}], "description": "Property c"},
            "d": {"$ref": "#/x"},
            "e": {"type": "object", "properties": {"f": {"type": "integer", "description": "Property f"}}, "required": []}},
            "type": "object", "required": []});
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );

        let mut deep = json!({"type": "integer"});
        for _ in 0..70 {
            deep = json!({"type": "object", "properties": {"x": deep}});
        }
        let spec = ToolSpec {
            name: "t".into(),
            description: "d".into(),
            input_schema: deep,
        };
        assert!(format_tool(&spec).is_none());
    }

    #[test]
    fn documents_and_mime_types() {
        let doc = MediaBlock {
            format: "pdf".into(),
            name: Some("r".into()),
            source: MediaSource::Base64("JVBE".into()),
        };
        assert_eq!(
            document_part(&doc).unwrap(),
            json!({"file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "r"}, "type": "file"})
        );
        assert_eq!(mime_type("webp"), "image/webp");
        assert_eq!(mime_type("weird"), "application/octet-stream");
    }
}
