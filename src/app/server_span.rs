//! The HTTP server span of each request the agent serves (`POST /invocations`, each `/ws`
//! message): `SpanKind::Server`, named and attributed as OpenTelemetry's HTTP semantic
//! conventions ask (`{method} {route}`, `http.request.method`, `http.route`, `url.path`,
//! `url.scheme`, `http.response.status_code`, `error.type` on a 5xx), plus the AgentCore ids
//! (`session.id`, which AgentCore Evaluations finds spans by, and the request id as
//! `aws.request_id`). It joins the caller's trace (W3C `traceparent`/`tracestate`/`baggage`, or
//! `X-Amzn-Trace-Id`) and is the parent of `invoke_agent`.

use std::sync::Arc;

use crate::app::RequestContext;
use crate::error::Error;
use crate::telemetry::{Span, SpanKind, Status, TraceContext, Tracer};

/// The instrumentation scope of the server spans.
pub const HTTP_SCOPE: &str = "agentcore_rt.http";

/// Starts the server span of a request (or of one `/ws` message) under the caller's context.
pub(crate) fn start(tracer: &Tracer, ctx: &RequestContext, method: &str, route: &str) -> Span {
    if !tracer.is_enabled() {
        return Span::NONE;
    }
    let parent = TraceContext::extract(|name| ctx.header(name));
    let mut span = tracer.start_scoped(HTTP_SCOPE, format!("{method} {route}"), SpanKind::Server, &parent);
    if span.is_recording() {
        span.set("http.request.method", method);
        span.set("http.route", route);
        span.set("url.path", route);
        span.set("url.scheme", if route == "/ws" { "ws" } else { "http" });
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

/// Ends a server span with the response status: a 5xx is an error (a 4xx is the client's, and
/// leaves a server span's status unset, per the HTTP conventions). The session the handler
/// recorded in `traced` replaces the header's.
pub(crate) fn end(mut span: Span, traced: &RequestContext, status: u16, error: Option<&Error>) {
    if !span.is_recording() {
        return;
    }
    if let Some(session) = traced.span_session.as_ref().and_then(|s| s.get()) {
        span.set("session.id", session.as_str());
    }
    span.set("http.response.status_code", i64::from(status));
    if status >= 500 {
        let description = error.map_or_else(|| format!("HTTP {status}"), |e| e.message().to_string());
        span.set("error.type", status.to_string());
        span.set_status(Status::Error(description));
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
