"""cli/ci.py: the CI steps render what the plan operation returns and read nothing back from
text. The sentences of a plan are for people: reworded (by a `sitecustomize` the installed
command loads first), `ci plan` still counts right and `ci apply` still finds the review."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_emulator, stop_emulator
from github_fake import FakeGitHub
from test_team_loop import CAMPAIGN, Team

from engage_sync.cli import ci

# every sentence a person reads in a plan, said otherwise: the summary (in the text plan, the
# markdown and the job summary), the per-campaign counts, the checksum line of the comment
REWORDED = """
import engage_sync.render as render

_summary, _counts, _markdown = render.summary_line, render.counts_line, render.render_markdown


def _words(text):
    for old, new in (("orphaned", "left alone"), ("Plan checksum", "Reviewed as"),
                     ("Plan:", "Would do:"), ("unchanged", "as they were")):
        text = text.replace(old, new)
    return text


render.summary_line = lambda *a, **k: _words(_summary(*a, **k))
render.counts_line = lambda *a, **k: _words(_counts(*a, **k))
render.render_markdown = lambda *a, **k: _words(_markdown(*a, **k))
"""


class Recorded(Team):
    """The team, keeping what each CI step printed."""

    def __init__(self, *args: object) -> None:
        self.steps: list[subprocess.CompletedProcess[str]] = []
        super().__init__(*args)  # type: ignore[arg-type]

    def script(
        self, repo: Path, name: str, env: dict[str, str], *args: str
    ) -> subprocess.CompletedProcess[str]:
        done = super().script(repo, name, env, *args)
        self.steps.append(done)
        return done


@pytest.fixture
def team(tmp_path: Path, github: FakeGitHub) -> Iterator[Recorded]:
    served = start_emulator("--latency", "0.02")
    try:
        yield Recorded(tmp_path, served, github)
    finally:
        stop_emulator(served)


@pytest.mark.e2e
def test_reworded_plan_sentences_change_nothing_ci_plan_and_ci_apply_decide_on(
    team: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "reworded"
    site.mkdir()
    (site / "sitecustomize.py").write_text(REWORDED)
    monkeypatch.setenv("PYTHONPATH", str(site))  # every engage-sync the steps run loads it
    team.open_pr(1, team.write({1: "Ada", 2: "Bea", 3: "Cy"}))
    team.plan(1)
    team.merge(1)
    first = team.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    # T-0003 dropped without prune: an orphan (no change); T-0004 added: one change
    team.open_pr(2, team.write({1: "Ada", 2: "Bea", 4: "Di"}))
    checksum = team.plan(2)
    planned = team.steps[-1].stdout
    assert f"Plan: 1 change(s) to carry out, 1 orphaned; checksum {checksum};" in planned
    body = team.gh.plan_comment(2)
    assert "1 left alone" in body and f"Reviewed as: `{checksum}`" in body  # it was reworded
    assert "orphaned" not in body and "Plan checksum" not in body
    team.merge(2)
    applied = team.apply()
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "not reviewed" not in applied.stdout + applied.stderr
    assert "T-0004" in {r["externId"] for r in team.served.leads(CAMPAIGN)}


def test_apply_runs_on_its_branch_only_in_github_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/main")
    ci._check_ref("main")
    monkeypatch.setenv("GITHUB_REF", "refs/heads/attack")
    with pytest.raises(ci.ConfigError, match="ci apply runs on main only"):
        ci._check_ref("main")
    monkeypatch.setenv("GITHUB_ACTIONS", "false")  # outside Actions: the caller's branch
    ci._check_ref("main")


def test_step_outputs_and_the_summary_go_where_github_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    ci._github_output(checksum="c")  # nowhere asked: nothing written, no error
    ci._summary("text")
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    ci._github_output(**{"has-changes": "true", "checksum": "c"})
    ci._summary("## one\n")
    ci._summary("## two\n")
    assert outputs.read_text() == "has-changes=true\nchecksum=c\n"
    assert summary.read_text() == "## one\n## two\n"
