//! The tasks an A2A server remembers, in memory and bounded: at most `capacity` tasks, and a
//! finished one is forgotten `ttl` after it finished (or sooner, oldest first, when a new task
//! needs the room), so that no number of requests can grow memory without bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::types::CancelToken;

/// A task's state, as A2A 1.0 spells it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Accepted, not started.
    Submitted,
    /// The agent runs.
    Working,
    /// Finished with an answer.
    Completed,
    /// Finished with an error.
    Failed,
    /// Stopped by `CancelTask` (or its client leaving).
    Canceled,
}

impl State {
    /// `TASK_STATE_COMPLETED` and friends.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "TASK_STATE_SUBMITTED",
            State::Working => "TASK_STATE_WORKING",
            State::Completed => "TASK_STATE_COMPLETED",
            State::Failed => "TASK_STATE_FAILED",
            State::Canceled => "TASK_STATE_CANCELED",
        }
    }

    /// True once the task can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, State::Completed | State::Failed | State::Canceled)
    }
}

/// What is kept of one task.
#[derive(Debug, Clone)]
pub struct Task {
    /// The task id.
    pub id: String,
    /// The client's `contextId` (our session id, before sanitising).
    pub context_id: String,
    /// Where it is.
    pub state: State,
    /// The agent's status message (the error text of a failed task).
    pub status_message: Option<Value>,
    /// When the state last changed (RFC 3339).
    pub timestamp: String,
    /// The messages exchanged (A2A `Message` JSON).
    pub history: Vec<Value>,
    /// The answer's text so far.
    pub answer: String,
    /// Stops the running invocation.
    pub cancel: CancelToken,
    finished_at: Option<Instant>,
}

/// The id of the one artifact a task produces.
pub fn artifact_id(task_id: &str) -> String {
    format!("{task_id}-response")
}

impl Task {
    /// A submitted task.
    pub fn new(id: String, context_id: String, user_message: Value, cancel: CancelToken) -> Task {
        Task {
            id,
            context_id,
            state: State::Submitted,
            status_message: None,
            timestamp: now(),
            history: vec![user_message],
            answer: String::new(),
            cancel,
            finished_at: None,
        }
    }

    /// The `TaskStatus` JSON.
    pub fn status_json(&self) -> Value {
        let mut status = json!({"state": self.state.as_str(), "timestamp": self.timestamp});
        if let Some(message) = &self.status_message {
            status["message"] = message.clone();
        }
        status
    }

    /// The A2A `Task` JSON, with the last `history_length` messages (all when `None`).
    pub fn to_json(&self, history_length: Option<usize>) -> Value {
        let mut task = json!({
            "id": self.id,
            "contextId": self.context_id,
            "status": self.status_json(),
        });
        if !self.answer.is_empty() {
            task["artifacts"] = json!([{
                "artifactId": artifact_id(&self.id),
                "name": "response",
                "parts": [{"text": self.answer}],
            }]);
        }
        let keep = history_length.unwrap_or(usize::MAX).min(self.history.len());
        if keep > 0 {
            task["history"] = Value::Array(self.history[self.history.len() - keep..].to_vec());
        }
        task
    }
}

/// RFC 3339 in UTC with milliseconds, what protobuf's `Timestamp` JSON reads.
pub fn now() -> String {
    crate::clock::Civil::now().iso_millis_z()
}

/// The bounded store.
#[derive(Debug)]
pub struct TaskStore {
    tasks: Mutex<HashMap<String, Task>>,
    capacity: usize,
    ttl: Duration,
}

impl TaskStore {
    /// At most `capacity` tasks (at least 1); finished ones kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> TaskStore {
        TaskStore {
            tasks: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Task>> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a new task, making room first: expired tasks go, then the oldest finished ones,
    /// then (all running: more than the server runs at once, so only with a tiny capacity) the
    /// oldest of all.
    pub fn insert(&self, task: Task) {
        let mut tasks = self.lock();
        let ttl = self.ttl;
        tasks.retain(|_, t| t.finished_at.is_none_or(|at| at.elapsed() < ttl));
        while tasks.len() >= self.capacity {
            let victim = tasks
                .values()
                .filter(|t| t.finished_at.is_some())
                .min_by_key(|t| t.finished_at)
                .or_else(|| tasks.values().min_by(|a, b| a.timestamp.cmp(&b.timestamp)))
                .map(|t| t.id.clone());
            match victim {
                Some(id) => tasks.remove(&id),
                None => break,
            };
        }
        tasks.insert(task.id.clone(), task);
    }

    /// A copy of the task, if it is still known.
    pub fn get(&self, id: &str) -> Option<Task> {
        let ttl = self.ttl;
        self.lock()
            .get(id)
            .filter(|t| t.finished_at.is_none_or(|at| at.elapsed() < ttl))
            .cloned()
    }

    /// Changes the task with `f` (when still known) and returns a copy of it afterwards.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Task)) -> Option<Task> {
        let mut tasks = self.lock();
        let task = tasks.get_mut(id)?;
        let was_final = task.state.is_final();
        f(task);
        if task.state.is_final() && !was_final {
            task.finished_at = Some(Instant::now());
        }
        Some(task.clone())
    }

    /// Sets the state (and its timestamp) unless the task already finished: a cancel that
    /// landed first wins over the run's own ending.
    pub fn set_state(&self, id: &str, state: State, message: Option<Value>) -> Option<Task> {
        self.update(id, |t| {
            if !t.state.is_final() {
                t.state = state;
                t.status_message = message;
                t.timestamp = now();
            }
        })
    }

    /// The id of some task in `state`.
    #[cfg(test)]
    pub(super) fn first_in(&self, state: State) -> Option<String> {
        self.lock()
            .values()
            .find(|t| t.state == state)
            .map(|t| t.id.clone())
    }

    /// How many tasks are kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> Task {
        Task::new(
            id.into(),
            "ctx".into(),
            json!({"messageId": id}),
            CancelToken::new(),
        )
    }

    #[test]
    fn bounded_finished_tasks_go_first() {
        let store = TaskStore::new(3, Duration::from_secs(3600));
        for id in ["a", "b", "c"] {
            store.insert(task(id));
        }
        store.set_state("b", State::Completed, None);
        store.insert(task("d"));
        assert_eq!(store.len(), 3);
        assert!(store.get("b").is_none(), "the finished one made room");
        assert!(store.get("a").is_some() && store.get("d").is_some());
        // All running: the store still never grows past its capacity.
        store.insert(task("e"));
        assert_eq!(store.len(), 3);
        for i in 0..100 {
            store.insert(task(&format!("x{i}")));
        }
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn finished_tasks_expire_and_final_states_stick() {
        let store = TaskStore::new(10, Duration::ZERO);
        store.insert(task("a"));
        store.set_state("a", State::Working, None);
        assert_eq!(store.get("a").map(|t| t.state), Some(State::Working));
        store.set_state("a", State::Canceled, None);
        assert!(store.get("a").is_none(), "a ttl of zero forgets at once");
        let store = TaskStore::new(10, Duration::from_secs(60));
        store.insert(task("a"));
        store.set_state("a", State::Canceled, None);
        let after = store.set_state("a", State::Completed, None);
        assert_eq!(after.map(|t| t.state), Some(State::Canceled));
    }

    #[test]
    fn task_json() {
        let mut t = task("t1");
        t.answer = "hi".into();
        t.history.push(json!({"messageId": "m2"}));
        let v = t.to_json(Some(1));
        assert_eq!(v["status"]["state"], "TASK_STATE_SUBMITTED");
        assert_eq!(v["artifacts"][0]["parts"][0]["text"], "hi");
        assert_eq!(v["artifacts"][0]["artifactId"], "t1-response");
        assert_eq!(v["history"], json!([{"messageId": "m2"}]));
        assert!(t.to_json(Some(0)).get("history").is_none());
        assert_eq!(t.to_json(None)["history"].as_array().map(Vec::len), Some(2));
    }
}
