//! The records exchanged between a store and the agent: what `agent.json` holds besides the
//! messages ([`AgentSnapshot`]) and an agent read back from its session ([`RestoredAgent`]).

use serde_json::{Value, json};

use crate::session::error::SessionErrorKind;
use crate::types::Message;

/// What `agent.json` records about an agent besides its messages.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSnapshot {
    /// `agent.state`, the user's key/value store (a JSON object).
    pub state: Value,
    /// The conversation manager's state (`SlidingWindow::state`).
    pub conversation_manager_state: Value,
    /// Strands' `_internal_state` (interrupt and model state), carried over as restored.
    pub internal_state: Value,
}

impl AgentSnapshot {
    /// A snapshot with Strands' default internal state.
    pub fn new(state: Value, conversation_manager_state: Value) -> Self {
        AgentSnapshot {
            state,
            conversation_manager_state,
            internal_state: Self::default_internal_state(),
        }
    }

    /// What a fresh Strands Agent stores as `_internal_state`.
    pub fn default_internal_state() -> Value {
        json!({
            "interrupt_state": {"interrupts": {}, "context": {}, "activated": false},
            "model_state": {},
        })
    }

    /// The window state's `removed_message_count`: how many messages, from the first, a restore
    /// skips (0 when absent).
    pub(crate) fn removed_message_count(&self) -> u64 {
        self.conversation_manager_state
            .get("removed_message_count")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

/// An agent read back from its session.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredAgent {
    /// The history after the window offset, redactions applied, as stored (the agent repairs
    /// broken tool pairs after restoring).
    pub messages: Vec<Message>,
    /// `agent.state`.
    pub state: Value,
    /// The stored conversation-manager state (give it to `SlidingWindow::restore`).
    pub conversation_manager_state: Value,
    /// `_internal_state`, when the file has one (older files do not).
    pub internal_state: Option<Value>,
}

impl RestoredAgent {
    /// The snapshot a restored Strands Agent would store next: its state and window state, and
    /// an `_internal_state` with the default `interrupt_state`/`model_state` replaced by the
    /// stored ones where present (other stored keys are dropped, as Strands does).
    pub fn snapshot(&self) -> AgentSnapshot {
        let mut internal_state = AgentSnapshot::default_internal_state();
        if let (Some(stored), Some(target)) = (self.internal_state.as_ref(), internal_state.as_object_mut()) {
            for key in ["interrupt_state", "model_state"] {
                if let Some(v) = stored.get(key) {
                    target.insert(key.to_string(), v.clone());
                }
            }
        }
        AgentSnapshot {
            state: self.state.clone(),
            conversation_manager_state: self.conversation_manager_state.clone(),
            internal_state,
        }
    }
}

/// `agent.json`'s fields, checked the same way by every store.
pub(in crate::session) struct StoredAgent {
    pub(in crate::session) state: Value,
    pub(in crate::session) manager_state: Value,
    pub(in crate::session) internal_state: Option<Value>,
    /// `conversation_manager_state.removed_message_count`: messages before the window.
    pub(in crate::session) removed: u64,
    pub(in crate::session) created_at: Option<String>,
}

impl StoredAgent {
    /// Checks a parsed `agent.json`: `state` and `conversation_manager_state` present, the
    /// manager the one `initial` names (a session written with another window type is refused),
    /// a non-negative `removed_message_count`. The error is the kind; the store adds where.
    pub(in crate::session) fn check(
        stored: &Value,
        initial: &AgentSnapshot,
    ) -> Result<StoredAgent, SessionErrorKind> {
        let field = |name: &str| {
            stored
                .get(name)
                .cloned()
                .ok_or_else(|| SessionErrorKind::corrupt(format!("agent.json has no {name:?}")))
        };
        let state = field("state")?;
        let manager_state = field("conversation_manager_state")?;
        let found = manager_state
            .get("__name__")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(expected) = initial
            .conversation_manager_state
            .get("__name__")
            .and_then(Value::as_str)
            && found != expected
        {
            return Err(SessionErrorKind::ManagerMismatch {
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
        let removed = manager_state
            .get("removed_message_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                SessionErrorKind::corrupt(
                    "conversation_manager_state.removed_message_count is not a non-negative integer",
                )
            })?;
        Ok(StoredAgent {
            state,
            manager_state,
            internal_state: stored.get("_internal_state").cloned(),
            removed,
            created_at: stored
                .get("created_at")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// The agent with these fields and `messages`.
    pub(in crate::session) fn into_restored(self, messages: Vec<Message>) -> RestoredAgent {
        RestoredAgent {
            messages,
            state: self.state,
            conversation_manager_state: self.manager_state,
            internal_state: self.internal_state,
        }
    }
}
