#!/usr/bin/env bash
# Re-records the reference data under tests/fixtures from the real implementations (a maintainer
# action; the tests only read what is committed):
#   agentcore  vectors/agentcore-observed.json     the Python bedrock-agentcore app (scripts/record/agentcore_app.py)
#   strands    vectors/strands-openai-requests.json and strands-sessions/   the Strands agent
#              against a scripted OpenAI mock (scripts/record/strands_scenarios.py)
#   spans      traces/strands-spans.json   the span tree of Strands' tracer (OpenTelemetry SDK,
#              in-memory exporter) for one invocation with an MCP tool, against the OpenAI mock
#              (scripts/record/strands_spans.py; the MCP server runs on the test peers' .venv,
#              scripts/install-test-peers.sh)
#   mcp        vectors/mcp-everything-content.json  the npm server-everything of tests/peers
#   pyjson     pyjson/python-json-oracle.jsonl      python3's json module on the differential
#              corpora of src/pyjson/tests.rs
# Usage: scripts/record-fixtures.sh [agentcore] [strands] [spans] [mcp] [pyjson]   (none: all)
# The Python packages (scripts/record/requirements.txt, pinned) go to their own venv,
# .venv-record (gitignored); mcp needs node and tests/peers/node_modules
# (scripts/install-test-peers.sh); pyjson needs cargo. Only 127.0.0.1 is contacted, on port
# 18080 (agentcore) and ephemeral ports. Review the diff before committing: ids, timestamps,
# timings and the like differ from run to run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=tests/fixtures
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(agentcore strands spans mcp pyjson)
for w in "${what[@]}"; do
  case "$w" in
    agentcore | strands | spans | mcp | pyjson) ;;
    *) echo "unknown fixture set: $w (agentcore, strands, spans, mcp, pyjson)" >&2; exit 2 ;;
  esac
done
wants() { [[ " ${what[*]} " == *" $1 "* ]]; }

venv() {
  if [ ! -x .venv-record/bin/python ]; then
    python3 -m venv .venv-record
  fi
  .venv-record/bin/pip install --quiet --disable-pip-version-check -r scripts/record/requirements.txt
}

export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
mkdir -p "$out/vectors" "$out/pyjson" "$out/traces"
if wants agentcore || wants strands || wants spans; then
  venv
fi
if wants agentcore; then
  echo "agentcore: bedrock-agentcore $(.venv-record/bin/python -c 'from importlib.metadata import version; print(version("bedrock-agentcore"))')"
  .venv-record/bin/python scripts/record/agentcore_vectors.py "$out/vectors/agentcore-observed.json"
fi
if wants strands; then
  echo "strands: strands-agents $(.venv-record/bin/python -c 'from importlib.metadata import version; print(version("strands-agents"))')"
  .venv-record/bin/python scripts/record/strands_scenarios.py \
    "$out/vectors/strands-openai-requests.json" "$out/strands-sessions"
fi
if wants spans; then
  echo "spans: strands-agents $(.venv-record/bin/python -c 'from importlib.metadata import version; print(version("strands-agents"))')"
  .venv-record/bin/python scripts/record/strands_spans.py "$out/traces/strands-spans.json"
fi
if wants mcp; then
  if [ ! -d tests/peers/node_modules/@modelcontextprotocol/server-everything ]; then
    (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
  fi
  echo "mcp: server-everything $(node -p 'require("./tests/peers/node_modules/@modelcontextprotocol/server-everything/package.json").version')"
  python3 scripts/record/mcp_everything.py "$out/vectors/mcp-everything-content.json"
fi
if wants pyjson; then
  echo "pyjson: $(python3 --version)"
  corpora=$(mktemp)
  trap 'rm -f "$corpora"' EXIT
  PYJSON_CORPUS_OUT="$corpora" cargo test --quiet --locked --lib pyjson::tests::write_differential_corpora \
    -- --ignored --exact >/dev/null
  python3 scripts/record/python_json_oracle.py "$corpora" "$out/pyjson/python-json-oracle.jsonl"
fi
echo "recorded under $out: review with git diff --stat $out"
