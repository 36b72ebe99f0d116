#!/usr/bin/env bash
# Pull-request check (and a plan on main by workflow_dispatch): `engage-sync ci plan` writes the
# markdown and JSON plan and the change set, fills the job summary and posts the plan comment.
# The logic lives in the package, so pinning a newer engage-sync upgrades it.
set -euo pipefail
exec engage-sync ci plan "$@"
