"""cli/plan.py: which outputs a plan goes to, the one map from what a plan calls for to an exit
code, the refusal of lead values off the user's terminal, and the links to the reviewed commit.
End to end (`engage-sync plan ...`) in test_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from engage_sync.cli.plan import _check_pii, _targets, exit_for, github_source_url
from engage_sync.errors import EngageSyncError, ExitCode
from engage_sync.model import Plan
from engage_sync.reconcile.planning import PlanCounts, PlanOutcome


@pytest.mark.parametrize(
    ("fmt", "outs", "targets"),
    [
        (None, (), [("text", None)]),
        ("json", (), [("json", None)]),
        (None, ("plan.md",), [("markdown", "plan.md")]),
        (None, ("PLAN.JSON",), [("json", "PLAN.JSON")]),
        ("text", ("plan.json",), [("text", "plan.json")]),  # --format wins over one --out
        (
            None,
            ("p.md", "p.json", "p.txt"),
            [("markdown", "p.md"), ("json", "p.json"), ("text", "p.txt")],
        ),
    ],
)
def test_each_out_gets_the_format_its_extension_says(
    fmt: str | None, outs: tuple[str, ...], targets: list[tuple[str, str | None]]
) -> None:
    assert _targets(fmt, outs) == targets


@pytest.mark.parametrize(
    ("fmt", "outs", "why"),
    [
        ("json", ("a.md", "b.json"), "--format goes with one --out"),
        (None, ("a.md", "a.md"), "twice"),
    ],
)
def test_several_outs_refuse_a_format_and_a_repeated_file(
    fmt: str | None, outs: tuple[str, ...], why: str
) -> None:
    with pytest.raises(click.UsageError, match=why):
        _targets(fmt, outs)


def outcome(overdue: int = 0, drifted: bool = False, drift_only: bool = False) -> PlanOutcome:
    quiet = Plan((), None, 0, "c")
    return PlanOutcome(
        quiet, quiet, (), drift_only, PlanCounts(0, 0, 0, 0, 0, 0, 0, False, overdue, drifted)
    )


@pytest.mark.parametrize(
    ("found", "code"),
    [
        (outcome(), ExitCode.OK),
        (outcome(drifted=True), ExitCode.CHANGES),
        (outcome(drifted=True, drift_only=True), ExitCode.CHANGES),
        (outcome(overdue=1, drifted=True), ExitCode.OVERDUE),
    ],
)
def test_what_a_plan_calls_for_is_one_exit_code(found: PlanOutcome, code: ExitCode) -> None:
    assert exit_for(found) is code


@pytest.mark.usefixtures("on_a_terminal")
def test_lead_values_go_to_the_users_terminal_as_text_only() -> None:
    _check_pii(True, [("text", None)])
    _check_pii(False, [("markdown", "plan.md")])  # not asked: nothing to refuse
    for targets in ([("text", "plan.txt")], [("json", None)], [("text", None), ("json", "p")]):
        with pytest.raises(EngageSyncError, match="--format text and without --out"):
            _check_pii(True, targets)


@pytest.mark.usefixtures("on_a_terminal")
def test_lead_values_are_refused_in_ci_whatever_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    with pytest.raises(EngageSyncError, match=r"refused in CI \(GITLAB_CI is set\)"):
        _check_pii(True, [("text", None)])


def test_the_source_link_is_the_pull_requests_head_not_its_merge(tmp_path: Path) -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com/", "GITHUB_REPOSITORY": "o/r"}
    assert github_source_url(env) is None  # no commit named: no links
    merge = {**env, "GITHUB_SHA": "m" * 40}
    assert github_source_url(merge) == f"https://github.com/o/r/blob/{'m' * 40}/"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "h" * 40}}}))
    pulled = {**merge, "GITHUB_EVENT_PATH": str(event)}
    assert github_source_url(pulled) == f"https://github.com/o/r/blob/{'h' * 40}/"
    event.write_text("not json")  # a broken event file: the merge commit, never an error
    assert github_source_url(pulled) == f"https://github.com/o/r/blob/{'m' * 40}/"
    chosen = {**pulled, "ENGAGE_SYNC_SOURCE_SHA": "s" * 40}
    assert github_source_url(chosen) == f"https://github.com/o/r/blob/{'s' * 40}/"
