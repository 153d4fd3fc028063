//! An A2A agent (Agent2Agent protocol 1.0, JSON-RPC binding): what AgentCore runs on `:9000`
//! for `serverProtocol: A2A`.
//!
//! The version is the one the official `a2a-sdk` Python package (1.3) speaks: methods
//! `SendMessage`, `SendStreamingMessage`, `GetTask`, `CancelTask`; protobuf JSON (camelCase
//! fields, `TASK_STATE_*` and `ROLE_*` enums, parts as `{"text": ...}`); an agent card with
//! `supportedInterfaces`. Clients of `a2a-sdk` 0.3 (Strands' `A2AAgent`) are answered too:
//! 0.3's method names (`message/send`, `message/stream`, `tasks/get`, `tasks/cancel`) run the
//! same methods and answer in 0.3's JSON ([`v03`]); an `A2A-Version` header other than 1.0 or
//! 0.3 is `VersionNotSupportedError` (-32009).
//!
//! [`A2aServer`] is the protocol: a JSON-RPC body in, an [`Output`] out (a JSON answer, or an
//! SSE stream for `SendStreamingMessage`), with the tasks it ran kept in a bounded
//! [`TaskStore`]. What answers a message is a [`Handler`]: the built-in agent
//! ([`A2aServer::for_agent`]) or any function. The wire layer mounts it on `POST /` and serves
//! the card at `/.well-known/agent-card.json` ([`App::a2a`](crate::App::a2a)).
//!
//! ```no_run
//! use agentcore_rt::App;
//! use agentcore_rt::protocols::a2a::{A2aServer, Card};
//!
//! let card = Card::new("echo", "Says back what it is told");
//! let server = A2aServer::new(card, |turn, _cancel, on_delta| {
//!     on_delta(&turn.text);
//!     Ok(turn.text.clone())
//! });
//! let mut app = App::new();
//! app.a2a(server);
//! app.run("0.0.0.0:9000")?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod methods;
pub mod rpc;
pub mod tasks;
pub mod v03;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::app::{App, Output, RequestContext, server_span};
use crate::config::Protocol;
use crate::error::Error;
use crate::telemetry::{Span, Tracer};
use crate::types::CancelToken;
pub use rpc::RpcError;
pub use tasks::TaskStore;

/// The protocol version spoken (the card's `protocolVersion`, the `A2A-Version` accepted).
pub const PROTOCOL_VERSION: &str = "1.0";

/// Where the card is served; `/.well-known/agent.json` (0.2's path) answers the same card.
pub const CARD_PATH: &str = "/.well-known/agent-card.json";

/// Most tasks kept in memory.
pub const MAX_TASKS: usize = 1000;

/// How long a finished task can still be read with `GetTask`.
pub const TASK_TTL: Duration = Duration::from_secs(3600);

/// One message for the handler to answer.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The message's text (its text parts, one per line; data parts as JSON).
    pub text: String,
    /// The session: the message's `contextId` sanitised as `/invocations` sanitises session
    /// ids, so both routes share a conversation.
    pub session_id: String,
    /// The A2A task id.
    pub task_id: String,
    /// The request's context (headers, ids).
    pub ctx: RequestContext,
}

/// Answers one message: gets the turn, a token that is set when the task is canceled (or the
/// client left), and a callback for each piece of text as it is produced; returns the whole
/// answer. Runs on a worker thread.
pub type Handler = dyn Fn(&Turn, &CancelToken, &mut dyn FnMut(&str)) -> Result<String, Error> + Send + Sync;

/// What the agent card says about the agent.
#[derive(Debug, Clone)]
pub struct Card {
    /// `name` (`A2A_AGENT_NAME`, default `agentcore-rt`).
    pub name: String,
    /// `description` (`A2A_AGENT_DESCRIPTION`).
    pub description: String,
    /// The agent's version (this crate's by default).
    pub version: String,
    /// The URL clients send JSON-RPC to (`AGENTCORE_RUNTIME_URL`); `None`: `http://<Host>/`
    /// of the request that fetched the card.
    pub url: Option<String>,
}

impl Card {
    /// A card with this name and description.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Card {
        Card {
            name: name.into(),
            description: description.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url: None,
        }
    }

    /// The card from `A2A_AGENT_NAME`, `A2A_AGENT_DESCRIPTION` and `AGENTCORE_RUNTIME_URL`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Card {
        let set = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut card = Card::new(
            set("A2A_AGENT_NAME").unwrap_or_else(|| "agentcore-rt".into()),
            set("A2A_AGENT_DESCRIPTION")
                .unwrap_or_else(|| "A conversational agent served by agentcore-rt".into()),
        );
        card.url = set("AGENTCORE_RUNTIME_URL");
        card
    }

    /// The card's JSON; `fallback_url` is used when no URL is configured.
    pub fn to_json(&self, fallback_url: &str) -> Value {
        let url = self.url.as_deref().unwrap_or(fallback_url);
        json!({
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "supportedInterfaces": [{
                "url": url,
                "protocolBinding": "JSONRPC",
                "protocolVersion": PROTOCOL_VERSION,
            }],
            // 0.3's connection fields, for clients that read those; 1.0 clients drop them.
            "url": url,
            "preferredTransport": "JSONRPC",
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"streaming": true, "pushNotifications": false},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{
                "id": "chat",
                "name": self.name,
                "description": self.description,
                "tags": ["chat"],
                "inputModes": ["text/plain"],
                "outputModes": ["text/plain"],
            }],
        })
    }
}

/// An A2A server: a card, a handler, and the tasks it ran.
pub struct A2aServer {
    card: Card,
    handler: Arc<Handler>,
    tasks: Arc<TaskStore>,
}

impl std::fmt::Debug for A2aServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("A2aServer")
            .field("card", &self.card)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl A2aServer {
    /// A server answering messages with `handler`, keeping [`MAX_TASKS`] tasks for [`TASK_TTL`].
    pub fn new(
        card: Card,
        handler: impl Fn(&Turn, &CancelToken, &mut dyn FnMut(&str)) -> Result<String, Error>
        + Send
        + Sync
        + 'static,
    ) -> A2aServer {
        A2aServer {
            card,
            handler: Arc::new(handler),
            tasks: Arc::new(TaskStore::new(MAX_TASKS, TASK_TTL)),
        }
    }

    /// Replaces the task store (other bounds).
    pub fn with_tasks(mut self, tasks: TaskStore) -> A2aServer {
        self.tasks = Arc::new(tasks);
        self
    }

    /// The card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The tasks kept.
    pub fn tasks(&self) -> &TaskStore {
        &self.tasks
    }

    /// Handles one JSON-RPC body (nesting at most `max_json_depth`). Every failure is a
    /// JSON-RPC error answer; the `Err` case does not happen today and is kept for handler
    /// errors a future method may not turn into a task. Blocking: call it on a worker thread.
    pub fn handle(&self, body: &[u8], ctx: &RequestContext, max_json_depth: usize) -> Result<Output, Error> {
        self.handle_traced(body, ctx, max_json_depth, &Tracer::disabled())
    }

    /// [`A2aServer::handle`] under the request's HTTP server span (`POST /`), made with
    /// `tracer` under the caller's trace context (headers), with the JSON-RPC attributes of the
    /// call. The handler sees the span's context in [`Turn::ctx`]'s `trace`.
    pub fn handle_traced(
        &self,
        body: &[u8],
        ctx: &RequestContext,
        max_json_depth: usize,
        tracer: &Tracer,
    ) -> Result<Output, Error> {
        let mut span = server_span::start(tracer, ctx, "POST", "/");
        let mut copy = None;
        let ctx = server_span::traced_or(ctx, &span, &mut copy);
        let output = self.answer(body, ctx, max_json_depth, &mut span);
        if let Ok(Output::Json(answer)) = &output {
            server_span::set_jsonrpc_answer(&mut span, answer);
        }
        server_span::end_with(span, output)
    }

    fn answer(
        &self,
        body: &[u8],
        ctx: &RequestContext,
        max_json_depth: usize,
        span: &mut Span,
    ) -> Result<Output, Error> {
        let body = match crate::pyjson::parse_body(body, max_json_depth) {
            Ok(body) => body,
            Err(e) => {
                let e = Error::from(e);
                let why = match e.details() {
                    Some(Value::String(d)) => format!("{}: {d}", e.message()),
                    _ => e.message().to_string(),
                };
                return Ok(Output::Json(
                    RpcError::new(rpc::PARSE_ERROR, why).answer(&Value::Null),
                ));
            }
        };
        let call = match rpc::parse_call(body) {
            Ok(call) => call,
            Err((id, e)) => return Ok(Output::Json(e.answer(&id))),
        };
        server_span::set_jsonrpc(span, &call.method, Some(&call.id));
        if let Some(version) = ctx.header("a2a-version")
            && !version_supported(version)
        {
            let e = RpcError::new(
                rpc::VERSION_NOT_SUPPORTED,
                format!("A2A version {version} is not supported (this agent speaks {PROTOCOL_VERSION})"),
            );
            return Ok(Output::Json(e.answer(&call.id)));
        }
        Ok(methods::dispatch(self, call, ctx))
    }
}

/// Bodies larger than this are never control calls worth answering off the pool.
const CONTROL_BODY_MAX: usize = 16 * 1024;

impl A2aServer {
    /// Answers `GetTask` / `CancelTask` (and 0.3's `tasks/get` / `tasks/cancel`) right away, or
    /// `None` for every other call. They only read the task store or flip a cancel token, so
    /// the wire runs them on the connection's coroutine: a cancel must not queue on the worker
    /// pool behind the very task it cancels, nor meet `MAX_CONCURRENT_INVOCATIONS`.
    pub fn handle_control(
        &self,
        body: &[u8],
        ctx: &RequestContext,
        max_json_depth: usize,
    ) -> Option<Result<Output, Error>> {
        self.handle_control_traced(body, ctx, max_json_depth, &Tracer::disabled())
    }

    /// [`A2aServer::handle_control`] with the server span of [`A2aServer::handle_traced`].
    pub fn handle_control_traced(
        &self,
        body: &[u8],
        ctx: &RequestContext,
        max_json_depth: usize,
        tracer: &Tracer,
    ) -> Option<Result<Output, Error>> {
        if body.len() > CONTROL_BODY_MAX {
            return None;
        }
        let value = crate::pyjson::parse_body(body, max_json_depth).ok()?;
        let method = value.get("method")?.as_str()?;
        let method = v03::method(method).unwrap_or(method);
        if !matches!(method, "GetTask" | "CancelTask") {
            return None;
        }
        Some(self.handle_traced(body, ctx, max_json_depth, tracer))
    }
}

/// `1.0` and `0.3` (and an empty header, which clients that do not negotiate send).
fn version_supported(version: &str) -> bool {
    matches!(version.trim(), "" | "1" | "1.0" | "1.0.0" | "0.3" | "0.3.0")
}

impl App {
    /// Serves `server` as this app's protocol: sets [`Protocol::A2a`] and mounts it, so that
    /// [`App::bind`] answers JSON-RPC on `POST /`, the card on
    /// `/.well-known/agent-card.json`, and `/ping`.
    pub fn a2a(&mut self, server: A2aServer) -> &mut App {
        self.mount(Protocol::A2a, server);
        self
    }

    /// The A2A server mounted with [`App::a2a`], if any.
    pub fn a2a_server(&self) -> Option<Arc<A2aServer>> {
        self.mounted::<A2aServer>()
    }
}

#[cfg(test)]
mod tests;
