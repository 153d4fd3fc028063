//! The contract users program against: the Rust counterpart of the SDK's `BedrockAgentCoreApp`.
//!
//! An [`App`] holds the handlers (entrypoint, ping, websocket), the async-task tracker and the
//! server settings. It knows nothing about sockets: [`App::bind`] / [`App::run`] are implemented
//! by the wire layer (`src/http`), which owns the sockets and calls back into [`App::invoke`],
//! [`App::ping_status`] and [`App::handle_websocket`].
//!
//! ```no_run
//! use agentcore_rt::{App, Error, RequestContext};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Ask { prompt: String }
//!
//! #[derive(Serialize)]
//! struct Answer { echo: String, session: Option<String> }
//!
//! fn handler(ask: Ask, ctx: &RequestContext) -> Result<Answer, Error> {
//!     if ask.prompt.is_empty() {
//!         return Err(Error::bad_request("empty prompt"));
//!     }
//!     Ok(Answer { echo: ask.prompt, session: ctx.session_id.clone() })
//! }
//!
//! let mut app = App::new();
//! app.entrypoint(handler);
//! app.run("0.0.0.0:8080")?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub mod agent_entrypoint;
pub mod agent_errors;
mod context;
mod debug;
mod entrypoint;
mod events;
mod output;
pub mod server_span;
mod tasks;
mod websocket;

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

pub use context::{REQUEST_ID_HEADER, RequestContext, SESSION_HEADER};
pub use events::{Disconnected, EventSink, EventTransport};
pub use output::{IntoOutput, Output, Response, StreamFn};
pub use tasks::{PingStatus, TaskGuard, Tasks};
pub use websocket::{WebSocket, WsError, WsEvents, WsMessage, WsTransport};

use crate::config::{Protocol, ServerConfig};
use crate::error::Error;
use crate::telemetry::Tracer;
use entrypoint::EntrypointFn;

type PingFn = dyn Fn() -> Result<PingStatus, Error> + Send + Sync;
type WebSocketFn = dyn Fn(&mut WebSocket<'_>, &RequestContext) -> Result<(), Error> + Send + Sync;
type ShutdownFn = Box<dyn FnOnce() + Send>;

/// An AgentCore runtime application: handlers plus settings. Build it, then `run` or `bind` it.
///
/// Every setter returns `&mut App`, so calls chain:
///
/// ```
/// use agentcore_rt::{App, Error};
/// use agentcore_rt::app::PingStatus;
/// use serde_json::Value;
///
/// let mut app = App::new();
/// app.entrypoint(|payload: Value, _ctx| Ok::<_, Error>(payload))
///     .ping(|| Ok(PingStatus::Healthy))
///     .debug(false);
/// ```
pub struct App {
    entrypoint: Option<Arc<EntrypointFn>>,
    ping: Option<Arc<PingFn>>,
    websocket: Option<Arc<WebSocketFn>>,
    /// The server of the protocol [`ServerConfig::protocol`] names, when it is not the HTTP
    /// contract: an MCP or A2A server, mounted by the protocol's own module
    /// (`App::mcp`, `App::a2a`). Typed there: the contract knows no protocol above it.
    mounted: Option<Arc<dyn Any + Send + Sync>>,
    tasks: Tasks,
    debug: bool,
    config: ServerConfig,
    on_shutdown: Mutex<Vec<ShutdownFn>>,
    tracer: Tracer,
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
            mounted: None,
            tasks: Tasks::new(),
            debug: false,
            config: ServerConfig::default(),
            on_shutdown: Mutex::new(Vec::new()),
            tracer: Tracer::disabled(),
        }
    }

    /// Sets the entrypoint (Python: `@app.entrypoint`): `POST /invocations` calls `f` with the
    /// payload and the [`RequestContext`]. It runs on a worker thread and may block. Setting it
    /// again replaces it.
    ///
    /// - The payload `P` is any [`serde::Deserialize`] type. `serde_json::Value` takes every
    ///   JSON body as it is; for another type, a body that does not fit is a 400
    ///   `{"error":"Invalid payload","details":"<serde's message>"}` (e.g.
    ///   `"missing field `prompt`"`) and `f` is not called. A body that is not JSON at all is
    ///   the SDK's 400 `Invalid JSON` / `Invalid encoding`, whatever `P` is.
    /// - The result `O` is any [`IntoOutput`]: a [`Serialize`](serde::Serialize) type (JSON,
    ///   written as Python's `json.dumps`), a [`Response`], or an [`Output`] such as
    ///   [`Output::stream`] for Server-Sent Events.
    /// - The error `E` is anything that converts into [`Error`], so `?` works on I/O, serde,
    ///   websocket and agent errors; its status and body are the response.
    ///
    /// A closure must name its error type, which nothing else in it pins down: write
    /// `Ok::<_, Error>(..)` or `-> Result<_, Error>`.
    ///
    /// ```
    /// use agentcore_rt::{App, Error};
    /// use agentcore_rt::app::Output;
    /// use serde::Deserialize;
    /// use serde_json::{Value, json};
    ///
    /// #[derive(Deserialize)]
    /// struct Ask { prompt: String, #[serde(default)] stream: bool }
    ///
    /// let mut app = App::new();
    /// // Typed payload, JSON result, or a stream decided per request:
    /// app.entrypoint(|ask: Ask, _ctx| -> Result<Output, Error> {
    ///     if ask.stream {
    ///         return Ok(Output::stream(move |sink| {
    ///             for word in ask.prompt.split(' ') {
    ///                 sink.send(word)?; // one SSE event each
    ///             }
    ///             Ok(())
    ///         }));
    ///     }
    ///     Ok(json!({"echo": ask.prompt}).into())
    /// });
    /// // Or any JSON payload, as the SDK hands it over:
    /// app.entrypoint(|payload: Value, ctx| Ok::<_, Error>(json!({"got": payload, "session": ctx.session_id})));
    /// ```
    pub fn entrypoint<P, O, E, F>(&mut self, f: F) -> &mut App
    where
        P: DeserializeOwned + 'static,
        O: IntoOutput,
        E: Into<Error>,
        F: Fn(P, &RequestContext) -> Result<O, E> + Send + Sync + 'static,
    {
        self.entrypoint = Some(entrypoint::erase(f));
        self
    }

    /// Sets a custom ping handler (Python: `@app.ping`). It runs on the connection's coroutine
    /// for every `/ping`, so it must be quick and must not block. An `Err` (or a panic) falls
    /// back to the automatic status, as in the SDK.
    ///
    /// ```
    /// use agentcore_rt::App;
    /// use agentcore_rt::app::PingStatus;
    ///
    /// let mut app = App::new();
    /// app.ping(|| Ok(PingStatus::HealthyBusy));
    /// assert_eq!(app.ping_status().0, PingStatus::HealthyBusy);
    /// ```
    pub fn ping(&mut self, f: impl Fn() -> Result<PingStatus, Error> + Send + Sync + 'static) -> &mut App {
        self.ping = Some(Arc::new(f));
        self
    }

    /// Sets the `/ws` handler (Python: `@app.websocket`); it runs on a worker thread for each
    /// accepted connection (see [`WebSocket`] for an example). Without one, upgrades are
    /// refused with 403 as in the SDK.
    pub fn websocket(
        &mut self,
        f: impl Fn(&mut WebSocket<'_>, &RequestContext) -> Result<(), Error> + Send + Sync + 'static,
    ) -> &mut App {
        self.websocket = Some(Arc::new(f));
        self
    }

    /// Enables the SDK's debug actions (`{"_agent_core_app_action": "ping_status"}` and the
    /// others: `job_status`, `force_healthy`, `force_busy`, `clear_forced_status`). Off by
    /// default; then such payloads reach the entrypoint like any other.
    pub fn debug(&mut self, enabled: bool) -> &mut App {
        self.debug = enabled;
        self
    }

    /// Replaces the server settings (limits, timeouts, worker threads).
    ///
    /// ```
    /// use agentcore_rt::App;
    /// use agentcore_rt::config::ServerConfig;
    ///
    /// let mut app = App::new();
    /// app.config(ServerConfig { max_json_depth: 64, ..ServerConfig::default() });
    /// assert_eq!(app.server_config().max_json_depth, 64);
    /// ```
    pub fn config(&mut self, config: ServerConfig) -> &mut App {
        self.config = config;
        self
    }

    /// Chooses the container protocol [`App::bind`] serves (the same as setting
    /// [`ServerConfig::protocol`]); the HTTP contract by default. See [`crate::protocols`].
    ///
    /// ```
    /// use agentcore_rt::App;
    /// use agentcore_rt::config::Protocol;
    ///
    /// let mut app = App::new();
    /// app.protocol(Protocol::Mcp);
    /// assert_eq!(app.server_config().protocol, Protocol::Mcp);
    /// ```
    pub fn protocol(&mut self, protocol: Protocol) -> &mut App {
        self.config.protocol = protocol;
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

    /// The async-task tracker: clone it into handlers, and `/ping` says `HealthyBusy` while a
    /// tracked task runs (Python: `@app.async_task`).
    ///
    /// ```
    /// use agentcore_rt::{App, Error};
    /// use serde_json::{Value, json};
    ///
    /// let mut app = App::new();
    /// let tasks = app.tasks();
    /// app.entrypoint(move |_: Value, _ctx| {
    ///     let busy = tasks.guard("report");
    ///     std::thread::spawn(move || {
    ///         let _busy = busy; // HealthyBusy until this thread ends
    ///     });
    ///     Ok::<_, Error>(json!({"started": true}))
    /// });
    /// ```
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
    /// / `Invalid encoding` with Python's details, nesting limited to
    /// [`ServerConfig::max_json_depth`]), debug actions when enabled, then the entrypoint (500
    /// `No entrypoint defined` without one). A handler panic becomes a 500.
    /// Blocking: call it on a worker thread.
    ///
    /// ```
    /// use agentcore_rt::{App, Error, RequestContext};
    /// use agentcore_rt::app::Output;
    /// use serde_json::{Value, json};
    ///
    /// let mut app = App::new();
    /// app.entrypoint(|p: Value, _ctx| Ok::<_, Error>(p));
    /// let ctx = RequestContext::default();
    /// assert!(matches!(app.invoke(br#"{"a": 1}"#, &ctx), Ok(Output::Json(v)) if v == json!({"a": 1})));
    /// assert_eq!(app.invoke(b"{", &ctx).unwrap_err().message(), "Invalid JSON");
    /// ```
    pub fn invoke(&self, body: &[u8], ctx: &RequestContext) -> Result<Output, Error> {
        if !self.tracer.is_enabled() {
            return self.invoke_untraced(body, ctx);
        }
        let span = server_span::start(&self.tracer, ctx, "POST", "/invocations");
        let traced = server_span::traced(ctx, &span);
        let output = self.invoke_untraced(body, &traced);
        // The handler has recorded its session by now, streams included (before they start).
        let mut span = span;
        server_span::set_recorded_session(&mut span, &traced);
        server_span::end_with(span, output)
    }

    /// Sets the tracer of the server spans (`POST /invocations` and, through the agent
    /// entrypoint, each `/ws` message). Default: disabled.
    pub fn tracer(&mut self, tracer: Tracer) -> &mut App {
        self.tracer = tracer;
        self
    }

    /// The tracer [`App::tracer`] set.
    pub fn tracing(&self) -> &Tracer {
        &self.tracer
    }

    fn invoke_untraced(&self, body: &[u8], ctx: &RequestContext) -> Result<Output, Error> {
        let payload = crate::pyjson::parse_body(body, self.config.max_json_depth)?;
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

    /// Serves `server` as `protocol`'s handler (what `App::mcp` and `App::a2a` do).
    pub(crate) fn mount<T: Any + Send + Sync>(&mut self, protocol: Protocol, server: T) {
        self.config.protocol = protocol;
        self.mounted = Some(Arc::new(server));
    }

    /// The server mounted for the app's protocol, if it is a `T`.
    pub(crate) fn mounted<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(self.mounted.as_ref()?).downcast::<T>().ok()
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
}

/// The `/ping` body for a status: `{"status":"Healthy","time_of_last_update":1795563048}`.
///
/// ```
/// use agentcore_rt::app::{PingStatus, write_ping_json};
///
/// let mut out = Vec::new();
/// write_ping_json(&mut out, PingStatus::HealthyBusy, 7);
/// assert_eq!(out, br#"{"status":"HealthyBusy","time_of_last_update":7}"#);
/// ```
pub fn write_ping_json(out: &mut Vec<u8>, status: PingStatus, at: u64) {
    out.extend_from_slice(b"{\"status\":\"");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time_of_last_update\":");
    crate::pyjson::write_u64(out, at);
    out.push(b'}');
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
