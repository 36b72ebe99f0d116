#!/usr/bin/env bash
# Run .ci/run several times in a row while busy loops load the machine, and report each run:
# its exit code, how long it took, the machine's load and pytest's closing line. A suite that
# passes here does not depend on the machine's speed (issue #32).
#
#   scripts/stress.sh [--runs N] [--loops N]     # defaults: 3 runs, 3 busy loops
#
# The busy loops are stopped by their pids when the script ends (also on Ctrl-C). Each run's
# output is kept in a temporary folder, named at the end. Exits 1 if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=3
loops=3
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --loops) loops=$2; shift 2 ;;
    *) echo "usage: scripts/stress.sh [--runs N] [--loops N]" >&2; exit 64 ;;
  esac
done
logs=$(mktemp -d "${TMPDIR:-/tmp}/engage-sync-stress.XXXXXX")
busy=()
stop_loops() {
  for pid in "${busy[@]}"; do
    kill "$pid" 2>/dev/null
  done
  busy=()
}
trap stop_loops EXIT
trap 'stop_loops; exit 130' INT TERM
for _ in $(seq "$loops"); do
  (while :; do :; done) &
  busy+=($!)
done
echo "stress: $loops busy loop(s) (pids ${busy[*]}); $runs run(s) of .ci/run; logs in $logs"
failed=0
for n in $(seq "$runs"); do
  start=$(date +%s)
  bash .ci/run >"$logs/run-$n.log" 2>&1
  code=$?
  took=$(($(date +%s) - start))
  summary=$(grep -E '^=+ .*(passed|failed|error).* =+$' "$logs/run-$n.log" | tail -1)
  echo "run $n: exit $code in $((took / 60))m$((took % 60))s; $(uptime | sed 's/.*load/load/')"
  echo "  ${summary:-no pytest summary: see $logs/run-$n.log}"
  [ "$code" -eq 0 ] || failed=1
done
stop_loops
if [ "$failed" -eq 0 ]; then
  echo "stress: all $runs run(s) passed under $loops busy loop(s)"
else
  echo "stress: a run failed: see $logs" >&2
fi
exit "$failed"
