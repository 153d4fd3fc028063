#!/usr/bin/env python3
"""Real Strands (strands-agents 1.62.0, in .venv-strands) as the reference for our session store
and conversation window. No model is ever called.

Usage (JSON in on stdin where noted, JSON out on stdout; bytes as {"__bytes_encoded__", "data"}):
  restore STORAGE SESSION_ID WINDOW   restore an Agent from STORAGE/session_<id> with
                                      FileSessionManager + SlidingWindowConversationManager(WINDOW);
                                      prints {"messages", "conversation_manager_state", "state"}
  write STORAGE SESSION_ID WINDOW     stdin {"messages", "state", "trim"}: a new Agent with these
                                      messages (Strands writes the session), optionally trimmed by
                                      apply_management and synced; prints what `restore` prints
  window                              stdin [{"window", "messages", "steps": ["apply"|"overflow"]}]:
                                      prints per case [{"messages", "state", "error"}] after each step
  fix                                 stdin [messages...]: prints the lists after _fix_broken_tool_use
"""

import copy
import json
import os
import sys
from types import SimpleNamespace

os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from strands import Agent  # noqa: E402
from strands.agent.conversation_manager import SlidingWindowConversationManager  # noqa: E402
from strands.models.openai import OpenAIModel  # noqa: E402
from strands.session.file_session_manager import FileSessionManager  # noqa: E402
from strands.session.repository_session_manager import RepositorySessionManager  # noqa: E402
from strands.types.session import decode_bytes_values, encode_bytes_values  # noqa: E402


def make_agent(storage, session_id, window, messages=None, state=None):
    # The model is never called; the address only has to parse.
    model = OpenAIModel(model_id="gpt-4o", client_args={"api_key": "sk-unused", "base_url": "http://127.0.0.1:9/v1"})
    manager = FileSessionManager(session_id=session_id, storage_dir=storage)
    agent = Agent(
        model=model,
        messages=messages,
        state=state,
        session_manager=manager,
        conversation_manager=SlidingWindowConversationManager(window_size=window),
        callback_handler=None,
    )
    return agent, manager


def describe(agent):
    return {
        "messages": encode_bytes_values(agent.messages),
        "conversation_manager_state": agent.conversation_manager.get_state(),
        "state": agent.state.get(),
    }


def cmd_restore(storage, session_id, window):
    agent, _ = make_agent(storage, session_id, int(window))
    return describe(agent)


def cmd_write(storage, session_id, window):
    spec = json.load(sys.stdin)
    agent, manager = make_agent(
        storage, session_id, int(window), messages=decode_bytes_values(spec["messages"]), state=spec.get("state")
    )
    if spec.get("trim"):
        agent.conversation_manager.apply_management(agent)
        manager.sync_agent(agent)
    return describe(agent)


def cmd_window():
    results = []
    for case in json.load(sys.stdin):
        manager = SlidingWindowConversationManager(window_size=case["window"])
        agent = SimpleNamespace(messages=decode_bytes_values(case["messages"]))
        steps = []
        for step in case["steps"]:
            error = None
            try:
                if step == "overflow":
                    manager.reduce_context(agent, e=RuntimeError("context overflow"))
                else:
                    manager.apply_management(agent)
            except Exception as e:  # the outcome is what we compare
                error = f"{type(e).__name__}: {e}"
            steps.append(
                {
                    "messages": encode_bytes_values(copy.deepcopy(agent.messages)),
                    "state": manager.get_state(),
                    "error": error,
                }
            )
        results.append(steps)
    return results


def cmd_fix():
    return [
        encode_bytes_values(RepositorySessionManager._fix_broken_tool_use(None, decode_bytes_values(messages)))
        for messages in json.load(sys.stdin)
    ]


def main():
    import logging

    logging.disable(logging.CRITICAL)
    command, args = sys.argv[1], sys.argv[2:]
    handlers = {"restore": cmd_restore, "write": cmd_write, "window": cmd_window, "fix": cmd_fix}
    result = handlers[command](*args)
    sys.stdout.write(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
