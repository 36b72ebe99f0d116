#!/usr/bin/env bash
# Pull-request check: validate the lead sets (fails the check when invalid), then the plan as
# markdown (pull-request comment, job summary) and JSON (artifact). Needs no Engage credentials.
set -euo pipefail
out=${ENGAGE_SYNC_PLAN_DIR:-plan-output}
mkdir -p "$out"
engage-sync validate
engage-sync plan --format markdown --out "$out/plan.md"
engage-sync plan --format json --out "$out/plan.json"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/plan.md" >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_TOKEN:-}" ] && [ -n "${PR_NUMBER:-}" ]; then
  # a fork's read-only token cannot comment: the job summary still has the plan
  python3 "$(dirname "$0")/pr-comment.py" post "$out/plan.md" ||
    echo "::warning::could not post the plan comment; see the job summary"
fi
