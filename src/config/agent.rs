//! [`AgentConfig`]: the settings of the binary's default agent.

use std::time::Duration;

use super::model::{ModelConfig, ProviderChoice, model_from_env, provider_choice};
use super::{ConfigError, EnvReader};

/// Settings of the binary's default entrypoint: the agent, its model, tools and sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The model; `None` when `MODEL_PROVIDER=openai` and neither `OPENAI_API_KEY` nor
    /// `OPENAI_BASE_URL` is set (the server still starts, and invocations answer an error naming
    /// them).
    pub model: Option<ModelConfig>,
    /// The provider `MODEL_PROVIDER` (or its default) chose and why, logged at start-up.
    pub provider: ProviderChoice,
    /// `SYSTEM_PROMPT`.
    pub system_prompt: Option<String>,
    /// `SESSION_DIR` (default `/tmp/strands/sessions`, the seed's).
    pub session_dir: std::path::PathBuf,
    /// `SESSION_STORE=s3://bucket/prefix` (with `AWS_ENDPOINT_URL_S3`, `S3_FORCE_PATH_STYLE`):
    /// sessions in S3 instead of under `session_dir`; `None` (the file store) by default.
    pub session_store: Option<crate::session::S3Config>,
    /// `SESSION_FSYNC` (default true): flush session writes to disk before they count as done.
    pub session_fsync: bool,
    /// `WINDOW_SIZE` (default 20).
    pub window_size: usize,
    /// `MAX_CYCLES`: model calls per invocation (default unlimited, as Strands).
    pub max_cycles: Option<usize>,
    /// `STRUCTURED_OUTPUT_SCHEMA`: path to a JSON schema file.
    pub structured_output_schema: Option<std::path::PathBuf>,
    /// `STRUCTURED_OUTPUT_MAX_ATTEMPTS` (default 3).
    pub structured_output_max_attempts: usize,
    /// `MCP_CONFIG`: path to an `{"mcpServers": {...}}` file.
    pub mcp_config: Option<std::path::PathBuf>,
    /// `SESSION_LOCK_TIMEOUT`: how long a request waits for another request of the same
    /// session to finish (default 15m, AgentCore's request timeout).
    pub session_lock_wait: Duration,
    /// `AGENT_NAME`: the agent's name in its spans (`invoke_agent {name}`,
    /// `gen_ai.agent.name`); default `Strands Agents`, as Strands names an unnamed agent.
    pub agent_name: String,
}

/// Strands' `_DEFAULT_AGENT_NAME` (the agent builder's default too).
pub const DEFAULT_AGENT_NAME: &str = "Strands Agents";

impl AgentConfig {
    /// Reads the agent settings from the environment through `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<AgentConfig, ConfigError> {
        let e = EnvReader(env);
        let choice = provider_choice(env)?;
        let model = model_from_env(env, &choice)?;
        let max_cycles = match e.get("MAX_CYCLES") {
            None => None,
            Some(_) => Some(e.count("MAX_CYCLES", 0, 1, 1_000_000)?),
        };
        Ok(AgentConfig {
            model,
            provider: choice,
            system_prompt: (env)("SYSTEM_PROMPT").filter(|s| !s.is_empty()),
            session_dir: e
                .get("SESSION_DIR")
                .map_or_else(|| "/tmp/strands/sessions".into(), Into::into),
            session_store: match crate::session::S3Config::from_env(env).map_err(|e| ConfigError {
                var: e.var.into(),
                value: Some(e.value),
                reason: e.reason,
            })? {
                Some(s3) => Some(crate::session::S3Config {
                    lease_duration: lease_duration(&e)?,
                    retry: s3_retry(&e, s3.retry)?,
                    ..s3
                }),
                None => None,
            },
            session_fsync: e.flag("SESSION_FSYNC", true)?,
            window_size: e.count("WINDOW_SIZE", 20, 0, 1_000_000)?,
            max_cycles,
            structured_output_schema: e.get("STRUCTURED_OUTPUT_SCHEMA").map(Into::into),
            structured_output_max_attempts: e.count("STRUCTURED_OUTPUT_MAX_ATTEMPTS", 3, 1, 100)?,
            mcp_config: e.get("MCP_CONFIG").map(Into::into),
            session_lock_wait: e.duration("SESSION_LOCK_TIMEOUT", Duration::from_secs(15 * 60))?,
            agent_name: e
                .get("AGENT_NAME")
                .filter(|n| !n.trim().is_empty())
                .map_or_else(|| DEFAULT_AGENT_NAME.to_string(), Into::into),
        })
    }
}

/// `SESSION_LEASE_DURATION`: whole seconds at least (S3's dates are), at most an hour.
fn lease_duration(e: &EnvReader<'_>) -> Result<Duration, ConfigError> {
    let var = "SESSION_LEASE_DURATION";
    let duration = e.duration(var, crate::session::s3::DEFAULT_LEASE_DURATION)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&duration) {
        return Err(ConfigError {
            var: var.into(),
            value: e.get(var),
            reason: "must be from 1s to 1h".into(),
        });
    }
    Ok(duration)
}

/// `S3_TIMEOUT` (one attempt of an S3 call) and `S3_MAX_ATTEMPTS`.
fn s3_retry(
    e: &EnvReader<'_>,
    d: crate::session::s3::RetryPolicy,
) -> Result<crate::session::s3::RetryPolicy, ConfigError> {
    let call_timeout = e.duration("S3_TIMEOUT", d.call_timeout)?;
    if call_timeout < Duration::from_millis(100) {
        return Err(ConfigError {
            var: "S3_TIMEOUT".into(),
            value: e.get("S3_TIMEOUT"),
            reason: "must be at least 100ms".into(),
        });
    }
    Ok(crate::session::s3::RetryPolicy {
        call_timeout,
        connect_timeout: d.connect_timeout.min(call_timeout),
        max_attempts: e.count("S3_MAX_ATTEMPTS", d.max_attempts as usize, 1, 100)? as u32,
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::model_proxy;
    use crate::config::redact_url_credentials;
    use crate::config::tests::env;
    use crate::model::bedrock::{BedrockConfig, DEFAULT_MODEL_ID};
    use crate::model::openai::{OpenAiConfig, ProxyConfig};

    fn openai(c: AgentConfig) -> OpenAiConfig {
        match c.model {
            Some(ModelConfig::OpenAi(m)) => m,
            other => panic!("not OpenAI: {other:?}"),
        }
    }

    fn bedrock(vars: &[(&str, &str)]) -> BedrockConfig {
        match AgentConfig::from_env(&env(vars)).unwrap().model {
            Some(ModelConfig::Bedrock(m)) => m,
            other => panic!("not Bedrock: {other:?}"),
        }
    }

    #[test]
    fn the_provider_defaults_to_bedrock_unless_openai_is_configured() {
        let c = AgentConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c.provider.provider, "bedrock");
        assert_eq!(
            c.provider.reason,
            "MODEL_PROVIDER unset and no OPENAI_API_KEY/OPENAI_BASE_URL"
        );
        assert_eq!(c.window_size, 20);
        assert_eq!(c.session_dir, std::path::PathBuf::from("/tmp/strands/sessions"));
        let c = AgentConfig::from_env(&env(&[("OPENAI_API_KEY", "k")])).unwrap();
        assert_eq!(c.provider.reason, "MODEL_PROVIDER unset and OPENAI_API_KEY set");
        assert!(matches!(c.model, Some(ModelConfig::OpenAi(_))));
        let c =
            AgentConfig::from_env(&env(&[("OPENAI_API_KEY", "k"), ("MODEL_PROVIDER", "Bedrock")])).unwrap();
        assert_eq!(c.provider.reason, "MODEL_PROVIDER=bedrock");
        assert!(matches!(c.model, Some(ModelConfig::Bedrock(_))));
        // OpenAI chosen explicitly with nothing to call: no model, invocations say what to set.
        let c = AgentConfig::from_env(&env(&[("MODEL_PROVIDER", "openai")])).unwrap();
        assert!(c.model.is_none());
        let err = AgentConfig::from_env(&env(&[("MODEL_PROVIDER", "anthropic")])).unwrap_err();
        assert_eq!(err.var, "MODEL_PROVIDER");
    }

    #[test]
    fn model_settings() {
        let c = AgentConfig::from_env(&env(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("MODEL_ID", "m"),
            ("MODEL_PARAMS", r#"{"temperature": 0.2, "max_tokens": 5}"#),
            ("MAX_CYCLES", "4"),
        ]))
        .unwrap();
        assert_eq!(c.max_cycles, Some(4));
        let m = openai(c);
        assert_eq!(m.base_url, "http://127.0.0.1:9/v1");
        assert_eq!(m.model_id, "m");
        assert_eq!(m.params["max_tokens"].as_u64(), Some(5));
        assert_eq!(m.message_format, crate::model::openai::MessageFormat::Strands);
        let c = AgentConfig::from_env(&env(&[
            ("OPENAI_API_KEY", "k"),
            ("MODEL_MESSAGE_FORMAT", "plain"),
        ]))
        .unwrap();
        assert_eq!(
            openai(c).message_format,
            crate::model::openai::MessageFormat::Plain
        );
        let err = AgentConfig::from_env(&env(&[("OPENAI_API_KEY", "k"), ("MODEL_MESSAGE_FORMAT", "list")]))
            .unwrap_err();
        assert_eq!(err.var, "MODEL_MESSAGE_FORMAT");
        assert!(err.to_string().contains("\"list\""), "{err}");
        let err =
            AgentConfig::from_env(&env(&[("OPENAI_API_KEY", "k"), ("MODEL_PARAMS", "[1]")])).unwrap_err();
        assert_eq!(err.var, "MODEL_PARAMS");
        let err = AgentConfig::from_env(&env(&[("OPENAI_BASE_URL", "localhost:1")])).unwrap_err();
        assert_eq!(err.var, "OPENAI_BASE_URL");
        let err = AgentConfig::from_env(&env(&[
            ("OPENAI_API_KEY", "k"),
            ("MODEL_PARAMS", r#"{"x": "sekret""#),
        ]))
        .unwrap_err();
        assert!(!err.to_string().contains("sekret"), "{err}");
    }

    #[test]
    fn bedrock_settings() {
        let d = bedrock(&[]);
        assert_eq!(d.model_id, DEFAULT_MODEL_ID);
        assert_eq!(d.region, "us-west-2", "Strands' fallback");
        assert_eq!(d.endpoint, "https://bedrock-runtime.us-west-2.amazonaws.com");
        assert!(d.stream);
        assert_eq!(d.max_attempts, 3);
        let m = bedrock(&[
            ("AWS_REGION", "eu-central-1"),
            ("MODEL_ID", "eu.amazon.nova-pro-v1:0"),
            ("MODEL_STREAM", "false"),
            ("MODEL_MAX_ATTEMPTS", "5"),
            ("MODEL_TIMEOUT", "30s"),
            ("HTTPS_PROXY", "http://proxy:3128"),
            (
                "MODEL_PARAMS",
                r#"{"max_tokens": 64, "temperature": 0.5, "stop_sequences": ["x"]}"#,
            ),
        ]);
        assert_eq!(m.region, "eu-central-1");
        assert_eq!(m.endpoint, "https://bedrock-runtime.eu-central-1.amazonaws.com");
        assert_eq!(m.model_id, "eu.amazon.nova-pro-v1:0");
        assert!(!m.stream);
        assert_eq!(m.max_attempts, 5);
        assert_eq!(m.total_timeout, Duration::from_secs(30));
        assert_eq!(
            m.proxy,
            Some(ProxyConfig::new("http://proxy:3128", None).unwrap())
        );
        assert_eq!(m.params["max_tokens"], 64);
        // The SDKs' override variables, the service-specific one first.
        let m = bedrock(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:2/"),
        ]);
        assert_eq!(m.endpoint, "http://127.0.0.1:2");
        assert_eq!(
            bedrock(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]).endpoint,
            "http://127.0.0.1:1"
        );
    }

    #[test]
    fn bad_bedrock_values_name_their_variable() {
        let var = |vars: &[(&str, &str)]| {
            let mut vars = vars.to_vec();
            vars.push(("MODEL_PROVIDER", "bedrock"));
            AgentConfig::from_env(&env(&vars)).unwrap_err()
        };
        assert_eq!(
            var(&[("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "localhost:1")]).var,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
        );
        assert_eq!(var(&[("AWS_ENDPOINT_URL", "ftp://x")]).var, "AWS_ENDPOINT_URL");
        assert_eq!(var(&[("AWS_REGION", "us-east-1/../x")]).var, "AWS_REGION");
        assert_eq!(var(&[("MODEL_STREAM", "maybe")]).var, "MODEL_STREAM");
        for params in [
            r#"{"max_tokens": "many"}"#,
            r#"{"max_completion_tokens": 5}"#,
            r#"{"guardrail_id": "g"}"#,
            r#"{"streaming": false}"#,
            r#"{"stop_sequences": [1]}"#,
        ] {
            let err = var(&[("MODEL_PARAMS", params)]);
            assert_eq!(err.var, "MODEL_PARAMS", "{params}");
            assert!(err.value.is_none(), "MODEL_PARAMS is never echoed");
        }
        let err = var(&[("MODEL_PARAMS", r#"{"streaming": false}"#)]);
        assert!(err.to_string().contains("MODEL_STREAM"), "{err}");
    }

    #[test]
    fn the_model_proxy_comes_from_the_environment_as_ureq_reads_it() {
        assert_eq!(model_proxy(&env(&[])), None);
        assert_eq!(model_proxy(&env(&[("NO_PROXY", "x")])), None);
        // The first usable URL wins; an unusable one is skipped.
        let proxy = model_proxy(&env(&[
            ("ALL_PROXY", "ftp://nope"),
            ("https_proxy", "http://a:1"),
            ("HTTP_PROXY", "http://b:2"),
            ("no_proxy", "localhost"),
        ]));
        assert_eq!(
            proxy,
            Some(ProxyConfig::new("http://a:1", Some("localhost".into())).unwrap())
        );
        let c =
            AgentConfig::from_env(&env(&[("OPENAI_API_KEY", "k"), ("HTTP_PROXY", "http://b:2")])).unwrap();
        assert_eq!(
            openai(c).proxy,
            Some(ProxyConfig::new("http://b:2", None).unwrap())
        );
    }

    #[test]
    fn urls_lose_their_credentials_in_logs() {
        assert_eq!(
            redact_url_credentials("https://u:p@host:1/v1?x=@y"),
            "https://***@host:1/v1?x=@y"
        );
        assert_eq!(redact_url_credentials("http://host/v1"), "http://host/v1");
    }
}
