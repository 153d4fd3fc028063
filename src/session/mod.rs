//! Conversation persistence in Strands' `FileSessionManager` layout, so a session written here
//! loads in Python and a Python session loads here (`../shared/spec/strands-agent.md` §1, §7).
//!
//! ```text
//! <root>/session_<id>/session.json                        created once, never rewritten
//!                    /multi_agents/                       created empty (Strands does)
//!                    /agents/agent_<agent_id>/agent.json  state, window state, rewritten on change
//!                                            /messages/message_<N>.json   appended, never rewritten
//!                    /.agentcore.lock                     our writer lock (Strands ignores it)
//! ```
//!
//! This module knows nothing about HTTP or models. It holds the error type, the id rules and the
//! records exchanged with the agent; [`mod@file`] does the I/O. The store is single-writer per
//! session: hold [`FileSessionStore::lock`] while opening, restoring and appending.

pub mod file;
pub(crate) mod memory;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::types::Message;

pub use file::{AgentSession, FileSessionStore, SessionLock};

/// The agent id Strands uses when none is given.
pub const DEFAULT_AGENT_ID: &str = "default";

/// A session operation that failed, with the session and the file it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionError {
    /// The session id as given.
    pub session_id: String,
    /// The file or directory involved, when there is one.
    pub path: Option<PathBuf>,
    /// What went wrong.
    pub kind: SessionErrorKind,
}

/// Why a session operation failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The session or agent id cannot name a directory (see [`validate_session_id`]).
    InvalidId {
        /// `"session"` or `"agent"`.
        what: &'static str,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The file system refused (permission, no space, missing directory, ...).
    Io {
        /// The OS error kind, kept so callers can tell ENOSPC from EACCES.
        kind: io::ErrorKind,
        /// The OS message.
        message: String,
    },
    /// A session file is not what Strands writes (bad JSON, missing key, wrong type). The
    /// session is left alone: nothing is reset or rewritten.
    Corrupt {
        /// What is wrong, including serde's message when parsing failed.
        detail: String,
    },
    /// A session file or directory is a symbolic link; we neither read nor write through one.
    SymlinkRefused,
    /// Another writer held the session lock for longer than the wait allowed.
    LockTimeout {
        /// How long we waited.
        waited: Duration,
    },
    /// The stored window state was written by another conversation manager class.
    ManagerMismatch {
        /// The class name we run.
        expected: String,
        /// The `__name__` found in `agent.json`.
        found: String,
    },
    /// `session_<id>/` exists with agent data but without `session.json` (Strands refuses such a
    /// session too). An empty leftover directory is taken over instead.
    MissingSessionRecord,
}

impl SessionError {
    pub(crate) fn new(session_id: &str, path: Option<PathBuf>, kind: SessionErrorKind) -> Self {
        SessionError {
            session_id: session_id.to_string(),
            path,
            kind,
        }
    }
}

impl fmt::Display for SessionErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionErrorKind::InvalidId { what, reason } => write!(f, "invalid {what} id: {reason}"),
            SessionErrorKind::Io { message, .. } => write!(f, "i/o error: {message}"),
            SessionErrorKind::Corrupt { detail } => write!(f, "corrupt session file: {detail}"),
            SessionErrorKind::SymlinkRefused => f.write_str("refusing to follow a symbolic link"),
            SessionErrorKind::LockTimeout { waited } => {
                write!(
                    f,
                    "session is busy: lock not acquired within {} ms",
                    waited.as_millis()
                )
            }
            SessionErrorKind::ManagerMismatch { expected, found } => {
                write!(
                    f,
                    "conversation manager mismatch: stored state is {found:?}, expected {expected:?}"
                )
            }
            SessionErrorKind::MissingSessionRecord => {
                f.write_str("session directory exists with agent data but without session.json")
            }
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {:?}: {}", self.session_id, self.kind)?;
        if let Some(path) = &self.path {
            write!(f, " ({})", path.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for SessionError {}

/// The longest file name the file systems we target accept, in bytes.
const NAME_MAX: usize = 255;

/// Checks that `id` can name the directory `session_<id>` safely.
///
/// Strands only rejects ids containing `/` (§7); we also reject what it accepts by accident or
/// fails on later: the empty id, `.` and `..`, NUL and other control characters, and ids whose
/// directory name would exceed 255 bytes. A backslash is an ordinary character on Linux and is
/// accepted, as Strands does. Valid ids map to the same `session_<id>` directory as in Strands.
pub fn validate_session_id(id: &str) -> Result<(), SessionErrorKind> {
    validate_id(id, "session", "session_")
}

/// The same rules for agent ids (directory `agent_<id>`).
pub fn validate_agent_id(id: &str) -> Result<(), SessionErrorKind> {
    validate_id(id, "agent", "agent_")
}

fn validate_id(id: &str, what: &'static str, prefix: &str) -> Result<(), SessionErrorKind> {
    let reason = if id.is_empty() {
        "it is empty"
    } else if id == "." || id == ".." {
        "it is `.` or `..`"
    } else if id.contains('/') {
        "it contains a path separator"
    } else if id.contains('\0') {
        "it contains a NUL byte"
    } else if id.chars().any(char::is_control) {
        "it contains a control character"
    } else if prefix.len() + id.len() > NAME_MAX {
        "it is too long for a directory name"
    } else {
        return Ok(());
    };
    Err(SessionErrorKind::InvalidId { what, reason })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_strands_accepts_and_we_keep() {
        for id in ["ok-id_1.2", "a b", "ünï", "a\\b", "x".repeat(247).as_str()] {
            assert_eq!(validate_session_id(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn ids_rejected() {
        let reason = |id: &str| match validate_session_id(id) {
            Err(SessionErrorKind::InvalidId {
                what: "session",
                reason,
            }) => reason,
            other => panic!("{id:?} gave {other:?}"),
        };
        assert_eq!(reason("a/b"), "it contains a path separator");
        assert_eq!(reason("../escape"), "it contains a path separator");
        assert_eq!(reason("abc/"), "it contains a path separator");
        assert_eq!(reason("/abs"), "it contains a path separator");
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason("."), "it is `.` or `..`");
        assert_eq!(reason(".."), "it is `.` or `..`");
        assert_eq!(reason("a\0b"), "it contains a NUL byte");
        assert_eq!(reason("a\nb"), "it contains a control character");
        assert_eq!(reason("a\u{85}b"), "it contains a control character");
        assert_eq!(reason(&"x".repeat(248)), "it is too long for a directory name");
        // 2-byte characters: 124 of them make 248 bytes.
        assert_eq!(reason(&"é".repeat(124)), "it is too long for a directory name");
        assert!(matches!(
            validate_agent_id("a/b"),
            Err(SessionErrorKind::InvalidId { what: "agent", .. })
        ));
        assert_eq!(validate_agent_id(&"x".repeat(249)), Ok(()));
    }

    #[test]
    fn error_display_names_session_and_path() {
        let e = SessionError::new(
            "s1",
            Some(PathBuf::from("/r/session_s1/session.json")),
            SessionErrorKind::Corrupt {
                detail: "expected value at line 1 column 1".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "session \"s1\": corrupt session file: expected value at line 1 column 1 (/r/session_s1/session.json)"
        );
    }
}
