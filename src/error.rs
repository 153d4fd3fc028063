//! The error a handler returns, and how it reaches the client.
//!
//! Shaped like the Python SDK's: a handler error becomes `{"error": "<message>"}` with status 500,
//! an HTTP error (`HTTPException(code, detail)` in Python) keeps its status. Optional `details`
//! add a second key, as the SDK's own `{"error":"Invalid JSON","details":...}` does. The
//! conversion to bytes happens in one place, `http::response`.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

/// An error returned by an entrypoint, ping or websocket handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    status: u16,
    message: String,
    error_type: Cow<'static, str>,
    details: Option<Value>,
}

impl Error {
    /// A handler failure: status 500, body `{"error": message}` (Python: a raised exception).
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            status: 500,
            message: message.into(),
            error_type: Cow::Borrowed("Error"),
            details: None,
        }
    }

    /// An error with its own HTTP status (Python: `HTTPException(status, detail)`).
    /// Statuses outside 400..=599 are treated as 500.
    pub fn http(status: u16, message: impl Into<String>) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        Error {
            status,
            ..Error::new(message)
        }
    }

    /// 400 Bad Request with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::http(400, message)
    }

    /// Adds a `details` value next to `error` in the JSON body.
    pub fn with_details(mut self, details: impl Into<Value>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Names the error kind; it appears as `error_type` in the SSE error event (Python puts the
    /// exception class name there).
    pub fn with_type(mut self, error_type: impl Into<Cow<'static, str>>) -> Self {
        self.error_type = error_type.into();
        self
    }

    /// HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `error` text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error kind name (`error_type` in SSE error events).
    pub fn error_type(&self) -> &str {
        &self.error_type
    }

    /// The optional `details` value.
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
