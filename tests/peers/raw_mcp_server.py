"""A hand-written stdio MCP server (stdlib only) for behaviours the SDK server cannot show.

Usage: raw_mcp_server.py MODE
    paged    26 tools served 10 per tools/list page (nextCursor); before answering tools/list it
             pings the client and sends a notification; prints a start-up banner (not JSON) on
             stdout first; answers CRLF-terminated lines; an unknown tool gets a JSON-RPC error
             (-32602 "Unknown tool: <name>", what the low-level Python Server sends); the listed
             tool `vanished` is such an unknown tool
    silent   reads stdin, never answers (initialize must time out)
    garbage  answers every line with lines that are not JSON
"""

import json
import sys

PAGE = 10
TOOLS = [
    {"name": f"t{i:02d}", "description": f"Tool number {i}", "inputSchema": {"type": "object", "properties": {}}}
    for i in range(25)
]
# One tool without a description: the client must describe it itself.
TOOLS[3] = {"name": "t03", "inputSchema": {"type": "object"}}
# Listed but unknown to tools/call, like a tool that went away.
TOOLS.append({"name": "vanished", "description": "Gone by the time it is called", "inputSchema": {"type": "object"}})


def send(message, end="\n"):
    sys.stdout.write(json.dumps(message) + end)
    sys.stdout.flush()


def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def paged():
    sys.stdout.write("raw server starting (this banner is not JSON-RPC)\n")
    sys.stdout.flush()
    while True:
        msg = read()
        method, mid = msg.get("method"), msg.get("id")
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": mid,
                    "result": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {"listChanged": True}},
                        "serverInfo": {"name": "raw", "version": "0.1"},
                    },
                }
            )
        elif method == "tools/list":
            send({"jsonrpc": "2.0", "id": "srv-ping-1", "method": "ping"})
            reply = read()
            if reply.get("id") != "srv-ping-1" or reply.get("result") != {}:
                sys.exit("bad ping reply: " + json.dumps(reply))
            send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "listing"}})
            start = int((msg.get("params") or {}).get("cursor") or 0)
            page = {"tools": TOOLS[start : start + PAGE]}
            if start + PAGE < len(TOOLS):
                page["nextCursor"] = str(start + PAGE)
            send({"jsonrpc": "2.0", "id": mid, "result": page}, end="\r\n")
        elif method == "tools/call":
            name = msg["params"]["name"]
            if name != "vanished" and any(t["name"] == name for t in TOOLS):
                send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": f"called {name}"}]}})
            else:
                send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": f"Unknown tool: {name}"}})
        elif mid is not None:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "Method not found"}})


def silent():
    while sys.stdin.readline():
        pass


def garbage():
    while sys.stdin.readline():
        for i in range(50):
            sys.stdout.write(f"garbage line {i} {{not json\n")
        sys.stdout.flush()


if __name__ == "__main__":
    {"paged": paged, "silent": silent, "garbage": garbage}[sys.argv[1]]()
