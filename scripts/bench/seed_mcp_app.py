"""The Python seed app with its tool behind MCP, the way users run it today: every invocation
builds an MCPClient (stdio) and a Strands Agent, calls it, and cleans up (Strands' MCPClient
cannot be reused across agents). Benchmark baseline for agentcore-rt's MCP lifecycles.

Env as the seed (../../../shared/bench/seed_app.py): PORT, MODEL_BASE_URL, OPENAI_API_KEY,
SESSION_DIR, MODEL_ID; plus MCP_SERVER_PY (the python that runs lookup_mcp_server.py).
"""

import asyncio
import os
import sys

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.models.openai import OpenAIModel
from strands.session.file_session_manager import FileSessionManager
from strands.tools.mcp import MCPClient

MODEL_BASE_URL = os.environ.get("MODEL_BASE_URL", "http://127.0.0.1:18081/v1")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "sk-mock")
PORT = int(os.environ.get("PORT", "8080"))
SESSION_DIR = os.environ.get("SESSION_DIR", os.path.abspath("sessions"))
MODEL_ID = os.environ.get("MODEL_ID", "gpt-4o-mini")
SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lookup_mcp_server.py")
SERVER_PY = os.environ.get("MCP_SERVER_PY", sys.executable)

app = BedrockAgentCoreApp()


def _run_agent(query: str, session_id: str):
    client = MCPClient(lambda: stdio_client(StdioServerParameters(command=SERVER_PY, args=[SERVER])))
    agent = Agent(
        model=OpenAIModel(client_args={"base_url": MODEL_BASE_URL, "api_key": OPENAI_API_KEY}, model_id=MODEL_ID),
        tools=[client],
        system_prompt="You are a helpful assistant. Use the lookup tool when asked to look something up.",
        session_manager=FileSessionManager(session_id=session_id, storage_dir=SESSION_DIR),
        conversation_manager=SlidingWindowConversationManager(window_size=20),
        callback_handler=None,
    )
    try:
        return agent(query)
    finally:
        agent.cleanup()


@app.entrypoint
async def invoke(payload, context):
    payload = payload if isinstance(payload, dict) else {}
    query = str(payload.get("prompt") or payload.get("query") or "")
    session_id = str(payload.get("session_id") or getattr(context, "session_id", None) or "default")
    result = await asyncio.to_thread(_run_agent, query, session_id)
    return {"response": str(result)}


if __name__ == "__main__":
    app.run(port=PORT)
