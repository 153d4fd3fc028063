//! OpenAI-compatible chat-completions client: Strands 1.62's `OpenAIModel` over blocking ureq.
//!
//! `POST {base_url}/chat/completions` with the body Strands sends (`request.rs`), the response
//! read as Server-Sent Events (`crate::sse`) and assembled into one assistant message
//! (`stream.rs`), or read as one `chat.completion` object when streaming is off. Errors are
//! classified as Strands does (`error.rs`): context overflow (the loop trims and retries), throttling, or a provider error
//! that keeps the status and the provider's JSON body.
//!
//! Like the openai SDK that Strands uses, the client retries 408, 409, 429, 5xx and connection
//! failures a bounded number of times with exponential backoff and jitter, honouring
//! `Retry-After`; it never retries an overflow, another 4xx, or a stream that has already shown
//! output to the caller. Every wait is bounded: connect, time to first byte, idle time between
//! stream chunks, and the whole call (`crate::model::transport` explains how the read limits are applied).
//!
//! A call is cancellable: once its [`CancelToken`] fires, the wait in progress ends within
//! `crate::model::transport::CANCEL_POLL`, the connection is closed (a half-read response is never pooled),
//! nothing is retried and the call returns [`ModelError::Cancelled`].
//!
//! Proxies: [`OpenAiConfig::proxy`] ([`ProxyConfig`] says how `NO_PROXY` is read). HTTP proxies
//! are always used through `CONNECT`, for `http://` targets too.

mod config;
mod error;
mod proxy;
mod request;
pub(crate) mod stream;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Timeout;

pub use self::config::{MessageFormat, OpenAiConfig};
use self::error::{ErrorDetails, MAX_ERROR_BODY, Secrets, classify, is_retryable_status, retry_after};
pub use self::proxy::ProxyConfig;
use self::request::{BodyOptions, build_body};
use self::stream::{Assembled, StreamAssembler, parse_completion};
use crate::model::transport::{
    self, CancelGuard, ReadLimit, ReadLimitGuard, later, read_limited, sleep_unless_cancelled,
};
use crate::model::{ChatModel, ModelError, ModelRequest, ModelResponse, ModelStreamEvent, TimeoutPhase};
use crate::types::{CancelToken, Metrics};

/// Longest SSE line (or event payload) accepted; a chat-completion chunk is far smaller.
pub const MAX_SSE_LINE_BYTES: usize = 4 << 20;

/// `User-Agent` sent on every request.
pub const USER_AGENT: &str = concat!("agentcore-rt/", env!("CARGO_PKG_VERSION"));

/// A [`ChatModel`] speaking the OpenAI chat-completions API. Cheap to share: calls on different
/// threads share one connection pool.
pub struct OpenAiModel {
    config: OpenAiConfig,
    url: String,
    extra_headers: Vec<(String, String)>,
    /// The key and the extra header values, kept out of every error this model returns.
    secrets: Secrets,
    agent: ureq::Agent,
}

impl std::fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.extra_headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OpenAiModel")
            .field("config", &self.config)
            .field("url", &self.url)
            .field("extra_headers", &header_names)
            .finish_non_exhaustive()
    }
}

/// One failed attempt, and whether another may follow.
struct Failure {
    error: ModelError,
    retryable: bool,
    retry_after: Option<Duration>,
    /// Output already reached `on_event`: retrying would show it twice.
    delivered: bool,
}

impl Failure {
    fn fatal(error: ModelError) -> Self {
        Failure {
            error,
            retryable: false,
            retry_after: None,
            delivered: false,
        }
    }
}

impl OpenAiModel {
    /// Checks the configuration and builds the HTTP agent.
    pub fn new(config: OpenAiConfig) -> Result<Self, ModelError> {
        let invalid = |message: String| ModelError::NotConfigured { message };
        let base = config.base_url.trim_end_matches('/');
        let scheme_ok = base.starts_with("https://") || base.starts_with("http://");
        if !scheme_ok || base.parse::<ureq::http::Uri>().is_err() {
            return Err(invalid(format!(
                "model base URL {:?} is not an http(s) URL",
                config.base_url
            )));
        }
        if config.model_id.is_empty() {
            return Err(invalid("the model id is empty".into()));
        }
        if let Some(key) = &config.api_key
            && ureq::http::HeaderValue::from_str(&format!("Bearer {key}")).is_err()
        {
            return Err(invalid(
                "the API key contains characters not allowed in an HTTP header".into(),
            ));
        }
        for (name, limit) in [
            ("connect", config.connect_timeout),
            ("first byte", config.first_byte_timeout),
            ("idle", config.idle_timeout),
            ("total", config.total_timeout),
        ] {
            if limit.is_zero() {
                return Err(invalid(format!("the {name} timeout must be greater than zero")));
            }
        }
        let extra_headers = match config.params.get("extra_headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(headers)) => headers
                .iter()
                .map(|(name, value)| match value {
                    Value::String(v)
                        if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                            && ureq::http::HeaderValue::from_str(v).is_ok() =>
                    {
                        Ok((name.clone(), v.clone()))
                    }
                    _ => Err(invalid(format!(
                        "extra header {name:?} is not a valid header with a string value"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "params.extra_headers must be an object of strings".into(),
                ));
            }
        };
        let http_config = transport::config_builder()
            // Error statuses are answers we classify, not transport failures.
            .http_status_as_error(false)
            // The openai SDK (httpx) does not follow redirects either; a POST must not turn into a GET.
            .max_redirects(0)
            .user_agent(USER_AGENT)
            .timeout_resolve(Some(config.connect_timeout))
            .timeout_connect(Some(config.connect_timeout))
            .proxy(config.proxy.as_ref().and_then(ProxyConfig::to_ureq))
            .build();
        let secrets = Secrets::new(
            config
                .api_key
                .iter()
                .cloned()
                .chain(extra_headers.iter().map(|(_, value)| value.clone())),
        );
        Ok(OpenAiModel {
            url: format!("{base}/chat/completions"),
            extra_headers,
            secrets,
            agent: transport::agent(http_config),
            config,
        })
    }

    /// The configuration this model was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The exact JSON body this model sends for `request`.
    pub fn request_body(&self, request: &ModelRequest<'_>) -> Value {
        let options = BodyOptions {
            model_id: &self.config.model_id,
            params: &self.config.params,
            stream: self.config.stream,
            format: self.config.message_format,
        };
        build_body(options, request)
    }

    fn backoff(&self, retry: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint.min(self.config.retry_max_delay);
        }
        let exponential = self
            .config
            .retry_base_delay
            .saturating_mul(1u32 << (retry - 1).min(20));
        let capped = exponential.min(self.config.retry_max_delay);
        // Up to 25 % shorter, as the openai SDK does, so clients that failed together spread out.
        let random = getrandom::u32().unwrap_or(0);
        let factor = 1.0 - 0.25 * (f64::from(random) / f64::from(u32::MAX));
        Duration::try_from_secs_f64(capped.as_secs_f64() * factor).unwrap_or(capped)
    }

    fn attempt(
        &self,
        body: &[u8],
        trace_headers: &[(&'static str, String)],
        started: Instant,
        deadline: Instant,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<ModelResponse, Box<Failure>> {
        let now = Instant::now();
        let remaining = deadline.saturating_duration_since(now);
        if remaining.is_zero() {
            return Err(Failure::fatal(ModelError::Timeout {
                phase: TimeoutPhase::Total,
                after: self.config.total_timeout,
            })
            .into());
        }
        let limit = ReadLimitGuard::new(ReadLimit::Until(later(now, self.config.first_byte_timeout)));
        let mut call = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(key) = &self.config.api_key {
            call = call.header("Authorization", format!("Bearer {key}"));
        }
        for (name, value) in &self.extra_headers {
            call = call.header(name, value);
        }
        for (name, value) in trace_headers {
            call = call.header(*name, value);
        }
        let response = call
            .config()
            .timeout_global(Some(remaining))
            .build()
            .send(body)
            .map_err(|e| self.transport_failure(e, false))?;

        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if !(200..300).contains(&status) {
            let hint = retry_after(
                header("retry-after-ms").as_deref(),
                header("retry-after").as_deref(),
            );
            let should_retry = header("x-should-retry");
            let mut bytes = Vec::new();
            // A broken error body still leaves the status to report.
            let _ = read_limited(
                response.into_body().into_reader(),
                MAX_ERROR_BODY,
                &limit,
                self.config.idle_timeout,
                &mut bytes,
            );
            let error = classify(Some(status), ErrorDetails::from_body(&bytes));
            let retryable = match should_retry.as_deref() {
                Some("true") => true,
                Some("false") => false,
                _ => is_retryable_status(status),
            } && !matches!(error, ModelError::ContextOverflow { .. });
            return Err(Failure {
                error,
                retryable,
                retry_after: hint,
                delivered: false,
            }
            .into());
        }
        let content_type = header("content-type").unwrap_or_default().to_ascii_lowercase();
        let reader = response.into_body().into_reader();
        // Some OpenAI-compatible servers answer a streaming request with one JSON completion.
        let assembled = if self.config.stream && !content_type.starts_with("application/json") {
            self.read_stream(reader, &limit, cancel, on_event)?
        } else {
            self.read_completion(reader, &limit, on_event)?
        };
        Ok(self.response(assembled, started))
    }

    fn response(
        &self,
        (assembled, first_byte_at): (Assembled, Option<Instant>),
        started: Instant,
    ) -> ModelResponse {
        // Strands fills timeToFirstByteMs only together with usage.
        let time_to_first_byte_ms = match (assembled.has_usage, first_byte_at) {
            (true, Some(at)) => u64::try_from(at.duration_since(started).as_millis()).unwrap_or(u64::MAX),
            _ => 0,
        };
        ModelResponse {
            message: assembled.message,
            stop_reason: assembled.stop_reason,
            usage: assembled.usage,
            metrics: Metrics {
                latency_ms: 0,
                time_to_first_byte_ms,
            },
        }
    }

    /// Reads an SSE stream. Returns the result and Strands' "first byte" instant: the first text
    /// or reasoning delta, or, for a message of tool calls only, the end of the content.
    fn read_stream(
        &self,
        mut reader: impl Read,
        limit: &ReadLimitGuard,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(Assembled, Option<Instant>), Box<Failure>> {
        let mut parser = crate::sse::SseParser::new(MAX_SSE_LINE_BYTES);
        let mut events = Vec::new();
        let mut assembler = StreamAssembler::new();
        let mut buffer = vec![0u8; 16 * 1024];
        let mut received = 0usize;
        let mut first_content_at = None;
        let mut content_end_at = None;
        'read: loop {
            // Buffered chunks are read without waiting, so a fast stream is checked here too.
            if cancel.is_cancelled() {
                return Err(Failure::fatal(ModelError::Cancelled).into());
            }
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) if cancel.is_cancelled() => {
                    return Err(Failure::fatal(ModelError::Cancelled).into());
                }
                // Once finish_reason has arrived the message is complete; a failure while waiting
                // for the usage chunk costs only the usage.
                Err(_) if assembler.finished() => break,
                Err(e) => {
                    return Err(self
                        .read_failure(ureq::Error::from(e), assembler.delivered())
                        .into());
                }
            };
            limit.set(ReadLimit::Idle(self.config.idle_timeout));
            received += n;
            if received > self.config.max_response_bytes {
                return Err(self.too_large(assembler.delivered()).into());
            }
            let invalid = |message: String, delivered| Failure {
                delivered,
                ..Failure::fatal(ModelError::InvalidResponse { message })
            };
            parser
                .push(&buffer[..n], &mut events)
                .map_err(|e| invalid(e.to_string(), assembler.delivered()))?;
            // `event:` names do not matter for chat completions (the openai SDK reads data only).
            for data in events.drain(..).map(|event| event.data) {
                let was_finished = assembler.finished();
                if let Err(error) = assembler.push_data(&data, on_event) {
                    if was_finished && matches!(error, ModelError::InvalidResponse { .. }) {
                        break 'read;
                    }
                    return Err(Failure {
                        delivered: assembler.delivered(),
                        ..Failure::fatal(error)
                    }
                    .into());
                }
                if first_content_at.is_none() && assembler.has_content() {
                    first_content_at = Some(Instant::now());
                }
                if !was_finished && assembler.finished() {
                    content_end_at = Some(Instant::now());
                }
                if assembler.done() {
                    // Reading the (empty) rest lets the connection go back to the pool.
                    limit.set(ReadLimit::Idle(
                        self.config.idle_timeout.min(Duration::from_secs(1)),
                    ));
                    let _ = std::io::copy(&mut reader.by_ref().take(64 * 1024), &mut std::io::sink());
                    break 'read;
                }
            }
        }
        let delivered = assembler.delivered();
        let end = content_end_at.unwrap_or_else(Instant::now);
        let assembled = assembler.finish().map_err(|error| Failure {
            delivered,
            ..Failure::fatal(error)
        })?;
        let first_byte_at = first_content_at.or_else(|| assembled.message.has_tool_use().then_some(end));
        Ok((assembled, first_byte_at))
    }

    fn read_completion(
        &self,
        reader: impl Read,
        limit: &ReadLimitGuard,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(Assembled, Option<Instant>), Box<Failure>> {
        let mut bytes = Vec::new();
        match read_limited(
            reader,
            self.config.max_response_bytes,
            limit,
            self.config.idle_timeout,
            &mut bytes,
        ) {
            Ok(true) => {}
            Ok(false) => return Err(self.too_large(false).into()),
            Err(e) => return Err(self.read_failure(e, false).into()),
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            Failure::fatal(ModelError::InvalidResponse {
                message: format!("completion is not valid JSON ({e}): {text}"),
            })
        })?;
        let at = Instant::now();
        let assembled = parse_completion(&body, on_event).map_err(Failure::fatal)?;
        let has_output = !assembled.message.content.is_empty();
        Ok((assembled, has_output.then_some(at)))
    }

    fn too_large(&self, delivered: bool) -> Failure {
        Failure {
            delivered,
            ..Failure::fatal(ModelError::InvalidResponse {
                message: format!(
                    "the response is larger than {} bytes",
                    self.config.max_response_bytes
                ),
            })
        }
    }

    /// Maps a ureq error to a failure. Connection problems are retryable (when nothing was shown
    /// yet); timeouts other than connect are not, since a retry would wait just as long again.
    fn transport_failure(&self, error: ureq::Error, delivered: bool) -> Failure {
        let c = &self.config;
        let (error, retryable) = match error {
            ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (
                ModelError::Timeout {
                    phase: TimeoutPhase::Connect,
                    after: c.connect_timeout,
                },
                true,
            ),
            ureq::Error::Timeout(Timeout::RecvResponse) => (
                ModelError::Timeout {
                    phase: TimeoutPhase::FirstByte,
                    after: c.first_byte_timeout,
                },
                false,
            ),
            ureq::Error::Timeout(Timeout::PerRead) => (
                ModelError::Timeout {
                    phase: TimeoutPhase::StreamIdle,
                    after: c.idle_timeout,
                },
                false,
            ),
            ureq::Error::Timeout(_) => (
                ModelError::Timeout {
                    phase: TimeoutPhase::Total,
                    after: c.total_timeout,
                },
                false,
            ),
            ureq::Error::HostNotFound => (self.transport("host not found".into(), error), true),
            ureq::Error::ConnectionFailed => (self.transport("connection failed".into(), error), true),
            ureq::Error::Io(ref e) => (self.transport(format!("connection error: {e}"), error), true),
            ureq::Error::Protocol(ref e) => {
                (self.transport(format!("HTTP protocol error: {e}"), error), true)
            }
            other => (self.transport(other.to_string(), other), false),
        };
        Failure {
            error,
            retryable,
            retry_after: None,
            delivered,
        }
    }

    /// Like [`Self::transport_failure`], for errors after the response head arrived.
    fn read_failure(&self, error: ureq::Error, delivered: bool) -> Failure {
        let what = match &error {
            ureq::Error::Io(e) => format!("connection lost while reading the response: {e}"),
            ureq::Error::Protocol(e) => format!("broken HTTP framing in the response: {e}"),
            _ => return self.transport_failure(error, delivered),
        };
        Failure {
            error: self.transport(what, error),
            retryable: true,
            retry_after: None,
            delivered,
        }
    }

    fn transport(&self, what: String, cause: ureq::Error) -> ModelError {
        ModelError::Transport {
            message: format!("POST {}: {what}", self.url),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl ChatModel for OpenAiModel {
    fn converse(
        &self,
        request: &ModelRequest<'_>,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<ModelResponse, ModelError> {
        if cancel.is_cancelled() {
            return Err(ModelError::Cancelled);
        }
        let _watch = CancelGuard::new(cancel);
        let started = Instant::now();
        let deadline = later(started, self.config.total_timeout);
        let body =
            serde_json::to_vec(&self.request_body(request)).map_err(|e| ModelError::InvalidResponse {
                message: format!("cannot serialize the request: {e}"),
            })?;
        // Every attempt carries the chat span's context (a retry is the same operation).
        let trace_headers = request.trace.map(|t| t.w3c_headers()).unwrap_or_default();
        let mut attempt = 1;
        loop {
            let failure = match self.attempt(&body, &trace_headers, started, deadline, cancel, on_event) {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            // Whatever the attempt died of, a cancelled call ends here: no retry.
            if cancel.is_cancelled() {
                return Err(ModelError::Cancelled);
            }
            if !failure.retryable || failure.delivered || attempt >= self.config.max_attempts {
                return Err(self.secrets.redact_error(failure.error));
            }
            let delay = self.backoff(attempt, failure.retry_after);
            if later(Instant::now(), delay) >= deadline {
                return Err(self.secrets.redact_error(failure.error));
            }
            if sleep_unless_cancelled(delay, cancel) {
                return Err(ModelError::Cancelled);
            }
            attempt += 1;
        }
    }

    fn model_id(&self) -> &str {
        &self.config.model_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn debug_output_hides_the_key_and_extra_header_values() {
        let mut params = Map::new();
        params.insert(
            "extra_headers".into(),
            serde_json::json!({"X-Secret": "hdr-value-123456"}),
        );
        params.insert("temperature".into(), serde_json::json!(0.5));
        let config = OpenAiConfig {
            api_key: Some("sk-secret-123456".into()),
            params,
            ..OpenAiConfig::default()
        };
        let model = OpenAiModel::new(config.clone()).unwrap();
        for shown in [format!("{config:?}"), format!("{model:?}")] {
            assert!(!shown.contains("sk-secret-123456"), "{shown}");
            assert!(!shown.contains("hdr-value-123456"), "{shown}");
            assert!(
                shown.contains("X-Secret") && shown.contains("temperature"),
                "{shown}"
            );
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_respects_caps() {
        let model = OpenAiModel::new(OpenAiConfig {
            retry_base_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_millis(350),
            ..OpenAiConfig::default()
        })
        .unwrap();
        for (retry, full) in [(1, 100), (2, 200), (3, 350), (30, 350)] {
            let d = model.backoff(retry, None);
            assert!(
                d <= Duration::from_millis(full) && d >= Duration::from_millis(full * 3 / 4),
                "{retry}: {d:?}"
            );
        }
        assert_eq!(
            model.backoff(1, Some(Duration::from_secs(60))),
            Duration::from_millis(350)
        );
        assert_eq!(
            model.backoff(1, Some(Duration::from_millis(20))),
            Duration::from_millis(20)
        );
        let huge = OpenAiModel::new(OpenAiConfig {
            retry_max_delay: Duration::MAX,
            retry_base_delay: Duration::MAX,
            ..OpenAiConfig::default()
        })
        .unwrap();
        assert!(huge.backoff(40, None) > Duration::from_secs(1));
    }
}
