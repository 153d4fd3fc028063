//! The HTTP server span of each request the agent serves (`POST /invocations`, each `/ws`
//! message): `SpanKind::Server`, named and attributed as OpenTelemetry's HTTP semantic
//! conventions ask (`{method} {route}`, `http.request.method`, `http.route`, `url.path`,
//! `url.scheme`, `http.response.status_code`, `error.type` on a 5xx), plus the AgentCore ids
//! (`session.id`, which AgentCore Evaluations finds spans by, and the request id as
//! `aws.request_id`). It joins the caller's trace (W3C `traceparent`/`tracestate`/`baggage`, or
//! `X-Amzn-Trace-Id`) and is the parent of `invoke_agent`.
//!
//! The JSON-RPC routes (MCP's `POST /mcp`, A2A's `POST /`) get the same span with the
//! JSON-RPC conventions' attributes on top (`set_jsonrpc`); a request refused before its
//! handler runs (401, 413, 503) gets one too, made by the wire layer.

use std::sync::Arc;

use serde_json::Value;

use crate::app::{Output, RequestContext};
use crate::error::Error;
use crate::telemetry::{Span, SpanKind, Status, TraceContext, Tracer};

/// The instrumentation scope of the server spans.
pub const HTTP_SCOPE: &str = "agentcore_rt.http";

/// Starts the server span of a request (or of one `/ws` message) under the caller's context.
pub(crate) fn start(tracer: &Tracer, ctx: &RequestContext, method: &str, route: &str) -> Span {
    start_under(tracer, ctx, method, route, None)
}

/// [`start`] under `parent` when it is given (a context the body carried: MCP's
/// `params._meta`), else under the caller's headers.
pub(crate) fn start_under(
    tracer: &Tracer,
    ctx: &RequestContext,
    method: &str,
    route: &str,
    parent: Option<TraceContext>,
) -> Span {
    if !tracer.is_enabled() {
        return Span::NONE;
    }
    let parent = parent.unwrap_or_else(|| TraceContext::extract(|name| ctx.header(name)));
    let mut span = tracer.start_scoped(HTTP_SCOPE, format!("{method} {route}"), SpanKind::Server, &parent);
    if span.is_recording() {
        span.set("http.request.method", method);
        span.set("http.route", route);
        span.set("url.path", route);
        span.set("url.scheme", if method == "WS" { "ws" } else { "http" });
        if let Some(agent) = ctx.header("user-agent") {
            span.set("user_agent.original", agent);
        }
        span.set("aws.request_id", ctx.request_id.as_str());
        if let Some(session) = ctx.session_id.as_deref().filter(|s| !s.is_empty()) {
            span.set("session.id", session);
        }
    }
    span
}

/// `ctx` with the span's context as its `trace`: what the handler parents its spans on; and
/// where it records the session it runs the request in ([`RequestContext::record_session`]).
pub(crate) fn traced(ctx: &RequestContext, span: &Span) -> RequestContext {
    let mut traced = ctx.clone();
    traced.trace = span.context();
    traced.span_session = Some(Arc::default());
    traced
}

/// The JSON-RPC conventions' attributes of a request (OpenTelemetry's JSON-RPC server span):
/// `rpc.system.name` (the current name of `rpc.system`), `rpc.method`,
/// `jsonrpc.protocol.version`, and `jsonrpc.request.id` unless the id is null (or absent: a
/// notification).
pub(crate) fn set_jsonrpc(span: &mut Span, method: &str, id: Option<&Value>) {
    if !span.is_recording() {
        return;
    }
    span.set("rpc.system.name", "jsonrpc");
    span.set("rpc.method", method);
    span.set("jsonrpc.protocol.version", "2.0");
    match id {
        Some(Value::String(id)) => span.set("jsonrpc.request.id", id.as_str()),
        Some(Value::Null) | None => {}
        Some(other) => span.set("jsonrpc.request.id", other.to_string()),
    }
}

/// A JSON-RPC answer's error code, when `answer` is an error answer: recorded as
/// `rpc.response.status_code` (a string, as the conventions have it). The span's status stays
/// the HTTP one's: an HTTP server span is an error only for a 5xx.
pub(crate) fn set_jsonrpc_answer(span: &mut Span, answer: &Value) {
    if !span.is_recording() {
        return;
    }
    if let Some(code) = answer.get("error").and_then(|e| e.get("code")) {
        span.set("rpc.response.status_code", code.to_string());
    }
}

/// `ctx`, or a copy carrying the span's context when the span exists: what a handler parents
/// its spans on. Nothing is copied with tracing off.
pub(crate) fn traced_or<'c>(
    ctx: &'c RequestContext,
    span: &Span,
    copy: &'c mut Option<RequestContext>,
) -> &'c RequestContext {
    if span.span_context().is_none() {
        return ctx;
    }
    copy.insert(traced(ctx, span))
}

/// Ends the span once `output` is answered: now for a whole answer (with its status), when the
/// stream ends for a stream (its status is 200 whatever happens in it).
pub(crate) fn end_with(span: Span, output: Result<Output, Error>) -> Result<Output, Error> {
    match output {
        Ok(output) => Ok(end_output(span, output)),
        Err(e) => {
            end(span, e.status(), Some(&e));
            Err(e)
        }
    }
}

/// [`end_with`] for an answer that cannot fail.
pub(crate) fn end_output(span: Span, output: Output) -> Output {
    if span.span_context().is_none() {
        return output;
    }
    match output {
        Output::Stream(stream) => Output::stream(move |sink| {
            let result = stream(sink);
            end(span, 200, None);
            result
        }),
        output => {
            let status = match &output {
                Output::Response(response) => response.status,
                _ => 200,
            };
            end(span, status, None);
            output
        }
    }
}

/// Ends a server span with the response status: a 5xx is an error (a 4xx is the client's, and
/// leaves a server span's status unset, per the HTTP conventions).
pub(crate) fn end(mut span: Span, status: u16, error: Option<&Error>) {
    if !span.is_recording() {
        return;
    }
    span.set("http.response.status_code", i64::from(status));
    if status >= 500 {
        let description = error.map_or_else(|| format!("HTTP {status}"), |e| e.message().to_string());
        span.set("error.type", status.to_string());
        span.set_status(Status::Error(description));
    }
}

/// The session the handler recorded in `traced` (the payload's `session_id`, AG-UI's
/// `threadId`) replaces the header's: the span must name the session its `invoke_agent` runs in.
pub(crate) fn set_recorded_session(span: &mut Span, traced: &RequestContext) {
    if !span.is_recording() {
        return;
    }
    if let Some(session) = traced.span_session.as_ref().and_then(|s| s.get()) {
        span.set("session.id", session.as_str());
    }
}

/// Ends the span of one `/ws` message: there is no status code, so an error event's status
/// stands in for it.
pub(crate) fn end_message(mut span: Span, session_id: Option<&str>, error: Option<&Error>) {
    if !span.is_recording() {
        return;
    }
    if let Some(session) = session_id {
        span.set("session.id", session);
    }
    if let Some(e) = error
        && e.status() >= 500
    {
        span.set("error.type", e.status().to_string());
        span.set_status(Status::Error(e.message().to_string()));
    }
}
