"""gitops/loop.py: the apply job's steps around the apply, against an in-memory Git and GitHub
with the interfaces the steps use: which rescue branch is restored and why one is refused, what
counts as reviewed, and where a state that cannot be pushed is kept. The whole loop (real git,
the fake GitHub over HTTP, the installed command) is in test_team_loop.py and
test_review_gate.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engage_sync.errors import ConfigError, GitError, GitHubError, StateNotSaved
from engage_sync.gitops.git import RESCUE, SUBJECT, Commit
from engage_sync.gitops.loop import (
    APPLY_WORKFLOW,
    REPORT_ARTIFACT,
    check_rescue,
    restore_rescued,
    reviewed_since_last_apply,
    save_state,
)
from engage_sync.gitops.reviews import Rules

STATE_NAME = "engage-sync.state.json"
LEDGER_NAME = "engage-sync.evidence.jsonl"
BRANCH = f"{RESCUE}20261201T120000Z-4242"


def state_commit(sha: str = "c0ffee", parents: tuple[str, ...] = ("base",)) -> Commit:
    return Commit(sha, parents, SUBJECT)


@dataclass
class FakeGit:
    """The repository as the steps see it: `touched` per commit, `blobs` per (sha, path), the
    first-parent history after a commit (None: not on it), and every change recorded."""

    top_dir: Path
    branch: str = "main"
    remote: str = "origin"
    rescue_branches: dict[str, Commit] = field(default_factory=dict)
    touched: dict[str, list[str]] = field(default_factory=dict)
    blobs: dict[tuple[str, str], str] = field(default_factory=dict)
    after: dict[str, list[Commit] | None] = field(default_factory=dict)
    pushes: list[bool] = field(default_factory=list)  # what each push answers, in turn
    remote_set: bool = True
    rescue_pushed: bool = True
    dirty: bool = True
    since: tuple[str, list[Commit]] | GitError = ("", [])
    done: list[tuple[str, ...]] = field(default_factory=list)

    def rescues(self) -> list[str]:
        return sorted(self.rescue_branches)

    def fetch_branch(self, branch: str) -> Commit:
        return self.rescue_branches[branch]

    def top(self) -> Path:
        return self.top_dir

    def changed_paths(self, commit: Commit) -> list[str]:
        return self.touched.get(commit.sha, [])

    def first_parent_after(self, sha: str) -> list[Commit] | None:
        return self.after.get(sha)

    def blob_id(self, sha: str, path: str) -> str | None:
        return self.blobs.get((sha, path))

    def restore(self, commit: Commit, branch: str) -> None:
        self.done.append(("restore", commit.sha, branch))

    def push(self, attempts: int, backoff: float) -> tuple[bool, str]:
        ok = self.pushes.pop(0) if self.pushes else True
        self.done.append(("push", str(ok)))
        return ok, "" if ok else "rejected: fetch first"

    def delete_remote_branch(self, branch: str, expect: str) -> None:
        self.done.append(("delete", branch, expect))

    def since_last_apply(self) -> tuple[str, list[Commit]]:
        if isinstance(self.since, GitError):
            raise self.since
        return self.since

    def changed(self, *paths: Path) -> bool:
        return self.dirty

    def commit_state(self, state: Path, applied: str, ledger: Path) -> None:
        self.done.append(("commit", state.name, applied, ledger.name))

    def has_remote(self) -> bool:
        return self.remote_set

    def head(self) -> str:
        return "abcdef0123456789"

    def push_rescue(self, name: str) -> bool:
        self.done.append(("rescue", name))
        return self.rescue_pushed


@dataclass
class FakeGitHub:
    """The apply runs and their reports: `members` is what run's report archive holds (name ->
    blob id), None when the run kept none."""

    path: str = APPLY_WORKFLOW
    head_branch: str = "main"
    event: str = "push"
    members: dict[str, str] | None = field(default_factory=dict)
    fails: bool = False
    pulls: dict[str, list[int]] = field(default_factory=dict)

    def run(self, run_id: int) -> Any:
        if self.fails:
            raise GitHubError("GitHub API: HTTP 502")
        return SimpleNamespace(path=self.path, head_branch=self.head_branch, event=self.event)

    @contextlib.contextmanager
    def artifact(self, run_id: int, name: str) -> Iterator[Any]:
        assert name == REPORT_ARTIFACT
        yield self.members

    def member_blob_id(self, archive: dict[str, str], member: str, sha256: bool = False) -> str:
        return archive.get(member, "")

    def pulls_for_commit(self, sha: str) -> list[int]:
        if sha not in self.pulls:
            raise GitHubError("GitHub API: HTTP 500")
        return self.pulls[sha]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path


def genuine(repo: Path) -> tuple[FakeGit, FakeGitHub, Path]:
    """A rescue branch exactly as an apply run left it."""
    commit = state_commit()
    git = FakeGit(
        repo,
        rescue_branches={BRANCH: commit},
        touched={commit.sha: [STATE_NAME, LEDGER_NAME]},
        blobs={(commit.sha, STATE_NAME): "b" * 40, (commit.sha, LEDGER_NAME): "e" * 40},
        after={"base": [Commit("m1", ("base",), "a merge")]},
    )
    github = FakeGitHub(members={STATE_NAME: "b" * 40, LEDGER_NAME: "e" * 40})
    return git, github, repo / STATE_NAME


# -- rescue branches -----------------------------------------------------------------------------
def test_a_rescue_branch_exactly_as_an_apply_left_it_passes(repo: Path) -> None:
    git, github, state = genuine(repo)
    assert check_rescue(git, github, BRANCH, state_commit(), state) == ""


def refusal(repo: Path, change: str) -> str:
    git, github, state = genuine(repo)
    commit = state_commit()
    if change == "outside":
        state = repo.parent / "elsewhere" / STATE_NAME
    elif change == "not a state commit":
        commit = Commit("c0ffee", ("base",), "edit the state")
    elif change == "a merge":
        commit = Commit("c0ffee", ("base", "other"), SUBJECT)
    elif change == "settings too":
        git.touched["c0ffee"] = [STATE_NAME, "engage-sync.yaml"]
    elif change == "nothing":
        git.touched["c0ffee"] = []
    elif change == "off the branch":
        git.after = {}
    elif change == "stale":
        git.after["base"] = [state_commit("newer")]
    elif change == "no run":
        return check_rescue(git, github, f"{RESCUE}hand-made", commit, state)
    elif change == "no token":
        github = None  # type: ignore[assignment]
    elif change == "report unreadable":
        github.fails = True
    elif change == "another workflow":
        github.path = ".github/workflows/plan.yml"
    elif change == "another branch":
        github.head_branch = "feature"
    elif change == "a pull request's run":
        github.event = "pull_request"
    elif change == "no report":
        github.members = None
    elif change == "another state":
        assert github.members is not None
        github.members[STATE_NAME] = "f" * 40
    return check_rescue(git, github, BRANCH, commit, state)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("outside", "the state file is not inside the repository"),
        ("not a state commit", "its commit is not a state commit engage-sync made"),
        ("a merge", "its commit is not a state commit engage-sync made"),
        ("settings too", "its commit changes engage-sync.yaml besides the state"),
        ("nothing", "its commit changes nothing besides the state"),
        ("off the branch", "its parent is not on main's history"),
        ("stale", "an apply has recorded a newer state on main since (it is stale)"),
        ("no run", "its name gives no workflow run to check it against"),
        ("no token", "it can only be checked against its run's apply report with GITHUB_TOKEN"),
        ("report unreadable", "its run's apply report cannot be read (GitHub API: HTTP 502)"),
        ("another workflow", f"run 4242 is not the apply workflow ({APPLY_WORKFLOW}) on main"),
        ("another branch", f"run 4242 is not the apply workflow ({APPLY_WORKFLOW}) on main"),
        ("a pull request's run", "run 4242 was triggered by pull_request"),
        ("no report", "run 4242 kept no apply report (expired?)"),
        ("another state", f"its {STATE_NAME} is not the one run 4242 kept in its apply report"),
    ],
)
def test_a_rescue_branch_that_is_not_what_an_apply_left_is_refused(
    repo: Path, change: str, why: str
) -> None:
    assert refusal(repo, change) == why


def test_rescues_are_restored_pushed_and_deleted_and_others_left_alone(repo: Path) -> None:
    git, github, state = genuine(repo)
    hand_made = f"{RESCUE}zz-hand-made"
    git.rescue_branches[hand_made] = state_commit("beef")
    done = restore_rescued(git, github, state, attempts=3, backoff=0.0)  # type: ignore[arg-type]
    assert done.restored == [BRANCH]
    (refused,) = done.refused
    assert refused.startswith(f"{hand_made} was not restored: its commit changes nothing")
    assert f"git fetch origin {hand_made}" in refused and refused.endswith("otherwise delete it")
    assert git.done == [
        ("restore", "c0ffee", BRANCH),
        ("push", "True"),
        ("delete", BRANCH, "c0ffee"),
    ]


def test_a_restored_state_that_cannot_be_pushed_stops_the_apply_saying_how(repo: Path) -> None:
    git, github, state = genuine(repo)
    git.pushes = [False]
    with pytest.raises(StateNotSaved) as e:
        restore_rescued(git, github, state, attempts=3, backoff=0.0)  # type: ignore[arg-type]
    assert str(e.value).startswith(
        f"restored the state kept on {BRANCH}, but cannot push it to main: rejected: fetch first;"
    )
    assert "git cherry-pick FETCH_HEAD" in str(e.value)
    assert ("delete", BRANCH, "c0ffee") not in git.done  # the branch stays


# -- what was reviewed ---------------------------------------------------------------------------
def test_outside_actions_with_no_token_mains_plan_is_applied_as_it_is(repo: Path) -> None:
    reviewed = reviewed_since_last_apply(FakeGit(repo), None, {}, Rules())  # type: ignore[arg-type]
    assert reviewed.changesets is None and "applying main's plan as it is" in reviewed.summary


def test_inside_actions_a_missing_token_is_an_error(repo: Path) -> None:
    with pytest.raises(ConfigError, match="GITHUB_TOKEN and GITHUB_REPOSITORY are needed"):
        reviewed_since_last_apply(FakeGit(repo), None, {"GITHUB_ACTIONS": "true"}, Rules())  # type: ignore[arg-type]


def test_commits_that_cannot_be_told_count_as_not_reviewed(repo: Path) -> None:
    git = FakeGit(repo, since=GitError("git log: bad revision"))
    reviewed = reviewed_since_last_apply(git, FakeGitHub(), {}, Rules())  # type: ignore[arg-type]
    assert reviewed.changesets == [] and reviewed.notes == ["git log: bad revision"]
    assert reviewed.summary.startswith("Cannot tell which commits on main the last apply covered")


def test_the_summary_names_the_commits_and_their_pull_requests(repo: Path) -> None:
    commits = [Commit("a" * 40, ("p",), "one"), Commit("b" * 40, ("a" * 40,), "two")]
    git = FakeGit(repo, since=("0123456789abcdef", commits))
    github = FakeGitHub(pulls={"a" * 40: [], "b" * 40: []})
    reviewed = reviewed_since_last_apply(git, github, {}, Rules())  # type: ignore[arg-type]
    assert reviewed.changesets == [] and reviewed.notes == []
    assert reviewed.summary == (
        "2 commit(s) on main since 0123456789ab, the last commit applied; their pull "
        "requests: none."
    )
    git.since = ("", commits[:1])
    github.pulls = {}  # GitHub cannot say: a note, not an error
    reviewed = reviewed_since_last_apply(git, github, {}, Rules())  # type: ignore[arg-type]
    assert reviewed.summary == "1 commit(s) on main (first apply); their pull requests: none."
    assert "cannot ask GitHub which pull request it came from" in reviewed.notes[0]


# -- the state to the branch ---------------------------------------------------------------------
def test_an_unchanged_or_absent_state_is_not_committed(repo: Path) -> None:
    git = FakeGit(repo)
    assert save_state(git, repo / STATE_NAME, "main1", repo, None, 3, 0.0).committed is False  # type: ignore[arg-type]
    (repo / STATE_NAME).write_text("{}")
    git.dirty = False
    assert save_state(git, repo / STATE_NAME, "main1", repo, None, 3, 0.0).committed is False  # type: ignore[arg-type]
    assert git.done == []


def test_a_changed_state_is_committed_naming_what_was_applied_and_pushed(repo: Path) -> None:
    (repo / STATE_NAME).write_text("{}")
    git = FakeGit(repo)
    saved = save_state(git, repo / STATE_NAME, "main1", repo, "77", 3, 0.0)  # type: ignore[arg-type]
    assert (saved.committed, saved.pushed) == (True, True)
    assert saved.message == f"Committed {repo / STATE_NAME} to main."
    assert git.done == [("commit", STATE_NAME, "main1", LEDGER_NAME), ("push", "True")]
    git.remote_set = False
    saved = save_state(git, repo / STATE_NAME, "main1", repo, "77", 3, 0.0)  # type: ignore[arg-type]
    assert (saved.committed, saved.pushed) == (True, False)
    assert saved.message.endswith("(no remote to push to).")


def test_a_state_that_cannot_be_pushed_is_kept_on_a_rescue_branch_and_in_the_report(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (repo / STATE_NAME).write_text('{"v": 1}')
    (repo / LEDGER_NAME).write_text("{}\n")
    report = tmp_path_factory.mktemp("report")
    git = FakeGit(repo, pushes=[False])
    with pytest.raises(StateNotSaved) as e:
        save_state(git, repo / STATE_NAME, "main1", report, "4242", 3, 0.0)  # type: ignore[arg-type]
    (rescue,) = [d for d in git.done if d[0] == "rescue"]
    assert rescue[1].endswith("-4242")  # the run that kept it: what the next apply checks
    assert (report / STATE_NAME).read_text() == '{"v": 1}'
    assert (report / LEDGER_NAME).read_text() == "{}\n"
    message = str(e.value)
    assert message.startswith("the state could not be pushed to main (rejected: fetch first).")
    assert f"the branch {RESCUE}{rescue[1]}, which the next apply restores" in message
    assert "git cherry-pick FETCH_HEAD" in message


def test_with_no_rescue_branch_the_report_is_where_the_state_is(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (repo / STATE_NAME).write_text("{}")
    report = tmp_path_factory.mktemp("report")
    git = FakeGit(repo, pushes=[False], rescue_pushed=False)
    with pytest.raises(StateNotSaved) as e:
        save_state(git, repo / STATE_NAME, "main1", report, None, 3, 0.0)  # type: ignore[arg-type]
    (rescue,) = [d for d in git.done if d[0] == "rescue"]
    assert rescue[1].endswith("-abcdef012345")  # no run id: the commit's
    assert not (report / LEDGER_NAME).exists()  # none to keep
    message = str(e.value)
    assert "which the next apply restores" not in message
    assert f"copy {STATE_NAME} (and {LEDGER_NAME}, when there) from the artifact" in message
