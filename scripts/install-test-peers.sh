#!/usr/bin/env bash
# Installs the real peers the integration tests talk to: system tools (busybox for the
# `wget` healthcheck users write, curl), a Python venv (.venv: the official MCP SDK,
# websockets), Strands 1.62 in .venv-strands, and npm MCP servers (tests/peers/node_modules).
# Idempotent; safe to re-run. The recording venv of scripts/record-fixtures.sh (.venv-record) is
# not installed here: re-recording tests/fixtures is a maintainer action, not part of a test run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

missing=()
command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt

# Strands (the session-format reference) needs mcp<2.2, so it gets its own venv.
if [ ! -x .venv-strands/bin/python ]; then
  python3 -m venv .venv-strands
fi
.venv-strands/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-strands.txt

# moto's S3 server (tests/peers/s3_server.py) for the S3 session store, in its own venv: its
# boto3/botocore pins must not move Strands'.
if [ ! -x .venv-s3/bin/python ]; then
  python3 -m venv .venv-s3
fi
.venv-s3/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-s3.txt

if [ ! -d tests/peers/node_modules/@modelcontextprotocol/server-everything ]; then
  (cd tests/peers && npm install --no-audit --no-fund --loglevel=error)
fi
echo "test peers ready: $root/.venv, $root/.venv-strands, $root/.venv-s3, $root/tests/peers/node_modules"
