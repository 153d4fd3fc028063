"""A stdio MCP server (stdlib only) that misbehaves after a clean start, for tests/it/faults.rs.

Usage: faulty_mcp_server.py MODE
    babble   tools `echo` and `babble`; `babble` answers with 50 lines on stdout that are not
             JSON-RPC (the client must drop the connection, not hang, and restart it later)
    flood    tools `echo` and `flood(lines, width)`; `flood` writes `lines` stderr lines of
             `width` bytes as fast as the pipe takes them, then answers "flooded"
    envcheck tools `echo` and `has_secret`; `has_secret` says whether $SECRET_TOKEN is set
             (without printing it), so a test can prove the configured env arrived
    gated PATH  tools `echo` and `gated`; reads nothing (so it answers no initialize) until the
             file PATH exists: a server that is slow to start, opened by the test
    stubborn tools `echo` and `stubborn`; ignores SIGTERM and keeps running after stdin closes,
             so only SIGKILL stops it (the worst case for a stop's grace periods)
    slow SECS  tools `echo` and `slow`; sleeps SECS seconds before reading initialize

Every mode answers initialize and tools/list at once, and `echo` returns its `text` argument
unchanged (a shell would have interpreted it).
"""

import json
import os
import signal
import sys
import time

ECHO = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}
EXTRA = {
    "gated": {
        "name": "gated",
        "description": "Exists only to be listed.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    "babble": {
        "name": "babble",
        "description": "Answers with garbage on stdout.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    "flood": {
        "name": "flood",
        "description": "Floods stderr.",
        "inputSchema": {
            "type": "object",
            "properties": {"lines": {"type": "integer"}, "width": {"type": "integer"}},
            "required": ["lines", "width"],
        },
    },
    "stubborn": {
        "name": "stubborn",
        "description": "Exists only to be listed.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    "slow": {
        "name": "slow",
        "description": "Exists only to be listed.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    "envcheck": {
        "name": "has_secret",
        "description": "Whether SECRET_TOKEN is set.",
        "inputSchema": {"type": "object", "properties": {}},
    },
}


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text_result(mid, text):
    send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}], "isError": False}})


def call(mode, mid, name, args):
    if name == "echo":
        text_result(mid, args.get("text", ""))
    elif name == "babble" and mode == "babble":
        for i in range(50):
            sys.stdout.write(f"garbage line {i} {{not json\n")
        sys.stdout.flush()
        text_result(mid, "babbled")
    elif name == "flood" and mode == "flood":
        line = "x" * int(args["width"]) + "\n"
        for _ in range(int(args["lines"])):
            sys.stderr.write(line)
        sys.stderr.flush()
        text_result(mid, "flooded")
    elif name == "has_secret" and mode == "envcheck":
        text_result(mid, "yes" if os.environ.get("SECRET_TOKEN") else "no")
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})


def main():
    mode = sys.argv[1]
    tools = [ECHO, EXTRA[mode]]
    if mode == "gated":
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.02)
    if mode == "slow":
        time.sleep(float(sys.argv[2]))
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        method, mid = msg.get("method"), msg.get("id")
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": mid,
                    "result": {
                        "protocolVersion": msg["params"]["protocolVersion"],
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": f"faulty-{mode}", "version": "0.1"},
                    },
                }
            )
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": mid, "result": {"tools": tools}})
        elif method == "tools/call":
            params = msg.get("params") or {}
            call(mode, mid, params.get("name"), params.get("arguments") or {})
        elif mid is not None and method is not None:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}})
    if mode == "stubborn":
        while True:
            time.sleep(60)


if __name__ == "__main__":
    main()
