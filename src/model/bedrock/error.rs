//! Bedrock's errors: what the service answered (an HTTP status with `x-amzn-ErrorType` and a
//! JSON `message`, or an exception frame inside the stream), classified as Strands 1.62's
//! `BedrockModel` does, plus what the client does about it (retry, refresh credentials).

use serde_json::Value;

use crate::model::ModelError;

/// Strands' `BEDROCK_CONTEXT_WINDOW_OVERFLOW_MESSAGES` (matched case-sensitively, as there).
const OVERFLOW_MESSAGES: &[&str] = &[
    "Input is too long for requested model",
    "input length and `max_tokens` exceed context limit",
    "too many total text bytes",
    "prompt is too long",
    "This model's maximum context length is",
];

/// An AWS error: its code (`ThrottlingException`, ...) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    /// The error code, without namespace or URL.
    pub code: String,
    /// The service's message.
    pub message: String,
    /// The body, when it was JSON.
    pub body: Option<Value>,
}

impl AwsError {
    /// Reads an error answer: the code from `x-amzn-ErrorType` (as botocore reads rest-json
    /// errors), else the body's `__type` or `code`.
    pub fn from_response(error_type: Option<&str>, bytes: &[u8]) -> Self {
        let body: Option<Value> = serde_json::from_slice(bytes).ok();
        let field = |k: &str| body.as_ref().and_then(|b| b.get(k)).and_then(Value::as_str);
        let code = error_type
            .map(|t| t.split(':').next().unwrap_or(t))
            .or_else(|| field("__type").map(|t| t.rsplit('#').next().unwrap_or(t)))
            .or_else(|| field("code"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let message = field("message")
            .or_else(|| field("Message"))
            .map(str::to_string)
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&bytes[..bytes.len().min(2000)])
                    .trim()
                    .to_string()
            });
        AwsError { code, message, body }
    }

    /// An exception frame of the stream (`:exception-type` and its JSON payload).
    pub fn from_exception(kind: &str, payload: &[u8]) -> Self {
        AwsError {
            code: kind.to_string(),
            ..AwsError::from_response(None, payload)
        }
    }

    fn is(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
    }

    /// The session token expired: refresh the credentials and try once more.
    pub fn is_expired_token(&self) -> bool {
        self.is("ExpiredTokenException") || self.is("ExpiredToken")
    }

    /// Worth another attempt with the same request.
    pub fn is_retryable(&self, status: Option<u16>) -> bool {
        self.is("ThrottlingException")
            || self.is("ServiceUnavailableException")
            || self.is("InternalServerException")
            || self.is("ModelNotReadyException")
            || status.is_some_and(|s| s == 429 || s >= 500)
    }

    /// The `ModelError`; `action` and `model_id` go into an access-denied message.
    pub fn classify(self, status: Option<u16>, action: &str, model_id: &str) -> ModelError {
        let text = format!("{}: {}", self.code, self.message);
        if self.is("ThrottlingException") || status == Some(429) {
            return ModelError::Throttled { message: text };
        }
        // Strands matches `str(ClientError)`, which holds the code and the message.
        if OVERFLOW_MESSAGES.iter().any(|m| text.contains(m)) {
            return ModelError::ContextOverflow { message: text };
        }
        let message = if self.is("AccessDeniedException") {
            format!("{text} (the credentials need IAM permission {action} on model {model_id})")
        } else {
            text
        };
        ModelError::Provider {
            // A stream's exception frame arrives in a 200 answer.
            status: status.unwrap_or(200),
            message,
            body: self.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_classes() {
        let e = AwsError::from_response(
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(e.code, "ThrottlingException");
        assert!(e.is_retryable(Some(429)));
        assert!(matches!(
            e.classify(Some(429), "a", "m"),
            ModelError::Throttled { .. }
        ));

        let e = AwsError::from_response(None, br#"{"__type":"com.amazon#ValidationException","message":"Input is too long for requested model."}"#);
        assert_eq!(e.code, "ValidationException");
        assert!(!e.is_retryable(Some(400)));
        assert!(matches!(
            e.classify(Some(400), "a", "m"),
            ModelError::ContextOverflow { .. }
        ));

        let e = AwsError::from_response(Some("AccessDeniedException"), br#"{"message":"no"}"#);
        match e.classify(Some(403), "bedrock:InvokeModel", "my.model") {
            ModelError::Provider {
                status: 403, message, ..
            } => {
                assert!(
                    message.contains("bedrock:InvokeModel") && message.contains("my.model"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(AwsError::from_response(Some("ExpiredTokenException"), b"{}").is_expired_token());
        let e = AwsError::from_exception("modelStreamErrorException", br#"{"message":"boom"}"#);
        assert!(matches!(
            e.classify(None, "a", "m"),
            ModelError::Provider { status: 200, .. }
        ));
    }
}
