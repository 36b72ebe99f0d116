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
# wait for the emulator to say where it listens, or to exit; on a busy machine its start takes
# seconds, so the only bound is a generous one, for an emulator that neither starts nor exits
for _ in $(seq 1200); do
  grep -q '^export ENGAGE_BASE_URL' "$log" && break
  kill -0 "$emulator_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^export ENGAGE_BASE_URL' "$log"; then
  echo "demo: the emulator did not start; what it printed:" >&2
  cat "$log" >&2
  exit 1
fi
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
