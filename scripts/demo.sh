#!/usr/bin/env bash
# The whole loop on the bundled example lead sets, against a local emulator, in a scratch state:
# set up, start the emulator, validate, plan, apply, plan again (nothing left), stop the emulator.
# ENGAGE_SYNC_BIN runs another installed engage-sync instead of .venv's (the release smoke test).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${ENGAGE_SYNC_BIN:-}" ]; then
  ES=$ENGAGE_SYNC_BIN
else
  scripts/setup.sh
  ES=.venv/bin/engage-sync
fi
work=$(mktemp -d)
log="$work/emulator.log"
"$ES" emulator --port 0 >"$log" 2>&1 &
emulator_pid=$!
trap 'kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q '^export ENGAGE_BASE_URL' "$log" && break; sleep 0.1; done
grep -q '^export ENGAGE_BASE_URL' "$log" || { cat "$log"; exit 1; }
# the emulator prints its base URL and credentials as shell lines: take them
eval "$(grep '^export ' "$log")"
export ENGAGE_SYNC_STATE="$work/engage-sync.state.json"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step "$ES" validate
step "$ES" plan
step "$ES" apply --auto-approve
step "$ES" plan --detailed-exitcode
printf '\nDone: every lead is loaded, and the second plan has nothing left to do.\n'
printf 'State written to %s; the emulator is stopped on exit.\n' "$ENGAGE_SYNC_STATE"
