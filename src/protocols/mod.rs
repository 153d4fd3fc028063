//! AgentCore's other container protocols, served from the same binary as the HTTP contract:
//! an MCP server (Streamable HTTP on `:8000/mcp`), an A2A agent (JSON-RPC 2.0 on `:9000`), and
//! AG-UI events on the HTTP contract's routes. Each is written against the same agent, tools,
//! sessions and limits as `/invocations`; the wire layer mounts it on its listener.
