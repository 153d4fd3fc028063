"""Records tests/fixtures/vectors/mcp-everything-content.json: one stdio session with the npm
`@modelcontextprotocol/server-everything` of tests/peers (installed by
scripts/install-test-peers.sh, or `npm ci` in tests/peers). Stdlib only:

    python3 scripts/record/mcp_everything.py OUT.json

The session: initialize (protocol 2025-11-25, no capabilities), notifications/initialized and
tools/list sent together, then tools/call of the content-rich tools (an image, resource links, an
embedded resource, an annotated text), a call with bad arguments and a call of an unknown tool;
then stdin is closed and the server must exit. Every line both ways is kept, in order, with its
time since the server was started (`t`, seconds): notifications the server sends between
responses are part of what it does.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = "tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
PROTOCOL = "2025-11-25"
WAIT_S = 60

CALLS = [
    ("get-tiny-image", {}),
    ("get-resource-links", {"count": 2}),
    ("get-resource-reference", {"resourceType": "Text", "resourceId": 1}),
    ("get-annotated-message", {"messageType": "error", "includeImage": False}),
    ("echo", {}),  # bad arguments: `message` is required
    ("no_such_tool", {}),
]


def main():
    out = sys.argv[1]
    command = ["node", SERVER, "stdio"]
    if not os.path.exists(os.path.join(ROOT, SERVER)):
        raise SystemExit(f"{SERVER} missing: run scripts/install-test-peers.sh")
    start = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    transcript = []
    lines = queue.Queue()

    def now():
        return round(time.monotonic() - start, 3)

    def read_stdout():
        for line in proc.stdout:
            lines.put((now(), line))
        lines.put((now(), None))

    stderr = []
    threading.Thread(target=read_stdout, daemon=True).start()
    stderr_reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    stderr_reader.start()

    def send(msg):
        transcript.append({"dir": "c2s", "t": now(), "msg": msg})
        proc.stdin.write(json.dumps(msg).encode() + b"\n")
        proc.stdin.flush()

    def until_response(request_id):
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                t, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"no response to request {request_id} within {WAIT_S}s")
            if line is None:
                raise SystemExit(f"the server closed stdout before answering request {request_id}")
            msg = json.loads(line)
            transcript.append({"dir": "s2c", "t": t, "msg": msg})
            if msg.get("id") == request_id and "method" not in msg:
                return msg

    send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "peer-probe", "version": "0.0.1"}},
        }
    )
    until_response(1)
    initialized_at = transcript[-1]["t"]
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
    until_response(2)
    for i, (name, arguments) in enumerate(CALLS, start=3):
        send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
        until_response(i)
    proc.stdin.close()
    try:
        code = proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"the server did not exit within {WAIT_S}s of stdin closing")
    total = now()
    while True:  # anything the server wrote after the last response
        t, line = lines.get(timeout=WAIT_S)
        if line is None:
            break
        transcript.append({"dir": "s2c", "t": t, "msg": json.loads(line)})
    stderr_reader.join(timeout=WAIT_S)
    record = {
        "command": command,
        "requested_protocol": PROTOCOL,
        "startup_to_initialize_s": initialized_at,
        "total_s": total,
        "exit_code": code,
        "stderr_head": (stderr[0] if stderr else b"").decode("utf-8", "replace")[:2000],
        "transcript": transcript,
    }
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"wrote {out} ({len(transcript)} messages)", file=sys.stderr)


if __name__ == "__main__":
    main()
