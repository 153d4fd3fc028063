"""python3's json module on each body of the pyjson differential corpora: writes
tests/fixtures/pyjson/python-json-oracle.jsonl, which src/pyjson/tests.rs compares our parser and
writers with. Run by `scripts/record-fixtures.sh pyjson` with the system python3 (stdlib only):

    python3 scripts/record/python_json_oracle.py CORPORA.txt OUT.jsonl

CORPORA.txt holds `name hex` lines (written by the ignored test
pyjson::tests::write_differential_corpora). OUT.jsonl: a first line saying which Python answered,
then one `[name, input, answer...]` array a line, in corpus order; input is the body as text, or
{"hex": ...} when it is not UTF-8; answer is "ok" and json.dumps(v, ensure_ascii=False) with the
default separators, compact ones, and indent=2, or the exception's type name and str().
"""

import json
import platform
import sys

sys.setrecursionlimit(10000)


def answer(body):
    try:
        v = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return [type(e).__name__, str(e)]
    return [
        "ok",
        json.dumps(v, ensure_ascii=False),
        json.dumps(v, ensure_ascii=False, separators=(",", ":")),
        json.dumps(v, ensure_ascii=False, indent=2),
    ]


def shown(body):
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": body.hex()}


def main():
    corpora, out = sys.argv[1], sys.argv[2]
    rows = 0
    with open(corpora) as src, open(out, "w") as dst:
        header = {"python": platform.python_version(), "implementation": platform.python_implementation()}
        dst.write(json.dumps(header) + "\n")
        for line in src:
            name, _, hex_body = line.rstrip("\n").partition(" ")
            body = bytes.fromhex(hex_body)
            dst.write(json.dumps([name, shown(body), *answer(body)]) + "\n")
            rows += 1
    print(f"wrote {out} ({rows} answers)", file=sys.stderr)


if __name__ == "__main__":
    main()
