"""Our MCP test server, on the official Python SDK (mcp==2.3.0, MCPServer).

Usage:
    mcp_server.py stdio
    mcp_server.py http-sse PORT      # Streamable HTTP, SSE replies
    mcp_server.py http-json PORT     # Streamable HTTP, application/json replies

Every tool exists to exercise one client behaviour; the Rust integration tests (tests/it/mcp.rs)
call them and assert exact results.
"""

import asyncio
import base64
import os
import subprocess
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import (
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

# A 1x1 transparent PNG.
PNG_1X1 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

server = MCPServer("peer-test")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@server.tool()
def fail(msg: str) -> str:
    """Always raises -> isError result."""
    raise RuntimeError(msg)


@server.tool()
def pid() -> int:
    """The server's process id (tests check which process served a call)."""
    return os.getpid()


@server.tool()
def env(name: str) -> str:
    """An environment variable of the server process ("<unset>" when unset)."""
    return os.environ.get(name, "<unset>")


@server.tool()
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


@server.tool()
def media() -> list:
    """One of each content kind: text, image, embedded text and blob resources, a resource link."""
    return [
        TextContent(type="text", text="caption"),
        ImageContent(type="image", data=PNG_1X1, mime_type="image/png"),
        EmbeddedResource(
            type="resource",
            resource=TextResourceContents(uri="file:///notes.txt", mime_type="text/plain", text="embedded text"),
        ),
        EmbeddedResource(
            type="resource",
            resource=BlobResourceContents(
                uri="file:///data.json",
                mime_type="application/json",
                blob=base64.b64encode('{"k": "v"}'.encode()).decode(),
            ),
        ),
        EmbeddedResource(
            type="resource",
            resource=BlobResourceContents(uri="file:///pic.gif", mime_type="image/gif", blob=PNG_1X1),
        ),
        EmbeddedResource(
            type="resource",
            resource=BlobResourceContents(
                uri="file:///bin.dat", mime_type="application/octet-stream", blob=base64.b64encode(b"\x00\x01").decode()
            ),
        ),
        ResourceLink(type="resource_link", uri="file:///linked.txt", name="linked", mime_type="text/plain"),
    ]


@server.tool()
def trace_context(ctx: Context) -> dict:
    """The trace context this call came with: the W3C headers of its HTTP request (Streamable
    HTTP only) and those of its `_meta`."""
    rc = ctx.request_context
    request = getattr(rc, "request", None)
    headers = {}
    if request is not None and hasattr(request, "headers"):
        headers = {k: request.headers.get(k) for k in ("traceparent", "tracestate", "baggage") if request.headers.get(k)}
    meta = getattr(rc, "meta", None) or {}
    if hasattr(meta, "model_dump"):
        meta = meta.model_dump(by_alias=True, exclude_none=True)
    meta = dict(meta)
    return {"headers": headers, "meta": {k: v for k, v in meta.items() if k in ("traceparent", "tracestate", "baggage")}}


@server.tool()
def with_meta() -> CallToolResult:
    """A result carrying `_meta` and structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text="meta")],
        structured_content={"x": 1},
        _meta={"trace": "abc"},
    )


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `extra` and tells the client the tool list changed."""

    def extra() -> str:
        """Added at run time by grow."""
        return "extra!"

    server.add_tool(extra, name="extra")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
def crash() -> str:
    """Exits the server process in the middle of the call."""
    sys.stdout.flush()
    os._exit(3)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleeps, then answers (call timeouts)."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def spam_stderr(lines: int, width: int) -> str:
    """Writes many long stderr lines (the client must neither block nor buffer them all)."""
    line = "x" * width + "\n"
    for _ in range(lines):
        sys.stderr.write(line)
    sys.stderr.flush()
    return "spammed"


@server.tool()
def forget(name: str) -> str:
    """Removes a tool without telling the client (so calling it hits "Unknown tool")."""
    server.remove_tool(name)
    return "forgotten"


@server.tool()
def spawn_child() -> int:
    """Starts a long-sleeping grandchild process and returns its pid (process-group cleanup)."""
    return subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL).pid


@server.tool()
async def ask_roots(ctx: Context) -> str:
    """Sends the client a roots/list request (which our client refuses with -32601)."""
    roots = await ctx.session.list_roots()
    return str(roots)


@server.tool()
async def ping_client(ctx: Context) -> str:
    """Pings the client and answers once it replied."""
    await ctx.session.send_ping()
    return "pong"


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if mode == "stdio":
        server.run("stdio")
    elif mode in ("http-sse", "http-json"):
        port = int(sys.argv[2])
        server.run("streamable-http", host="127.0.0.1", port=port, json_response=(mode == "http-json"))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
