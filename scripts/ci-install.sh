#!/usr/bin/env bash
# Install engage-sync on a CI runner: from this checkout when it is engage-sync's own repository,
# else the pinned release.
set -euo pipefail
ENGAGE_SYNC_VERSION=${ENGAGE_SYNC_VERSION:-0.1.0}
if [ -f pyproject.toml ] && grep -q '^name = "engage-sync"' pyproject.toml; then
  python3 -m pip install --quiet --disable-pip-version-check .
else
  python3 -m pip install --quiet --disable-pip-version-check "engage-sync==${ENGAGE_SYNC_VERSION}"
fi
engage-sync --version
