//! OTLP/HTTP export of finished spans: the encodings, the batch processor and its transport.

/// An OTLP/HTTP trace exporter's settings (filled by `config::telemetry`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OtlpConfig {}
