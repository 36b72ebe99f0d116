#!/usr/bin/env bash
# Build and check a release, as the release workflow does before publishing anything: the wheel
# and the sdist (python -m build), `twine check --strict`, the wheel installed in a clean virtual
# environment whose `engage-sync --version` must be the package's version (and the tag's, when
# RELEASE_TAG is set), then the whole loop on the bundled examples against that install's
# emulator. Usage: scripts/release.sh [OUT_DIR]   (default dist/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
python=${PYTHON:-python3}
fail() { echo "release: $*" >&2; exit 1; }
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' engage_sync/__init__.py)
[ -n "$version" ] || fail "no __version__ in engage_sync/__init__.py"
if [ -n "${RELEASE_TAG:-}" ] && [ "$RELEASE_TAG" != "v$version" ]; then
  fail "the tag is $RELEASE_TAG but the package version is $version (tag v$version)"
fi
scripts/release-notes.sh "$version" >/dev/null || fail "add a CHANGELOG.md section for $version"
rm -rf "$out"
"$python" -m build ${RELEASE_NO_ISOLATION:+--no-isolation} --outdir "$out" . >/dev/null
"$python" -m twine check --strict "$out"/*.whl "$out"/*.tar.gz
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$out"/*.whl
got=$("$venv/bin/engage-sync" --version)
[ "$got" = "engage-sync, version $version" ] || fail "the installed wheel says '$got', not $version"
ENGAGE_SYNC_BIN="$venv/bin/engage-sync" scripts/demo.sh >/dev/null
echo "release $version: $(cd "$out" && ls | tr '\n' ' ')built, checked, installed and smoke-tested"
