//! The error a handler returns, and the bytes it becomes on the wire.
//!
//! Shaped like the Python SDK's: a handler error becomes `{"error": "<message>"}` with status 500,
//! an HTTP error (`HTTPException(code, detail)` in Python) keeps its status. Optional `details`
//! add a second key, as the SDK's own `{"error":"Invalid JSON","details":...}` does.
//!
//! This module is the one place where an error is rendered, in the three forms the contract has:
//!
//! | form | where | bytes |
//! |---|---|---|
//! | [`Error::json_body`] | an error response's body | `{"error":"boom","details":...}` (compact, Starlette's `JSONResponse`) |
//! | [`Error::sse_event`] | the last SSE event of a failed stream | `{"error": "boom", "error_type": "ValueError", "message": "An error occurred during streaming"}` (the SDK's, `json.dumps` spacing) |
//! | [`Error::agent_event`] | the agent's failed SSE stream or `/ws` answer | `{"type": "error", "error": ..., "error_type": ..., "message": ..., "status": 502, "details"?: ...}` (`json.dumps` spacing) |
//!
//! Handlers use `?` on the errors they naturally hit: `From` impls exist for
//! [`std::io::Error`], [`serde_json::Error`] and [`crate::pyjson::BodyError`] here, for the
//! app's own [`crate::app::WsError`] and [`crate::app::Disconnected`], and for
//! [`crate::agent::AgentError`] (in `app::agent_errors`). Anything else goes through
//! [`Error::other`]. The original error stays reachable through
//! [`std::error::Error::source`]; it never changes the message or the body.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::pyjson::{self, BodyError};

/// The `message` of the SDK's SSE error event.
const STREAM_ERROR_MESSAGE: &str = "An error occurred during streaming";

/// An error returned by an entrypoint, ping or websocket handler.
///
/// ```
/// use agentcore_rt::Error;
///
/// let e = Error::http(418, "teapot detail").with_details("short and stout");
/// assert_eq!((e.status(), e.message()), (418, "teapot detail"));
/// assert_eq!(e.json_body(), r#"{"error":"teapot detail","details":"short and stout"}"#);
/// ```
///
/// Equality compares what the client sees (status, message, type, details), not the source.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

// Boxed: results carrying an Error stay one pointer wide on the happy path.
#[derive(Debug, Clone)]
struct Inner {
    status: u16,
    message: String,
    error_type: Cow<'static, str>,
    details: Option<Value>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// A handler failure: status 500, body `{"error": message}` (Python: a raised exception).
    pub fn new(message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            status: 500,
            message: message.into(),
            error_type: Cow::Borrowed("Error"),
            details: None,
            source: None,
        }))
    }

    /// An error with its own HTTP status (Python: `HTTPException(status, detail)`).
    /// Statuses outside 400..=599 are treated as 500.
    ///
    /// ```
    /// use agentcore_rt::Error;
    ///
    /// assert_eq!(Error::http(404, "no such thing").status(), 404);
    /// assert_eq!(Error::http(200, "not an error status").status(), 500);
    /// ```
    pub fn http(status: u16, message: impl Into<String>) -> Self {
        let mut error = Error::new(message);
        error.0.status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        error
    }

    /// 400 Bad Request with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::http(400, message)
    }

    /// Any other error as a handler failure: status 500, its `Display` text as the message,
    /// itself as the [`source`](std::error::Error::source) (Python: an uncaught exception).
    ///
    /// ```
    /// use agentcore_rt::Error;
    ///
    /// fn parse(n: &str) -> Result<u32, Error> {
    ///     n.parse::<u32>().map_err(Error::other)
    /// }
    /// let e = parse("x").unwrap_err();
    /// assert_eq!((e.status(), e.message()), (500, "invalid digit found in string"));
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn other(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::new(source.to_string()).with_source(source)
    }

    /// Adds a `details` value next to `error` in the JSON body.
    pub fn with_details(mut self, details: impl Into<Value>) -> Self {
        self.0.details = Some(details.into());
        self
    }

    /// Names the error kind; it appears as `error_type` in the SSE error event (Python puts the
    /// exception class name there).
    pub fn with_type(mut self, error_type: impl Into<Cow<'static, str>>) -> Self {
        self.0.error_type = error_type.into();
        self
    }

    /// Keeps `source` as the cause, for logs and [`std::error::Error::source`]; the message,
    /// status and body do not change.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.0.source = Some(Arc::new(source));
        self
    }

    /// HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The `error` text.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The error kind name (`error_type` in SSE error events).
    pub fn error_type(&self) -> &str {
        &self.0.error_type
    }

    /// The optional `details` value.
    pub fn details(&self) -> Option<&Value> {
        self.0.details.as_ref()
    }

    /// The body of an error response: `{"error":<message>}`, plus `"details"` when present,
    /// compact as Starlette's `JSONResponse` writes it.
    pub fn json_body(&self) -> String {
        let mut body = Map::new();
        body.insert("error".into(), self.message().into());
        if let Some(details) = self.details() {
            body.insert("details".into(), details.clone());
        }
        pyjson::to_string_compact(&Value::Object(body))
    }

    /// The event the SDK sends when a stream fails midway (the status is already 200), as its
    /// `json.dumps` writes it:
    /// `{"error": <message>, "error_type": <type>, "message": "An error occurred during streaming"}`.
    ///
    /// ```
    /// use agentcore_rt::Error;
    ///
    /// let e = Error::new("stream exploded").with_type("RuntimeError");
    /// assert_eq!(
    ///     e.sse_event(),
    ///     r#"{"error": "stream exploded", "error_type": "RuntimeError", "message": "An error occurred during streaming"}"#
    /// );
    /// ```
    pub fn sse_event(&self) -> String {
        let mut event = Map::new();
        event.insert("error".into(), self.message().into());
        event.insert("error_type".into(), self.error_type().into());
        event.insert("message".into(), STREAM_ERROR_MESSAGE.into());
        pyjson::to_string(&Value::Object(event))
    }

    /// The agent's error event (its SSE streams and `/ws` answers): the SDK's
    /// [`sse_event`](Error::sse_event) with `"type": "error"` first, then `status` (the HTTP
    /// status a JSON invocation would have got) and `details` when present.
    ///
    /// ```
    /// use agentcore_rt::Error;
    ///
    /// let e = Error::bad_request("Missing required field: query").with_type("ValueError");
    /// assert_eq!(
    ///     e.agent_event(),
    ///     r#"{"type": "error", "error": "Missing required field: query", "error_type": "ValueError", "message": "An error occurred during streaming", "status": 400}"#
    /// );
    /// ```
    pub fn agent_event(&self) -> String {
        let mut event = Map::new();
        event.insert("type".into(), "error".into());
        event.insert("error".into(), self.message().into());
        event.insert("error_type".into(), self.error_type().into());
        event.insert("message".into(), STREAM_ERROR_MESSAGE.into());
        event.insert("status".into(), self.status().into());
        if let Some(details) = self.details() {
            event.insert("details".into(), details.clone());
        }
        pyjson::to_string(&Value::Object(event))
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        (a.status, &a.message, &a.error_type, &a.details) == (b.status, &b.message, &b.error_type, &b.details)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source: &(dyn std::error::Error + 'static) = self.0.source.as_deref()?;
        Some(source)
    }
}

/// 500 with the I/O error's text, typed `OSError` (what Python raises).
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string()).with_type("OSError").with_source(e)
    }
}

/// 500 with serde's text: typed `JSONDecodeError` for malformed JSON, `TypeError` for a value
/// that does not fit (Python's `json` raises those), `OSError` for I/O.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        let error_type = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "JSONDecodeError",
            serde_json::error::Category::Data => "TypeError",
            serde_json::error::Category::Io => "OSError",
        };
        Error::new(e.to_string()).with_type(error_type).with_source(e)
    }
}

/// What `POST /invocations` answers for a body that is not JSON: 400 `Invalid JSON` /
/// `Invalid encoding` with Python's text as `details` (the SDK's answer).
impl From<BodyError> for Error {
    fn from(e: BodyError) -> Self {
        let error = match &e {
            BodyError::InvalidJson { details } => {
                Error::bad_request("Invalid JSON").with_details(details.clone())
            }
            BodyError::InvalidEncoding { details } => {
                Error::bad_request("Invalid encoding").with_details(details.clone())
            }
            BodyError::TooDeep { max_depth } => Error::bad_request("Invalid JSON")
                .with_details(format!("nesting deeper than {max_depth} levels (MAX_JSON_DEPTH)")),
        };
        error.with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_and_events_have_the_sdk_bytes() {
        let plain = Error::new("boom");
        assert_eq!(plain.json_body(), r#"{"error":"boom"}"#);
        let detailed = Error::bad_request("Invalid JSON").with_details(json!({"at": [1, 2]}));
        assert_eq!(
            detailed.json_body(),
            r#"{"error":"Invalid JSON","details":{"at":[1,2]}}"#
        );
        assert_eq!(
            Error::new("é\n").sse_event(),
            "{\"error\": \"é\\n\", \"error_type\": \"Error\", \"message\": \"An error occurred during streaming\"}"
        );
        assert_eq!(
            Error::http(502, "upstream")
                .with_type("ModelError")
                .with_details(json!({"code": 1}))
                .agent_event(),
            r#"{"type": "error", "error": "upstream", "error_type": "ModelError", "message": "An error occurred during streaming", "status": 502, "details": {"code": 1}}"#
        );
    }

    #[test]
    fn conversions_keep_the_cause_and_not_the_wire() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::from(io);
        assert_eq!(
            (e.status(), e.message(), e.error_type()),
            (500, "gone", "OSError")
        );
        let source = std::error::Error::source(&e).unwrap();
        assert!(source.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(
            e,
            Error::new("gone").with_type("OSError"),
            "equality ignores the source"
        );

        let syntax = serde_json::from_str::<Value>("{").unwrap_err();
        assert_eq!(Error::from(syntax).error_type(), "JSONDecodeError");
        let data = serde_json::from_value::<u8>(json!("x")).unwrap_err();
        assert_eq!(Error::from(data).error_type(), "TypeError");

        let deep = Error::from(BodyError::TooDeep { max_depth: 3 });
        assert_eq!(
            deep.json_body(),
            r#"{"error":"Invalid JSON","details":"nesting deeper than 3 levels (MAX_JSON_DEPTH)"}"#
        );
        assert!(std::error::Error::source(&deep).is_some());
        assert!(std::error::Error::source(&Error::new("x")).is_none());
    }
}
