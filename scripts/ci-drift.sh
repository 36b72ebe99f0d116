#!/usr/bin/env bash
# Scheduled drift check: `engage-sync ci drift`. Exit 0 without drift, 2 with (the job fails
# visibly), 1 on error. The report never holds lead values. The logic lives in the package.
set -euo pipefail
exec engage-sync ci drift "$@"
