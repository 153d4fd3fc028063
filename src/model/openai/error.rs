//! Provider errors: reading OpenAI's error JSON and classifying it as Strands 1.62 does.
//!
//! Throttling is checked first (status 429, code `rate_limit_exceeded`, or a rate-limit phrase),
//! then context overflow (code `context_length_exceeded` or one of the phrases providers use);
//! anything else is a plain provider error carrying the status, message and JSON body (spec §2.3).
//! Like Strands, which matches against `str(error)` (status and the whole body), the phrases are
//! looked for in the message and in the raw body.
//!
//! Some OpenAI-compatible providers echo what they were sent (the API key in a 401, a header in a
//! 400). Errors leave the model client through [`Secrets::redact_error`], so the key and the
//! configured extra header values never reach a client's error body or a log line.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::model::{Cause, ModelError};

/// Phrases (lowercase) that mark a context-window overflow.
const OVERFLOW_PHRASES: &[&str] = &[
    "maximum context length",
    "context_length_exceeded",
    "too many tokens",
    "context length",
    "input is too long for requested model",
    "input length and `max_tokens` exceed context limit",
    "too many total text bytes",
    "exceeds the max_model_len",
];

/// Phrases (lowercase) that mark throttling.
const THROTTLE_PHRASES: &[&str] = &["rate_limit_exceeded", "rate limit", "too many requests"];

/// How long an error body may be before we stop reading it (it only feeds a message).
pub const MAX_ERROR_BODY: usize = 1 << 20;

/// The longest provider message or body excerpt we put into an error.
const MAX_MESSAGE_CHARS: usize = 2000;

/// What an error says about itself, from its JSON (`{"error": {"message", "type", "code"}}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorDetails {
    /// `error.message`, or the body text when there is no such field.
    pub message: String,
    /// `error.code` when it is a string.
    pub code: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The raw body text (lossy UTF-8), for phrase matching.
    pub raw: String,
}

impl ErrorDetails {
    /// Reads an error body (OpenAI's shape, or anything else).
    pub fn from_body(bytes: &[u8]) -> Self {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let body: Option<Value> = serde_json::from_slice(bytes).ok();
        let error = body
            .as_ref()
            .and_then(|b| b.get("error"))
            .filter(|e| e.is_object());
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                body.as_ref()
                    .and_then(|b| b.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .or_else(|| {
                body.as_ref()
                    .and_then(|b| b.get("error"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| raw.trim().to_string());
        let code = error_code(error);
        ErrorDetails {
            message: shorten(&message),
            code,
            body,
            raw,
        }
    }

    /// From an `{"error": ...}` object sent inside a stream (the openai SDK raises on these).
    pub fn from_stream_chunk(chunk: &Value) -> Self {
        let raw = chunk.to_string();
        let error = chunk.get("error");
        let message = match error {
            Some(Value::Object(e)) => e.get("message").and_then(Value::as_str).map(str::to_string),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "An error occurred during streaming".to_string());
        let code = error_code(error);
        ErrorDetails {
            message: shorten(&message),
            code,
            body: Some(chunk.clone()),
            raw,
        }
    }
}

/// The `ModelError` for a failed call with this HTTP status (`None` for an error inside a
/// 200 stream) and these details.
pub fn classify(status: Option<u16>, details: ErrorDetails) -> ModelError {
    let code = details
        .code
        .as_deref()
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let haystack = format!("{}\n{}", details.message, details.raw).to_lowercase();
    if status == Some(429)
        || code == "rate_limit_exceeded"
        || THROTTLE_PHRASES.iter().any(|p| haystack.contains(p))
    {
        return ModelError::Throttled {
            message: details.message,
        };
    }
    if is_overflow(&code, &haystack) {
        return ModelError::ContextOverflow {
            message: details.message,
        };
    }
    ModelError::Provider {
        status: status.unwrap_or(200),
        message: details.message,
        body: details.body,
    }
}

/// True for an overflow code or message (`text` already lowercase).
fn is_overflow(code: &str, text: &str) -> bool {
    code == "context_length_exceeded"
        || OVERFLOW_PHRASES.iter().any(|p| text.contains(p))
        || mentions_model_maximum(text)
}

/// `re.search(r"exceed(?:s|ed)?(?: customer)? model maximum", text)` without a regex engine.
fn mentions_model_maximum(text: &str) -> bool {
    text.match_indices("exceed").any(|(at, word)| {
        let rest = &text[at + word.len()..];
        ["", "s", "ed"].iter().any(|suffix| {
            rest.strip_prefix(suffix)
                .is_some_and(|r| r.starts_with(" model maximum") || r.starts_with(" customer model maximum"))
        })
    })
}

/// Statuses the openai SDK retries (and so do we): 408, 409, 429 and 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// A server's retry hint: `retry-after-ms` (milliseconds) or `Retry-After` (seconds, possibly
/// fractional). HTTP-date values are not understood and ignored.
pub fn retry_after(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Option<Duration> {
    let parse = |v: &str, scale: f64| {
        v.trim()
            .parse::<f64>()
            .ok()
            .and_then(|n| Duration::try_from_secs_f64(n / scale).ok())
    };
    retry_after_ms
        .and_then(|v| parse(v, 1000.0))
        .or_else(|| retry_after.and_then(|v| parse(v, 1.0)))
}

/// What stands in for a secret in error messages and provider bodies.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not redacted: replacing every occurrence of a two-letter header
/// value would garble messages, and so short a value protects nothing.
pub const MIN_SECRET_CHARS: usize = 8;

/// Values that must not appear in an error: the API key and the extra header values.
#[derive(Clone, Default, PartialEq)]
pub struct Secrets(Vec<String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    /// The values worth hiding, longest first (so a secret containing another goes whole).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.chars().count() >= MIN_SECRET_CHARS)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets(values)
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Every string (keys included) of `value` redacted; numbers are left as they are.
    pub fn redact_value(&self, value: Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact_text(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.redact_text(&k), self.redact_value(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// The cause itself when its text holds no secret, else its redacted text (the original
    /// type is lost then: better than a key in someone's error chain).
    fn redact_cause(&self, cause: Cause) -> Cause {
        let text = cause.to_string();
        let redacted = self.redact_text(&text);
        if redacted == text {
            cause
        } else {
            Arc::new(RedactedCause(redacted))
        }
    }

    /// The error with its messages, provider body and cause redacted.
    pub fn redact_error(&self, error: ModelError) -> ModelError {
        if self.0.is_empty() {
            return error;
        }
        match error {
            ModelError::ContextOverflow { message } => ModelError::ContextOverflow {
                message: self.redact_text(&message),
            },
            ModelError::Throttled { message } => ModelError::Throttled {
                message: self.redact_text(&message),
            },
            ModelError::Provider {
                status,
                message,
                body,
            } => ModelError::Provider {
                status,
                message: self.redact_text(&message),
                body: body.map(|b| self.redact_value(b)),
            },
            ModelError::Transport { message, cause } => ModelError::Transport {
                message: self.redact_text(&message),
                cause: cause.map(|cause| self.redact_cause(cause)),
            },
            ModelError::InvalidResponse { message } => ModelError::InvalidResponse {
                message: self.redact_text(&message),
            },
            other @ (ModelError::Timeout { .. }
            | ModelError::NotConfigured { .. }
            | ModelError::Cancelled) => other,
        }
    }
}

/// A cause whose text had to be redacted.
#[derive(Debug)]
struct RedactedCause(String);

impl std::fmt::Display for RedactedCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedactedCause {}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

/// OpenAI's `error.code` (`"context_length_exceeded"`, ...), when it is a string.
fn error_code(error: Option<&Value>) -> Option<String> {
    error
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(message: &str, code: Option<&str>) -> Vec<u8> {
        serde_json::to_vec(&json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}}))
            .unwrap()
    }

    fn kind(status: u16, message: &str, code: Option<&str>) -> &'static str {
        match classify(Some(status), ErrorDetails::from_body(&body(message, code))) {
            ModelError::Throttled { .. } => "throttled",
            ModelError::ContextOverflow { .. } => "overflow",
            ModelError::Provider { .. } => "provider",
            _ => "other",
        }
    }

    #[test]
    fn overflow_phrases_from_providers() {
        let overflow = [
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
            "Input is too long for requested model.",
            "input length and `max_tokens` exceed context limit",
            "too many total text bytes",
            "prompt exceeds the max_model_len of 4096",
            "Request exceeds customer model maximum",
            "Prompt exceed model maximum tokens",
            "tokens exceeded model maximum",
            "Too many tokens in request",
            "The context length is 8k",
        ];
        for m in overflow {
            assert_eq!(kind(400, m, None), "overflow", "{m}");
        }
        assert_eq!(kind(400, "whatever", Some("context_length_exceeded")), "overflow");
        assert_eq!(kind(500, "context length exceeded upstream", None), "overflow");
        assert_eq!(kind(400, "exceedingly model maximum", None), "provider");
        assert_eq!(kind(400, "Invalid 'messages'", None), "provider");
    }

    #[test]
    fn throttling_is_checked_first() {
        assert_eq!(kind(429, "maximum context length", None), "throttled");
        assert_eq!(kind(400, "Rate limit reached for gpt-4o", None), "throttled");
        assert_eq!(kind(503, "Too Many Requests", None), "throttled");
        assert_eq!(kind(400, "x", Some("rate_limit_exceeded")), "throttled");
    }

    #[test]
    fn provider_errors_keep_status_message_and_body() {
        let e = classify(
            Some(500),
            ErrorDetails::from_body(&body("upstream exploded", None)),
        );
        let ModelError::Provider {
            status,
            message,
            body: Some(b),
        } = e
        else {
            panic!("{e:?}")
        };
        assert_eq!((status, message.as_str()), (500, "upstream exploded"));
        assert_eq!(b["error"]["type"], json!("invalid_request_error"));
        let e = classify(Some(502), ErrorDetails::from_body(b"<html>Bad gateway</html>"));
        assert_eq!(
            e,
            ModelError::Provider {
                status: 502,
                message: "<html>Bad gateway</html>".into(),
                body: None
            }
        );
    }

    #[test]
    fn secrets_are_redacted_from_messages_and_bodies() {
        let secrets = Secrets::new(["sk-live-1234567890".to_string(), "short".to_string()]);
        let echoed = "Incorrect API key provided: sk-live-1234567890 (short)";
        let e = classify(
            Some(401),
            ErrorDetails::from_body(&body(echoed, Some("invalid_api_key"))),
        );
        let ModelError::Provider {
            message,
            body: Some(b),
            ..
        } = secrets.redact_error(e)
        else {
            panic!()
        };
        assert_eq!(message, "Incorrect API key provided: [REDACTED] (short)");
        assert_eq!(
            b["error"]["message"],
            json!("Incorrect API key provided: [REDACTED] (short)")
        );
        assert_eq!(b["error"]["code"], json!("invalid_api_key"));
        assert_eq!(
            secrets.redact_error(ModelError::Throttled {
                message: "key sk-live-1234567890 is rate limited".into()
            }),
            ModelError::Throttled {
                message: "key [REDACTED] is rate limited".into()
            }
        );
        // Longest first: a secret that contains another is hidden whole.
        let nested = Secrets::new(["abcdefgh".to_string(), "xxabcdefghxx".to_string()]);
        assert_eq!(
            nested.redact_text("[xxabcdefghxx|abcdefgh]"),
            "[[REDACTED]|[REDACTED]]"
        );
        assert_eq!(format!("{nested:?}"), "Secrets(2 values)");
        assert_eq!(Secrets::new([]).redact_text("anything"), "anything");
    }

    #[test]
    fn causes_are_kept_unless_their_text_holds_a_secret() {
        use std::error::Error as _;
        let secrets = Secrets::new(["sk-live-1234567890".to_string()]);
        let transport = |cause: &str| ModelError::Transport {
            message: "POST x: connection error".into(),
            cause: Some(Arc::new(std::io::Error::other(cause.to_string()))),
        };
        let kept = secrets.redact_error(transport("reset by peer"));
        let cause = kept.source().unwrap();
        assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause:?}");
        let redacted = secrets.redact_error(transport("bad key sk-live-1234567890"));
        assert_eq!(redacted.source().unwrap().to_string(), "bad key [REDACTED]");
        // Equality looks at what the error says, not at its cause.
        assert_eq!(kept, redacted);
    }

    #[test]
    fn timeout_texts_name_the_phase_as_before() {
        use crate::model::TimeoutPhase;
        let texts: Vec<String> = [
            TimeoutPhase::Connect,
            TimeoutPhase::FirstByte,
            TimeoutPhase::StreamIdle,
            TimeoutPhase::Total,
        ]
        .into_iter()
        .map(|phase| {
            ModelError::Timeout {
                phase,
                after: Duration::from_millis(1500),
            }
            .to_string()
        })
        .collect();
        assert_eq!(
            texts,
            [
                "model call timed out (connect timeout, 1500 ms)",
                "model call timed out (first byte timeout, 1500 ms)",
                "model call timed out (stream idle timeout, 1500 ms)",
                "model call timed out (overall timeout, 1500 ms)",
            ]
        );
    }

    #[test]
    fn retry_hints() {
        assert_eq!(retry_after(None, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(Some("250"), Some("2")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(None, Some("0.5")), Some(Duration::from_millis(500)));
        assert_eq!(retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None, Some("-1")), None);
        assert!(is_retryable_status(408) && is_retryable_status(429) && is_retryable_status(503));
        assert!(!is_retryable_status(400) && !is_retryable_status(401) && !is_retryable_status(404));
    }
}
