#!/usr/bin/env python3
"""The latency a runtime adds to a streamed answer, and its memory per streaming invocation.

A mock OpenAI-compatible model (this script with --mock, a process of its own) streams each
answer as --chunks text chunks --interval-ms apart and records, on CLOCK_MONOTONIC
(time.monotonic_ns, the same clock in every process), when it wrote its first and last text
chunk and its end of stream. The client (this process, asyncio, raw HTTP/1.1) records when each
SSE `text` event and the final event arrive. Per invocation:

  first token  = client's first `text` event      - model's first chunk
  last token   = client's last `text` event       - model's last text chunk
  end          = client's final event (or EOF)    - model's end of stream ([DONE])

A server that answers JSON (the unmodified Python seed) has no `text` events: its first and last
token are the whole answer's arrival. Medians and p95 at --concurrency levels (each level runs
--per-client invocations on every one of its clients, distinct sessions).

--rss N[,N...]: N concurrent slow streams (--rss-seconds long) against a freshly started server;
VmRSS of the server's process tree (/proc/PID/status) is sampled every 50 ms; reported: idle
(after warm-up), peak, (peak - idle) / N, and the thread count at the peak.

Servers: --server NAME=CMD (exec'd without a shell; env PORT, MODEL_BASE_URL/OPENAI_BASE_URL,
OPENAI_API_KEY, SESSION_DIR, MODEL_ID, LOG_LEVEL=warning; --rss-env NAME=K=V,K=V adds env for
the RSS runs of NAME, e.g. WORKER_THREADS). Prints markdown, writes JSON to --out.
"""

import argparse
import asyncio
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
MARK = re.compile(rb"bench-(\d+) chunks=(\d+) interval=(\d+)")


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the mock model

TIMES = {}  # id -> [first_ns, last_ns, done_ns]


def sse_chunk(obj):
    data = b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


async def mock_stream(writer, body):
    # The last marker: a session's history repeats the earlier prompts.
    m = ([None] + list(MARK.finditer(body)))[-1]
    ident, chunks, interval = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (-1, 3, 0)
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "mock"}
    rec = [0, 0, 0]
    for k in range(chunks):
        if k and interval:
            await asyncio.sleep(interval / 1000)
        delta = {"content": f"word{k} "}
        if k == 0:
            delta["role"] = "assistant"
        writer.write(sse_chunk({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        now = time.monotonic_ns()
        rec[0] = rec[0] or now
        rec[1] = now
        await writer.drain()
    writer.write(sse_chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    usage = {"prompt_tokens": 20, "completion_tokens": chunks, "total_tokens": 20 + chunks}
    writer.write(sse_chunk({**base, "choices": [], "usage": usage}))
    data = b"data: [DONE]\n\n"
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    rec[2] = time.monotonic_ns()
    await writer.drain()
    if ident >= 0:
        TIMES[ident] = rec


async def mock_conn(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            line, _, rest = head.partition(b"\r\n")
            method, path = line.split(b" ")[:2]
            length = 0
            for h in rest.split(b"\r\n"):
                k, _, v = h.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            body = await reader.readexactly(length) if length else b""
            if path.startswith(b"/_times"):
                out = json.dumps(TIMES).encode()
                if b"clear" in path:
                    TIMES.clear()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
            elif method == b"POST" and path.endswith(b"/chat/completions"):
                await mock_stream(writer, body)
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def mock_main(port):
    server = await asyncio.start_server(mock_conn, HOST, port, backlog=4096)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------------------- the client


async def invoke(port, ident, session, chunks, interval):
    """One streamed invocation; returns (first_text_ns, last_text_ns, end_ns, texts, status)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    prompt = f"Say something. bench-{ident} chunks={chunks} interval={interval}"
    body = json.dumps({"prompt": prompt, "session_id": session, "stream": True}).encode()
    writer.write(
        b"POST /invocations HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        b"Accept: text/event-stream\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    lower = head.lower()
    chunked = b"transfer-encoding: chunked" in lower
    m = re.search(rb"content-length:\s*(\d+)", lower)
    remaining = int(m.group(1)) if m and not chunked else None
    raw, payload = b"", b""
    first = last = end = None
    texts = 0
    while True:
        data = await reader.read(65536)
        now = time.monotonic_ns()
        if not data:
            break
        if chunked:
            raw += data
            while True:
                nl = raw.find(b"\r\n")
                if nl < 0:
                    break
                size = int(raw[:nl].split(b";")[0], 16)
                if len(raw) < nl + 2 + size + 2:
                    break
                payload += raw[nl + 2 : nl + 2 + size]
                raw = raw[nl + 4 + size :]
        else:
            payload += data
        while b"\n\n" in payload:
            event, payload = payload.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            ev = json.loads(event[6:])
            kind = ev.get("type") if isinstance(ev, dict) else None
            if kind == "text":
                texts += 1
                first = first or now
                last = now
            elif kind in ("final", "error") or (isinstance(ev, dict) and "result" in ev):
                end = now
        if remaining is not None:
            remaining -= len(data)
            if remaining <= 0:
                end = end or now
                break
    writer.close()
    end = end or time.monotonic_ns()
    if first is None and status == 200 and not chunked:
        first = last = end  # a JSON answer: everything arrives at once
    return first, last, end, texts, status


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else None


def mock_times(mock_port, clear=False):
    with urllib.request.urlopen(f"http://{HOST}:{mock_port}/_times{'?clear' if clear else ''}", timeout=10) as r:
        return {int(k): v for k, v in json.loads(r.read()).items()}


async def latency(port, mock_port, concurrency, per_client, chunks, interval, counter):
    results = {}

    async def client(c):
        for j in range(per_client):
            ident = next(counter)
            results[ident] = await invoke(port, ident, f"lat-c{concurrency}-{c}", chunks, interval)

    await asyncio.gather(*(client(c) for c in range(concurrency)))
    times = mock_times(mock_port)
    ft, lt, en, errors = [], [], [], 0
    for ident, (first, last, end, texts, status) in results.items():
        t = times.get(ident)
        if status != 200 or t is None or first is None:
            errors += 1
            continue
        ft.append((first - t[0]) / 1e6)
        lt.append((last - t[1]) / 1e6)
        en.append((end - t[2]) / 1e6)
    r = {"concurrency": concurrency, "invocations": len(results), "errors": errors}
    for name, xs in (("first_token", ft), ("last_token", lt), ("end", en)):
        r[name] = {"p50_ms": round(pct(xs, 50), 2) if xs else None, "p95_ms": round(pct(xs, 95), 2) if xs else None}
    return r


# ---------------------------------------------------------------------------- servers


def tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == p:
                            todo.append(int(entry))
                except OSError:
                    pass
    return pids


def status_of(pids):
    rss = threads = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
        except OSError:
            pass
    return rss, threads


def wait_ping(port, deadline_s=120):
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.02)
    return False


class Server:
    def __init__(self, name, cmd, a, workdir, extra_env=None, tag=""):
        env = dict(os.environ)
        env.update({
            "PORT": str(a.port),
            "MODEL_BASE_URL": f"http://{HOST}:{a.mock_port}/v1",
            "OPENAI_BASE_URL": f"http://{HOST}:{a.mock_port}/v1",
            "OPENAI_API_KEY": "sk-bench-mock",
            "SESSION_DIR": tempfile.mkdtemp(prefix=f"sessions-{name}-", dir=workdir),
            "MODEL_ID": "gpt-4o-mini",
            "LOG_LEVEL": "warning",
            "OTEL_SDK_DISABLED": "true",
        })
        env.update(extra_env or {})
        self.log = open(os.path.join(workdir, f"server-{name}{tag}.log"), "wb")
        self.proc = subprocess.Popen(shlex.split(cmd), env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_ping(a.port):
            self.stop()
            raise RuntimeError(f"{name}: no /ping 200 (see {self.log.name})")

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass
        self.log.close()


async def rss_run(server, a, n, counter):
    await asyncio.gather(*(invoke(a.port, next(counter), f"warm-{i}", 3, 0) for i in range(2)))
    await asyncio.sleep(0.5)
    pids = tree(server.proc.pid)
    idle, idle_threads = status_of(pids)
    chunks = max(2, a.rss_seconds * 2)
    interval = int(a.rss_seconds * 1000 / (chunks - 1))
    peak = [idle, idle_threads]
    done = asyncio.Event()

    async def sample():
        while not done.is_set():
            rss, threads = status_of(pids)
            if rss > peak[0]:
                peak[:] = [rss, threads]
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    results = await asyncio.gather(
        *(invoke(a.port, next(counter), f"rss-{n}-{i}", chunks, interval) for i in range(n)), return_exceptions=True
    )
    wall = time.monotonic() - t0
    done.set()
    await sampler
    ok = sum(1 for r in results if not isinstance(r, BaseException) and r[4] == 200 and r[3] >= chunks)
    after, after_threads = status_of(tree(server.proc.pid))
    return {
        "streams": n, "ok": ok, "wall_s": round(wall, 1), "idle_kb": idle, "peak_kb": peak[0],
        "threads_at_peak": peak[1], "per_stream_kb": round((peak[0] - idle) / n, 1),
        "after_kb": after, "threads_after": after_threads,
    }


async def run(a, workdir):
    counter = iter(range(10**9))
    out = {"chunks": a.chunks, "interval_ms": a.interval_ms, "servers": {}}
    rss_env = {}
    for spec in a.rss_env:
        name, _, kvs = spec.partition("=")
        rss_env[name] = dict(kv.split("=", 1) for kv in kvs.split(",") if kv)
    for spec in a.server:
        name, _, cmd = spec.partition("=")
        res = out["servers"].setdefault(name, {"cmd": cmd, "latency": [], "rss": []})
        if not a.skip_latency:
            log(f"{name}: starting")
            server = Server(name, cmd, a, workdir)
            try:
                await asyncio.gather(*(invoke(a.port, next(counter), f"warmup-{i}", 3, 0) for i in range(3)))
                mock_times(a.mock_port, clear=True)
                for c in a.concurrency:
                    per = a.per_client if c > 1 else a.sequential
                    r = await latency(a.port, a.mock_port, c, per, a.chunks, a.interval_ms, counter)
                    log(f"{name}: {r}")
                    res["latency"].append(r)
            finally:
                server.stop()
        for n in a.rss:
            if name in a.rss_skip.get(n, ()):
                continue
            log(f"{name}: {n} slow streams")
            server = Server(name, cmd, a, workdir, rss_env.get(name), tag=f"-rss{n}")
            try:
                r = await rss_run(server, a, n, counter)
                r["env"] = rss_env.get(name, {})
                log(f"{name}: {r}")
                res["rss"].append(r)
            finally:
                server.stop()
    return out


def table(out):
    lines = [
        f"Mock model: {out['chunks']} text chunks {out['interval_ms']} ms apart; added latency = client event"
        " time - model chunk time, one CLOCK_MONOTONIC (ms, p50 / p95).",
        "",
        "| server | concurrency | invocations | first token | last token | end of stream | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    f = lambda d: f"{d['p50_ms']} / {d['p95_ms']}" if d["p50_ms"] is not None else "-"
    for name, res in out["servers"].items():
        for r in res["latency"]:
            lines.append(
                f"| {name} | {r['concurrency']} | {r['invocations']} | {f(r['first_token'])} | {f(r['last_token'])} "
                f"| {f(r['end'])} | {r['errors']} |"
            )
    rss = [(n, r) for n, res in out["servers"].items() for r in res["rss"]]
    if rss:
        lines += [
            "",
            "| server | streams | ok | env | idle RSS | peak RSS | per stream | threads at peak |",
            "|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for name, r in rss:
            env = " ".join(f"{k}={v}" for k, v in r["env"].items()) or "-"
            lines.append(
                f"| {name} | {r['streams']} | {r['ok']} | {env} | {r['idle_kb'] / 1024:.1f} MiB | {r['peak_kb'] / 1024:.1f} MiB "
                f"| {r['per_stream_kb']:.0f} KiB | {r['threads_at_peak']} |"
            )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mock", type=int, metavar="PORT", help="run as the mock model on PORT")
    ap.add_argument("--server", action="append", default=[], metavar="NAME=CMD")
    ap.add_argument("--port", type=int, default=18094)
    ap.add_argument("--mock-port", type=int, default=18095)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--interval-ms", type=int, default=10)
    ap.add_argument("--concurrency", default="1,64")
    ap.add_argument("--sequential", type=int, default=30, help="invocations at concurrency 1")
    ap.add_argument("--per-client", type=int, default=3, help="invocations per client above concurrency 1")
    ap.add_argument("--rss", default="", help="concurrent slow streams, e.g. 64,512")
    ap.add_argument("--rss-seconds", type=int, default=10)
    ap.add_argument("--rss-env", action="append", default=[], metavar="NAME=K=V,K=V")
    ap.add_argument("--rss-skip", action="append", default=[], metavar="N=NAME", help="no RSS run of N streams for NAME")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if a.mock is not None:
        asyncio.run(mock_main(a.mock))
        return
    a.concurrency = [int(x) for x in a.concurrency.split(",") if x]
    a.rss = [int(x) for x in a.rss.split(",") if x]
    skip = {}
    for s in a.rss_skip:
        n, _, name = s.partition("=")
        skip.setdefault(int(n), set()).add(name)
    a.rss_skip = skip
    workdir = tempfile.mkdtemp(prefix="stream-bench-")
    mock = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--mock", str(a.mock_port)], start_new_session=True)
    try:
        end = time.time() + 10
        while True:
            try:
                mock_times(a.mock_port)
                break
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.05)
        out = asyncio.run(run(a, workdir))
    finally:
        os.killpg(mock.pid, signal.SIGTERM)
        mock.wait()
    print(table(out))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=2)
    log(f"logs in {workdir}")


if __name__ == "__main__":
    main()
