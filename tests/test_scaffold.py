"""`engage-sync init` (cli/scaffold.py): a new repository gets an example lead set and the next
steps; an existing one gets no example and hears only what is missing or out of date."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Served, engage_sync

from engage_sync import __version__
from engage_sync.cli.scaffold import LOCAL_FILES
from engage_sync.config import _RAILS, Rails, load_config


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Ops", "-c", "user.email=ops@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


OWN = (
    "campaign: {id: 136785, name: Renewal Outreach}\n"
    "leads:\n"
    '  - {externId: "OWN-1", leadPhone: "4155550171"}\n'
    '  - {externId: "OWN-2", leadPhone: "4155550172"}\n'
)


@pytest.mark.e2e
def test_init_in_the_repository_a_user_made_adds_no_example_and_reports_nothing(
    tmp_path: Path, emulator_process: Served
) -> None:
    """README "A first real use": init, replace the example with your own lead set, commit; a
    later `init .` (to see what is out of date) must not bring the example back, or the next
    apply loads "Ada Lovelace" into the real campaign."""
    repo = tmp_path / "my-leads"
    made = engage_sync("init", str(repo), "--account", "99990001")
    assert made.code == 0, made.err
    assert "  created leadsets/example.yaml" in made.out
    assert "set `account`" not in made.out  # it was given
    (repo / "leadsets" / "example.yaml").unlink()
    (repo / "leadsets" / "renewals.yaml").write_text(OWN)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "my lead sets")
    again = engage_sync("init", ".", cwd=repo)
    assert again.code == 0, again.err
    assert again.out == f". is up to date with engage-sync {__version__}: nothing to do.\n"
    assert not (repo / "leadsets" / "example.yaml").exists()
    assert git(repo, "status", "--porcelain") == ""
    applied = engage_sync(
        "apply", "--auto-approve", env=emulator_process.env("api-token"), cwd=repo
    )
    assert applied.code == 0, applied.out + applied.err
    loaded = sorted(lead["externId"] for lead in emulator_process.leads(136785))
    assert "EX-1" not in loaded and {"OWN-1", "OWN-2"} <= set(loaded)


@pytest.mark.parametrize(
    "mark",
    ["engage-sync.yaml", "leadsets", "a commit"],
)
def test_an_existing_repository_gets_no_example(tmp_path: Path, mark: str, run: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    if mark == "engage-sync.yaml":
        (repo / "engage-sync.yaml").write_text('account: "123"\n')
    elif mark == "leadsets":
        (repo / "leadsets").mkdir()
    else:
        (repo / "README.md").write_text("our repository\n")
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "first")
    result = run("init", str(repo), "--account", "123")
    assert result.code == 0, result.err
    assert not (repo / "leadsets" / "example.yaml").exists()
    assert (repo / ".github" / "workflows" / "apply.yml").is_file()
    assert "kept existing" not in result.out
    if mark != "engage-sync.yaml":  # scaffolded now: what to do next, without the example
        assert "put your lead sets in leadsets/ (no example is added: it " in result.out
        assert "replace leadsets/example.yaml" not in result.out


def test_a_git_repository_with_no_commit_yet_is_new(tmp_path: Path, run: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    assert run("init", str(repo)).code == 0
    assert (repo / "leadsets" / "example.yaml").is_file()


def test_init_says_to_set_the_account_only_when_it_was_not_given(tmp_path: Path, run: Any) -> None:
    without = run("init", str(tmp_path / "a"))
    assert "Next: set `account` in engage-sync.yaml, replace leadsets/example.yaml" in without.out
    assert load_config(str(tmp_path / "a" / "engage-sync.yaml")).account == "00000000"
    given = run("init", str(tmp_path / "b"), "--account", "12345678")
    assert "Next: replace leadsets/example.yaml with your lead sets" in given.out
    assert "set `account`" not in given.out
    assert load_config(str(tmp_path / "b" / "engage-sync.yaml")).account == "12345678"


def test_the_scaffolded_settings_name_every_rail_with_its_default(tmp_path: Path, run: Any) -> None:
    assert run("init", str(tmp_path / "new")).code == 0
    written = yaml.safe_load((tmp_path / "new" / "engage-sync.yaml").read_text())
    assert sorted(written["rails"]) == sorted(_RAILS)  # maxPruneFraction, minAppliedForPruneRail
    assert load_config(str(tmp_path / "new" / "engage-sync.yaml")).rails == Rails()


def test_a_gitignore_without_the_pacing_memory_is_out_of_date_and_upgrade_adds_it(
    tmp_path: Path, run: Any
) -> None:
    repo = tmp_path / "old"
    assert run("init", str(repo)).code == 0
    ignore = repo / ".gitignore"
    ignore.write_text(ignore.read_text().replace("engage-sync.state.json.pacing\n", ""))
    told = run("init", str(repo))
    assert told.out == (
        f"{repo} is out of date for engage-sync {__version__}: add "
        "engage-sync.state.json.pacing to .gitignore. "
        f"`engage-sync init --upgrade {repo}` does it (settings and lead sets are never touched).\n"
    )
    done = run("init", "--upgrade", str(repo))
    assert done.out == "  added engage-sync.state.json.pacing to .gitignore\n"
    assert set(LOCAL_FILES) <= set(ignore.read_text().splitlines())
    assert "out of date" not in run("init", str(repo)).out


def test_a_first_scaffold_adds_its_lines_to_a_gitignore_of_the_repository(
    tmp_path: Path, run: Any
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".gitignore").write_text("node_modules")  # no newline at the end
    assert run("init", str(repo)).code == 0
    assert (repo / ".gitignore").read_text().splitlines() == ["node_modules", *LOCAL_FILES]
