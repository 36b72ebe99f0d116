"""What git knows of a tombstone's line: the commit that wrote it and that commit's author date.

Never fails a plan: outside a repository, without git, for a line not committed yet, or for a
line a shallow clone attributes to its cut-off commit (the history that would date it was not
fetched), git simply knows nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

_UNCOMMITTED = "0" * 40


def blame(path: Path, lines: Iterable[int], zone: ZoneInfo) -> dict[int, tuple[str, date]]:
    """For each of these lines of a file, (commit, its author date in `zone`), when git knows."""
    wanted = sorted(set(lines))
    if not wanted or not path.is_file():
        return {}
    ranges = [arg for n in wanted for arg in ("-L", f"{n},{n}")]
    where = path.resolve().parent
    out = _git(where, "blame", "--line-porcelain", "--root", *ranges, "--", path.name)
    if out is None:
        return {}
    shallow = _shallow_commits(where)
    found: dict[int, tuple[str, date]] = {}
    sha, line, when = "", 0, None
    for row in out.splitlines():
        if row.startswith("\t"):  # the line itself ends each entry
            if sha != _UNCOMMITTED and sha not in shallow and when is not None:
                found[line] = (sha, datetime.fromtimestamp(when, zone).date())
            sha, line, when = "", 0, None
        elif row.startswith("author-time "):
            when = int(row.split(" ", 1)[1])
        elif not sha:
            parts = row.split(" ")
            if len(parts) >= 3 and len(parts[0]) == 40:
                sha, line = parts[0], int(parts[2])
    return found


def _shallow_commits(where: Path) -> set[str]:
    """The commits a shallow clone was cut at (blame gives them every older line)."""
    path = _git(where, "rev-parse", "--path-format=absolute", "--git-path", "shallow")
    if path is None:
        return set()
    try:
        return set(Path(path.strip()).read_text(encoding="ascii").split())
    except OSError:  # not shallow
        return set()


def _git(where: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
