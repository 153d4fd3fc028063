//! The in-memory session store: what an agent without a session directory uses.
//!
//! It keeps, per session and agent id, what the file store would: the messages appended since the
//! window's offset, and the agent snapshot (state and window state). It behaves like the file
//! store in the ways the loop can observe: one invocation per session at a time (a bounded wait,
//! then [`SessionErrorKind::LockTimeout`]), restore skips `removed_message_count` messages, and
//! overflow truncation is not written back. Messages the window has dropped are freed at each
//! sync, so a session holds about one window of messages. Sessions are never evicted: they live
//! as long as the store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::error::{SessionError, SessionErrorKind};
use super::id::{validate_agent_id, validate_session_id};
use super::record::{AgentSnapshot, RestoredAgent};
use super::store::{OpenedSession, SessionStore, SessionWriter};
use crate::sync::lock;
use crate::types::Message;

/// Sessions in memory, by id; cheap to share (`Arc`) between agents.
#[derive(Default)]
pub struct MemorySessionStore {
    sessions: Mutex<HashMap<String, Arc<Slot>>>,
}

impl fmt::Debug for MemorySessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySessionStore")
            .field("sessions", &lock(&self.sessions).len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    busy: bool,
    /// By agent id.
    records: HashMap<String, Record>,
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
struct MemorySession {
    slot: Arc<Slot>,
    agent_id: String,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SessionStore for MemorySessionStore {
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError> {
        let fail = |kind| SessionError::new(session_id, None, kind);
        validate_session_id(session_id).map_err(fail)?;
        validate_agent_id(agent_id).map_err(fail)?;
        let slot = lock(&self.sessions)
            .entry(session_id.to_string())
            .or_default()
            .clone();
        let deadline = Instant::now() + wait;
        let mut state = lock(&slot.state);
        while state.busy {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(SessionErrorKind::LockTimeout { waited: wait }));
            }
            state = slot
                .released
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.busy = true;
        let restored = match state.records.get(agent_id) {
            None => {
                state.records.insert(
                    agent_id.to_string(),
                    Record {
                        snapshot: initial.clone(),
                        messages: Vec::new(),
                        first: 0,
                    },
                );
                None
            }
            Some(record) => {
                let skip = record
                    .snapshot
                    .removed_message_count()
                    .saturating_sub(record.first);
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
        Ok(OpenedSession {
            writer: Box::new(MemorySession {
                slot,
                agent_id: agent_id.to_string(),
            }),
            restored,
        })
    }
}

impl SessionWriter for MemorySession {
    fn append_message(&mut self, message: &Message) -> Result<(), SessionError> {
        if let Some(record) = lock(&self.slot.state).records.get_mut(&self.agent_id) {
            record.messages.push(message.clone());
        }
        Ok(())
    }

    fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError> {
        if let Some(record) = lock(&self.slot.state).records.get_mut(&self.agent_id) {
            record.snapshot = snapshot.clone();
            // Free what the window dropped: it would only be skipped on the next restore.
            let dropped = snapshot.removed_message_count().saturating_sub(record.first);
            let dropped = usize::try_from(dropped)
                .unwrap_or(usize::MAX)
                .min(record.messages.len());
            record.messages.drain(..dropped);
            record.first += dropped as u64;
        }
        Ok(())
    }
}

impl Drop for MemorySession {
    fn drop(&mut self) {
        lock(&self.slot.state).busy = false;
        self.slot.released.notify_one();
    }
}
