#!/usr/bin/env bash
# scripts/test.sh with branch coverage measured, the subprocesses of the end-to-end tests
# included (pyproject.toml, [tool.coverage]); fails under 90%. Tracing every line about doubles
# the suite's CPU, so CI runs this as a job of its own, beside the suite (.github/workflows/ci.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f .coverage .coverage.*
exec scripts/test.sh --cov --cov-report=term --cov-fail-under=90 "$@"
