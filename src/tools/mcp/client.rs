//! The MCP protocol over one connection: initialize, tools/list (following `nextCursor`),
//! tools/call, and what a server may send us unasked (requests we refuse or answer, notifications).
//!
//! Thread-safe: requests carry their own ids, and for stdio a reader thread routes each response
//! to the waiting caller, so concurrent calls on one client are fine. Every wait has a deadline;
//! a connection that dies fails its waiting calls at once (`Connection closed`), never later.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::config::{McpServerConfig, Transport};
use super::dispatch::Dispatch;
use super::error::McpError;
use super::jsonrpc;
use super::log::{Level, log};
use super::stdio::StdioConn;
use super::streamable_http::HttpConn;
use crate::sync::lock;
use crate::telemetry::TraceContext;
use crate::types::CancelToken;

/// The protocol revision we offer; we accept whatever the server answers.
pub(crate) const PROTOCOL_VERSION: &str = "2025-11-25";

/// At most this many `tools/list` pages: a server whose cursors never end must not loop us.
const MAX_LIST_PAGES: usize = 1000;

/// How often a waiting call looks at its cancellation flag.
const CANCEL_POLL: Duration = Duration::from_millis(100);

enum Conn {
    Stdio(StdioConn),
    Http(Arc<HttpConn>),
}

/// A connected, initialized MCP client.
pub(crate) struct McpClient {
    server: String,
    conn: Conn,
    dispatch: Arc<Dispatch>,
    next_id: AtomicU64,
    init_params: Value,
    server_info: Mutex<Value>,
    /// Serialises HTTP re-initialisation after a 404.
    reinit: Mutex<()>,
}

impl McpClient {
    /// Starts the transport and runs the initialize handshake, all before `deadline`.
    pub(crate) fn connect(cfg: &McpServerConfig, deadline: Instant) -> Result<McpClient, McpError> {
        let dispatch = Dispatch::new(&cfg.name);
        let conn = match &cfg.transport {
            Transport::Stdio {
                command,
                args,
                inherited_env,
                env,
                cwd,
            } => Conn::Stdio(StdioConn::spawn(
                &cfg.name,
                command,
                args,
                inherited_env.iter().chain(env),
                cwd.as_deref(),
                dispatch.clone(),
            )?),
            Transport::StreamableHttp { url, headers } => {
                Conn::Http(Arc::new(HttpConn::new(&cfg.name, url, headers)))
            }
        };
        let client_info = json!({
            "name": cfg.application_name.clone().unwrap_or_else(|| "agentcore-rt".into()),
            "version": cfg.application_version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").into()),
        });
        let client = McpClient {
            server: cfg.name.clone(),
            conn,
            dispatch,
            next_id: AtomicU64::new(1),
            init_params: json!({ "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": client_info }),
            server_info: Mutex::new(Value::Null),
            reinit: Mutex::new(()),
        };
        if let Err(e) = client.initialize(deadline) {
            let e = match (e, client.dispatch.close_reason()) {
                // "Connection closed" alone would not help anyone fix a server that cannot start.
                (McpError::Closed, Some(reason)) => McpError::other(format!("Connection closed: {reason}")),
                (e, _) => e,
            };
            client.close();
            return Err(e);
        }
        if let Conn::Http(http) = &client.conn {
            http.start_listener(client.dispatch.clone());
        }
        Ok(client)
    }

    fn initialize(&self, deadline: Instant) -> Result<(), McpError> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let result = self.request_once("initialize", self.init_params.clone(), timeout, None, &[])?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL_VERSION);
        let server_info = result.get("serverInfo").cloned().unwrap_or_else(|| json!({}));
        log(
            Level::Info,
            &self.server,
            &format!("initialized: protocol {version}, serverInfo {server_info}"),
        );
        if let Conn::Http(http) = &self.conn {
            http.set_protocol_version(version);
        }
        *lock(&self.server_info) = server_info;
        self.notify("notifications/initialized", None);
        Ok(())
    }

    /// `serverInfo` from the last `initialize`.
    pub(crate) fn server_info(&self) -> Value {
        lock(&self.server_info).clone()
    }

    /// All tool definitions, following `nextCursor`.
    pub(crate) fn list_tools(&self, timeout: Duration) -> Result<Vec<Value>, McpError> {
        let deadline = Instant::now() + timeout;
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(c) => json!({ "cursor": c }),
                None => json!({}),
            };
            let page = self.request(
                "tools/list",
                params,
                deadline.saturating_duration_since(Instant::now()),
                None,
                &[],
            )?;
            match page.get("tools") {
                Some(Value::Array(items)) => tools.extend(items.iter().cloned()),
                _ => return Err(McpError::other("tools/list result has no tools list")),
            }
            match page.get("nextCursor") {
                Some(Value::String(next)) if !next.is_empty() => {
                    if cursor.as_deref() == Some(next) {
                        return Err(McpError::other(format!(
                            "tools/list returned the same cursor twice ({next})"
                        )));
                    }
                    cursor = Some(next.clone());
                }
                _ => return Ok(tools),
            }
        }
        Err(McpError::other(format!(
            "tools/list did not end after {MAX_LIST_PAGES} pages"
        )))
    }

    /// `tools/call`; the raw `result` object on success.
    pub(crate) fn call_tool(
        &self,
        name: &str,
        arguments: &Value,
        timeout: Duration,
        cancelled: Option<&CancelToken>,
        trace: Option<&TraceContext>,
    ) -> Result<Value, McpError> {
        let mut params = json!({ "name": name, "arguments": arguments });
        // The execute_tool span's context: over HTTP as headers, and in `_meta` (SEP-414, what
        // Strands' MCPClient and the Python SDK inject) so stdio servers see it too.
        let headers = trace.map(TraceContext::w3c_headers).unwrap_or_default();
        if !headers.is_empty() {
            let meta: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
                .collect();
            params["_meta"] = Value::Object(meta);
        }
        self.request("tools/call", params, timeout, cancelled, &headers)
    }

    /// True once a `notifications/tools/list_changed` arrived since the last call.
    pub(crate) fn take_tools_changed(&self) -> bool {
        self.dispatch.take_tools_changed()
    }

    /// False once the connection is gone (process exited, stdout closed, fatal garbage).
    pub(crate) fn is_alive(&self) -> bool {
        !self.dispatch.is_closed()
    }

    /// The server process id (stdio only).
    pub(crate) fn pid(&self) -> Option<u32> {
        match &self.conn {
            Conn::Stdio(stdio) => Some(stdio.pid()),
            Conn::Http(_) => None,
        }
    }

    /// Ends the connection: stdio closes stdin, then escalates to signals; HTTP sends DELETE.
    /// Blocks for at most a few seconds. Idempotent.
    pub(crate) fn close(&self) {
        match &self.conn {
            Conn::Stdio(stdio) => stdio.close(),
            Conn::Http(http) => http.close(),
        }
        self.dispatch.close();
    }

    /// A request; over HTTP, a 404 for our session re-initializes once and retries.
    fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancelled: Option<&CancelToken>,
        trace_headers: &[(&'static str, String)],
    ) -> Result<Value, McpError> {
        let deadline = Instant::now() + timeout;
        let Conn::Http(http) = &self.conn else {
            return self.request_once(method, params, timeout, cancelled, trace_headers);
        };
        let generation = http.generation();
        match self.request_once(method, params.clone(), timeout, cancelled, trace_headers) {
            Err(McpError::SessionExpired) => {
                log(
                    Level::Warn,
                    &self.server,
                    "MCP session expired (HTTP 404): initializing a new one",
                );
                {
                    let _guard = lock(&self.reinit);
                    // Another caller may have re-initialized while we waited for the lock.
                    if http.generation() == generation {
                        http.reset_session();
                        self.initialize(deadline)?;
                    }
                }
                self.request_once(
                    method,
                    params,
                    deadline.saturating_duration_since(Instant::now()),
                    cancelled,
                    trace_headers,
                )
            }
            other => other,
        }
    }

    fn request_once(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        cancelled: Option<&CancelToken>,
        trace_headers: &[(&'static str, String)],
    ) -> Result<Value, McpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = jsonrpc::request(id, method, params);
        match &self.conn {
            Conn::Http(http) => {
                match http.exchange(&message, Some(id), timeout, &self.dispatch, trace_headers)? {
                    Some(outcome) => outcome.map_err(McpError::Rpc),
                    None => Err(McpError::other(format!(
                        "server accepted {method} without answering it"
                    ))),
                }
            }
            Conn::Stdio(stdio) => {
                let rx = self.dispatch.register(id)?;
                if let Err(e) = stdio.send(&message) {
                    self.dispatch.forget(id);
                    return Err(e);
                }
                self.wait(method, id, &rx, Instant::now() + timeout, cancelled)
            }
        }
    }

    fn wait(
        &self,
        method: &str,
        id: u64,
        rx: &mpsc::Receiver<Result<Value, McpError>>,
        deadline: Instant,
        cancelled: Option<&CancelToken>,
    ) -> Result<Value, McpError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = if cancelled.is_some() {
                left.min(CANCEL_POLL)
            } else {
                left
            };
            match rx.recv_timeout(slice) {
                Ok(outcome) => return outcome,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(McpError::Closed),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let is_cancelled = cancelled.is_some_and(CancelToken::is_cancelled);
                    if is_cancelled || Instant::now() >= deadline {
                        self.dispatch.forget(id);
                        let reason = if is_cancelled { "cancelled" } else { "timed out" };
                        // A courtesy to the server (spec: the requester SHOULD say so).
                        self.notify(
                            "notifications/cancelled",
                            Some(json!({ "requestId": id, "reason": format!("request {reason} by the client") })),
                        );
                        return Err(if is_cancelled {
                            McpError::Cancelled
                        } else {
                            McpError::Timeout {
                                method: method.to_string(),
                            }
                        });
                    }
                }
            }
        }
    }

    fn notify(&self, method: &str, params: Option<Value>) {
        let message = jsonrpc::notification(method, params);
        let sent = match &self.conn {
            Conn::Stdio(stdio) => stdio.send(&message).map(|_| ()),
            Conn::Http(http) => http
                .exchange(&message, None, http.notify_timeout(), &self.dispatch, &[])
                .map(|_| ()),
        };
        if let Err(e) = sent {
            log(
                Level::Debug,
                &self.server,
                &format!("{method} not delivered: {e}"),
            );
        }
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        if let Conn::Http(http) = &self.conn {
            http.stop_listener();
        }
        self.dispatch.close();
    }
}
