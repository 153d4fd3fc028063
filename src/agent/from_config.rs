//! [`Agent::from_config`]: the binary's default agent, built from [`AgentConfig`] (the
//! environment): an OpenAI-compatible or a Bedrock model, sessions in Strands' file layout,
//! optional structured output from a schema file, optional MCP tools.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::agent::error::AgentError;
use crate::agent::invoke::Agent;
use crate::aws::{DefaultCredentialsChain, ProvideCredentials};
use crate::config::{AgentConfig, ModelConfig, redact_url_credentials};
use crate::model::bedrock::{AwsSigner, BedrockModel, SignRequest};
use crate::model::openai::OpenAiModel;
use crate::model::{ChatModel, ModelError};
use crate::session::{FileSessionStore, S3SessionStore, SessionStore};
use crate::structured::{OutputSchema, SchemaError};
use crate::tools::mcp::{McpConfig, McpConfigError, McpStartError, McpToolProvider, load_config};
use crate::tools::{BackgroundStart, ToolError, ToolProvider};

/// What a missing model tells the operator (logged at start-up) and the caller (answered by the
/// entrypoint) to do.
pub const NO_MODEL_MESSAGE: &str = "no model configured: MODEL_PROVIDER=openai needs OPENAI_API_KEY \
     (and OPENAI_BASE_URL for an OpenAI-compatible endpoint other than api.openai.com); or use \
     MODEL_PROVIDER=bedrock (Amazon Bedrock with the AWS credentials of the environment, container \
     or instance); then restart";

/// Why [`Agent::from_config`] could not build the agent. The text names the setting at fault as
/// the binary prints it; [`source`](Error::source) is the underlying error.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// The model client refused its configuration.
    Model(ModelError),
    /// `STRUCTURED_OUTPUT_SCHEMA` names a file that cannot be read.
    SchemaUnreadable {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The `STRUCTURED_OUTPUT_SCHEMA` file is not JSON.
    SchemaNotJson {
        /// The path given.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The `STRUCTURED_OUTPUT_SCHEMA` file is JSON but not a usable output schema.
    SchemaInvalid {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        source: SchemaError,
    },
    /// The `MCP_CONFIG` file cannot be read or is invalid.
    McpConfig {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        source: McpConfigError,
    },
    /// An MCP server of `MCP_CONFIG` did not start (and may not fail), or two offer one tool name.
    McpStart {
        /// The config file's path.
        path: PathBuf,
        /// What failed.
        source: McpStartError,
    },
    /// The assembled configuration is inconsistent ([`crate::agent::AgentBuilder::build`]).
    Agent(AgentError),
    /// The thread that probes MCP servers in the background could not be started.
    Thread(io::Error),
    /// The background MCP probe failed without saying why (it panicked).
    McpProbe(ToolError),
    /// `SESSION_STORE` names S3 but no AWS region is configured.
    SessionStore(crate::aws::RegionError),
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let schema = |f: &mut fmt::Formatter<'_>, path: &Path| {
            write!(f, "invalid STRUCTURED_OUTPUT_SCHEMA={}: ", path.display())
        };
        match self {
            StartupError::Model(e) => write!(f, "model configuration: {e}"),
            StartupError::SchemaUnreadable { path, source } => {
                schema(f, path)?;
                write!(f, "{source}")
            }
            StartupError::SchemaNotJson { path, source } => {
                schema(f, path)?;
                write!(f, "not JSON: {source}")
            }
            StartupError::SchemaInvalid { path, source } => {
                schema(f, path)?;
                write!(f, "{source}")
            }
            StartupError::McpConfig { path, source } => {
                write!(f, "invalid MCP_CONFIG={}: {source}", path.display())
            }
            StartupError::McpStart { path, source } => write!(f, "MCP_CONFIG={}: {source}", path.display()),
            StartupError::Agent(e) => write!(f, "{e}"),
            StartupError::Thread(e) => write!(f, "cannot start the MCP probe thread: {e}"),
            StartupError::McpProbe(e) => write!(f, "MCP_CONFIG: {e}"),
            StartupError::SessionStore(e) => write!(f, "SESSION_STORE: {e} (set AWS_REGION)"),
        }
    }
}

impl Error for StartupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartupError::Model(e) => Some(e),
            StartupError::SchemaUnreadable { source, .. } => Some(source),
            StartupError::SchemaNotJson { source, .. } => Some(source),
            StartupError::SchemaInvalid { source, .. } => Some(source),
            StartupError::McpConfig { source, .. } => Some(source),
            StartupError::McpStart { source, .. } => Some(source),
            StartupError::Agent(e) => Some(e),
            StartupError::Thread(e) => Some(e),
            StartupError::McpProbe(e) => Some(e),
            StartupError::SessionStore(e) => Some(e),
        }
    }
}

impl Agent {
    /// The agent the binary serves: `None` (after logging [`NO_MODEL_MESSAGE`]) when no model
    /// is configured.
    ///
    /// Otherwise an [`OpenAiModel`] or a [`BedrockModel`] (see `build_model`), the window, cycle and attempt limits, a
    /// [`FileSessionStore`] under `session_dir` (fsync as `session_fsync` says), the system
    /// prompt, the output schema read from `structured_output_schema`, and the MCP servers of
    /// `mcp_config`, started here (their config warnings and start-up time are logged). Logs
    /// "agent ready" with the provider, the model, its endpoint (credentials redacted; the
    /// region too for Bedrock) and the session directory. `env` is the environment `mcp_config`'s `${VAR}` interpolation and its stdio
    /// servers' inherited variables come from (the binary passes the process's, as it does to
    /// [`AgentConfig::from_env`]).
    pub fn from_config(
        config: &AgentConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Agent>, StartupError> {
        Ok(Self::build_from_config(config, env, McpStart::Now)?.map(|(agent, _)| agent))
    }

    /// [`Agent::from_config`], except that the MCP servers are probed on a thread of their own:
    /// the agent is returned at once (so the server can listen and answer `/ping` during the
    /// probe), its invocations wait for the tools (up to the longest `startup_timeout`), and
    /// [`Startup::wait`] tells how the probe ended (`None` without `MCP_CONFIG`: nothing to wait
    /// for). Everything else fails here, as in `from_config`.
    pub fn from_config_in_background(
        config: &AgentConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(Agent, Option<Startup>)>, StartupError> {
        Self::build_from_config(config, env, McpStart::InBackground)
    }

    fn build_from_config(
        config: &AgentConfig,
        env: &dyn Fn(&str) -> Option<String>,
        mcp_start: McpStart,
    ) -> Result<Option<(Agent, Option<Startup>)>, StartupError> {
        crate::logging::info(&format!(
            "model provider {} ({})",
            config.provider.provider, config.provider.reason
        ))
        .emit();
        let Some(model_config) = &config.model else {
            crate::logging::warn(NO_MODEL_MESSAGE).emit();
            return Ok(None);
        };
        let (model, endpoint) = build_model(model_config, env, config.provider.defaulted)?;
        let (store, store_location): (Arc<dyn SessionStore>, String) = match &config.session_store {
            Some(s3) => {
                let store = S3SessionStore::from_env(s3.clone(), env).map_err(StartupError::SessionStore)?;
                (Arc::new(store), s3.location())
            }
            None => (
                Arc::new(FileSessionStore::new(&config.session_dir).with_fsync(config.session_fsync)),
                config.session_dir.display().to_string(),
            ),
        };
        let mut builder = Agent::builder(model)
            .window_size(config.window_size)
            .max_cycles(config.max_cycles)
            .structured_output_max_attempts(config.structured_output_max_attempts)
            .session_store(store)
            .session_lock_wait(config.session_lock_wait)
            .name(config.agent_name.clone());
        if let Some(prompt) = &config.system_prompt {
            builder = builder.system_prompt(prompt.clone());
        }
        if let Some(path) = &config.structured_output_schema {
            builder = builder.structured_output(read_schema(path)?);
        }
        let mut startup = None;
        if let Some(path) = &config.mcp_config {
            let mcp = read_mcp_config(path, env)?;
            match mcp_start {
                McpStart::Now => builder = builder.tool_provider(Arc::new(start_mcp(path, mcp)?)),
                McpStart::InBackground => {
                    let probe = start_mcp_in_background(path, mcp)?;
                    builder = builder.tool_provider(Arc::new(probe.provider.clone()));
                    startup = Some(probe);
                }
            }
        }
        let agent = builder.build().map_err(StartupError::Agent)?;
        let mut ready = crate::logging::info("agent ready")
            .str("provider", model_config.provider())
            .str("model", model_config.model_id());
        ready = match model_config {
            ModelConfig::OpenAi(_) => ready.str("baseUrl", &endpoint),
            ModelConfig::Bedrock(c) => ready.str("region", &c.region).str("endpoint", &endpoint),
        };
        ready.str("sessionStore", &store_location).emit();
        Ok(Some((agent, startup)))
    }
}

/// The model of `config` and its endpoint as logs may show it (credentials redacted).
///
/// Bedrock's credentials come from the AWS SDKs' default chain over `env`, resolved on the first
/// call and cached by the chain, not here: a server without credentials still starts and
/// answers `/ping`, and its invocations answer 503 naming the providers tried (what AgentCore
/// hands a container may appear after it starts, and an error that names the missing piece
/// helps more than a crash loop). A thread looks them up once at start, so the log says early
/// whether they were found and the first invocation does not pay for the lookup.
///
/// When Bedrock was chosen only because no OpenAI variable was set, its credential errors say
/// so: whoever meant an OpenAI-compatible model learns which variables to set.
fn build_model(
    config: &ModelConfig,
    env: &dyn Fn(&str) -> Option<String>,
    defaulted: bool,
) -> Result<(Arc<dyn ChatModel>, String), StartupError> {
    match config {
        ModelConfig::OpenAi(c) => {
            let endpoint = redact_url_credentials(&c.base_url);
            let model = OpenAiModel::new(c.clone()).map_err(StartupError::Model)?;
            Ok((Arc::new(model), endpoint))
        }
        ModelConfig::Bedrock(c) => {
            let endpoint = redact_url_credentials(&c.endpoint);
            let chain: Arc<dyn ProvideCredentials> = Arc::new(DefaultCredentialsChain::from_env(env));
            let signer = AwsSigner::new(Arc::clone(&chain));
            let signer: Arc<dyn SignRequest> = if defaulted {
                Arc::new(DefaultedSigner(signer))
            } else {
                Arc::new(signer)
            };
            let model = BedrockModel::new(c.clone(), signer).map_err(StartupError::Model)?;
            probe_credentials(chain);
            Ok((Arc::new(model), endpoint))
        }
    }
}

/// An [`AwsSigner`] whose errors add how to pick the other provider.
struct DefaultedSigner(AwsSigner);

impl SignRequest for DefaultedSigner {
    fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        region: &str,
        service: &str,
        now: SystemTime,
    ) -> Result<Vec<(&'static str, String)>, String> {
        self.0
            .sign(url, headers, body, region, service, now)
            .map_err(|e| format!("{e} ({DEFAULTED_HINT})"))
    }

    fn invalidate(&self) {
        self.0.invalidate();
    }
}

/// Appended to Bedrock's credential errors when nobody chose Bedrock.
const DEFAULTED_HINT: &str = "Bedrock is the default model provider when MODEL_PROVIDER is unset and \
     neither OPENAI_API_KEY nor OPENAI_BASE_URL is set; set those for an OpenAI-compatible model";

/// Resolves the credentials once on a thread of its own and logs the outcome (never a secret:
/// the error names providers and reasons only).
fn probe_credentials(chain: Arc<dyn ProvideCredentials>) {
    let spawned = std::thread::Builder::new()
        .name("aws-credentials".into())
        .spawn(move || match chain.credentials() {
            Ok(_) => crate::logging::info("AWS credentials found").emit(),
            Err(e) => crate::logging::warn(
                "no AWS credentials yet: Bedrock invocations answer 503 until the chain finds some",
            )
            .str("error", &e.to_string())
            .emit(),
        });
    if let Err(e) = spawned {
        crate::logging::warn("cannot look up AWS credentials at start-up")
            .str("error", &e.to_string())
            .emit();
    }
}

/// Whether `build_from_config` waits for the MCP probe.
enum McpStart {
    Now,
    InBackground,
}

/// The MCP probe of [`Agent::from_config_in_background`], still running or ended.
#[derive(Debug)]
pub struct Startup {
    provider: BackgroundStart,
    /// The probe's own error, kept for `wait` (invocations get a [`ToolError`] naming it).
    failure: Arc<Mutex<Option<StartupError>>>,
}

impl Startup {
    /// Blocks until the MCP servers are probed: `Err` is what [`Agent::from_config`] would
    /// have failed with.
    pub fn wait(self) -> Result<(), StartupError> {
        match self.provider.wait_started() {
            Ok(()) => Ok(()),
            Err(tool_error) => Err(crate::sync::lock(&self.failure)
                .take()
                .unwrap_or(StartupError::McpProbe(tool_error))),
        }
    }
}

/// The output schema in the file at `path`.
fn read_schema(path: &Path) -> Result<OutputSchema, StartupError> {
    let path_buf = || path.to_path_buf();
    let text = std::fs::read_to_string(path).map_err(|source| StartupError::SchemaUnreadable {
        path: path_buf(),
        source,
    })?;
    let schema = serde_json::from_str(&text).map_err(|source| StartupError::SchemaNotJson {
        path: path_buf(),
        source,
    })?;
    OutputSchema::from_json_schema(schema).map_err(|source| StartupError::SchemaInvalid {
        path: path_buf(),
        source,
    })
}

/// The config file at `path`, read and checked (its warnings logged).
fn read_mcp_config(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<McpConfig, StartupError> {
    let mcp = load_config(path, env).map_err(|source| StartupError::McpConfig {
        path: path.to_path_buf(),
        source,
    })?;
    for warning in &mcp.warnings {
        crate::logging::warn("MCP_CONFIG").str("warning", warning).emit();
    }
    Ok(mcp)
}

/// The MCP servers of `mcp`, started (probed).
fn start_mcp(path: &Path, mcp: McpConfig) -> Result<McpToolProvider, StartupError> {
    let started = Instant::now();
    let provider = McpToolProvider::start(mcp).map_err(|source| StartupError::McpStart {
        path: path.to_path_buf(),
        source,
    })?;
    crate::logging::info("MCP servers ready")
        .float("startupMs", started.elapsed().as_secs_f64() * 1000.0)
        .emit();
    Ok(provider)
}

/// [`start_mcp`] on a thread of its own; invocations wait for it up to the longest
/// `startup_timeout` of the servers (plus a second for the listing after the handshake).
fn start_mcp_in_background(path: &Path, mcp: McpConfig) -> Result<Startup, StartupError> {
    let wait = mcp
        .servers
        .iter()
        .map(|s| s.startup_timeout)
        .max()
        .unwrap_or_default()
        + Duration::from_secs(1);
    let failure = Arc::new(Mutex::new(None));
    let kept = Arc::clone(&failure);
    let path = path.to_path_buf();
    let provider = BackgroundStart::spawn("mcp", wait, move || match start_mcp(&path, mcp) {
        Ok(provider) => Ok(Arc::new(provider) as Arc<dyn ToolProvider>),
        Err(error) => {
            let for_invocations = ToolError::new("MCP_CONFIG", error.to_string());
            *crate::sync::lock(&kept) = Some(error);
            Err(for_invocations)
        }
    })
    .map_err(StartupError::Thread)?;
    Ok(Startup { provider, failure })
}
