#!/usr/bin/env python3
"""CPU per invocation of agentcore-rt with the Bedrock provider against the OpenAI provider.

Both models answer at once (0 ms) with the same short streamed text: the OpenAI one is a
stdlib SSE mock in this process, the Bedrock one is tests/peers/bedrock_endpoint.py (it
recomputes every SigV4 signature with botocore, which costs the endpoint, not the binary).
For each provider, in alternating rounds: start the binary, warm up, then --requests
sequential invocations on distinct sessions (SESSION_FSYNC=false); the binary's own CPU time (utime + stime from
/proc) over those invocations divided by their number. Medians over --rounds. What the
difference buys: SigV4 signing, the event-stream decoder, Bedrock's request mapping.
Prints markdown; writes JSON to --out.
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

from loopback import HOST, cpu_s, free_port, invoke, log, start_openai_mock, stop, wait_ping

KEY_ID, SECRET = "AKIDBENCHEXAMPLE", "benchsecretbenchsecretbenchsecret0000000"
REGION = "us-east-1"


def measure(provider, a, openai_url, bedrock_url, workdir, round_no):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": workdir,
        "PORT": str(port),
        "SESSION_DIR": os.path.join(workdir, f"{provider}-{round_no}"),
        "MODEL_PROVIDER": provider,
        "LOG_LEVEL": "warning",
        # Session flushes are the same on both sides and the noisiest part of a turn.
        "SESSION_FSYNC": "false",
    }
    if provider == "openai":
        env.update({"OPENAI_BASE_URL": openai_url, "OPENAI_API_KEY": "sk-bench", "MODEL_ID": "bench"})
    else:
        env.update({
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": bedrock_url,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
    proc = subprocess.Popen([a.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(port, proc)
        for i in range(a.warmup):
            invoke(port, f"warm-{i}")
        before, t0 = cpu_s(proc.pid), time.perf_counter()
        for i in range(a.requests):
            invoke(port, f"{provider}-{round_no}-{i}")
        wall = time.perf_counter() - t0
        cpu = cpu_s(proc.pid) - before
    finally:
        stop(proc)
    return {"cpu_us_per_invocation": cpu / a.requests * 1e6, "ms_per_invocation": wall / a.requests * 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--peer-python", required=True, help=".venv-strands/bin/python (botocore)")
    ap.add_argument("--endpoint", required=True, help="tests/peers/bedrock_endpoint.py")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    mock, openai_url = start_openai_mock()

    with tempfile.TemporaryDirectory(prefix="bedrock-bench-") as workdir:
        port_file = os.path.join(workdir, "endpoint.port")
        endpoint = subprocess.Popen(
            [a.peer_python, a.endpoint, port_file],
            env={**os.environ, "PEER_AWS_ACCESS_KEY_ID": KEY_ID, "PEER_AWS_SECRET_ACCESS_KEY": SECRET,
                 "PEER_AWS_REGION": REGION},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.time() + 30
            while not os.path.exists(port_file):
                if time.time() > deadline or endpoint.poll() is not None:
                    raise RuntimeError("the Bedrock endpoint did not start")
                time.sleep(0.05)
            with open(port_file) as f:
                bedrock_url = f"http://{HOST}:{int(f.read().strip())}"
            results = {"openai": [], "bedrock": []}
            for r in range(a.rounds):
                for provider in ("openai", "bedrock"):
                    m = measure(provider, a, openai_url, bedrock_url, workdir, r)
                    log(f"round {r + 1} {provider}: {m['cpu_us_per_invocation']:.0f} us CPU, "
                        f"{m['ms_per_invocation']:.2f} ms per invocation")
                    results[provider].append(m)
        finally:
            os.killpg(endpoint.pid, signal.SIGTERM)
            endpoint.wait(10)
    mock.shutdown()

    med = {p: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for p, ms in results.items()}
    ratio = med["bedrock"]["cpu_us_per_invocation"] / med["openai"]["cpu_us_per_invocation"]
    print(f"\n### Bedrock vs OpenAI provider, 0-ms model, {a.requests} sequential invocations x {a.rounds} rounds (median)\n")
    print("| provider | CPU per invocation | wall per invocation |")
    print("|---|---:|---:|")
    for p in ("openai", "bedrock"):
        print(f"| {p} | {med[p]['cpu_us_per_invocation']:.0f} µs | {med[p]['ms_per_invocation']:.2f} ms |")
    print(f"\nBedrock / OpenAI CPU: {ratio:.2f}x (wall includes the endpoints: the Bedrock one re-verifies "
          "every signature with botocore)")
    with open(a.out, "w") as f:
        json.dump({"rounds": results, "median": med, "cpu_ratio": ratio}, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
