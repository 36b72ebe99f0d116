"""The apply job's steps around the apply itself, as operations the `ci apply` command calls in
order and renders: restore a state an earlier run kept aside, find what was reviewed since the
last apply, and get the new state to the branch (or keep it, and say how to restore it)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..changeset import ChangeSet
from ..errors import ConfigError, StateNotSaved
from ..optouts import ledger_path
from .git import RESCUE, Git, restore_hint
from .github import GitHub
from .reviews import find_reviews


def restore_rescued(git: Git, attempts: int, backoff: float) -> list[str]:
    """Put every state an earlier apply could not push back on the branch, oldest first, and
    delete its rescue branch. Returns the branches restored; raises StateNotSaved (with how to
    restore by hand) when one cannot be pushed, GitError when one conflicts."""
    restored = []
    for rescued in git.rescues():
        git.restore(rescued)
        pushed, why = git.push(attempts, backoff)
        if not pushed:
            raise StateNotSaved(
                f"restored the state kept on {rescued}, but cannot push it to {git.branch}: "
                f"{why}; " + restore_hint(rescued, git.remote, git.branch)
            )
        git.delete_remote_branch(rescued)
        restored.append(rescued)
    return restored


@dataclass
class Reviewed:
    """What was reviewed since the last apply (`changesets` None: nothing to look up)."""

    changesets: list[ChangeSet] | None
    summary: str
    notes: list[str] = field(default_factory=list)


def reviewed_since_last_apply(git: Git, env: Mapping[str, str]) -> Reviewed:
    """The change sets reviewed on the pull requests merged since the last applied commit.
    Outside GitHub Actions with no token there is nothing to look up: main's plan is applied
    as it is; inside Actions a missing token is an error."""
    github = GitHub.from_env(env)
    if github is None:
        if env.get("GITHUB_ACTIONS") == "true":
            raise ConfigError(
                "GITHUB_TOKEN and GITHUB_REPOSITORY are needed to find the reviewed plans "
                "(give the step `GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}`); nothing posted"
            )
        return Reviewed(
            None,
            "Not in GitHub Actions and no GITHUB_TOKEN: no reviewed plans to check, applying "
            "main's plan as it is (pass --checksum to apply only a plan you reviewed).",
        )
    applied, commits = git.since_last_apply()
    with github:
        reviews = find_reviews(github, commits)
    since = f"since {applied[:12]}, the last commit applied" if applied else "(first apply)"
    pulls = ", ".join(f"#{n}" for n in reviews.pulls) or "none"
    return Reviewed(
        reviews.changesets,
        f"{len(commits)} commit(s) on {git.branch} {since}; their pull requests: {pulls}.",
        reviews.notes,
    )


@dataclass
class Saved:
    committed: bool = False
    pushed: bool = False
    message: str = ""


def save_state(
    git: Git,
    state: Path,
    applied: str,
    report: Path,
    run_id: str | None,
    attempts: int,
    backoff: float,
) -> Saved:
    """Commit the state when the apply changed it, naming the commit it applied, and push it
    rebased onto whatever reached the branch meanwhile. When it cannot be pushed, keep it (a
    rescue branch the next apply restores, and the report folder the workflow uploads) and
    raise StateNotSaved saying how to restore it."""
    ledger = ledger_path(state)  # the evidence of opt-outs carried out goes with the state
    if not state.exists() or not git.changed(state, ledger):
        return Saved()
    git.commit_state(state, applied, ledger)
    if not git.has_remote():
        return Saved(True, False, f"Committed {state} (no remote to push to).")
    pushed, why = git.push(attempts, backoff)
    if pushed:
        return Saved(True, True, f"Committed {state} to {git.branch}.")
    kept = report / state.name
    shutil.copyfile(state, kept)
    if ledger.exists():
        shutil.copyfile(ledger, report / ledger.name)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + (run_id or git.head()[:12])
    on_branch = git.push_rescue(name)
    where = [f"the report folder ({kept}, uploaded as the run's artifact)"]
    if on_branch:
        where.insert(0, f"the branch {RESCUE}{name}, which the next apply restores")
    how = (
        restore_hint(f"{RESCUE}{name}", git.remote, git.branch)
        if on_branch
        else f"copy {state.name} (and {ledger.name}, when there) from the artifact over "
        "yours, commit them and push"
    )
    raise StateNotSaved(
        f"the state could not be pushed to {git.branch} ({why}). What Engage accepted is kept "
        f"in {' and in '.join(where)}. The next apply restores it from that branch before "
        "anything else; without the branch it still looks each campaign's first creates up in "
        f"Engage before posting (all of them once one is found), so nothing is loaded twice; "
        f"{how}."
    )
