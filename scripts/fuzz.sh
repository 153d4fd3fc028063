#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ for a bounded time each and reports what they found.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, every target)
#
# Needs a nightly toolchain and cargo-fuzz; this script installs neither, it says how:
#   rustup toolchain install nightly
#   cargo install cargo-fuzz --locked
#
# Seeds: fuzz/make_seeds.py turns the recordings in tests/fixtures (HTTP requests, OpenAI scripts,
# an MCP transcript, Strands session files) into fuzz/corpus/<target>/,
# where libFuzzer also keeps what it finds (git-ignored, reused by the next run).
# Crashes: libFuzzer stops a target at its first failure and writes the input to
# fuzz/artifacts/<target>/; this script copies it to tests/fuzz-regressions/<target>/, where the
# stable regression test (tests/it/fuzz_regressions.rs) replays it through the same checks. Commit
# it together with the fix.
#
# Exit status: 0 when no target failed, 1 when one did, 2 when the tools are missing.
# Not part of CI: CI runs stable `cargo test`, which replays tests/fuzz-regressions/ only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(http_head json_body model_stream mcp_sse session_message)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: no nightly toolchain; install it with: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz missing; install it with: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if command -v python3 >/dev/null; then
    python3 fuzz/make_seeds.py tests/fixtures fuzz/corpus
else
    echo "fuzz.sh: no python3 to turn tests/fixtures into seeds: starting from the existing corpus only" >&2
fi

# No sanitizer: the crate has no unsafe code, and ASan would cost half the executions. Debug
# assertions (overflow checks) stay on.
cargo +nightly fuzz build -s none >/dev/null

# Every property failure is a panic, so a crash input is what matters; limits keep a runaway
# input from taking the machine (2 cores, shared).
libfuzzer_flags=(
    -max_total_time="$seconds"
    -max_len=65536
    -timeout=20
    -rss_limit_mb=2048
    -malloc_limit_mb=1024
    -print_final_stats=1
)

logs="$root/fuzz/artifacts/logs"
mkdir -p "$logs"
failed=0
printf '%-16s %10s %8s %8s %8s %12s  %s\n' target execs secs cov ft corpus result
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    log="$logs/$target.log"
    started=$(date +%s)
    status=0
    cargo +nightly fuzz run -s none "$target" "fuzz/corpus/$target" -- "${libfuzzer_flags[@]}" \
        >"$log" 2>&1 || status=$?
    elapsed=$(( $(date +%s) - started ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")
    result=ok
    crashes=()
    while IFS= read -r -d '' artifact; do
        crashes+=("$artifact")
    done < <(find "fuzz/artifacts/$target" -maxdepth 1 -type f \
        \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) -newermt "@$started" -print0)
    if [ "$status" -ne 0 ] || [ "${#crashes[@]}" -gt 0 ]; then
        result="FAILED (exit $status)"
        failed=1
    fi
    printf '%-16s %10s %8s %8s %8s %12s  %s\n' "$target" "${execs:-?}" "$elapsed" "${cov:-?}" "${ft:-?}" \
        "${corp:-?}" "$result"
    for artifact in "${crashes[@]}"; do
        mkdir -p "tests/fuzz-regressions/$target"
        cp "$artifact" "tests/fuzz-regressions/$target/"
        echo "    $(basename "$artifact") -> tests/fuzz-regressions/$target/ (log: $log)"
        grep -m1 -E "panicked at|ERROR: libFuzzer" -A2 "$log" | cut -c1-300 | sed 's/^/    /' || true
    done
done
exit "$failed"
