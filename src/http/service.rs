//! The dispatch seam: what the server core asks of whatever it serves.
//!
//! The core (accept loop, connection state machine, parsing, body framing, responses, SSE,
//! WebSocket) knows nothing about paths or contracts. For each request it hands the parsed
//! head to a [`Service`], which answers with a [`Decision`]: the health check, an answer now,
//! a body to read and a handler to run on the worker pool, or a WebSocket session. The
//! AgentCore HTTP contract is one such service (agentcore.rs); MCP, A2A and AG-UI listeners
//! are meant to be others.

use super::request::{Next, Request};
use super::response::{self, Persist};
use crate::app::{Output, PingStatus, RequestContext, Response, WebSocket};
use crate::error::Error;
use crate::telemetry::Tracer;

/// The tracer of a service that has none.
static NO_TRACER: Tracer = Tracer::disabled();

/// A protocol served on one listener.
pub(crate) trait Service: Send + Sync {
    /// Decides what to do with a request whose head is parsed and whose body is unread.
    /// Called on the connection's coroutine: decide from what the request carries, never
    /// block.
    fn decide(&self, req: &Request<'_>) -> Decision;

    /// The path of the health check, if the service has one. A `GET` or `HEAD` of exactly
    /// this path (any query), without a body, is answered on the fast path: from the read
    /// buffer, before `decide` is asked and before anything is allocated. `decide` must answer
    /// [`Decision::Ping`] for it too (it sees the other forms: encoded, with a body).
    fn ping_path(&self) -> Option<&'static str>;

    /// The health the check reports now. Called for every check: keep it cheap.
    fn health(&self) -> Health;

    /// The server has drained and stopped: the last thing it does.
    fn stopped(&self);

    /// The tracer of the service's HTTP server spans; disabled unless the service has one.
    fn tracer(&self) -> &Tracer {
        &NO_TRACER
    }

    /// The route (`http.route`) of a request whose handler makes a server span (`POST
    /// /invocations`, `POST /mcp`, ...): when such a request is refused before its handler runs
    /// (401, 413, 503), the wire layer makes that span itself. `None` for everything else:
    /// unknown paths, other methods, and the health check, which is never traced.
    fn traced_route(&self, _req: &Request<'_>) -> Option<&'static str> {
        None
    }
}

/// What a health check reports; connections cache the answer until it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Health {
    pub(crate) status: PingStatus,
    /// `time_of_last_update`: when the status last changed (Unix seconds).
    pub(crate) since: u64,
}

impl Health {
    /// Appends the check's JSON body: `{"status":"Healthy","time_of_last_update":1795563048}`.
    pub(crate) fn write_body(self, out: &mut Vec<u8>) {
        crate::app::write_ping_json(out, self.status, self.since);
    }
}

/// What to do with one request.
pub(crate) enum Decision {
    /// The health check: `200 application/json` with the [`Service::health`] body; the one
    /// answer given past the connection limit.
    Ping,
    /// Answer now, without running a handler.
    Answer(Answer),
    /// Read the body, then run a handler on the worker pool and send what it returns.
    Invoke(Invocation),
    /// Complete the WebSocket handshake, then run a session handler.
    Upgrade(Session),
}

/// A handler for a request body; runs on a worker thread.
pub(crate) type InvokeFn = Box<dyn FnOnce(&[u8], &RequestContext) -> Result<Output, Error> + Send>;

/// A WebSocket session handler; runs on a thread of its own for the session's lifetime.
pub(crate) type SessionFn = Box<dyn FnOnce(&mut WebSocket<'_>, &RequestContext) -> Result<(), Error> + Send>;

/// A control call answered on the connection's coroutine, before the pool is asked: it sees the
/// (small) body and answers, or returns `None` to have the invocation run on the pool. It must be
/// quick and never block: read or flip in-memory state (a task's status, a cancel token), and
/// answer JSON, never a stream.
pub(crate) type QuickFn = Box<dyn FnOnce(&[u8], &RequestContext) -> Option<Result<Output, Error>> + Send>;

/// Work for the worker pool.
pub(crate) struct Invocation {
    /// The request's context (ids, headers the handler may see, cancellation).
    pub(crate) ctx: RequestContext,
    pub(crate) run: InvokeFn,
    /// Tried first for small bodies: control calls (A2A's `GetTask`, `CancelTask`) must not
    /// queue behind the long invocations they look at or cancel.
    pub(crate) quick: Option<QuickFn>,
}

/// A WebSocket session to run once the handshake is done.
pub(crate) struct Session {
    pub(crate) ctx: RequestContext,
    pub(crate) run: SessionFn,
}

/// An answer that needs no handler.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A `text/plain; charset=utf-8` answer with an optional extra header, given after the
    /// request body is read and dropped; keep-alive as the request allows.
    Text {
        status: u16,
        body: &'static str,
        header: Option<(&'static str, &'static str)>,
    },
    /// A complete response (a protocol's own error body), given after the request body is read
    /// and dropped; keep-alive as the request allows.
    Full(Response),
    /// 307 to this path on the same origin, the query kept (Starlette's `redirect_slashes`),
    /// after the body is read and dropped.
    Redirect(&'static str),
    /// An empty `text/plain` answer with this status, then close without reading the body
    /// (uvicorn's answer to a WebSocket handshake the app does not take).
    Refuse(u16),
    /// This error as JSON with these extra headers, then close without reading the body.
    Error(Error, &'static [(&'static str, &'static str)]),
}

impl Answer {
    /// An error answer without extra headers.
    pub(crate) fn error(error: Error) -> Answer {
        Answer::Error(error, &[])
    }

    /// Whether the connection reads (and drops) the request body before answering. Answers
    /// that close do not: the graceful close drains what the client still sends.
    pub(crate) fn reads_body(&self) -> bool {
        matches!(self, Answer::Text { .. } | Answer::Full(_) | Answer::Redirect(_))
    }

    /// Writes the answer to `out`; returns its status and how the connection continues.
    /// `host` gives the authority for a redirect when the request has no usable `Host`.
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        req: &Request<'_>,
        persist: Persist,
        host: impl FnOnce() -> Option<String>,
    ) -> (u16, Next) {
        let head_only = req.is_head();
        match self {
            Answer::Text { status, body, header } => {
                let extra: &[(&str, &str)] = match header {
                    Some(h) => std::slice::from_ref(h),
                    None => &[],
                };
                response::write_full(
                    out,
                    *status,
                    Some("text/plain; charset=utf-8"),
                    body.as_bytes(),
                    persist,
                    extra,
                    head_only,
                );
                (*status, Next::after(persist))
            }
            Answer::Full(resp) => {
                response::write_response(out, resp, persist, head_only);
                (resp.status, Next::after(persist))
            }
            Answer::Redirect(path) => {
                let location = absolute_url(req, path, host);
                let extra = [("location", location.as_str())];
                response::write_full(out, 307, None, b"", persist, &extra, head_only);
                (307, Next::after(persist))
            }
            Answer::Refuse(status) => {
                response::write_full(
                    out,
                    *status,
                    Some("text/plain; charset=utf-8"),
                    b"",
                    Persist::Close,
                    &[],
                    false,
                );
                (*status, Next::Close)
            }
            Answer::Error(error, extra) => {
                response::write_error(out, error, Persist::Close, head_only, extra);
                (error.status(), Next::Close)
            }
        }
    }
}

/// The request's URL with another path, as Starlette builds a redirect: scheme, Host (or our
/// own address), the new path, the query.
fn absolute_url(req: &Request<'_>, path: &str, host: impl FnOnce() -> Option<String>) -> String {
    let host = req
        .header("host")
        .and_then(|h| std::str::from_utf8(h).ok())
        .filter(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_control() || b == b' '))
        .map(str::to_string)
        .or_else(host)
        .unwrap_or_else(|| "localhost".into());
    match req.query() {
        Some(q) => format!("http://{host}{path}?{q}"),
        None => format!("http://{host}{path}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::http::request::tests::head;

    /// Writes `answer` for the request `raw`; returns the bytes as text (date masked) and the
    /// continuation.
    pub(crate) fn render(answer: &Answer, raw: &str, overloaded: bool) -> (String, Next) {
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        let mut out = Vec::new();
        let (status, next) = answer.write(&mut out, &req, req.persist(overloaded), || {
            Some("10.0.0.1:8080".into())
        });
        let text = mask_date(&String::from_utf8(out).expect("ASCII response"));
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        (text, next)
    }

    /// Replaces the `date` header's value, which changes every second.
    pub(crate) fn mask_date(text: &str) -> String {
        text.split("\r\n")
            .map(|line| {
                if line.starts_with("date: ") {
                    "date: *"
                } else {
                    line
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn text_answers_keep_the_connection_as_the_request_allows() {
        let answer = Answer::Text {
            status: 405,
            body: "Method Not Allowed",
            header: Some(("allow", "POST")),
        };
        assert!(answer.reads_body());
        let (text, next) = render(&answer, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", false);
        assert_eq!(
            text,
            "HTTP/1.1 405 Method Not Allowed\r\ndate: *\r\nserver: agentcore-rt\r\n\
             content-type: text/plain; charset=utf-8\r\ncontent-length: 18\r\nallow: POST\r\n\r\n\
             Method Not Allowed"
        );
        assert_eq!(next, Next::KeepAlive);
        let (text, next) = render(&answer, "HEAD /x HTTP/1.0\r\n\r\n", false);
        assert!(text.contains("connection: close\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "HEAD: no body, length kept: {text}");
        assert!(text.contains("content-length: 18\r\n"), "{text}");
        assert_eq!(next, Next::Close);
    }

    #[test]
    fn errors_and_refusals_always_close_and_leave_the_body_unread() {
        let raw = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        let err = Answer::Error(
            Error::http(401, "Unauthorized").with_details("no"),
            &[("www-authenticate", "Bearer")],
        );
        assert!(!err.reads_body());
        let (text, next) = render(&err, raw, false);
        assert_eq!(next, Next::Close);
        assert_eq!(
            text,
            "HTTP/1.1 401 Unauthorized\r\ndate: *\r\nserver: agentcore-rt\r\n\
             content-type: application/json\r\ncontent-length: 39\r\nconnection: close\r\n\
             www-authenticate: Bearer\r\n\r\n{\"error\":\"Unauthorized\",\"details\":\"no\"}"
        );
        let refuse = Answer::Refuse(403);
        assert!(!refuse.reads_body());
        let (text, next) = render(&refuse, raw, false);
        assert_eq!(next, Next::Close);
        assert_eq!(
            text,
            "HTTP/1.1 403 Forbidden\r\ndate: *\r\nserver: agentcore-rt\r\n\
             content-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn redirects_keep_host_and_query() {
        let to = Answer::Redirect("/invocations");
        assert!(to.reads_body());
        let (text, next) = render(&to, "POST /invocations/?a=b HTTP/1.1\r\nHost: h:9\r\n\r\n", false);
        assert!(
            text.contains("\r\nlocation: http://h:9/invocations?a=b\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\ncontent-length: 0\r\n"), "{text}");
        assert_eq!(next, Next::KeepAlive);
        // No Host (HTTP/1.0): our own address.
        let (text, next) = render(&to, "GET /invocations/ HTTP/1.0\r\n\r\n", false);
        assert!(
            text.contains("\r\nlocation: http://10.0.0.1:8080/invocations\r\n"),
            "{text}"
        );
        assert_eq!(next, Next::Close);
        // A Host that could split the header is not echoed.
        let (text, _) = render(&to, "GET /invocations/ HTTP/1.1\r\nHost: a b\r\n\r\n", false);
        assert!(
            text.contains("\r\nlocation: http://10.0.0.1:8080/invocations\r\n"),
            "{text}"
        );
    }
}
