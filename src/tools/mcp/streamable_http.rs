//! The Streamable HTTP transport (MCP 2025-03-26 and later), over ureq.
//!
//! Each message is a POST of one JSON-RPC object to the server URL, with
//! `Accept: application/json, text/event-stream`. A request is answered either by a JSON body or
//! by an SSE stream on which the server may first send notifications (progress, list_changed)
//! and requests of its own, which we answer with a POST of our own. Notifications and our
//! replies are answered `202 Accepted`. The server's `Mcp-Session-Id` from initialize goes back
//! on every later request, with `MCP-Protocol-Version`; a 404 for that session means it
//! expired (the client re-initializes once). Closing sends DELETE.
//!
//! After initialize, a listener thread keeps the optional standalone GET stream open: servers
//! send what is not tied to one call there (the Python SDK sends its `ping`, `roots/list` and
//! `tools/list_changed` that way, even from inside a tool), and a server request nobody answers
//! would hang that tool. A 405 means the server has no such stream; the thread then ends. It
//! reconnects with a backoff, follows re-initialized sessions and ends when the client closes.

use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::dispatch::Dispatch;
use super::error::McpError;
use super::jsonrpc::{self, Incoming, MAX_MESSAGE_BYTES, RpcError};
use super::log::{Level, log};
use crate::sse::SseParser;
use crate::sync::lock;

/// Notifications and our replies to server requests: short, answered with 202.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// DELETE at close.
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an error body we read to explain a failure.
const ERROR_BODY_MAX: u64 = 64 * 1024;
/// The GET stream: connect limit, and how long it may stay silent before we reconnect (a
/// safety net against half-dead connections; servers close it themselves when a session ends).
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const LISTEN_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Reconnect backoff for the GET stream.
const LISTEN_BACKOFF_MIN: Duration = Duration::from_secs(1);
const LISTEN_BACKOFF_MAX: Duration = Duration::from_secs(30);

struct Session {
    id: Option<String>,
    protocol_version: Option<String>,
    /// Bumped each time the session is reset, so concurrent callers re-initialize only once.
    generation: u64,
}

/// One server endpoint and our session with it.
pub(crate) struct HttpConn {
    server: String,
    url: String,
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
    session: Mutex<Session>,
    closed: Mutex<bool>,
    closed_signal: Condvar,
}

impl HttpConn {
    pub(crate) fn new(server: &str, url: &str, headers: &[(String, String)]) -> HttpConn {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("agentcore-rt/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpConn {
            server: server.to_string(),
            url: url.to_string(),
            headers: headers.to_vec(),
            agent: ureq::Agent::new_with_config(config),
            session: Mutex::new(Session {
                id: None,
                protocol_version: None,
                generation: 0,
            }),
            closed: Mutex::new(false),
            closed_signal: Condvar::new(),
        }
    }

    pub(crate) fn notify_timeout(&self) -> Duration {
        NOTIFY_TIMEOUT
    }

    /// The protocol revision initialize settled on (sent as `MCP-Protocol-Version` from now on).
    pub(crate) fn set_protocol_version(&self, version: &str) {
        self.lock().protocol_version = Some(version.to_string());
    }

    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets the expired session before initializing a new one.
    pub(crate) fn reset_session(&self) {
        let mut session = self.lock();
        session.id = None;
        session.protocol_version = None;
        session.generation += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        lock(&self.session)
    }

    /// POSTs `message`. For a request (`expect_id`), reads the reply until its response and
    /// returns it; messages before it go to `dispatch`. For anything else returns `None`.
    pub(crate) fn exchange(
        &self,
        message: &Value,
        expect_id: Option<u64>,
        timeout: Duration,
        dispatch: &Dispatch,
        trace_headers: &[(&'static str, String)],
    ) -> Result<Option<Result<Value, RpcError>>, McpError> {
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("response")
            .to_string();
        let body =
            serde_json::to_vec(message).map_err(|e| McpError::caused(format!("cannot encode: {e}"), e))?;
        let (session_id, protocol_version) = {
            let session = self.lock();
            (session.id.clone(), session.protocol_version.clone())
        };
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(id) = &session_id {
            request = request.header("Mcp-Session-Id", id);
        }
        if let Some(version) = &protocol_version {
            request = request.header("MCP-Protocol-Version", version);
        }
        for (name, value) in trace_headers {
            request = request.header(*name, value);
        }
        let response = request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send(&body[..])
            .map_err(|e| self.ureq_error(&method, e))?;
        let status = response.status().as_u16();
        if let Some(id) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            let mut session = self.lock();
            if session.id.as_deref() != Some(id) {
                session.id = Some(id.to_string());
            }
        }
        if status == 404 && session_id.is_some() {
            return Err(McpError::SessionExpired);
        }
        if !(200..300).contains(&status) {
            return Err(McpError::other(http_error(status, response.into_body())));
        }
        let Some(expect_id) = expect_id else {
            return Ok(None);
        };
        if status == 202 {
            return Ok(None);
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mut body = response.into_body();
        if content_type.starts_with("text/event-stream") {
            self.read_sse(&method, body.into_reader(), expect_id, dispatch)
                .map(Some)
        } else if content_type.starts_with("application/json") {
            let bytes = body
                .with_config()
                .limit(MAX_MESSAGE_BYTES as u64)
                .read_to_vec()
                .map_err(|e| self.ureq_error(&method, e))?;
            match self.route(&bytes, expect_id, dispatch)? {
                Some(outcome) => Ok(Some(outcome)),
                None => Err(McpError::other(format!(
                    "{method}: the JSON reply holds no response to it"
                ))),
            }
        } else {
            Err(McpError::other(format!(
                "{method}: unexpected reply content type '{content_type}'"
            )))
        }
    }

    /// Reads an SSE reply until the response to `expect_id`.
    fn read_sse(
        &self,
        method: &str,
        mut body: impl Read,
        expect_id: u64,
        dispatch: &Dispatch,
    ) -> Result<Result<Value, RpcError>, McpError> {
        let mut parser = SseParser::new(MAX_MESSAGE_BYTES);
        let mut events = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match body.read(&mut chunk) {
                Ok(0) => return Err(McpError::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(method, e)),
            };
            parser
                .push(&chunk[..n], &mut events)
                .map_err(|e| McpError::caused(format!("{method}: {e}"), e))?;
            for event in events.drain(..) {
                if event.event != "message" {
                    continue;
                }
                if let Some(outcome) = self.route(event.data.as_bytes(), expect_id, dispatch)? {
                    return Ok(outcome);
                }
            }
        }
    }

    /// Parses one message (or batch): the response to `expect_id` is returned, the rest handled.
    fn route(
        &self,
        bytes: &[u8],
        expect_id: u64,
        dispatch: &Dispatch,
    ) -> Result<Option<Result<Value, RpcError>>, McpError> {
        let messages = match jsonrpc::parse(bytes) {
            Ok(messages) => messages,
            Err(e) => {
                log(
                    Level::Warn,
                    &self.server,
                    &format!("ignoring a reply message that is not JSON-RPC: {e}"),
                );
                return Ok(None);
            }
        };
        let mut found = None;
        for message in messages {
            match message {
                Incoming::Response { id, outcome } if jsonrpc::id_as_u64(&id) == Some(expect_id) => {
                    found = Some(outcome);
                }
                other => dispatch.handle(other, &|reply| self.post_reply(&reply, dispatch)),
            }
        }
        Ok(found)
    }

    /// Answers a server request by POSTing our reply.
    fn post_reply(&self, reply: &Value, dispatch: &Dispatch) {
        if let Err(e) = self.exchange(reply, None, NOTIFY_TIMEOUT, dispatch, &[]) {
            log(
                Level::Warn,
                &self.server,
                &format!("could not answer a server request: {e}"),
            );
        }
    }

    /// Starts the GET-stream listener (once, after the first initialize).
    pub(crate) fn start_listener(self: &Arc<Self>, dispatch: Arc<Dispatch>) {
        let conn = self.clone();
        let spawned = thread::Builder::new()
            .name(format!("mcp-{}-get", self.server))
            .spawn(move || conn.listen(&dispatch));
        if let Err(e) = spawned {
            log(
                Level::Warn,
                &self.server,
                &format!("cannot start the GET stream listener: {e}"),
            );
        }
    }

    fn listen(&self, dispatch: &Dispatch) {
        let mut backoff = LISTEN_BACKOFF_MIN;
        while !self.is_closed() {
            let (session_id, protocol_version, generation) = {
                let session = self.lock();
                (
                    session.id.clone(),
                    session.protocol_version.clone(),
                    session.generation,
                )
            };
            let mut request = self.agent.get(&self.url).header("Accept", "text/event-stream");
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            if let Some(id) = &session_id {
                request = request.header("Mcp-Session-Id", id);
            }
            if let Some(version) = &protocol_version {
                request = request.header("MCP-Protocol-Version", version);
            }
            let opened = Instant::now();
            let response = request
                .config()
                .timeout_connect(Some(LISTEN_CONNECT_TIMEOUT))
                .timeout_per_read(Some(LISTEN_IDLE_TIMEOUT))
                .build()
                .call();
            match response {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let is_sse = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
                    if status == 405 {
                        log(Level::Debug, &self.server, "no standalone GET stream (HTTP 405)");
                        return;
                    }
                    if (200..300).contains(&status) && is_sse {
                        self.read_stream(response.into_body().into_reader(), dispatch);
                        if opened.elapsed() > LISTEN_BACKOFF_MAX {
                            backoff = LISTEN_BACKOFF_MIN;
                        }
                    } else if matches!(status, 400 | 404) && session_id.is_some() {
                        // The session is gone; the next request re-initializes. Wait for that.
                        while !self.is_closed() && self.lock().generation == generation {
                            self.wait_closed(LISTEN_BACKOFF_MIN);
                        }
                        continue;
                    } else {
                        log(
                            Level::Debug,
                            &self.server,
                            &format!("GET stream refused: HTTP {status}"),
                        );
                    }
                }
                Err(e) => log(Level::Debug, &self.server, &format!("GET stream failed: {e}")),
            }
            if self.wait_closed(backoff) {
                return;
            }
            backoff = (backoff * 2).min(LISTEN_BACKOFF_MAX);
        }
    }

    /// Handles the GET stream's messages until it ends.
    fn read_stream(&self, mut body: impl Read, dispatch: &Dispatch) {
        let mut parser = SseParser::new(MAX_MESSAGE_BYTES);
        let mut events = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match body.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log(Level::Debug, &self.server, &format!("GET stream ended: {e}"));
                    return;
                }
            };
            if let Err(e) = parser.push(&chunk[..n], &mut events) {
                log(Level::Warn, &self.server, &format!("GET stream: {e}"));
                return;
            }
            for event in events.drain(..).filter(|e| e.event == "message") {
                match jsonrpc::parse(event.data.as_bytes()) {
                    Ok(messages) => {
                        for message in messages {
                            dispatch.handle(message, &|reply| self.post_reply(&reply, dispatch));
                        }
                    }
                    Err(e) => log(
                        Level::Warn,
                        &self.server,
                        &format!("ignoring a GET stream message: {e}"),
                    ),
                }
            }
            if self.is_closed() {
                return;
            }
        }
    }

    fn is_closed(&self) -> bool {
        *lock(&self.closed)
    }

    /// Sleeps up to `duration`; true if the connection was closed meanwhile.
    fn wait_closed(&self, duration: Duration) -> bool {
        let closed = lock(&self.closed);
        let (closed, _) = self
            .closed_signal
            .wait_timeout_while(closed, duration, |closed| !*closed)
            .unwrap_or_else(PoisonError::into_inner);
        *closed
    }

    /// Stops the listener without ending the session (a client dropped without `close`).
    pub(crate) fn stop_listener(&self) {
        *lock(&self.closed) = true;
        self.closed_signal.notify_all();
    }

    /// Ends the session with DELETE (best effort; servers may answer 405), which also makes the
    /// server end the GET stream.
    pub(crate) fn close(&self) {
        self.stop_listener();
        let Some(id) = self.lock().id.take() else { return };
        let mut request = self.agent.delete(&self.url).header("Mcp-Session-Id", &id);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match request
            .config()
            .timeout_global(Some(DELETE_TIMEOUT))
            .build()
            .call()
        {
            Ok(response) => log(
                Level::Debug,
                &self.server,
                &format!("DELETE session: HTTP {}", response.status().as_u16()),
            ),
            Err(e) => log(Level::Debug, &self.server, &format!("DELETE session failed: {e}")),
        }
    }

    fn ureq_error(&self, method: &str, e: ureq::Error) -> McpError {
        match e {
            ureq::Error::Timeout(_) => McpError::Timeout {
                method: method.to_string(),
            },
            ureq::Error::Io(io) => io_error(method, io),
            other => McpError::caused(format!("HTTP request to {} failed: {other}", self.url), other),
        }
    }
}

fn io_error(method: &str, e: io::Error) -> McpError {
    let is_timeout = e.kind() == io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<ureq::Error>())
            .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
    if is_timeout {
        return McpError::Timeout {
            method: method.to_string(),
        };
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => McpError::Closed,
        _ => McpError::caused(format!("{method}: {e}"), e),
    }
}

/// `HTTP <status>: <JSON-RPC error message or the start of the body>`.
fn http_error(status: u16, mut body: ureq::Body) -> String {
    let bytes = body
        .with_config()
        .limit(ERROR_BODY_MAX)
        .read_to_vec()
        .unwrap_or_default();
    let rpc_message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string));
    match rpc_message {
        Some(message) => format!("HTTP {status}: {message}"),
        None => {
            let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            if text.trim().is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {}", text.trim())
            }
        }
    }
}
