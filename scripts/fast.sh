#!/usr/bin/env bash
# The fast loop, as CI runs it on every Python the package claims: set up, lint, type-check, then
# every test but the end-to-end and slow ones (scripts/test.sh runs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-actionlint
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -q -m "not e2e and not slow" -p no:cacheprovider "$@"
