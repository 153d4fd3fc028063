//! AG-UI's `RunAgentInput`, checked as `ag_ui.core.RunAgentInput(**payload)` checks it
//! (ag-ui-protocol 1.0): `threadId`, `runId` and `messages` required, every message
//! discriminated by `role` with the fields its model requires, the optional lists typed.
//! Keys are read camelCase or snake_case, as the pydantic models accept both, and unknown
//! keys are kept out of the way rather than refused (the models allow extras).

use serde_json::{Map, Value};

use crate::types::ToolSpec;

/// Most problems listed in one 400: enough to fix a request, bounded for a hostile one.
const MAX_PROBLEMS: usize = 10;

/// A `RunAgentInput` that passed the checks: what a run needs from it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInput {
    /// `threadId`: the conversation, and the session it is stored in.
    pub thread_id: String,
    /// `runId`, echoed on `RUN_STARTED` and `RUN_FINISHED`.
    pub run_id: String,
    /// The text of the last user message: the prompt of this run (see [`parse`]; empty when
    /// the conversation ends with tool results and has no user message with text).
    pub prompt: String,
    /// `state`, when the client sent one.
    pub state: Option<Value>,
    /// `tools`: the frontend's tools, as the model is told about them (`parameters` as the
    /// input schema, `{}` without one).
    pub tools: Vec<ToolSpec>,
    /// Every `tool` message, in order: results of tool calls the client ran.
    pub tool_messages: Vec<ToolMessage>,
    /// The calls named by the `assistant` messages' `toolCalls`: `(id, function name)`.
    pub tool_calls: Vec<(String, String)>,
    /// The text of the last `user` or `tool` message with content, ag-ui-strands' prompt when
    /// the conversation does not end with tool results.
    pub last_text: Option<String>,
}

/// A `tool` message: what the client's run of a tool call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolMessage {
    /// `toolCallId`: the call it answers.
    pub tool_call_id: String,
    /// `content` as text (a list's text parts joined by spaces, as ag-ui-strands flattens it).
    pub content: String,
    /// `error`, when the tool failed on the client.
    pub error: Option<String>,
    /// No other kind of message follows it: a result of the call that ended the last run.
    pub trailing: bool,
    /// A `user` message follows it.
    pub user_after: bool,
}

/// Why a payload is not a `RunAgentInput`: `path: problem` lines, as pydantic's
/// `ValidationError` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput(pub Vec<String>);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for InvalidInput {}

/// Checks `payload` and picks the prompt: the last `user` message's text (its string, or its
/// text parts joined), as ag-ui-strands takes the newest user message as the turn's prompt.
/// The earlier messages are the client's copy of the conversation; the thread's stored
/// session is what the agent continues from, as in ag-ui-strands, so they are not replayed,
/// except the `tool` messages, which carry the results of frontend tools (see
/// [`super::frontend`]). A conversation must hold a user message with text or end with tool
/// results.
pub fn parse(payload: &Value) -> Result<RunInput, InvalidInput> {
    let mut problems = Problems::default();
    let Some(fields) = payload.as_object() else {
        return Err(InvalidInput(vec![format!(
            "the body must be a JSON object (RunAgentInput), not {}",
            kind(payload)
        )]));
    };
    let top = Obj {
        fields,
        path: String::new(),
    };
    let thread_id = top.required_str(&mut problems, "threadId", "thread_id");
    let run_id = top.required_str(&mut problems, "runId", "run_id");
    top.optional_str(&mut problems, "parentRunId", "parent_run_id");
    top.optional_str(&mut problems, "protocolVersion", "protocol_version");
    let mut prompt = None;
    let mut seen = Seen::default();
    match top.get("messages", "messages") {
        None | Some(Value::Null) => problems.push("messages", "Field required"),
        Some(Value::Array(messages)) => {
            for (i, message) in messages.iter().enumerate() {
                let path = format!("messages.{i}");
                if let Some(text) = check_message(&mut problems, message, &path, &mut seen) {
                    prompt = Some(text);
                }
            }
        }
        Some(other) => problems.push(
            "messages",
            &format!("Input should be a valid list, not {}", kind(other)),
        ),
    }
    let mut tools = Vec::new();
    top.optional_list(&mut problems, "tools", "tools", |p, item, path| {
        if let Some(tool) = as_obj(p, item, path) {
            let name = tool.required_str(p, "name", "name");
            let description = tool.required_str(p, "description", "description");
            tool.optional_map(p, "metadata", "metadata");
            let parameters = match tool.get("parameters", "parameters") {
                None | Some(Value::Null) => Some(Value::Object(Map::new())),
                Some(schema @ Value::Object(_)) => Some(schema.clone()),
                Some(other) => {
                    p.push(
                        &tool.at("parameters"),
                        &format!(
                            "a JSON Schema object is needed to offer the tool to the model, not {}",
                            kind(other)
                        ),
                    );
                    None
                }
            };
            if let (Some(name), Some(description), Some(input_schema)) = (name, description, parameters) {
                tools.push(ToolSpec {
                    name: name.to_string(),
                    description: description.to_string(),
                    input_schema,
                });
            }
        }
    });
    top.optional_list(&mut problems, "context", "context", |p, item, path| {
        if let Some(context) = as_obj(p, item, path) {
            context.required_str(p, "description", "description");
            context.required_str(p, "value", "value");
        }
    });
    top.optional_list(&mut problems, "resume", "resume", |p, item, path| {
        if let Some(entry) = as_obj(p, item, path) {
            entry.required_str(p, "interruptId", "interrupt_id");
            if let Some(status) = entry.required_str(p, "status", "status")
                && status != "resolved"
                && status != "cancelled"
            {
                p.push(&entry.at("status"), "Input should be 'resolved' or 'cancelled'");
            }
        }
    });
    if !problems.0.is_empty() {
        return Err(InvalidInput(problems.0));
    }
    let (Some(thread_id), Some(run_id)) = (thread_id, run_id) else {
        return Err(InvalidInput(vec!["threadId and runId: Field required".into()]));
    };
    let ends_with_results = seen.tool_messages.iter().any(|m| m.trailing);
    let prompt = match prompt.filter(|p: &String| !p.trim().is_empty()) {
        Some(prompt) => prompt,
        None if ends_with_results => String::new(),
        None => {
            return Err(InvalidInput(vec![
                "messages: no user message with text content to answer, and no tool results to continue from"
                    .into(),
            ]));
        }
    };
    let state = match top.get("state", "state") {
        None | Some(Value::Null) => None,
        Some(state) => Some(state.clone()),
    };
    Ok(RunInput {
        thread_id: thread_id.to_string(),
        run_id: run_id.to_string(),
        prompt,
        state,
        tools,
        tool_messages: seen.tool_messages,
        tool_calls: seen.tool_calls,
        last_text: seen.last_text,
    })
}

/// What the messages hold besides the prompt, gathered as they are checked.
#[derive(Default)]
struct Seen {
    tool_messages: Vec<ToolMessage>,
    tool_calls: Vec<(String, String)>,
    last_text: Option<String>,
}

impl Seen {
    /// A message of `role` was checked: it ends the trailing run of tool messages before it.
    fn after(&mut self, role: &str) {
        if role == "tool" {
            return;
        }
        for earlier in &mut self.tool_messages {
            earlier.trailing = false;
            earlier.user_after |= role == "user";
        }
    }
}

/// Checks one message against the model its `role` names; a user message's text comes back.
/// What frontend tools need from it goes into `seen`.
fn check_message(p: &mut Problems, message: &Value, path: &str, seen: &mut Seen) -> Option<String> {
    let m = as_obj(p, message, path)?;
    let role = match m.get("role", "role") {
        Some(Value::String(role)) => role.as_str(),
        None | Some(Value::Null) => {
            p.push(&m.at("role"), "Field required (the message discriminator)");
            return None;
        }
        Some(_) => {
            p.push(&m.at("role"), "Input should be a string");
            return None;
        }
    };
    m.required_str(p, "id", "id");
    m.optional_map(p, "metadata", "metadata");
    seen.after(role);
    match role {
        "developer" | "system" | "reasoning" => {
            m.required_str(p, "content", "content");
            None
        }
        "assistant" => {
            m.optional_str(p, "content", "content");
            m.optional_list(p, "toolCalls", "tool_calls", |p, call, path| {
                let Some(call) = as_obj(p, call, path) else { return };
                if let Some(kind) = call.optional_str(p, "type", "type")
                    && kind != "function"
                {
                    p.push(&call.at("type"), "Input should be 'function'");
                }
                let id = call.required_str(p, "id", "id");
                match call.get("function", "function") {
                    None | Some(Value::Null) => p.push(&call.at("function"), "Field required"),
                    Some(function) => {
                        if let Some(f) = as_obj(p, function, &call.at("function")) {
                            let name = f.required_str(p, "name", "name");
                            f.required_str(p, "arguments", "arguments");
                            if let (Some(id), Some(name)) = (id, name) {
                                seen.tool_calls.push((id.to_string(), name.to_string()));
                            }
                        }
                    }
                }
            });
            None
        }
        "user" => {
            let text = content(p, &m, "");
            if let Some(text) = text.as_ref().filter(|_| has_content(&m)) {
                seen.last_text = Some(text.clone());
            }
            text
        }
        "tool" => {
            let tool_call_id = m.required_str(p, "toolCallId", "tool_call_id");
            let error = m.optional_str(p, "error", "error");
            let text = content(p, &m, " ");
            if let Some(text) = text.as_ref().filter(|_| has_content(&m)) {
                seen.last_text = Some(text.clone());
            }
            if let (Some(tool_call_id), Some(content)) = (tool_call_id, text) {
                seen.tool_messages.push(ToolMessage {
                    tool_call_id: tool_call_id.to_string(),
                    content,
                    error: error.map(str::to_string),
                    trailing: true,
                    user_after: false,
                });
            }
            None
        }
        "activity" => {
            m.required_str(p, "activityType", "activity_type");
            match m.get("content", "content") {
                Some(Value::Object(_)) => {}
                None | Some(Value::Null) => p.push(&m.at("content"), "Field required"),
                Some(_) => p.push(&m.at("content"), "Input should be a valid dictionary"),
            }
            None
        }
        other => {
            p.push(
                &m.at("role"),
                &format!(
                    "{other:?} does not match any of 'developer', 'system', 'assistant', 'user', 'tool', 'activity', 'reasoning'"
                ),
            );
            None
        }
    }
}

/// Whether a message's `content` is what Python reads as true (a non-empty string or list).
fn has_content(m: &Obj<'_>) -> bool {
    match m.get("content", "content") {
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Array(parts)) => !parts.is_empty(),
        _ => false,
    }
}

/// A user or tool message's `content`: a string, or a list of parts (text, image, audio,
/// video, document); its text, the text parts joined by `separator`.
fn content(p: &mut Problems, m: &Obj<'_>, separator: &str) -> Option<String> {
    match m.get("content", "content") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            let mut first = true;
            for (i, part) in parts.iter().enumerate() {
                let path = format!("{}.{i}", m.at("content"));
                let Some(part) = as_obj(p, part, &path) else {
                    continue;
                };
                match part.get("type", "type") {
                    Some(Value::String(t)) if t == "text" => {
                        if let Some(t) = part.required_str(p, "text", "text") {
                            if !first {
                                text.push_str(separator);
                            }
                            first = false;
                            text.push_str(t);
                        }
                    }
                    Some(Value::String(t))
                        if matches!(t.as_str(), "image" | "audio" | "video" | "document") =>
                    {
                        if part.get("source", "source").is_none() {
                            p.push(&part.at("source"), "Field required");
                        }
                    }
                    _ => p.push(
                        &part.at("type"),
                        "Input should be 'text', 'image', 'audio', 'video' or 'document'",
                    ),
                }
            }
            Some(text)
        }
        None | Some(Value::Null) => {
            p.push(&m.at("content"), "Field required");
            None
        }
        Some(other) => {
            p.push(
                &m.at("content"),
                &format!("Input should be a string or a list of parts, not {}", kind(other)),
            );
            None
        }
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, path: &str, problem: &str) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(format!("{path}: {problem}"));
        }
    }
}

/// An object being checked, and where it is in the payload.
struct Obj<'a> {
    fields: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn at(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field under its wire (camelCase) name, else its attribute (snake_case) name.
    fn get(&self, camel: &str, snake: &str) -> Option<&'a Value> {
        self.fields.get(camel).or_else(|| self.fields.get(snake))
    }

    fn required_str(&self, p: &mut Problems, camel: &str, snake: &str) -> Option<&'a str> {
        match self.get(camel, snake) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => {
                p.push(&self.at(camel), "Field required");
                None
            }
            Some(other) => {
                p.push(
                    &self.at(camel),
                    &format!("Input should be a valid string, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn optional_str(&self, p: &mut Problems, camel: &str, snake: &str) -> Option<&'a str> {
        match self.get(camel, snake) {
            Some(Value::String(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(other) => {
                p.push(
                    &self.at(camel),
                    &format!("Input should be a valid string, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn optional_map(&self, p: &mut Problems, camel: &str, snake: &str) {
        match self.get(camel, snake) {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => p.push(&self.at(camel), "Input should be a valid dictionary"),
        }
    }

    fn optional_list(
        &self,
        p: &mut Problems,
        camel: &str,
        snake: &str,
        mut each: impl FnMut(&mut Problems, &'a Value, &str),
    ) {
        match self.get(camel, snake) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    each(p, item, &format!("{}.{i}", self.at(camel)));
                }
            }
            Some(other) => p.push(
                &self.at(camel),
                &format!("Input should be a valid list, not {}", kind(other)),
            ),
        }
    }
}

fn as_obj<'a>(p: &mut Problems, value: &'a Value, path: &str) -> Option<Obj<'a>> {
    match value {
        Value::Object(fields) => Some(Obj {
            fields,
            path: path.to_string(),
        }),
        other => {
            p.push(path, &format!("Input should be an object, not {}", kind(other)));
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(v: Value) -> RunInput {
        parse(&v).unwrap()
    }

    fn problems(v: Value) -> Vec<String> {
        parse(&v).unwrap_err().0
    }

    #[test]
    fn the_last_user_message_is_the_prompt() {
        let input = ok(json!({
            "threadId": "t", "runId": "r",
            "messages": [
                {"id": "1", "role": "user", "content": "first"},
                {"id": "2", "role": "assistant", "content": "hi",
                 "toolCalls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"id": "3", "role": "tool", "toolCallId": "c", "content": "5"},
                {"id": "4", "role": "user", "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}]}
            ],
            "state": {"k": 1}, "tools": [], "context": [], "forwardedProps": {"x": [1]}
        }));
        assert_eq!((input.thread_id.as_str(), input.run_id.as_str()), ("t", "r"));
        assert_eq!(input.prompt, "second");
        assert_eq!(input.state, Some(json!({"k": 1})));
        // snake_case attribute names populate the model too.
        let snake = ok(json!({"thread_id": "t", "run_id": "r",
            "messages": [{"id": "1", "role": "user", "content": "q"}]}));
        assert_eq!(
            (snake.thread_id.as_str(), snake.prompt.as_str(), snake.state),
            ("t", "q", None)
        );
    }

    #[test]
    fn frontend_tools_and_their_results_are_read() {
        let input = ok(json!({
            "threadId": "t", "runId": "r",
            "messages": [
                {"id": "1", "role": "user", "content": "go"},
                {"id": "2", "role": "assistant",
                 "toolCalls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"id": "3", "role": "tool", "toolCallId": "c", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "error": "e"}
            ],
            "tools": [{"name": "f", "description": "d"}, {"name": "g", "description": "e", "parameters": {"type": "object"}}]
        }));
        assert_eq!(input.tool_calls, [("c".to_string(), "f".to_string())]);
        assert_eq!(
            input.tool_messages,
            [ToolMessage {
                tool_call_id: "c".into(),
                content: "a b".into(),
                error: Some("e".into()),
                trailing: true,
                user_after: false
            }]
        );
        assert_eq!(input.last_text.as_deref(), Some("a b"));
        assert_eq!(
            input
                .tools
                .iter()
                .map(|t| (t.name.as_str(), &t.input_schema))
                .collect::<Vec<_>>(),
            [("f", &json!({})), ("g", &json!({"type": "object"}))]
        );
        // Results alone continue a conversation; a user message after them ends their run.
        let alone = ok(json!({"threadId": "t", "runId": "r",
            "messages": [{"id": "3", "role": "tool", "toolCallId": "c", "content": "5"}]}));
        assert_eq!(
            (alone.prompt.as_str(), alone.tool_messages[0].trailing),
            ("", true)
        );
        let later = ok(json!({"threadId": "t", "runId": "r", "messages": [
            {"id": "3", "role": "tool", "toolCallId": "c", "content": "5"},
            {"id": "4", "role": "user", "content": "next"}]}));
        assert!(!later.tool_messages[0].trailing && later.tool_messages[0].user_after);
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        assert_eq!(
            problems(json!([1])),
            ["the body must be a JSON object (RunAgentInput), not a list"]
        );
        assert_eq!(
            problems(json!({})),
            [
                "threadId: Field required",
                "runId: Field required",
                "messages: Field required"
            ]
        );
        assert_eq!(
            problems(json!({"threadId": 1, "runId": "r", "messages": {}})),
            [
                "threadId: Input should be a valid string, not a number",
                "messages: Input should be a valid list, not an object"
            ]
        );
        assert_eq!(
            problems(
                json!({"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "robot", "content": "x"}]})
            ),
            [
                r#"messages.0.role: "robot" does not match any of 'developer', 'system', 'assistant', 'user', 'tool', 'activity', 'reasoning'"#
            ]
        );
        assert_eq!(
            problems(json!({"threadId": "t", "runId": "r", "messages": [{"role": "user", "content": 3}]})),
            [
                "messages.0.id: Field required",
                "messages.0.content: Input should be a string or a list of parts, not a number"
            ]
        );
        assert_eq!(
            problems(json!({"threadId": "t", "runId": "r", "messages": [], "tools": [{"name": "n"}]})),
            ["tools.0.description: Field required"]
        );
        assert_eq!(
            problems(
                json!({"threadId": "t", "runId": "r", "messages": [{"id": "1", "role": "assistant", "content": "x"}]})
            ),
            ["messages: no user message with text content to answer, and no tool results to continue from"]
        );
        let many: Vec<Value> = (0..1000).map(|_| json!({"role": "user"})).collect();
        let listed = problems(json!({"threadId": "t", "runId": "r", "messages": many}));
        assert_eq!(listed.len(), MAX_PROBLEMS);
    }
}
