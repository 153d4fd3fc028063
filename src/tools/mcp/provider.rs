//! [`McpToolProvider`]: which server instance serves whom, and for how long.
//!
//! A *slot* is one place an instance lives: the one shared slot of a `shared` server, one slot
//! per (session, server) for `per-session`, one per invocation for `per-request`. A slot starts
//! its instance on first use, restarts it when it died (a crash mid-call fails that call with
//! `Connection closed`; the next use gets a fresh process), and is retired when its session
//! idles out, its invocation ends, or the provider shuts down. Tools hold their slot, so a
//! tool's calls always reach the instance of the session the tool was handed to.
//!
//! At start-up every enabled server is probed once, in parallel (start, initialize, tools/list),
//! so configuration mistakes (a server that cannot start, two tools with the same name) stop
//! the runtime before it serves. The probed instances are not wasted: a `shared` one serves
//! everyone, a `per-session`/`per-request` one is handed to the first slot that needs one.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::{McpClient, McpError};
use super::config::{Lifecycle, McpConfig, McpServerConfig};
use super::content;
use super::{Level, log};
use crate::sync::lock;
use crate::tools::{Tool, ToolContext, ToolError, ToolProvider, ToolSpec};
use crate::types::{ToolResult, ToolUse};

/// Stop at most this many servers at once at shutdown (each may take a few seconds to exit).
const PARALLEL_STOPS: usize = 32;

/// Why [`McpToolProvider::start`] refused to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpStartError {
    /// A server without `continue_on_error` failed its start-up probe (start, initialize,
    /// tools/list within `startup_timeout`).
    ServerFailed {
        /// The server's name.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// Two tools would reach the model with the same name (after prefixes and filters; `-` and
    /// `_` count as equal, as in Strands).
    DuplicateTool {
        /// The colliding name (the second one seen).
        tool: String,
        /// The server that offered it first.
        first_server: String,
        /// The server that offered it again.
        second_server: String,
    },
}

impl fmt::Display for McpStartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpStartError::ServerFailed { server, message } => {
                write!(f, "MCP server '{server}' failed to start: {message}")
            }
            McpStartError::DuplicateTool {
                tool,
                first_server,
                second_server,
            } if first_server == second_server => {
                write!(
                    f,
                    "duplicate tool name '{tool}': MCP server '{first_server}' offers it twice"
                )
            }
            McpStartError::DuplicateTool {
                tool,
                first_server,
                second_server,
            } => write!(
                f,
                "duplicate tool name '{tool}': offered by MCP servers '{first_server}' and '{second_server}' \
                 (set `prefix` or `tool_filters` on one of them)"
            ),
        }
    }
}

impl std::error::Error for McpStartError {}

/// A tool as one instance lists it, with the spec the model sees.
struct ToolDef {
    mcp_name: String,
    spec: ToolSpec,
}

/// A started, initialized server connection and its cached tool list.
struct Instance {
    client: McpClient,
    tools: Mutex<Option<Arc<Vec<Arc<ToolDef>>>>>,
}

impl Instance {
    /// Starts the server and lists its tools, all within `startup_timeout`.
    fn start(config: &McpServerConfig) -> Result<Instance, McpError> {
        let deadline = Instant::now() + config.startup_timeout;
        let client = McpClient::connect(config, deadline)?;
        let instance = Instance {
            client,
            tools: Mutex::new(None),
        };
        // Discard a list_changed sent during start-up (server-everything sends one at once):
        // the list we are about to fetch is newer.
        instance.client.take_tools_changed();
        if let Err(e) = instance.list(config, deadline.saturating_duration_since(Instant::now())) {
            instance.client.close();
            return Err(e);
        }
        Ok(instance)
    }

    /// The tool list, re-fetched after a `tools/list_changed`.
    fn tools(&self, config: &McpServerConfig) -> Result<Arc<Vec<Arc<ToolDef>>>, McpError> {
        let changed = self.client.take_tools_changed();
        if let Some(tools) = lock(&self.tools).as_ref().filter(|_| !changed) {
            return Ok(tools.clone());
        }
        match self.list(config, config.startup_timeout) {
            Ok(tools) => Ok(tools),
            Err(e) => match lock(&self.tools).as_ref() {
                Some(old) if self.client.is_alive() => {
                    log(
                        Level::Warn,
                        &config.name,
                        &format!("re-listing tools failed ({e}); keeping the old list"),
                    );
                    Ok(old.clone())
                }
                _ => Err(e),
            },
        }
    }

    fn list(&self, config: &McpServerConfig, timeout: Duration) -> Result<Arc<Vec<Arc<ToolDef>>>, McpError> {
        let raw = self.client.list_tools(timeout)?;
        let mut defs = Vec::with_capacity(raw.len());
        for tool in raw {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                log(Level::Warn, &config.name, "ignoring a tool without a name");
                continue;
            };
            if !config.tool_filters.allows(name) {
                continue;
            }
            let description = match tool.get("description").and_then(Value::as_str) {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => format!("Tool which performs {name}"),
            };
            let input_schema = match tool.get("inputSchema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => json!({ "type": "object", "properties": {} }),
            };
            defs.push(Arc::new(ToolDef {
                mcp_name: name.to_string(),
                spec: ToolSpec {
                    name: config.tool_name(name),
                    description,
                    input_schema,
                },
            }));
        }
        let defs = Arc::new(defs);
        *lock(&self.tools) = Some(defs.clone());
        Ok(defs)
    }
}

/// One configured server and what is shared by all its slots.
struct ServerDef {
    config: McpServerConfig,
    /// The start-up probe's instance, waiting for its first `per-session`/`per-request` user.
    spare: Mutex<Option<Instance>>,
    stopping: Arc<AtomicBool>,
}

/// Where one instance lives (see the module docs).
struct Slot {
    server: Arc<ServerDef>,
    instance: Mutex<Option<Arc<Instance>>>,
    last_used: Mutex<Instant>,
    retired: AtomicBool,
}

impl Slot {
    fn new(server: Arc<ServerDef>, instance: Option<Instance>) -> Arc<Slot> {
        Arc::new(Slot {
            server,
            instance: Mutex::new(instance.map(Arc::new)),
            last_used: Mutex::new(Instant::now()),
            retired: AtomicBool::new(false),
        })
    }

    fn name(&self) -> &str {
        &self.server.config.name
    }

    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        lock(&self.last_used).elapsed()
    }

    /// The live instance, started (or restarted after a crash) when needed.
    fn instance(&self) -> Result<Arc<Instance>, McpError> {
        self.touch();
        let mut guard = lock(&self.instance);
        // Checked under the lock `retire` takes, so nothing starts in a retired slot.
        if self.retired.load(Ordering::SeqCst) || self.server.stopping.load(Ordering::SeqCst) {
            return Err(McpError::Other(format!(
                "MCP server '{}' has been stopped",
                self.name()
            )));
        }
        if let Some(instance) = guard.as_ref() {
            if instance.client.is_alive() {
                return Ok(instance.clone());
            }
            log(
                Level::Warn,
                self.name(),
                "server is gone; starting a new instance",
            );
            if let Some(dead) = guard.take() {
                dead.client.close();
            }
        }
        let instance = Arc::new(
            self.take_spare()
                .map_or_else(|| Instance::start(&self.server.config), Ok)?,
        );
        *guard = Some(instance.clone());
        Ok(instance)
    }

    fn take_spare(&self) -> Option<Instance> {
        let spare = lock(&self.server.spare).take()?;
        if spare.client.is_alive() {
            Some(spare)
        } else {
            spare.client.close();
            None
        }
    }

    /// Stops the instance for good; later uses of this slot fail.
    fn retire(&self) {
        let instance = {
            let mut guard = lock(&self.instance);
            self.retired.store(true, Ordering::SeqCst);
            guard.take()
        };
        if let Some(instance) = instance {
            instance.client.close();
        }
    }

    fn pid(&self) -> Option<u32> {
        lock(&self.instance).as_ref().and_then(|i| i.client.pid())
    }
}

/// An MCP tool handed to one session: calls go to that session's instance of its server.
struct McpTool {
    def: Arc<ToolDef>,
    slot: Arc<Slot>,
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.def.spec
    }

    fn call(&self, tool_use: &ToolUse, ctx: &ToolContext<'_>) -> ToolResult {
        let id = &tool_use.tool_use_id;
        let config = &self.slot.server.config;
        let outcome = self.slot.instance().and_then(|instance| {
            let result = instance.client.call_tool(
                &self.def.mcp_name,
                &tool_use.input,
                config.call_timeout,
                Some(ctx.cancel),
            )?;
            Ok(content::map_call_result(
                id,
                &result,
                &instance.client.server_info(),
            ))
        });
        self.slot.touch();
        match outcome {
            Ok(result) => result,
            Err(McpError::Cancelled) => {
                let mut result = content::error_result(id, McpError::Cancelled.to_string());
                result.extra.insert("cancelled".into(), Value::Bool(true));
                result
            }
            Err(e) => {
                log(
                    Level::Warn,
                    &config.name,
                    &format!("tool {} failed: {e}", self.def.mcp_name),
                );
                content::execution_failed(id, &e.to_string())
            }
        }
    }
}

#[derive(Default)]
struct SessionEntry {
    slots: HashMap<usize, Arc<Slot>>,
    /// Invocations between `tools_for` and `invocation_finished`; never reaped while > 0.
    active: usize,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, SessionEntry>,
    per_request: HashMap<String, Vec<Arc<Slot>>>,
}

struct Inner {
    servers: Vec<Arc<ServerDef>>,
    shared: Vec<Option<Arc<Slot>>>,
    state: Mutex<State>,
    wake_reaper: Condvar,
    stopping: Arc<AtomicBool>,
    reaper: Mutex<Option<JoinHandle<()>>>,
}

/// The MCP servers of the config file, as a [`ToolProvider`].
///
/// Build it once at start-up with [`McpToolProvider::start`]; call
/// [`tools_for`](ToolProvider::tools_for) at the start of every invocation,
/// [`invocation_finished`](ToolProvider::invocation_finished) when it ends (success or not), and
/// [`shutdown`](ToolProvider::shutdown) once before the runtime exits. Cheap to clone (shared).
#[derive(Clone)]
pub struct McpToolProvider {
    inner: Arc<Inner>,
}

impl fmt::Debug for McpToolProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.inner.servers.iter().map(|s| &s.config.name))
            .finish()
    }
}

impl McpToolProvider {
    /// Probes every enabled server in parallel and fails on a server that cannot start (unless
    /// it has `continue_on_error`) or on duplicate tool names. Blocks for up to the largest
    /// `startup_timeout`.
    pub fn start(config: McpConfig) -> Result<McpToolProvider, McpStartError> {
        for warning in &config.warnings {
            log(Level::Warn, "-", warning);
        }
        for name in &config.disabled {
            log(Level::Info, name, "disabled in the config; not started");
        }
        let stopping = Arc::new(AtomicBool::new(false));
        let servers: Vec<Arc<ServerDef>> = config
            .servers
            .into_iter()
            .map(|config| {
                Arc::new(ServerDef {
                    config,
                    spare: Mutex::new(None),
                    stopping: stopping.clone(),
                })
            })
            .collect();
        let probes: Vec<Result<Instance, McpError>> = thread::scope(|scope| {
            let handles: Vec<_> = servers
                .iter()
                .map(|s| scope.spawn(|| Instance::start(&s.config)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(McpError::Other("start-up probe panicked".into())))
                })
                .collect()
        });
        let mut started: Vec<Option<Instance>> = Vec::with_capacity(servers.len());
        let mut failure = None;
        for (server, probe) in servers.iter().zip(probes) {
            match probe {
                Ok(instance) => started.push(Some(instance)),
                Err(e) if server.config.continue_on_error => {
                    log(
                        Level::Warn,
                        &server.config.name,
                        &format!("failed to start ({e}); continuing without it"),
                    );
                    started.push(None);
                }
                Err(e) => {
                    failure.get_or_insert(McpStartError::ServerFailed {
                        server: server.config.name.clone(),
                        message: e.to_string(),
                    });
                    started.push(None);
                }
            }
        }
        let failure = failure.or_else(|| find_duplicate(&servers, &started));
        if let Some(error) = failure {
            close_all(started.into_iter().flatten().collect());
            return Err(error);
        }
        let mut shared = Vec::with_capacity(servers.len());
        for (server, instance) in servers.iter().zip(started) {
            if server.config.lifecycle == Lifecycle::Shared {
                shared.push(Some(Slot::new(server.clone(), instance)));
            } else {
                *lock(&server.spare) = instance;
                shared.push(None);
            }
        }
        let provider = McpToolProvider {
            inner: Arc::new(Inner {
                servers,
                shared,
                state: Mutex::new(State::default()),
                wake_reaper: Condvar::new(),
                stopping,
                reaper: Mutex::new(None),
            }),
        };
        provider.start_reaper();
        Ok(provider)
    }

    /// Process ids of the stdio servers currently running for `session_id` (`per-session` and
    /// `per-request`), by server name. For diagnostics and tests.
    pub fn session_pids(&self, session_id: &str) -> Vec<(String, u32)> {
        let slots: Vec<Arc<Slot>> = {
            let state = lock(&self.inner.state);
            let per_session = state
                .sessions
                .get(session_id)
                .into_iter()
                .flat_map(|e| e.slots.values());
            let per_request = state.per_request.get(session_id).into_iter().flatten();
            per_session.chain(per_request).cloned().collect()
        };
        // Outside the state lock: a slot's lock is held while its server starts.
        slots
            .iter()
            .filter_map(|slot| Some((slot.name().to_string(), slot.pid()?)))
            .collect()
    }

    fn start_reaper(&self) {
        let tick = self
            .inner
            .servers
            .iter()
            .filter(|s| s.config.lifecycle == Lifecycle::PerSession)
            .map(|s| s.config.idle_timeout / 4)
            .min();
        let Some(tick) = tick else { return };
        let tick = tick.clamp(Duration::from_millis(50), Duration::from_secs(30));
        let inner = Arc::downgrade(&self.inner);
        let spawned = thread::Builder::new()
            .name("mcp-idle-reaper".into())
            .spawn(move || {
                loop {
                    let Some(inner) = inner.upgrade() else { return };
                    let idle = {
                        let state = lock(&inner.state);
                        let (mut state, _) = inner
                            .wake_reaper
                            .wait_timeout(state, tick)
                            .unwrap_or_else(PoisonError::into_inner);
                        if inner.stopping.load(Ordering::SeqCst) {
                            return;
                        }
                        take_idle(&mut state)
                    };
                    for slot in idle {
                        log(
                            Level::Info,
                            slot.name(),
                            "idle timeout: stopping the session's server",
                        );
                        slot.retire();
                    }
                }
            });
        match spawned {
            Ok(handle) => *lock(&self.inner.reaper) = Some(handle),
            Err(e) => log(Level::Error, "-", &format!("cannot start the idle reaper: {e}")),
        }
    }

    fn slot_for(
        &self,
        index: usize,
        server: &Arc<ServerDef>,
        session_id: &str,
    ) -> Result<Arc<Slot>, ToolError> {
        if let Some(Some(slot)) = self.inner.shared.get(index) {
            return Ok(slot.clone());
        }
        let mut state = lock(&self.inner.state);
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(stopped_error());
        }
        let slot = match server.config.lifecycle {
            Lifecycle::PerRequest => {
                let slot = Slot::new(server.clone(), None);
                state
                    .per_request
                    .entry(session_id.to_string())
                    .or_default()
                    .push(slot.clone());
                slot
            }
            _ => {
                let entry = state.sessions.entry(session_id.to_string()).or_default();
                entry
                    .slots
                    .entry(index)
                    .or_insert_with(|| Slot::new(server.clone(), None))
                    .clone()
            }
        };
        Ok(slot)
    }
}

fn stopped_error() -> ToolError {
    ToolError {
        source: "mcp".into(),
        message: "the MCP tool provider has been shut down".into(),
    }
}

/// Removes and returns the slots of sessions with no running invocation that have idled out.
fn take_idle(state: &mut State) -> Vec<Arc<Slot>> {
    let mut idle = Vec::new();
    for entry in state.sessions.values_mut().filter(|e| e.active == 0) {
        entry.slots.retain(|_, slot| {
            let keep = slot.idle_for() < slot.server.config.idle_timeout;
            if !keep {
                idle.push(slot.clone());
            }
            keep
        });
    }
    state
        .sessions
        .retain(|_, entry| !entry.slots.is_empty() || entry.active > 0);
    idle
}

fn find_duplicate(servers: &[Arc<ServerDef>], started: &[Option<Instance>]) -> Option<McpStartError> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (server, instance) in servers.iter().zip(started) {
        let Some(tools) = instance.as_ref().and_then(|i| lock(&i.tools).clone()) else {
            continue;
        };
        for def in tools.iter() {
            let key = def.spec.name.replace('-', "_");
            if let Some(first) = seen.insert(key, &server.config.name) {
                return Some(McpStartError::DuplicateTool {
                    tool: def.spec.name.clone(),
                    first_server: first.to_string(),
                    second_server: server.config.name.clone(),
                });
            }
        }
    }
    None
}

fn close_all(instances: Vec<Instance>) {
    stop_in_parallel(instances, |instance| instance.client.close());
}

fn stop_in_parallel<T: Send>(items: Vec<T>, stop: impl Fn(T) + Sync) {
    let mut items = items;
    while !items.is_empty() {
        let batch: Vec<T> = items.drain(..items.len().min(PARALLEL_STOPS)).collect();
        thread::scope(|scope| {
            for item in batch {
                let stop = &stop;
                scope.spawn(move || stop(item));
            }
        });
    }
}

impl ToolProvider for McpToolProvider {
    fn tools_for(&self, session_id: &str) -> Result<Vec<Arc<dyn Tool>>, ToolError> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Err(stopped_error());
        }
        {
            let mut state = lock(&self.inner.state);
            state.sessions.entry(session_id.to_string()).or_default().active += 1;
        }
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        for (index, server) in self.inner.servers.iter().enumerate() {
            let config = &server.config;
            let outcome = self.slot_for(index, server, session_id).and_then(|slot| {
                let defs = slot
                    .instance()
                    .and_then(|instance| instance.tools(config))
                    .map_err(|e| ToolError {
                        source: config.name.clone(),
                        message: format!("MCP server failed: {e}"),
                    })?;
                Ok((slot, defs))
            });
            match outcome {
                Ok((slot, defs)) => {
                    for def in defs.iter() {
                        tools.push(Arc::new(McpTool {
                            def: def.clone(),
                            slot: slot.clone(),
                        }));
                    }
                }
                Err(e) if config.continue_on_error && !self.inner.stopping.load(Ordering::SeqCst) => {
                    log(
                        Level::Warn,
                        &config.name,
                        &format!("left out of this invocation: {}", e.message),
                    );
                }
                Err(e) => {
                    self.invocation_finished(session_id);
                    return Err(e);
                }
            }
        }
        Ok(tools)
    }

    fn invocation_finished(&self, session_id: &str) {
        let finished = {
            let mut state = lock(&self.inner.state);
            if let Some(entry) = state.sessions.get_mut(session_id) {
                entry.active = entry.active.saturating_sub(1);
                for slot in entry.slots.values() {
                    slot.touch();
                }
                if entry.active == 0 && entry.slots.is_empty() {
                    state.sessions.remove(session_id);
                }
            }
            state.per_request.remove(session_id).unwrap_or_default()
        };
        stop_in_parallel(finished, |slot| slot.retire());
    }

    fn shutdown(&self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.inner.wake_reaper.notify_all();
        if let Some(reaper) = lock(&self.inner.reaper).take() {
            let _ = reaper.join();
        }
        let mut slots: Vec<Arc<Slot>> = self.inner.shared.iter().flatten().cloned().collect();
        {
            let mut state = lock(&self.inner.state);
            for (_, entry) in state.sessions.drain() {
                slots.extend(entry.slots.into_values());
            }
            for (_, per_request) in state.per_request.drain() {
                slots.extend(per_request);
            }
        }
        let spares: Vec<Instance> = self
            .inner
            .servers
            .iter()
            .filter_map(|s| lock(&s.spare).take())
            .collect();
        log(
            Level::Info,
            "-",
            &format!(
                "shutting down {} MCP server instance(s)",
                slots.len() + spares.len()
            ),
        );
        stop_in_parallel(slots, |slot| slot.retire());
        close_all(spares);
    }
}

impl Drop for Inner {
    /// A provider dropped without `shutdown` still stops its servers (each connection also
    /// kills its process when dropped; this makes the exit graceful).
    fn drop(&mut self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            let slots: Vec<Arc<Slot>> = self.shared.iter().flatten().cloned().collect();
            stop_in_parallel(slots, |slot| slot.retire());
            let state = std::mem::take(&mut *lock(&self.state));
            let slots: Vec<Arc<Slot>> = state
                .sessions
                .into_values()
                .flat_map(|e| e.slots.into_values())
                .chain(state.per_request.into_values().flatten())
                .collect();
            stop_in_parallel(slots, |slot| slot.retire());
        }
    }
}
