#!/usr/bin/env python3
"""Real Strands 1.62's S3SessionManager (boto3 in .venv-strands) on the tests' S3 server.

Usage: strands_s3_session.py ENDPOINT BUCKET PREFIX SESSION_ID WINDOW
stdin {"append": [messages...]} (bytes as {"__bytes_encoded__", "data"}): restores an Agent with
S3SessionManager + SlidingWindowConversationManager(WINDOW), prints what it restored, then appends
each message as the agent loop does (append_message, then sync_agent). No model is ever called.
stdout {"messages": [...restored...], "conversation_manager_state": {...}, "state": {...}}
"""

import json
import os
import sys

os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from strands import Agent  # noqa: E402
from strands.agent.conversation_manager import SlidingWindowConversationManager  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.session.s3_session_manager import S3SessionManager  # noqa: E402
from strands.types.session import decode_bytes_values, encode_bytes_values  # noqa: E402


def main():
    endpoint, bucket, prefix, session_id, window = sys.argv[1:6]
    spec = json.load(sys.stdin)
    manager = S3SessionManager(
        session_id=session_id, bucket=bucket, prefix=prefix, region_name="us-east-1", endpoint_url=endpoint
    )
    model = OpenAIModel(model_id="gpt-4o", client_args={"api_key": "sk-unused", "base_url": "http://127.0.0.1:9/v1"})
    agent = Agent(
        model=model,
        session_manager=manager,
        conversation_manager=SlidingWindowConversationManager(window_size=int(window)),
        callback_handler=None,
    )
    restored = {
        "messages": encode_bytes_values(agent.messages),
        "conversation_manager_state": agent.conversation_manager.get_state(),
        "state": agent.state.get(),
    }
    for message in decode_bytes_values(spec.get("append", [])):
        agent.messages.append(message)
        manager.append_message(message, agent)
        manager.sync_agent(agent)
    json.dump(restored, sys.stdout)


if __name__ == "__main__":
    main()
