//! Telemetry settings: which exporter (if any) gets finished spans, and how the tracer samples.
//!
//! Off when nothing is configured: no exporter, no spans.

use crate::config::ConfigError;
use crate::telemetry::TracerSettings;
use crate::telemetry::export::OtlpConfig;

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ExporterChoice {
    /// Nowhere: tracing is off (nothing configured, `OTEL_SDK_DISABLED=true`,
    /// `OTEL_TRACES_EXPORTER=none`).
    #[default]
    Off,
    /// JSON lines on standard output (`OTEL_TRACES_EXPORTER=console`).
    Console,
    /// OTLP/HTTP to a collector, or to X-Ray in AgentCore Observability mode.
    Otlp(OtlpConfig),
}

/// Everything telemetry reads from the environment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TelemetryConfig {
    /// The tracer's settings.
    pub tracer: TracerSettings,
    /// Where finished spans go.
    pub exporter: ExporterChoice,
}

impl TelemetryConfig {
    /// Reads the telemetry settings through `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<TelemetryConfig, ConfigError> {
        let _ = env;
        Ok(TelemetryConfig::default())
    }
}
