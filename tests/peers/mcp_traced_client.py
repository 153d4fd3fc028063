"""Calls agentcore-rt's MCP agent tool with the official Python MCP client (`mcp` on PyPI)
under a caller's trace, as tests/it/traces_routes.rs checks it.

    mcp_traced_client.py URL TRACEPARENT META_TRACE_ID META_SPAN_ID

Every request carries TRACEPARENT as an HTTP header (what an instrumented HTTP client or a
gateway adds). The first `tools/call` is made with no current span: the client injects nothing
in `params._meta`. The second is made with a current span (META_TRACE_ID / META_SPAN_ID, sampled):
the client's own OpenTelemetry code (mcp's `shared/_otel.py`, SEP-414) then puts its
`traceparent` in `params._meta`, as it does under a real SDK. Only the OpenTelemetry API is
installed, so the client's span is non-recording and carries the current span's context, which
is what the server must see. Prints one JSON object: the two results.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags


async def main(url: str, traceparent: str, meta_trace: str, meta_span: str) -> None:
    out = {}
    async with httpx2.AsyncClient(headers={"traceparent": traceparent}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            result = await client.call_tool("invoke_agent", {"query": "header only"})
            out["header_call"] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
            caller = SpanContext(
                trace_id=int(meta_trace, 16),
                span_id=int(meta_span, 16),
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            token = context.attach(trace.set_span_in_context(NonRecordingSpan(caller)))
            try:
                result = await client.call_tool("invoke_agent", {"query": "with _meta"})
            finally:
                context.detach(token)
            out["meta_call"] = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
