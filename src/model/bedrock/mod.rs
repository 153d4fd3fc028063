//! Amazon Bedrock through the Converse API: Strands 1.62's `BedrockModel` over blocking ureq,
//! every request signed with SigV4 (`crate::aws`).
//!
//! `POST {endpoint}/model/{modelId}/converse-stream` (or `/converse` when streaming is off) with
//! the body Strands sends (`request.rs`); the stream is `application/vnd.amazon.eventstream`
//! (`eventstream.rs`), its events assembled as Strands assembles them (`response.rs`), and
//! errors classified as Strands does (`error.rs`). Timeouts, cancellation and backoff are the
//! OpenAI client's (`crate::model::transport`), so both providers behave the same under load.
//!
//! Credentials are resolved on the first call, not at start-up: a server without credentials
//! starts, and its invocations get an error naming the providers that were tried. An
//! `ExpiredTokenException` invalidates the cached credentials and the call is signed again once.

pub mod error;
pub mod eventstream;
pub mod request;
pub mod response;
pub mod signer;

pub use signer::AwsSigner;

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use ureq::Timeout;

use self::error::AwsError;
use self::eventstream::{Decoder, Frame};
use self::response::{Assembled, Assembler, parse_converse};
use crate::model::openai::ProxyConfig;
use crate::model::transport::{
    self, CancelGuard, ReadLimit, ReadLimitGuard, later, read_limited, sleep_unless_cancelled,
};
use crate::model::{ChatModel, ModelError, ModelRequest, ModelResponse, ModelStreamEvent, TimeoutPhase};
use crate::types::{CancelToken, Metrics};

/// The model Strands 1.62's `BedrockModel` uses when none is given (a global inference profile).
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-sonnet-4-6";

/// The region Strands falls back to when none is configured.
pub const DEFAULT_REGION: &str = "us-west-2";

/// SigV4 signing name of `bedrock-runtime`.
const SIGNING_NAME: &str = "bedrock";

/// How to reach Bedrock and how patient to be with it.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockConfig {
    /// Model or inference-profile id (or ARN). Default [`DEFAULT_MODEL_ID`].
    pub model_id: String,
    /// Region requests are signed for. Default [`DEFAULT_REGION`].
    pub region: String,
    /// Endpoint root, e.g. `https://bedrock-runtime.us-west-2.amazonaws.com`.
    pub endpoint: String,
    /// Strands `BedrockConfig` keys (`max_tokens`, `temperature`, `top_p`, `stop_sequences`,
    /// `additional_request_fields`, `additional_args`, ...). Default empty.
    pub params: Map<String, Value>,
    /// ConverseStream (default) or Converse.
    pub stream: bool,
    /// Connect timeout. Default 10 s.
    pub connect_timeout: Duration,
    /// Time to first byte. Default 120 s.
    pub first_byte_timeout: Duration,
    /// Silence between reads. Default 120 s.
    pub idle_timeout: Duration,
    /// The whole call. Default 600 s.
    pub total_timeout: Duration,
    /// Attempts per call. Default 3.
    pub max_attempts: u32,
    /// First backoff delay. Default 500 ms.
    pub retry_base_delay: Duration,
    /// Cap on one delay. Default 8 s.
    pub retry_max_delay: Duration,
    /// Cap on a response's bytes. Default 32 MiB.
    pub max_response_bytes: usize,
    /// Proxy. Default none.
    pub proxy: Option<ProxyConfig>,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            model_id: DEFAULT_MODEL_ID.into(),
            region: DEFAULT_REGION.into(),
            endpoint: format!("https://bedrock-runtime.{DEFAULT_REGION}.amazonaws.com"),
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
        }
    }
}

/// Signs one request with the current credentials (SigV4 for service `bedrock`): the seam
/// between the model and `crate::aws`, which resolves and caches the credentials.
pub trait SignRequest: Send + Sync {
    /// The headers to add to `POST url` with these headers and body, signed for `region` at `now`;
    /// an error (naming the credential providers tried) when there are no credentials.
    fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        region: &str,
        service: &str,
        now: SystemTime,
    ) -> Result<Vec<(&'static str, String)>, String>;

    /// Forgets cached credentials (the service said they expired).
    fn invalidate(&self);
}

/// A [`ChatModel`] speaking Bedrock's Converse API.
pub struct BedrockModel {
    config: BedrockConfig,
    url: String,
    credentials: Arc<dyn SignRequest>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for BedrockModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockModel")
            .field("config", &self.config)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

struct Failure {
    error: ModelError,
    retryable: bool,
    expired: bool,
    delivered: bool,
}

impl Failure {
    fn fatal(error: ModelError) -> Box<Self> {
        Box::new(Failure {
            error,
            retryable: false,
            expired: false,
            delivered: false,
        })
    }
}

/// botocore's `percent_encode` for a URI label: everything but `A-Za-z0-9-._~`.
fn encode_label(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl BedrockModel {
    /// Checks the configuration; `credentials` are asked for on each call (they cache).
    pub fn new(config: BedrockConfig, credentials: Arc<dyn SignRequest>) -> Result<Self, ModelError> {
        let invalid = |message: String| ModelError::NotConfigured { message };
        let base = config.endpoint.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://"))
            || base.parse::<ureq::http::Uri>().is_err()
        {
            return Err(invalid(format!(
                "Bedrock endpoint {:?} is not an http(s) URL",
                config.endpoint
            )));
        }
        if config.model_id.is_empty() {
            return Err(invalid("the model id is empty".into()));
        }
        let operation = if config.stream {
            "converse-stream"
        } else {
            "converse"
        };
        let http_config = transport::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(crate::model::openai::USER_AGENT)
            .timeout_resolve(Some(config.connect_timeout))
            .timeout_connect(Some(config.connect_timeout))
            .proxy(config.proxy.as_ref().and_then(ProxyConfig::to_ureq))
            .build();
        Ok(BedrockModel {
            url: format!("{base}/model/{}/{operation}", encode_label(&config.model_id)),
            credentials,
            agent: transport::agent(http_config),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BedrockConfig {
        &self.config
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The exact JSON body this model sends for `request`.
    pub fn request_body(&self, request: &ModelRequest<'_>) -> Value {
        request::build_body(&self.config.model_id, &self.config.params, request)
    }

    /// The IAM action this model's calls need.
    pub fn iam_action(&self) -> &'static str {
        if self.config.stream {
            "bedrock:InvokeModelWithResponseStream"
        } else {
            "bedrock:InvokeModel"
        }
    }

    fn backoff(&self, retry: u32) -> Duration {
        let exponential = self
            .config
            .retry_base_delay
            .saturating_mul(1u32 << (retry - 1).min(20));
        let capped = exponential.min(self.config.retry_max_delay);
        let random = getrandom::u32().unwrap_or(0);
        let factor = 1.0 - 0.25 * (f64::from(random) / f64::from(u32::MAX));
        Duration::try_from_secs_f64(capped.as_secs_f64() * factor).unwrap_or(capped)
    }

    fn aws_failure(&self, e: AwsError, status: Option<u16>, delivered: bool) -> Box<Failure> {
        let retryable = e.is_retryable(status);
        let expired = e.is_expired_token();
        Box::new(Failure {
            error: e.classify(status, self.iam_action(), &self.config.model_id),
            retryable,
            expired,
            delivered,
        })
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
            }));
        }
        let accept = if self.config.stream {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        let headers = [("content-type", "application/json"), ("accept", accept)];
        let signed = self
            .credentials
            .sign(
                &self.url,
                &headers,
                body,
                &self.config.region,
                SIGNING_NAME,
                SystemTime::now(),
            )
            .map_err(|e| {
                Failure::fatal(ModelError::NotConfigured {
                    message: format!("Bedrock needs AWS credentials: {e}"),
                })
            })?;
        let limit = ReadLimitGuard::new(ReadLimit::Until(later(now, self.config.first_byte_timeout)));
        let mut call = self.agent.post(&self.url);
        for (name, value) in headers {
            call = call.header(name, value);
        }
        for (name, value) in &signed {
            call = call.header(*name, value);
        }
        // Unsigned, as botocore leaves X-Amzn-Trace-Id out of SigV4's signed headers.
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
        if !(200..300).contains(&status) {
            let error_type = response
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut bytes = Vec::new();
            let _ = read_limited(
                response.into_body().into_reader(),
                1 << 20,
                &limit,
                self.config.idle_timeout,
                &mut bytes,
            );
            return Err(self.aws_failure(
                AwsError::from_response(error_type.as_deref(), &bytes),
                Some(status),
                false,
            ));
        }
        let reader = response.into_body().into_reader();
        let (assembled, first_at) = if self.config.stream {
            self.read_stream(reader, &limit, cancel, on_event)?
        } else {
            self.read_converse(reader, &limit, on_event)?
        };
        let time_to_first_byte_ms = first_at
            .map(|at| u64::try_from(at.duration_since(started).as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Ok(ModelResponse {
            message: assembled.message,
            stop_reason: assembled.stop_reason,
            usage: assembled.usage,
            metrics: Metrics {
                latency_ms: assembled.latency_ms,
                time_to_first_byte_ms,
            },
        })
    }

    fn read_stream(
        &self,
        mut reader: impl Read,
        limit: &ReadLimitGuard,
        cancel: &CancelToken,
        on_event: &mut dyn FnMut(ModelStreamEvent<'_>),
    ) -> Result<(Assembled, Option<Instant>), Box<Failure>> {
        let mut decoder = Decoder::new();
        let mut frames: Vec<Frame> = Vec::new();
        let mut assembler = Assembler::new();
        let mut buffer = vec![0u8; 16 * 1024];
        let mut received = 0usize;
        let mut first_at = None;
        loop {
            if cancel.is_cancelled() {
                return Err(Failure::fatal(ModelError::Cancelled));
            }
            let n = match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) if cancel.is_cancelled() => return Err(Failure::fatal(ModelError::Cancelled)),
                Err(e) => return Err(self.read_failure(ureq::Error::from(e), assembler.delivered())),
            };
            limit.set(ReadLimit::Idle(self.config.idle_timeout));
            received += n;
            let delivered = assembler.delivered();
            let invalid = |message: String| {
                Box::new(Failure {
                    delivered,
                    ..*Failure::fatal(ModelError::InvalidResponse { message })
                })
            };
            if received > self.config.max_response_bytes {
                return Err(invalid(format!(
                    "the response is larger than {} bytes",
                    self.config.max_response_bytes
                )));
            }
            decoder
                .push(&buffer[..n], &mut frames)
                .map_err(|e| invalid(e.to_string()))?;
            for frame in frames.drain(..) {
                match frame.header(":message-type").unwrap_or("event") {
                    "event" => {
                        let kind = frame.header(":event-type").unwrap_or_default();
                        let payload: Value = if frame.payload.is_empty() {
                            Value::Object(Map::new())
                        } else {
                            serde_json::from_slice(&frame.payload)
                                .map_err(|e| invalid(format!("{kind} payload is not JSON: {e}")))?
                        };
                        assembler.push(kind, &payload, on_event).map_err(|error| {
                            Box::new(Failure {
                                delivered: assembler.delivered(),
                                ..*Failure::fatal(error)
                            })
                        })?;
                        if first_at.is_none() && assembler.has_content() {
                            first_at = Some(Instant::now());
                        }
                    }
                    "exception" => {
                        let kind = frame.header(":exception-type").unwrap_or("UnknownException");
                        let e = AwsError::from_exception(kind, &frame.payload);
                        return Err(self.aws_failure(e, None, assembler.delivered()));
                    }
                    _ => {
                        let code = frame.header(":error-code").unwrap_or("UnknownError");
                        let message = frame.header(":error-message").unwrap_or_default();
                        let e = AwsError {
                            code: code.to_string(),
                            message: message.to_string(),
                            body: None,
                        };
                        return Err(self.aws_failure(e, None, assembler.delivered()));
                    }
                }
            }
        }
        let delivered = assembler.delivered();
        if decoder.has_partial() {
            return Err(Box::new(Failure {
                delivered,
                ..*Failure::fatal(ModelError::InvalidResponse {
                    message: "the stream ended inside an event-stream frame".into(),
                })
            }));
        }
        let assembled = assembler.finish().map_err(|error| {
            Box::new(Failure {
                delivered,
                ..*Failure::fatal(error)
            })
        })?;
        Ok((assembled, first_at))
    }

    fn read_converse(
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
            Ok(false) => {
                return Err(Failure::fatal(ModelError::InvalidResponse {
                    message: format!(
                        "the response is larger than {} bytes",
                        self.config.max_response_bytes
                    ),
                }));
            }
            Err(e) => return Err(self.read_failure(e, false)),
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Failure::fatal(ModelError::InvalidResponse {
                message: format!("Converse answer is not valid JSON: {e}"),
            })
        })?;
        let at = Instant::now();
        let assembled = parse_converse(&body, on_event).map_err(Failure::fatal)?;
        Ok((assembled, Some(at)))
    }

    fn transport_failure(&self, error: ureq::Error, delivered: bool) -> Box<Failure> {
        let c = &self.config;
        let timeout = |phase, after| ModelError::Timeout { phase, after };
        let (error, retryable) = match error {
            ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
                (timeout(TimeoutPhase::Connect, c.connect_timeout), true)
            }
            ureq::Error::Timeout(Timeout::RecvResponse) => {
                (timeout(TimeoutPhase::FirstByte, c.first_byte_timeout), false)
            }
            ureq::Error::Timeout(Timeout::PerRead) => {
                (timeout(TimeoutPhase::StreamIdle, c.idle_timeout), false)
            }
            ureq::Error::Timeout(_) => (timeout(TimeoutPhase::Total, c.total_timeout), false),
            ureq::Error::HostNotFound => (self.transport("host not found".into(), error), true),
            ureq::Error::ConnectionFailed => (self.transport("connection failed".into(), error), true),
            ureq::Error::Io(ref e) => (self.transport(format!("connection error: {e}"), error), true),
            ureq::Error::Protocol(ref e) => {
                (self.transport(format!("HTTP protocol error: {e}"), error), true)
            }
            other => (self.transport(other.to_string(), other), false),
        };
        Box::new(Failure {
            error,
            retryable,
            expired: false,
            delivered,
        })
    }

    fn read_failure(&self, error: ureq::Error, delivered: bool) -> Box<Failure> {
        let what = match &error {
            ureq::Error::Io(e) => format!("connection lost while reading the response: {e}"),
            ureq::Error::Protocol(e) => format!("broken HTTP framing in the response: {e}"),
            _ => return self.transport_failure(error, delivered),
        };
        Box::new(Failure {
            error: self.transport(what, error),
            retryable: true,
            expired: false,
            delivered,
        })
    }

    fn transport(&self, what: String, cause: ureq::Error) -> ModelError {
        ModelError::Transport {
            message: format!("POST {}: {what}", self.url),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl ChatModel for BedrockModel {
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
        // The chat span's context: W3C headers, and X-Ray's header as AWS services read it.
        let trace_headers: Vec<(&'static str, String)> = request
            .trace
            .map(|t| {
                let mut headers = t.w3c_headers();
                if let Some(xray) = t.xray_header() {
                    headers.push(("X-Amzn-Trace-Id", xray));
                }
                headers
            })
            .unwrap_or_default();
        let mut attempt = 1;
        let mut refreshed = false;
        loop {
            let failure = match self.attempt(&body, &trace_headers, started, deadline, cancel, on_event) {
                Ok(response) => return Ok(response),
                Err(failure) => failure,
            };
            if cancel.is_cancelled() {
                return Err(ModelError::Cancelled);
            }
            if failure.expired && !refreshed && !failure.delivered {
                // The cached session token expired before its stated expiry: fetch new ones, once.
                refreshed = true;
                self.credentials.invalidate();
                continue;
            }
            if !failure.retryable || failure.delivered || attempt >= self.config.max_attempts {
                return Err(failure.error);
            }
            let delay = self.backoff(attempt);
            if later(Instant::now(), delay) >= deadline {
                return Err(failure.error);
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

    #[test]
    fn model_ids_are_encoded_as_botocore_encodes_uri_labels() {
        assert_eq!(
            encode_label("global.anthropic.claude-sonnet-4-6"),
            "global.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            encode_label("arn:aws:bedrock:us-east-1:123:inference-profile/x y"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fx%20y"
        );
    }
}
