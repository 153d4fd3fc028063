#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets from the recordings (tests/fixtures).

Usage: make_seeds.py RECORDINGS_DIR OUT_DIR   (OUT_DIR/<target>/seed-<n> files)

RECORDINGS_DIR holds vectors/*.json and strands-sessions/ (tests/fixtures; an older layout with
fixtures/strands-sessions/ is read too). Every seed starts
with the 8 control bytes the target reads (see fuzz/src/common.rs), chosen so the real data goes
through with the runtime's own limits.
"""

import glob
import hashlib
import json
import os
import sys

SHARED, OUT = sys.argv[1], sys.argv[2]
counts = {}


def seed(target, ctrl, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    data = bytes(ctrl) + payload
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    counts[target] = counts.get(target, 0) + 1


def load(rel):
    with open(os.path.join(SHARED, rel), encoding="utf-8") as f:
        return json.load(f)


def dumps(v):
    return json.dumps(v, ensure_ascii=False)


# ---- http_head: requests the Python app was recorded answering --------------------------------
# ctrl: mode (0: head, limit 1 MiB; 0x80: chunked body only), max_headers 64, max_bytes 8192, seed.
HEAD = [0x00, 64, 0x00, 0x20, 1, 2, 3, 4]
CHUNKED = [0x80, 64, 0x00, 0x20, 5, 6, 7, 8]


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


bodies = []
for v in load("vectors/agentcore-observed.json"):
    req = v["request"]
    body = req.get("body")
    if body is None and req.get("body_hex"):
        body = bytes.fromhex(req["body_hex"])
    if isinstance(body, str):
        body = body.encode()
    if body is not None:
        bodies.append(body)
    lines = ["%s %s HTTP/1.1" % (req["method"], req["path"]), "Host: localhost:8080"]
    lines += ["%s: %s" % kv for kv in (req.get("headers") or {}).items()]
    plain = lines + (["Content-Length: %d" % len(body)] if body is not None else [])
    head = ("\r\n".join(plain) + "\r\n\r\n").encode()
    seed("http_head", HEAD, head + (body or b"") + b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    if body is not None:
        te = ("\r\n".join(lines + ["Transfer-Encoding: chunked"]) + "\r\n\r\n").encode()
        seed("http_head", HEAD, te + chunked(body, 7))
        seed("http_head", CHUNKED, chunked(body, 3) + b"POST /invocations HTTP/1.1\r\n")
seed("http_head", HEAD, b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
seed("http_head", HEAD, b"GET http://h:1/p%69ng?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
seed("http_head", CHUNKED, b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next")

# ---- json_body: request bodies and every JSON message recorded -------------------------------
BODY = [0x00, 255, 0, 0, 0, 0, 0, 0]
for body in bodies:
    seed("json_body", BODY, body)
    seed("json_body", [0x00, 3, 0, 0, 0, 0, 0, 0], body)
for name in sorted(glob.glob(os.path.join(SHARED, "vectors", "mcp-*.json"))):
    with open(name, encoding="utf-8") as f:
        doc = json.load(f)
    for entry in doc.get("transcript", []):
        for msg in (entry.get("msg"), (entry.get("request") or {}).get("body")):
            if msg is not None:
                seed("json_body", BODY, dumps(msg))
seed("json_body", BODY, "[1e5, 1E400, -0, 0.1, 1e-7, 12345678901234567890123, \"\\ud83d\\ude00\"]")
# Writer mode: the payload drives the value generator.
for i in range(8):
    seed("json_body", [0x01, 255, 0, 0, 0, 0, 0, 0], bytes((i * 37 + j * 11) % 256 for j in range(64)))

# ---- model_stream: the mock server's rendering of the recorded Strands scripts ---------------
STREAM = [0xff, 0xff, 0, 0, 9, 10, 11, 12]


def chunk(delta, finish=None, usage=False):
    v = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
         "model": "gpt-4o", "service_tier": "default", "system_fingerprint": "fp",
         "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if usage:
        v["usage"] = None
    return json.dumps(v)


def render(entry, step, crlf):
    events = [chunk({"role": "assistant", "content": "", "refusal": None}, usage=True)]
    text = entry.get("text")
    if text:
        events += [chunk({"content": text[i:i + step]}, usage=True) for i in range(0, len(text), step)]
    calls = entry.get("tool_calls") or []
    message = {"role": "assistant", "content": text, "refusal": None}
    for i, call in enumerate(calls):
        args = call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"])
        events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["name"], "arguments": ""}}]}))
        events += [chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j:j + step]}}]})
                   for j in range(0, len(args), step)]
        message.setdefault("tool_calls", []).append(
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": args}})
    finish = "tool_calls" if calls else "stop"
    events.append(chunk({}, finish, usage=True))
    usage = {"prompt_tokens": 110, "completion_tokens": 8, "total_tokens": 118,
             "prompt_tokens_details": {"cached_tokens": 0}}
    events.append(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
                              "usage": usage}))
    events.append("[DONE]")
    nl = "\r\n" if crlf else "\n"
    stream = "".join("data: %s%s%s" % (e, nl, nl) for e in events)
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
                  "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
    return stream, json.dumps(completion)


openai = load("vectors/strands-openai-requests.json")
for scenario in openai["scenarios"].values():
    for turn in scenario["turns"]:
        for entry in turn.get("script", []):
            if "error" in entry:
                seed("model_stream", STREAM, "data: " + json.dumps({"error": entry["error"]}) + "\n\n")
                continue
            for step, crlf in ((4, False), (1000, True)):
                stream, completion = render(entry, step, crlf)
                seed("model_stream", STREAM, stream)
                seed("model_stream", STREAM, completion)
        for request in turn.get("requests", []):
            seed("session_message", [3, 0, 0, 0, 0, 0, 0, 0], dumps(request.get("messages", [])))
        for key in ("agent_messages_after",):
            if turn.get(key):
                seed("session_message", [2, 0, 0, 0, 0, 0, 0, 0], dumps(turn[key]))
        if turn.get("result_message"):
            seed("session_message", [0] * 8, dumps(turn["result_message"]))
seed("model_stream", STREAM, ": keep-alive\r\nevent: x\r\nid: 7\r\ndata: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\r\rdata: [DONE]\n\n")

# ---- mcp_sse: event streams as the servers sent them, JSON-RPC messages, tool results --------
MCP = [0xff, 0xff, 0, 0, 13, 14, 15, 16]
for name in sorted(glob.glob(os.path.join(SHARED, "vectors", "mcp-*.json"))):
    with open(name, encoding="utf-8") as f:
        doc = json.load(f)
    for entry in doc.get("transcript", []):
        if entry.get("msg") is not None:
            seed("mcp_sse", MCP, dumps(entry["msg"]))
            result = entry["msg"].get("result") if isinstance(entry["msg"], dict) else None
            if isinstance(result, dict) and "content" in result:
                seed("mcp_sse", MCP, dumps(result))
        response = entry.get("response") or {}
        body = response.get("body")
        if isinstance(body, list):
            out = ""
            for ev in body:
                event = ev.get("event")
                crlf = isinstance(event, str) and event.endswith("\r")
                nl = "\r\n" if crlf else "\n"
                if event:
                    out += "event: " + event.rstrip("\r") + nl
                if ev.get("id"):
                    out += "id: " + ev["id"] + nl
                data = ev.get("data")
                out += "data: " + (dumps(data) if data is not None else "") + nl + nl
                if isinstance(data, dict) and isinstance(data.get("result"), dict) \
                        and "content" in data["result"]:
                    seed("mcp_sse", MCP, dumps(data["result"]))
            seed("mcp_sse", MCP, out)
        elif isinstance(body, (dict, list)):
            seed("mcp_sse", MCP, dumps(body))

# ---- session_message: message files Strands wrote ---------------------------------------------
session_files = []
for sessions in (os.path.join(SHARED, "strands-sessions"), os.path.join(SHARED, "fixtures", "strands-sessions")):
    session_files += glob.glob(os.path.join(sessions, "*", "**", "message_*.json"), recursive=True)
for path in sorted(session_files):
    with open(path, "rb") as f:
        data = f.read()
    seed("session_message", [0] * 8, data)
    seed("session_message", [0] * 8, dumps(json.loads(data)["message"]))

for target, n in sorted(counts.items()):
    print("%-16s %d seeds" % (target, n))
