//! How the runtime reports an [`AgentError`]: the HTTP status, the `error_type`, the body.
//!
//! The agent only says what went wrong; this table decides what the client is told. A JSON
//! invocation answers `{"error": <the AgentError's Display text>}` with the status; a streamed
//! one (SSE or `/ws`) ends with [`Error::agent_event`], which carries both.
//!
//! | variant | status | `error_type` |
//! |---|---|---|
//! | `InvalidInput` | 400 | `ValueError` |
//! | `Session`, invalid session/agent id | 400 | `ValueError` |
//! | `Session`, lock not acquired in time (another invocation of the session runs) | 409 | `ConcurrencyException` |
//! | `Session`, a conditional write lost to another replica (S3 store) | 409 | `ConcurrencyException` |
//! | `Session`, the S3 store throttled, failing (5xx) or unreachable, after retries | 503 | `SessionException` |
//! | `Session`, anything else (I/O, corrupt file, symlink, S3 refusing) | 500 | `SessionException` |
//! | `Model`, provider error status, transport, invalid response | 502 | `ModelError` |
//! | `Model`, throttled | 502 | `ModelThrottledException` |
//! | `Model`, timeout | 504 | `ModelError` |
//! | `Model`, cancelled | 503 | `ModelError` |
//! | `Model`, no model configured (Bedrock without AWS credentials) | 503 | `ModelNotConfigured` |
//! | `Model`, context overflow | 500 | `ModelError` |
//! | `ToolsUnavailable` (an MCP server did not start, duplicate tool names) | 503 | `ToolProviderException` |
//! | `StructuredOutput` | 500 | `StructuredOutputException` |
//! | `ContextOverflow` | 500 | `ContextWindowOverflowException` |
//! | `MaxTokensReached` | 500 | `MaxTokensReachedException` |
//! | `Cancelled` | 503 | `CancelledError` |
//! | `InvalidConfig` | 500 | `ConfigurationError` |
//!
//! The Python runtime answers 500 for every exception; the other statuses are ours, so clients
//! can tell their own mistakes (4xx) from upstream trouble (502/503/504). The `error_type` is
//! Strands' exception class name where it has one. A provider's own JSON error body goes into
//! `details`.

use crate::agent::AgentError;
use crate::error::Error;
use crate::model::ModelError;
use crate::session::SessionErrorKind;

/// The status and `error_type` the runtime reports for `e` (the table above).
///
/// ```
/// use agentcore_rt::agent::AgentError;
/// use agentcore_rt::app::agent_errors::status_and_type;
///
/// assert_eq!(status_and_type(&AgentError::Cancelled), (503, "CancelledError"));
/// ```
pub fn status_and_type(e: &AgentError) -> (u16, &'static str) {
    match e {
        AgentError::InvalidInput { .. } => (400, "ValueError"),
        AgentError::Session(e) => match e.kind {
            SessionErrorKind::InvalidId { .. } => (400, "ValueError"),
            SessionErrorKind::LockTimeout { .. } | SessionErrorKind::Conflict { .. } => {
                (409, "ConcurrencyException")
            }
            SessionErrorKind::Backend {
                unavailable: true, ..
            } => (503, "SessionException"),
            _ => (500, "SessionException"),
        },
        AgentError::Model(e) => match e {
            ModelError::Throttled { .. } => (502, "ModelThrottledException"),
            ModelError::Provider { .. }
            | ModelError::Transport { .. }
            | ModelError::InvalidResponse { .. } => (502, "ModelError"),
            ModelError::Timeout { .. } => (504, "ModelError"),
            ModelError::Cancelled => (503, "ModelError"),
            ModelError::ContextOverflow { .. } => (500, "ModelError"),
            // As the entrypoint answers when no model is configured at all: at call time this
            // is Bedrock without AWS credentials, which the operator (or a credential endpoint
            // coming back) fixes, not the caller.
            ModelError::NotConfigured { .. } => (503, "ModelNotConfigured"),
        },
        AgentError::ToolsUnavailable(_) => (503, "ToolProviderException"),
        AgentError::StructuredOutput { .. } => (500, "StructuredOutputException"),
        AgentError::ContextOverflow { .. } => (500, "ContextWindowOverflowException"),
        AgentError::MaxTokensReached => (500, "MaxTokensReachedException"),
        AgentError::Cancelled => (503, "CancelledError"),
        AgentError::InvalidConfig { .. } => (500, "ConfigurationError"),
    }
}

/// `{"error": <Display text>}` with the table's status and `error_type`, the provider's error
/// body as `details` when it sent one, and the `AgentError` as the source. `?` on an agent
/// call in a handler goes through here.
impl From<AgentError> for Error {
    fn from(e: AgentError) -> Self {
        let (status, error_type) = status_and_type(&e);
        let mut error = Error::http(status, e.to_string()).with_type(error_type);
        if let AgentError::Model(ModelError::Provider { body: Some(body), .. }) = &e {
            error = error.with_details(body.clone());
        }
        error.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::session::SessionError;

    fn session(kind: SessionErrorKind) -> AgentError {
        AgentError::Session(SessionError::new("s", Some(PathBuf::from("/x")), kind))
    }

    #[test]
    fn statuses_and_kinds() {
        let cases: Vec<(AgentError, u16, &str)> = vec![
            (
                session(SessionErrorKind::InvalidId {
                    what: "session",
                    reason: "it is empty",
                }),
                400,
                "ValueError",
            ),
            (
                session(SessionErrorKind::LockTimeout {
                    waited: Duration::from_secs(1),
                }),
                409,
                "ConcurrencyException",
            ),
            (session(SessionErrorKind::SymlinkRefused), 500, "SessionException"),
            (
                session(SessionErrorKind::Conflict { detail: "x".into() }),
                409,
                "ConcurrencyException",
            ),
            (
                session(SessionErrorKind::Backend {
                    store: "S3",
                    detail: "PUT failed: 503 SlowDown after 4 attempts".into(),
                    status: Some(503),
                    unavailable: true,
                }),
                503,
                "SessionException",
            ),
            (
                session(SessionErrorKind::Backend {
                    store: "S3",
                    detail: "GET failed: 403 AccessDenied".into(),
                    status: Some(403),
                    unavailable: false,
                }),
                500,
                "SessionException",
            ),
            (
                AgentError::Model(ModelError::Provider {
                    status: 500,
                    message: "upstream exploded".into(),
                    body: None,
                }),
                502,
                "ModelError",
            ),
            (
                AgentError::Model(ModelError::Throttled {
                    message: "slow".into(),
                }),
                502,
                "ModelThrottledException",
            ),
            (
                AgentError::Model(ModelError::Timeout {
                    phase: crate::model::TimeoutPhase::FirstByte,
                    after: Duration::from_secs(1),
                }),
                504,
                "ModelError",
            ),
            (AgentError::MaxTokensReached, 500, "MaxTokensReachedException"),
            (AgentError::Cancelled, 503, "CancelledError"),
        ];
        for (error, status, kind) in cases {
            assert_eq!(status_and_type(&error), (status, kind), "{error}");
            let http: Error = error.clone().into();
            assert_eq!(
                (http.status(), http.error_type(), http.message()),
                (status, kind, error.to_string().as_str())
            );
            let source = std::error::Error::source(&http).and_then(|s| s.downcast_ref::<AgentError>());
            assert_eq!(source, Some(&error));
            assert_eq!(http.details(), None);
        }
    }

    #[test]
    fn a_provider_body_becomes_details() {
        let body = json!({"error": {"message": "bad key", "code": "invalid_api_key"}});
        let error = Error::from(AgentError::Model(ModelError::Provider {
            status: 401,
            message: "bad key".into(),
            body: Some(body.clone()),
        }));
        assert_eq!((error.status(), error.details()), (502, Some(&body)));
    }
}
