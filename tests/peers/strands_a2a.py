"""Strands' A2AAgent calling a remote A2A agent; prints one JSON object.

usage: strands_a2a.py URL PROMPT
Prints the card it discovered (name, description), the result's text, and the stop reason.
"""

import asyncio
import json
import sys

from strands.agent.a2a_agent import A2AAgent


async def main():
    url, prompt = sys.argv[1], sys.argv[2]
    agent = A2AAgent(endpoint=url, timeout=60)
    card = await agent.get_agent_card()
    result = await agent.invoke_async(prompt)
    print(json.dumps({
        "name": card.name,
        "description": card.description,
        "text": str(result),
        "stop_reason": str(result.stop_reason),
    }))


asyncio.run(main())
