#!/usr/bin/env bash
# Pull-request check: the plan as markdown (pull-request comment, job summary) and JSON (artifact)
# in one pass; invalid lead sets fail the check. Needs no Engage credentials.
set -euo pipefail
out=${ENGAGE_SYNC_PLAN_DIR:-plan-output}
mkdir -p "$out"
# one pass: the lead sets are read once for the problems, the markdown and the JSON; invalid lead
# sets fail the check here (every problem is listed by `engage-sync validate`)
engage-sync plan --out "$out/plan.md" --out "$out/plan.json"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/plan.md" >>"$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_TOKEN:-}" ] && [ -n "${PR_NUMBER:-}" ]; then
  # a fork's read-only token cannot comment: the job summary still has the plan
  python3 "$(dirname "$0")/pr-comment.py" post "$out/plan.md" ||
    echo "::warning::could not post the plan comment; see the job summary"
fi
