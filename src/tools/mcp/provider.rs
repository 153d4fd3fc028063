//! [`McpToolProvider`]: which server instance serves whom, and for how long.
//!
//! A *slot* is one place an instance lives: the one shared slot of a `shared` server, one slot
//! per (session, server) for `per-session`, one per invocation for `per-request`. A slot starts
//! its instance on first use, restarts it when it died (a crash mid-call fails that call with
//! `Connection closed`; the next use gets a fresh process), and is retired when its session
//! idles out, its invocation ends, or the provider shuts down. A `per-session` server has at
//! most `max_instances` slots: a new session's slot takes the place of the least recently used
//! slot of a session with no running invocation (stopped before the new one starts); when all
//! are busy, the new one starts over the bound, logged, and the excess goes when invocations end. Tools hold their slot, so a
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

/// Threads that stop servers at once. Every stop may wait out the grace periods (stdin closed,
/// then SIGTERM, then SIGKILL: up to ~6 s for a server that ignores both), so stopping in
/// batches makes shutdown grow with the instance count (186 instances took 14.5 s, past the
/// 10-s drain time); one thread per instance keeps it at one grace sequence. A running stdio
/// instance already has three threads of its own, so this adds little.
const PARALLEL_STOPS: usize = 1024;

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
                    for slot in &idle {
                        log(
                            Level::Info,
                            slot.name(),
                            "idle timeout: stopping the session's server",
                        );
                    }
                    stop_in_parallel(idle, |slot| slot.retire());
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
                if let Some(slot) = state.sessions.get(session_id).and_then(|e| e.slots.get(&index)) {
                    return Ok(slot.clone());
                }
                // Make room first, so that at most `max_instances` processes run.
                let max = server.config.max_instances;
                let evicted = take_excess(&mut state, index, max.saturating_sub(1));
                let slot = Slot::new(server.clone(), None);
                state
                    .sessions
                    .entry(session_id.to_string())
                    .or_default()
                    .slots
                    .insert(index, slot.clone());
                let live = live_instances(&state, index);
                drop(state);
                log_evictions(server, &evicted, live, Some(session_id));
                if live > max {
                    log(
                        Level::Warn,
                        &server.config.name,
                        &format!(
                            "max_instances {max} reached and every instance is in use by a running invocation: \
                             starting one for session {session_id} over the bound ({live} live); \
                             the excess is stopped when invocations end"
                        ),
                    );
                }
                stop_in_parallel(evicted, |(_, slot)| slot.retire());
                slot
            }
        };
        Ok(slot)
    }
}

fn stopped_error() -> ToolError {
    ToolError::new("mcp", "the MCP tool provider has been shut down")
}

/// Per-session instances of server `index` (started or about to start).
fn live_instances(state: &State, index: usize) -> usize {
    state
        .sessions
        .values()
        .filter(|e| e.slots.contains_key(&index))
        .count()
}

/// Removes and returns (with their session ids) the per-session slots of server `index` beyond
/// `keep`, least recently used first, taken only from sessions with no running invocation.
fn take_excess(state: &mut State, index: usize, keep: usize) -> Vec<(String, Arc<Slot>)> {
    let live = live_instances(state, index);
    if live <= keep {
        return Vec::new();
    }
    let mut idle: Vec<(Duration, String)> = state
        .sessions
        .iter()
        .filter(|(_, e)| e.active == 0)
        .filter_map(|(id, e)| Some((e.slots.get(&index)?.idle_for(), id.clone())))
        .collect();
    // Longest idle first.
    idle.sort_by_key(|(idle_for, _)| std::cmp::Reverse(*idle_for));
    let mut taken = Vec::new();
    for (_, id) in idle.into_iter().take(live - keep) {
        let Some(entry) = state.sessions.get_mut(&id) else {
            continue;
        };
        let Some(slot) = entry.slots.remove(&index) else {
            continue;
        };
        if entry.slots.is_empty() && entry.active == 0 {
            state.sessions.remove(&id);
        }
        taken.push((id, slot));
    }
    taken
}

fn log_evictions(
    server: &ServerDef,
    evicted: &[(String, Arc<Slot>)],
    live: usize,
    for_session: Option<&str>,
) {
    let max = server.config.max_instances;
    let why = for_session.map_or_else(
        || "to get back under the bound".to_string(),
        |s| format!("to make room for session {s}"),
    );
    for (session, slot) in evicted {
        log(
            Level::Info,
            &server.config.name,
            &format!(
                "max_instances {max} reached: stopping the instance of session {session} \
                 (least recently used, idle {:.1} s) {why}; {live} live after this",
                slot.idle_for().as_secs_f64()
            ),
        );
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

/// Runs `stop` on every item, up to [`PARALLEL_STOPS`] at once; each thread takes the next item
/// as soon as it is done (no batches that wait for their slowest member).
fn stop_in_parallel<T: Send>(items: Vec<T>, stop: impl Fn(T) + Sync) {
    match items.len() {
        0 => return,
        1 => return items.into_iter().for_each(stop),
        _ => {}
    }
    let threads = items.len().min(PARALLEL_STOPS);
    let queue = Mutex::new(items.into_iter());
    thread::scope(|scope| {
        for _ in 0..threads {
            let (queue, stop) = (&queue, &stop);
            let worker = move || {
                loop {
                    // Its own statement: a guard in a `while let` head lives through the body.
                    let next = lock(queue).next();
                    let Some(item) = next else { break };
                    stop(item);
                }
            };
            if thread::Builder::new().spawn_scoped(scope, worker).is_err() {
                // Out of threads: the ones already running (or this one) drain the queue.
                break;
            }
        }
    });
    // If no thread could start at all, stop what is left here.
    let rest: Vec<T> = lock(&queue).by_ref().collect();
    rest.into_iter().for_each(stop);
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
        let mut excess = Vec::new();
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
            // Instances started over the bound while all were busy go as soon as some are idle.
            for (index, server) in self.inner.servers.iter().enumerate() {
                if server.config.lifecycle == Lifecycle::PerSession {
                    let taken = take_excess(&mut state, index, server.config.max_instances);
                    if !taken.is_empty() {
                        excess.push((server.clone(), taken, live_instances(&state, index)));
                    }
                }
            }
            state.per_request.remove(session_id).unwrap_or_default()
        };
        let mut slots = finished;
        for (server, taken, live) in excess {
            log_evictions(&server, &taken, live, None);
            slots.extend(taken.into_iter().map(|(_, slot)| slot));
        }
        stop_in_parallel(slots, |slot| slot.retire());
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
