//! Settings of the MCP server (`PROTOCOL=mcp`): how the agent is offered as a tool.

use super::{ConfigError, EnvReader};

/// How `PROTOCOL=mcp` offers the agent. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerSettings {
    /// The agent's tool name (`MCP_TOOL_NAME`, default `invoke_agent`).
    pub tool_name: String,
    /// The agent's tool description (`MCP_TOOL_DESCRIPTION`).
    pub tool_description: String,
    /// Also offer the agent's own tools (`MCP_CONFIG`'s servers) as they are
    /// (`MCP_EXPOSE_TOOLS`, default false).
    pub expose_tools: bool,
    /// `serverInfo.name` in the `initialize` answer (`MCP_SERVER_NAME`, default `agentcore-rt`).
    pub server_name: String,
}

/// The default tool description.
pub const DEFAULT_TOOL_DESCRIPTION: &str = "Ask the agent. It answers the query with its model and tools, \
     and remembers the conversation of session_id (default: the runtime session).";

impl Default for McpServerSettings {
    fn default() -> Self {
        McpServerSettings {
            tool_name: "invoke_agent".into(),
            tool_description: DEFAULT_TOOL_DESCRIPTION.into(),
            expose_tools: false,
            server_name: "agentcore-rt".into(),
        }
    }
}

impl McpServerSettings {
    /// Reads the settings through `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<McpServerSettings, ConfigError> {
        let d = McpServerSettings::default();
        let e = EnvReader(env);
        // MCP tool names: 1 to 128 of [A-Za-z0-9_.-] (the 2025-11-25 spec's rule, which the
        // older revisions' clients accept too).
        let tool_name = e.parse("MCP_TOOL_NAME", d.tool_name, |s| {
            let ok = (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if ok {
                Ok(s.to_string())
            } else {
                Err("a tool name is 1 to 128 of A-Z a-z 0-9 _ . -".into())
            }
        })?;
        Ok(McpServerSettings {
            tool_name,
            tool_description: e.get("MCP_TOOL_DESCRIPTION").unwrap_or(d.tool_description),
            expose_tools: e.flag("MCP_EXPOSE_TOOLS", d.expose_tools)?,
            server_name: e.get("MCP_SERVER_NAME").unwrap_or(d.server_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    #[test]
    fn defaults_overrides_and_bad_names() {
        assert_eq!(
            McpServerSettings::from_env(&env(&[])).unwrap(),
            McpServerSettings::default()
        );
        let s = McpServerSettings::from_env(&env(&[
            ("MCP_TOOL_NAME", "ask"),
            ("MCP_TOOL_DESCRIPTION", "Ask me"),
            ("MCP_EXPOSE_TOOLS", "true"),
        ]))
        .unwrap();
        assert_eq!(
            (s.tool_name.as_str(), s.tool_description.as_str(), s.expose_tools),
            ("ask", "Ask me", true)
        );
        let err = McpServerSettings::from_env(&env(&[("MCP_TOOL_NAME", "two words")])).unwrap_err();
        assert_eq!(err.var, "MCP_TOOL_NAME");
    }
}
