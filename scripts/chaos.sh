#!/usr/bin/env bash
# The convergence campaign (issue #32, docs/chaos.md): random schedules of lead-set edits, applies
# under injected faults, kill -9 and Ctrl-C, and records changed by hand, each checked against
# engage-sync's promise after a clean `apply --refresh`.
#   scripts/chaos.sh --schedules 200 --seed 1000 [--jobs 3] [--json summary.json]
#   scripts/chaos.sh --replay 1234        # one failing seed again, with its steps
# Runs on the installed command of .venv (scripts/setup.sh makes it when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/engage-sync ] || scripts/setup.sh >&2
export CI="${CI:-true}"  # as the suite runs: the emulator's loopback host is named, not assumed
exec .venv/bin/python tests/chaos_campaign.py "$@"
