#!/usr/bin/env bash
# Set up and start Souffleur on the embedded defaults: bundled tiny.en model on the
# CPU, in-memory event bus (no Redis), ws://127.0.0.1:8765. Extra arguments go to
# `souffleur serve` (see `souffleur serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
exec .venv/bin/souffleur serve "$@"
