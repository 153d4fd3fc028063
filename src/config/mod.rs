//! Configuration: validated values built once at start-up from the environment.
//!
//! Two stages, as in ripgrep: raw strings from the environment are parsed and checked here into
//! typed values (`SocketAddr`, `Duration`, sizes), and a bad value is a `ConfigError` naming the
//! variable and the value it got. Nothing else in the crate reads the environment.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Limits and timeouts of the HTTP server. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The container protocol served (`PROTOCOL` or `--protocol`; default `http`).
    pub protocol: Protocol,
    /// The events `/invocations` and `/ws` speak (`EVENT_FORMAT`: `native`, the default, or
    /// `agui`; `PROTOCOL=agui` implies `agui` and refuses `native`).
    pub event_format: EventFormat,
    /// Address to listen on (`HOST`, and `PORT`, or `A2A_PORT` for A2A; default `0.0.0.0` and
    /// the protocol's port: 8080, 8000 for MCP, 9000 for A2A).
    pub addr: SocketAddr,
    /// OS threads that run handlers (`WORKER_THREADS`, default 64). Each invocation holds one
    /// for its whole duration (model calls take seconds), so size it to the concurrent
    /// invocations you expect.
    pub worker_threads: usize,
    /// Invocations running or queued at once (`MAX_CONCURRENT_INVOCATIONS`, default 256); past it
    /// `/invocations` answers 503 and `/ws` refuses new sessions. `/ping` is never limited.
    pub max_invocations: usize,
    /// Open WebSocket sessions (`MAX_WEBSOCKETS`, default 256). Each holds a thread of its own
    /// for its handler, outside the invocation pool, so idle sessions cannot starve
    /// `/invocations`; past it upgrades are refused (close 1013).
    pub max_websockets: usize,
    /// Open connections (`MAX_CONNECTIONS`, default 10000); past it a connection gets one answer
    /// (`/ping` still works, anything else 503) and is closed.
    pub max_connections: usize,
    /// Request body limit in bytes (`MAX_BODY_BYTES`, default 100 MiB as AgentCore allows).
    pub max_body_bytes: usize,
    /// Request line + headers limit in bytes (`MAX_HEADER_BYTES`, default 64 KiB); past it 431.
    pub max_head_bytes: usize,
    /// Header count limit (`MAX_HEADERS`, default 128); past it 431.
    pub max_headers: usize,
    /// JSON nesting limit for request payloads (`MAX_JSON_DEPTH`, default 256); past it 400.
    pub max_json_depth: usize,
    /// Idle keep-alive connections are closed after this (`IDLE_TIMEOUT`, default 60s).
    pub idle_timeout: Duration,
    /// A request head must arrive within this once its first byte has (`HEADER_TIMEOUT`, 10s).
    pub head_timeout: Duration,
    /// Longest pause while reading a request body (`BODY_TIMEOUT`, default 30s).
    pub body_timeout: Duration,
    /// Longest a single write may block on a client that does not read (`WRITE_TIMEOUT`, 30s).
    pub write_timeout: Duration,
    /// On SIGTERM, in-flight requests get this long to finish (`DRAIN_TIMEOUT`, default 10s;
    /// AgentCore allows 15 s of termination grace).
    pub drain_timeout: Duration,
    /// Largest WebSocket message (and frame) accepted (`WS_MAX_MESSAGE_BYTES`, default 16 MiB).
    pub ws_max_message_bytes: usize,
    /// Log `/ping` requests too (`LOG_PINGS`, default false: health checks are frequent).
    pub log_pings: bool,
    /// Optional bearer token required on `/invocations` and `/ws` (`AUTH_BEARER_TOKEN`; unset =
    /// off, as inside AgentCore, which authenticates before the container). `/ping` stays open.
    pub auth_bearer_token: Option<String>,
    /// Origins a browser may call `POST /mcp` from (`MCP_ALLOWED_ORIGINS`, comma-separated, `*`
    /// for any). Unset: a server listening on loopback takes only loopback origins (the MCP
    /// spec's guard against DNS rebinding, as the Python SDK applies it), one listening
    /// elsewhere takes any. Requests without `Origin` (every non-browser client) are never
    /// refused.
    pub mcp_allowed_origins: Option<Vec<String>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            protocol: Protocol::Http,
            event_format: EventFormat::Native,
            addr: SocketAddr::from(([0, 0, 0, 0], Protocol::Http.default_port())),
            worker_threads: 64,
            max_invocations: 256,
            max_websockets: 256,
            max_connections: 10_000,
            max_body_bytes: 100 * 1024 * 1024,
            max_head_bytes: 64 * 1024,
            max_headers: 128,
            max_json_depth: 256,
            idle_timeout: Duration::from_secs(60),
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            ws_max_message_bytes: 16 * 1024 * 1024,
            log_pings: false,
            auth_bearer_token: None,
            mcp_allowed_origins: None,
        }
    }
}

impl ServerConfig {
    /// Reads the server settings from the environment through `env` (a lookup function, so
    /// tests need not touch the process environment).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ServerConfig, ConfigError> {
        let d = ServerConfig::default();
        let e = EnvReader(env);
        let host: IpAddr = e.parse("HOST", d.addr.ip(), |s| {
            s.parse().map_err(|_| "not an IP address".into())
        })?;
        let protocol = e.parse("PROTOCOL", d.protocol, |s| s.parse())?;
        // AG-UI is the HTTP contract's routes carrying AG-UI events: PROTOCOL=agui is that
        // format, and asking for the native one beside it is a contradiction, not a choice.
        let format_default = match protocol {
            Protocol::Agui => EventFormat::Agui,
            _ => d.event_format,
        };
        let event_format = e.parse("EVENT_FORMAT", format_default, |s| {
            let format: EventFormat = s.parse()?;
            if protocol == Protocol::Agui && format != EventFormat::Agui {
                return Err("PROTOCOL=agui serves AG-UI events only (unset EVENT_FORMAT or set agui)".into());
            }
            Ok(format)
        })?;
        let port: u16 = e.parse(protocol.port_var(), protocol.default_port(), |s| {
            s.parse().map_err(|_| "not a port number (0-65535)".into())
        })?;
        let config = ServerConfig {
            protocol,
            event_format,
            addr: SocketAddr::new(host, port),
            worker_threads: e.count("WORKER_THREADS", d.worker_threads, 1, 4096)?,
            max_invocations: e.count("MAX_CONCURRENT_INVOCATIONS", d.max_invocations, 1, 1_000_000)?,
            max_websockets: e.count("MAX_WEBSOCKETS", d.max_websockets, 1, 100_000)?,
            max_connections: e.count("MAX_CONNECTIONS", d.max_connections, 1, 10_000_000)?,
            max_body_bytes: e.bytes("MAX_BODY_BYTES", d.max_body_bytes)?,
            max_head_bytes: e.bytes("MAX_HEADER_BYTES", d.max_head_bytes)?.max(1024),
            max_headers: e.count("MAX_HEADERS", d.max_headers, 8, 10_000)?,
            max_json_depth: e.count("MAX_JSON_DEPTH", d.max_json_depth, 1, 4096)?,
            idle_timeout: e.duration("IDLE_TIMEOUT", d.idle_timeout)?,
            head_timeout: e.duration("HEADER_TIMEOUT", d.head_timeout)?,
            body_timeout: e.duration("BODY_TIMEOUT", d.body_timeout)?,
            write_timeout: e.duration("WRITE_TIMEOUT", d.write_timeout)?,
            drain_timeout: e.duration("DRAIN_TIMEOUT", d.drain_timeout)?,
            ws_max_message_bytes: e.bytes("WS_MAX_MESSAGE_BYTES", d.ws_max_message_bytes)?,
            log_pings: e.flag("LOG_PINGS", d.log_pings)?,
            auth_bearer_token: e.get("AUTH_BEARER_TOKEN").filter(|t| !t.is_empty()),
            mcp_allowed_origins: e.get("MCP_ALLOWED_ORIGINS").map(|list| {
                list.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                    .filter(|o| !o.is_empty())
                    .collect()
            }),
        };
        Ok(config)
    }
}

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable (or config file field) at fault.
    pub var: String,
    /// The value it had (omitted for secrets).
    pub value: Option<String>,
    /// Why it is not acceptable.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "invalid {}={:?}: {}", self.var, v, self.reason),
            None => write!(f, "invalid {}: {}", self.var, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Typed access to environment variables; every error names the variable and its value.
pub struct EnvReader<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl EnvReader<'_> {
    /// The raw value, with surrounding whitespace trimmed; `None` when unset or blank.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Parses a value with `parse`, or returns `default` when unset.
    pub fn parse<T>(
        &self,
        var: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => parse(&raw).map_err(|reason| ConfigError {
                var: var.into(),
                value: Some(raw),
                reason,
            }),
        }
    }

    /// Like `parse`, for values that may hold secrets: an error names the variable but never
    /// echoes the value.
    pub fn parse_secret<T>(
        &self,
        var: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.parse(var, default, parse)
            .map_err(|e| ConfigError { value: None, ..e })
    }

    /// A whole number within `min..=max`.
    pub fn count(&self, var: &str, default: usize, min: usize, max: usize) -> Result<usize, ConfigError> {
        self.parse(var, default, |s| match s.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(format!("must be between {min} and {max}")),
            Err(_) => Err("not a whole number".into()),
        })
    }

    /// A size in bytes: `1048576`, `512KiB`, `100MB`, `1MiB`, `2GiB`.
    pub fn bytes(&self, var: &str, default: usize) -> Result<usize, ConfigError> {
        self.parse(var, default, parse_bytes)
    }

    /// A duration: `30` (seconds), `30s`, `500ms`, `5m`, `1h`, `1.5s`.
    pub fn duration(&self, var: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.parse(var, default, parse_duration)
    }

    /// A boolean: `1/0`, `true/false`, `yes/no`, `on/off`.
    pub fn flag(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        self.parse(var, default, |s| match s.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err("not a boolean (true/false)".into()),
        })
    }
}

/// A URL fit for logs: `user:password@` in the authority becomes `***@`.
pub fn redact_url_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let prefix = if scheme.is_empty() {
                String::new()
            } else {
                format!("{scheme}://")
            };
            format!("{prefix}***@{}", &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

/// Parses `30`, `30s`, `500ms`, `5m`, `1h`, `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| "not a duration (e.g. 30s, 500ms, 5m)".to_string())?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err("unknown unit (use ms, s, m or h)".into()),
    };
    if !secs.is_finite() || !(0.0..=31_536_000.0).contains(&secs) {
        return Err("out of range".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `1048576`, `512KiB`, `100MB`, `1MiB`, `2GiB` (KB/MB/GB are decimal, KiB/MiB/GiB binary).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: u64 = num
        .parse()
        .map_err(|_| "not a size (e.g. 1048576, 512KiB, 100MB)".to_string())?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1024,
        "mb" => 1_000_000,
        "mib" | "m" => 1024 * 1024,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1024 * 1024 * 1024,
        _ => return Err("unknown unit (use KiB, MiB, GiB, KB, MB or GB)".into()),
    };
    value
        .checked_mul(mult)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| "too large".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake environment for `from_env`.
    pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = ServerConfig::from_env(&env(&[])).unwrap();
        assert_eq!(c, ServerConfig::default());
        let c = ServerConfig::from_env(&env(&[
            ("PORT", "9000"),
            ("HOST", "127.0.0.1"),
            ("IDLE_TIMEOUT", "500ms"),
        ]))
        .unwrap();
        assert_eq!(c.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.idle_timeout, Duration::from_millis(500));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = ServerConfig::from_env(&env(&[("PORT", "80x")])).unwrap_err();
        assert_eq!(err.var, "PORT");
        assert!(err.to_string().contains("PORT=\"80x\""), "{err}");
        assert_eq!(
            ServerConfig::from_env(&env(&[("WORKER_THREADS", "0")]))
                .unwrap_err()
                .var,
            "WORKER_THREADS"
        );
        assert_eq!(
            ServerConfig::from_env(&env(&[("MAX_BODY_BYTES", "1XB")]))
                .unwrap_err()
                .var,
            "MAX_BODY_BYTES"
        );
    }

    #[test]
    fn each_protocol_has_its_port_and_port_variable() {
        let port = |pairs: &[(&str, &str)]| {
            let c = ServerConfig::from_env(&env(pairs)).unwrap();
            (c.protocol, c.addr.port())
        };
        assert_eq!(port(&[]), (Protocol::Http, 8080));
        assert_eq!(port(&[("PROTOCOL", "mcp")]), (Protocol::Mcp, 8000));
        assert_eq!(port(&[("PROTOCOL", "MCP"), ("PORT", "9")]), (Protocol::Mcp, 9));
        assert_eq!(
            port(&[("PROTOCOL", "a2a"), ("PORT", "8080")]),
            (Protocol::A2a, 9000)
        );
        assert_eq!(
            port(&[("PROTOCOL", "A2A"), ("A2A_PORT", "9100")]),
            (Protocol::A2a, 9100)
        );
        assert_eq!(
            port(&[("PROTOCOL", "agui"), ("A2A_PORT", "1")]),
            (Protocol::Agui, 8080)
        );
        let err = ServerConfig::from_env(&env(&[("PROTOCOL", "grpc")])).unwrap_err();
        assert_eq!(err.var, "PROTOCOL");
        assert!(err.to_string().contains("http, mcp, a2a or agui"), "{err}");
        let err = ServerConfig::from_env(&env(&[("PROTOCOL", "a2a"), ("A2A_PORT", "x")])).unwrap_err();
        assert_eq!(err.var, "A2A_PORT");
    }

    #[test]
    fn event_format_follows_protocol_unless_set() {
        let format = |pairs: &[(&str, &str)]| ServerConfig::from_env(&env(pairs)).map(|c| c.event_format);
        assert_eq!(format(&[]), Ok(EventFormat::Native));
        assert_eq!(format(&[("EVENT_FORMAT", "agui")]), Ok(EventFormat::Agui));
        assert_eq!(format(&[("EVENT_FORMAT", "Native")]), Ok(EventFormat::Native));
        assert_eq!(format(&[("PROTOCOL", "agui")]), Ok(EventFormat::Agui));
        assert_eq!(
            format(&[("PROTOCOL", "agui"), ("EVENT_FORMAT", "AGUI")]),
            Ok(EventFormat::Agui)
        );
        let err = format(&[("PROTOCOL", "agui"), ("EVENT_FORMAT", "native")]).unwrap_err();
        assert_eq!(err.var, "EVENT_FORMAT");
        let err = format(&[("EVENT_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("native or agui"), "{err}");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_bytes("100MB"), Ok(100_000_000));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1").is_err());
    }
}

mod agent;
mod event_format;
mod mcp_server;
mod model;
mod protocol;
mod telemetry;

pub use agent::AgentConfig;
pub use event_format::EventFormat;
pub use mcp_server::{DEFAULT_TOOL_DESCRIPTION, McpServerSettings};
pub use model::{ModelConfig, PROXY_VARS, ProviderChoice, model_proxy, provider_choice};
pub use protocol::Protocol;
pub use telemetry::{ExporterChoice, TelemetryConfig};
