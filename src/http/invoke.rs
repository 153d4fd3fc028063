//! The invocation bridge: a handler runs on the worker pool, the connection's coroutine waits
//! for what it sends back and writes it, a whole response or an SSE stream.
//!
//! Worker and coroutine talk over a may channel (its `recv` parks only the coroutine). A
//! stream is windowed: the handler may have `STREAM_WINDOW` events in flight before it waits
//! for the client, and a client that stops reading cancels the handler.

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use may::sync::Semphore;
use may::sync::mpsc;

use super::access;
use super::io::Wire;
use super::request::{Next, Request};
use super::response::{self, Persist};
use super::service::{Invocation, InvokeFn};
use super::shared::Shared;
use crate::app::{Disconnected, EventSink, EventTransport, Output, RequestContext, Response};
use crate::error::Error;
use crate::types::CancelToken;

/// How often a connection waiting for a stream's next event checks that its client is there.
const GONE_CHECK: Duration = Duration::from_millis(100);

/// Events a streaming handler may have in flight before it waits for the client (the SDK's
/// bridge uses a queue of 100).
const STREAM_WINDOW: usize = 100;

/// What the worker sends back to the connection coroutine.
enum Reply {
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

/// Runs `invocation` on the worker pool with the request body `body` and writes its answer;
/// `persist` is the request's keep-alive.
pub(crate) fn run(
    wire: &mut Wire,
    req: &Request<'_>,
    started: Instant,
    invocation: Invocation,
    body: Vec<u8>,
    persist: Persist,
    shared: &Arc<Shared>,
) -> Next {
    let Invocation { ctx, run, quick } = invocation;
    let (tx, rx) = mpsc::channel::<Reply>();
    let permits = Arc::new(Semphore::new(STREAM_WINDOW));
    if let Some(quick) = quick {
        let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| quick(&body, &ctx)));
        let answer = match answered {
            Ok(None) => None,
            Ok(Some(Ok(Output::Stream(_)))) => Some(Err(Error::new(
                "internal error: a control call answered with a stream",
            ))),
            Ok(Some(result)) => Some(result),
            Err(_) => Some(Err(Error::new("control call panicked").with_type("Panic"))),
        };
        if let Some(result) = answer {
            // A whole answer: `work` only turns it into a reply, nothing here waits.
            work(Box::new(move |_, _| result), &body, &ctx, &tx, &permits);
            let mut bridge = Bridge {
                wire,
                req,
                started,
                ctx,
                permits,
            };
            return bridge.await_reply(&rx, persist);
        }
    }
    let job = {
        let ctx = ctx.clone();
        let permits = Arc::clone(&permits);
        move || work(run, &body, &ctx, &tx, &permits)
    };
    let _busy = shared.busy_guard();
    if shared.pool.try_execute(job).is_err() {
        let limit = shared.config.max_invocations;
        let err = Error::http(503, "Service Unavailable").with_details(format!(
            "too many concurrent invocations (MAX_CONCURRENT_INVOCATIONS={limit})"
        ));
        response::write_error(&mut wire.out, &err, persist, false, &[("retry-after", "1")]);
        access::request(req, started, 503, Some(&ctx));
        access::trace_refusal(&*shared.service, req, Some(&ctx), 503, Some(&err));
        return Next::after(persist);
    }
    let mut bridge = Bridge {
        wire,
        req,
        started,
        ctx,
        permits,
    };
    bridge.await_reply(&rx, persist)
}

/// The coroutine's end of one invocation.
struct Bridge<'w, 'r, 'a> {
    wire: &'w mut Wire,
    req: &'r Request<'a>,
    started: Instant,
    ctx: RequestContext,
    permits: Arc<Semphore>,
}

impl Bridge<'_, '_, '_> {
    fn log(&self, status: u16) {
        access::request(self.req, self.started, status, Some(&self.ctx));
    }

    fn await_reply(&mut self, rx: &mpsc::Receiver<Reply>, persist: Persist) -> Next {
        let chunked = self.req.chunked_streams();
        let mut streaming = false;
        loop {
            let reply = if streaming {
                match self.next_event(rx) {
                    Some(Ok(reply)) => Ok(reply),
                    Some(Err(())) => Err(()),
                    None => return self.client_gone(),
                }
            } else {
                rx.recv().map_err(|_| ())
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(()) => {
                    // The worker dropped its sender without answering: a bug, never a hang.
                    if streaming {
                        return Next::Close;
                    }
                    let err = Error::new("internal error: invocation ended without a response");
                    response::write_error(&mut self.wire.out, &err, persist, false, &[]);
                    self.log(500);
                    return Next::after(persist);
                }
            };
            match reply {
                Reply::Full(resp) => {
                    response::write_response(&mut self.wire.out, &resp, persist, false);
                    self.log(resp.status);
                    return Next::after(persist);
                }
                Reply::Failed(err) => {
                    response::write_error(&mut self.wire.out, &err, persist, false, &[]);
                    access::failure(self.req, self.started, &self.ctx, &err);
                    return Next::after(persist);
                }
                Reply::StreamStart => {
                    streaming = true;
                    let extra: &[(&str, &str)] = if chunked {
                        &[("transfer-encoding", "chunked")]
                    } else {
                        &[]
                    };
                    response::write_head(
                        &mut self.wire.out,
                        200,
                        Some("text/event-stream; charset=utf-8"),
                        None,
                        self.req.stream_persist(persist),
                        extra,
                    );
                    if self.wire.flush().is_err() {
                        return self.client_gone();
                    }
                }
                Reply::Event(event) => {
                    let out = &mut self.wire.out;
                    if chunked {
                        let _ = write!(out, "{:x}\r\n", event.len());
                        out.extend_from_slice(&event);
                        out.extend_from_slice(b"\r\n");
                    } else {
                        out.extend_from_slice(&event);
                    }
                    let written = self.wire.flush();
                    self.permits.post();
                    if written.is_err() {
                        return self.client_gone();
                    }
                }
                Reply::StreamEnd => {
                    if chunked {
                        self.wire.out.extend_from_slice(b"0\r\n\r\n");
                    }
                    let written = self.wire.flush();
                    self.log(200);
                    if written.is_err() {
                        return Next::Close;
                    }
                    return Next::after(self.req.stream_persist(persist));
                }
            }
        }
    }

    /// The stream's next reply from the worker; `None` once the client has closed its end.
    ///
    /// While a handler is quiet (a tool runs, a model thinks) nothing is written, so a write
    /// cannot find out that the client left; the socket is looked at instead, every
    /// [`GONE_CHECK`]. An end of input counts as leaving, as uvicorn counts it.
    fn next_event(&mut self, rx: &mpsc::Receiver<Reply>) -> Option<Result<Reply, ()>> {
        loop {
            match rx.recv_timeout(GONE_CHECK) {
                Ok(reply) => return Some(Ok(reply)),
                Err(RecvTimeoutError::Disconnected) => return Some(Err(())),
                Err(RecvTimeoutError::Timeout) if self.wire.peer_closed() => return None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// The client stopped reading a stream: tell the handler (its next send fails) and close.
    fn client_gone(&mut self) -> Next {
        self.ctx.cancel();
        // Wake a producer blocked on the window; it sees the cancellation and stops.
        self.permits.post();
        crate::logging::info("client disconnected during stream")
            .str("requestId", &self.ctx.request_id)
            .opt_str("sessionId", self.ctx.session_id.as_deref())
            .emit();
        self.log(200);
        self.wire.out.clear();
        Next::Close
    }
}

/// Runs on a worker thread: the whole invocation, from the body to the last event.
fn work(run: InvokeFn, body: &[u8], ctx: &RequestContext, tx: &mpsc::Sender<Reply>, permits: &Arc<Semphore>) {
    match run(body, ctx) {
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
