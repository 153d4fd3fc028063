//! The in-memory session store: what an [`crate::agent::Agent`] without a session directory uses.
//!
//! It keeps, per session id, what the file store would: the messages appended since the window's
//! offset, and the agent snapshot (state and window state). It behaves like the file store in the
//! ways the loop can observe: one invocation per session at a time (a bounded wait, then
//! [`SessionErrorKind::LockTimeout`]), restore skips `removed_message_count` messages, and overflow truncation is not written back. Messages the window has dropped are
//! freed at each sync, so a session holds about one window of messages. Sessions are never
//! evicted: they live as long as the agent.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::session::{AgentSnapshot, RestoredAgent, SessionError, SessionErrorKind};
use crate::sync::lock;
use crate::types::Message;

/// Sessions by id.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    sessions: Mutex<HashMap<String, Arc<Slot>>>,
}

#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    busy: bool,
    record: Option<Record>,
}

#[derive(Debug)]
struct Record {
    snapshot: AgentSnapshot,
    /// Messages from index `first` of the full history on.
    messages: Vec<Message>,
    first: u64,
}

/// One invocation's hold on a session; releases it on drop.
#[derive(Debug)]
pub(crate) struct MemorySession {
    slot: Arc<Slot>,
}

impl MemoryStore {
    /// Takes `session_id`, waiting up to `wait` for the invocation holding it, and restores it
    /// (`None` for a new session, whose record starts from `initial`).
    pub(crate) fn open(
        &self,
        session_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<(MemorySession, Option<RestoredAgent>), SessionError> {
        let slot = lock(&self.sessions)
            .entry(session_id.to_string())
            .or_default()
            .clone();
        let deadline = Instant::now() + wait;
        let mut state = lock(&slot.state);
        while state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SessionError::new(
                    session_id,
                    None,
                    SessionErrorKind::LockTimeout { waited: wait },
                ));
            }
            state = slot
                .released
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.busy = true;
        let restored = match &state.record {
            None => {
                state.record = Some(Record {
                    snapshot: initial.clone(),
                    messages: Vec::new(),
                    first: 0,
                });
                None
            }
            Some(record) => {
                let skip = removed_count(&record.snapshot).saturating_sub(record.first);
                let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                let messages: Vec<Message> = record.messages.iter().skip(skip).cloned().collect();
                Some(RestoredAgent {
                    messages,
                    state: record.snapshot.state.clone(),
                    conversation_manager_state: record.snapshot.conversation_manager_state.clone(),
                    internal_state: Some(record.snapshot.internal_state.clone()),
                })
            }
        };
        drop(state);
        Ok((MemorySession { slot }, restored))
    }
}

fn removed_count(snapshot: &AgentSnapshot) -> u64 {
    snapshot
        .conversation_manager_state
        .get("removed_message_count")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

impl MemorySession {
    pub(crate) fn append(&mut self, message: &Message) {
        if let Some(record) = lock(&self.slot.state).record.as_mut() {
            record.messages.push(message.clone());
        }
    }

    pub(crate) fn sync(&mut self, snapshot: &AgentSnapshot) {
        if let Some(record) = lock(&self.slot.state).record.as_mut() {
            record.snapshot = snapshot.clone();
            // Free what the window dropped: it would only be skipped on the next restore.
            let dropped = removed_count(snapshot).saturating_sub(record.first);
            let dropped = usize::try_from(dropped)
                .unwrap_or(usize::MAX)
                .min(record.messages.len());
            record.messages.drain(..dropped);
            record.first += dropped as u64;
        }
    }
}

impl Drop for MemorySession {
    fn drop(&mut self) {
        lock(&self.slot.state).busy = false;
        self.slot.released.notify_one();
    }
}
