#!/usr/bin/env bash
# On merge: apply the lead sets (only the reviewed plan, when the pull request has one), then commit
# the state back, also after a partial failure, so what Engage accepted is never lost.
set -uo pipefail
out=${ENGAGE_SYNC_REPORT_DIR:-apply-output}
mkdir -p "$out"
args=(apply --auto-approve --report-json "$out/apply-report.json")
checksum=${ENGAGE_SYNC_REVIEWED_CHECKSUM:-}
if [ -z "$checksum" ] && [ -n "${GITHUB_TOKEN:-}" ] && [ -n "${GITHUB_SHA:-}" ]; then
  checksum=$(python3 "$(dirname "$0")/pr-comment.py" reviewed-checksum) || checksum=""
fi
if [ -n "$checksum" ]; then
  echo "applying the plan reviewed on the pull request (checksum $checksum)"
  args+=(--checksum "$checksum")
else
  echo "no reviewed plan found for this commit: applying without a checksum"
fi
engage-sync "${args[@]}"
status=$?
state=$(engage-sync state path) || exit 1
if [ -f "$state" ] && [ -n "$(git status --porcelain -- "$state")" ]; then
  git config user.name >/dev/null || git config user.name "engage-sync[bot]"
  git config user.email >/dev/null || git config user.email "engage-sync@users.noreply.github.com"
  git add -- "$state"
  # [skip ci]: the state commit must not start another apply
  git commit --quiet -m "engage-sync: record applied leads [skip ci]" -- "$state" || exit 1
  if git remote get-url origin >/dev/null 2>&1; then
    git push --quiet origin "HEAD:${GITHUB_REF_NAME:-main}" || exit 1
  fi
  echo "committed $state"
fi
exit "$status"
