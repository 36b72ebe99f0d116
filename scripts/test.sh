#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up, lint, type-check, then every test.
# scripts/coverage.sh runs the same with coverage measured (the CLI's subprocesses included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-actionlint
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
# In parallel (pytest-xdist): most end-to-end tests wait on sockets and subprocesses, so more
# workers than the two cores a CI machine has finish sooner (docs: README, Development).
# Tests go to the workers one at a time, the slow ones first (tests/conftest.py).
exec .venv/bin/python -m pytest -n "${ENGAGE_SYNC_TEST_WORKERS:-4}" --dist load \
  --maxschedchunk 1 "$@"
