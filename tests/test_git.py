"""The apply job's git side, on real repositories: the commits since the last apply (through a
shallow clone), a state commit pushed onto a main that moved, and one that cannot be."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engage_sync.errors import GitError
from engage_sync.gitops.git import SUBJECT, Commit, Git


def sh(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    sh(repo, "add", name)
    sh(repo, "commit", "-q", "-m", message)
    return sh(repo, "rev-parse", "HEAD")


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path]:
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    dev = tmp_path / "dev"
    subprocess.run(["git", "clone", "-q", str(bare), str(dev)], check=True, capture_output=True)
    sh(dev, "checkout", "-q", "-b", "main")
    sh(dev, "config", "user.name", "Dev")
    sh(dev, "config", "user.email", "dev@example.com")
    return bare, dev


def clone(bare: Path, dest: Path, depth: int = 1) -> Git:
    subprocess.run(
        ["git", "clone", "-q", "--depth", str(depth), f"file://{bare}", str(dest)], check=True
    )
    return Git(dest, sleep=lambda s: None)


def test_the_commits_since_the_last_apply_through_a_shallow_clone(
    origin: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, dev = origin
    for i in range(80):  # old history the clone never needs
        commit(dev, "old.yaml", str(i), f"old {i}")
    first = commit(dev, "a.yaml", "1", "first")
    applied = commit(dev, "a.yaml", "2", "merge #1")
    commit(dev, "state.json", "{}", f"{SUBJECT}\n\nEngage-Sync-Applied: {first}\n")
    later = [commit(dev, "a.yaml", str(i), f"merge #{i}") for i in range(3, 20)]
    sh(dev, "push", "-q", "origin", "main")
    git = clone(bare, tmp_path / "ci")
    base, commits = git.since_last_apply()
    # the state commit names the commit it applied: what came after it is still to do, the
    # merge that landed under the state commit included
    assert base == first
    assert [c.sha for c in commits] == [applied, *later]
    assert sh(tmp_path / "ci", "rev-parse", "--is-shallow-repository") == "true"


def test_never_applied_means_all_of_main(origin: tuple[Path, Path], tmp_path: Path) -> None:
    bare, dev = origin
    shas = [commit(dev, "a.yaml", str(i), f"c{i}") for i in range(3)]
    sh(dev, "push", "-q", "origin", "main")
    base, commits = clone(bare, tmp_path / "ci").since_last_apply()
    assert base is None and [c.sha for c in commits] == shas


def test_a_state_commit_of_an_older_engage_sync_applied_its_parent() -> None:
    old = Commit("s", ("p",), "engage-sync: record applied leads [skip ci]")
    assert old.is_state and old.applied == "p"
    assert not Commit("x", ("p",), "Merge #3").is_state


def state_committed(bare: Path, dev: Path, work: Path) -> tuple[Git, str, str]:
    """An apply job's checkout with its state commit made: (git, the commit applied, it)."""
    commit(dev, "state.json", "{}\n", "first")
    sh(dev, "push", "-q", "origin", "main")
    git = clone(bare, work)
    (work / "state.json").write_text('{"serial": 1}\n')
    head = git.head()
    return git, head, git.commit_state(Path("state.json"), head)


def test_the_state_commit_is_rebased_onto_a_main_that_moved(
    origin: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, dev = origin
    git, head, made = state_committed(bare, dev, tmp_path / "ci")
    merged = commit(dev, "a.yaml", "x", "merge #2")  # lands while the apply runs
    sh(dev, "push", "-q", "origin", "main")
    assert git.push(attempts=3, backoff=0) == (True, "")
    sh(dev, "fetch", "-q")
    top, below = sh(dev, "log", "--format=%H %P", "-2", "origin/main").splitlines()
    assert top.split()[1] == merged and below.split()[0] == merged
    assert top.split()[0] != made  # rebased, not forced
    trailer = sh(dev, "log", "-1", "--format=%b", "origin/main").strip()
    assert trailer == f"Engage-Sync-Applied: {head}"


def test_a_state_commit_that_conflicts_is_not_pushed_and_can_be_rescued(
    origin: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, dev = origin
    git, _, _ = state_committed(bare, dev, tmp_path / "ci")
    commit(dev, "state.json", '{"serial": 99}\n', "a hand edit of the state")
    sh(dev, "push", "-q", "origin", "main")
    pushed, why = git.push(attempts=3, backoff=0)
    assert not pushed and "someone else changed the state file" in why
    assert git.push_rescue("20261202T000000Z-1")
    assert git.rescues() == ["engage-sync/rescue/20261202T000000Z-1"]
    fresh = clone(bare, tmp_path / "next")
    kept = fresh.fetch_branch("engage-sync/rescue/20261202T000000Z-1")
    assert kept.is_state and fresh.changed_paths(kept) == ["state.json"]
    with pytest.raises(GitError, match="restore it by hand"):
        fresh.restore(kept, "engage-sync/rescue/20261202T000000Z-1")
    assert sh(tmp_path / "next", "status", "--porcelain") == ""  # the pick was aborted
