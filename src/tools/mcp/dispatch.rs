//! [`Dispatch`]: what a connection's reader does with each message a server sends.
//!
//! Shared by a transport (whose reader thread, or SSE reply, hands messages in) and the client
//! (which registers the requests it waits for), so neither needs the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use serde_json::Value;

use super::error::McpError;
use super::jsonrpc::{self, Incoming};
use super::log::{Level, log};
use crate::sync::lock;

/// Where the outcome of one request goes.
type Waiter = mpsc::SyncSender<Result<Value, McpError>>;

/// Routes what a server sends: responses to their waiting callers, server requests to an
/// answer, notifications to flags and the log. Shared by the transport's reader and the client.
pub(crate) struct Dispatch {
    server: String,
    pending: Mutex<HashMap<u64, Waiter>>,
    closed: AtomicBool,
    close_reason: Mutex<Option<String>>,
    tools_changed: AtomicBool,
}

impl Dispatch {
    pub(crate) fn new(server: &str) -> Arc<Dispatch> {
        Arc::new(Dispatch {
            server: server.to_string(),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            close_reason: Mutex::new(None),
            tools_changed: AtomicBool::new(false),
        })
    }

    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// Expects the response to request `id`; fails at once when the connection is closed.
    pub(crate) fn register(&self, id: u64) -> Result<mpsc::Receiver<Result<Value, McpError>>, McpError> {
        let mut pending = lock(&self.pending);
        // Checked under the lock `close` takes, so a waiter is never left behind by a close.
        if self.closed.load(Ordering::SeqCst) {
            return Err(McpError::Closed);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        pending.insert(id, tx);
        Ok(rx)
    }

    /// Stops expecting the response to `id` (timed out, cancelled, or never sent).
    pub(crate) fn forget(&self, id: u64) {
        lock(&self.pending).remove(&id);
    }

    /// Handles one message. `reply` sends a message back to the server.
    pub(crate) fn handle(&self, message: Incoming, reply: &dyn Fn(Value)) {
        match message {
            Incoming::Response { id, outcome } => {
                let waiter = jsonrpc::id_as_u64(&id).and_then(|id| lock(&self.pending).remove(&id));
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.try_send(outcome.map_err(McpError::Rpc));
                    }
                    None => log(
                        Level::Debug,
                        &self.server,
                        &format!("response to unknown request id {id}"),
                    ),
                }
            }
            Incoming::Request { id, method } => {
                log(
                    Level::Debug,
                    &self.server,
                    &format!("server request {method}: answering"),
                );
                reply(jsonrpc::answer_server_request(id, &method));
            }
            Incoming::Notification { method, params } => match method.as_str() {
                "notifications/tools/list_changed" => {
                    log(
                        Level::Debug,
                        &self.server,
                        "tools/list_changed: tools will be re-listed",
                    );
                    self.tools_changed.store(true, Ordering::SeqCst);
                }
                "notifications/message" => {
                    let level = params.get("level").and_then(Value::as_str).unwrap_or("info");
                    let data = params.get("data").map(Value::to_string).unwrap_or_default();
                    log(
                        Level::Info,
                        &self.server,
                        &format!("server log ({level}): {data}"),
                    );
                }
                _ => {}
            },
        }
    }

    /// The connection is gone: every waiting call fails now, later ones at once.
    pub(crate) fn close(&self) {
        let mut pending = lock(&self.pending);
        self.closed.store(true, Ordering::SeqCst);
        for (_, waiter) in pending.drain() {
            let _ = waiter.try_send(Err(McpError::Closed));
        }
    }

    /// [`close`](Self::close), remembering why (for start-up errors).
    pub(crate) fn close_with(&self, reason: String) {
        lock(&self.close_reason).get_or_insert(reason);
        self.close();
    }

    /// Why the connection closed, when the transport said.
    pub(crate) fn close_reason(&self) -> Option<String> {
        lock(&self.close_reason).clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// True once a `notifications/tools/list_changed` arrived since the last call.
    pub(crate) fn take_tools_changed(&self) -> bool {
        self.tools_changed.swap(false, Ordering::SeqCst)
    }
}
