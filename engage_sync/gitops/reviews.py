"""The change sets reviewed on the pull requests merged since the last apply.

`ci plan` posts the plan as one pull-request comment carrying a hidden marker, the plan's
checksum and the id of the workflow run whose artifact (`engage-sync-plan`) holds the change set
(`changes.tsv`). `ci apply` walks main's commits since the last apply, asks GitHub which pull
requests they came from, and reads each one's change set back from that artifact, checking it
gives the checksum the comment shows: what is applied is what the reviewer saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..changeset import ChangeSet, parse_changeset
from ..errors import ChangeSetError, GitHubError
from .git import Commit
from .github import GitHub, read_from_zip

MARKER = "<!-- engage-sync-plan -->"
ARTIFACT = "engage-sync-plan"
CHANGES = "changes.tsv"
_CHECKSUM = re.compile(r"Plan checksum: `([0-9a-f]{64})`")
_RUN = re.compile(r"<!-- engage-sync-run (\d+) -->")


def comment_body(plan_markdown: str, run_id: str | None) -> str:
    """The pull-request comment: the marker, the markdown plan, and the run holding its change
    set (hidden)."""
    body = plan_markdown if MARKER in plan_markdown else f"{MARKER}\n{plan_markdown}"
    if run_id:
        body = f"{body.rstrip()}\n<!-- engage-sync-run {run_id} -->\n"
    return body


@dataclass
class Reviews:
    """What the merged pull requests' reviews give, and what could not be read."""

    changesets: list[ChangeSet] = field(default_factory=list)
    pulls: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_reviews(github: GitHub, commits: list[Commit]) -> Reviews:
    found = Reviews()
    for commit in commits:
        for number in github.pulls_for_commit(commit.sha):
            if number not in found.pulls:
                found.pulls.append(number)
    for number in found.pulls:
        source = f"#{number}"
        comment = next(
            (c for c in github.comments(number) if MARKER in (c.get("body") or "")), None
        )
        if comment is None:
            found.notes.append(f"{source} has no plan comment (it changed no lead set?)")
            continue
        body = comment.get("body") or ""
        checksum, run = _CHECKSUM.search(body), _RUN.search(body)
        if checksum is None or run is None:
            found.notes.append(
                f"{source}: its plan comment names no checksum or run (made by an older "
                "engage-sync?): its changes count as not reviewed"
            )
            continue
        try:
            data = github.run_artifact(int(run.group(1)), ARTIFACT)
            text = read_from_zip(data, CHANGES) if data is not None else None
        except GitHubError as e:
            found.notes.append(f"{source}: {e}")
            continue
        if text is None:
            found.notes.append(
                f"{source}: the change set of its plan (run {run.group(1)}, artifact "
                f"{ARTIFACT}) is gone or expired: its changes count as not reviewed"
            )
            continue
        try:
            changeset = parse_changeset(text, source)
        except ChangeSetError as e:
            found.notes.append(str(e))
            continue
        if changeset.checksum != checksum.group(1):
            found.notes.append(
                f"{source}: the change set in run {run.group(1)} has checksum "
                f"{changeset.checksum}, not the {checksum.group(1)} its comment shows: not used"
            )
            continue
        found.changesets.append(changeset)
    return found
