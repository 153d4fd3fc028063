//! One HTTP/1.1 connection, served by one coroutine: read a head, frame the body, route,
//! answer; keep-alive and pipelining; hand `/invocations` to the worker pool and stream its
//! answer back; hand `/ws` upgrades to `ws`.
//!
//! Rules this module keeps:
//! - nothing here blocks an OS thread: socket I/O is may's (it parks the coroutine), handler
//!   work goes to the pool and comes back over may channels;
//! - a request body is always consumed or the connection closed, so body bytes are never
//!   parsed as the next request;
//! - every read has a deadline (idle, head, body) and every write a timeout, so a slow or
//!   silent client only ever costs its own coroutine, for a bounded time;
//! - responses to pipelined requests are batched into one write.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use may::net::TcpStream;
use may::sync::Semphore;
use may::sync::mpsc;

use super::idle::IdleHandle;
use super::parse::{self, BodyFraming, ChunkError, ChunkedDecoder, Head, HeadError, HeadLimits, Method};
use super::response::{self, Persist};
use super::router::{self, Route};
use super::server::Shared;
use super::ws;
use crate::app::{Disconnected, EventSink, EventTransport, Output, PingStatus, RequestContext, Response};
use crate::error::Error;
use crate::types::CancelToken;

const INITIAL_READ_BUF: usize = 4096;
/// Longest single timed wait in `fill` (partial heads and bodies; the wait between requests
/// has no timer, see idle.rs). may cannot always unlink the timer of a read that finished in
/// time, so the ~70-byte timer stays allocated until it would have fired; waiting at most this
/// long first, then for the rest, bounds that garbage to one second's worth of reads.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const INCOMPLETE_HEAD: &str = "request head incomplete: the client closed the connection";
const INCOMPLETE_BODY: &str = "request body incomplete: the client closed the connection";
const READ_CHUNK: usize = 64 * 1024;
/// Events a streaming handler may have in flight before it waits for the client (the SDK's
/// bridge uses a queue of 100).
const STREAM_WINDOW: usize = 100;

/// What the worker sends back to the connection coroutine.
pub(crate) enum Reply {
    /// A complete response (status, headers, body).
    Full(Response),
    /// A handler error, answered as JSON.
    Failed(Error),
    /// Start an SSE response.
    StreamStart,
    /// One SSE event, framed (`data: ...\n\n`).
    Event(Vec<u8>),
    /// End of the SSE response.
    StreamEnd,
}

/// How a connection continues after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
}

pub(crate) struct Conn {
    /// Declared first, so it is dropped (unregistered) before `stream` closes the socket.
    idle: IdleHandle,
    stream: TcpStream,
    shared: Arc<Shared>,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    wbuf: Vec<u8>,
    /// The last `/ping` response and what it depends on (second, status, timestamp, framing):
    /// a ping then costs one copy instead of a dozen small appends, which were a third of the
    /// instructions of a /ping.
    ping_cache: Option<(PingKey, Vec<u8>)>,
    /// The header-offset vector of the last request answered on the fast path, reused.
    spare_headers: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// The read timeout last given to the socket: setting it is a system call, so only when it
    /// changes.
    read_timeout: Option<Duration>,
    /// Over the connection limit: answer `/ping`, 503 anything else, then close.
    overloaded: bool,
}

/// Serves a connection until it closes.
pub(crate) fn serve(stream: TcpStream, shared: Arc<Shared>, overloaded: bool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.write_timeout));
    let idle = shared
        .idle
        .register(std::os::unix::io::AsRawFd::as_raw_fd(&stream));
    let mut conn = Conn {
        idle,
        stream,
        shared,
        rbuf: vec![0; INITIAL_READ_BUF],
        start: 0,
        end: 0,
        wbuf: Vec::new(),
        read_timeout: None,
        ping_cache: None,
        spare_headers: Vec::new(),
        overloaded,
    };
    conn.run();
}

/// What a cached `/ping` response depends on: second of the `date` header, status, its
/// timestamp, connection framing, HEAD.
type PingKey = (u64, PingStatus, u64, Persist, bool);

/// Facts about the request needed after the head buffer is released.
struct Request {
    head: Head,
    bytes: Vec<u8>,
    method: Method,
    path: String,
    query: Option<String>,
    started: Instant,
}

impl Request {
    fn method_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[self.head.method.clone()]).unwrap_or("?")
    }

    fn header_pairs(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head.headers.iter().map(|(n, v)| {
            (
                std::str::from_utf8(&self.bytes[n.clone()]).unwrap_or(""),
                &self.bytes[v.clone()],
            )
        })
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_pairs()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn persist(&self) -> Persist {
        match (self.head.keep_alive, self.head.minor_version) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive10,
            (true, _) => Persist::Default,
        }
    }
}

impl Conn {
    fn limits(&self) -> HeadLimits {
        HeadLimits {
            max_bytes: self.shared.config.max_head_bytes,
            max_headers: self.shared.config.max_headers,
        }
    }

    fn run(&mut self) {
        loop {
            let head = match self.read_head() {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(ReadHeadError::Head(e)) => {
                    let err = Error::http(e.status(), response::reason(e.status())).with_details(e.message());
                    response::write_error(&mut self.wbuf, &err, Persist::Close, false, &[]);
                    self.log_bare(e.status(), "bad request head");
                    break;
                }
                Err(ReadHeadError::Timeout) => {
                    let err =
                        Error::http(408, "Request Timeout").with_details("request head not received in time");
                    response::write_error(&mut self.wbuf, &err, Persist::Close, false, &[]);
                    break;
                }
                Err(ReadHeadError::Incomplete) => {
                    // A half-closed client can still read why its request went unanswered.
                    let err = Error::bad_request("Bad Request").with_details(INCOMPLETE_HEAD);
                    response::write_error(&mut self.wbuf, &err, Persist::Close, false, &[]);
                    self.log_bare(400, INCOMPLETE_HEAD);
                    break;
                }
                Err(ReadHeadError::Io) => return,
            };
            if self.try_fast_ping(&head) {
                if self.overloaded || !head.keep_alive {
                    break;
                }
                self.spare_headers = head.headers;
                continue;
            }
            let request = self.take_request(head);
            let next = self.handle(request);
            if next == Next::Close || self.overloaded || self.shared.is_shutting_down() {
                break;
            }
        }
        let _ = self.flush();
        linger_close(&mut self.stream);
    }

    /// Answers `GET`/`HEAD /ping` straight from the read buffer: no allocation beyond the
    /// response bytes, no worker thread.
    fn try_fast_ping(&mut self, head: &Head) -> bool {
        let buf = &self.rbuf[self.start..self.end];
        let method = &buf[head.method.clone()];
        let is_head = method == b"HEAD";
        if !(method == b"GET" || is_head)
            || head.body != BodyFraming::None
            || head.websocket_upgrade
            || head.expect_unsupported
        {
            return false;
        }
        let target = &buf[head.target.clone()];
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        if path != b"/ping" {
            return false;
        }
        let started = self.shared.config.log_pings.then(Instant::now);
        let persist = match (head.keep_alive, head.minor_version) {
            (false, _) => Persist::Close,
            (true, 0) => Persist::KeepAlive10,
            (true, _) => Persist::Default,
        };
        let persist = if self.overloaded { Persist::Close } else { persist };
        let (status, at) = self.shared.app.ping_status();
        let key = (crate::clock::unix_now(), status, at, persist, is_head);
        if self.ping_cache.as_ref().is_none_or(|(cached, _)| *cached != key) {
            let mut body = Vec::with_capacity(64);
            crate::app::write_ping_json(&mut body, status, at);
            let mut bytes = Vec::with_capacity(256);
            response::write_full(
                &mut bytes,
                200,
                Some("application/json"),
                &body,
                persist,
                &[],
                is_head,
            );
            self.ping_cache = Some((key, bytes));
        }
        if let Some((_, bytes)) = &self.ping_cache {
            self.wbuf.extend_from_slice(bytes);
        }
        self.start += head.len;
        if let Some(started) = started {
            crate::logging::info("request")
                .str("method", if is_head { "HEAD" } else { "GET" })
                .str("path", "/ping")
                .num("status", 200)
                .float("durationMs", started.elapsed().as_secs_f64() * 1000.0)
                .emit();
        }
        true
    }

    /// Copies the head out of the read buffer so the buffer can be reused for the body.
    fn take_request(&mut self, head: Head) -> Request {
        let bytes = self.rbuf[self.start..self.start + head.len].to_vec();
        self.start += head.len;
        let method = match &bytes[head.method.clone()] {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            _ => Method::Other,
        };
        let target = std::str::from_utf8(&bytes[head.target.clone()]).unwrap_or("/");
        let (path, query) = parse::split_target(target);
        let path = parse::decode_path(path)
            .map(|p| p.into_owned())
            .unwrap_or_else(|| path.to_string());
        let query = query.map(str::to_string);
        Request {
            head,
            bytes,
            method,
            path,
            query,
            started: Instant::now(),
        }
    }

    fn handle(&mut self, req: Request) -> Next {
        let persist = req.persist();
        let head_only = req.method == Method::Head;
        if req.head.expect_unsupported {
            return self.reject(
                &req,
                Error::http(417, "Expectation Failed").with_details("only 100-continue is supported"),
                &[],
            );
        }
        let route = router::route(req.method, &req.path);
        // Before the upgrade check: a WebSocket session is the longest-lived connection of all.
        if self.overloaded && (route != Route::Ping || req.head.websocket_upgrade) {
            let err = Error::http(503, "Service Unavailable")
                .with_details("too many open connections (MAX_CONNECTIONS)");
            return self.reject(&req, err, &[("retry-after", "1")]);
        }
        if req.head.websocket_upgrade {
            return self.upgrade(req);
        }
        match route {
            Route::Ping => {
                // Only reached with a body or an unusual form; the fast path handles the rest.
                if self.discard_body(&req).is_err() {
                    return Next::Close;
                }
                let body = self.shared.app.ping_body();
                response::write_full(
                    &mut self.wbuf,
                    200,
                    Some("application/json"),
                    body.as_bytes(),
                    persist,
                    &[],
                    head_only,
                );
                self.log(&req, 200, None);
                self.next_for(persist)
            }
            Route::Invocations => self.invocation(req),
            Route::MethodNotAllowed(allow) => {
                if self.discard_body(&req).is_err() {
                    return Next::Close;
                }
                let extra = [("allow", allow)];
                response::write_full(
                    &mut self.wbuf,
                    405,
                    Some("text/plain; charset=utf-8"),
                    b"Method Not Allowed",
                    persist,
                    &extra,
                    head_only,
                );
                self.log(&req, 405, None);
                self.next_for(persist)
            }
            Route::Redirect(to) => {
                if self.discard_body(&req).is_err() {
                    return Next::Close;
                }
                let location = self.absolute_url(&req, to);
                let extra = [("location", location.as_str())];
                response::write_full(&mut self.wbuf, 307, None, b"", persist, &extra, head_only);
                self.log(&req, 307, None);
                self.next_for(persist)
            }
            Route::NotFound => {
                if self.discard_body(&req).is_err() {
                    return Next::Close;
                }
                response::write_full(
                    &mut self.wbuf,
                    404,
                    Some("text/plain; charset=utf-8"),
                    b"Not Found",
                    persist,
                    &[],
                    head_only,
                );
                self.log(&req, 404, None);
                self.next_for(persist)
            }
        }
    }

    fn next_for(&self, persist: Persist) -> Next {
        if persist == Persist::Close {
            Next::Close
        } else {
            Next::KeepAlive
        }
    }

    /// Answers an error and closes, without reading any body the request may carry.
    fn reject(&mut self, req: &Request, err: Error, extra: &[(&str, &str)]) -> Next {
        response::write_error(
            &mut self.wbuf,
            &err,
            Persist::Close,
            req.method == Method::Head,
            extra,
        );
        self.log(req, err.status(), None);
        Next::Close
    }

    /// Starlette builds the redirect from the request URL: scheme, Host, new path, query.
    fn absolute_url(&self, req: &Request, path: &str) -> String {
        let host = req
            .header("host")
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| !h.is_empty() && !h.bytes().any(|b| b.is_ascii_control() || b == b' '))
            .map(str::to_string)
            .or_else(|| self.stream.local_addr().ok().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".into());
        match &req.query {
            Some(q) => format!("http://{host}{path}?{q}"),
            None => format!("http://{host}{path}"),
        }
    }

    fn authorized(&self, req: &Request) -> bool {
        let Some(token) = &self.shared.config.auth_bearer_token else {
            return true;
        };
        let Some(value) = req.header("authorization") else {
            return false;
        };
        let expected = format!("Bearer {token}");
        constant_time_eq(value, expected.as_bytes())
    }

    fn invocation(&mut self, req: Request) -> Next {
        let persist = req.persist();
        if !self.authorized(&req) {
            let err = Error::http(401, "Unauthorized").with_details("missing or invalid bearer token");
            return self.reject(&req, err, &[("www-authenticate", "Bearer")]);
        }
        let body = match self.read_body(&req) {
            Ok(body) => body,
            Err(BodyReadError::TooLarge) => {
                let limit = self.shared.config.max_body_bytes;
                let err = Error::http(413, "Content Too Large")
                    .with_details(format!("request body exceeds {limit} bytes (MAX_BODY_BYTES)"));
                return self.reject(&req, err, &[]);
            }
            Err(BodyReadError::Malformed(why)) => {
                return self.reject(&req, Error::bad_request("Bad Request").with_details(why), &[]);
            }
            Err(BodyReadError::Timeout) => {
                let err =
                    Error::http(408, "Request Timeout").with_details("request body not received in time");
                return self.reject(&req, err, &[]);
            }
            Err(BodyReadError::Incomplete) => {
                return self.reject(
                    &req,
                    Error::bad_request("Bad Request").with_details(INCOMPLETE_BODY),
                    &[],
                );
            }
            Err(BodyReadError::Io) => return Next::Close,
        };
        let ctx = RequestContext::from_headers(req.header_pairs());
        let (tx, rx) = mpsc::channel::<Reply>();
        let permits = Arc::new(Semphore::new(STREAM_WINDOW));
        let job = {
            let app = Arc::clone(&self.shared.app);
            let ctx = ctx.clone();
            let permits = Arc::clone(&permits);
            move || run_invocation(&app, &body, &ctx, &tx, &permits)
        };
        let _busy = self.shared.busy_guard();
        if self.shared.pool.try_execute(job).is_err() {
            let limit = self.shared.config.max_invocations;
            let err = Error::http(503, "Service Unavailable").with_details(format!(
                "too many concurrent invocations (MAX_CONCURRENT_INVOCATIONS={limit})"
            ));
            response::write_error(&mut self.wbuf, &err, persist, false, &[("retry-after", "1")]);
            self.log(&req, 503, Some(&ctx));
            return self.next_for(persist);
        }
        self.await_reply(&req, &ctx, &rx, &permits, persist)
    }

    fn await_reply(
        &mut self,
        req: &Request,
        ctx: &RequestContext,
        rx: &mpsc::Receiver<Reply>,
        permits: &Semphore,
        persist: Persist,
    ) -> Next {
        let chunked = req.head.minor_version == 1;
        let mut streaming = false;
        loop {
            let reply = match rx.recv() {
                Ok(reply) => reply,
                Err(_) => {
                    // The worker dropped its sender without answering: a bug, never a hang.
                    if streaming {
                        return Next::Close;
                    }
                    let err = Error::new("internal error: invocation ended without a response");
                    response::write_error(&mut self.wbuf, &err, persist, false, &[]);
                    self.log(req, 500, Some(ctx));
                    return self.next_for(persist);
                }
            };
            match reply {
                Reply::Full(resp) => {
                    response::write_response(&mut self.wbuf, &resp, persist, false);
                    self.log(req, resp.status, Some(ctx));
                    return self.next_for(persist);
                }
                Reply::Failed(err) => {
                    response::write_error(&mut self.wbuf, &err, persist, false, &[]);
                    self.log_failure(req, ctx, &err);
                    return self.next_for(persist);
                }
                Reply::StreamStart => {
                    streaming = true;
                    let (persist, extra): (Persist, &[(&str, &str)]) = if chunked {
                        (persist, &[("transfer-encoding", "chunked")])
                    } else {
                        // HTTP/1.0 has no chunked coding: the body ends when we close.
                        (Persist::Close, &[])
                    };
                    response::write_head(
                        &mut self.wbuf,
                        200,
                        Some("text/event-stream; charset=utf-8"),
                        None,
                        persist,
                        extra,
                    );
                    if self.flush().is_err() {
                        return self.client_gone(req, ctx, permits);
                    }
                }
                Reply::Event(event) => {
                    if chunked {
                        let _ = write!(self.wbuf, "{:x}\r\n", event.len());
                        self.wbuf.extend_from_slice(&event);
                        self.wbuf.extend_from_slice(b"\r\n");
                    } else {
                        self.wbuf.extend_from_slice(&event);
                    }
                    let written = self.flush();
                    permits.post();
                    if written.is_err() {
                        return self.client_gone(req, ctx, permits);
                    }
                }
                Reply::StreamEnd => {
                    if chunked {
                        self.wbuf.extend_from_slice(b"0\r\n\r\n");
                    }
                    let written = self.flush();
                    self.log(req, 200, Some(ctx));
                    if written.is_err() || !chunked {
                        return Next::Close;
                    }
                    return self.next_for(persist);
                }
            }
        }
    }

    /// The client stopped reading a stream: tell the handler (its next send fails) and close.
    fn client_gone(&mut self, req: &Request, ctx: &RequestContext, permits: &Semphore) -> Next {
        ctx.cancel();
        // Wake a producer blocked on the window; it sees the cancellation and stops.
        permits.post();
        crate::logging::info("client disconnected during stream")
            .str("requestId", &ctx.request_id)
            .opt_str("sessionId", ctx.session_id.as_deref())
            .emit();
        self.log(req, 200, Some(ctx));
        self.wbuf.clear();
        Next::Close
    }

    fn upgrade(&mut self, req: Request) -> Next {
        let fail = |status: u16, msg: &str, details: &str| {
            Error::http(status, msg.to_string()).with_details(details.to_string())
        };
        if !router::is_websocket_path(&req.path)
            || !self.shared.app.has_websocket()
            || req.method != Method::Get
        {
            // uvicorn rejects a handshake the app does not accept with a bare 403.
            response::write_full(
                &mut self.wbuf,
                403,
                Some("text/plain; charset=utf-8"),
                b"",
                Persist::Close,
                &[],
                false,
            );
            self.log(&req, 403, None);
            return Next::Close;
        }
        if !self.authorized(&req) {
            let err = fail(401, "Unauthorized", "missing or invalid bearer token");
            return self.reject(&req, err, &[("www-authenticate", "Bearer")]);
        }
        if req.header("sec-websocket-version").map(parse_trim) != Some(b"13".as_slice()) {
            let err = fail(
                426,
                "Upgrade Required",
                "unsupported Sec-WebSocket-Version (13 is supported)",
            );
            return self.reject(&req, err, &[("sec-websocket-version", "13")]);
        }
        let Some(key) = req
            .header("sec-websocket-key")
            .map(parse_trim)
            .filter(|k| valid_ws_key(k))
        else {
            return self.reject(
                &req,
                fail(400, "Bad Request", "missing or invalid Sec-WebSocket-Key"),
                &[],
            );
        };
        if !matches!(req.head.body, BodyFraming::None) {
            return self.reject(
                &req,
                fail(
                    400,
                    "Bad Request",
                    "a WebSocket upgrade request cannot carry a body",
                ),
                &[],
            );
        }
        let accept = tungstenite::handshake::derive_accept_key(key);
        let ctx = RequestContext::from_headers(req.header_pairs());
        let extra = [
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", accept.as_str()),
        ];
        let mut head = Vec::with_capacity(192);
        response::write_head(&mut head, 101, None, None, Persist::Default, &extra);
        self.wbuf.extend_from_slice(&head);
        if self.flush().is_err() {
            return Next::Close;
        }
        let leftover = self.rbuf[self.start..self.end].to_vec();
        self.start = self.end;
        let stream = match self.stream.try_clone() {
            Ok(s) => s,
            Err(_) => return Next::Close,
        };
        let code = ws::run(stream, leftover, ctx.clone(), Arc::clone(&self.shared));
        crate::logging::info("request")
            .str("method", "GET")
            .str("path", &req.path)
            .num("status", 101)
            .num("closeCode", code)
            .float("durationMs", req.started.elapsed().as_secs_f64() * 1000.0)
            .str("requestId", &ctx.request_id)
            .opt_str("sessionId", ctx.session_id.as_deref())
            .emit();
        Next::Close
    }

    // ---- reading ----------------------------------------------------------------------------

    fn read_head(&mut self) -> Result<Option<Head>, ReadHeadError> {
        let limits = self.limits();
        let mut head_deadline: Option<Instant> = None;
        // Only parse once a blank line may have arrived: re-parsing a head trickled in byte by
        // byte on every read would cost quadratic time. `scanned` counts bytes of this head
        // already looked at, relative to `start`, because `fill` may move the head to the front
        // of the buffer. Two early parses on top: of the first bytes, and once the request line
        // is complete, so a client speaking another protocol (TLS, binary garbage) or sending a
        // broken request line is refused at once instead of after HEADER_TIMEOUT; httparse
        // validates a partial head as far as it goes.
        let mut scanned: usize = 0;
        let mut line_checked = false;
        loop {
            if self.end > self.start {
                let from = self.start + scanned.saturating_sub(3);
                let window = &self.rbuf[from..self.end];
                let first_line = !line_checked && window.contains(&b'\n');
                let maybe_complete = scanned == 0
                    || first_line
                    || window.windows(2).any(|w| w == b"\n\n")
                    || window.windows(3).any(|w| w == b"\n\r\n")
                    || self.end - self.start > limits.max_bytes;
                line_checked |= first_line;
                scanned = self.end - self.start;
                if maybe_complete {
                    let spare = std::mem::take(&mut self.spare_headers);
                    match parse::parse_head_reusing(&self.rbuf[self.start..self.end], limits, spare) {
                        Ok(Some(head)) => return Ok(Some(head)),
                        Ok(None) => {}
                        Err(e) => return Err(ReadHeadError::Head(e)),
                    }
                }
                if self.end - self.start > limits.max_bytes {
                    return Err(ReadHeadError::Head(HeadError::TooLarge));
                }
            } else {
                // Between requests: a draining server takes no new ones.
                if self.shared.is_shutting_down() {
                    return Ok(None);
                }
                self.start = 0;
                self.end = 0;
                scanned = 0;
            }
            if !self.wbuf.is_empty() && self.flush().is_err() {
                return Err(ReadHeadError::Io);
            }
            let idle = self.end == self.start;
            if !idle {
                // The head timeout runs from the first wait for more of a started head (reading
                // the clock only then keeps it off the path of heads that arrive whole).
                head_deadline.get_or_insert_with(|| Instant::now() + self.shared.config.head_timeout);
            }
            // Between requests the wait has no timer: the idle reaper closes the connection
            // after IDLE_TIMEOUT (see idle.rs).
            let timeout = match head_deadline {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ReadHeadError::Timeout);
                    }
                    Some(left)
                }
            };
            if idle {
                self.idle.idle();
            }
            let filled = self.fill(timeout, limits.max_bytes + 1);
            if idle {
                self.idle.busy();
            }
            match filled {
                Ok(0) => {
                    return if idle {
                        Ok(None)
                    } else {
                        Err(ReadHeadError::Incomplete)
                    };
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return if idle {
                        Ok(None)
                    } else {
                        Err(ReadHeadError::Timeout)
                    };
                }
                Err(_) => return Err(ReadHeadError::Io),
            }
        }
    }

    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        if self.read_timeout != timeout {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// Reads more bytes into `rbuf`, growing it up to `cap` bytes of unconsumed data.
    /// `timeout: None` parks without a timer (only for the wait between requests, which the
    /// idle reaper bounds).
    fn fill(&mut self, timeout: Option<Duration>, cap: usize) -> io::Result<usize> {
        if self.end == self.rbuf.len() {
            if self.start > 0 {
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.rbuf.len() {
                let grown = (self.rbuf.len() * 2).clamp(INITIAL_READ_BUF, cap.max(INITIAL_READ_BUF));
                if grown <= self.rbuf.len() {
                    return Err(io::Error::other("read buffer full"));
                }
                self.rbuf.resize(grown, 0);
            }
        }
        let Some(timeout) = timeout else {
            self.set_read_timeout(None)?;
            let n = self.stream.read(&mut self.rbuf[self.end..])?;
            self.end += n;
            return Ok(n);
        };
        // Wait briefly first, then for the rest: see FIRST_WAIT.
        let first = timeout.min(FIRST_WAIT).max(Duration::from_millis(1));
        self.set_read_timeout(Some(first))?;
        let n = match self.stream.read(&mut self.rbuf[self.end..]) {
            Err(e) if is_timeout(&e) && timeout > first => {
                self.set_read_timeout(Some(timeout - first))?;
                self.stream.read(&mut self.rbuf[self.end..])?
            }
            read => read?,
        };
        self.end += n;
        Ok(n)
    }

    fn read_body(&mut self, req: &Request) -> Result<Vec<u8>, BodyReadError> {
        let limit = self.shared.config.max_body_bytes;
        match req.head.body {
            BodyFraming::None => Ok(Vec::new()),
            BodyFraming::Length(len) => {
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&n| n <= limit)
                    .ok_or(BodyReadError::TooLarge)?;
                self.send_continue(req)?;
                // Do not trust the announced length for the allocation: grow as bytes arrive.
                let mut body = Vec::with_capacity(len.min(READ_CHUNK));
                let buffered = (self.end - self.start).min(len);
                body.extend_from_slice(&self.rbuf[self.start..self.start + buffered]);
                self.start += buffered;
                while body.len() < len {
                    let filled = body.len();
                    let want = (len - filled).min(READ_CHUNK);
                    body.resize(filled + want, 0);
                    self.set_read_timeout(Some(self.shared.config.body_timeout))
                        .map_err(|_| BodyReadError::Io)?;
                    match self.stream.read(&mut body[filled..]) {
                        Ok(0) => return Err(BodyReadError::Incomplete),
                        Ok(n) => body.truncate(filled + n),
                        Err(e) if is_timeout(&e) => return Err(BodyReadError::Timeout),
                        Err(_) => return Err(BodyReadError::Io),
                    }
                }
                Ok(body)
            }
            BodyFraming::Chunked => {
                self.send_continue(req)?;
                let mut decoder = ChunkedDecoder::new();
                let mut body = Vec::new();
                loop {
                    let used = decoder
                        .feed(&self.rbuf[self.start..self.end], &mut body, limit)
                        .map_err(|e| match e {
                            ChunkError::TooLarge => BodyReadError::TooLarge,
                            ChunkError::Malformed(why) => BodyReadError::Malformed(why),
                        })?;
                    self.start += used;
                    if decoder.is_done() {
                        return Ok(body);
                    }
                    self.start = self.end;
                    match self.fill(Some(self.shared.config.body_timeout), READ_CHUNK) {
                        Ok(0) => return Err(BodyReadError::Incomplete),
                        Ok(_) => {}
                        Err(e) if is_timeout(&e) => return Err(BodyReadError::Timeout),
                        Err(_) => return Err(BodyReadError::Io),
                    }
                }
            }
        }
    }

    /// Reads and drops a body we do not use (bounded), so the connection stays in sync.
    fn discard_body(&mut self, req: &Request) -> Result<(), BodyReadError> {
        if req.head.body == BodyFraming::None {
            return Ok(());
        }
        match self.read_body(req) {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = match e {
                    BodyReadError::TooLarge => Error::http(413, "Content Too Large"),
                    BodyReadError::Malformed(why) => Error::bad_request("Bad Request").with_details(why),
                    BodyReadError::Timeout => Error::http(408, "Request Timeout"),
                    BodyReadError::Incomplete => {
                        Error::bad_request("Bad Request").with_details(INCOMPLETE_BODY)
                    }
                    BodyReadError::Io => return Err(e),
                };
                response::write_error(&mut self.wbuf, &err, Persist::Close, false, &[]);
                self.log(req, err.status(), None);
                Err(e)
            }
        }
    }

    fn send_continue(&mut self, req: &Request) -> Result<(), BodyReadError> {
        if req.head.expect_continue && self.end == self.start {
            self.wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush().map_err(|_| BodyReadError::Io)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        result
    }

    // ---- logging ----------------------------------------------------------------------------

    fn log(&self, req: &Request, status: u16, ctx: Option<&RequestContext>) {
        if req.path == "/ping" && status == 200 && !self.shared.config.log_pings {
            return;
        }
        let line = crate::logging::info("request")
            .str("method", req.method_str())
            .str("path", &req.path)
            .num("status", status)
            .float("durationMs", req.started.elapsed().as_secs_f64() * 1000.0);
        let line = match ctx {
            Some(ctx) => line
                .str("requestId", &ctx.request_id)
                .opt_str("sessionId", ctx.session_id.as_deref()),
            None => line,
        };
        line.emit();
    }

    fn log_failure(&self, req: &Request, ctx: &RequestContext, err: &Error) {
        let level = if err.status() >= 500 {
            crate::logging::Level::Error
        } else {
            crate::logging::Level::Warn
        };
        crate::logging::Line::new(level, "request")
            .str("method", req.method_str())
            .str("path", &req.path)
            .num("status", err.status())
            .float("durationMs", req.started.elapsed().as_secs_f64() * 1000.0)
            .str("requestId", &ctx.request_id)
            .opt_str("sessionId", ctx.session_id.as_deref())
            .str("errorType", err.error_type())
            .str("errorMessage", err.message())
            .emit();
    }

    fn log_bare(&self, status: u16, message: &str) {
        crate::logging::warn(message).num("status", status).emit();
    }
}

enum ReadHeadError {
    Head(HeadError),
    Timeout,
    /// The client closed (or half-closed) its side in the middle of a head.
    Incomplete,
    Io,
}

#[derive(Debug)]
enum BodyReadError {
    TooLarge,
    Malformed(&'static str),
    Timeout,
    /// The client closed (or half-closed) its side before the whole body arrived.
    Incomplete,
    Io,
}

/// Closes gracefully: send FIN, then read and drop what the client still sends (bounded in
/// bytes and time) before the socket is released. Closing with unread input makes the kernel
/// send a RST, and a RST can destroy our last response (a 413, a close frame) before the
/// client has read it.
pub(crate) fn linger_close(stream: &mut TcpStream) {
    const LINGER_TIME: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 1 << 20;
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

fn parse_trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

/// A Sec-WebSocket-Key is base64 of 16 bytes: 22 characters and `==`.
fn valid_ws_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs on a worker thread: the whole invocation, from body parsing to the last event.
fn run_invocation(
    app: &crate::app::App,
    body: &[u8],
    ctx: &RequestContext,
    tx: &mpsc::Sender<Reply>,
    permits: &Arc<Semphore>,
) {
    match app.invoke(body, ctx) {
        Ok(Output::Json(value)) => {
            let mut json = Vec::with_capacity(256);
            crate::pyjson::write(&mut json, &value);
            let response = Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: json,
            };
            let _ = tx.send(Reply::Full(response));
        }
        Ok(Output::Response(response)) => {
            let _ = tx.send(Reply::Full(response));
        }
        Ok(Output::Stream(produce)) => {
            if tx.send(Reply::StreamStart).is_err() {
                ctx.cancel();
                return;
            }
            let mut transport = SseTransport {
                tx,
                permits,
                cancel: ctx.cancel_token(),
            };
            let outcome = {
                let mut sink = EventSink::new(&mut transport, ctx.cancel_token().clone());
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| produce(&mut sink)))
            };
            let failure = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(err),
                Err(_) => Some(Error::new("stream handler panicked").with_type("Panic")),
            };
            if let Some(err) = failure {
                crate::logging::error("Error in streaming")
                    .str("requestId", &ctx.request_id)
                    .opt_str("sessionId", ctx.session_id.as_deref())
                    .str("errorType", err.error_type())
                    .str("errorMessage", err.message())
                    .emit();
                let _ = transport.send_json(response::stream_error_event(&err));
            }
            let _ = tx.send(Reply::StreamEnd);
        }
        Err(err) => {
            let _ = tx.send(Reply::Failed(err));
        }
    }
}

/// Worker-side end of an SSE stream: frames events and applies the window.
struct SseTransport<'a> {
    tx: &'a mpsc::Sender<Reply>,
    permits: &'a Semphore,
    cancel: &'a CancelToken,
}

impl EventTransport for SseTransport<'_> {
    fn send_json(&mut self, json: Vec<u8>) -> Result<(), Disconnected> {
        if self.cancel.is_cancelled() {
            return Err(Disconnected);
        }
        self.permits.wait();
        if self.cancel.is_cancelled() {
            return Err(Disconnected);
        }
        let mut event = Vec::with_capacity(json.len() + 8);
        event.extend_from_slice(b"data: ");
        event.extend_from_slice(&json);
        event.extend_from_slice(b"\n\n");
        self.tx.send(Reply::Event(event)).map_err(|_| Disconnected)
    }
}
