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
use std::time::Duration;

use super::config::{Lifecycle, McpConfig};
use super::error::{McpError, McpStartError};
use super::instance::{Instance, McpTool, ServerDef, Slot};
use super::log::{Level, log};
use crate::sync::lock;
use crate::tools::{Tool, ToolError, ToolProvider};

/// Stop at most this many servers at once at shutdown (each may take a few seconds to exit).
const PARALLEL_STOPS: usize = 32;

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
                        .unwrap_or_else(|_| Err(McpError::other("start-up probe panicked")))
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
                        cause: Some(Arc::new(e)),
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
    ToolError::new("mcp", "the MCP tool provider has been shut down")
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
                    .map_err(|e| {
                        ToolError::new(config.name.clone(), format!("MCP server failed: {e}")).with_cause(e)
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
