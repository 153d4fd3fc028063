"""Drives an A2A agent with the official a2a-sdk client; prints one JSON object.

usage: a2a_client.py MODE URL [TEXT] [CONTEXT_ID]
  card    the card as the SDK's resolver parses it
  send    SendMessage (streaming off), then GetTask of the task it returned
  stream  SendStreamingMessage: every event, in order
  cancel  SendStreamingMessage; on the first event, wait for the file CONTEXT_ID to exist
          (the test creates it once the model call is under way), CancelTask from a second
          client; then the rest of the events, and a second CancelTask (must be refused)
  missing GetTask / CancelTask of an unknown task
Responses are written as protobuf JSON (MessageToDict); SDK errors as their class name.
"""

import asyncio
import json
import os
import sys

import httpx
from google.protobuf.json_format import MessageToDict

from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.helpers.proto_helpers import new_text_message
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, Role, SendMessageRequest


def d(msg):
    return MessageToDict(msg)


async def client_for(url, streaming):
    http = httpx.AsyncClient(timeout=60)
    config = ClientConfig(streaming=streaming, httpx_client=http)
    return await create_client(url, client_config=config)


def request(text, context_id):
    message = new_text_message(text, context_id=context_id or None, role=Role.ROLE_USER)
    return SendMessageRequest(message=message)


async def error_name(coro):
    try:
        await coro
    except Exception as e:  # noqa: BLE001 - the class is what is checked
        return type(e).__name__ + ": " + str(e)
    return None


async def main():
    mode, url = sys.argv[1], sys.argv[2]
    text = sys.argv[3] if len(sys.argv) > 3 else "hello"
    context_id = sys.argv[4] if len(sys.argv) > 4 else ""
    out = {}
    if mode == "card":
        async with httpx.AsyncClient() as http:
            card = await A2ACardResolver(http, url).get_agent_card()
        out["card"] = d(card)
    elif mode == "send":
        client = await client_for(url, streaming=False)
        out["events"] = [d(e) async for e in client.send_message(request(text, context_id))]
        task_id = out["events"][-1]["task"]["id"]
        out["got"] = d(await client.get_task(GetTaskRequest(id=task_id)))
        out["cancel_finished"] = await error_name(client.cancel_task(CancelTaskRequest(id=task_id)))
    elif mode == "stream":
        client = await client_for(url, streaming=True)
        out["events"] = [d(e) async for e in client.send_message(request(text, context_id))]
    elif mode == "cancel":
        client = await client_for(url, streaming=True)
        other = await client_for(url, streaming=False)
        events = []
        async for e in client.send_message(request(text, "")):
            events.append(d(e))
            if len(events) == 1:
                task_id = events[0]["task"]["id"]
                while not os.path.exists(context_id):
                    await asyncio.sleep(0.01)
                out["cancel"] = d(await other.cancel_task(CancelTaskRequest(id=task_id)))
        out["events"] = events
        out["again"] = await error_name(other.cancel_task(CancelTaskRequest(id=task_id)))
        out["got"] = d(await other.get_task(GetTaskRequest(id=task_id)))
    elif mode == "missing":
        client = await client_for(url, streaming=False)
        out["get"] = await error_name(client.get_task(GetTaskRequest(id="no-such-task")))
        out["cancel"] = await error_name(client.cancel_task(CancelTaskRequest(id="no-such-task")))
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


asyncio.run(main())
