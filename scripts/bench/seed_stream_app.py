"""The Python seed app (../../../shared/bench/seed_app.py) with a streaming entrypoint: the same
Strands Agent (OpenAIModel, FileSessionManager, SlidingWindowConversationManager(20), the
`lookup` tool), driven by `Agent.stream_async`, each text delta yielded as
`{"type": "text", "data": ...}` and the answer as a last `{"type": "final", ...}` event, which
BedrockAgentCoreApp sends as Server-Sent Events. The seed itself answers JSON only (nothing
reaches the client before the whole answer), so this is the Python stack's streaming baseline
for scripts/bench/stream_bench.py.

Env as the seed: PORT, MODEL_BASE_URL, OPENAI_API_KEY, SESSION_DIR, MODEL_ID.
"""

import os

from bedrock_agentcore.runtime import BedrockAgentCoreApp
from strands import Agent, tool
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.models.openai import OpenAIModel
from strands.session.file_session_manager import FileSessionManager

MODEL_BASE_URL = os.environ.get("MODEL_BASE_URL", "http://127.0.0.1:18081/v1")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "sk-mock")
PORT = int(os.environ.get("PORT", "8080"))
SESSION_DIR = os.environ.get("SESSION_DIR", os.path.abspath("sessions"))
MODEL_ID = os.environ.get("MODEL_ID", "gpt-4o-mini")

app = BedrockAgentCoreApp()


@tool
def lookup(key: str) -> str:
    """Look up a value for a key.

    Args:
        key: the key to look up
    """
    return f"value-for-{key}"


@app.entrypoint
async def invoke(payload, context):
    payload = payload if isinstance(payload, dict) else {}
    query = str(payload.get("prompt") or payload.get("query") or "")
    session_id = str(payload.get("session_id") or getattr(context, "session_id", None) or "default")
    agent = Agent(
        model=OpenAIModel(client_args={"base_url": MODEL_BASE_URL, "api_key": OPENAI_API_KEY}, model_id=MODEL_ID),
        tools=[lookup],
        system_prompt="You are a helpful assistant. Use the lookup tool when asked to look something up.",
        session_manager=FileSessionManager(session_id=session_id, storage_dir=SESSION_DIR),
        conversation_manager=SlidingWindowConversationManager(window_size=20),
        callback_handler=None,
    )
    async for event in agent.stream_async(query):
        if "data" in event:
            yield {"type": "text", "data": event["data"]}
        elif "result" in event:
            yield {"type": "final", "result": {"response": str(event["result"])}}


if __name__ == "__main__":
    app.run(port=PORT)
