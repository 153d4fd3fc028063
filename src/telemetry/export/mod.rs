//! OTLP/HTTP export of finished spans: the encodings, the batch processor and its transport.
//!
//! [`OtlpExporter::start`] spawns one thread that owns the collector connection. `on_end` only
//! appends to a bounded queue (a short lock, never I/O); the thread sends a batch when
//! `max_export_batch_size` spans wait or `schedule_delay` has passed, retrying throttling, 502-504
//! and connection failures with exponential backoff and jitter (and `Retry-After`) until the
//! batch's `export_timeout`. When the queue is full new spans are dropped and counted, and a
//! warning says so at most every [`WARN_EVERY`] and once more at shutdown: memory stays bounded
//! whatever the collector does.
//!
//! Binary cost, measured with scripts/build-static.sh (musl, stripped) and the exporter started
//! from `TelemetryConfig` in `main`: 61,440 bytes (3,511,144 -> 3,572,584), config parsing
//! included; ureq, ring and the SigV4 signer were linked already.

mod batch;
mod json;
mod proto;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::ProvideCredentials;
use crate::telemetry::{KeyValue, SpanData, SpanSink, Value};

pub use batch::Counters;
pub use json::encode_json;
pub use proto::encode_protobuf;

/// How often, at most, the exporter logs that spans were dropped or batches failed.
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// The wire encoding of an export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `application/x-protobuf` (the default, and what X-Ray takes).
    #[default]
    HttpProtobuf,
    /// `application/json`, the OTLP/JSON mapping.
    HttpJson,
}

/// The batch span processor's settings (`OTEL_BSP_*`, the specification's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans held at most; past it new spans are dropped (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048).
    pub max_queue_size: usize,
    /// Spans per export request at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512).
    pub max_export_batch_size: usize,
    /// The longest a span waits before its batch is sent (`OTEL_BSP_SCHEDULE_DELAY`, 5 s).
    pub schedule_delay: Duration,
    /// The longest one batch may take, retries included (`OTEL_BSP_EXPORT_TIMEOUT`, 30 s).
    pub export_timeout: Duration,
    /// The queued spans' estimated size at most (their strings' bytes; 64 MiB). Spans carry
    /// message content, and 2048 spans of large tool results would otherwise hold gigabytes
    /// while a collector is down; past it new spans are dropped, as past `max_queue_size`.
    pub max_queue_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30_000),
            max_queue_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Requests are signed with SigV4 for this region and service (the X-Ray OTLP endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigV4Target {
    /// The region in the credential scope.
    pub region: String,
    /// The service in the credential scope (`xray`).
    pub service: String,
}

/// An OTLP/HTTP trace exporter's settings (filled by `config::telemetry`).
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full traces URL (`.../v1/traces`).
    pub endpoint: String,
    /// Protobuf or JSON.
    pub protocol: OtlpProtocol,
    /// Extra request headers (names lower-case). They may hold secrets: never logged.
    pub headers: Vec<(String, String)>,
    /// Each export request's own limit (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s).
    pub timeout: Duration,
    /// The resource's attributes (`service.name`, `telemetry.sdk.*`, `OTEL_RESOURCE_ATTRIBUTES`).
    pub resource: Vec<KeyValue>,
    /// Queueing and batching.
    pub batch: BatchConfig,
    /// SigV4 signing (AgentCore Observability mode), or none.
    pub sigv4: Option<SigV4Target>,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: "http://localhost:4318/v1/traces".into(),
            protocol: OtlpProtocol::default(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            resource: default_resource(),
            batch: BatchConfig::default(),
            sigv4: None,
        }
    }
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &redact_userinfo(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("resource", &self.resource)
            .field("batch", &self.batch)
            .field("sigv4", &self.sigv4)
            .finish()
    }
}

/// The endpoint fit for logs: `user:password@` becomes `***@` (a leaf cannot use config's
/// helper).
pub(crate) fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `service.name` (`unknown_service:agentcore-rt`, the specification's default for an unnamed
/// service) and the `telemetry.sdk.*` attributes naming this exporter.
pub fn default_resource() -> Vec<KeyValue> {
    let s = |k: &'static str, v: &str| (k.into(), Value::Str(v.to_string()));
    vec![
        s("service.name", "unknown_service:agentcore-rt"),
        s("telemetry.sdk.name", "agentcore-rt"),
        s("telemetry.sdk.language", "rust"),
        s("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ]
}

/// The exporter could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The configuration asks for SigV4 but no credentials were given
    /// ([`OtlpExporter::start_with_credentials`]).
    MissingCredentials,
    /// The export thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::MissingCredentials => {
                f.write_str("the OTLP endpoint is signed with SigV4 and no AWS credentials were given")
            }
            ExportError::Spawn(e) => write!(f, "cannot start the OTLP export thread: {e}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Spawn(e) => Some(e),
            ExportError::MissingCredentials => None,
        }
    }
}

/// The OTLP/HTTP batch exporter: a [`SpanSink`] whose `on_end` never blocks on the network.
pub struct OtlpExporter {
    processor: batch::Processor,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Starts the export thread for an unsigned endpoint.
    pub fn start(config: OtlpConfig) -> Result<Arc<OtlpExporter>, ExportError> {
        if config.sigv4.is_some() {
            return Err(ExportError::MissingCredentials);
        }
        Self::spawn(config, None)
    }

    /// Starts the export thread, signing with `credentials` when `config.sigv4` says so (the
    /// binary passes the SDKs' default chain; they are asked at each export, so credentials that
    /// appear after start-up are picked up).
    pub fn start_with_credentials(
        config: OtlpConfig,
        credentials: Arc<dyn ProvideCredentials>,
    ) -> Result<Arc<OtlpExporter>, ExportError> {
        Self::spawn(config, Some(credentials))
    }

    fn spawn(
        config: OtlpConfig,
        credentials: Option<Arc<dyn ProvideCredentials>>,
    ) -> Result<Arc<OtlpExporter>, ExportError> {
        let transport = transport::Transport::new(&config, credentials);
        let processor = batch::Processor::start(config, transport).map_err(ExportError::Spawn)?;
        Ok(Arc::new(OtlpExporter { processor }))
    }

    /// Spans exported, dropped and failed so far.
    pub fn counters(&self) -> Counters {
        self.processor.counters()
    }
}

impl SpanSink for OtlpExporter {
    fn on_end(&self, span: SpanData) {
        self.processor.enqueue(span);
    }

    fn shutdown(&self, timeout: Duration) {
        self.processor.shutdown(timeout);
    }
}
