#!/usr/bin/env python3
"""Turn latency, CPU per invocation and S3 requests per turn: the S3 session store against the
file store, the same binary and the same 0-ms model.

The S3 server is moto in server mode (tests/peers/s3_server.py, .venv-s3), on loopback; it
counts the requests it serves by kind. The model is a stdlib OpenAI mock in this process that
answers at once. For each store, in alternating rounds: start the binary, warm up, then
--sessions sessions x --turns turns, sequential (a conversation: the first turn of a session
is new, the others warm); per turn the wall time seen by the client; the binary's own CPU time
(utime + stime from /proc) over all turns divided by their number; for S3 the requests the
server counted divided by the turns. Medians over --rounds. Stores: file (SESSION_FSYNC=true,
the default), file without fsync, s3.

moto is a Python server that serialises requests (one at a time, see s3_server.py): its
per-request time is not S3's (tens of ms in a region, a few on a VPC endpoint), so the wall
ratio says what a local server costs, while CPU per invocation and requests per turn are the
binary's own and carry over. Prints markdown; writes JSON to --out.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from loopback import HOST, cpu_s, free_port, http_call, invoke, log, start_openai_mock, stop, wait_ping

STORES = ("file", "file-nofsync", "s3")


def s3_requests(s3_port, reset):
    status, body = http_call(s3_port, "DELETE" if reset else "GET", "/_requests")
    if status != 200:
        raise RuntimeError(f"/_requests answered {status}")
    return json.loads(body)


def measure(store, a, openai_url, s3_port, workdir, round_no):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": workdir,
        "PORT": str(port),
        "OPENAI_BASE_URL": openai_url,
        "OPENAI_API_KEY": "sk-bench",
        "MODEL_ID": "bench",
        "LOG_LEVEL": "warning",
    }
    if store == "s3":
        env.update({
            "SESSION_STORE": f"s3://bench/r{round_no}",
            "AWS_ENDPOINT_URL_S3": f"http://{HOST}:{s3_port}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
        })
    else:
        env["SESSION_DIR"] = os.path.join(workdir, f"{store}-{round_no}")
        env["SESSION_FSYNC"] = "false" if store == "file-nofsync" else "true"
    proc = subprocess.Popen([a.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(port, proc)
        for i in range(a.warmup):
            invoke(port, f"warm-{i}")
        s3_requests(s3_port, reset=True)
        latencies = []
        before = cpu_s(proc.pid)
        for s in range(a.sessions):
            for _ in range(a.turns):
                t0 = time.perf_counter()
                invoke(port, f"{store}-{round_no}-{s}")
                latencies.append((time.perf_counter() - t0) * 1e3)
        cpu = cpu_s(proc.pid) - before
        counts = s3_requests(s3_port, reset=True)
    finally:
        stop(proc)
    n = len(latencies)
    latencies.sort()
    out = {
        "cpu_us_per_invocation": cpu / n * 1e6,
        "ms_median": statistics.median(latencies),
        "ms_p90": latencies[int(n * 0.9) - 1],
    }
    if store == "s3":
        out["s3_requests_per_turn"] = sum(counts.values()) / n
        out["s3_requests"] = counts
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--s3-python", required=True, help=".venv-s3/bin/python (moto)")
    ap.add_argument("--s3-server", required=True, help="tests/peers/s3_server.py")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    mock, openai_url = start_openai_mock()

    with tempfile.TemporaryDirectory(prefix="s3-bench-") as workdir:
        port_file = os.path.join(workdir, "s3.port")
        server = subprocess.Popen([a.s3_python, a.s3_server, port_file], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.time() + 60
            while not os.path.exists(port_file):
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("the S3 server did not start")
                time.sleep(0.05)
            with open(port_file) as f:
                s3_port = int(f.read().strip())
            if http_call(s3_port, "PUT", "/bench")[0] != 200:
                raise RuntimeError("could not create the bucket")
            results = {s: [] for s in STORES}
            for r in range(a.rounds):
                for store in STORES:
                    m = measure(store, a, openai_url, s3_port, workdir, r)
                    log(f"round {r + 1} {store}: {m['cpu_us_per_invocation']:.0f} us CPU, "
                        f"{m['ms_median']:.2f} ms median turn"
                        + (f", {m['s3_requests_per_turn']:.2f} S3 requests per turn" if store == "s3" else ""))
                    results[store].append(m)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
    mock.shutdown()

    keys = ("cpu_us_per_invocation", "ms_median", "ms_p90")
    med = {s: {k: statistics.median(m[k] for m in ms) for k in keys} for s, ms in results.items()}
    per_turn = statistics.median(m["s3_requests_per_turn"] for m in results["s3"])
    kinds = results["s3"][-1]["s3_requests"]
    turns = a.sessions * a.turns
    print(f"\n### S3 store vs file store, 0-ms model, {a.sessions} sessions x {a.turns} sequential turns "
          f"x {a.rounds} rounds (median); S3 = moto 5.2.5 on loopback\n")
    print("| store | turn latency median | p90 | CPU per invocation |")
    print("|---|---:|---:|---:|")
    for s in STORES:
        print(f"| {s} | {med[s]['ms_median']:.2f} ms | {med[s]['ms_p90']:.2f} ms | {med[s]['cpu_us_per_invocation']:.0f} µs |")
    base = med["file"]
    print(f"\ns3 / file: latency {med['s3']['ms_median'] / base['ms_median']:.2f}x, "
          f"CPU {med['s3']['cpu_us_per_invocation'] / base['cpu_us_per_invocation']:.2f}x; "
          f"S3 requests per turn {per_turn:.2f} "
          f"({', '.join(f'{k} {v / turns:.2f}' for k, v in sorted(kinds.items()))}; "
          f"the first turn of each of the {a.sessions} sessions creates it)")
    with open(a.out, "w") as f:
        json.dump({"rounds": results, "median": med, "s3_requests_per_turn": per_turn}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
