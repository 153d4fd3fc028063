#!/usr/bin/env bash
# Idle keep-alive connections against the release binary, on loopback: opens IDLE_CONNS
# (default 2000) connections that each had one /ping answered, reports the server's VmRSS
# before, with and after them and the cost per connection, checks /ping still answers, then
# closes them and checks the descriptor count comes back. Linux only (/proc).
#
#   cargo build --release && scripts/idle-conns.sh
#
# AGENTCORE_BIN overrides the binary (default target/release/agentcore-rt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
conns=${IDLE_CONNS:-2000}
bin=${AGENTCORE_BIN:-target/release/agentcore-rt}
[ -x "$bin" ] || { echo "no $bin: run cargo build --release first" >&2; exit 2; }

# Client and server each hold one descriptor per connection (the server inherits this limit).
need=$((conns + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || { echo "cannot raise ulimit -n to $need (hard limit $(ulimit -Hn))" >&2; exit 2; }
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp -t idle-conns.XXXXXX.log)
# No model configured: /ping and keep-alive are all this measures. IDLE_TIMEOUT well past the run.
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$port" IDLE_TIMEOUT=600s MAX_CONNECTIONS=$((conns + 100)) \
  "$bin" >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 100); do
  grep -q '"listening"' "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
echo "binary: $bin ($(stat -c %s "$bin") bytes), pid $pid, port $port, ulimit -n $(ulimit -n)"
python3 scripts/soak_clients.py idle --addr "127.0.0.1:$port" --pid "$pid" --conns "$conns"
