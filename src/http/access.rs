//! The request log: one JSON line per answered request (method, path, status, duration,
//! the request's ids), never its headers or query (they may carry secrets); and the server
//! span of a request refused before its handler ran, which has no handler to make it.

use std::time::Instant;

use super::request::Request;
use super::service::Service;
use crate::app::{RequestContext, server_span};
use crate::error::Error;
use crate::logging::{self, Level, Line};

fn line<'a>(level: Level, method: &'a str, path: &'a str, status: u16, started: Instant) -> Line<'a> {
    Line::new(level, "request")
        .str("method", method)
        .str("path", path)
        .num("status", status)
        .float("durationMs", started.elapsed().as_secs_f64() * 1000.0)
}

fn with_ids<'a>(line: Line<'a>, ctx: &'a RequestContext) -> Line<'a> {
    line.str("requestId", &ctx.request_id)
        .opt_str("sessionId", ctx.session_id.as_deref())
}

/// A request answered with `status`.
pub(crate) fn request(req: &Request<'_>, started: Instant, status: u16, ctx: Option<&RequestContext>) {
    let line = line(Level::Info, req.method_str(), req.path(), status, started);
    match ctx {
        Some(ctx) => with_ids(line, ctx).emit(),
        None => line.emit(),
    }
}

/// A health check answered on the fast path (its path as routed).
pub(crate) fn ping(head_only: bool, path: &str, started: Instant) {
    let method = if head_only { "HEAD" } else { "GET" };
    line(Level::Info, method, path, 200, started).emit();
}

/// A handler that failed: a warning for the client's errors, an error for ours.
pub(crate) fn failure(req: &Request<'_>, started: Instant, ctx: &RequestContext, err: &Error) {
    let level = if err.status() >= 500 {
        Level::Error
    } else {
        Level::Warn
    };
    with_ids(
        line(level, req.method_str(), req.path(), err.status(), started),
        ctx,
    )
    .str("errorType", err.error_type())
    .str("errorMessage", err.message())
    .emit();
}

/// A WebSocket session that ended with `close_code`.
pub(crate) fn session(req: &Request<'_>, started: Instant, ctx: &RequestContext, close_code: u16) {
    let line = Line::new(Level::Info, "request")
        .str("method", "GET")
        .str("path", req.path())
        .num("status", 101)
        .num("closeCode", close_code)
        .float("durationMs", started.elapsed().as_secs_f64() * 1000.0);
    with_ids(line, ctx).emit();
}

/// A request refused before it could be parsed.
pub(crate) fn unparsed(status: u16, message: &str) {
    logging::warn(message).num("status", status).emit();
}

/// The server span of a request to a traced route refused before its handler ran (401, 413,
/// 503, ...): the span the handler would have made, with the refusal's status. Nothing for
/// answers below 400, untraced routes, or with tracing off (one branch then); `ctx` is the
/// request's context when it was already built.
pub(crate) fn trace_refusal(
    service: &dyn Service,
    req: &Request<'_>,
    ctx: Option<&RequestContext>,
    status: u16,
    error: Option<&Error>,
) {
    let tracer = service.tracer();
    if status < 400 || !tracer.is_enabled() {
        return;
    }
    let Some(route) = service.traced_route(req) else {
        return;
    };
    let built;
    let ctx = match ctx {
        Some(ctx) => ctx,
        None => {
            built = RequestContext::from_headers(req.header_pairs());
            &built
        }
    };
    let span = server_span::start(tracer, ctx, "POST", route);
    server_span::end(span, status, error);
}
