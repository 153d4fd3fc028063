//! The `mcpServers` config file (`MCP_CONFIG`), in Strands' `MCPClient.load_servers` format with
//! our lifecycle keys added:
//!
//! ```json
//! {"mcpServers": {
//!   "calc":  {"command": "uvx", "args": ["calc-mcp"], "env": {"KEY": "${API_KEY}"}, "cwd": "~/srv",
//!             "prefix": "calc", "tool_filters": {"allowed": ["add", "mul"], "rejected": ["mul_slow"]},
//!             "startup_timeout": 30, "lifecycle": "per-session", "idle_timeout": 900},
//!   "web":   {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${env:TOKEN}"},
//!             "lifecycle": "shared", "continue_on_error": true},
//!   "off":   {"command": "x", "disabled": true}
//! }}
//! ```
//!
//! - `${VAR}` and `${env:VAR}` are replaced in every string value; an unset variable is an error
//!   naming it and the server. `~` is expanded at the start of `command` and `cwd`.
//! - The transport is `command` -> stdio, `url` -> streamable-http; both without `transport` is
//!   an error. `transport: "sse"` (the deprecated HTTP+SSE transport) is refused with a clear
//!   error: servers that still offer it nearly all offer streamable HTTP too.
//! - `tool_filters` patterns are regexes matched at the start of the **unprefixed** tool name
//!   (Python's `re.match`), so `"add"` also allows `add_more`.
//! - Our additions: `lifecycle` (`per-session` default, `per-request`, `shared`), `idle_timeout`
//!   (seconds, default 900, the AgentCore session idle timeout) and `call_timeout` (seconds per
//!   tools/call, default 600; Strands has none and would wait forever), and `max_instances`
//!   (`per-session`: live instances at most, default 16; the least recently used idle one is
//!   stopped to make room; a number or a string such as `"${MCP_MAX_INSTANCES}"`).
//! - `auth` (OAuth) is refused; unknown keys are reported in [`McpConfig::warnings`].
//! - Disabled servers are not validated (so their variables need not be set) and not started.
//! - Variables come from the lookup the caller passes; nothing here reads the process
//!   environment. The same lookup gives what a stdio server inherits (`inherited_env`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::config::{Lifecycle, McpConfig, McpServerConfig, ToolFilters, Transport};
use crate::tools::Cause;

const KNOWN_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "transport",
    "disabled",
    "prefix",
    "tool_filters",
    "startup_timeout",
    "call_timeout",
    "continue_on_error",
    "lifecycle",
    "idle_timeout",
    "max_instances",
    "application_name",
    "application_version",
    "auth",
];

/// Why the config file was refused.
///
/// Equality ignores causes (their text is part of the message).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum McpConfigError {
    /// The file could not be read.
    Read {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        message: String,
        /// The OS error itself ([`std::error::Error::source`]).
        cause: Cause,
    },
    /// The text is not JSON.
    Json {
        /// The parser's message (with line and column).
        message: String,
        /// The parser's error itself.
        cause: Cause,
    },
    /// A value is missing or wrong.
    Invalid {
        /// The server, when the problem is inside one.
        server: Option<String>,
        /// The key (path) at fault, e.g. `env.API_KEY` or `tool_filters.allowed[0]`.
        field: String,
        /// What is wrong.
        message: String,
        /// The error underneath, when there is one (an invalid regex).
        cause: Option<Cause>,
    },
}

impl PartialEq for McpConfigError {
    fn eq(&self, other: &Self) -> bool {
        use McpConfigError as E;
        match (self, other) {
            (
                E::Read {
                    path: p1,
                    message: m1,
                    ..
                },
                E::Read {
                    path: p2,
                    message: m2,
                    ..
                },
            ) => (p1, m1) == (p2, m2),
            (E::Json { message: m1, .. }, E::Json { message: m2, .. }) => m1 == m2,
            (
                E::Invalid {
                    server: s1,
                    field: f1,
                    message: m1,
                    ..
                },
                E::Invalid {
                    server: s2,
                    field: f2,
                    message: m2,
                    ..
                },
            ) => (s1, f1, m1) == (s2, f2, m2),
            _ => false,
        }
    }
}

impl Eq for McpConfigError {}

impl fmt::Display for McpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            McpConfigError::Read { path, message, .. } => {
                write!(f, "cannot read MCP config {}: {message}", path.display())
            }
            McpConfigError::Json { message, .. } => write!(f, "MCP config is not valid JSON: {message}"),
            McpConfigError::Invalid {
                server: Some(server),
                field,
                message,
                ..
            } => {
                write!(f, "MCP config: mcpServers.{server}.{field}: {message}")
            }
            McpConfigError::Invalid {
                server: None,
                field,
                message,
                ..
            } => write!(f, "MCP config: {field}: {message}"),
        }
    }
}

impl std::error::Error for McpConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            McpConfigError::Read { cause, .. }
            | McpConfigError::Json { cause, .. }
            | McpConfigError::Invalid {
                cause: Some(cause), ..
            } => Some(&**cause),
            McpConfigError::Invalid { cause: None, .. } => None,
        }
    }
}

/// Reads and parses the config file at `path`, reading variables (for `${VAR}`, `~` and the
/// environment stdio servers inherit) through `env`: the binary passes the process
/// environment, tests a fake one.
pub fn load_config(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<McpConfig, McpConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| McpConfigError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
        cause: Arc::new(e),
    })?;
    McpConfig::from_str_with_env(&text, env)
}

impl McpConfig {
    /// Parses config text, reading variables through `env`: `${VAR}` and `${env:VAR}`, `HOME`
    /// for `~`, and what stdio servers inherit ([`Transport::Stdio`]'s `inherited_env`).
    pub fn from_str_with_env(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<McpConfig, McpConfigError> {
        let root: Value = serde_json::from_str(text).map_err(|e| McpConfigError::Json {
            message: e.to_string(),
            cause: Arc::new(e),
        })?;
        let top_invalid = |field: &str, message: &str| McpConfigError::Invalid {
            server: None,
            field: field.to_string(),
            message: message.to_string(),
            cause: None,
        };
        let Value::Object(root) = root else {
            return Err(top_invalid("(top level)", "must be a JSON object"));
        };
        let servers = match root.get("mcpServers") {
            Some(Value::Object(servers)) => servers,
            Some(_) => return Err(top_invalid("mcpServers", "must be an object of servers by name")),
            None => return Err(top_invalid("mcpServers", "missing")),
        };
        let mut config = McpConfig::default();
        for (name, entry) in servers {
            let Value::Object(entry) = entry else {
                return Err(McpConfigError::Invalid {
                    server: Some(name.clone()),
                    field: "(server)".into(),
                    message: "must be an object".into(),
                    cause: None,
                });
            };
            let parser = ServerParser { name, env };
            if parser.bool(entry, "disabled")?.unwrap_or(false) {
                config.disabled.push(name.clone());
                continue;
            }
            for key in entry.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
                config.warnings.push(format!(
                    "MCP config: mcpServers.{name}: unknown key '{key}' ignored"
                ));
            }
            config.servers.push(parser.server(entry, &mut config.warnings)?);
        }
        Ok(config)
    }
}

struct ServerParser<'a> {
    name: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl ServerParser<'_> {
    fn invalid(&self, field: &str, message: impl Into<String>) -> McpConfigError {
        McpConfigError::Invalid {
            server: Some(self.name.to_string()),
            field: field.to_string(),
            message: message.into(),
            cause: None,
        }
    }

    /// [`Self::invalid`], caused by `cause`.
    fn invalid_because(
        &self,
        field: &str,
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> McpConfigError {
        McpConfigError::Invalid {
            server: Some(self.name.to_string()),
            field: field.to_string(),
            message: message.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    fn server(
        &self,
        entry: &Map<String, Value>,
        warnings: &mut Vec<String>,
    ) -> Result<McpServerConfig, McpConfigError> {
        if entry.contains_key("auth") {
            return Err(self.invalid(
                "auth",
                "OAuth is not supported; send a token in `headers` instead",
            ));
        }
        let command = self.string(entry, "command")?;
        let url = self.string(entry, "url")?;
        let transport_name = self.string(entry, "transport")?;
        let kind = match (transport_name.as_deref(), &command, &url) {
            (Some("stdio"), _, _) => "stdio",
            (Some("streamable-http" | "streamable_http" | "http"), _, _) => "http",
            (Some("sse"), _, _) => {
                return Err(self.invalid(
                    "transport",
                    "the deprecated HTTP+SSE transport is not supported; use the server's streamable-http endpoint",
                ));
            }
            (Some(other), _, _) => {
                return Err(self.invalid(
                    "transport",
                    format!("unknown transport '{other}' (stdio or streamable-http)"),
                ));
            }
            (None, Some(_), Some(_)) => {
                return Err(self.invalid(
                    "transport",
                    "both `command` and `url` are set: say which with `transport`",
                ));
            }
            (None, Some(_), None) => "stdio",
            (None, None, Some(_)) => "http",
            (None, None, None) => {
                return Err(self.invalid("command", "a server needs `command` (stdio) or `url` (HTTP)"));
            }
        };
        let transport = if kind == "stdio" {
            let command =
                command.ok_or_else(|| self.invalid("command", "required for the stdio transport"))?;
            if command.is_empty() {
                return Err(self.invalid("command", "is empty"));
            }
            let cwd = self
                .string(entry, "cwd")?
                .map(|cwd| self.expand_home("cwd", &cwd))
                .transpose()?;
            Transport::Stdio {
                command: self.expand_home("command", &command)?,
                args: self.string_list(entry, "args")?,
                inherited_env: inherited_env(self.env),
                env: self.string_map(entry, "env")?,
                cwd: cwd.map(PathBuf::from),
            }
        } else {
            let url = url.ok_or_else(|| self.invalid("url", "required for the streamable-http transport"))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(self.invalid("url", format!("'{url}' is not an http:// or https:// URL")));
            }
            Transport::StreamableHttp {
                url,
                headers: self.string_map(entry, "headers")?,
            }
        };
        let mut server = McpServerConfig::new(self.name, transport);
        server.prefix = self.string(entry, "prefix")?.filter(|p| !p.is_empty());
        server.tool_filters = self.filters(entry, warnings)?;
        if let Some(t) = self.seconds(entry, "startup_timeout")? {
            server.startup_timeout = t;
        }
        if let Some(t) = self.seconds(entry, "call_timeout")? {
            server.call_timeout = t;
        }
        if let Some(t) = self.seconds(entry, "idle_timeout")? {
            server.idle_timeout = t;
        }
        if let Some(n) = self.count(entry, "max_instances")? {
            server.max_instances = n;
        }
        server.continue_on_error = self.bool(entry, "continue_on_error")?.unwrap_or(false);
        server.lifecycle = match self.string(entry, "lifecycle")?.as_deref() {
            None | Some("per-session") => Lifecycle::PerSession,
            Some("per-request") => Lifecycle::PerRequest,
            Some("shared") => Lifecycle::Shared,
            Some(other) => {
                return Err(self.invalid(
                    "lifecycle",
                    format!("'{other}' is not per-session, per-request or shared"),
                ));
            }
        };
        server.application_name = self.string(entry, "application_name")?;
        server.application_version = self.string(entry, "application_version")?;
        Ok(server)
    }

    /// `${VAR}` / `${env:VAR}` replaced; an unset variable is an error.
    fn interpolate(&self, field: &str, text: &str) -> Result<String, McpConfigError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let reference = after.find('}').map(|end| (&after[..end], &after[end + 1..]));
            match reference {
                Some((inner, tail)) if is_var_name(inner.strip_prefix("env:").unwrap_or(inner)) => {
                    let var = inner.strip_prefix("env:").unwrap_or(inner);
                    let value = (self.env)(var).ok_or_else(|| {
                        self.invalid(field, format!("environment variable {var} is not set"))
                    })?;
                    out.push_str(&value);
                    rest = tail;
                }
                _ => {
                    out.push_str("${");
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn expand_home(&self, field: &str, path: &str) -> Result<String, McpConfigError> {
        let rest = match path.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => return Ok(path.to_string()),
        };
        let home =
            (self.env)("HOME").ok_or_else(|| self.invalid(field, "starts with ~ but HOME is not set"))?;
        Ok(format!("{}{rest}", home.trim_end_matches('/')))
    }

    fn string(&self, entry: &Map<String, Value>, key: &str) -> Result<Option<String>, McpConfigError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => self.interpolate(key, s).map(Some),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    fn bool(&self, entry: &Map<String, Value>, key: &str) -> Result<Option<bool>, McpConfigError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(key, "must be true or false")),
        }
    }

    fn seconds(&self, entry: &Map<String, Value>, key: &str) -> Result<Option<Duration>, McpConfigError> {
        let number = match entry.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => self.interpolate(key, s)?.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        number
            .filter(|s| s.is_finite() && *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map(Some)
            .ok_or_else(|| self.invalid(key, "must be a positive number of seconds"))
    }

    fn count(&self, entry: &Map<String, Value>, key: &str) -> Result<Option<usize>, McpConfigError> {
        let number = match entry.get(key) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => self.interpolate(key, s)?.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        number
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.invalid(key, "must be a positive whole number"))
    }

    fn string_list(&self, entry: &Map<String, Value>, key: &str) -> Result<Vec<String>, McpConfigError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = format!("{key}[{i}]");
                    match item {
                        Value::String(s) => self.interpolate(&field, s),
                        _ => Err(self.invalid(&field, "must be a string")),
                    }
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "must be a list of strings")),
        }
    }

    fn string_map(
        &self,
        entry: &Map<String, Value>,
        key: &str,
    ) -> Result<Vec<(String, String)>, McpConfigError> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    let field = format!("{key}.{k}");
                    match v {
                        Value::String(s) => Ok((k.clone(), self.interpolate(&field, s)?)),
                        _ => Err(self.invalid(&field, "must be a string")),
                    }
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "must be an object of strings")),
        }
    }

    fn filters(
        &self,
        entry: &Map<String, Value>,
        warnings: &mut Vec<String>,
    ) -> Result<ToolFilters, McpConfigError> {
        let filters = match entry.get("tool_filters") {
            None | Some(Value::Null) => return Ok(ToolFilters::default()),
            Some(Value::Object(filters)) => filters,
            Some(_) => {
                return Err(self.invalid(
                    "tool_filters",
                    "must be an object with `allowed` and/or `rejected`",
                ));
            }
        };
        for key in filters
            .keys()
            .filter(|k| !matches!(k.as_str(), "allowed" | "rejected"))
        {
            warnings.push(format!(
                "MCP config: mcpServers.{}.tool_filters: unknown key '{key}' ignored",
                self.name
            ));
        }
        let patterns = |key: &str| -> Result<Option<Vec<Regex>>, McpConfigError> {
            let field = format!("tool_filters.{key}");
            let items = match filters.get(key) {
                None | Some(Value::Null) => return Ok(None),
                Some(Value::Array(items)) => items,
                Some(_) => return Err(self.invalid(&field, "must be a list of regexes")),
            };
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let field = format!("{field}[{i}]");
                    let Value::String(pattern) = item else {
                        return Err(self.invalid(&field, "must be a string"));
                    };
                    let pattern = self.interpolate(&field, pattern)?;
                    ToolFilters::pattern(&pattern).map_err(|e| {
                        self.invalid_because(&field, format!("invalid regex '{pattern}': {e}"), e)
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
        Ok(ToolFilters {
            allowed: patterns("allowed")?,
            rejected: patterns("rejected")?.unwrap_or_default(),
        })
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variables a stdio server inherits (the Python SDK's `DEFAULT_INHERITED_ENV_VARS`).
const INHERITED_ENV_VARS: [&str; 6] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// The part of `env` a stdio server inherits. Exported shell functions look like `() { ...`;
/// the SDK keeps them out too.
fn inherited_env(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    INHERITED_ENV_VARS
        .iter()
        .filter_map(|&key| Some((key.to_string(), env(key)?)))
        .filter(|(_, value)| !value.starts_with("()"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "TOKEN" => Some("t0k".into()),
            "PORT" => Some("8123".into()),
            "SHELL" => Some("/bin/sh".into()),
            "TERM" => Some("() { exported function; }".into()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<McpConfig, McpConfigError> {
        McpConfig::from_str_with_env(text, &env)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn full_example() {
        let config = parse(
            r#"{"mcpServers": {
              "calc": {"command": "~/bin/calc", "args": ["--port", "${PORT}"], "env": {"K": "a${env:TOKEN}b"},
                       "cwd": "~", "prefix": "c", "tool_filters": {"allowed": ["add", "mu."], "rejected": ["add_x"]},
                       "startup_timeout": 2.5, "lifecycle": "per-request", "idle_timeout": "60", "frob": 1},
              "web": {"url": "http://127.0.0.1:${PORT}/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"},
                      "lifecycle": "shared", "continue_on_error": true,
                      "max_instances": "${PORT}"},
              "off": {"command": "x", "args": ["${UNSET}"], "disabled": true}
            }}"#,
        )
        .unwrap();
        assert_eq!(config.disabled, vec!["off".to_string()]);
        assert_eq!(
            config.warnings,
            vec!["MCP config: mcpServers.calc: unknown key 'frob' ignored".to_string()]
        );
        let calc = &config.servers[0];
        assert_eq!(
            calc.transport,
            Transport::Stdio {
                command: "/home/u/bin/calc".into(),
                args: vec!["--port".into(), "8123".into()],
                inherited_env: vec![
                    ("HOME".into(), "/home/u".into()),
                    ("SHELL".into(), "/bin/sh".into()),
                ],
                env: vec![("K".into(), "at0kb".into())],
                cwd: Some(PathBuf::from("/home/u")),
            }
        );
        assert_eq!(calc.tool_name("add"), "c_add");
        assert_eq!(calc.startup_timeout, Duration::from_millis(2500));
        assert_eq!(calc.idle_timeout, Duration::from_secs(60));
        assert_eq!(calc.lifecycle, Lifecycle::PerRequest);
        assert_eq!(calc.max_instances, 16);
        let f = &calc.tool_filters;
        assert!(f.allows("add") && f.allows("add_more") && f.allows("mul") && !f.allows("x_add"));
        assert!(!f.allows("add_x") && !f.allows("add_xy") && !f.allows("sub"));
        let web = &config.servers[1];
        assert_eq!(
            web.transport,
            Transport::StreamableHttp {
                url: "http://127.0.0.1:8123/mcp".into(),
                headers: vec![("Authorization".into(), "Bearer t0k".into())],
            }
        );
        assert!(web.continue_on_error);
        assert_eq!(web.max_instances, 8123);
        assert_eq!(web.lifecycle, Lifecycle::Shared);
        assert_eq!(web.startup_timeout, Duration::from_secs(30));
        assert!(web.tool_filters.allows("anything"));
    }

    #[test]
    fn errors_name_server_and_field() {
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"command": "x", "env": {"A": "${NOPE}"}}}}"#),
            "MCP config: mcpServers.s.env.A: environment variable NOPE is not set"
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"command": "x", "url": "http://h/mcp"}}}"#),
            "MCP config: mcpServers.s.transport: both `command` and `url` are set: say which with `transport`"
        );
        assert!(
            error(r#"{"mcpServers": {"s": {"command": "x", "tool_filters": {"allowed": ["("]}}}}"#)
                .starts_with("MCP config: mcpServers.s.tool_filters.allowed[0]: invalid regex '(':")
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"url": "http://h/mcp", "transport": "sse"}}}"#),
            "MCP config: mcpServers.s.transport: the deprecated HTTP+SSE transport is not supported; use the server's streamable-http endpoint"
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {}}}"#),
            "MCP config: mcpServers.s.command: a server needs `command` (stdio) or `url` (HTTP)"
        );
        assert_eq!(error(r#"{"servers": {}}"#), "MCP config: mcpServers: missing");
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"command": "x", "startup_timeout": 0}}}"#),
            "MCP config: mcpServers.s.startup_timeout: must be a positive number of seconds"
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"command": "x", "lifecycle": "forever"}}}"#),
            "MCP config: mcpServers.s.lifecycle: 'forever' is not per-session, per-request or shared"
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"url": "ftp://h"}}}"#),
            "MCP config: mcpServers.s.url: 'ftp://h' is not an http:// or https:// URL"
        );
        assert_eq!(
            error(r#"{"mcpServers": {"s": {"command": "x", "max_instances": 0}}}"#),
            "MCP config: mcpServers.s.max_instances: must be a positive whole number"
        );
        assert!(error("{").starts_with("MCP config is not valid JSON:"));
    }

    #[test]
    fn explicit_transport_wins_and_odd_references_stay_literal() {
        let config = parse(
            r#"{"mcpServers": {"s": {"command": "x", "url": "http://h/mcp", "transport": "stdio",
                "args": ["$HOME", "${}", "${not a var}", "${", "$${TOKEN}"]}}}"#,
        )
        .unwrap();
        let Transport::Stdio { args, .. } = &config.servers[0].transport else {
            panic!("not stdio")
        };
        assert_eq!(args, &["$HOME", "${}", "${not a var}", "${", "$t0k"]);
    }
}
