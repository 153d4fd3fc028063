"""Runs one AG-UI run against agentcore-rt and validates every event with the official
ag-ui-protocol models (ag_ui.core, pydantic, strict), for tests/it/agui.rs.

Usage: agui_client.py sse URL '<json RunAgentInput or raw body>' ['<json headers>']
       agui_client.py ws URL '<json RunAgentInput or raw text>' ['<json headers>']
A body of `-` is read from stdin.
Prints one JSON object: {"status", "content_type", "body" (non-200 only), "events": [...],
"problems": [...], "close_code", "close_reason"}. A problem is an event the models refuse, one
that does not serialise back to the bytes received (camelCase, field order, omitted nulls),
an unknown field the models would keep as an extra, or a broken ordering invariant.
"""
import json
import sys
import urllib.error
import urllib.request

from pydantic import TypeAdapter

from ag_ui.core import Event, EventType

ADAPTER = TypeAdapter(Event)


def check(data, events, problems):
    """Validates one event's JSON text; appends the parsed event."""
    try:
        event = ADAPTER.validate_json(data, strict=True)
    except Exception as e:  # noqa: BLE001 - reported to the Rust side
        problems.append(f"invalid event {data}: {e}")
        events.append(json.loads(data))
        return
    if event.model_extra:
        problems.append(f"unknown fields {sorted(event.model_extra)} in {data}")
    again = event.model_dump_json(by_alias=True)
    if again != data:
        problems.append(f"not as ag_ui.core serialises it: got {data} models write {again}")
    events.append(json.loads(data))


def invariants(events, problems):
    """The ordering rules of an AG-UI run."""
    if not events:
        problems.append("no events")
        return
    kinds = [e["type"] for e in events]
    if kinds[0] != "RUN_STARTED":
        problems.append(f"first event is {kinds[0]}")
    terminal = [i for i, k in enumerate(kinds) if k in ("RUN_FINISHED", "RUN_ERROR")]
    if terminal != [len(kinds) - 1]:
        problems.append(f"exactly one terminal event, last: {kinds}")
    open_text, open_reasoning, calls = None, None, {}
    for e in events:
        k = e["type"]
        if k == "TEXT_MESSAGE_START":
            if open_text or open_reasoning:
                problems.append("text message opened inside another message")
            open_text = e["messageId"]
        elif k in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"):
            if e["messageId"] != open_text:
                problems.append(f"{k} for {e['messageId']} while {open_text} is open")
            if k == "TEXT_MESSAGE_END":
                open_text = None
        elif k == "REASONING_START":
            open_reasoning = e["messageId"]
        elif k == "REASONING_END":
            open_reasoning = None
        elif k == "TOOL_CALL_START":
            if open_text:
                problems.append("tool call started while a text message is open")
            calls[e["toolCallId"]] = "started"
        elif k == "TOOL_CALL_ARGS":
            if calls.get(e["toolCallId"]) != "started":
                problems.append(f"args for a call not open: {e['toolCallId']}")
        elif k == "TOOL_CALL_END":
            if calls.get(e["toolCallId"]) != "started":
                problems.append(f"end for a call not open: {e['toolCallId']}")
            calls[e["toolCallId"]] = "ended"
        elif k == "TOOL_CALL_RESULT":
            if calls.get(e["toolCallId"]) != "ended":
                problems.append(f"result for a call not ended: {e['toolCallId']}")
            calls[e["toolCallId"]] = "done"
        elif k in ("RUN_FINISHED", "RUN_ERROR"):
            if open_text or open_reasoning:
                problems.append(f"{k} with a message still open")
    if any(state in ("started",) for state in calls.values()):
        problems.append(f"tool calls never ended: {calls}")


def run_sse(url, body, headers):
    out = {"events": [], "problems": []}
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "text/event-stream")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        out.update(status=e.code, content_type=e.headers.get("content-type"), body=e.read().decode())
        return out
    out.update(status=resp.status, content_type=resp.headers.get("content-type"))
    data = []
    for raw in resp:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data: "):
            data.append(line[len("data: "):])
        elif line == "" and data:
            check("\n".join(data), out["events"], out["problems"])
            data = []
        elif line and not line.startswith(":"):
            out["problems"].append(f"unexpected SSE line {line!r}")
    invariants(out["events"], out["problems"])
    return out


def run_ws(url, body, headers):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    out = {"events": [], "problems": [], "status": 101}
    with connect(url, additional_headers=headers, max_size=None, open_timeout=10, close_timeout=5) as ws:
        ws.send(body)
        try:
            while True:
                text = ws.recv(timeout=60)
                # AGUIApp sends each event SSE-encoded by its EventEncoder: data: <json>\n\n.
                if not (text.startswith("data: ") and text.endswith("\n\n")):
                    out["problems"].append(f"not framed as AGUIApp frames ws events: {text!r}")
                check(text[len("data: "):].rstrip("\n"), out["events"], out["problems"])
        except ConnectionClosed:
            pass
        except TimeoutError:
            out["problems"].append("timed out waiting for the server to close")
        out["close_code"] = ws.close_code
        out["close_reason"] = ws.close_reason
    if out["events"]:
        invariants(out["events"], out["problems"])
    return out


def main():
    mode, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
    if body == "-":
        body = sys.stdin.read()
    headers = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    run = run_sse if mode == "sse" else run_ws
    print(json.dumps(run(url, body, headers)))


if __name__ == "__main__":
    main()
