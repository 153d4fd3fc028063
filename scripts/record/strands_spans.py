"""Records the span tree real Strands (PyPI `strands-agents`, its `Tracer` on the OpenTelemetry
SDK) emits for one invocation, with the SDK's InMemorySpanExporter, against the scripted OpenAI
mock of mock_openai.py and a real MCP server (tests/peers/mcp_server.py over stdio on the test peers'
Python, .venv, or MCP_SERVER_PYTHON; through Strands' MCPClient). Only 127.0.0.1 is contacted. Run by scripts/record-fixtures.sh:

    PYTHON scripts/record/strands_spans.py OUT.json

Scenarios (each one invocation of a named agent, `trace_attributes={"session.id": ...}` as
Strands' documentation shows for AgentCore):
  mcp_tool    two cycles: the model calls the MCP tool `add`, then answers in text
  tool_error  two cycles: the MCP tool `fail` answers isError, then the model answers
  model_error one cycle: the model answers HTTP 400 (not retried by the openai SDK)
Each is recorded twice: with OTEL_SEMCONV_STABILITY_OPT_IN unset ("legacy") and with
`gen_ai_latest_experimental` ("latest"): Strands' tracer reads the variable when it is created,
so the recorder resets its singleton between the two.

OUT.json holds, per variant and scenario, the spans in start order, each with: name, kind,
status (code and description), the instrumentation scope, the index of its parent in the list
(null for a root), its attribute keys in order, the values of the attributes that do not vary
from run to run (ids, timestamps, durations are replaced by a placeholder naming their kind),
and its events (names and attribute keys; the `exception` event's type and message too).
"""

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "LANGFUSE_BASE_URL"):
    os.environ.pop(var, None)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from mock_openai import MockOpenAI  # noqa: E402

from opentelemetry import trace as trace_api  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace_api.set_tracer_provider(PROVIDER)

import strands.telemetry.tracer as strands_tracer  # noqa: E402
from mcp import StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from strands import Agent  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.tools.mcp import MCPClient  # noqa: E402

AGENT_NAME = "calculator"
SESSION_ID = "spans-session-1"
SYSTEM_PROMPT = "You are a helpful assistant."
MCP_SERVER = os.path.join(ROOT, "tests", "peers", "mcp_server.py")
# The server runs on the test peers' Python (tests/peers/requirements.txt pins its `mcp`), as in
# the Rust tests: the tool schemas it lists (and so the spans' `gen_ai.tool.json_schema`) are
# that version's.
MCP_SERVER_PYTHON = os.environ.get("MCP_SERVER_PYTHON") or next(
    (p for p in (os.path.join(ROOT, ".venv", "bin", "python"),) if os.path.exists(p)), sys.executable
)
ALLOWED_TOOLS = ["add", "fail"]


def calls(call_id, name, arguments):
    return {"tool_calls": [{"id": call_id, "name": name, "arguments": arguments}]}


SCENARIOS = {
    "mcp_tool": ("What is 2 + 3?", [calls("call_add_1", "add", {"a": 2, "b": 3}), {"text": "2 + 3 = 5."}]),
    "tool_error": ("Try the failing tool.", [calls("call_fail_1", "fail", {"msg": "it broke"}), {"text": "It failed."}]),
    "model_error": (
        "Say hello.",
        [{"error": {"status": 400, "message": "bad request from the mock", "type": "invalid_request_error"}}],
    ),
}

# Attribute values that differ from run to run: shown as a placeholder naming their kind.
VARYING = {
    "gen_ai.event.start_time": "<timestamp>",
    "gen_ai.event.end_time": "<timestamp>",
    "event_loop.cycle_id": "<uuid>",
    "event_loop.parent_cycle_id": "<uuid>",
    "gen_ai.server.time_to_first_token": "<ms>",
    "gen_ai.server.request.duration": "<ms>",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def stable(key, value):
    if key in VARYING:
        return VARYING[key]
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, str):
        value = UUID.sub("<uuid>", value)
    return value


def describe(spans):
    spans = sorted(spans, key=lambda s: s.start_time)
    index = {s.context.span_id: i for i, s in enumerate(spans)}
    trace_ids = {s.context.trace_id for s in spans}
    out = []
    for s in spans:
        parent = s.parent.span_id if s.parent is not None else None
        events = []
        for e in s.events:
            ev = {"name": e.name, "attribute_keys": list(e.attributes.keys())}
            if e.name == "exception":
                ev["exception.type"] = e.attributes.get("exception.type")
                ev["exception.message"] = e.attributes.get("exception.message")
            events.append(ev)
        out.append(
            {
                "name": s.name,
                "kind": s.kind.name,
                "status": {"code": s.status.status_code.name, "description": s.status.description},
                "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
                "parent": index.get(parent) if parent is not None else None,
                "attribute_keys": list(s.attributes.keys()),
                "attributes": {k: stable(k, v) for k, v in s.attributes.items()},
                "events": events,
            }
        )
    return {"one_trace": len(trace_ids) == 1, "spans": out}


def run(mock, query, script):
    mock.set_script(script)
    mcp = MCPClient(
        lambda: stdio_client(StdioServerParameters(command=MCP_SERVER_PYTHON, args=[MCP_SERVER, "stdio"])),
        tool_filters={"allowed": ALLOWED_TOOLS},
    )
    agent = Agent(
        name=AGENT_NAME,
        model=OpenAIModel(model_id="gpt-4o", client_args={"api_key": "sk-mock", "base_url": mock.base_url}),
        tools=[mcp],
        system_prompt=SYSTEM_PROMPT,
        callback_handler=None,
        trace_attributes={"session.id": SESSION_ID},
    )
    EXPORTER.clear()
    outcome = "ok"
    try:
        agent(query)
    except Exception as e:  # the model_error scenario
        outcome = f"{type(e).__name__}: {e}"
    finally:
        agent.cleanup()
    # The MCP client's session spans (mcp-python-sdk) start before the invocation, on the tool
    # listing; keep the invocation's trace only.
    spans = list(EXPORTER.get_finished_spans())
    root = next(s for s in spans if s.name.startswith("invoke_agent"))
    in_trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
    others = sorted({(s.instrumentation_scope.name, s.name) for s in spans if s not in in_trace})
    recorded = describe(in_trace)
    recorded["outcome"] = UUID.sub("<uuid>", outcome)
    recorded["spans_outside_the_invocation_trace"] = [f"{scope}: {name}" for scope, name in others]
    return recorded


def main():
    out_path = sys.argv[1]
    result = {
        "generator": "scripts/record/strands_spans.py",
        "versions": {
            p: version(p) for p in ("strands-agents", "opentelemetry-sdk", "opentelemetry-api", "openai", "mcp")
        },
        "agent": {"name": AGENT_NAME, "model_id": "gpt-4o", "trace_attributes": {"session.id": SESSION_ID}},
        "mcp_server": "tests/peers/mcp_server.py stdio (mcp "
        + subprocess.run(
            [MCP_SERVER_PYTHON, "-c", "from importlib.metadata import version; print(version('mcp'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        + "), tool_filters allowed "
        + ", ".join(ALLOWED_TOOLS),
        "placeholders": VARYING,
        "variants": {},
    }
    with MockOpenAI() as mock:
        for variant, opt_in in (("legacy", None), ("latest", "gen_ai_latest_experimental")):
            if opt_in is None:
                os.environ.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)
            else:
                os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = opt_in
            strands_tracer._tracer_instance = None
            result["variants"][variant] = {"OTEL_SEMCONV_STABILITY_OPT_IN": opt_in, "scenarios": {}}
            for name, (query, script) in SCENARIOS.items():
                print(f"  {variant} {name}", file=sys.stderr)
                # The mock's usage counts requests over its life: restart the count per run so
                # token numbers are the same in both variants.
                mock.served = 0
                rec = run(mock, query, script)
                rec["query"] = query
                rec["script"] = script
                result["variants"][variant]["scenarios"][name] = rec
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
