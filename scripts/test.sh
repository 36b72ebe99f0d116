#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up, lint, type-check, then every test.
# scripts/coverage.sh runs the same with coverage measured (the CLI's subprocesses included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-actionlint
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# pytest rewrites each test module's asserts as it imports it and keeps the result beside it,
# unless PYTHONDONTWRITEBYTECODE is set (CI images often set it): then every worker below rewrote
# every module again, 5 s of CPU each. One collection, beside mypy, writes what they all read.
timeout 600 env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m pytest --collect-only -q \
  -p no:cacheprovider -p no:randomly >/dev/null 2>&1 &
collected=$!
trap 'kill "$collected" 2>/dev/null || true' EXIT # when mypy fails
.venv/bin/mypy
wait "$collected" || true # a test module that does not import is said by the run below
# In parallel (pytest-xdist): most end-to-end tests wait on sockets and subprocesses, so more
# workers than the two cores a CI machine has finish sooner (docs: README, Development).
# Tests go to the workers one at a time, the slow ones first (tests/conftest.py).
exec .venv/bin/python -m pytest -n "${ENGAGE_SYNC_TEST_WORKERS:-4}" --dist load \
  --maxschedchunk 1 "$@"
