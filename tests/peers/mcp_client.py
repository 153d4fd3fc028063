"""Drives agentcore-rt's MCP server with the official Python MCP client (`mcp` on PyPI).

    mcp_client.py URL MODE SESSION_HEADER

MODE is the client's connect mode: `legacy` (the initialize handshake) or `auto` (it probes
`server/discover` first and falls back to initialize). Prints one JSON object with what the
client saw: the negotiated version, the server info, the tools, a call with progress, a call
that fails, a ping.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, mode: str, session: str) -> None:
    out = {}
    progress = []

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})

    headers = {"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session, "Mcp-Session-Id": "platform-made"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            out["protocol_version"] = client.protocol_version
            out["server_info"] = client.server_info.model_dump(mode="json") if client.server_info else None
            tools = await client.list_tools()
            out["tools"] = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.tools]
            name = out["tools"][0]["name"]
            result = await client.call_tool(name, {"query": "What is MCP?"}, progress_callback=on_progress)
            out["call"] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
            out["progress"] = progress
            bad = await client.call_tool(name, {"session_id": "x"})
            out["bad_call"] = bad.model_dump(mode="json", by_alias=True, exclude_none=True)
            await client.send_ping()
            out["ping"] = True
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
