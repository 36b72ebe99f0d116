#!/usr/bin/env bash
# The CHANGELOG.md section of one version (without its heading), for the GitHub release.
# Usage: scripts/release-notes.sh VERSION   (a tag's leading v is dropped); fails if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: release-notes.sh VERSION}
version=${version#v}
notes=$(awk -v v="$version" '
  /^## \[/ { if (found) exit; if (index($0, "## [" v "]") == 1) { found = 1; next } }
  found { print }
' CHANGELOG.md)
[ -n "$(printf '%s' "$notes" | tr -d '[:space:]')" ] || {
  echo "release-notes: CHANGELOG.md has no section for $version" >&2
  exit 1
}
printf '%s\n' "$notes" | sed -e '/./,$!d'
