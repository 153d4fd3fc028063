"""The app the contract vectors are recorded from: a real `BedrockAgentCoreApp` (PyPI
`bedrock-agentcore`), built in one of several modes. `examples/contract_app.rs` is its Rust twin.

    python agentcore_app.py PORT MODE        # binds 127.0.0.1 only

MODE registers the handlers:
    dispatch    one async entrypoint answering per `payload["case"]` (see CASES)
    sync        a plain `def handler(payload)`
    syncgen     a sync generator entrypoint
    asyncgen    an async generator entrypoint
    noentry     no entrypoint and no websocket handler
    customping  dispatch + an @app.ping handler returning the string "HealthyBusy"
    badping     dispatch + an @app.ping handler that raises
    debug       dispatch, with BedrockAgentCoreApp(debug=True)
Every mode but noentry also gets the websocket handler.
"""

import asyncio
import dataclasses
import datetime
import json
import sys

from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse

from bedrock_agentcore.runtime import BedrockAgentCoreApp, BedrockAgentCoreContext

MODES = ("dispatch", "sync", "syncgen", "asyncgen", "noentry", "customping", "badping", "debug")


class Model(BaseModel):
    a: int
    b: str


@dataclasses.dataclass
class DC:
    x: int
    when: str


class Opaque:
    """Not JSON-serializable: the SDK falls back to str()."""

    def __str__(self):
        return "OpaqueStr"


def build(mode):
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    app = BedrockAgentCoreApp(debug=mode == "debug")

    @app.async_task
    async def background(seconds):
        await asyncio.sleep(seconds)

    def context_facts(payload, context):
        return {
            "session_id": context.session_id,
            "request_headers": context.request_headers,
            "has_request": context.request is not None,
            "ctx_request_id": BedrockAgentCoreContext.get_request_id(),
            "ctx_session_id": BedrockAgentCoreContext.get_session_id(),
            "wat": BedrockAgentCoreContext.get_workload_access_token(),
            "oauth2_cb": BedrockAgentCoreContext.get_oauth2_callback_url(),
        }

    def fail(payload, context):
        raise ValueError("boom from handler")

    def teapot(payload, context):
        raise HTTPException(status_code=418, detail="teapot detail")

    async def sleep(payload, context):
        seconds = payload.get("s", 1)
        await asyncio.sleep(float(seconds))
        return {"slept": seconds}

    def start_background(payload, context):
        asyncio.get_running_loop().create_task(background(float(payload.get("s", 2))))
        return {"started": True}

    def events(payload, context):
        async def gen():
            for item in ({"n": 1}, "two", 3, None, Model(a=4, b="m"), {"multi": "line\nbreak"}):
                yield item

        return gen()

    def events_then_error(payload, context):
        async def gen():
            yield {"n": 1}
            raise RuntimeError("stream exploded")

        return gen()

    # payload["case"] -> what the entrypoint does (a function of payload and context).
    cases = {
        "ctx": context_facts,
        "raise": fail,
        "http_exc": teapot,
        "str": lambda p, c: "hello string",
        "none": lambda p, c: None,
        "int": lambda p, c: 42,
        "unicode": lambda p, c: {"msg": "héllo ☃ 日本"},
        "pydantic": lambda p, c: Model(a=1, b="x"),
        "dataclass": lambda p, c: DC(x=1, when="t"),
        "datetime": lambda p, c: {"t": datetime.datetime(2024, 1, 2, 3, 4, 5)},
        "set": lambda p, c: {"s": {1}},
        "opaque": lambda p, c: Opaque(),
        "bytes": lambda p, c: b"rawbytes",
        "nan": lambda p, c: {"v": float("nan")},
        "response": lambda p, c: JSONResponse({"custom": True}, status_code=404, headers={"X-Custom": "1"}),
        "plain": lambda p, c: PlainTextResponse("plain text", status_code=201),
        "sleep": sleep,
        "bg": start_background,
        "manual_add": lambda p, c: {"task_id": app.add_async_task("manual", {"k": "v"})},
        "manual_done": lambda p, c: {"done": app.complete_async_task(int(p["id"]))},
        "stream": events,
        "stream_err": events_then_error,
    }

    if mode in ("dispatch", "customping", "badping", "debug"):

        @app.entrypoint
        async def dispatch(payload, context):
            case = payload.get("case") if isinstance(payload, dict) else None
            if case is None:
                return {"echo": payload}
            action = cases.get(case)
            if action is None:
                return {"unknown_case": case}
            result = action(payload, context)
            if asyncio.iscoroutine(result):
                result = await result
            return result

    elif mode == "sync":

        @app.entrypoint
        def sync_handler(payload):
            if isinstance(payload, dict) and payload.get("case") == "raise":
                raise KeyError("sync key missing")
            return {"sync": True, "payload": payload}

    elif mode == "syncgen":

        @app.entrypoint
        def sync_generator(payload, context):
            yield {"chunk": 1}
            yield "s"
            if isinstance(payload, dict) and payload.get("case") == "raise":
                raise ValueError("syncgen fail")
            yield {"chunk": 3, "sid": context.session_id}

    elif mode == "asyncgen":

        @app.entrypoint
        async def async_generator(payload, context):
            for i in range(3):
                yield {"i": i}
                await asyncio.sleep(0.05)
            if isinstance(payload, dict) and payload.get("case") == "raise":
                raise ValueError("asyncgen fail")
            yield {"done": True}

    if mode == "customping":

        @app.ping
        def busy_ping():
            return "HealthyBusy"

    elif mode == "badping":

        @app.ping
        def broken_ping():
            raise RuntimeError("ping broken")

    if mode != "noentry":

        @app.websocket
        async def echo_socket(websocket, context):
            await websocket.accept()
            await websocket.send_json(
                {"hello": True, "session_id": context.session_id, "headers": context.request_headers}
            )
            while True:
                text = await websocket.receive_text()
                if text == "raise":
                    raise RuntimeError("ws handler boom")
                if text == "close":
                    await websocket.close(code=1000)
                    return
                try:
                    message = json.loads(text)
                except ValueError:
                    message = text
                await websocket.send_json({"echo": message})

    return app


if __name__ == "__main__":
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "dispatch"
    build(mode).run(port=port, host="127.0.0.1")
