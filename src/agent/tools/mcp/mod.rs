//! MCP client (stub).
