"""The mapping reference: ag-ui-strands' StrandsAgent (a real Strands agent with OpenAIModel
against the test's mock model, and an `add` tool) running one RunAgentInput, for
tests/it/agui.rs to compare agentcore-rt's events with.

Usage: agui_strands_reference.py OPENAI_BASE_URL < '<json RunAgentInput>'
Prints the events as a JSON list, each as ag_ui.core serialises it (by alias).
"""
import asyncio
import json
import sys

from ag_ui.core import RunAgentInput
from ag_ui_strands import StrandsAgent
from strands import Agent, tool
from strands.models.openai import OpenAIModel


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def main():
    base_url = sys.argv[1]
    run_input = RunAgentInput.model_validate_json(sys.stdin.read())
    model = OpenAIModel(client_args={"base_url": base_url, "api_key": "sk-test"}, model_id="gpt-4o")
    wrapper = StrandsAgent(Agent(model=model, tools=[add], callback_handler=None), name="reference")
    events = []
    async for event in wrapper.run(run_input):
        events.append(json.loads(event.model_dump_json(by_alias=True)))
    print(json.dumps(events))


if __name__ == "__main__":
    asyncio.run(main())
