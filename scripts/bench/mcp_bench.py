#!/usr/bin/env python3
"""Invocations with one stdio MCP tool call each: servers side by side (loopback, bounded).

For every --server NAME=CMD (exec'd without a shell, env: PORT, MODEL_BASE_URL/OPENAI_BASE_URL
to the mock, OPENAI_API_KEY, SESSION_DIR, MODEL_ID): wait for /ping, warm up, then
  same session, sequential:  --requests invocations on one session (c=1)
  distinct sessions, c=C:    --concurrency clients, each on its own session, --per-client each
Every invocation makes the mock model call the server's `lookup` MCP tool, then answer. Reports
req/s, latency p50/p99 and CPU ms per invocation of the whole process tree (MCP servers
included), and ratios against the first server. Prints markdown; writes JSON to --out.
"""

import argparse
import http.client
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
CLK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(children(p))
    return pids


def cpu_s(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime: reaped children (per-request MCP servers) count too.
            total += sum(int(x) for x in fields[11:15])
        except OSError:
            pass
    return total / CLK


def invoke(port, session, timeout=60):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    body = json.dumps({"prompt": "Look up the key alpha.", "session_id": session})
    t0 = time.perf_counter()
    conn.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, (time.perf_counter() - t0) * 1000


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def wait_ping(port, deadline_s=120):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=1)
            c.request("GET", "/ping")
            if c.getresponse().status == 200:
                return True
        except OSError:
            time.sleep(0.01)
    return False


def measure(name, cmd, a, workdir):
    env = dict(os.environ)
    env.update({
        "PORT": str(a.port),
        "MODEL_BASE_URL": f"http://{HOST}:{a.mock_port}/v1",
        "OPENAI_BASE_URL": f"http://{HOST}:{a.mock_port}/v1",
        "OPENAI_API_KEY": "sk-bench-mock",
        "SESSION_DIR": os.path.join(workdir, f"sessions-{name}"),
        "MODEL_ID": "gpt-4o-mini",
        "LOG_LEVEL": "warning",
    })
    logf = open(os.path.join(workdir, f"server-{name}.log"), "wb")
    proc = subprocess.Popen(shlex.split(cmd), env=env, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    res = {"name": name, "cmd": cmd}
    try:
        if not wait_ping(a.port):
            raise RuntimeError(f"{name}: no /ping 200")
        for i in range(2):
            st, body, _ = invoke(a.port, "warmup")
            if st != 200:
                raise RuntimeError(f"{name}: warm-up answered {st}: {body[:300]!r}")
        # same session, sequential
        c0, t0 = cpu_s(proc.pid), time.perf_counter()
        lat, errors = [], 0
        for i in range(a.requests):
            st, _, ms = invoke(a.port, "same-session")
            lat.append(ms)
            errors += st != 200
        wall = time.perf_counter() - t0
        res["same_session_c1"] = {
            "requests": a.requests, "errors": errors, "rps": round(a.requests / wall, 2),
            "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
            "cpu_ms_per_req": round((cpu_s(proc.pid) - c0) * 1000 / a.requests, 2),
        }
        log(f"{name}: same session c=1 {res['same_session_c1']}")
        # distinct sessions, concurrent
        lat, errs = [], [0]
        lock = threading.Lock()

        def client(i):
            for j in range(a.per_client):
                st, _, ms = invoke(a.port, f"client-{i}")
                with lock:
                    lat.append(ms)
                    errs[0] += st != 200

        c0, t0 = cpu_s(proc.pid), time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        wall = time.perf_counter() - t0
        n = a.concurrency * a.per_client
        res[f"sessions_c{a.concurrency}"] = {
            "requests": n, "errors": errs[0], "rps": round(n / wall, 2),
            "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
            "cpu_ms_per_req": round((cpu_s(proc.pid) - c0) * 1000 / n, 2),
        }
        log(f"{name}: {a.concurrency} sessions {res[f'sessions_c{a.concurrency}']}")
        res["mcp_processes_running"] = len(tree(proc.pid)) - 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        logf.close()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", action="append", required=True, metavar="NAME=CMD")
    ap.add_argument("--mock", required=True, help="path of ../shared/bench/mock_llm.py")
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--mock-port", type=int, default=18091)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--per-client", type=int, default=10)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="mcp-bench-")
    mock = subprocess.Popen(
        [sys.executable, a.mock, "--port", str(a.mock_port), "--mode", "tool", "--delay-ms", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = []
    try:
        time.sleep(0.5)
        for spec in a.server:
            name, _, cmd = spec.partition("=")
            results.append(measure(name, cmd, a, workdir))
    finally:
        os.killpg(mock.pid, signal.SIGTERM)
        mock.wait(10)
    base = results[0]
    phases = ["same_session_c1", f"sessions_c{a.concurrency}"]
    print("| server | phase | req/s | p50 ms | p99 ms | CPU ms/inv | errors | req/s vs " + base["name"] + " |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for ph in phases:
            m, b = r[ph], base[ph]
            print(f"| {r['name']} | {ph} | {m['rps']} | {m['p50_ms']} | {m['p99_ms']} | {m['cpu_ms_per_req']} | "
                  f"{m['errors']} | {round(m['rps'] / b['rps'], 2) if b['rps'] else '-'}x |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
