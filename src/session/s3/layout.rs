//! Object keys, exactly as Strands 1.62's `S3SessionManager` names them:
//!
//! ```text
//! <prefix>/session_<id>/session.json
//!                      /agents/agent_<agent_id>/agent.json
//!                                              /messages/message_<N>.json
//!                      /.agentcore.lease       ours: the writer lease (Strands never reads it)
//! ```
//!
//! The prefix loses its leading and trailing `/` (`prefix.strip("/")`); an empty one puts
//! sessions at the bucket's root. Ids are checked by the file store's rules first (no `/`, not
//! `.` or `..`, no control characters), so a key always stays under `<prefix>/session_<id>/`.

use crate::session::error::SessionErrorKind;
use crate::session::id::{validate_agent_id, validate_session_id};

/// The lease object's name in `session_<id>/`, beside `session.json`.
const LEASE: &str = ".agentcore.lease";

/// S3 refuses longer keys.
const MAX_KEY_BYTES: usize = 1024;

/// The keys of one agent's record in one session.
#[derive(Debug, Clone)]
pub(super) struct AgentKeys {
    pub(super) session: String,
    pub(super) session_record: String,
    pub(super) lease: String,
    pub(super) agents: String,
    pub(super) agent_record: String,
    pub(super) messages: String,
}

impl AgentKeys {
    pub(super) fn new(prefix: &str, session_id: &str, agent_id: &str) -> Result<Self, SessionErrorKind> {
        validate_session_id(session_id)?;
        validate_agent_id(agent_id)?;
        let prefix = prefix.trim_matches('/');
        let session = if prefix.is_empty() {
            format!("session_{session_id}/")
        } else {
            format!("{prefix}/session_{session_id}/")
        };
        let agents = format!("{session}agents/");
        let agent = format!("{agents}agent_{agent_id}/");
        let keys = AgentKeys {
            session_record: format!("{session}session.json"),
            lease: format!("{session}{LEASE}"),
            agent_record: format!("{agent}agent.json"),
            messages: format!("{agent}messages/"),
            agents,
            session,
        };
        // The longest key this record can have: a message with a 20-digit index.
        if keys.messages.len() + "message_.json".len() + 20 > MAX_KEY_BYTES {
            return Err(SessionErrorKind::InvalidId {
                what: "session",
                reason: "its object keys would exceed S3's 1024 bytes",
            });
        }
        Ok(keys)
    }

    pub(super) fn message(&self, index: u64) -> String {
        format!("{}message_{index}.json", self.messages)
    }

    /// The index of a key listed under `messages/`, as Strands reads it: `message_<N>.json`
    /// names count (N must then be an integer), other names are ignored.
    pub(super) fn message_index(&self, key: &str) -> Option<Result<u64, ()>> {
        let name = key.strip_prefix(&self.messages)?;
        let index = name.strip_prefix("message_")?.strip_suffix(".json")?;
        if name.contains('/') {
            return None;
        }
        Some(index.parse::<u64>().map_err(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_strands_names_them() {
        let k = AgentKeys::new("/tenant/a/", "s 1", "default").unwrap();
        assert_eq!(k.session_record, "tenant/a/session_s 1/session.json");
        assert_eq!(k.lease, "tenant/a/session_s 1/.agentcore.lease");
        assert_eq!(
            k.agent_record,
            "tenant/a/session_s 1/agents/agent_default/agent.json"
        );
        assert_eq!(
            k.message(12),
            "tenant/a/session_s 1/agents/agent_default/messages/message_12.json"
        );
        let root = AgentKeys::new("", "x", "a").unwrap();
        assert_eq!(root.session_record, "session_x/session.json");
        assert_eq!(root.message_index(&root.message(3)), Some(Ok(3)));
        assert_eq!(
            root.message_index("session_x/agents/agent_a/messages/message_x.json"),
            Some(Err(()))
        );
        assert_eq!(
            root.message_index("session_x/agents/agent_a/messages/other.json"),
            None
        );
        assert_eq!(root.message_index("session_x/agents/agent_a/agent.json"), None);
    }

    #[test]
    fn ids_that_could_leave_the_prefix_are_refused() {
        for id in ["../x", "..", ".", "a/b", "", "a\nb"] {
            assert!(
                matches!(
                    AgentKeys::new("p", id, "default"),
                    Err(SessionErrorKind::InvalidId { .. })
                ),
                "{id:?}"
            );
        }
        assert!(matches!(
            AgentKeys::new(&"p".repeat(1000), "s", "default"),
            Err(SessionErrorKind::InvalidId { .. })
        ));
    }
}
