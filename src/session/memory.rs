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
    session_id: String,
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
                session_id: session_id.to_string(),
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

    fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), SessionError> {
        self.replace(index, expected, message)
            .map_err(|kind| SessionError::new(&self.session_id, None, kind))
    }
}

impl MemorySession {
    fn replace(&mut self, index: u64, expected: &Message, message: &Message) -> Result<(), SessionErrorKind> {
        let mut state = lock(&self.slot.state);
        let slot = state.records.get_mut(&self.agent_id).and_then(|record| {
            let at = usize::try_from(index.checked_sub(record.first)?).ok()?;
            record.messages.get_mut(at)
        });
        match slot {
            Some(stored) if stored == expected => {
                *stored = message.clone();
                Ok(())
            }
            Some(_) => Err(SessionErrorKind::Conflict {
                detail: format!("message_{index} is not the message to replace"),
            }),
            None => Err(SessionErrorKind::corrupt(format!(
                "message_{index} to replace does not exist"
            ))),
        }
    }
}

impl Drop for MemorySession {
    fn drop(&mut self) {
        lock(&self.slot.state).busy = false;
        self.slot.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::session::FileSessionStore;

    /// Both stores replace a message only while it is still the one expected.
    #[test]
    fn a_message_is_replaced_only_when_it_is_the_expected_one() {
        let dir = std::env::temp_dir().join(format!("agentcore-rt-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stores: [Box<dyn SessionStore>; 2] = [
            Box::new(MemorySessionStore::new()),
            Box::new(FileSessionStore::new(&dir)),
        ];
        let initial = AgentSnapshot::new(
            json!({}),
            json!({"__name__": "SlidingWindowConversationManager", "removed_message_count": 0}),
        );
        for store in stores {
            let wait = Duration::from_secs(1);
            let first = Message::user_text("one");
            let second = Message::user_text("two");
            {
                let mut opened = store.open("s", "default", wait, &initial).unwrap();
                opened.writer.append_message(&first).unwrap();
                opened.writer.append_message(&second).unwrap();
                opened.writer.sync_agent(&initial).unwrap();
            }
            let mut opened = store.open("s", "default", wait, &initial).unwrap();
            let replaced = Message::user_text("two, corrected");
            let conflict = opened.writer.replace_message(1, &first, &replaced).unwrap_err();
            assert!(
                matches!(conflict.kind, SessionErrorKind::Conflict { .. }),
                "{conflict}"
            );
            assert!(
                opened.writer.replace_message(2, &second, &replaced).is_err(),
                "no message 2"
            );
            opened.writer.replace_message(1, &second, &replaced).unwrap();
            drop(opened);
            let restored = store
                .open("s", "default", wait, &initial)
                .unwrap()
                .restored
                .unwrap();
            assert_eq!(restored.messages, [first, replaced], "{store:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
