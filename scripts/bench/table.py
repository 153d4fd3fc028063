#!/usr/bin/env python3
"""Prints scripts/bench.sh's tables from serverbench.py's JSON results.

    table.py ping --ours F.json [F.json...] --baseline F.json [F.json...]
             [--target-cold-ms 5] [--target-rss-kb 4096] [--target-size-bytes 3145728]
             [--wrk LABEL] [--runs N] [--strict]

Each server may have several result files (wrk rounds run alternately between the servers):
cold start and RSS come from the file that has them; req/s is reported as the median and the
best round, CPU per request as the median of the rounds. /ping throughput is checked on the
median against the baseline's from the same run: on a shared 2-core machine one lucky round
(a quiet neighbour) would otherwise decide it.
Exit 1 under --strict when a target is missed.
"""

import argparse
import json
import statistics
import sys


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def merge(paths):
    """One server's results: cold-start fields from the first file with them, wrk rounds pooled."""
    merged, rounds = {}, []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        for k, v in r.items():
            if k != "wrk":
                merged.setdefault(k, v)
        if "wrk" in r:
            rounds.append(r["wrk"])
    if rounds:
        best = dict(max(rounds, key=lambda w: w["rps"]))
        best["rps_rounds"] = [x for w in rounds for x in w.get("rps_rounds", [w["rps"]])]
        best["cpu_us_per_req"] = statistics.median(w["cpu_us_per_req"] for w in rounds)
        best["non2xx"] = sum(w["non2xx"] for w in rounds)
        best["socket_errors"] = sum(w["socket_errors"] for w in rounds)
        merged["wrk"] = best
    return merged


def ping_table(a):
    ours, base = merge(a.ours), merge(a.baseline)
    ow, bw = ours.get("wrk", {}), base.get("wrk", {})
    g = lambda d, k: d.get(k)
    rows = [
        ("exec floor (`--version`), ms", fmt(g(ours, "exec_ms"), ".2f"), fmt(g(base, "exec_ms"), ".2f"), "", None),
        (f"cold start, median of {a.runs}, ms", fmt(g(ours, "cold_ms_median"), ".2f"),
         fmt(g(base, "cold_ms_median"), ".2f"), f"<= {a.target_cold_ms:g}",
         None if g(ours, "cold_ms_median") is None else ours["cold_ms_median"] <= a.target_cold_ms),
        ("cold start min / max, ms", f"{fmt(g(ours, 'cold_ms_min'), '.2f')} / {fmt(g(ours, 'cold_ms_max'), '.2f')}",
         f"{fmt(g(base, 'cold_ms_min'), '.2f')} / {fmt(g(base, 'cold_ms_max'), '.2f')}", "", None),
        ("idle RSS, KiB", fmt(g(ours, "idle_rss_kb"), ".0f"), fmt(g(base, "idle_rss_kb"), ".0f"),
         f"<= {a.target_rss_kb:g}", None if g(ours, "idle_rss_kb") is None else ours["idle_rss_kb"] <= a.target_rss_kb),
        ("/ping req/s (median of rounds)", fmt(median_rps(ow), ",.0f"), fmt(median_rps(bw), ",.0f"),
         ">= may_minihttp", None if not ow or not bw else median_rps(ow) >= median_rps(bw)),
        ("/ping req/s (best round)", fmt(ow.get("rps"), ",.0f"), fmt(bw.get("rps"), ",.0f"), "", None),
        ("/ping p99 (that round), ms", fmt(ow.get("p99_ms"), ".2f"), fmt(bw.get("p99_ms"), ".2f"), "", None),
        ("/ping p50 (that round), ms", fmt(ow.get("p50_ms"), ".3f"), fmt(bw.get("p50_ms"), ".3f"), "", None),
        ("server CPU per /ping (median), us", fmt(ow.get("cpu_us_per_req"), ".2f"),
         fmt(bw.get("cpu_us_per_req"), ".2f"), "", None),
        ("non-2xx / socket errors", f"{ow.get('non2xx', 'n/a')} / {ow.get('socket_errors', 'n/a')}",
         f"{bw.get('non2xx', 'n/a')} / {bw.get('socket_errors', 'n/a')}", "0 / 0",
         None if not ow else ow["non2xx"] == 0 and ow["socket_errors"] == 0),
        ("RSS after load, KiB", fmt(ow.get("rss_after_load_kb"), ".0f"), fmt(bw.get("rss_after_load_kb"), ".0f"), "", None),
        ("static binary, bytes", f"{ours['size_bytes']:,}", f"{base['size_bytes']:,}",
         f"<= {a.target_size_bytes:,}", ours["size_bytes"] <= a.target_size_bytes),
    ]
    head = ("metric", "agentcore-rt", "may_minihttp", "target", "")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]

    def line(c):
        return "| " + " | ".join(str(c[i]).ljust(widths[i]) for i in range(4)) + f" | {c[4]} |"

    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|---|")
    missed = []
    for r in rows:
        print(line(r[:4] + ("" if r[4] is None else ("ok" if r[4] else "MISSED"),)))
        if r[4] is False:
            missed.append(r[0])
    if a.wrk:
        print(f"\nload: {a.wrk}; req/s per round: agentcore-rt {ow.get('rps_rounds')}, "
              f"may_minihttp {bw.get('rps_rounds')}")
    print(f"/ping body: agentcore-rt {ours.get('ping_body')}  may_minihttp {base.get('ping_body')}")
    if missed:
        print("missed targets: " + "; ".join(missed))
    return 1 if (missed and a.strict) else 0


def median_rps(wrk):
    rounds = wrk.get("rps_rounds") or ([wrk["rps"]] if wrk.get("rps") else [])
    return statistics.median(rounds) if rounds else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("table", choices=["ping"])
    ap.add_argument("--ours", nargs="+", required=True)
    ap.add_argument("--baseline", nargs="+", required=True)
    ap.add_argument("--target-cold-ms", type=float, default=5)
    ap.add_argument("--target-rss-kb", type=float, default=4096)
    ap.add_argument("--target-size-bytes", type=int, default=3 * 1024 * 1024)
    ap.add_argument("--wrk", default="")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--strict", action="store_true")
    return ping_table(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
