#!/usr/bin/env python3
"""What tracing costs: CPU per invocation and /ping throughput with OpenTelemetry export on
against off.

One binary, two configurations, alternating rounds: `off` (nothing configured, the default)
and `on` (OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local OTLP/HTTP receiver in this process,
which answers 200 and counts what it gets; http/protobuf, the default encoding, always_on
sampling). Each round starts the binary, warms up, runs --requests sequential invocations on
distinct sessions against a 0-ms mock OpenAI model (SESSION_FSYNC=false), and reads the
binary's CPU time from /proc/<pid>/task/*/schedstat (nanoseconds, all threads: the exporter
thread included). Then /ping under wrk (when installed) for --ping-seconds with the same
configuration. Medians over --rounds; prints markdown, writes JSON to --out.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler

from loopback import HOST, cpu_ns, free_port, invoke, log, serve, start_openai_mock, stop, wait_ping


class Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver that only counts: the decoding is the tests' job."""

    protocol_version = "HTTP/1.1"
    requests = 0
    bytes = 0
    lock = threading.Lock()

    def log_message(self, *_):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with Receiver.lock:
            Receiver.requests += 1
            Receiver.bytes += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()


def wrk_ping(port, seconds):
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", f"http://{HOST}:{port}/ping"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else None


def measure(mode, a, openai_url, receiver_url, workdir, round_no):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": workdir,
        "PORT": str(port),
        "SESSION_DIR": os.path.join(workdir, f"{mode}-{round_no}"),
        "OPENAI_BASE_URL": openai_url,
        "OPENAI_API_KEY": "sk-bench",
        "MODEL_ID": "bench",
        "LOG_LEVEL": "warning",
        "SESSION_FSYNC": "false",
    }
    if mode == "on":
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url, "OTEL_SERVICE_NAME": "bench",
                    "OTEL_TRACES_SAMPLER": "always_on"})
    before_requests = Receiver.requests
    proc = subprocess.Popen([a.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(port, proc)
        for i in range(a.warmup):
            invoke(port, f"warm-{i}")
        before, t0 = cpu_ns(proc.pid), time.perf_counter()
        for i in range(a.requests):
            invoke(port, f"{mode}-{round_no}-{i}")
        wall = time.perf_counter() - t0
        # The exporter's last batch leaves up to its schedule delay later; its CPU counts.
        if mode == "on":
            time.sleep(a.settle)
        cpu = cpu_ns(proc.pid) - before
        ping = wrk_ping(port, a.ping_seconds) if a.ping_seconds > 0 else None
    finally:
        stop(proc, 15)
    return {
        "cpu_us_per_invocation": cpu / a.requests / 1e3,
        "ms_per_invocation": wall / a.requests * 1e3,
        "ping_rps": ping,
        "export_requests": Receiver.requests - before_requests,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=6.0, help="seconds for the last export batch")
    ap.add_argument("--ping-seconds", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    mock, openai_url = start_openai_mock()
    receiver = serve(Receiver)
    receiver_url = f"http://{HOST}:{receiver.server_address[1]}"

    results = {"off": [], "on": []}
    with tempfile.TemporaryDirectory(prefix="otel-bench-") as workdir:
        for r in range(a.rounds):
            for mode in ("off", "on"):
                m = measure(mode, a, openai_url, receiver_url, workdir, r)
                log(f"round {r + 1} tracing {mode}: {m['cpu_us_per_invocation']:.0f} us CPU, "
                    f"{m['ms_per_invocation']:.2f} ms per invocation, /ping {m['ping_rps']} req/s, "
                    f"{m['export_requests']} export requests")
                results[mode].append(m)
    mock.shutdown()
    receiver.shutdown()
    if results["on"] and all(m["export_requests"] == 0 for m in results["on"]):
        log("warning: tracing on exported nothing: is the exporter built in?")

    def med(mode, key):
        vals = [m[key] for m in results[mode] if m[key] is not None]
        return statistics.median(vals) if vals else None

    summary = {mode: {k: med(mode, k) for k in results[mode][0]} for mode in results}
    cpu_ratio = summary["on"]["cpu_us_per_invocation"] / summary["off"]["cpu_us_per_invocation"]
    print(f"\n### Tracing on vs off, 0-ms model, {a.requests} sequential invocations x {a.rounds} rounds (median)\n")
    print("| tracing | CPU per invocation | wall per invocation | /ping req/s (wrk -c64) | export requests |")
    print("|---|---:|---:|---:|---:|")
    for mode in ("off", "on"):
        s = summary[mode]
        ping = f"{s['ping_rps']:.0f}" if s["ping_rps"] else "-"
        print(f"| {mode} | {s['cpu_us_per_invocation']:.0f} µs | {s['ms_per_invocation']:.2f} ms | {ping} | "
              f"{s['export_requests']:.0f} |")
    print(f"\nCPU per invocation, on / off: {cpu_ratio:.3f}x (target: at most 1.05x)")
    # Each `on` round runs right after its `off` round: their ratio cancels load that drifts
    # across the run, which the ratio of the two medians does not.
    paired = [b["cpu_us_per_invocation"] / a["cpu_us_per_invocation"]
              for a, b in zip(results["off"], results["on"])]
    print(f"per round, on / off: {', '.join(f'{r:.3f}' for r in paired)} "
          f"(median {statistics.median(paired):.3f}x)")
    if summary["on"]["ping_rps"] and summary["off"]["ping_rps"]:
        print(f"/ping req/s, on / off: {summary['on']['ping_rps'] / summary['off']['ping_rps']:.3f}x")
    with open(a.out, "w") as f:
        json.dump({"rounds": results, "median": summary, "cpu_ratio": cpu_ratio,
                   "cpu_ratio_per_round": paired}, f, indent=2)
    return 1 if strict_miss(cpu_ratio) else 0


def strict_miss(ratio):
    return os.environ.get("BENCH_STRICT") == "1" and ratio > 1.05


if __name__ == "__main__":
    sys.exit(main())
