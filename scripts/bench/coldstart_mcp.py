"""Cold start to the first /ping 200, with a slow-starting stdio MCP server (it sleeps before
answering initialize) and without MCP, alternating, median of RUNS each.

Usage: coldstart_mcp.py BINARY PYTHON [RUNS] [SLOW_SECONDS]
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_start(binary, env):
    port = free_port()
    env = dict(env, PORT=str(port), HOST="127.0.0.1", OPENAI_API_KEY="sk-bench",
               OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                    if r.status == 200:
                        return (time.monotonic() - started) * 1000
            except OSError:
                time.sleep(0.001)
        raise SystemExit("no /ping 200 within 30 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    binary, python = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    slow = sys.argv[4] if len(sys.argv) > 4 else "2"
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "mcp.json")
        with open(config, "w") as f:
            json.dump({"mcpServers": {"slow": {
                "command": python,
                "args": [os.path.join(ROOT, "tests/peers/faulty_mcp_server.py"), "slow", slow]}}}, f)
        base = dict(os.environ, SESSION_DIR=os.path.join(tmp, "sessions"))
        without, with_mcp = [], []
        for _ in range(runs):
            without.append(cold_start(binary, base))
            with_mcp.append(cold_start(binary, dict(base, MCP_CONFIG=config)))
    a, b = statistics.median(without), statistics.median(with_mcp)
    print(f"cold start to first /ping 200 (median of {runs}, alternating):")
    print(f"  without MCP:                      {a:8.2f} ms")
    print(f"  with a {slow}-s slow stdio MCP server: {b:8.2f} ms   ratio {b / a:.2f}x (target <= 2x)")
    return 0 if b <= 2 * a else 1


if __name__ == "__main__":
    sys.exit(main())
