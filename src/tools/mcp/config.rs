//! What MCP servers are configured as: how to reach each one, which of its tools to offer, and
//! its lifecycle. The `mcpServers` file that fills these is read by [`load_config`].
//!
//! [`load_config`]: super::load_config

use std::path::PathBuf;
use std::time::Duration;

use regex_lite::Regex;

const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(900);
/// Default `max_instances`: enough for a handful of concurrent users, small enough that a
/// client making a new session per call (`agentcore invoke --dev` without `-s`) cannot pile up
/// processes until the idle timeout.
pub const DEFAULT_MAX_INSTANCES: usize = 16;

/// The parsed config file: the enabled servers, in file order.
#[derive(Debug, Clone, Default)]
pub struct McpConfig {
    /// Enabled servers.
    pub servers: Vec<McpServerConfig>,
    /// Names of servers marked `disabled`.
    pub disabled: Vec<String>,
    /// Things worth logging that are not errors (unknown keys).
    pub warnings: Vec<String>,
}

/// One server.
#[derive(Debug, Clone)]
pub struct McpServerConfig {
    /// The key under `mcpServers`; names the server in logs and errors.
    pub name: String,
    /// How to reach it.
    pub transport: Transport,
    /// Tool names become `<prefix>_<name>` when set.
    pub prefix: Option<String>,
    /// Which tools are offered to the model.
    pub tool_filters: ToolFilters,
    /// Limit for start + initialize + tools/list (default 30 s, as Strands).
    pub startup_timeout: Duration,
    /// Limit for one tools/call (default 600 s).
    pub call_timeout: Duration,
    /// When the server fails to start: log it and go on without its tools (retrying on later
    /// use) instead of failing.
    pub continue_on_error: bool,
    /// Who shares a server process.
    pub lifecycle: Lifecycle,
    /// `per-session`: stop a session's server after this long unused (default 900 s).
    pub idle_timeout: Duration,
    /// `per-session`: at most this many instances alive at once (default 16). Starting one more
    /// stops the least recently used idle one first; when every instance is in use by a running
    /// invocation, the new one starts over the bound (logged) and the excess is stopped as soon
    /// as invocations end.
    pub max_instances: usize,
    /// `clientInfo.name` sent in initialize (default `agentcore-rt`).
    pub application_name: Option<String>,
    /// `clientInfo.version` sent in initialize (default our version).
    pub application_version: Option<String>,
}

/// How a server is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A child process speaking JSON-RPC lines on stdin/stdout. Never run through a shell.
    Stdio {
        /// Program (looked up on `PATH` when it has no `/`).
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// What the server inherits from the runtime's environment: HOME, LOGNAME, PATH, SHELL,
        /// TERM and USER as set when the config was read (the Python SDK's default environment;
        /// values that are exported shell functions left out). Nothing else is inherited.
        inherited_env: Vec<(String, String)>,
        /// Variables added to (or overriding) the inherited ones: the config's `env`.
        env: Vec<(String, String)>,
        /// Working directory (default: ours).
        cwd: Option<PathBuf>,
    },
    /// MCP Streamable HTTP.
    StreamableHttp {
        /// The MCP endpoint, e.g. `http://127.0.0.1:8000/mcp`.
        url: String,
        /// Extra request headers (e.g. `Authorization`).
        headers: Vec<(String, String)>,
    },
}

/// Who shares one server instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifecycle {
    /// One instance per runtime session, started on its first use, kept for its later
    /// invocations, stopped after `idle_timeout` unused and at shutdown.
    #[default]
    PerSession,
    /// A fresh instance for every invocation, stopped when it ends.
    PerRequest,
    /// One instance for all sessions.
    Shared,
}

/// `tool_filters`: `allowed` (if given, a tool must match one) and `rejected` (it must match none).
#[derive(Debug, Clone, Default)]
pub struct ToolFilters {
    /// Start-anchored patterns; `None` allows everything.
    pub allowed: Option<Vec<Regex>>,
    /// Start-anchored patterns.
    pub rejected: Vec<Regex>,
}

impl ToolFilters {
    /// Whether the tool with this (unprefixed) MCP name is offered.
    pub fn allows(&self, name: &str) -> bool {
        let allowed = self
            .allowed
            .as_ref()
            .is_none_or(|patterns| patterns.iter().any(|re| re.is_match(name)));
        allowed && !self.rejected.iter().any(|re| re.is_match(name))
    }

    /// Compiles `pattern` the way Python's `re.match` applies it: anchored at the start only.
    pub fn pattern(pattern: &str) -> Result<Regex, regex_lite::Error> {
        Regex::new(&format!("^(?:{pattern})"))
    }
}

impl McpServerConfig {
    /// A server with every option at its default.
    pub fn new(name: impl Into<String>, transport: Transport) -> Self {
        McpServerConfig {
            name: name.into(),
            transport,
            prefix: None,
            tool_filters: ToolFilters::default(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            continue_on_error: false,
            lifecycle: Lifecycle::PerSession,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_instances: DEFAULT_MAX_INSTANCES,
            application_name: None,
            application_version: None,
        }
    }

    /// The name the model sees for the MCP tool `mcp_name`: `prefix_name`, or the name as is.
    pub fn tool_name(&self, mcp_name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}_{mcp_name}"),
            None => mcp_name.to_string(),
        }
    }
}
