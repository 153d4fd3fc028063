"""What the loopback benchmarks share (bedrock_bench.py, s3_bench.py, otel_bench.py): a 0-ms
OpenAI-compatible mock in the calling process, the binary's CPU time, one invocation, and
waiting for /ping."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"
CLK = os.sysconf("SC_CLK_TCK")
WORDS = ["The ", "answer ", "is ", "five", "."]


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


class OpenAiMock(BaseHTTPRequestHandler):
    """Streams the same short answer, with usage, at once."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        chunks += [{"choices": [{"index": 0, "delta": {"content": w}}]} for w in WORDS]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        chunks.append({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        data = body.encode()
        # Head and body in one write: two small writes meet Nagle and a delayed ACK (40 ms).
        head = f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {len(data)}\r\n\r\n"
        self.wfile.write(head.encode() + data)


def serve(handler):
    """Serves `handler` on a free loopback port in a daemon thread; returns the server."""
    server = ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_openai_mock():
    """The mock and its base URL (`OPENAI_BASE_URL`)."""
    server = serve(OpenAiMock)
    return server, f"http://{HOST}:{server.server_address[1]}/v1"


def cpu_s(pid):
    """utime + stime of the process (clock ticks: 10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def cpu_ns(pid):
    """CPU time of every live thread of the process, from schedstat (nanoseconds)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def http_call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request(method, path, body, headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def invoke(port, session):
    """One JSON invocation; raises unless it answers 200."""
    status, body = http_call(port, "POST", "/invocations",
                             json.dumps({"query": "What is 2 + 3?", "session_id": session}),
                             {"content-type": "application/json"})
    if status != 200:
        raise RuntimeError(f"invocation answered {status}: {body[:300]!r}")
    return body


def wait_ping(port, proc, deadline_s=30):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the binary exited during start-up")
        try:
            if http_call(port, "GET", "/ping")[0] == 200:
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("no /ping 200")


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
