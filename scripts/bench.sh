#!/usr/bin/env bash
# Benchmarks agentcore-rt on loopback, one section at a time.
#
#   scripts/bench.sh [--no-build] [--strict] [section...]   (no section: all of them)
#
# --strict: exit non-zero when a number misses its target (default: report only).
#
# Sections:
#   ping   agentcore-rt beside may_minihttp (bench/minihttp-ping): cold start (exec -> first
#          /ping 200, median of BENCH_RUNS runs), idle RSS, /ping req/s and p99 under wrk,
#          static binary size; checked against the targets below.
#   agent  the agent against a 0-ms mock model, side by side with the Python seed app
#          (BedrockAgentCoreApp + Strands), through ../shared/bench/run_bench.py: cold start,
#          idle RSS, /ping under wrk, invocations/s and CPU per invocation at 1 and 8
#          connections (distinct and same session), 16 invocations with a 3 s model and /ping
#          latency meanwhile, peak RSS.
#   mcp    one stdio MCP tool call per invocation: agentcore-rt with per-request and
#          per-session MCP servers beside the Python seed with Strands' MCPClient
#          (scripts/bench/mcp_bench.py).
#   coldstart-mcp  cold start to the first /ping 200 with a stdio MCP server that sleeps 2 s
#          before answering initialize, against no MCP, alternating, median of BENCH_RUNS
#          (scripts/bench/coldstart_mcp.py); target within 2x (fails under --strict).
#   sign   µs per SigV4 signature of a Bedrock ConverseStream request (~2 KB body), the
#          release musl build of examples/sign_bench.rs (the profile the binary ships with).
#   stream the latency the runtime adds to a streamed answer, beside the Python seed (streaming
#          variant scripts/bench/seed_stream_app.py, and the JSON-only seed itself): a mock
#          model that stamps its chunks on CLOCK_MONOTONIC, first token / last token / end of
#          stream added at STREAM_CONCURRENCY; then RSS per in-flight stream at STREAM_RSS
#          concurrent 10 s streams (agentcore-rt with WORKER_THREADS raised to the largest;
#          the seed at 64 only) (scripts/bench/stream_bench.py).
#   bedrock CPU per invocation with MODEL_PROVIDER=bedrock against MODEL_PROVIDER=openai, both
#          on a 0-ms model (tests/peers/bedrock_endpoint.py, checked by botocore; a stdlib
#          OpenAI mock), alternating rounds (scripts/bench/bedrock_bench.py).
#   otel   what tracing costs: CPU per invocation (all threads, exporter included) and /ping
#          req/s with OTLP export to a local receiver against tracing off, alternating rounds
#          (scripts/bench/otel_bench.py); target at most 1.05x CPU (fails under --strict).
#   s3     the S3 session store against the file store (with and without fsync), one binary,
#          a 0-ms model, moto's S3 on loopback (tests/peers/s3_server.py): turn latency (median,
#          p90), CPU per invocation, S3 requests per turn, over sessions of sequential turns,
#          alternating rounds (scripts/bench/s3_bench.py).
#
# Environment:
#   BENCH_RUNS=20          cold-start runs per server
#   WRK_THREADS=2 WRK_CONNS=64 WRK_DURATION=10 (seconds)
#   WRK_ROUNDS=5           wrk rounds per server, alternating; median and best req/s reported
#   BENCH_OUT=/tmp/agentcore-bench   JSON results and server logs land here
#   AGENTCORE_BIN=target/x86_64-unknown-linux-musl/release/agentcore-rt
#   SHARED_DIR=../shared   the reference harness (bench/run_bench.py, mock_llm.py, seed_app.py)
#   REF_VENV=.venv-ref     Python reference (bedrock-agentcore 1.25.0, strands-agents 1.62.0)
#   STREAM_CONCURRENCY=1,64  STREAM_RSS=64,512   (section stream)
#
# Binaries are built first (scripts/build-static.sh, cargo for bench/minihttp-ping) unless
# --no-build is given; wrk comes from apt when missing. Everything listens on 127.0.0.1 and
# every measurement is bounded in time. The machine's cores are shared by the servers and
# wrk: compare numbers from one run, not across runs.
#
# Adding a section: write `section_<name>` (print a table; return non-zero when the section
# could not run, or under --strict when it missed a target) and add <name> to ALL_SECTIONS.
# Sections run inside `||`, where `set -e` does not apply: check each step.
# Sections are called as "section_$name": shellcheck cannot see that they are reachable.
# shellcheck disable=SC2317
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
here="$root/scripts/bench"

ALL_SECTIONS=(ping agent mcp coldstart-mcp sign stream bedrock otel s3)

# Targets (section ping).
TARGET_COLD_MS=5
TARGET_RSS_KB=4096
TARGET_SIZE_BYTES=$((3 * 1024 * 1024))

BENCH_RUNS="${BENCH_RUNS:-20}"
WRK_THREADS="${WRK_THREADS:-2}"
WRK_CONNS="${WRK_CONNS:-64}"
WRK_DURATION="${WRK_DURATION:-10}"
WRK_ROUNDS="${WRK_ROUNDS:-5}"
BENCH_OUT="${BENCH_OUT:-/tmp/agentcore-bench}"
AGENTCORE_BIN="${AGENTCORE_BIN:-target/x86_64-unknown-linux-musl/release/agentcore-rt}"
MINIHTTP_DIR="bench/minihttp-ping"
MINIHTTP_BIN="$MINIHTTP_DIR/target/x86_64-unknown-linux-musl/release/minihttp-ping"

build=1
strict=
sections=()

usage() { sed -n '2,/^# Sections are called/{/^# Sections are called/d;/^#/s/^# \{0,1\}//p}' "$0"; }
die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0 ;;
        --strict) strict=1 ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) sections+=("$1") ;;
    esac
    shift
done
[ ${#sections[@]} -gt 0 ] || sections=("${ALL_SECTIONS[@]}")

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}

need_wrk() {
    command -v wrk >/dev/null && return 0
    command -v apt-get >/dev/null || die "wrk is missing and there is no apt-get: install wrk"
    note "installing wrk"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || return 1
}

build_agentcore() {
    if [ "$build" -eq 1 ]; then
        scripts/build-static.sh --arch x86_64 >&2 || return 1
    fi
    [ -x "$AGENTCORE_BIN" ] || die "$AGENTCORE_BIN missing (run scripts/build-static.sh)"
}

build_minihttp() {
    if [ "$build" -eq 1 ]; then
        # Same target and release profile as agentcore-rt (see its Cargo.toml).
        local -a env_vars=()
        command -v x86_64-linux-musl-gcc >/dev/null || env_vars+=(CC_x86_64_unknown_linux_musl=gcc)
        (cd "$MINIHTTP_DIR" && env ${env_vars[@]+"${env_vars[@]}"} \
            cargo build --release --locked --target x86_64-unknown-linux-musl >&2) || return 1
    fi
    [ -x "$MINIHTTP_BIN" ] || die "$MINIHTTP_BIN missing (cd $MINIHTTP_DIR && cargo build --release --target x86_64-unknown-linux-musl)"
}

# ---------------------------------------------------------------------------- section: ping

section_ping() {
    need_wrk || return 1
    build_agentcore || return 1
    build_minihttp || return 1
    mkdir -p "$BENCH_OUT" || return 1
    local stamp; stamp=$(date +%Y%m%d-%H%M%S)
    local -a ours=() theirs=()
    local -a load=(--wrk-threads "$WRK_THREADS" --wrk-conns "$WRK_CONNS" --wrk-duration "$WRK_DURATION")
    local round name bin out
    # Cold start first (no load running), then wrk rounds alternating between the servers, so
    # a noisy neighbour hurts both alike.
    for round in $(seq 1 "$WRK_ROUNDS"); do
        for name in agentcore-rt may_minihttp; do
            if [ "$name" = agentcore-rt ]; then bin="$AGENTCORE_BIN"; else bin="$MINIHTTP_BIN"; fi
            out="$BENCH_OUT/ping-$stamp-$name-$round.json"
            local -a what=(--runs "$BENCH_RUNS")
            if [ "$round" -gt 1 ]; then what=(--skip-cold); fi
            note "ping: round $round/$WRK_ROUNDS, $name ($bin)"
            python3 "$here/serverbench.py" --name "$name" --bin "$bin" "${what[@]}" "${load[@]}" \
                --log "$BENCH_OUT/ping-$stamp-$name.log" > "$out" || return 1
            if [ "$name" = agentcore-rt ]; then ours+=("$out"); else theirs+=("$out"); fi
        done
    done
    python3 "$here/table.py" ping --ours "${ours[@]}" --baseline "${theirs[@]}" \
        --target-cold-ms "$TARGET_COLD_MS" --target-rss-kb "$TARGET_RSS_KB" \
        --target-size-bytes "$TARGET_SIZE_BYTES" \
        --wrk "wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s --latency, $WRK_ROUNDS round(s) each, alternating" \
        --runs "$BENCH_RUNS" ${strict:+--strict}
}

# ---------------------------------------------------------------------------- sections: agent, mcp

SHARED_DIR="${SHARED_DIR:-../shared}"
REF_VENV="${REF_VENV:-.venv-ref}"

need_ref_venv() {
    [ -f "$SHARED_DIR/bench/run_bench.py" ] || die "$SHARED_DIR/bench missing (set SHARED_DIR)"
    if [ ! -x "$REF_VENV/bin/python" ]; then
        note "creating the Python reference venv in $REF_VENV"
        python3 -m venv "$REF_VENV" || return 1
    fi
    "$REF_VENV/bin/pip" install --quiet --disable-pip-version-check \
        'bedrock-agentcore==1.25.0' 'strands-agents[openai]==1.62.0' uvicorn websockets >&2 || return 1
}

section_agent() {
    need_wrk || return 1
    need_ref_venv || return 1
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    python3 "$SHARED_DIR/bench/run_bench.py" \
        --server ref="$REF_VENV/bin/python $SHARED_DIR/bench/seed_app.py" \
        --server agentcore-rt="$AGENTCORE_BIN" \
        --footprint ref="$REF_VENV" --out-dir "$BENCH_OUT"
}

section_mcp() {
    need_ref_venv || return 1
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    local py="$root/$REF_VENV/bin/python" server="$root/scripts/bench/lookup_mcp_server.py" lifecycle
    for lifecycle in per-request per-session; do
        printf '{"mcpServers": {"lookup": {"command": "%s", "args": ["%s"], "lifecycle": "%s"}}}\n' \
            "$py" "$server" "$lifecycle" > "$BENCH_OUT/mcp-$lifecycle.json" || return 1
    done
    MCP_SERVER_PY="$py" python3 "$here/mcp_bench.py" --mock "$SHARED_DIR/bench/mock_llm.py" \
        --server python-seed-mcpclient="$py $root/scripts/bench/seed_mcp_app.py" \
        --server rust-per-request="env MCP_CONFIG=$BENCH_OUT/mcp-per-request.json $AGENTCORE_BIN" \
        --server rust-per-session="env MCP_CONFIG=$BENCH_OUT/mcp-per-session.json $AGENTCORE_BIN" \
        --out "$BENCH_OUT/mcp-$(date +%Y%m%d-%H%M%S).json"
}

section_coldstart-mcp() {
    build_agentcore || return 1
    local rc=0
    python3 "$here/coldstart_mcp.py" "$AGENTCORE_BIN" "$(command -v python3)" "$BENCH_RUNS" 2 || rc=$?
    [ "$rc" -eq 0 ] || [ -z "$strict" ]
}

# ---------------------------------------------------------------------------- sections: sign, stream

section_sign() {
    local -a env_vars=()
    command -v x86_64-linux-musl-gcc >/dev/null || env_vars+=(CC_x86_64_unknown_linux_musl=gcc)
    if [ "$build" -eq 1 ]; then
        env ${env_vars[@]+"${env_vars[@]}"} cargo build --release --locked \
            --target x86_64-unknown-linux-musl --features no-dependency-logs --example sign_bench >&2 || return 1
    fi
    target/x86_64-unknown-linux-musl/release/examples/sign_bench
}

STREAM_CONCURRENCY="${STREAM_CONCURRENCY:-1,64}"
STREAM_RSS="${STREAM_RSS:-64,512}"

section_stream() {
    need_ref_venv || return 1
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    local py="$root/$REF_VENV/bin/python" most=64 n
    for n in ${STREAM_RSS//,/ }; do [ "$n" -gt "$most" ] && most=$n; done
    local -a skip=()
    for n in ${STREAM_RSS//,/ }; do
        [ "$n" -le 64 ] || skip+=(--rss-skip "$n=python-seed-stream")
        skip+=(--rss-skip "$n=python-seed")
    done
    python3 "$here/stream_bench.py" \
        --server agentcore-rt="$AGENTCORE_BIN" \
        --server python-seed-stream="$py $here/seed_stream_app.py" \
        --server python-seed="$py $SHARED_DIR/bench/seed_app.py" \
        --concurrency "$STREAM_CONCURRENCY" --rss "$STREAM_RSS" \
        --rss-env "agentcore-rt=WORKER_THREADS=$most,MAX_CONCURRENT_INVOCATIONS=$((most * 2))" \
        "${skip[@]}" --out "$BENCH_OUT/stream-$(date +%Y%m%d-%H%M%S).json"
}

section_bedrock() {
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    local py="$root/.venv-strands/bin/python"
    [ -x "$py" ] || scripts/install-test-peers.sh >&2 || return 1
    python3 "$here/bedrock_bench.py" --bin "$AGENTCORE_BIN" --peer-python "$py" \
        --endpoint "$root/tests/peers/bedrock_endpoint.py" \
        --out "$BENCH_OUT/bedrock-$(date +%Y%m%d-%H%M%S).json"
}

section_otel() {
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    command -v wrk >/dev/null || need_wrk || note "otel: no wrk, /ping throughput skipped"
    BENCH_STRICT=${strict:-0} python3 "$here/otel_bench.py" --bin "$AGENTCORE_BIN" \
        --out "$BENCH_OUT/otel-$(date +%Y%m%d-%H%M%S).json"
}

section_s3() {
    build_agentcore || return 1
    mkdir -p "$BENCH_OUT" || return 1
    local py="$root/.venv-s3/bin/python"
    [ -x "$py" ] || scripts/install-test-peers.sh >&2 || return 1
    python3 "$here/s3_bench.py" --bin "$AGENTCORE_BIN" --s3-python "$py" \
        --s3-server "$root/tests/peers/s3_server.py" \
        --out "$BENCH_OUT/s3-$(date +%Y%m%d-%H%M%S).json"
}

# ---------------------------------------------------------------------------- main

status=0
for s in "${sections[@]}"; do
    if ! declare -F "section_$s" >/dev/null; then
        die "unknown section '$s' (known: ${ALL_SECTIONS[*]})"
    fi
done
for s in "${sections[@]}"; do
    echo "== $s =="
    "section_$s" || { note "section $s failed"; status=1; }
    echo
done
exit "$status"
