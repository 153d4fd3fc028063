//! The binary's default entrypoint: the seed app's request contract on top of [`Agent`].
//!
//! This is the one place where `app` meets `agent`. It turns a payload into a prompt and a
//! session id the way the Python seed does, runs the agent on the worker thread, and answers
//! JSON, Server-Sent Events or WebSocket messages:
//!
//! - payload `{"query": "...", "session_id"?: "...", "stream"?: true}`; `prompt` is accepted
//!   when `query` is absent. Missing/empty/non-string -> 400 `{"error": "Missing required field: query"}`;
//! - session id: payload `session_id`, else the session header, else `"default"`; every
//!   character outside `[a-zA-Z0-9_-]` becomes `_` (the seed's rule, so directories match);
//! - answer: the structured output object when a schema is configured, else
//!   `{"response": str(result)}`;
//! - streaming (`"stream": true`; without a `stream` choice, an `Accept` of only
//!   `text/event-stream`; `"stream": false` always answers JSON) and `/ws`: the
//!   agent's events (`{"type": "text", "data": ...}`, `tool_use`, `tool_result`), then
//!   `{"type": "final", "result": <the JSON answer>, "stop_reason", "usage", "session_id"}`;
//!   a failure is [`Error::agent_event`]: `{"type": "error", "error", "error_type", "message",
//!   "status"}` (the SDK's error event plus `type`, and `status`: the HTTP status a JSON
//!   invocation would have got, since a stream's own status is already 200 when the failure
//!   happens). Statuses and types of agent failures come from [`super::agent_errors`].

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{App, EventSink, Output, RequestContext, WebSocket, WsEvents, WsMessage, server_span};
use crate::agent::{Agent, AgentEvent, AgentResult, Prompt};
use crate::error::Error;
use crate::pyjson;
use crate::telemetry::{TraceContext, Tracer};
use crate::types::CancelToken;

/// The tracer of a `/ws` without an agent.
static DISABLED: Tracer = Tracer::disabled();

/// Longest session id accepted after sanitising (a directory name is at most 255 bytes and
/// `session_` takes 8 of them; 200 leaves room and matches what the issue asks).
pub const MAX_SESSION_ID_BYTES: usize = 200;

pub use crate::agent::NO_MODEL_MESSAGE;

/// Installs the agent as the app's entrypoint and `/ws` handler. `agent: None` (no model
/// configured) still serves `/ping`; invocations then answer 503 with [`NO_MODEL_MESSAGE`].
///
/// The routes speak the native events; for AG-UI's
/// ([`ServerConfig::event_format`](crate::config::ServerConfig::event_format) `agui`) use
/// [`crate::protocols::agui::install`], or [`crate::protocols::install_agent`], which picks by
/// the app's settings.
///
/// Reads the app's settings as they are now (`/ws` messages nest at most
/// [`ServerConfig::max_json_depth`](crate::config::ServerConfig::max_json_depth) levels, as
/// `/invocations` bodies do): call it after [`App::config`].
///
/// ```
/// use agentcore_rt::App;
/// use agentcore_rt::app::agent_entrypoint;
///
/// let mut app = App::new();
/// agent_entrypoint::install(&mut app, None); // no model: /ping works, invocations answer 503
/// assert!(app.has_websocket());
/// ```
pub fn install(app: &mut App, agent: Option<Arc<Agent>>) {
    let entry_agent = agent.clone();
    app.entrypoint(move |payload: Value, ctx| -> Result<Output, Error> {
        let request = AgentRequest::from_payload(&payload, ctx)?;
        ctx.record_session(&request.session_id);
        let agent = entry_agent.clone().ok_or_else(no_model)?;
        // The payload's explicit choice wins; without one, an Accept of only SSE asks for a stream.
        if request.stream.unwrap_or_else(|| accepts_only_event_stream(ctx)) {
            let ctx = ctx.clone();
            return Ok(Output::stream(move |sink| {
                run_streaming(&agent, request, ctx.cancel_token(), &ctx.trace, sink);
                Ok(())
            }));
        }
        let result = agent.invoke_traced(
            &request.session_id,
            request.prompt,
            ctx.cancel_token(),
            &ctx.trace,
            &mut |_| {},
        )?;
        Ok(Output::Json(response_value(&result)))
    });
    let max_json_depth = app.server_config().max_json_depth;
    app.websocket(move |ws, ctx| serve_websocket(agent.as_deref(), max_json_depth, ws, ctx));
}

/// A validated invocation request.
#[derive(Debug)]
struct AgentRequest {
    prompt: Prompt,
    session_id: String,
    /// The payload's `stream`, when it says.
    stream: Option<bool>,
}

impl AgentRequest {
    fn from_payload(payload: &Value, ctx: &RequestContext) -> Result<AgentRequest, Error> {
        // The seed treats a non-object payload as {} (and then misses the query).
        let empty = Map::new();
        let fields = payload.as_object().unwrap_or(&empty);
        let query = match fields.get("query") {
            None | Some(Value::Null) => fields.get("prompt"),
            present => present,
        };
        let query = match query {
            Some(Value::String(q)) if !q.trim().is_empty() => q.clone(),
            _ => return Err(Error::bad_request("Missing required field: query")),
        };
        let from_payload = match fields.get("session_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(Error::bad_request("Invalid session_id: must be a string")),
        };
        // Python's `a or b or "default"`: an empty string falls through.
        let raw = from_payload
            .filter(|s| !s.is_empty())
            .or(ctx.session_id.as_deref().filter(|s| !s.is_empty()))
            .unwrap_or("default");
        let session_id = sanitize_session_id(raw)?;
        let stream = match fields.get("stream") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(choice)) => Some(*choice),
            // "true" as a string is a client bug that Python's truthiness would hide ("false" is
            // truthy there too): refuse it rather than guess.
            Some(_) => return Err(Error::bad_request("Invalid stream: must be true or false")),
        };
        Ok(AgentRequest {
            prompt: Prompt::Text(query),
            session_id,
            stream,
        })
    }
}

/// The seed's rule: every character outside `[a-zA-Z0-9_-]` becomes `_`, so the directory is
/// the one the Python app wrote. Ids that would still be unusable are refused.
pub fn sanitize_session_id(raw: &str) -> Result<String, Error> {
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.len() > MAX_SESSION_ID_BYTES {
        return Err(Error::bad_request(format!(
            "Invalid session_id: longer than {MAX_SESSION_ID_BYTES} bytes after sanitising"
        )));
    }
    Ok(safe)
}

fn accepts_only_event_stream(ctx: &RequestContext) -> bool {
    ctx.header("accept").is_some_and(|accept| {
        let mut types = accept
            .split(',')
            .map(|t| t.split(';').next().unwrap_or("").trim())
            .filter(|t| !t.is_empty());
        types.all(|t| t.eq_ignore_ascii_case("text/event-stream"))
            && accept
                .split(',')
                .any(|t| t.trim().to_ascii_lowercase().starts_with("text/event-stream"))
    })
}

fn no_model() -> Error {
    Error::http(503, NO_MODEL_MESSAGE).with_type("ModelNotConfigured")
}

/// The JSON answer: the structured output object, else `{"response": str(result)}`.
fn response_value(result: &AgentResult) -> Value {
    result.response_value()
}

fn final_event(result: &AgentResult, session_id: &str) -> Value {
    json!({
        "type": "final",
        "result": response_value(result),
        "stop_reason": result.stop_reason,
        "usage": serde_json::to_value(result.usage).unwrap_or(Value::Null),
        "session_id": session_id,
    })
}

/// Runs the agent, forwarding its events to `sink`, then the final (or error) event; returns
/// the error sent.
fn run_streaming(
    agent: &Agent,
    request: AgentRequest,
    cancel: &CancelToken,
    trace: &TraceContext,
    sink: &mut EventSink<'_>,
) -> Option<Error> {
    let session_id = request.session_id.clone();
    let outcome = agent.invoke_traced(
        &request.session_id,
        request.prompt,
        cancel,
        trace,
        &mut |event: AgentEvent<'_>| {
            // A failed send means the client left: the agent sees the cancel flag at its next step.
            // The event is a Value already: written straight, without `send`'s generic copy.
            let _ = sink.send_serialized(pyjson::to_string(&event.to_json()).into_bytes());
        },
    );
    match outcome {
        Ok(result) => {
            let _ = sink.send_serialized(pyjson::to_string(&final_event(&result, &session_id)).into_bytes());
            None
        }
        Err(e) => {
            crate::logging::warn("invocation failed")
                .str("sessionId", &session_id)
                .str("error", &e.to_string())
                .emit();
            let error = Error::from(e);
            if !sink.is_closed() {
                let _ = sink.send_serialized(error.agent_event().into_bytes());
            }
            Some(error)
        }
    }
}

/// `/ws`: every text message is a payload; its events stream back, then the final (or error)
/// event; the connection stays open for the next one. The session header given at the
/// upgrade applies when a payload has no `session_id`.
fn serve_websocket(
    agent: Option<&Agent>,
    max_json_depth: usize,
    ws: &mut WebSocket<'_>,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let tracer = agent.map_or(&DISABLED, Agent::tracer);
    while let Some(message) = ws.recv()? {
        // One server span per message, in the trace the upgrade request came with.
        let span = server_span::start(tracer, ctx, "WS", "/ws");
        let text = match message {
            WsMessage::Text(text) => text,
            WsMessage::Binary(_) => {
                let err =
                    Error::bad_request("binary messages are not supported: send the payload as JSON text");
                ws.send_text(err.agent_event())?;
                server_span::end_message(span, None, Some(&err));
                continue;
            }
        };
        // The BodyError's own text as details (not /invocations' wording): what /ws has always sent.
        let answer = crate::pyjson::parse_body(text.as_bytes(), max_json_depth)
            .map_err(|e| Error::bad_request("Invalid JSON").with_details(e.to_string()))
            .and_then(|payload| AgentRequest::from_payload(&payload, ctx))
            .and_then(|request| agent.ok_or_else(no_model).map(|agent| (agent, request)));
        let (agent, request) = match answer {
            Ok(pair) => pair,
            Err(err) => {
                ws.send_text(err.agent_event())?;
                server_span::end_message(span, None, Some(&err));
                continue;
            }
        };
        let cancel = ctx.cancel_token().clone();
        let mut events = WsEvents(ws);
        let mut sink = EventSink::new(&mut events, cancel.clone());
        let session_id = request.session_id.clone();
        let trace = span.context();
        let error = run_streaming(agent, request, &cancel, &trace, &mut sink);
        server_span::end_message(span, Some(&session_id), error.as_ref());
        if ctx.is_cancelled() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(session: Option<&str>) -> RequestContext {
        let headers: Vec<(&str, &[u8])> = match session {
            Some(s) => vec![("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", s.as_bytes())],
            None => vec![],
        };
        RequestContext::from_headers(headers)
    }

    fn session_of(payload: Value, header: Option<&str>) -> Result<String, Error> {
        AgentRequest::from_payload(&payload, &ctx(header)).map(|r| r.session_id)
    }

    #[test]
    fn query_rules() {
        let missing = r#"{"error":"Missing required field: query"}"#;
        for bad in [
            json!({}),
            json!({"query": ""}),
            json!({"query": 3}),
            json!([1]),
            json!("q"),
            json!({"query": "  "}),
        ] {
            let err = AgentRequest::from_payload(&bad, &ctx(None)).unwrap_err();
            assert_eq!(err.status(), 400);
            assert_eq!(
                crate::pyjson::to_string_compact(&json!({"error": err.message()})),
                missing
            );
        }
        let r = AgentRequest::from_payload(&json!({"prompt": "hi"}), &ctx(None)).unwrap();
        assert!(matches!(r.prompt, Prompt::Text(ref t) if t == "hi"));
        let r = AgentRequest::from_payload(&json!({"query": "q", "prompt": "p", "stream": true}), &ctx(None))
            .unwrap();
        assert!(matches!(r.prompt, Prompt::Text(ref t) if t == "q"));
        assert_eq!(r.stream, Some(true));
        let stream_of = |payload: Value| AgentRequest::from_payload(&payload, &ctx(None)).map(|r| r.stream);
        assert_eq!(
            stream_of(json!({"query": "q", "stream": false})).unwrap(),
            Some(false)
        );
        assert_eq!(stream_of(json!({"query": "q", "stream": null})).unwrap(), None);
        assert_eq!(stream_of(json!({"query": "q"})).unwrap(), None);
        let refused = stream_of(json!({"query": "q", "stream": "true"})).unwrap_err();
        assert_eq!(
            (refused.status(), refused.message()),
            (400, "Invalid stream: must be true or false")
        );
    }

    #[test]
    fn session_id_rules() {
        assert_eq!(session_of(json!({"query": "q"}), None).unwrap(), "default");
        assert_eq!(session_of(json!({"query": "q"}), Some("hdr")).unwrap(), "hdr");
        assert_eq!(
            session_of(json!({"query": "q", "session_id": "p"}), Some("hdr")).unwrap(),
            "p"
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": ""}), Some("hdr")).unwrap(),
            "hdr"
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": "../x"}), None).unwrap(),
            "___x"
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": "ünï cöde"}), None).unwrap(),
            "_n__c_de"
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": "a/b.c"}), None).unwrap(),
            "a_b_c"
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": "x".repeat(201)}), None)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            session_of(json!({"query": "q", "session_id": 5}), None)
                .unwrap_err()
                .status(),
            400
        );
    }

    /// A scripted client: the messages it sends, then a normal close; what it receives.
    struct Client {
        to_send: std::collections::VecDeque<WsMessage>,
        received: Vec<String>,
    }

    impl crate::app::WsTransport for Client {
        fn recv(&mut self) -> Result<Option<WsMessage>, crate::app::WsError> {
            Ok(self.to_send.pop_front())
        }
        fn send(&mut self, message: WsMessage) -> Result<(), crate::app::WsError> {
            if let WsMessage::Text(text) = message {
                self.received.push(text);
            }
            Ok(())
        }
        fn close(&mut self, _: u16, _: &str) -> Result<(), crate::app::WsError> {
            Ok(())
        }
    }

    fn ws_answers(config: crate::config::ServerConfig, messages: &[String]) -> Vec<String> {
        let mut app = App::new();
        app.config(config);
        install(&mut app, None);
        let mut client = Client {
            to_send: messages.iter().cloned().map(WsMessage::Text).collect(),
            received: Vec::new(),
        };
        app.handle_websocket(&mut WebSocket::new(&mut client), &ctx(None))
            .unwrap();
        client.received
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    fn too_deep(limit: usize) -> String {
        format!(
            r#"{{"type": "error", "error": "Invalid JSON", "error_type": "Error", "message": "An error occurred during streaming", "status": 400, "details": "JSON nesting deeper than {limit} levels"}}"#
        )
    }

    #[test]
    fn ws_messages_nest_at_most_max_json_depth() {
        let default = crate::config::ServerConfig::default();
        assert_eq!(default.max_json_depth, 256);
        assert_eq!(ws_answers(default, &[nested(257)]), [too_deep(256)]);

        let small = crate::config::ServerConfig {
            max_json_depth: 4,
            ..crate::config::ServerConfig::default()
        };
        let answers = ws_answers(small, &[nested(5), nested(4)]);
        assert_eq!(answers[0], too_deep(4));
        // Within the limit the message parses, and fails later for want of a query.
        let missing: Value = serde_json::from_str(&answers[1]).unwrap();
        assert_eq!(missing["error"], "Missing required field: query");
    }
}
