//! The model provider and its settings: `MODEL_PROVIDER` picks OpenAI-compatible or Bedrock,
//! and both read the same `MODEL_*` transport variables (timeouts, retries, proxy), so
//! switching provider never changes how patient the agent is.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ConfigError, EnvReader, redact_url_credentials};
use crate::model::bedrock::{self, BedrockConfig};
use crate::model::openai::{OpenAiConfig, ProxyConfig};

/// The model the binary's agent talks to.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    /// An OpenAI-compatible chat-completions API.
    OpenAi(OpenAiConfig),
    /// Amazon Bedrock's Converse API, signed with the AWS credential chain.
    Bedrock(BedrockConfig),
}

impl ModelConfig {
    /// `openai` or `bedrock`, as `MODEL_PROVIDER` spells them.
    pub fn provider(&self) -> &'static str {
        match self {
            ModelConfig::OpenAi(_) => "openai",
            ModelConfig::Bedrock(_) => "bedrock",
        }
    }

    /// The model id requests name.
    pub fn model_id(&self) -> &str {
        match self {
            ModelConfig::OpenAi(c) => &c.model_id,
            ModelConfig::Bedrock(c) => &c.model_id,
        }
    }
}

/// Which provider `MODEL_PROVIDER` (or its default) chose, and the sentence that says why, for
/// the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderChoice {
    /// `openai` or `bedrock`.
    pub provider: &'static str,
    /// Why, e.g. `MODEL_PROVIDER unset and no OPENAI_API_KEY/OPENAI_BASE_URL`.
    pub reason: String,
    /// True when `MODEL_PROVIDER` was unset and the default chose.
    pub defaulted: bool,
}

/// `MODEL_PROVIDER`, or its default: `openai` when `OPENAI_API_KEY` or `OPENAI_BASE_URL` (or
/// the seed's `MODEL_BASE_URL`) is set, else `bedrock` (what an AgentCore agent runs on).
pub fn provider_choice(env: &dyn Fn(&str) -> Option<String>) -> Result<ProviderChoice, ConfigError> {
    let e = EnvReader(env);
    if let Some(raw) = e.get("MODEL_PROVIDER") {
        let provider = match raw.to_ascii_lowercase().as_str() {
            "openai" => "openai",
            "bedrock" => "bedrock",
            _ => {
                return Err(ConfigError {
                    var: "MODEL_PROVIDER".into(),
                    value: Some(raw),
                    reason: "must be openai or bedrock".into(),
                });
            }
        };
        return Ok(ProviderChoice {
            provider,
            reason: format!("MODEL_PROVIDER={provider}"),
            defaulted: false,
        });
    }
    let set: Vec<&str> = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_BASE_URL"]
        .into_iter()
        .filter(|var| e.get(var).is_some())
        .collect();
    Ok(if set.is_empty() {
        ProviderChoice {
            provider: "bedrock",
            reason: "MODEL_PROVIDER unset and no OPENAI_API_KEY/OPENAI_BASE_URL".into(),
            defaulted: true,
        }
    } else {
        ProviderChoice {
            provider: "openai",
            reason: format!("MODEL_PROVIDER unset and {} set", set.join(", ")),
            defaulted: true,
        }
    })
}

/// The model settings for `choice`: `None` only for `openai` without `OPENAI_API_KEY` and
/// without `OPENAI_BASE_URL` (there is nothing to call; invocations say what to set).
pub fn model_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    choice: &ProviderChoice,
) -> Result<Option<ModelConfig>, ConfigError> {
    if choice.provider == "bedrock" {
        bedrock_from_env(env).map(|c| Some(ModelConfig::Bedrock(c)))
    } else {
        openai_from_env(env).map(|c| c.map(ModelConfig::OpenAi))
    }
}

/// The variables both providers share.
struct Transport {
    stream: bool,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    idle_timeout: Duration,
    total_timeout: Duration,
    max_attempts: u32,
    retry_base_delay: Duration,
    retry_max_delay: Duration,
    max_response_bytes: usize,
    proxy: Option<ProxyConfig>,
}

fn transport(env: &dyn Fn(&str) -> Option<String>) -> Result<Transport, ConfigError> {
    // One set of defaults: the two providers' defaults are equal on purpose.
    let d = OpenAiConfig::default();
    let e = EnvReader(env);
    Ok(Transport {
        stream: e.flag("MODEL_STREAM", d.stream)?,
        connect_timeout: e.duration("MODEL_CONNECT_TIMEOUT", d.connect_timeout)?,
        first_byte_timeout: e.duration("MODEL_FIRST_BYTE_TIMEOUT", d.first_byte_timeout)?,
        idle_timeout: e.duration("MODEL_IDLE_TIMEOUT", d.idle_timeout)?,
        total_timeout: e.duration("MODEL_TIMEOUT", d.total_timeout)?,
        max_attempts: e.count("MODEL_MAX_ATTEMPTS", d.max_attempts as usize, 1, 100)? as u32,
        retry_base_delay: e.duration("MODEL_RETRY_BASE_DELAY", d.retry_base_delay)?,
        retry_max_delay: e.duration("MODEL_RETRY_MAX_DELAY", d.retry_max_delay)?,
        max_response_bytes: e.bytes("MODEL_MAX_RESPONSE_BYTES", d.max_response_bytes)?,
        proxy: model_proxy(env),
    })
}

/// `MODEL_PARAMS` as a JSON object. It may carry `extra_headers` with credentials: an error
/// never echoes it.
fn model_params(e: &EnvReader<'_>) -> Result<Map<String, Value>, ConfigError> {
    e.parse_secret("MODEL_PARAMS", Map::new(), |s| {
        match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("must be a JSON object, e.g. {\"temperature\": 0.2}".into()),
            Err(err) => Err(format!("not valid JSON: {err}")),
        }
    })
}

fn openai_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<OpenAiConfig>, ConfigError> {
    let e = EnvReader(env);
    let api_key = e.get("OPENAI_API_KEY");
    // MODEL_BASE_URL is what the Python seed app reads; accept it too.
    let base_url = e.get("OPENAI_BASE_URL").or_else(|| e.get("MODEL_BASE_URL"));
    if api_key.is_none() && base_url.is_none() {
        return Ok(None);
    }
    let d = OpenAiConfig::default();
    let base_url = match base_url {
        None => d.base_url.clone(),
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            url.trim_end_matches('/').to_string()
        }
        Some(url) => {
            return Err(ConfigError {
                var: "OPENAI_BASE_URL".into(),
                value: Some(redact_url_credentials(&url)),
                reason: "must start with http:// or https://".into(),
            });
        }
    };
    let params = model_params(&e)?;
    let t = transport(env)?;
    Ok(Some(OpenAiConfig {
        base_url,
        api_key,
        model_id: e.get("MODEL_ID").unwrap_or(d.model_id),
        params,
        message_format: e.parse("MODEL_MESSAGE_FORMAT", d.message_format, |s| s.parse())?,
        stream: t.stream,
        connect_timeout: t.connect_timeout,
        first_byte_timeout: t.first_byte_timeout,
        idle_timeout: t.idle_timeout,
        total_timeout: t.total_timeout,
        max_attempts: t.max_attempts,
        retry_base_delay: t.retry_base_delay,
        retry_max_delay: t.retry_max_delay,
        max_response_bytes: t.max_response_bytes,
        proxy: t.proxy,
    }))
}

/// `MODEL_ID`, the region (`crate::aws::resolve_region`, else Strands' `us-west-2`), the
/// endpoint (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL`, else the region's), and
/// `MODEL_PARAMS` checked against the Strands `BedrockConfig` keys we map. Credentials are not
/// read here: they are resolved (and cached) on the first model call.
fn bedrock_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<BedrockConfig, ConfigError> {
    let e = EnvReader(env);
    let region = crate::aws::resolve_region(env).unwrap_or_else(|_| bedrock::DEFAULT_REGION.to_string());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ConfigError {
            var: "AWS_REGION".into(),
            value: Some(region),
            reason: "not an AWS region name (from AWS_REGION, AWS_DEFAULT_REGION or the profile)".into(),
        });
    }
    let endpoint = crate::aws::service_endpoint(env, "BEDROCK_RUNTIME", "bedrock-runtime", &region);
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        || endpoint.parse::<ureq::http::Uri>().is_err()
    {
        let var = if e.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME").is_some() {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
        } else {
            "AWS_ENDPOINT_URL"
        };
        return Err(ConfigError {
            var: var.into(),
            value: Some(redact_url_credentials(&endpoint)),
            reason: "must be an http:// or https:// URL".into(),
        });
    }
    let params = model_params(&e)?;
    check_bedrock_params(&params).map_err(|reason| ConfigError {
        var: "MODEL_PARAMS".into(),
        value: None,
        reason,
    })?;
    let t = transport(env)?;
    Ok(BedrockConfig {
        model_id: e
            .get("MODEL_ID")
            .unwrap_or_else(|| bedrock::DEFAULT_MODEL_ID.into()),
        region,
        endpoint: endpoint.trim().trim_end_matches('/').to_string(),
        params,
        stream: t.stream,
        connect_timeout: t.connect_timeout,
        first_byte_timeout: t.first_byte_timeout,
        idle_timeout: t.idle_timeout,
        total_timeout: t.total_timeout,
        max_attempts: t.max_attempts,
        retry_base_delay: t.retry_base_delay,
        retry_max_delay: t.retry_max_delay,
        max_response_bytes: t.max_response_bytes,
        proxy: t.proxy,
    })
}

/// Strands `BedrockConfig` keys agentcore-rt does not map (yet), and what to do instead.
const UNSUPPORTED_PARAMS: &[(&str, &str)] = &[
    ("model_id", "set MODEL_ID"),
    ("streaming", "set MODEL_STREAM"),
    ("cache_prompt", "prompt caching is not supported yet"),
    ("cache_tools", "prompt caching is not supported yet"),
    ("cache_config", "prompt caching is not supported yet"),
    ("strict_tools", "strict tool schemas are not supported yet"),
    ("use_native_token_count", "token counting is not used"),
];

/// Bedrock answers a mistyped field with a ValidationException on every call, and an unknown
/// key would be silently dropped: both are refused at start-up instead (Strands only warns).
fn check_bedrock_params(params: &Map<String, Value>) -> Result<(), String> {
    for (key, value) in params {
        if let Some((_, instead)) = UNSUPPORTED_PARAMS.iter().find(|(k, _)| k == key) {
            return Err(format!(
                "{key:?} is not supported by the Bedrock provider: {instead}"
            ));
        }
        if key.starts_with("guardrail_") {
            return Err(format!(
                "{key:?}: guardrails are not supported by the Bedrock provider yet"
            ));
        }
        if !bedrock::request::KNOWN_PARAMS.contains(&key.as_str()) {
            return Err(format!(
                "unknown key {key:?} for the Bedrock provider (known: {})",
                bedrock::request::KNOWN_PARAMS.join(", ")
            ));
        }
        let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        let ok = value.is_null()
            || match key.as_str() {
                "max_tokens" => value.as_u64().is_some_and(|n| n >= 1),
                "temperature" | "top_p" => value.is_number(),
                "stop_sequences" | "additional_response_field_paths" => strings(value),
                "additional_request_fields" | "additional_args" => value.is_object(),
                "include_tool_result_status" => value.is_boolean() || value == "auto",
                "service_tier" => value.is_string(),
                _ => true,
            };
        if !ok {
            let expected = match key.as_str() {
                "max_tokens" => "a positive whole number",
                "temperature" | "top_p" => "a number",
                "stop_sequences" | "additional_response_field_paths" => "a list of strings",
                "additional_request_fields" | "additional_args" => "a JSON object",
                "include_tool_result_status" => "true, false or \"auto\"",
                _ => "a string",
            };
            return Err(format!("{key:?} must be {expected}"));
        }
    }
    Ok(())
}

/// Variables naming the model's proxy, in the order ureq reads them from the process.
pub const PROXY_VARS: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The model's proxy, read as ureq would read the process environment: the first of
/// [`PROXY_VARS`] that holds a usable proxy URL (unusable ones are skipped, not errors, as ureq
/// skips them), with the first of `NO_PROXY`/`no_proxy` that is set, even to nothing.
pub fn model_proxy(env: &dyn Fn(&str) -> Option<String>) -> Option<ProxyConfig> {
    let no_proxy = ["NO_PROXY", "no_proxy"].iter().find_map(|var| env(var));
    PROXY_VARS
        .iter()
        .filter_map(|var| env(var))
        .find_map(|url| ProxyConfig::new(&url, no_proxy.clone()).ok())
}
