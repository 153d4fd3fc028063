"""A one-tool MCP server for the benchmarks: `lookup(key)`, the same tool the Python seed app
registers natively, served over stdio with the official Python SDK."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-lookup")


@server.tool()
def lookup(key: str) -> str:
    """Look up a value for a key."""
    return f"value-for-{key}"


if __name__ == "__main__":
    server.run("stdio")
