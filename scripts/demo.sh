#!/usr/bin/env bash
# A first run that needs no API key: a local model, a real MCP server, and agentcore-rt in front.
#
#   scripts/demo.sh            # Ctrl-C stops everything
#
# Starts llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct (installed into
# .venv-llama and .models/ by `scripts/install-test-peers.sh --llama-only` when missing), and two
# agentcore-rt instances built with `cargo build --release`, both with mcp-server-time over stdio:
#   :PORT   (default 8080) a chat agent;
#   :PORT+1 the same agent with the tool call forced (`tool_choice` in MODEL_PARAMS, one cycle),
#           since this server shows the model no tools unless a tool_choice names one.
# Both send MODEL_MESSAGE_FORMAT=plain, which llama-cpp-python's server needs. Logs go to a
# temporary directory, printed at start.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${PORT:-8080}
tool_port=$((port + 1))

scripts/install-test-peers.sh --llama-only
echo "building agentcore-rt (cargo build --release)"
cargo build --release --quiet
bin=target/release/agentcore-rt

work=$(mktemp -d "${TMPDIR:-/tmp}/agentcore-rt-demo.XXXXXX")
pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping"
  # SIGTERM: agentcore-rt drains and stops its MCP servers; the llama server just exits.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "logs kept in $work"
}
trap stop INT TERM EXIT

echo "starting the llama server (SmolLM2-135M-Instruct) - log: $work/llama.log"
# --port 0: a free port, written to the port file once the model is loaded.
PYTHONUNBUFFERED=1 .venv-llama/bin/python tests/peers/llama_server.py \
  --model .models/SmolLM2-135M-Instruct.Q4_1.gguf --model_alias smollm2 \
  --host 127.0.0.1 --port 0 --port_file "$work/llama.port" \
  --chat_format chatml-function-calling --interrupt_requests False --n_ctx 4096 --verbose False \
  >"$work/llama.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  [ -s "$work/llama.port" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/llama.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/llama.port" ] || { echo "the llama server did not start; see $work/llama.log" >&2; exit 1; }
llama_url="http://127.0.0.1:$(cat "$work/llama.port")/v1"

cat >"$work/mcp.json" <<EOF
{"mcpServers": {"time": {"command": "$root/.venv-llama/bin/mcp-server-time", "args": ["--local-timezone", "UTC"]}}}
EOF

# agent PORT NAME MODEL_PARAMS [VAR=VALUE...]
agent() {
  local listen=$1 name=$2 params=$3
  shift 3
  env OPENAI_BASE_URL="$llama_url" MODEL_ID=smollm2 MODEL_MESSAGE_FORMAT=plain \
    MODEL_PARAMS="$params" MCP_CONFIG="$work/mcp.json" SESSION_DIR="$work/sessions" \
    HOST=127.0.0.1 PORT="$listen" "$@" "$bin" >"$work/$name.log" 2>&1 &
  pids+=($!)
  local pid=$!
  for _ in $(seq 100); do
    curl -sf "localhost:$listen/ping" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "agentcore-rt on :$listen did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
echo "starting agentcore-rt on :$port (chat) and :$tool_port (forced tool call) - logs: $work/agent*.log"
agent "$port" agent '{"max_tokens": 1024, "temperature": 0.2}' \
  SYSTEM_PROMPT="You are a helpful assistant. Keep answers short."
agent "$tool_port" agent-tool \
  '{"max_tokens": 64, "temperature": 0, "tool_choice": {"type": "function", "function": {"name": "get_current_time"}}}' \
  MAX_CYCLES=1

cat <<EOF

Ready. SmolLM2-135M is tiny (a 98 MB file, tens of tokens a second on a laptop CPU): it answers
fluently and often wrongly, forgets or invents what was said, and does not pick tools itself.
It shows the plumbing - sessions, streaming, tool calls through a real MCP server - not
intelligence; point OPENAI_BASE_URL at a real model for that. Try:

  curl -s localhost:$port/ping
  curl -s localhost:$port/invocations -d '{"query": "Hi! My name is Ada.", "session_id": "demo"}'
  curl -s localhost:$port/invocations -d '{"query": "What is my name?", "session_id": "demo"}'
  curl -sN localhost:$port/invocations -d '{"query": "Tell me a short story about a dragon.", "stream": true}'

  # the forced tool call: the model calls mcp-server-time's get_current_time, the tool answers
  # (or rejects a timezone the model made up), and the turn ends there (MAX_CYCLES=1)
  curl -sN localhost:$tool_port/invocations -d '{"query": "What time is it in UTC?", "stream": true}'

Sessions are stored under $work/sessions. Ctrl-C stops everything.
EOF
wait "${pids[0]}"
