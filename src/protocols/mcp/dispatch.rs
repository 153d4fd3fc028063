//! [`McpServer`]: one HTTP request's JSON-RPC body in, the answer out (JSON, an SSE stream, or
//! 202 for notifications), statelessly.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::rpc::{
    self, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Incoming, METHOD_NOT_FOUND, PARSE_ERROR,
};
use super::tool::{FnTool, McpTools, ToolCall};
use super::{CallResult, DEFAULT_PROTOCOL_VERSION, MAX_BATCH, PROTOCOL_VERSIONS};
use crate::app::server_span;
use crate::app::{EventSink, Output, RequestContext, Response};
use crate::error::Error;
use crate::telemetry::{Span, TraceContext, Tracer};

/// The header a client names its negotiated revision in, on every request after `initialize`.
const VERSION_HEADER: &str = "mcp-protocol-version";

/// An MCP server: its identity and the tools it offers. See the [module docs](super).
pub struct McpServer {
    name: String,
    version: String,
    instructions: Option<String>,
    tools: Vec<Arc<dyn McpTools>>,
}

/// What the client's `Accept` allows: a JSON answer, an SSE stream, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts {
    /// `application/json` (or a wildcard covering it).
    pub json: bool,
    /// `text/event-stream` (or a wildcard covering it).
    pub sse: bool,
}

impl Accepts {
    /// Reads an `Accept` header. The spec has clients list both types; a missing header, `*/*`
    /// (curl's default) and `q` weights other than 0 are taken as they mean in HTTP.
    ///
    /// ```
    /// use agentcore_rt::protocols::mcp::Accepts;
    ///
    /// let both = Accepts::from_header(Some("application/json, text/event-stream"));
    /// assert!(both.json && both.sse);
    /// assert_eq!(Accepts::from_header(None), Accepts { json: true, sse: true });
    /// assert_eq!(Accepts::from_header(Some("text/html")), Accepts { json: false, sse: false });
    /// assert_eq!(Accepts::from_header(Some("text/*")), Accepts { json: false, sse: true });
    /// ```
    pub fn from_header(accept: Option<&str>) -> Accepts {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Accepts {
                json: true,
                sse: true,
            };
        };
        let mut out = Accepts {
            json: false,
            sse: false,
        };
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match media.as_str() {
                "*/*" => {
                    out = Accepts {
                        json: true,
                        sse: true,
                    }
                }
                "application/json" | "application/*" => out.json = true,
                "text/event-stream" | "text/*" => out.sse = true,
                _ => {}
            }
        }
        out
    }

    /// Neither: the request is refused with 406.
    pub fn none(self) -> bool {
        !self.json && !self.sse
    }
}

impl McpServer {
    /// A server named `name` (`serverInfo` in the `initialize` answer) without tools.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> McpServer {
        McpServer {
            name: name.into(),
            version: version.into(),
            instructions: None,
            tools: Vec::new(),
        }
    }

    /// `instructions` in the `initialize` answer: how to use the server, for the client's model.
    pub fn instructions(&mut self, text: impl Into<String>) -> &mut McpServer {
        self.instructions = Some(text.into());
        self
    }

    /// Adds one tool: its definition as `tools/list` shows it (it must have a `name`; add
    /// `description`, `inputSchema`, `outputSchema` as the spec describes them), and the
    /// function a `tools/call` of it runs on a worker thread. An `Err` becomes an `isError`
    /// result carrying its message.
    pub fn tool<F>(&mut self, definition: Value, run: F) -> &mut McpServer
    where
        F: Fn(&Map<String, Value>, &mut ToolCall<'_, '_>) -> Result<CallResult, Error>
            + Send
            + Sync
            + 'static,
    {
        let name = definition
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.tools.push(Arc::new(FnTool {
            definition,
            name,
            run,
        }));
        self
    }

    /// Adds a set of tools (listed after those added before it; a name is called in the first
    /// set that has it).
    pub fn tools(&mut self, set: Arc<dyn McpTools>) -> &mut McpServer {
        self.tools.push(set);
        self
    }

    /// Answers one `POST /mcp` body: a message or (in 2025-03-26) a batch. JSON when `accepts`
    /// allows it, except a `tools/call` with a progress token when SSE is allowed too, which
    /// streams its progress and then its response; only SSE allowed: a stream. Notifications
    /// and responses alone: 202 without a body. Bad JSON and invalid messages: 400 with a
    /// JSON-RPC error. JSON nests at most `max_json_depth` levels. Blocking: call it on a
    /// worker thread.
    pub fn handle(
        self: &Arc<Self>,
        body: &[u8],
        ctx: &RequestContext,
        accepts: Accepts,
        max_json_depth: usize,
    ) -> Output {
        self.handle_traced(body, ctx, accepts, max_json_depth, &Tracer::disabled())
    }

    /// [`McpServer::handle`] under the request's HTTP server span (`POST /mcp`), made with
    /// `tracer`, with the JSON-RPC attributes of a single message. The span joins the trace
    /// context of the message's `params._meta` (`traceparent`, `tracestate`, `baggage`: what
    /// the MCP SDKs inject, SEP-414) when it has a valid one, else the request headers', as the
    /// MCP Python SDK's server span does. Tools see the span's context in
    /// [`RequestContext::trace`].
    pub fn handle_traced(
        self: &Arc<Self>,
        body: &[u8],
        ctx: &RequestContext,
        accepts: Accepts,
        max_json_depth: usize,
        tracer: &Tracer,
    ) -> Output {
        let value = match parse(body, ctx, max_json_depth) {
            Ok(value) => value,
            Err(answer) => {
                let span = server_span::start(tracer, ctx, "POST", ROUTE);
                return server_span::end_output(span, answer);
            }
        };
        let parent = if tracer.is_enabled() {
            meta_trace(&value)
        } else {
            None
        };
        let mut span = server_span::start_under(tracer, ctx, "POST", ROUTE, parent);
        if let Some(method) = value.get("method").and_then(Value::as_str) {
            server_span::set_jsonrpc(&mut span, method, value.get("id"));
        }
        let mut copy = None;
        let ctx = server_span::traced_or(ctx, &span, &mut copy);
        match value {
            Value::Array(batch) => {
                let version = protocol_version(ctx).unwrap_or(DEFAULT_PROTOCOL_VERSION);
                server_span::end_output(span, self.batch(batch, version, ctx, accepts))
            }
            single => self.single(single, ctx, accepts, span),
        }
    }

    fn single(
        self: &Arc<Self>,
        value: Value,
        ctx: &RequestContext,
        accepts: Accepts,
        mut span: Span,
    ) -> Output {
        let (id, method, params) = match rpc::classify(value) {
            Err(invalid) => {
                let answer = rpc::error(invalid.id, invalid.code, &invalid.message, None);
                server_span::set_jsonrpc_answer(&mut span, &answer);
                return server_span::end_output(span, bad_request(answer));
            }
            Ok(Incoming::Notification | Incoming::Response) => {
                return server_span::end_output(span, accepted());
            }
            Ok(Incoming::Request { id, method, params }) => (id, method, params),
        };
        let token = progress_token(&method, params.as_ref());
        if accepts.sse && (token.is_some() || !accepts.json) {
            let server = Arc::clone(self);
            let ctx = ctx.clone();
            return Output::stream(move |sink| {
                let response = match &token {
                    Some(token) => {
                        let mut call = ToolCall::with_progress(&ctx, token, sink);
                        server.respond(id, &method, params, &mut call)
                    }
                    None => server.respond(id, &method, params, &mut ToolCall::new(&ctx)),
                };
                server_span::set_jsonrpc_answer(&mut span, &response);
                send(sink, &response);
                server_span::end(span, 200, None);
                Ok(())
            });
        }
        let response = self.respond(id, &method, params, &mut ToolCall::new(ctx));
        server_span::set_jsonrpc_answer(&mut span, &response);
        server_span::end_output(span, json_response(200, &response))
    }

    fn batch(&self, batch: Vec<Value>, version: &str, ctx: &RequestContext, accepts: Accepts) -> Output {
        if version != "2025-03-26" {
            let message = format!("Invalid Request: protocol version {version} has no JSON-RPC batches");
            return bad_request(rpc::error(Value::Null, INVALID_REQUEST, &message, None));
        }
        if batch.is_empty() || batch.len() > MAX_BATCH {
            let message = format!(
                "Invalid Request: a batch holds 1 to {MAX_BATCH} messages, this one {}",
                batch.len()
            );
            return bad_request(rpc::error(Value::Null, INVALID_REQUEST, &message, None));
        }
        let mut responses = Vec::new();
        for value in batch {
            match rpc::classify(value) {
                Err(invalid) => responses.push(rpc::error(invalid.id, invalid.code, &invalid.message, None)),
                Ok(Incoming::Notification | Incoming::Response) => {}
                Ok(Incoming::Request { id, method, .. }) if method == "initialize" => {
                    responses.push(rpc::error(
                        id,
                        INVALID_REQUEST,
                        "Invalid Request: initialize must not be part of a batch",
                        None,
                    ))
                }
                Ok(Incoming::Request { id, method, params }) => {
                    responses.push(self.respond(id, &method, params, &mut ToolCall::new(ctx)))
                }
            }
            if ctx.is_cancelled() {
                break;
            }
        }
        if responses.is_empty() {
            return accepted();
        }
        if accepts.json {
            return json_response(200, &Value::Array(responses));
        }
        Output::stream(move |sink| {
            for response in &responses {
                send(sink, response);
            }
            Ok(())
        })
    }

    /// The response to one request.
    fn respond(
        &self,
        id: Value,
        method: &str,
        params: Option<Map<String, Value>>,
        call: &mut ToolCall<'_, '_>,
    ) -> Value {
        let params = params.unwrap_or_default();
        let answer = match method {
            "initialize" => self.initialize(&params),
            "ping" => Ok(json!({})),
            "tools/list" => self.list_tools(call.context()),
            "tools/call" => self.call_tool(&params, call),
            _ => Err((METHOD_NOT_FOUND, format!("Method not found: {method}"))),
        };
        match answer {
            Ok(result) => rpc::result(id, result),
            Err((code, message)) => rpc::error(id, code, &message, None),
        }
    }

    fn initialize(&self, params: &Map<String, Value>) -> Result<Value, (i64, String)> {
        let Some(asked) = params.get("protocolVersion").and_then(Value::as_str) else {
            return Err((
                INVALID_PARAMS,
                "Invalid params: \"protocolVersion\" must be a string".into(),
            ));
        };
        let version = PROTOCOL_VERSIONS
            .iter()
            .find(|v| **v == asked)
            .unwrap_or(&PROTOCOL_VERSIONS[0]);
        let mut result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": self.name, "version": self.version},
        });
        if let Some(instructions) = &self.instructions {
            result["instructions"] = json!(instructions);
        }
        Ok(result)
    }

    fn list_tools(&self, ctx: &RequestContext) -> Result<Value, (i64, String)> {
        let mut tools = Vec::new();
        for set in &self.tools {
            let listed = catch_unwind(AssertUnwindSafe(|| set.list(ctx)))
                .unwrap_or_else(|_| Err(Error::new("listing the tools panicked")));
            tools.extend(
                listed.map_err(|e| (INTERNAL_ERROR, format!("cannot list the tools: {}", e.message())))?,
            );
        }
        Ok(json!({ "tools": tools }))
    }

    fn call_tool(
        &self,
        params: &Map<String, Value>,
        call: &mut ToolCall<'_, '_>,
    ) -> Result<Value, (i64, String)> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err((INVALID_PARAMS, "Invalid params: \"name\" must be a string".into()));
        };
        let empty = Map::new();
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(arguments)) => arguments,
            Some(_) => {
                return Err((
                    INVALID_PARAMS,
                    "Invalid params: \"arguments\" must be an object".into(),
                ));
            }
        };
        for set in &self.tools {
            let outcome = catch_unwind(AssertUnwindSafe(|| set.call(name, arguments, call)));
            match outcome {
                Ok(Some(result)) => return Ok(result.to_json()),
                Ok(None) => continue,
                Err(_) => {
                    crate::logging::error("MCP tool panicked")
                        .str("tool", name)
                        .str("requestId", &call.context().request_id)
                        .emit();
                    return Ok(CallResult::error(format!("internal error: tool {name} panicked")).to_json());
                }
            }
        }
        Err((INVALID_PARAMS, format!("Unknown tool: {name}")))
    }
}

/// The route the wire layer mounts the server on (the server span's `http.route`).
const ROUTE: &str = "/mcp";

/// The revision the request names in its header, when it is one this server speaks.
fn protocol_version(ctx: &RequestContext) -> Option<&'static str> {
    let asked = ctx
        .header(VERSION_HEADER)
        .map(str::trim)
        .filter(|v| !v.is_empty())?;
    PROTOCOL_VERSIONS.iter().copied().find(|v| *v == asked)
}

/// The body as JSON, once the revision header is checked; `Err` is the 400 to answer.
fn parse(body: &[u8], ctx: &RequestContext, max_json_depth: usize) -> Result<Value, Output> {
    if let Some(asked) = ctx
        .header(VERSION_HEADER)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        && protocol_version(ctx).is_none()
    {
        let message = format!(
            "Bad Request: unsupported protocol version {asked:?} (supported: {})",
            PROTOCOL_VERSIONS.join(", ")
        );
        return Err(bad_request(rpc::error(
            Value::Null,
            INVALID_REQUEST,
            &message,
            None,
        )));
    }
    crate::pyjson::parse_body(body, max_json_depth).map_err(|e| {
        let data = json!({"details": e.to_string()});
        bad_request(rpc::error(Value::Null, PARSE_ERROR, "Parse error", Some(data)))
    })
}

/// The trace context a single message carries in `params._meta` (W3C keys, as the SDKs inject
/// them), when it holds a valid `traceparent`. An X-Ray key there (Strands under ADOT's
/// propagators may add one beside `traceparent`) is not read: SEP-414 specifies the W3C keys.
fn meta_trace(message: &Value) -> Option<TraceContext> {
    let meta = message.get("params")?.get("_meta")?.as_object()?;
    let w3c = |name: &str| meta.get(name).and_then(Value::as_str);
    let traceparent = w3c(crate::telemetry::propagation::TRACEPARENT)?;
    crate::telemetry::propagation::parse_traceparent(traceparent)?;
    Some(TraceContext::extract(|name| {
        if name == crate::telemetry::propagation::X_AMZN_TRACE_ID {
            None
        } else {
            w3c(name)
        }
    }))
}

/// `params._meta.progressToken` of a `tools/call` (a string or an integer, as the spec says).
fn progress_token(method: &str, params: Option<&Map<String, Value>>) -> Option<Value> {
    if method != "tools/call" {
        return None;
    }
    let token = params?.get("_meta")?.get("progressToken")?;
    match token {
        Value::String(_) => Some(token.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(token.clone()),
        _ => None,
    }
}

fn send(sink: &mut EventSink<'_>, message: &Value) {
    // A failed send means the client left; the request's token is cancelled by then.
    let _ = sink.send_serialized(crate::pyjson::to_string_compact(message).into_bytes());
}

fn json_response(status: u16, message: &Value) -> Output {
    Output::Response(Response::json(status, message))
}

fn bad_request(message: Value) -> Output {
    json_response(400, &message)
}

/// 202 Accepted, no body: the spec's answer to notifications and responses.
fn accepted() -> Output {
    Output::Response(Response {
        status: 202,
        headers: Vec::new(),
        body: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Accepts = Accepts {
        json: true,
        sse: true,
    };

    fn server() -> Arc<McpServer> {
        let mut server = McpServer::new("t", "1");
        server.tool(json!({"name": "echo"}), |args, _call| {
            Ok(CallResult::text(crate::pyjson::to_string_compact(
                &Value::Object(args.clone()),
            )))
        });
        server.tool(json!({"name": "boom"}), |_, _| panic!("boom"));
        Arc::new(server)
    }

    fn ctx(version: Option<&str>) -> RequestContext {
        let headers: Vec<(&str, &[u8])> = version
            .map(|v| (VERSION_HEADER, v.as_bytes()))
            .into_iter()
            .collect();
        RequestContext::from_headers(headers)
    }

    /// The status and JSON body of a non-streamed answer.
    fn answer(body: &str, version: Option<&str>) -> (u16, Value) {
        match server().handle(body.as_bytes(), &ctx(version), BOTH, 64) {
            Output::Response(r) if r.body.is_empty() => (r.status, Value::Null),
            Output::Response(r) => (r.status, serde_json::from_slice(&r.body).unwrap()),
            other => panic!("not a response: {other:?}"),
        }
    }

    fn initialize(asked: &str) -> Value {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": asked}});
        answer(&body.to_string(), None).1["result"]["protocolVersion"].clone()
    }

    #[test]
    fn negotiates_the_clients_revision_or_our_newest() {
        for v in PROTOCOL_VERSIONS {
            assert_eq!(initialize(v), v);
        }
        assert_eq!(initialize("2024-11-05"), "2025-11-25");
        assert_eq!(initialize("2026-07-28"), "2025-11-25");
    }

    #[test]
    fn batches_follow_the_revision() {
        let batch =
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#;
        let (status, body) = answer(batch, None);
        assert_eq!(status, 200);
        assert_eq!(body[0]["result"], json!({}));
        assert_eq!(body[1]["result"]["tools"][1]["name"], "boom");
        assert_eq!(answer(batch, Some("2025-03-26")).0, 200);
        for v in ["2025-06-18", "2025-11-25"] {
            let (status, body) = answer(batch, Some(v));
            assert_eq!(
                (status, &body["error"]["code"]),
                (400, &json!(INVALID_REQUEST)),
                "{v}"
            );
        }
        let only_notes = r#"[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b"}]"#;
        assert_eq!(answer(only_notes, None), (202, Value::Null));
    }

    #[test]
    fn tool_calls_arguments_and_panics() {
        let call = |params: Value| {
            let body = json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call", "params": params});
            answer(&body.to_string(), Some("2025-11-25")).1
        };
        let echoed = call(json!({"name": "echo", "arguments": {"a": 1}}));
        assert_eq!(echoed["result"]["content"][0]["text"], r#"{"a":1}"#);
        assert_eq!(echoed["id"], "c");
        let no_arguments = call(json!({"name": "echo"}));
        assert_eq!(no_arguments["result"]["content"][0]["text"], "{}");
        let panicked = call(json!({"name": "boom"}));
        assert_eq!(
            panicked["result"]["isError"], true,
            "a panic is a failed call: {panicked}"
        );
        assert_eq!(call(json!({"name": "nope"}))["error"]["code"], INVALID_PARAMS);
    }

    #[test]
    fn meta_carries_a_w3c_trace_context() {
        let message = |meta: Value| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"_meta": meta}});
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let ctx = meta_trace(&message(json!({
            "traceparent": traceparent, "tracestate": "k=v", "baggage": "user=a", "progressToken": 1
        })))
        .expect("a context");
        let span = ctx.span.expect("a span");
        assert_eq!(span.trace_id.to_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(span.span_id.to_hex(), "b7ad6b7169203331");
        assert_eq!(span.trace_state, "k=v");
        assert_eq!(ctx.baggage.as_deref(), Some("user=a"));
        // No valid traceparent: the headers' context is used instead.
        assert_eq!(meta_trace(&message(json!({"traceparent": "00-zz"}))), None);
        assert_eq!(meta_trace(&message(json!({"traceparent": 7}))), None);
        assert_eq!(
            meta_trace(&message(json!({
                "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
            }))),
            None
        );
        assert_eq!(
            meta_trace(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})),
            None
        );
        assert_eq!(
            meta_trace(&json!([message(json!({"traceparent": traceparent}))])),
            None
        );
    }

    #[test]
    fn a_progress_token_or_an_sse_only_client_gets_a_stream() {
        let s = server();
        let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p"}}}"#;
        assert!(matches!(
            s.handle(call.as_bytes(), &ctx(None), BOTH, 64),
            Output::Stream(_)
        ));
        let json_only = Accepts {
            json: true,
            sse: false,
        };
        assert!(matches!(
            s.handle(call.as_bytes(), &ctx(None), json_only, 64),
            Output::Response(_)
        ));
        let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let sse_only = Accepts {
            json: false,
            sse: true,
        };
        assert!(matches!(
            s.handle(ping, &ctx(None), sse_only, 64),
            Output::Stream(_)
        ));
        assert!(matches!(
            s.handle(ping, &ctx(None), BOTH, 64),
            Output::Response(_)
        ));
    }
}
