#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the real peers the tests talk to
# (scripts/install-test-peers.sh), then runs every unit and integration test.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh http::`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-peers.sh
cargo test --locked "$@"
