"""The reference: bedrock-agentcore's AGUIApp, served by uvicorn on an ephemeral port, answering
a list of requests, for tests/it/agui.rs to compare with agentcore-rt's answers.

Usage: agui_reference.py < '<json: {"http": [raw body, ...], "ws": [raw first message, ...]}>'
Prints {"http": [{"status", "content_type", "body"}], "ws": [{"close_code", "close_reason",
"events"}]} (ws events as the raw texts received). The entrypoint streams RUN_STARTED then RUN_FINISHED (the events are not what is
compared; the handling of bad input before any event is).
"""
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import uvicorn
from ag_ui.core import RunFinishedEvent, RunStartedEvent
from bedrock_agentcore.runtime import AGUIApp

app = AGUIApp()


@app.entrypoint
async def agent(run_input):
    yield RunStartedEvent(thread_id=run_input.thread_id, run_id=run_input.run_id)
    yield RunFinishedEvent(thread_id=run_input.thread_id, run_id=run_input.run_id)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    try:
        resp = urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        return {"status": e.code, "content_type": e.headers.get("content-type"), "body": e.read().decode()}
    return {"status": resp.status, "content_type": resp.headers.get("content-type"), "body": resp.read().decode()}


def ws(port, text):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    events = []
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10, close_timeout=5) as conn:
        conn.send(text)
        try:
            while True:
                events.append(conn.recv(timeout=30))
        except ConnectionClosed:
            pass
        except TimeoutError:
            events.append("<timeout>")
        return {"close_code": conn.close_code, "close_reason": conn.close_reason, "events": events}


def main():
    asks = json.loads(sys.stdin.read())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline:
            raise SystemExit("AGUIApp did not start")
        time.sleep(0.05)
    out = {"http": [post(port, b) for b in asks.get("http", [])], "ws": [ws(port, t) for t in asks.get("ws", [])]}
    server.should_exit = True
    thread.join(10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
