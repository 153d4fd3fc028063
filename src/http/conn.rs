//! One HTTP/1.1 connection, served by one coroutine: read a head, ask the service what to do
//! with it, do that; keep-alive and pipelining.
//!
//! Rules this module keeps:
//! - nothing here blocks an OS thread: socket I/O is may's (it parks the coroutine), handler
//!   work goes to the pool and comes back over may channels (invoke.rs);
//! - a request body is always consumed or the connection closed (body.rs);
//! - every read has a deadline (idle, head, body) and every write a timeout, so a slow or
//!   silent client only ever costs its own coroutine, for a bounded time;
//! - responses to pipelined requests are batched into one write;
//! - the health check is answered from the read buffer, before the request is copied out or
//!   anything else is allocated.

use std::sync::Arc;
use std::time::Instant;

use may::net::TcpStream;

use super::access;
use super::body::{self, BodyError, BodyLimits};
use super::idle::IdleHandle;
use super::invoke;
use super::io::{Wire, is_timeout};
use super::parse::{self, BodyFraming, Head, HeadError, HeadLimits};
use super::request::{self, Next, Request};
use super::response::{self, Persist};
use super::service::{Answer, Decision, Health, Service};
use super::shared::Shared;
use super::upgrade;
use crate::error::Error;

const INCOMPLETE_HEAD: &str = "request head incomplete: the client closed the connection";

/// Serves a connection until it closes.
pub(crate) fn serve(stream: TcpStream, shared: Arc<Shared>, overloaded: bool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.config.write_timeout));
    let idle = shared
        .idle
        .register(std::os::unix::io::AsRawFd::as_raw_fd(&stream));
    let mut conn = Conn {
        idle,
        wire: Wire::new(stream),
        shared,
        ping: PingCache::default(),
        spare_headers: Vec::new(),
        overloaded,
    };
    conn.run();
}

struct Conn {
    /// Declared first, so it is dropped (unregistered) before `wire` closes the socket.
    idle: IdleHandle,
    wire: Wire,
    shared: Arc<Shared>,
    ping: PingCache,
    /// The header-offset vector of the last request answered on the fast path, reused.
    spare_headers: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// Over the connection limit: answer the health check, 503 anything else, then close.
    overloaded: bool,
}

enum ReadHeadError {
    Head(HeadError),
    Timeout,
    /// The client closed (or half-closed) its side in the middle of a head.
    Incomplete,
    Io,
}

impl Conn {
    fn run(&mut self) {
        loop {
            let head = match self.read_head() {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(e) => {
                    self.refuse_head(e);
                    break;
                }
            };
            if let Some(next) = self.try_fast_ping(&head) {
                if next == Next::Close {
                    break;
                }
                self.spare_headers = head.headers;
                continue;
            }
            let next = self.serve_request(head);
            if next == Next::Close || self.shared.is_shutting_down() {
                break;
            }
        }
        self.wire.finish();
    }

    /// Answers a head that could not be read; the connection then closes.
    fn refuse_head(&mut self, e: ReadHeadError) {
        let err = match e {
            ReadHeadError::Head(e) => {
                access::unparsed(e.status(), "bad request head");
                Error::http(e.status(), response::reason(e.status())).with_details(e.message())
            }
            ReadHeadError::Timeout => {
                Error::http(408, "Request Timeout").with_details("request head not received in time")
            }
            ReadHeadError::Incomplete => {
                // A half-closed client can still read why its request went unanswered.
                access::unparsed(400, INCOMPLETE_HEAD);
                Error::bad_request("Bad Request").with_details(INCOMPLETE_HEAD)
            }
            ReadHeadError::Io => return,
        };
        response::write_error(&mut self.wire.out, &err, Persist::Close, false, &[]);
    }

    /// The fast path: a `GET`/`HEAD` of the service's health-check path without a body is
    /// answered straight from the read buffer, before the service is asked: no allocation, no
    /// copy of the request, no worker thread. `None`: not such a request.
    fn try_fast_ping(&mut self, head: &Head) -> Option<Next> {
        let ping_path = self.shared.service.ping_path()?;
        let buf = self.wire.buffered();
        let method = &buf[head.method.clone()];
        let head_only = method == b"HEAD";
        if !(method == b"GET" || head_only)
            || head.body != BodyFraming::None
            || head.websocket_upgrade
            || head.expect_unsupported
        {
            return None;
        }
        let target = &buf[head.target.clone()];
        let path = target.split(|&b| b == b'?').next().unwrap_or_default();
        if path != ping_path.as_bytes() {
            return None;
        }
        let started = self.shared.config.log_pings.then(Instant::now);
        let persist = request::persist(head, self.overloaded);
        let bytes = self.ping.answer(&*self.shared.service, persist, head_only);
        self.wire.out.extend_from_slice(bytes);
        self.wire.consume(head.len);
        if let Some(started) = started {
            access::ping(head_only, ping_path, started);
        }
        Some(Next::after(persist))
    }

    /// Everything but the fast path: the head is copied out of the read buffer (which the body
    /// is read into), then the service's decision is carried out.
    fn serve_request(&mut self, head: Head) -> Next {
        let bytes = self.wire.buffered()[..head.len].to_vec();
        self.wire.consume(head.len);
        let req = Request::new(&bytes, &head);
        let started = Instant::now();
        let persist = req.persist(self.overloaded);
        match admit(&req, self.overloaded, &*self.shared.service) {
            Decision::Ping => {
                let limits = self.body_limits();
                if let Err(e) = body::discard(&mut self.wire, &head, limits) {
                    return self.unused_body_failed(&req, started, e);
                }
                let mut body = Vec::with_capacity(64);
                self.shared.service.health().write_body(&mut body);
                write_ping(&mut self.wire.out, &body, persist, req.is_head());
                if self.shared.config.log_pings {
                    access::request(&req, started, 200, None);
                }
                Next::after(persist)
            }
            Decision::Answer(answer) => self.answer(&req, started, &answer, persist),
            Decision::Invoke(invocation) => {
                let limits = self.body_limits();
                let body = match body::read(&mut self.wire, &head, limits) {
                    Ok(body) => body,
                    Err(e) => {
                        return match e.answer(limits.max_bytes) {
                            Some(err) => self.answer(&req, started, &Answer::error(err), persist),
                            None => Next::Close,
                        };
                    }
                };
                invoke::run(
                    &mut self.wire,
                    &req,
                    started,
                    invocation,
                    body,
                    persist,
                    &self.shared,
                )
            }
            Decision::Upgrade(session) => {
                match upgrade::run(&mut self.wire, &req, started, session, &self.shared) {
                    Ok(next) => next,
                    Err(refused) => self.answer(&req, started, &refused, persist),
                }
            }
        }
    }

    /// Writes an answer that needs no handler (reading and dropping the body first when the
    /// connection stays open).
    fn answer(&mut self, req: &Request<'_>, started: Instant, answer: &Answer, persist: Persist) -> Next {
        let limits = self.body_limits();
        if answer.reads_body()
            && let Err(e) = body::discard(&mut self.wire, req.head(), limits)
        {
            return self.unused_body_failed(req, started, e);
        }
        let (out, stream) = self.wire.out_and_stream();
        let (status, next) = answer.write(out, req, persist, || {
            stream.local_addr().ok().map(|a| a.to_string())
        });
        access::request(req, started, status, None);
        let error = match answer {
            Answer::Error(error, _) => Some(error),
            _ => None,
        };
        access::trace_refusal(&*self.shared.service, req, None, status, error);
        next
    }

    /// A body read only to be dropped could not be read: say why (when the socket is still
    /// there) and close.
    fn unused_body_failed(&mut self, req: &Request<'_>, started: Instant, e: BodyError) -> Next {
        if let Some(err) = e.answer_unused() {
            response::write_error(&mut self.wire.out, &err, Persist::Close, false, &[]);
            access::request(req, started, err.status(), None);
            access::trace_refusal(&*self.shared.service, req, None, err.status(), Some(&err));
        }
        Next::Close
    }

    fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.shared.config.max_body_bytes,
            timeout: self.shared.config.body_timeout,
        }
    }

    fn read_head(&mut self) -> Result<Option<Head>, ReadHeadError> {
        let limits = HeadLimits {
            max_bytes: self.shared.config.max_head_bytes,
            max_headers: self.shared.config.max_headers,
        };
        let mut head_deadline: Option<Instant> = None;
        // Only parse once a blank line may have arrived: re-parsing a head trickled in byte by
        // byte on every read would cost quadratic time. `scanned` counts bytes of this head
        // already looked at, relative to the start of the buffered bytes, because `fill` may
        // move the head to the front of the buffer. Two early parses on top: of the first
        // bytes, and once the request line is complete, so a client speaking another protocol
        // (TLS, binary garbage) or sending a broken request line is refused at once instead of
        // after HEADER_TIMEOUT; httparse validates a partial head as far as it goes.
        let mut scanned: usize = 0;
        let mut line_checked = false;
        loop {
            let buffered = self.wire.buffered();
            if !buffered.is_empty() {
                let window = &buffered[scanned.saturating_sub(3)..];
                let first_line = !line_checked && window.contains(&b'\n');
                let maybe_complete = scanned == 0
                    || first_line
                    || window.windows(2).any(|w| w == b"\n\n")
                    || window.windows(3).any(|w| w == b"\n\r\n")
                    || buffered.len() > limits.max_bytes;
                line_checked |= first_line;
                scanned = buffered.len();
                if maybe_complete {
                    let spare = std::mem::take(&mut self.spare_headers);
                    match parse::parse_head_reusing(buffered, limits, spare) {
                        Ok(Some(head)) => return Ok(Some(head)),
                        Ok(None) => {}
                        Err(e) => return Err(ReadHeadError::Head(e)),
                    }
                }
                if buffered.len() > limits.max_bytes {
                    return Err(ReadHeadError::Head(HeadError::TooLarge));
                }
            } else {
                // Between requests: a draining server takes no new ones.
                if self.shared.is_shutting_down() {
                    return Ok(None);
                }
                self.wire.rewind_if_empty();
                scanned = 0;
            }
            if !self.wire.out.is_empty() && self.wire.flush().is_err() {
                return Err(ReadHeadError::Io);
            }
            let idle = self.wire.buffered().is_empty();
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
            let filled = self.wire.fill(timeout, limits.max_bytes + 1);
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
}

/// The server's own gates around a service's decision: an `Expect` we cannot meet is a 417
/// (the service is not asked), and past the connection limit everything but the health
/// check is a 503.
fn admit(req: &Request<'_>, overloaded: bool, service: &dyn Service) -> Decision {
    if req.head().expect_unsupported {
        let err = Error::http(417, "Expectation Failed").with_details("only 100-continue is supported");
        return Decision::Answer(Answer::error(err));
    }
    let decision = service.decide(req);
    // A WebSocket session, the longest-lived connection of all, is never a health check.
    if overloaded && !matches!(decision, Decision::Ping) {
        let err = Error::http(503, "Service Unavailable")
            .with_details("too many open connections (MAX_CONNECTIONS)");
        return Decision::Answer(Answer::Error(err, &[("retry-after", "1")]));
    }
    decision
}

/// The health check's answer.
fn write_ping(out: &mut Vec<u8>, body: &[u8], persist: Persist, head_only: bool) {
    response::write_full(out, 200, Some("application/json"), body, persist, &[], head_only);
}

/// The last health-check answer of a connection: a ping then costs one copy instead of a
/// dozen small appends, which were a third of the instructions of a /ping.
#[derive(Default)]
struct PingCache {
    /// What `bytes` was written for: the second of its `date`, the health, keep-alive, HEAD.
    key: Option<(u64, Health, Persist, bool)>,
    bytes: Vec<u8>,
}

impl PingCache {
    /// The answer to a health check now; rewritten (into the same buffer) only when the
    /// second, the health or the framing changed.
    fn answer(&mut self, service: &dyn Service, persist: Persist, head_only: bool) -> &[u8] {
        let health = service.health();
        let key = (crate::clock::unix_now(), health, persist, head_only);
        if self.key != Some(key) {
            let mut body = Vec::with_capacity(64);
            health.write_body(&mut body);
            self.bytes.clear();
            write_ping(&mut self.bytes, &body, persist, head_only);
            self.key = Some(key);
        }
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::app::PingStatus;
    use crate::http::request::tests::head;
    use crate::http::service::tests::{mask_date, render};

    /// A service that takes every request for a health check, with a settable health.
    struct Pings(Mutex<Health>);

    impl Pings {
        fn new() -> Pings {
            Pings(Mutex::new(Health {
                status: PingStatus::Healthy,
                since: 1700000000,
            }))
        }
    }

    impl Service for Pings {
        fn decide(&self, _req: &Request<'_>) -> Decision {
            Decision::Ping
        }
        fn ping_path(&self) -> Option<&'static str> {
            Some("/health")
        }
        fn health(&self) -> Health {
            *self.0.lock().unwrap()
        }
        fn stopped(&self) {}
    }

    /// A service that answers every request with a 404.
    struct Nothing;

    impl Service for Nothing {
        fn decide(&self, _req: &Request<'_>) -> Decision {
            Decision::Answer(Answer::Text {
                status: 404,
                body: "Not Found",
                header: None,
            })
        }
        fn ping_path(&self) -> Option<&'static str> {
            None
        }
        fn health(&self) -> Health {
            unreachable!("no health check")
        }
        fn stopped(&self) {}
    }

    /// The gated decision for `raw`, rendered when it is an answer.
    fn gated(service: &dyn Service, raw: &str, overloaded: bool) -> Result<(String, Next), &'static str> {
        let h = head(raw);
        let req = Request::new(raw.as_bytes(), &h);
        match admit(&req, overloaded, service) {
            Decision::Answer(answer) => Ok(render(&answer, raw, overloaded)),
            Decision::Ping => Err("ping"),
            Decision::Invoke(_) => Err("invoke"),
            Decision::Upgrade(_) => Err("upgrade"),
        }
    }

    #[test]
    fn an_unsupported_expectation_is_417_and_closes() {
        let raw = "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n";
        let (text, next) = gated(&Pings::new(), raw, false).unwrap();
        assert!(text.starts_with("HTTP/1.1 417 Expectation Failed\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(
            text.ends_with(r#"{"error":"Expectation Failed","details":"only 100-continue is supported"}"#),
            "{text}"
        );
        assert_eq!(next, Next::Close);
        let raw = "POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(gated(&Pings::new(), raw, false), Err("ping"));
    }

    #[test]
    fn past_the_connection_limit_only_the_health_check_answers() {
        let raw = "GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(gated(&Pings::new(), raw, true), Err("ping"));
        let (text, next) = gated(&Nothing, raw, true).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("\r\nretry-after: 1\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
        assert!(text.contains("MAX_CONNECTIONS"), "{text}");
        assert_eq!(next, Next::Close);
        let (text, next) = gated(&Nothing, raw, false).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 "), "{text}");
        assert_eq!(next, Next::KeepAlive);
    }

    #[test]
    fn the_ping_cache_follows_health_framing_and_method() {
        let service = Pings::new();
        let mut cache = PingCache::default();
        let text = |b: &[u8]| mask_date(std::str::from_utf8(b).unwrap());
        let first = text(cache.answer(&service, Persist::Default, false));
        assert_eq!(
            first,
            "HTTP/1.1 200 OK\r\ndate: *\r\nserver: agentcore-rt\r\ncontent-type: application/json\r\n\
             content-length: 53\r\n\r\n{\"status\":\"Healthy\",\"time_of_last_update\":1700000000}"
        );
        assert_eq!(text(cache.answer(&service, Persist::Default, false)), first);
        *service.0.lock().unwrap() = Health {
            status: PingStatus::HealthyBusy,
            since: 1700000001,
        };
        let busy = text(cache.answer(&service, Persist::Default, false));
        assert!(
            busy.ends_with("\r\n\r\n{\"status\":\"HealthyBusy\",\"time_of_last_update\":1700000001}"),
            "{busy}"
        );
        let closing = text(cache.answer(&service, Persist::Close, true));
        assert!(
            closing.ends_with("content-length: 57\r\nconnection: close\r\n\r\n"),
            "HEAD, closing: {closing}"
        );
        let ten = text(cache.answer(&service, Persist::KeepAlive10, false));
        assert!(ten.contains("\r\nconnection: keep-alive\r\n"), "{ten}");
    }
}
