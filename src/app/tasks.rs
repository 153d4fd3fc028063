//! Async-task tracking and the `/ping` status it drives (spec §d).
//!
//! Only tracked tasks make the runtime `HealthyBusy`; an in-flight invocation does not (that is
//! what the Python SDK does, and AgentCore relies on it to reap idle sessions). The timestamp
//! `time_of_last_update` changes only when an evaluated status differs from the previous
//! evaluation, and it must always be present (SDK issue #471).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::sync::lock;
use serde_json::{Value, json};

/// The health status `/ping` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingStatus {
    /// Ready for work; the session may be reaped when idle.
    Healthy,
    /// Busy with background work; keeps the session alive.
    HealthyBusy,
}

impl PingStatus {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            PingStatus::Healthy => "Healthy",
            PingStatus::HealthyBusy => "HealthyBusy",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<PingStatus> {
        match s {
            "Healthy" => Some(PingStatus::Healthy),
            "HealthyBusy" => Some(PingStatus::HealthyBusy),
            _ => None,
        }
    }
}

struct TaskInfo {
    name: String,
    started: Instant,
    #[allow(dead_code)] // kept like the SDK keeps it: visible to debuggers, not on the wire
    metadata: Option<Value>,
}

struct PingState {
    last_status: Option<PingStatus>,
    last_update_unix: f64,
}

struct Inner {
    tasks: Mutex<HashMap<i64, TaskInfo>>,
    active: AtomicUsize,
    /// A forced status (`encode_status`).
    forced: AtomicU8,
    /// The last evaluated status (top 2 bits, `encode_status`) and its `time_of_last_update`
    /// (the rest): read without locking on every /ping; `ping` serialises changes.
    seen: AtomicU64,
    ping: Mutex<PingState>,
}

/// Tracks background work for `/ping`. Cheap to clone; clones share state. Capture a clone
/// ([`App::tasks`](super::App::tasks)) in your handlers:
///
/// ```
/// use agentcore_rt::app::{PingStatus, Tasks};
///
/// let tasks = Tasks::new();
/// let busy = tasks.guard("index"); // or add_async_task / complete_async_task
/// assert_eq!(tasks.evaluate(None).0, PingStatus::HealthyBusy);
/// drop(busy);
/// assert_eq!(tasks.evaluate(None).0, PingStatus::Healthy);
/// ```
#[derive(Clone)]
pub struct Tasks(Arc<Inner>);

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new()
    }
}

impl Tasks {
    /// A tracker with no tasks; `time_of_last_update` starts at construction time, as the SDK's.
    pub fn new() -> Tasks {
        Tasks(Arc::new(Inner {
            tasks: Mutex::new(HashMap::new()),
            active: AtomicUsize::new(0),
            forced: AtomicU8::new(encode_status(None)),
            seen: AtomicU64::new(0),
            ping: Mutex::new(PingState {
                last_status: None,
                last_update_unix: unix_now_f64(),
            }),
        }))
    }

    /// Registers a running task (`HealthyBusy` until completed); returns its id (a random
    /// signed 64-bit number, like the SDK's `hash(str(uuid4()))`).
    pub fn add_async_task(&self, name: &str, metadata: Option<Value>) -> i64 {
        let mut tasks = lock(&self.0.tasks);
        let mut id = random_i64();
        while tasks.contains_key(&id) {
            id = random_i64();
        }
        tasks.insert(
            id,
            TaskInfo {
                name: name.to_string(),
                started: Instant::now(),
                metadata,
            },
        );
        self.0.active.store(tasks.len(), Ordering::Release);
        drop(tasks);
        crate::logging::info("Async task started")
            .str("task", name)
            .num("taskId", id)
            .emit();
        id
    }

    /// Completes a task; `false` (and a warning) for an unknown id.
    pub fn complete_async_task(&self, id: i64) -> bool {
        let mut tasks = lock(&self.0.tasks);
        let removed = tasks.remove(&id);
        self.0.active.store(tasks.len(), Ordering::Release);
        drop(tasks);
        match removed {
            Some(info) => {
                crate::logging::info("Async task completed")
                    .str("task", &info.name)
                    .num("taskId", id)
                    .float("durationS", info.started.elapsed().as_secs_f64())
                    .emit();
                true
            }
            None => {
                crate::logging::warn("Attempted to complete unknown task ID")
                    .num("taskId", id)
                    .emit();
                false
            }
        }
    }

    /// Tracks a task for as long as the guard lives (the Rust form of `@app.async_task`).
    pub fn guard(&self, name: &str) -> TaskGuard {
        TaskGuard {
            tasks: self.clone(),
            id: self.add_async_task(name, None),
        }
    }

    /// Number of running tasks.
    pub fn active_count(&self) -> usize {
        self.0.active.load(Ordering::Acquire)
    }

    /// `{"active_count": n, "running_jobs": [{"name", "duration"}]}` (the SDK's job_status).
    pub fn info(&self) -> Value {
        let tasks = lock(&self.0.tasks);
        let jobs: Vec<Value> = tasks
            .values()
            .map(|t| json!({"name": t.name, "duration": t.started.elapsed().as_secs_f64()}))
            .collect();
        json!({"active_count": tasks.len(), "running_jobs": jobs})
    }

    /// Forces `/ping` to report `status` until cleared (overrides custom and automatic status).
    pub fn force_ping_status(&self, status: PingStatus) {
        self.0
            .forced
            .store(encode_status(Some(status)), Ordering::Release);
    }

    /// Removes a forced status.
    pub fn clear_forced_ping_status(&self) {
        self.0.forced.store(encode_status(None), Ordering::Release);
    }

    /// Evaluates the status (forced, else `custom`, else automatic) and returns it with
    /// `time_of_last_update` (unix seconds, truncated), updating the timestamp on a change.
    /// `custom` returning `None` means "fall back to automatic".
    pub fn evaluate(&self, custom: Option<&dyn Fn() -> Option<PingStatus>>) -> (PingStatus, u64) {
        let automatic = || {
            if self.active_count() > 0 {
                PingStatus::HealthyBusy
            } else {
                PingStatus::Healthy
            }
        };
        let status = match (decode_status(self.0.forced.load(Ordering::Acquire)), custom) {
            (Some(forced), _) => forced,
            (None, None) => automatic(),
            // The custom handler runs without any lock held: it is user code.
            (None, Some(custom)) => custom().unwrap_or_else(automatic),
        };
        // Every /ping comes here: an unchanged status is answered without taking the lock.
        let seen = self.0.seen.load(Ordering::Acquire);
        if decode_status((seen >> 62) as u8) == Some(status) {
            return (status, seen & SEEN_TIME_MASK);
        }
        let mut ping = lock(&self.0.ping);
        if ping.last_status != Some(status) {
            ping.last_status = Some(status);
            ping.last_update_unix = unix_now_f64();
        }
        let at = ping.last_update_unix as u64;
        self.0.seen.store(
            (u64::from(encode_status(Some(status))) << 62) | (at & SEEN_TIME_MASK),
            Ordering::Release,
        );
        (status, at)
    }
}

/// Completes its task when dropped.
pub struct TaskGuard {
    tasks: Tasks,
    id: i64,
}

impl TaskGuard {
    /// The task id.
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.tasks.complete_async_task(self.id);
    }
}

const SEEN_TIME_MASK: u64 = (1 << 62) - 1;

fn encode_status(status: Option<PingStatus>) -> u8 {
    match status {
        None => 0,
        Some(PingStatus::Healthy) => 1,
        Some(PingStatus::HealthyBusy) => 2,
    }
}

fn decode_status(code: u8) -> Option<PingStatus> {
    match code {
        1 => Some(PingStatus::Healthy),
        2 => Some(PingStatus::HealthyBusy),
        _ => None,
    }
}

fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn random_i64() -> i64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        b = (unix_now_f64().to_bits() ^ u64::from(std::process::id())).to_le_bytes();
    }
    i64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_while_tasks_run() {
        let t = Tasks::new();
        assert_eq!(t.evaluate(None).0, PingStatus::Healthy);
        let id = t.add_async_task("job", None);
        assert_eq!(t.evaluate(None).0, PingStatus::HealthyBusy);
        assert!(t.complete_async_task(id));
        assert!(!t.complete_async_task(id));
        assert_eq!(t.evaluate(None).0, PingStatus::Healthy);
        {
            let _g = t.guard("scoped");
            assert_eq!(t.info()["active_count"], 1);
        }
        assert_eq!(t.active_count(), 0);
    }

    #[test]
    fn precedence_forced_custom_auto() {
        let t = Tasks::new();
        let busy = || Some(PingStatus::HealthyBusy);
        assert_eq!(t.evaluate(Some(&busy)).0, PingStatus::HealthyBusy);
        let broken = || None;
        assert_eq!(t.evaluate(Some(&broken)).0, PingStatus::Healthy);
        t.force_ping_status(PingStatus::HealthyBusy);
        assert_eq!(t.evaluate(None).0, PingStatus::HealthyBusy);
        t.clear_forced_ping_status();
        assert_eq!(t.evaluate(None).0, PingStatus::Healthy);
    }

    #[test]
    fn timestamp_changes_only_on_transitions() {
        let t = Tasks::new();
        let first = t.evaluate(None).1;
        // Pretend the first evaluation was long ago, then check a repeat does not move it.
        lock(&t.0.ping).last_update_unix = 1000.0;
        t.0.seen.store(
            (u64::from(encode_status(Some(PingStatus::Healthy))) << 62) | 1000,
            Ordering::Release,
        );
        assert_eq!(t.evaluate(None).1, 1000);
        let id = t.add_async_task("x", None);
        t.complete_async_task(id);
        // A flip that happened entirely between two evaluations leaves it unchanged.
        assert_eq!(t.evaluate(None).1, 1000);
        t.add_async_task("y", None);
        assert!(t.evaluate(None).1 >= first);
    }
}
