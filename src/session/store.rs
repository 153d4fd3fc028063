//! [`SessionStore`]: what the agent loop needs from wherever sessions are kept.
//!
//! One invocation takes its session for its whole run: [`SessionStore::open`] waits (bounded)
//! for any other invocation of the session, then restores the agent's record; the returned
//! [`SessionWriter`] appends each message as it is added and syncs `agent.json` after it, and
//! gives the session back when dropped. The stores here are [`super::FileSessionStore`]
//! (Strands' `FileSessionManager` layout, locked across processes) and
//! [`super::MemorySessionStore`]; a store for another medium (an object store with conditional
//! writes and a lease) implements the same two traits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::{SessionError, SessionErrorKind};
use super::record::{AgentSnapshot, RestoredAgent};
use crate::telemetry::TraceContext;
use crate::types::Message;

/// Where an agent's sessions are kept. Shared by every worker thread of an agent.
///
/// A store guarantees what Strands' session manager gives a single process, for any number of
/// threads (and, where the medium allows it, processes or replicas): one writer per session at a
/// time, messages restored in the order they were appended, and a window offset honoured on
/// restore. It does not repair what it restores; the agent does that.
pub trait SessionStore: fmt::Debug + Send + Sync {
    /// Takes `session_id` for one invocation and restores `agent_id`'s record in it.
    ///
    /// Waits up to `wait` while another invocation holds the session, then fails with
    /// [`SessionErrorKind::LockTimeout`](super::SessionErrorKind::LockTimeout). Ids that
    /// [`super::validate_session_id`] or [`super::validate_agent_id`] refuse fail with
    /// `InvalidId`. A new agent's record starts from `initial` and restores to `None`; an
    /// existing one restores to its messages after the window's `removed_message_count` and its
    /// stored state.
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError>;

    /// [`SessionStore::open`] for an invocation traced as `trace`: a store that calls other
    /// services (S3) sends the context on each call it makes for the session, until the writer
    /// is dropped. The agent passes its `invoke_agent` span: the session's reads and writes
    /// belong to the invocation as a whole, as Strands' session hooks do, not to whichever
    /// cycle or tool is running. The default ignores it.
    fn open_traced(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
        trace: &TraceContext,
    ) -> Result<OpenedSession, SessionError> {
        let _ = trace;
        self.open(session_id, agent_id, wait, initial)
    }
}

/// A session taken by one invocation: the writer that holds it, and what was restored.
#[derive(Debug)]
pub struct OpenedSession {
    /// Appends and syncs; dropping it releases the session.
    pub writer: Box<dyn SessionWriter>,
    /// The agent as stored, `None` for an agent new to the session.
    pub restored: Option<RestoredAgent>,
}

/// One invocation's hold on an agent's record in a session (Strands' session-manager hooks).
/// Dropping it releases the session for the next invocation.
pub trait SessionWriter: fmt::Debug + Send {
    /// Stores `message` after the ones already there; never replaces a stored message.
    fn append_message(&mut self, message: &Message) -> Result<(), SessionError>;

    /// Stores `snapshot` as the agent's record (`agent.json`); a store may skip a write that
    /// would not change it.
    fn sync_agent(&mut self, snapshot: &AgentSnapshot) -> Result<(), SessionError>;

    /// Replaces the stored message `index` (its place in the whole history, `message_<index>`),
    /// which must still be `expected` (what was restored), with `message`, keeping when it was
    /// created: Strands' `update_message`, with which ag-ui-strands puts a frontend tool's
    /// result in place of its placeholder. Another message there is a
    /// [`SessionErrorKind::Conflict`] and nothing is written. A store that cannot replace
    /// messages says so (the default).
    fn replace_message(
        &mut self,
        index: u64,
        expected: &Message,
        message: &Message,
    ) -> Result<(), SessionError> {
        let _ = (expected, message);
        Err(SessionError::new(
            "",
            None,
            SessionErrorKind::io(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("this session store cannot replace a stored message (message_{index})"),
            )),
        ))
    }
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn open(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
    ) -> Result<OpenedSession, SessionError> {
        (**self).open(session_id, agent_id, wait, initial)
    }

    fn open_traced(
        &self,
        session_id: &str,
        agent_id: &str,
        wait: Duration,
        initial: &AgentSnapshot,
        trace: &TraceContext,
    ) -> Result<OpenedSession, SessionError> {
        (**self).open_traced(session_id, agent_id, wait, initial, trace)
    }
}
