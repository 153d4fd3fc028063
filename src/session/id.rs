//! Which session and agent ids can name a directory: Strands' rule (no `/`) and the ones it
//! should have.

use super::error::SessionErrorKind;

/// The agent id Strands uses when none is given.
pub const DEFAULT_AGENT_ID: &str = "default";

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
}
