//! Why a session operation failed: [`SessionError`] names the session and the file, and keeps the
//! underlying error (an [`io::Error`], a JSON parser's error) as its [`source`](Error::source).

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a session file's contents failed on, kept behind an `Arc` so errors stay `Clone`.
pub type Cause = Arc<dyn Error + Send + Sync + 'static>;

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
///
/// Equality compares what a caller can act on: the variant, its fields, and for the kept
/// errors their kind and text.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SessionErrorKind {
    /// The session or agent id cannot name a directory (see [`super::validate_session_id`]).
    InvalidId {
        /// `"session"` or `"agent"`.
        what: &'static str,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The file system refused (permission, no space, missing directory, ...).
    Io {
        /// The OS error kind (`error.kind()`), here so callers can match ENOSPC or EACCES.
        kind: io::ErrorKind,
        /// The OS error itself; also the [`SessionError`]'s source.
        error: Arc<io::Error>,
    },
    /// A session file is not what Strands writes (bad JSON, missing key, wrong type). The
    /// session is left alone: nothing is reset or rewritten.
    Corrupt {
        /// What is wrong, including the parser's message when parsing failed.
        detail: String,
        /// The parser's (or decoder's) error when there is one; also the [`SessionError`]'s
        /// source.
        cause: Option<Cause>,
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
    /// A remote store (S3) refused a call or could not be reached, retries included.
    Backend {
        /// `"S3"`.
        store: &'static str,
        /// The call and its answer: `PUT failed: 403 AccessDenied (Access Denied)`.
        detail: String,
        /// The HTTP status of the last answer, when there was one.
        status: Option<u16>,
        /// Throttling, 5xx or transport trouble: trying later may work.
        unavailable: bool,
    },
    /// A conditional write lost to another writer of the session (another replica): the object
    /// was created or replaced after we read. Nothing of ours was written over it.
    Conflict {
        /// What was being written.
        detail: String,
    },
}

impl SessionErrorKind {
    /// An [`SessionErrorKind::Io`] keeping `error`.
    pub fn io(error: io::Error) -> Self {
        SessionErrorKind::Io {
            kind: error.kind(),
            error: Arc::new(error),
        }
    }

    /// A [`SessionErrorKind::Corrupt`] without an underlying error.
    pub fn corrupt(detail: impl Into<String>) -> Self {
        SessionErrorKind::Corrupt {
            detail: detail.into(),
            cause: None,
        }
    }

    /// A [`SessionErrorKind::Corrupt`] caused by `cause`.
    pub fn corrupt_by(detail: impl Into<String>, cause: impl Error + Send + Sync + 'static) -> Self {
        SessionErrorKind::Corrupt {
            detail: detail.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl PartialEq for SessionErrorKind {
    fn eq(&self, other: &Self) -> bool {
        use SessionErrorKind as K;
        let text = |cause: &Option<Cause>| cause.as_ref().map(ToString::to_string);
        match (self, other) {
            (K::InvalidId { what, reason }, K::InvalidId { what: w, reason: r }) => what == w && reason == r,
            (K::Io { kind, error }, K::Io { kind: k, error: e }) => {
                kind == k && error.to_string() == e.to_string()
            }
            (K::Corrupt { detail, cause }, K::Corrupt { detail: d, cause: c }) => {
                detail == d && text(cause) == text(c)
            }
            (K::SymlinkRefused, K::SymlinkRefused) | (K::MissingSessionRecord, K::MissingSessionRecord) => {
                true
            }
            (K::LockTimeout { waited }, K::LockTimeout { waited: w }) => waited == w,
            (
                K::Backend {
                    store,
                    detail,
                    status,
                    unavailable,
                },
                K::Backend {
                    store: s,
                    detail: d,
                    status: st,
                    unavailable: u,
                },
            ) => store == s && detail == d && status == st && unavailable == u,
            (K::Conflict { detail }, K::Conflict { detail: d }) => detail == d,
            (
                K::ManagerMismatch { expected, found },
                K::ManagerMismatch {
                    expected: e,
                    found: f,
                },
            ) => expected == e && found == f,
            _ => false,
        }
    }
}

impl SessionError {
    /// An error about `session_id` (and the file at `path`, when there is one).
    pub fn new(session_id: &str, path: Option<PathBuf>, kind: SessionErrorKind) -> Self {
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
            SessionErrorKind::Io { error, .. } => write!(f, "i/o error: {error}"),
            SessionErrorKind::Corrupt { detail, .. } => write!(f, "corrupt session file: {detail}"),
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
            SessionErrorKind::Backend { store, detail, .. } => write!(f, "{store} session store: {detail}"),
            SessionErrorKind::Conflict { detail } => {
                write!(f, "another writer changed the session: {detail}")
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

impl Error for SessionError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            SessionErrorKind::Io { error, .. } => Some(error.as_ref()),
            SessionErrorKind::Corrupt {
                cause: Some(cause), ..
            } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_session_and_path() {
        let e = SessionError::new(
            "s1",
            Some(PathBuf::from("/r/session_s1/session.json")),
            SessionErrorKind::corrupt("expected value at line 1 column 1"),
        );
        assert_eq!(
            e.to_string(),
            "session \"s1\": corrupt session file: expected value at line 1 column 1 (/r/session_s1/session.json)"
        );
    }

    #[test]
    fn causes_are_kept_as_sources() {
        let e = SessionError::new(
            "s",
            None,
            SessionErrorKind::io(io::Error::new(io::ErrorKind::StorageFull, "no space left")),
        );
        assert_eq!(e.to_string(), "session \"s\": i/o error: no space left");
        let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(source.map(io::Error::kind), Some(io::ErrorKind::StorageFull));

        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let e = SessionError::new(
            "s",
            None,
            SessionErrorKind::corrupt_by(format!("invalid JSON: {json}"), json),
        );
        assert!(e.source().is_some_and(|s| s.is::<serde_json::Error>()));
        assert_eq!(e.clone(), e);
        assert!(
            SessionError::new("s", None, SessionErrorKind::corrupt("x"))
                .source()
                .is_none()
        );
    }
}
