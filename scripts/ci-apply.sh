#!/usr/bin/env bash
# On merge: `engage-sync ci apply` carries out the plans reviewed on the pull requests merged since
# the last apply and commits the state to main (rebased onto whatever landed meanwhile, or kept
# on a rescue branch that the next apply restores). The logic lives in the package.
set -euo pipefail
exec engage-sync ci apply "$@"
