//! Which AgentCore container protocol the binary serves (`PROTOCOL`, `--protocol`).

use std::fmt;
use std::str::FromStr;

/// One of the four container protocols AgentCore Runtime hosts. Each has the port AgentCore
/// sends its traffic to (the runtime service contract's table); `/ping` is served on all of
/// them.
///
/// ```
/// use agentcore_rt::config::Protocol;
///
/// let p: Protocol = "MCP".parse()?;
/// assert_eq!((p, p.default_port(), p.port_var()), (Protocol::Mcp, 8000, "PORT"));
/// assert_eq!(Protocol::A2a.port_var(), "A2A_PORT");
/// assert!("grpc".parse::<Protocol>().is_err());
/// # Ok::<_, String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// The HTTP contract: `POST /invocations`, `/ws` (port 8080).
    #[default]
    Http,
    /// An MCP server: Streamable HTTP on `POST /mcp` (port 8000).
    Mcp,
    /// An A2A agent: JSON-RPC 2.0 on `/`, the agent card at `/.well-known/agent-card.json`
    /// (port 9000).
    A2a,
    /// AG-UI events on the HTTP contract's routes (port 8080).
    Agui,
}

impl Protocol {
    /// Every protocol, in the order `--help` lists them.
    pub const ALL: [Protocol; 4] = [Protocol::Http, Protocol::Mcp, Protocol::A2a, Protocol::Agui];

    /// The name `PROTOCOL` and `--protocol` take: `http`, `mcp`, `a2a`, `agui`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Mcp => "mcp",
            Protocol::A2a => "a2a",
            Protocol::Agui => "agui",
        }
    }

    /// The port AgentCore sends this protocol's traffic to: 8080, 8000, 9000, 8080.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Http | Protocol::Agui => 8080,
            Protocol::Mcp => 8000,
            Protocol::A2a => 9000,
        }
    }

    /// The variable that overrides the port. A2A reads `A2A_PORT` and never `PORT`, as the
    /// Python SDK's `serve_a2a` does: images shared across runtimes often set `PORT` to another
    /// protocol's port, and the A2A contract fixes 9000.
    pub fn port_var(self) -> &'static str {
        match self {
            Protocol::A2a => "A2A_PORT",
            _ => "PORT",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// Case-insensitive, as AgentCore spells them (`MCP`, `A2A`, `AGUI`); `ag-ui` is accepted.
    fn from_str(s: &str) -> Result<Protocol, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "http" => Ok(Protocol::Http),
            "mcp" => Ok(Protocol::Mcp),
            "a2a" => Ok(Protocol::A2a),
            "agui" | "ag-ui" | "ag_ui" => Ok(Protocol::Agui),
            _ => Err("not a protocol (http, mcp, a2a or agui)".into()),
        }
    }
}
