//! [`OpenAiConfig`]: where the model is and how patient to be with it.

use std::time::Duration;

use serde_json::{Map, Value};

use super::error::REDACTED;
use super::proxy::ProxyConfig;

/// How to reach the model and how patient to be with it. Its `Debug` output shows neither the
/// API key nor the `extra_headers` values.
#[derive(Clone, PartialEq)]
pub struct OpenAiConfig {
    /// API root; `/chat/completions` is appended. Default `https://api.openai.com/v1`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>`; no header when `None`. Default `None`.
    pub api_key: Option<String>,
    /// `model` in the body. Default `gpt-4o`.
    pub model_id: String,
    /// Extra top-level body keys (`temperature`, `max_tokens`, ...), merged as Strands merges its
    /// `params`. `stream`/`stream_options` here are taken as Strands takes them; `extra_body` is
    /// merged last and `extra_headers` are sent as headers, as the openai SDK does. Default empty.
    pub params: Map<String, Value>,
    /// Stream the answer (SSE) or fetch one `chat.completion`. Default `true`.
    pub stream: bool,
    /// Limit for DNS resolution and for connecting (TCP, proxy tunnel, TLS), each. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit from sending the request to the first byte of the response body. In non-streaming
    /// mode this covers the whole generation. Default 120 s.
    pub first_byte_timeout: Duration,
    /// Limit on silence between two reads once the body flows. Default 120 s.
    pub idle_timeout: Duration,
    /// Limit on the whole call, retries and their backoff included. Default 600 s (the openai
    /// SDK's default).
    pub total_timeout: Duration,
    /// Attempts per call, the first included (1 disables retries). Default 3 (the openai SDK
    /// retries twice).
    pub max_attempts: u32,
    /// First backoff delay; it doubles per retry, minus up to 25 % jitter. Default 500 ms.
    pub retry_base_delay: Duration,
    /// Cap on one backoff delay, and on a server's `Retry-After`. Default 8 s.
    pub retry_max_delay: Duration,
    /// Cap on the bytes of one response body. Default 32 MiB.
    pub max_response_bytes: usize,
    /// The proxy requests go through. Default `None` (direct); the binary takes it from the
    /// environment (`crate::config`).
    pub proxy: Option<ProxyConfig>,
    /// How message content goes on the wire. Default [`MessageFormat::Strands`].
    pub message_format: MessageFormat,
}

/// How message `content` is written in the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// Strands 1.62 byte for byte: content is always a list of parts, and an assistant message
    /// with only tool calls has no `content` key.
    #[default]
    Strands,
    /// For servers that validate content as a string (llama-cpp-python's): content made only
    /// of text parts is one string (the parts joined with `"\n"`), and a tool-call message
    /// without text gets `"content": ""`. Images and documents keep the list form.
    Plain,
}

impl std::str::FromStr for MessageFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "strands" => Ok(MessageFormat::Strands),
            "plain" => Ok(MessageFormat::Plain),
            _ => Err("must be strands or plain".into()),
        }
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: "https://api.openai.com/v1".into(),
            api_key: None,
            model_id: "gpt-4o".into(),
            params: Map::new(),
            stream: true,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
            total_timeout: Duration::from_secs(600),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(500),
            retry_max_delay: Duration::from_secs(8),
            max_response_bytes: 32 << 20,
            proxy: None,
            message_format: MessageFormat::Strands,
        }
    }
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut params = self.params.clone();
        if let Some(Value::Object(headers)) = params.get_mut("extra_headers") {
            for value in headers.values_mut() {
                *value = Value::String(REDACTED.into());
            }
        }
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| REDACTED))
            .field("model_id", &self.model_id)
            .field("params", &params)
            .field("stream", &self.stream)
            .field("connect_timeout", &self.connect_timeout)
            .field("first_byte_timeout", &self.first_byte_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("retry_max_delay", &self.retry_max_delay)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("proxy", &self.proxy)
            .field("message_format", &self.message_format)
            .finish()
    }
}
