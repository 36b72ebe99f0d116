"""The apply job's steps around the apply itself, as operations the `ci apply` command calls in
order and renders: restore a state an earlier run kept aside, find what was reviewed since the
last apply, and get the new state to the branch (or keep it, and say how to restore it)."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..changeset import ChangeSet
from ..errors import ConfigError, GitError, GitHubError, StateNotSaved
from ..optouts import ledger_path
from .git import RESCUE, Commit, Git, restore_hint
from .github import GitHub
from .reviews import Rules, find_reviews

APPLY_WORKFLOW = ".github/workflows/apply.yml"
REPORT_ARTIFACT = "engage-sync-apply-report"
_RUN_OF_RESCUE = re.compile(r"-([1-9][0-9]{0,19})$")


@dataclass
class Restored:
    """The rescues put back on the branch, and those refused (each with why)."""

    restored: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def restore_rescued(
    git: Git,
    github: GitHub | None,
    state: Path,
    attempts: int,
    backoff: float,
    apply_workflow: str = APPLY_WORKFLOW,
) -> Restored:
    """Put every state an earlier apply could not push back on the branch, oldest first, and
    delete its rescue branch, when it is exactly what an apply run left (`check_rescue`); any
    other is refused and left alone, with why. Raises StateNotSaved (with how to restore by
    hand) when one cannot be pushed, GitError when one conflicts."""
    done = Restored()
    for branch in git.rescues():
        commit = git.fetch_branch(branch)
        why = check_rescue(git, github, branch, commit, state, apply_workflow)
        if why:
            done.refused.append(
                f"{branch} was not restored: {why}. If it is a state an apply kept, "
                + restore_hint(branch, git.remote, git.branch)
                + "; otherwise delete it"
            )
            continue
        git.restore(commit, branch)
        pushed, whynot = git.push(attempts, backoff)
        if not pushed:
            raise StateNotSaved(
                f"restored the state kept on {branch}, but cannot push it to {git.branch}: "
                f"{whynot}; " + restore_hint(branch, git.remote, git.branch)
            )
        git.delete_remote_branch(branch, expect=commit.sha)
        done.restored.append(branch)
    return done


def check_rescue(
    git: Git,
    github: GitHub | None,
    branch: str,
    commit: Commit,
    state: Path,
    apply_workflow: str = APPLY_WORKFLOW,
) -> str:
    """Why a rescue branch is not exactly what an apply run left ("" when it is): a state
    commit touching the state and the ledger only, on top of a commit of the branch's
    first-parent history with no state commit since, byte for byte the state and ledger kept
    in the apply report of the run its name gives (the apply workflow, on the branch)."""
    top = git.top()
    try:
        kept = {
            p.resolve().relative_to(top.resolve()).as_posix(): p.name
            for p in (state, ledger_path(state))
        }
    except ValueError:
        return "the state file is not inside the repository"
    if not commit.is_state or len(commit.parents) != 1:
        return "its commit is not a state commit engage-sync made"
    touched = git.changed_paths(commit)
    other = sorted(set(touched) - set(kept))
    if other or not touched:
        return f"its commit changes {', '.join(other[:3]) or 'nothing'} besides the state"
    after = git.first_parent_after(commit.parents[0])
    if after is None:
        return f"its parent is not on {git.branch}'s history"
    if any(c.is_state for c in after):
        return f"an apply has recorded a newer state on {git.branch} since (it is stale)"
    run = _RUN_OF_RESCUE.search(branch)
    if run is None:
        return "its name gives no workflow run to check it against"
    if github is None:
        return "it can only be checked against its run's apply report with GITHUB_TOKEN"
    try:
        return _check_report(git, github, int(run.group(1)), commit, kept, touched, apply_workflow)
    except GitHubError as e:
        return f"its run's apply report cannot be read ({e})"


def _check_report(
    git: Git,
    github: GitHub,
    run_id: int,
    commit: Commit,
    kept: dict[str, str],
    touched: list[str],
    apply_workflow: str,
) -> str:
    run = github.run(run_id)
    if run.path != apply_workflow or run.head_branch != git.branch:
        return f"run {run_id} is not the apply workflow ({apply_workflow}) on {git.branch}"
    if run.event not in ("push", "workflow_dispatch"):
        return f"run {run_id} was triggered by {run.event or 'an unknown event'}"
    with github.artifact(run_id, REPORT_ARTIFACT) as archive:
        if archive is None:
            return f"run {run_id} kept no apply report (expired?)"
        for path in touched:
            name = kept[path]
            blob = git.blob_id(commit.sha, path)
            if blob is None or github.member_blob_id(archive, name, len(blob) == 64) != blob:
                return f"its {name} is not the one run {run_id} kept in its apply report"
    return ""


@dataclass
class Reviewed:
    """What was reviewed since the last apply (`changesets` None: nothing to look up)."""

    changesets: list[ChangeSet] | None
    summary: str
    notes: list[str] = field(default_factory=list)


def reviewed_since_last_apply(
    git: Git, github: GitHub | None, env: Mapping[str, str], rules: Rules
) -> Reviewed:
    """The change sets reviewed on the pull requests merged since the last applied commit.
    Outside GitHub Actions with no token there is nothing to look up: main's plan is applied
    as it is; inside Actions a missing token is an error. When the lookup itself fails, nothing
    counts as reviewed (tombstones are still carried out) and a note says why."""
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
    try:
        applied, commits = git.since_last_apply()
    except GitError as e:
        return Reviewed(
            [],
            f"Cannot tell which commits on {git.branch} the last apply covered: nothing counts "
            "as reviewed in this run (tombstones are carried out all the same).",
            [str(e)],
        )
    reviews = find_reviews(github, commits, rules)
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
