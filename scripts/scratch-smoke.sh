#!/usr/bin/env bash
# Proves the FROM scratch claim without a container engine: the static binary runs alone in
# an empty root (no libc, no /etc, no CA files, no shell), like in Dockerfile.scratch.
#
#   scripts/scratch-smoke.sh [--build]
#
# Steps (any failure exits non-zero with a message):
#   1. build the static binary with scripts/build-static.sh when it is missing (or --build);
#   2. check `file` says it is statically linked;
#   3. copy ONLY the binary (as /agentcore-rt) and an empty /tmp (mode 1777) into a fresh dir;
#   4. start it there with an empty environment plus PORT/HOST, through `unshare -r chroot`
#      (plain `chroot` when already root and user namespaces are unavailable);
#   5. GET /ping from outside with curl (200, Healthy);
#   6. run `/agentcore-rt healthcheck` inside the root: exit 0; and against a dead port: exit 1;
#   7. POST /invocations from outside: a whole agent turn against a small OpenAI-wire mock
#      model on loopback (streamed chat-completion chunks), answered 200 with the model's text,
#      and the Strands session files written under the root's /tmp/strands/sessions;
#   8. a second server in the same root with MODEL_PROVIDER=bedrock makes one Bedrock turn
#      (ConverseStream, SigV4 with keys from the environment) against the local Bedrock
#      endpoint of the tests (tests/peers/bedrock_endpoint.py on .venv-strands: botocore checks
#      the signature and the body), then exits 0 on SIGTERM;
#   9. SIGTERM: the first server must exit 0 within its drain time.
# Env: AGENTCORE_BIN (default target/x86_64-unknown-linux-musl/release/agentcore-rt; a binary
# for another arch runs under qemu-<arch>-static, copied into the root, when installed).
# The chroot shares the host's network, so the mock model on 127.0.0.1 is reachable.
set -euo pipefail

root_dir="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root_dir"

bin="${AGENTCORE_BIN:-target/x86_64-unknown-linux-musl/release/agentcore-rt}"
build=0
case "${1:-}" in
    --build) build=1 ;;
    "") ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "scratch-smoke: unknown argument '$1'" >&2; exit 2 ;;
esac

fail() { echo "scratch-smoke: FAIL: $*" >&2; exit 1; }
step() { echo "scratch-smoke: $*"; }

for tool in curl file python3 chroot; do
    command -v "$tool" >/dev/null || fail "'$tool' is needed"
done
peer_python="$root_dir/.venv-strands/bin/python"
[ -x "$peer_python" ] || fail "$peer_python is missing: run scripts/install-test-peers.sh"

if [ "$build" -eq 1 ] || [ ! -x "$bin" ]; then
    step "building the static binary"
    scripts/build-static.sh --arch x86_64 || fail "scripts/build-static.sh failed"
fi
[ -x "$bin" ] || fail "$bin is missing"

kind="$(file -b "$bin")"
case "$kind" in
    *"statically linked"*|*"static-pie linked"*) step "static: $kind" ;;
    *) fail "$bin is not statically linked: $kind" ;;
esac

scratch="$(mktemp -d /tmp/agentcore-scratch.XXXXXX)"
log="$scratch.log"
server_pid=""
model_pid=""
bedrock_pid=""
endpoint_pid=""
cleanup() {
    for pid in "$server_pid" "$model_pid" "$bedrock_pid" "$endpoint_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            # Reaping it here keeps bash from printing the job's whole command line as "Killed".
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$scratch" "$log" "$scratch.model.log" "$scratch.bedrock.log" "$scratch.endpoint.log" \
        "$scratch.endpoint.port"
}
trap cleanup EXIT

cp "$bin" "$scratch/agentcore-rt"
mkdir -m 1777 "$scratch/tmp"
expected="./agentcore-rt ./tmp "

# A binary for another arch (e.g. the aarch64 build on an x86_64 host) runs under qemu user
# emulation: the static qemu binary goes into the root too, as the one extra file.
run=(/agentcore-rt)
bin_arch="$(file -b "$bin" | sed -n 's/.*, \(x86-64\|ARM aarch64\),.*/\1/p')"
case "$bin_arch" in
    x86-64) bin_arch=x86_64 ;;
    "ARM aarch64") bin_arch=aarch64 ;;
    *) fail "cannot tell the binary's architecture from: $kind" ;;
esac
if [ "$bin_arch" != "$(uname -m)" ]; then
    qemu="$(command -v "qemu-$bin_arch-static" || true)"
    [ -n "$qemu" ] || fail "$bin is $bin_arch; install qemu-user-static to run it here"
    cp "$qemu" "$scratch/qemu"
    run=(/qemu /agentcore-rt)
    expected="./agentcore-rt ./qemu ./tmp "
    step "$bin_arch binary: running it under $(basename "$qemu")"
fi
contents="$(cd "$scratch" && find . -mindepth 1 | sort | tr '\n' ' ')"
[ "$contents" = "$expected" ] || fail "the root should hold only the binary and /tmp, has: $contents"
step "root $scratch holds: $contents"

# How to enter the root: an unprivileged user namespace first (what a rootless engine does).
# Absolute paths: the server starts with an empty environment, so no PATH.
chroot_bin="$(command -v chroot)"
unshare_bin="$(command -v unshare || true)"
if [ -n "$unshare_bin" ] && "$unshare_bin" -r true 2>/dev/null; then
    enter=("$unshare_bin" -r "$chroot_bin" "$scratch")
elif [ "$(id -u)" -eq 0 ]; then
    enter=("$chroot_bin" "$scratch")
else
    fail "cannot chroot: user namespaces are off (unshare -r) and we are not root"
fi
step "entering with: ${enter[*]}"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port="$(free_port)"
dead_port="$(free_port)"

# The model: the OpenAI chat-completions wire format, streamed as OpenAI streams it (role
# chunk, content chunk, finish chunk, usage chunk, [DONE]); it echoes the last user text so the
# answer proves the prompt made the whole trip.
model_port="$(free_port)"
python3 - "$model_port" >"$scratch.model.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Model(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.path != "/v1/chat/completions" or not body.get("stream"):
            self.send_response(400)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        user = [m for m in body["messages"] if m["role"] == "user"][-1]
        content = user["content"]
        text = content if isinstance(content, str) else content[0]["text"]
        base = {"id": "chatcmpl-smoke", "object": "chat.completion.chunk", "created": 0,
                "model": body["model"]}
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": "echo: " + text}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}},
        ]
        out = b"".join(b"data: " + json.dumps({**base, **c}).encode() + b"\n\n" for c in chunks)
        out += b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Model).serve_forever()
PY
model_pid=$!

# Only what a container runtime would set: the image's ENV plus the model settings.
server_env=(PORT="$port" HOST=127.0.0.1 OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1"
    OPENAI_API_KEY=smoke-key MODEL_ID=smoke-model)

# unshare and chroot exec in place, so $! is the server's own pid.
env -i "${server_env[@]}" "${enter[@]}" "${run[@]}" >"$log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 10))
ping_body=""
while :; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$log" >&2
        fail "the server exited before answering /ping"
    fi
    if ping_body="$(curl -sS -m 2 -f "http://127.0.0.1:$port/ping" 2>/dev/null)"; then
        break
    fi
    [ "$SECONDS" -lt "$deadline" ] || { cat "$log" >&2; fail "no 200 from /ping within 10 s"; }
    sleep 0.05
done
case "$ping_body" in
    *'"status":"Healthy"'*) step "GET /ping from outside: 200 $ping_body" ;;
    *) fail "unexpected /ping body: $ping_body" ;;
esac
cmdline="$(tr '\0' ' ' <"/proc/$server_pid/cmdline" 2>/dev/null || true)"
[ "$cmdline" = "${run[*]} " ] || fail "pid $server_pid runs '$cmdline', not the chrooted agentcore-rt"

if out="$(env -i PORT="$port" "${enter[@]}" "${run[@]}" healthcheck 2>&1)"; then
    step "healthcheck inside the root: exit 0 ($out)"
else
    fail "healthcheck inside the root exited $?: $out"
fi
if out="$(env -i PORT="$dead_port" "${enter[@]}" "${run[@]}" healthcheck 2>&1)"; then
    fail "healthcheck against a port with no server exited 0: $out"
else
    step "healthcheck against a dead port: exit $? ($out)"
fi

payload='{"prompt":"hello from an empty root","session_id":"smoke"}'
response="$(curl -sS -m 30 -w '\n%{http_code}' -H 'content-type: application/json' \
    --data-binary "$payload" "http://127.0.0.1:$port/invocations")" || fail "POST /invocations failed"
status="${response##*$'\n'}"
body="${response%$'\n'*}"
if [ "$status" != 200 ]; then
    cat "$log" "$scratch.model.log" >&2
    fail "POST /invocations answered $status: $body"
fi
printf '%s' "$body" | python3 -c '
import json, sys
assert json.load(sys.stdin) == {"response": "echo: hello from an empty root\n"}
' 2>/dev/null || fail "POST /invocations body is not the model's answer: $body"
step "POST /invocations: 200 $body"

session="$scratch/tmp/strands/sessions/session_smoke"
for file in session.json agents/agent_default/agent.json \
    agents/agent_default/messages/message_0.json agents/agent_default/messages/message_1.json; do
    [ -f "$session/$file" ] || fail "the session store did not write $file under the root's /tmp"
done
step "session written inside the root: $(cd "$session" && find . -name '*.json' | sort | tr '\n' ' ')"

# The Bedrock provider: the same root, a second server, the endpoint on the host's loopback.
"$peer_python" tests/peers/bedrock_endpoint.py "$scratch.endpoint.port" >"$scratch.endpoint.log" 2>&1 &
endpoint_pid=$!
deadline=$((SECONDS + 30))
until [ -s "$scratch.endpoint.port" ]; do
    kill -0 "$endpoint_pid" 2>/dev/null || { cat "$scratch.endpoint.log" >&2; fail "the Bedrock endpoint exited"; }
    [ "$SECONDS" -lt "$deadline" ] || fail "the Bedrock endpoint did not start within 30 s"
    sleep 0.05
done
endpoint_port="$(cat "$scratch.endpoint.port")"
bedrock_port="$(free_port)"
# The endpoint's default credentials (AWS's documentation example keys) and region.
env -i PORT="$bedrock_port" HOST=127.0.0.1 MODEL_PROVIDER=bedrock AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME="http://127.0.0.1:$endpoint_port" \
    AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    AWS_EC2_METADATA_DISABLED=true \
    "${enter[@]}" "${run[@]}" >"$scratch.bedrock.log" 2>&1 &
bedrock_pid=$!
deadline=$((SECONDS + 10))
until curl -sS -m 2 -f "http://127.0.0.1:$bedrock_port/ping" >/dev/null 2>&1; do
    kill -0 "$bedrock_pid" 2>/dev/null || { cat "$scratch.bedrock.log" >&2; fail "the Bedrock server exited"; }
    [ "$SECONDS" -lt "$deadline" ] || { cat "$scratch.bedrock.log" >&2; fail "no /ping from the Bedrock server"; }
    sleep 0.05
done
payload='{"prompt":"hello bedrock","session_id":"smoke-bedrock"}'
response="$(curl -sS -m 30 -w '\n%{http_code}' --data-binary "$payload" \
    "http://127.0.0.1:$bedrock_port/invocations")" || fail "POST /invocations (Bedrock) failed"
status="${response##*$'\n'}"
body="${response%$'\n'*}"
if [ "$status" != 200 ]; then
    cat "$scratch.bedrock.log" "$scratch.endpoint.log" >&2
    fail "POST /invocations (Bedrock) answered $status: $body"
fi
printf '%s' "$body" | python3 -c '
import json, sys
assert json.load(sys.stdin) == {"response": "bedrock says: hello bedrock\n"}
' 2>/dev/null || fail "the Bedrock answer is not the endpoint's: $body"
received="$(curl -sS -m 5 "http://127.0.0.1:$endpoint_port/requests")"
printf '%s' "$received" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert [b["operation"] for b in r["bodies"]] == ["ConverseStream"], r
assert r["frames_checked"] > 0, r
' || fail "the Bedrock endpoint did not see one signed ConverseStream call: $received"
[ -f "$scratch/tmp/strands/sessions/session_smoke-bedrock/session.json" ] \
    || fail "the Bedrock turn's session is not under the root's /tmp"
step "POST /invocations with MODEL_PROVIDER=bedrock: 200 $body (signature and body checked by botocore)"
kill -TERM "$bedrock_pid"
deadline=$((SECONDS + 20))
while kill -0 "$bedrock_pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the Bedrock server still runs 20 s after SIGTERM"
    sleep 0.05
done
rc=0
wait "$bedrock_pid" || rc=$?
bedrock_pid=""
[ "$rc" -eq 0 ] || { cat "$scratch.bedrock.log" >&2; fail "the Bedrock server exited $rc after SIGTERM"; }

kill -TERM "$server_pid"
deadline=$((SECONDS + 20))
while kill -0 "$server_pid" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || fail "still running 20 s after SIGTERM"
    sleep 0.05
done
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" -eq 0 ] || { cat "$log" >&2; fail "exited $rc after SIGTERM (want 0)"; }
grep -q '"stopped"' "$log" || { cat "$log" >&2; fail "no 'stopped' line in the server log"; }
step "SIGTERM: exit 0"
step "PASS"
