"""Drives a WebSocket conversation with the real `websockets` client, for the Rust tests.

Usage: ws_client.py URL '<json steps>' ['<json headers>']
Steps: {"op": "send", "text": s} | {"op": "send", "binary_hex": h} | {"op": "send_big", "size": n}
       {"op": "recv"} | {"op": "recv_until", "types": [t, ...]} | {"op": "ping"}
       {"op": "close", "code": c} | {"op": "wait_closed"}
Prints one JSON object: {"results": [...], "close_code": int|null}.
"""
import json
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def main():
    url, steps = sys.argv[1], json.loads(sys.argv[2])
    headers = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    results = []
    with connect(url, additional_headers=headers, max_size=None, open_timeout=10, close_timeout=5) as ws:
        try:
            for step in steps:
                op = step["op"]
                if op == "send":
                    ws.send(step["text"] if "text" in step else bytes.fromhex(step["binary_hex"]))
                    results.append({"sent": True})
                elif op == "send_big":
                    ws.send("x" * step["size"])
                    results.append({"sent": step["size"]})
                elif op == "recv":
                    msg = ws.recv(timeout=step.get("timeout", 20))
                    if isinstance(msg, str):
                        results.append({"text": msg} if len(msg) < 10000 else {"text_len": len(msg)})
                    else:
                        results.append({"binary_hex": msg.hex()})
                elif op == "recv_until":
                    # JSON messages until one whose "type" is in step["types"]; returns them all.
                    got = []
                    while True:
                        msg = json.loads(ws.recv(timeout=step.get("timeout", 30)))
                        got.append(msg)
                        if msg.get("type") in step["types"]:
                            break
                    results.append({"messages": got})
                elif op == "ping":
                    ws.ping(b"hello").wait(10)
                    results.append({"pong": True})
                elif op == "close":
                    ws.close(step.get("code", 1000))
                    results.append({"closed": True})
                elif op == "wait_closed":
                    try:
                        ws.recv(timeout=step.get("timeout", 20))
                        results.append({"unexpected": "message"})
                    except ConnectionClosed:
                        results.append({"closed": True})
        except ConnectionClosed as e:
            results.append({"connection_closed": True})
        except TimeoutError:
            results.append({"timeout": True})
    code = ws.close_code
    print(json.dumps({"results": results, "close_code": code, "close_reason": ws.close_reason}))


if __name__ == "__main__":
    main()
