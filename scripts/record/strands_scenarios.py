"""Records what the real Strands agent (PyPI `strands-agents`: OpenAIModel, FileSessionManager,
SlidingWindowConversationManager) sends to an OpenAI endpoint and writes to disk, scenario by
scenario, against the scripted mock in mock_openai.py (127.0.0.1 only). Run by
scripts/record-fixtures.sh with the recording venv:

    .venv-record/bin/python scripts/record/strands_scenarios.py VECTORS.json SESSIONS_DIR

VECTORS.json (tests/fixtures/vectors/strands-openai-requests.json): per scenario and turn, the
query, the mock's script, the messages a new Agent restored from disk, the AgentResult facts
(stop_reason, str(result), structured_output, result.message), the value the design document's
entrypoint returns, agent.messages and the conversation-manager state after the turn (or the
exception), every request body in order and its headers. Also `session_id_validation`: which
session ids FileSessionManager takes.

SESSIONS_DIR (tests/fixtures/strands-sessions): each scenario's FileSessionManager storage as
written, <scenario>/session_scenario-<x>/... (git keeps no empty directories, so the empty
`multi_agents/` directories of the real layout are not in the repository).

Every turn builds a new Agent on the scenario's session id, so each turn also reloads the session.
Scenarios: A text; B a @tool call; C structured output, the model calls the output tool directly;
C2 structured output: text first, then the forced output tool, whose first call fails validation;
D four turns with window_size=4 (trimming); E context overflow (truncate the big tool result,
then trim); F a tool of an MCP stdio server; G tool errors (raises, unknown, bad arguments, bad
JSON); I a prompt with an image; H an HTTP 500 (the openai SDK retries twice), then a new turn.
The mock's usage counts requests over the whole run, so the scenarios run in this order.
"""

import json
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
from importlib.metadata import version

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mock_openai import MockOpenAI  # noqa: E402

from pydantic import BaseModel, Field  # noqa: E402
from strands import Agent, tool  # noqa: E402
from strands.agent.conversation_manager import SlidingWindowConversationManager  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.session.file_session_manager import FileSessionManager  # noqa: E402

SYSTEM_PROMPT = "You are a helpful assistant."


# The tools (their docstrings become the tool specs Strands sends).
@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first addend
        b: second addend
    """
    return a + b


@tool
def fetch_doc(name: str) -> str:
    """Fetch a (long) document by name.

    Args:
        name: document name
    """
    return f"DOC[{name}] " + ("lorem ipsum dolor sit amet " * 40)


@tool
def explode(reason: str) -> str:
    """A tool that always fails.

    Args:
        reason: why it fails
    """
    raise RuntimeError(f"boom: {reason}")


class MyOutputModel(BaseModel):
    """Answer to the user's question."""

    answer: str = Field(description="the final answer")
    confidence: float = Field(description="confidence between 0 and 1")
    sources: list[str] = Field(default_factory=list, description="optional sources")


MCP_SERVER_SRC = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("calc")

    @server.tool()
    def multiply(x: int, y: int) -> int:
        """Multiply two integers."""
        return x * y

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    if __name__ == "__main__":
        server.run()
    '''
)

# A 1x1 PNG.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63f8ffff3f0005fe02fea7d6a4e80000000049454e44ae426082"
)

OVERFLOW = {
    "error": {
        "status": 400,
        "message": "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130000 tokens. Please reduce the length of the messages.",
        "code": "context_length_exceeded",
    }
}
SERVER_ERROR = {"error": {"status": 500, "message": "upstream exploded", "type": "server_error"}}


def text(answer):
    return {"text": answer}


def calls(*specs):
    """Tool calls from (id, name, arguments) triples."""
    return {"tool_calls": [{"id": i, "name": n, "arguments": a} for i, n, a in specs]}


def turn(query, *script, structured=None):
    return {"query": query, "script": list(script), "structured": structured}


def scenarios():
    """name -> (turns, tools, window_size); tools may be a function building them (F)."""
    return {
        "A": ([turn("Say hello.", text("Hello! How can I help you today?"))], [], 20),
        "B": (
            [turn("What is 2 + 3? Use the add tool.", calls(("call_add_1", "add", {"a": 2, "b": 3})), text("2 + 3 = 5."))],
            [add],
            20,
        ),
        "C": (
            [
                turn(
                    "What is the capital of France?",
                    calls(("call_so_1", "MyOutputModel", {"answer": "Paris", "confidence": 0.97, "sources": ["atlas"]})),
                    text("SHOULD NOT BE REQUESTED"),
                    structured=MyOutputModel,
                )
            ],
            [add],
            20,
        ),
        "C2": (
            [
                turn(
                    "What is the capital of France?",
                    text("The capital of France is Paris."),
                    calls(("call_so_bad", "MyOutputModel", {"answer": "Paris"})),
                    calls(("call_so_ok", "MyOutputModel", {"answer": "Paris", "confidence": 0.9})),
                    text("SHOULD NOT BE REQUESTED"),
                    structured=MyOutputModel,
                )
            ],
            [add],
            20,
        ),
        "D": (
            [
                turn("Add 2 and 3.", calls(("call_d1", "add", {"a": 2, "b": 3})), text("The sum is 5.")),
                turn("Now say hi.", text("Hi!")),
                turn("And once more.", text("Hi again!")),
                turn("Last one.", text("Bye!")),
            ],
            [add],
            4,
        ),
        "E": (
            [
                turn("Fetch the doc named alpha.", calls(("call_e1", "fetch_doc", {"name": "alpha"})), text("Fetched alpha.")),
                turn("Summarize it.", OVERFLOW, text("It is lorem ipsum.")),
                turn("Again please.", OVERFLOW, OVERFLOW, text("Still lorem ipsum.")),
                turn("Thanks.", text("You're welcome.")),
            ],
            [fetch_doc],
            20,
        ),
        "F": (
            [turn("What is 6 times 7?", calls(("call_mul", "multiply", {"x": 6, "y": 7})), text("6 times 7 is 42."))],
            mcp_tools,
            20,
        ),
        "G": (
            [
                turn(
                    "Try the tools.",
                    calls(
                        ("call_g1", "explode", {"reason": "test"}),
                        ("call_g2", "no_such_tool", {}),
                        ("call_g3", "add", {"a": "x", "b": 1}),
                        ("call_g4", "add", "{not json"),
                    ),
                    text("Some tools failed."),
                )
            ],
            [explode, add],
            20,
        ),
        "I": (
            [
                turn(
                    [{"text": "What is in this image?"}, {"image": {"format": "png", "source": {"bytes": PIXEL}}}],
                    text("A single pixel."),
                )
            ],
            [],
            20,
        ),
        "H": (
            [turn("First question.", SERVER_ERROR), turn("Second question.", text("Answer to the second."))],
            [],
            20,
        ),
    }


def mcp_tools():
    """A Strands MCPClient on a small server of the official `mcp` SDK, over stdio. The Agent
    starts the client itself (MCPClient is a tool provider)."""
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client
    from strands.tools.mcp import MCPClient

    path = os.path.join(tempfile.mkdtemp(prefix="record-mcp-"), "calc_server.py")
    with open(path, "w") as f:
        f.write(MCP_SERVER_SRC)
    return [MCPClient(lambda: stdio_client(StdioServerParameters(command=sys.executable, args=[path])))]


def new_agent(mock, session_id, storage, tools, window_size):
    return Agent(
        model=OpenAIModel(model_id="gpt-4o", client_args={"api_key": "sk-mock", "base_url": mock.base_url}),
        tools=tools,
        system_prompt=SYSTEM_PROMPT,
        session_manager=FileSessionManager(session_id=session_id, storage_dir=storage),
        conversation_manager=SlidingWindowConversationManager(window_size=window_size),
        callback_handler=None,
    )


def play(mock, name, storage_root, turns, tools, window_size):
    storage = os.path.join(storage_root, name)
    session_id = f"scenario-{name.lower()}"
    out = {"session_id": session_id, "turns": []}
    tool_specs = None
    for t in turns:
        mock.set_script(t["script"])
        agent = new_agent(mock, session_id, storage, tools, window_size)
        record = {
            "query": t["query"],
            "script": t["script"],
            "messages_restored_on_new_agent": json.loads(json.dumps(agent.messages, default=str)),
        }
        try:
            if t["structured"] is None:
                result = agent(t["query"])
            else:
                result = agent(t["query"], structured_output_model=t["structured"])
            # What the design document's entrypoint returns.
            if result.structured_output:
                returned = result.structured_output.model_dump()
            else:
                returned = {"response": str(result)}
            record.update(
                stop_reason=result.stop_reason,
                str_result=str(result),
                structured_output=result.structured_output.model_dump() if result.structured_output else None,
                design_return_value=returned,
                result_message=result.message,
                agent_messages_after=agent.messages,
                conversation_manager_state=agent.conversation_manager.get_state(),
            )
        except Exception as e:
            record.update(
                exception=f"{type(e).__name__}: {e}",
                # (the venv's path, which differs from machine to machine, shown as <venv>)
                traceback_tail=[line.replace(sys.prefix, "<venv>") for line in traceback.format_exc().splitlines()[-3:]],
                agent_messages_after=agent.messages,
                conversation_manager_state=agent.conversation_manager.get_state(),
            )
        if tool_specs is None:
            tool_specs = [agent.tool_registry.registry[n].tool_spec for n in agent.tool_names]
        record["requests"] = [r["body"] for r in mock.requests]
        record["request_headers"] = [r["headers"] for r in mock.requests]
        out["turns"].append(record)
    return out, tool_specs


def session_id_validation(storage_root):
    ids = ["ok-id_1.2", "a/b", "../escape", "..", ".", "", "abc/", "/abs", "a\\b", "a b", "ünï", "x" * 300, "a\x00b"]
    out = []
    for sid in ids:
        d = os.path.join(storage_root, "idcheck")
        try:
            FileSessionManager(session_id=sid, storage_dir=d)
            out.append({"session_id": sid, "accepted": True, "dirs_after": sorted(os.listdir(d))})
        except Exception as e:
            out.append({"session_id": sid, "accepted": False, "error": f"{type(e).__name__}: {e}"[:300]})
        shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    vectors_path, sessions_dir = sys.argv[1], sys.argv[2]
    storage_root = tempfile.mkdtemp(prefix="record-strands-")
    results = {
        "generator": "scripts/record/strands_scenarios.py",
        "versions": {p: version(p) for p in ("strands-agents", "openai", "mcp", "pydantic")},
        "note": "requests[i] is the exact JSON body of the i-th POST /v1/chat/completions of that turn",
        "scenarios": {},
    }
    with MockOpenAI() as mock:
        for name, (turns, tools, window_size) in scenarios().items():
            print(f"  scenario {name}", file=sys.stderr)
            tools = tools() if callable(tools) else tools
            out, specs = play(mock, name, storage_root, turns, tools, window_size)
            if name == "F":
                out["mcp_tool_specs"] = specs
                out["mcp_server_source"] = MCP_SERVER_SRC
            results["scenarios"][name] = out
    results["session_id_validation"] = session_id_validation(storage_root)

    with open(vectors_path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    shutil.rmtree(sessions_dir, ignore_errors=True)
    for name in results["scenarios"]:
        shutil.copytree(os.path.join(storage_root, name), os.path.join(sessions_dir, name), symlinks=True)
    shutil.rmtree(storage_root, ignore_errors=True)
    print(f"wrote {vectors_path} and {sessions_dir}/", file=sys.stderr)


if __name__ == "__main__":
    main()
