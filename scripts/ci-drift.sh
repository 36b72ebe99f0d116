#!/usr/bin/env bash
# Scheduled drift check: what changed in Engage outside engage-sync. Exit 0 without drift, 2 with
# (the job fails visibly), 1 on error. The report never holds lead values.
set -uo pipefail
out=${ENGAGE_SYNC_DRIFT_DIR:-drift-output}
mkdir -p "$out"
engage-sync plan --refresh-only --format json --out "$out/drift.json" || exit 1
engage-sync plan --refresh-only --detailed-exitcode | tee "$out/drift.txt"
status=${PIPESTATUS[0]}
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  { echo '## engage-sync drift'; echo; echo '```'; cat "$out/drift.txt"; echo '```'; } >>"$GITHUB_STEP_SUMMARY"
fi
if [ "$status" -eq 2 ]; then
  echo "::error::Engage drifted from the lead sets: see above; \`engage-sync apply --refresh\` corrects duplicates, changed phones and reappeared leads"
fi
exit "$status"
