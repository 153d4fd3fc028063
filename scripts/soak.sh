#!/usr/bin/env bash
# A bounded soak of the release binary on loopback: the 0-ms mock model from ../shared/bench,
# then mixed traffic (/ping; invocations on reused sessions; SSE streams; /ws sessions; some
# clients leaving mid-stream) for SOAK_SECONDS (default 120, at most 280, so the whole run
# ends within 5 minutes). Reports requests served, errors, VmRSS at start and end, and open
# descriptors at start and end. Fails on any error, on RSS growth past SOAK_RSS_GROWTH_MIB
# (default 8 MiB, measured from the end of the warm-up), or when the descriptor count does
# not return to its starting value within 20 s of settling. Linux only (/proc).
#
#   cargo build --release && scripts/soak.sh
#
# AGENTCORE_BIN overrides the binary; AGENTCORE_SHARED_DIR the shared reference directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${SOAK_SECONDS:-120}
[ "$seconds" -le 280 ] || { echo "SOAK_SECONDS=$seconds: at most 280" >&2; exit 2; }
bin=${AGENTCORE_BIN:-target/release/agentcore-rt}
shared=${AGENTCORE_SHARED_DIR:-$root/../shared}
mock=$shared/bench/mock_llm.py
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 2; }
[ -f "$mock" ] || { echo "no $mock (set AGENTCORE_SHARED_DIR)" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
work=$(mktemp -d -t soak.XXXXXX)
mock_port=$(free_port)
port=$(free_port)
pids=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Both children get a hard time limit too, should this script be killed without its trap.
limit=$((seconds + 120))
timeout "$limit" python3 "$mock" --host 127.0.0.1 --port "$mock_port" --delay-ms 0 >"$work/mock.log" 2>&1 &
pids+=($!)
mkdir "$work/sessions"
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" \
  OPENAI_BASE_URL="http://127.0.0.1:$mock_port/v1" OPENAI_API_KEY=sk-soak MODEL_ID=mock \
  SESSION_DIR="$work/sessions" \
  timeout "$limit" "$bin" >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do
  grep -q '"listening"' "$work/server.log" && grep -q listening "$work/mock.log" && break
  sleep 0.05
done
grep -q '"listening"' "$work/server.log" || { cat "$work/server.log"; exit 1; }
# `timeout` runs the binary as its child: measure the binary itself.
pid=$(pgrep -P "${pids[1]}" -x "$(basename "$bin")" || echo "${pids[1]}")
echo "binary: $bin, pid $pid, port $port; mock model: $mock on port $mock_port"

status=0
python3 scripts/soak_clients.py soak --addr "127.0.0.1:$port" --pid "$pid" --mock-port "$mock_port" \
  --seconds "$seconds" --rss-growth-mib "${SOAK_RSS_GROWTH_MIB:-8}" || status=$?
logged=$(grep -c '"message":"request"' "$work/server.log" || true)
failed=$(grep -c '"level":"ERROR"' "$work/server.log" || true)
echo "  server log: $logged request lines (pings are not logged), $failed ERROR lines"
grep '"level":"ERROR"' "$work/server.log" | head -5 || true
if [ "$failed" -gt 0 ]; then status=1; fi
exit "$status"
