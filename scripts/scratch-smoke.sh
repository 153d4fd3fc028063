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
#   7. POST /invocations from outside: 200 with a JSON body;
#   8. SIGTERM: the server must exit 0 within its drain time.
# Env: AGENTCORE_BIN (default target/x86_64-unknown-linux-musl/release/agentcore-rt; a binary
# for another arch runs under qemu-<arch>-static, copied into the root, when installed);
# MODEL_BASE_URL / OPENAI_API_KEY / MODEL_ID are passed through when set (the chroot shares
# the host's network, so a mock model on 127.0.0.1 is reachable).
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
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch" "$log"
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

# Only what a container runtime would set: the image's ENV plus pass-through model settings.
server_env=(PORT="$port" HOST=127.0.0.1)
for var in MODEL_BASE_URL OPENAI_API_KEY MODEL_ID; do
    if [ -n "${!var:-}" ]; then server_env+=("$var=${!var}"); fi
done

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

payload='{"prompt":"hello from an empty root"}'
response="$(curl -sS -m 30 -w '\n%{http_code}' -H 'content-type: application/json' \
    --data-binary "$payload" "http://127.0.0.1:$port/invocations")" || fail "POST /invocations failed"
status="${response##*$'\n'}"
body="${response%$'\n'*}"
[ "$status" = 200 ] || { cat "$log" >&2; fail "POST /invocations answered $status: $body"; }
printf '%s' "$body" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null \
    || fail "POST /invocations body is not JSON: $body"
step "POST /invocations: 200 $body"

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
