"""Plays the WebSocket steps of one contract vector with the real `websockets` client.

Usage: ws_driver.py URL < job.json, where job is {"headers": {...}, "send": [...]}: each send is a
text message, or "hex:<hex digits>" for a binary frame. Everything is sent after the handshake,
then messages are read until the server closes (each read bounded by a timeout).

Prints one JSON object:
  accepted: {"status": 101, "received": [text, ...], "close": {"code": int|null, "reason": str}}
  refused:  {"status": <HTTP status>, "headers": {lower-case name: value}, "body": str}
"""
import json
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

READ_TIMEOUT_S = 10


def main():
    url = sys.argv[1]
    job = json.load(sys.stdin)
    try:
        ws = connect(url, additional_headers=list(job["headers"].items()), open_timeout=READ_TIMEOUT_S,
                     proxy=None)
    except InvalidStatus as e:
        response = e.response
        headers = {}
        for name, value in response.headers.raw_items():
            headers.setdefault(name.lower(), value)
        print(json.dumps({
            "status": response.status_code,
            "headers": headers,
            "body": response.body.decode("utf-8", "replace"),
        }))
        return
    received = []
    with ws:
        try:
            for message in job["send"]:
                if message.startswith("hex:"):
                    ws.send(bytes.fromhex(message[4:]))
                else:
                    ws.send(message)
        except ConnectionClosed:
            pass
        while True:
            try:
                message = ws.recv(timeout=READ_TIMEOUT_S)
            except ConnectionClosed:
                break
            except TimeoutError:
                received.append("<driver: no message and no close within the timeout>")
                break
            if isinstance(message, bytes):
                message = "hex:" + message.hex()
            received.append(message)
    close = ws.protocol.close_rcvd
    print(json.dumps({
        "status": 101,
        "received": received,
        "close": {"code": close.code if close else None, "reason": close.reason if close else ""},
    }))


if __name__ == "__main__":
    main()
