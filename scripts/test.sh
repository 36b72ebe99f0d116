#!/usr/bin/env bash
# The whole test suite, as CI runs it: set up, lint, type-check, then every test with coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-actionlint
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
rm -f .coverage .coverage.*
.venv/bin/python -m pytest --cov --cov-report=term --cov-fail-under=90 "$@"
