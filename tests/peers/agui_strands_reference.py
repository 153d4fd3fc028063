"""The mapping reference: ag-ui-strands' StrandsAgent (a real Strands agent with OpenAIModel
against the test's mock model, and an `add` tool) running RunAgentInputs, for
tests/it/agui.rs to compare agentcore-rt's events with.

Usage: agui_strands_reference.py OPENAI_BASE_URL [SESSION_DIR] < '<json RunAgentInput or list>'
One RunAgentInput: prints its events as a JSON list, each as ag_ui.core serialises it (by
alias). A list of them: runs each in turn through the same StrandsAgent (the runs of one
thread, as a server would) and prints a list of those lists. With SESSION_DIR, each thread
is kept by a Strands FileSessionManager there (StrandsAgentConfig.session_manager_provider),
as agentcore-rt keeps it under SESSION_DIR.
"""
import asyncio
import json
import sys

from ag_ui.core import RunAgentInput
from ag_ui_strands import StrandsAgent, StrandsAgentConfig
from strands import Agent, tool
from strands.models.openai import OpenAIModel
from strands.session.file_session_manager import FileSessionManager


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def main():
    base_url = sys.argv[1]
    session_dir = sys.argv[2] if len(sys.argv) > 2 else None
    body = json.loads(sys.stdin.read())
    inputs = [RunAgentInput.model_validate(b) for b in (body if isinstance(body, list) else [body])]
    model = OpenAIModel(client_args={"base_url": base_url, "api_key": "sk-test"}, model_id="gpt-4o")
    config = StrandsAgentConfig()
    if session_dir:
        config = StrandsAgentConfig(
            session_manager_provider=lambda run_input: FileSessionManager(
                session_id=run_input.thread_id, storage_dir=session_dir
            )
        )
    wrapper = StrandsAgent(
        Agent(model=model, tools=[add], callback_handler=None), name="reference", config=config
    )
    runs = []
    for run_input in inputs:
        events = []
        async for event in wrapper.run(run_input):
            events.append(json.loads(event.model_dump_json(by_alias=True)))
        runs.append(events)
    print(json.dumps(runs if isinstance(body, list) else runs[0]))


if __name__ == "__main__":
    asyncio.run(main())
