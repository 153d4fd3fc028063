//! Conversation persistence in Strands' `FileSessionManager` layout, so a session written here
//! loads in Python and a Python session loads here (`tests/fixtures/strands-sessions` holds real
//! ones).
//!
//! ```text
//! <root>/session_<id>/session.json                        created once, never rewritten
//!                    /multi_agents/                       created empty (Strands does)
//!                    /agents/agent_<agent_id>/agent.json  state, window state, rewritten on change
//!                                            /messages/message_<N>.json   appended, never rewritten
//!                    /.agentcore.lock                     our writer lock (Strands ignores it)
//! ```
//!
//! This module knows nothing about HTTP or models. [`SessionStore`] is what the agent loop asks
//! of a store; [`FileSessionStore`] (the layout above) and
//! [`MemorySessionStore`] implement it, and [`S3SessionStore`] (Strands' `S3SessionManager`
//! layout in a bucket). Besides them: the error type, the id rules, and the
//! records exchanged with the agent ([`AgentSnapshot`], [`RestoredAgent`]).

mod error;
pub(crate) mod file;
mod id;
mod memory;
mod record;
pub mod s3;
mod store;

pub use error::{Cause, SessionError, SessionErrorKind};
pub use file::{AgentSession, FileSessionStore, SessionLock};
pub use id::{DEFAULT_AGENT_ID, validate_agent_id, validate_session_id};
pub use memory::MemorySessionStore;
pub use record::{AgentSnapshot, RestoredAgent};
pub use s3::{S3Config, S3SessionStore};
pub use store::{OpenedSession, SessionStore, SessionWriter};
