//! The contract users program against: the Rust counterpart of the SDK's `BedrockAgentCoreApp`.
//!
//! An [`App`] holds the handlers (entrypoint, ping, websocket), the async-task tracker and the
//! server settings. It knows nothing about sockets: `App::bind` / `App::run` live in
//! [`crate::http`], which owns the wire and calls back into [`App::invoke`] and
//! [`App::ping_status`].
//!
//! ```no_run
//! use agentcore_rt::{App, Error};
//! use serde_json::json;
//!
//! let mut app = App::new();
//! app.entrypoint(|payload, ctx| {
//!     let prompt = payload.get("prompt").and_then(|p| p.as_str()).ok_or_else(|| Error::bad_request("no prompt"))?;
//!     Ok(json!({"echo": prompt, "session": ctx.session_id}))
//! });
//! app.run("0.0.0.0:8080")?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub mod agent_entrypoint;
pub mod context;
pub mod handler;
pub mod tasks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub use context::RequestContext;
pub use handler::{
    Disconnected, EventSink, EventTransport, Output, Response, StreamFn, WebSocket, WsError, WsEvents,
    WsMessage, WsTransport,
};
pub use tasks::{PingStatus, TaskGuard, Tasks};

use crate::config::ServerConfig;
use crate::error::Error;
use crate::pyjson::{self, BodyError};

type EntrypointFn = dyn Fn(Value, &RequestContext) -> Result<Output, Error> + Send + Sync;
type PingFn = dyn Fn() -> Result<PingStatus, Error> + Send + Sync;
type WebSocketFn = dyn Fn(&mut WebSocket<'_>, &RequestContext) -> Result<(), Error> + Send + Sync;
type ShutdownFn = Box<dyn FnOnce() + Send>;

/// An AgentCore runtime application: handlers plus settings. Build it, then `run` or `bind` it.
pub struct App {
    entrypoint: Option<Arc<EntrypointFn>>,
    ping: Option<Arc<PingFn>>,
    websocket: Option<Arc<WebSocketFn>>,
    tasks: Tasks,
    debug: bool,
    config: ServerConfig,
    on_shutdown: Mutex<Vec<ShutdownFn>>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no handlers and default settings.
    pub fn new() -> App {
        App {
            entrypoint: None,
            ping: None,
            websocket: None,
            tasks: Tasks::new(),
            debug: false,
            config: ServerConfig::default(),
            on_shutdown: Mutex::new(Vec::new()),
        }
    }

    /// Sets the entrypoint: `POST /invocations` calls it with the parsed JSON payload (any JSON
    /// value) and answers its result as JSON. Runs on a worker thread; may block.
    pub fn entrypoint(
        &mut self,
        f: impl Fn(Value, &RequestContext) -> Result<Value, Error> + Send + Sync + 'static,
    ) -> &mut App {
        self.entrypoint = Some(Arc::new(move |payload, ctx| f(payload, ctx).map(Output::Json)));
        self
    }

    /// Sets a streaming entrypoint: every invocation is answered as Server-Sent Events, one
    /// event per `sink.send`.
    pub fn streaming_entrypoint(
        &mut self,
        f: impl Fn(Value, &RequestContext, &mut EventSink<'_>) -> Result<(), Error> + Send + Sync + 'static,
    ) -> &mut App {
        let f = Arc::new(f);
        self.entrypoint = Some(Arc::new(move |payload, ctx| {
            let f = Arc::clone(&f);
            let ctx = ctx.clone();
            Ok(Output::stream(move |sink| f(payload, &ctx, sink)))
        }));
        self
    }

    /// Sets an entrypoint that decides per request what to answer: JSON, a raw response or a
    /// stream (what the Python SDK decides from the return type).
    pub fn entrypoint_with(
        &mut self,
        f: impl Fn(Value, &RequestContext) -> Result<Output, Error> + Send + Sync + 'static,
    ) -> &mut App {
        self.entrypoint = Some(Arc::new(f));
        self
    }

    /// Sets a custom ping handler. It runs on the connection's coroutine for every `/ping`, so
    /// it must be quick and must not block. An `Err` (or a panic) falls back to the automatic
    /// status, as in the SDK.
    pub fn ping(&mut self, f: impl Fn() -> Result<PingStatus, Error> + Send + Sync + 'static) -> &mut App {
        self.ping = Some(Arc::new(f));
        self
    }

    /// Sets the `/ws` handler. Without one, upgrades are refused with 403 as in the SDK.
    pub fn websocket(
        &mut self,
        f: impl Fn(&mut WebSocket<'_>, &RequestContext) -> Result<(), Error> + Send + Sync + 'static,
    ) -> &mut App {
        self.websocket = Some(Arc::new(f));
        self
    }

    /// Enables the SDK's debug actions (`{"_agent_core_app_action": ...}` payloads).
    pub fn debug(&mut self, enabled: bool) -> &mut App {
        self.debug = enabled;
        self
    }

    /// Replaces the server settings (limits, timeouts, worker threads).
    pub fn config(&mut self, config: ServerConfig) -> &mut App {
        self.config = config;
        self
    }

    /// Runs `f` once when the server shuts down (after in-flight requests drained), e.g. to
    /// stop child processes.
    pub fn on_shutdown(&mut self, f: impl FnOnce() + Send + 'static) -> &mut App {
        if let Ok(mut hooks) = self.on_shutdown.lock() {
            hooks.push(Box::new(f));
        }
        self
    }

    /// The async-task tracker (clone it into handlers).
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// The server settings.
    pub fn server_config(&self) -> &ServerConfig {
        &self.config
    }

    /// True when a websocket handler is set.
    pub fn has_websocket(&self) -> bool {
        self.websocket.is_some()
    }

    /// Evaluates `/ping`: forced status, else the custom handler, else automatic; with
    /// `time_of_last_update`.
    pub fn ping_status(&self) -> (PingStatus, u64) {
        match &self.ping {
            None => self.tasks.evaluate(None),
            Some(handler) => {
                let custom = || match catch_unwind(AssertUnwindSafe(|| handler())) {
                    Ok(Ok(status)) => Some(status),
                    Ok(Err(e)) => {
                        crate::logging::warn("Custom ping handler failed, falling back to automatic")
                            .str("error", e.message())
                            .emit();
                        None
                    }
                    Err(_) => {
                        crate::logging::warn("Custom ping handler panicked, falling back to automatic")
                            .emit();
                        None
                    }
                };
                self.tasks.evaluate(Some(&custom))
            }
        }
    }

    /// The `/ping` body: `{"status":"Healthy","time_of_last_update":1795563048}`.
    pub fn ping_body(&self) -> String {
        let mut body = Vec::with_capacity(64);
        self.write_ping_body(&mut body);
        String::from_utf8_lossy(&body).into_owned()
    }

    /// Appends the `/ping` body to `out`.
    pub fn write_ping_body(&self, out: &mut Vec<u8>) {
        let (status, at) = self.ping_status();
        write_ping_json(out, status, at);
    }

    /// Handles one `POST /invocations` body as the SDK does: parse the JSON (400 `Invalid JSON`
    /// / `Invalid encoding` with Python's details), debug actions when enabled, then the
    /// entrypoint (500 `No entrypoint defined` without one). A handler panic becomes a 500.
    /// Blocking: call it on a worker thread.
    pub fn invoke(&self, body: &[u8], ctx: &RequestContext) -> Result<Output, Error> {
        let payload = pyjson::parse_body(body, self.config.max_json_depth).map_err(body_error)?;
        if self.debug
            && let Some(response) = self.debug_action(&payload)?
        {
            return Ok(Output::Response(response));
        }
        let Some(entrypoint) = &self.entrypoint else {
            return Err(Error::new("No entrypoint defined"));
        };
        match catch_unwind(AssertUnwindSafe(|| entrypoint(payload, ctx))) {
            Ok(result) => result,
            Err(panic) => {
                let what = panic_message(&panic);
                crate::logging::error("Handler panicked")
                    .str("requestId", &ctx.request_id)
                    .opt_str("sessionId", ctx.session_id.as_deref())
                    .str("panic", &what)
                    .emit();
                Err(Error::new(format!("internal error: handler panicked: {what}")).with_type("Panic"))
            }
        }
    }

    /// Runs the websocket handler for an accepted connection. Blocking: call it on a worker
    /// thread. `Err` means "close with 1011".
    pub fn handle_websocket(&self, ws: &mut WebSocket<'_>, ctx: &RequestContext) -> Result<(), Error> {
        let Some(handler) = &self.websocket else {
            return Err(Error::new("No websocket handler defined"));
        };
        match catch_unwind(AssertUnwindSafe(|| handler(ws, ctx))) {
            Ok(result) => result,
            Err(panic) => Err(Error::new(format!(
                "websocket handler panicked: {}",
                panic_message(&panic)
            ))),
        }
    }

    /// Runs the shutdown hooks (once).
    pub fn run_shutdown_hooks(&self) {
        let hooks = match self.on_shutdown.lock() {
            Ok(mut hooks) => std::mem::take(&mut *hooks),
            Err(_) => return,
        };
        for hook in hooks {
            let _ = catch_unwind(AssertUnwindSafe(hook));
        }
    }

    fn debug_action(&self, payload: &Value) -> Result<Option<Response>, Error> {
        let Value::Object(map) = payload else {
            // The SDK calls payload.get(...) and fails the same way on a non-object.
            let kind = match payload {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::Bool(_) => "bool",
                _ => "NoneType",
            };
            return Err(Error::new(format!("'{kind}' object has no attribute 'get'")));
        };
        let action = match map.get("_agent_core_app_action") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
            Some(Value::String(s)) if s.is_empty() => return Ok(None),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Ok(Some(Response::json(
                    400,
                    &json!({"error": format!("Unknown action: {other}")}),
                )));
            }
        };
        let body = match action {
            "ping_status" => {
                let (status, at) = self.ping_status();
                json!({"status": status.as_str(), "time_of_last_update": at})
            }
            "job_status" => self.tasks.info(),
            "force_healthy" => {
                self.tasks.force_ping_status(PingStatus::Healthy);
                json!({"forced_status": "Healthy"})
            }
            "force_busy" => {
                self.tasks.force_ping_status(PingStatus::HealthyBusy);
                json!({"forced_status": "HealthyBusy"})
            }
            "clear_forced_status" => {
                self.tasks.clear_forced_ping_status();
                json!({"forced_status": "Cleared"})
            }
            other => {
                return Ok(Some(Response::json(
                    400,
                    &json!({"error": format!("Unknown action: {other}")}),
                )));
            }
        };
        Ok(Some(Response::json(200, &body)))
    }
}

/// The `/ping` body for a status: `{"status":"Healthy","time_of_last_update":1795563048}`.
pub fn write_ping_json(out: &mut Vec<u8>, status: PingStatus, at: u64) {
    out.extend_from_slice(b"{\"status\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time_of_last_update\":");
    crate::pyjson::write_u64(out, at);
    out.push(b'}');
}

fn body_error(e: BodyError) -> Error {
    match e {
        BodyError::InvalidJson { details } => Error::bad_request("Invalid JSON").with_details(details),
        BodyError::InvalidEncoding { details } => {
            Error::bad_request("Invalid encoding").with_details(details)
        }
        BodyError::TooDeep { max_depth } => Error::bad_request("Invalid JSON")
            .with_details(format!("nesting deeper than {max_depth} levels (MAX_JSON_DEPTH)")),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}
