//! Telemetry settings: which exporter (if any) gets finished spans, and how the tracer samples.
//!
//! The variables, defaults and precedence are the OpenTelemetry SDK specification's
//! (`OTEL_*`), plus the AgentCore Observability switches as the ADOT Python distro reads them
//! (`aws_opentelemetry_distro.py`, `_utils.py`):
//!
//! - `AGENT_OBSERVABILITY_ENABLED=true` (what AgentCore sets) makes `otlp` the default exporter and,
//!   unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set, points
//!   it at `https://xray.{region}.amazonaws.com/v1/traces` (ADOT uses `setdefault`: an explicit
//!   endpoint wins). `DISABLE_ADOT_OBSERVABILITY=true` is how AgentCore users opt out of those
//!   defaults ("unsets the AgentCore runtime's default ADOT environment variables"), so it turns
//!   the mode off here.
//! - Any traces endpoint of the X-Ray OTLP form is signed with SigV4 (service `xray`, the region
//!   from the host), AgentCore mode or not, as ADOT's `_is_aws_otlp_endpoint` decides.
//!
//! Off when nothing is configured: no exporter, no spans.

use std::borrow::Cow;
use std::time::Duration;

use crate::config::{ConfigError, EnvReader};
use crate::telemetry::export::{BatchConfig, OtlpConfig, OtlpProtocol, SigV4Target, default_resource};
use crate::telemetry::{KeyValue, Sampler, TracerSettings, Value};

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

/// The OTLP/HTTP default endpoint of the specification (a local collector).
const DEFAULT_ENDPOINT: &str = "http://localhost:4318/v1/traces";

impl TelemetryConfig {
    /// Reads the telemetry settings through `env`.
    ///
    /// The region of the AgentCore mode is resolved here (`AWS_REGION`, ..., instance metadata,
    /// as [`crate::aws::resolve_region`]); credentials are not: the exporter's owner builds the
    /// credential chain, and it is asked on the first export.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<TelemetryConfig, ConfigError> {
        let e = EnvReader(env);
        let agentcore = agentcore_mode(&e)?;
        let tracer = tracer_settings(&e, agentcore)?;
        let disabled = otel_bool(&e, "OTEL_SDK_DISABLED")?;
        let exporter = e.parse("OTEL_TRACES_EXPORTER", None, |s| parse_exporter(s).map(Some))?;
        let endpoint = traces_endpoint(&e)?;
        let otlp = match exporter {
            Some(Exporter::None) => return Ok(off(tracer)),
            Some(Exporter::Console) if !disabled => {
                return Ok(TelemetryConfig {
                    tracer,
                    exporter: ExporterChoice::Console,
                });
            }
            Some(Exporter::Otlp) => true,
            // The specification's default is `otlp`; we stay off unless something says where
            // spans should go, so a plain `docker run` does not retry a missing localhost:4318.
            _ => endpoint.is_some() || agentcore,
        };
        if disabled || !otlp {
            // Still parsed above: a typo in a variable that would matter once enabled is
            // better found now than at the first deploy with tracing on.
            return Ok(off(tracer));
        }
        let endpoint = match endpoint {
            Some(url) => url,
            None if agentcore => xray_endpoint(env)?,
            None => DEFAULT_ENDPOINT.to_string(),
        };
        let protocol = e.parse(
            signal_var(&e, "PROTOCOL"),
            OtlpProtocol::HttpProtobuf,
            parse_protocol,
        )?;
        let sigv4 = sigv4_target(env, &endpoint, agentcore)?;
        if sigv4.is_some() && protocol != OtlpProtocol::HttpProtobuf {
            return Err(ConfigError {
                var: signal_var(&e, "PROTOCOL").into(),
                value: Some("http/json".into()),
                reason: "the X-Ray OTLP endpoint is sent http/protobuf here, as ADOT sends it \
                         (unset it or set http/protobuf)"
                    .into(),
            });
        }
        let headers_var = signal_var(&e, "HEADERS");
        let headers = e.parse_secret(headers_var, Vec::new(), parse_headers)?;
        let timeout_var = signal_var(&e, "TIMEOUT");
        let timeout = millis(&e, timeout_var, 10_000)?;
        let batch = batch_config(&e)?;
        let resource = resource(&e)?;
        Ok(TelemetryConfig {
            tracer,
            exporter: ExporterChoice::Otlp(OtlpConfig {
                endpoint,
                protocol,
                headers,
                timeout,
                resource,
                batch,
                sigv4,
            }),
        })
    }
}

fn off(tracer: TracerSettings) -> TelemetryConfig {
    TelemetryConfig {
        tracer,
        exporter: ExporterChoice::Off,
    }
}

enum Exporter {
    Otlp,
    Console,
    None,
}

/// The specification allows a list; one exporter at a time is what we build.
fn parse_exporter(s: &str) -> Result<Exporter, String> {
    let names: Vec<&str> = s.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    match names.as_slice() {
        ["otlp"] => Ok(Exporter::Otlp),
        ["console"] => Ok(Exporter::Console),
        ["none"] => Ok(Exporter::None),
        [_, _, ..] => Err("one exporter at a time: otlp, console or none".into()),
        _ => Err("must be otlp, console or none (zipkin and jaeger are not built in)".into()),
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_<X>` when set, else `OTEL_EXPORTER_OTLP_<X>`: the spec's
/// signal-specific variable takes precedence over the general one.
fn signal_var(e: &EnvReader<'_>, suffix: &str) -> &'static str {
    let (traces, general) = match suffix {
        "PROTOCOL" => (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        "HEADERS" => ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"),
        _ => ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"),
    };
    if e.get(traces).is_some() { traces } else { general }
}

/// The configured endpoint, if any: the traces one as is, or the base one + `/v1/traces`.
fn traces_endpoint(e: &EnvReader<'_>) -> Result<Option<String>, ConfigError> {
    if let Some(url) = e.parse("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None, |s| {
        check_url(s).map(|()| Some(s.to_string()))
    })? {
        return Ok(Some(url));
    }
    e.parse("OTEL_EXPORTER_OTLP_ENDPOINT", None, |s| {
        check_url(s)?;
        // The spec: append `v1/traces` relative to the base, which may end in a slash.
        let sep = if s.ends_with('/') { "" } else { "/" };
        Ok(Some(format!("{s}{sep}v1/traces")))
    })
}

fn check_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or("must be an http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("has no host".into());
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace".into());
    }
    Ok(())
}

fn parse_protocol(s: &str) -> Result<OtlpProtocol, String> {
    match s {
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Ok(OtlpProtocol::HttpJson),
        "grpc" => Err("OTLP/gRPC is not supported: use http/protobuf (port 4318 on a collector)".into()),
        _ => Err("must be http/protobuf or http/json".into()),
    }
}

/// The specification's booleans: `true`/`false`, any case. Anything else is refused rather
/// than read as false (the spec's fallback), so a typo cannot silently leave tracing on.
fn otel_bool(e: &EnvReader<'_>, var: &str) -> Result<bool, ConfigError> {
    e.parse(var, false, |s| match s.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    })
}

/// `AGENT_OBSERVABILITY_ENABLED=true` and not `DISABLE_ADOT_OBSERVABILITY=true`.
fn agentcore_mode(e: &EnvReader<'_>) -> Result<bool, ConfigError> {
    let enabled = otel_bool(e, "AGENT_OBSERVABILITY_ENABLED")?;
    let opted_out = otel_bool(e, "DISABLE_ADOT_OBSERVABILITY")?;
    Ok(enabled && !opted_out)
}

/// The X-Ray OTLP traces endpoint of the region, or the SDKs' endpoint override
/// (`AWS_ENDPOINT_URL_XRAY`, then `AWS_ENDPOINT_URL`) + `/v1/traces`.
fn xray_endpoint(env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let region = xray_region(env)?;
    let base = crate::aws::service_endpoint(env, "XRAY", "xray", &region);
    check_url(&base).map_err(|reason| ConfigError {
        var: endpoint_override_var(env).into(),
        value: Some(base.clone()),
        reason,
    })?;
    let base = base.trim_end_matches('/');
    Ok(format!("{base}/v1/traces"))
}

fn endpoint_override_var(env: &dyn Fn(&str) -> Option<String>) -> &'static str {
    if env("AWS_ENDPOINT_URL_XRAY").is_some_and(|v| !v.trim().is_empty()) {
        "AWS_ENDPOINT_URL_XRAY"
    } else {
        "AWS_ENDPOINT_URL"
    }
}

fn xray_region(env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    crate::aws::resolve_region(env).map_err(|e| ConfigError {
        var: "AWS_REGION".into(),
        value: None,
        reason: format!(
            "AGENT_OBSERVABILITY_ENABLED=true exports to the region's X-Ray endpoint, but {e} \
             (set AWS_REGION, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)"
        ),
    })
}

/// Signing applies to X-Ray's own endpoint form (region from the host, as ADOT takes it), and
/// to the AgentCore mode's endpoint when an `AWS_ENDPOINT_URL*` override replaced it.
fn sigv4_target(
    env: &dyn Fn(&str) -> Option<String>,
    endpoint: &str,
    agentcore: bool,
) -> Result<Option<SigV4Target>, ConfigError> {
    if let Some(region) = xray_otlp_region(endpoint) {
        return Ok(Some(SigV4Target {
            region,
            service: "xray".into(),
        }));
    }
    let e = EnvReader(env);
    let explicit = e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || e.get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
    if agentcore && !explicit {
        return Ok(Some(SigV4Target {
            region: xray_region(env)?,
            service: "xray".into(),
        }));
    }
    Ok(None)
}

/// The region of `https://xray.{region}.amazonaws.com/v1/traces` (ADOT's
/// `AWS_TRACES_OTLP_ENDPOINT_PATTERN`, matched on the lower-cased URL).
fn xray_otlp_region(endpoint: &str) -> Option<String> {
    let lower = endpoint.to_ascii_lowercase();
    let region = lower
        .strip_prefix("https://xray.")?
        .strip_suffix(".amazonaws.com/v1/traces")?;
    let valid = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| region.to_string())
}

/// W3C-baggage-style `key=value` pairs, percent-decoded; names lower-cased (HTTP header names
/// are case-insensitive). The caller never echoes the value: it holds API keys.
fn parse_headers(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (i, item) in s.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("entry {n} is not name=value"))?;
        let name = percent_decode(name)
            .map_err(|r| format!("entry {n}: {r}"))?
            .trim()
            .to_ascii_lowercase();
        let value = percent_decode(value).map_err(|r| format!("entry {n}: {r}"))?;
        let value = value.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!("entry {n}: the header name is not an HTTP token"));
        }
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(format!("entry {n}: the value has control characters"));
        }
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.to_string()));
    }
    Ok(headers)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `%XX` escapes decoded as UTF-8. A `%` not followed by two hex digits stays as is (Python's
/// `urllib.parse.unquote`, which the reference SDK applies).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "a percent-escape decodes to invalid UTF-8".to_string())
}

/// The resource: our defaults, `OTEL_RESOURCE_ATTRIBUTES` over them, `OTEL_SERVICE_NAME` over all
/// (the spec's precedence).
fn resource(e: &EnvReader<'_>) -> Result<Vec<KeyValue>, ConfigError> {
    let mut attrs = default_resource();
    let given = e.parse("OTEL_RESOURCE_ATTRIBUTES", Vec::new(), parse_resource_attributes)?;
    for (k, v) in given {
        set(&mut attrs, k.into(), Value::Str(v));
    }
    if let Some(name) = e.get("OTEL_SERVICE_NAME") {
        set(&mut attrs, "service.name".into(), Value::Str(name));
    }
    Ok(attrs)
}

fn set(attrs: &mut Vec<KeyValue>, key: Cow<'static, str>, value: Value) {
    match attrs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => attrs.push((key, value)),
    }
}

/// `key=value,key2=value2`, percent-decoded (AgentCore puts `cloud.resource_id`, an ARN, there).
fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, item) in s.split(',').enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("entry {n} is not key=value"))?;
        let k = percent_decode(k).map_err(|r| format!("entry {n}: {r}"))?;
        let v = percent_decode(v).map_err(|r| format!("entry {n}: {r}"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("entry {n} has an empty key"));
        }
        out.retain(|(key, _)| key != k);
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// A whole number of milliseconds (the spec's unit for every OTLP and BSP duration).
fn millis(e: &EnvReader<'_>, var: &str, default_ms: u64) -> Result<Duration, ConfigError> {
    e.parse(var, Duration::from_millis(default_ms), |s| {
        match s.parse::<u64>() {
            Ok(0) => Err("must be at least 1 (milliseconds)".into()),
            Ok(ms) if ms <= 3_600_000 => Ok(Duration::from_millis(ms)),
            Ok(_) => Err("at most 3600000 (one hour)".into()),
            Err(_) => Err("not a whole number of milliseconds".into()),
        }
    })
}

fn batch_config(e: &EnvReader<'_>) -> Result<BatchConfig, ConfigError> {
    let d = BatchConfig::default();
    let max_queue_size = e.count("OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue_size, 1, 1_000_000)?;
    let max_export_batch_size = e.count(
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        d.max_export_batch_size,
        1,
        1_000_000,
    )?;
    if max_export_batch_size > max_queue_size {
        return Err(ConfigError {
            var: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE".into(),
            value: Some(max_export_batch_size.to_string()),
            reason: format!("must not exceed OTEL_BSP_MAX_QUEUE_SIZE ({max_queue_size})"),
        });
    }
    Ok(BatchConfig {
        max_queue_size,
        max_export_batch_size,
        schedule_delay: millis(e, "OTEL_BSP_SCHEDULE_DELAY", 5_000)?,
        export_timeout: millis(e, "OTEL_BSP_EXPORT_TIMEOUT", 30_000)?,
        max_queue_bytes: d.max_queue_bytes,
    })
}

fn tracer_settings(e: &EnvReader<'_>, agentcore: bool) -> Result<TracerSettings, ConfigError> {
    let arg = e.get("OTEL_TRACES_SAMPLER_ARG");
    let ratio = || -> Result<f64, ConfigError> {
        match &arg {
            None => Ok(1.0),
            Some(raw) => match raw.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                _ => Err(ConfigError {
                    var: "OTEL_TRACES_SAMPLER_ARG".into(),
                    value: Some(raw.clone()),
                    reason: "must be a ratio between 0 and 1".into(),
                }),
            },
        }
    };
    let sampler = match e.get("OTEL_TRACES_SAMPLER").as_deref() {
        None | Some("parentbased_always_on") => Sampler::default(),
        Some("always_on") => Sampler::AlwaysOn,
        Some("always_off") => Sampler::AlwaysOff,
        Some("traceidratio") => Sampler::TraceIdRatio(ratio()?),
        Some("parentbased_always_off") => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        Some("parentbased_traceidratio") => Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(ratio()?))),
        Some(other) => {
            return Err(ConfigError {
                var: "OTEL_TRACES_SAMPLER".into(),
                value: Some(other.into()),
                reason: "must be always_on, always_off, traceidratio, parentbased_always_on, \
                         parentbased_always_off or parentbased_traceidratio"
                    .into(),
            });
        }
    };
    // Strands 1.62 `Tracer._parse_semconv_opt_in`: comma-separated, each token stripped;
    // tokens for other conventions (`http`, ...) are not ours to refuse.
    let opt_in = e.get("OTEL_SEMCONV_STABILITY_OPT_IN").unwrap_or_default();
    let tokens: Vec<&str> = opt_in.split(',').map(str::trim).collect();
    Ok(TracerSettings {
        sampler,
        genai_latest_conventions: tokens.contains(&"gen_ai_latest_experimental"),
        genai_tool_definitions: tokens.contains(&"gen_ai_tool_definitions"),
        capture_content: e.parse(
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
            agentcore,
            parse_capture_content,
        )?,
    })
}

/// The switch the GenAI instrumentations and ADOT honour. Off by default (prompts and answers are
/// personal data: they leave the process only when asked for), on by default in AgentCore
/// mode, where ADOT sets `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, so a
/// Strands agent on AgentCore shows its prompts and answers there as it does under ADOT
/// (Strands 1.62 itself records content with no switch). `false` (the legacy form) or
/// `NO_CONTENT` (the latest GenAI conventions' form) turn it off; `true`, `SPAN_ONLY`,
/// `EVENT_ONLY` and `SPAN_AND_EVENT` turn it on.
fn parse_capture_content(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "span_only" | "event_only" | "span_and_event" => Ok(true),
        "false" | "no_content" => Ok(false),
        _ => Err("must be true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT".into()),
    }
}

#[cfg(test)]
mod tests;
