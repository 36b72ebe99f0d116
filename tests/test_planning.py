"""The plan operation without a terminal or a subprocess: real files in tmp_path, the emulator
in-process (httpx's WSGI transport) for the look at Engage, and hooks that record what a user
would have seen. What it returns is typed: nothing here reads rendered text."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write
from test_client import FakeClock, make
from test_operation import ACCOUNT, Hooks, leads, run

from engage_sync.changeset import HEADER, parse_changeset
from engage_sync.config import load_config
from engage_sync.emulator import Emulator
from engage_sync.leadsets.problems import Sink
from engage_sync.model import Plan, SettingsChange
from engage_sync.reconcile.planning import (
    Attention,
    PlanCounts,
    PlanOutcome,
    PlanRequest,
    plan,
)

STATE = Path("engage-sync.state.json")


class Shown:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def reading(self) -> None:
        self.seen.append("reading")

    def read(self, sink: Sink) -> None:
        self.seen.append(f"read {len(sink.warnings)} warning(s)")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "engage-sync.yaml", f'account: "{ACCOUNT}"\nleadsets: leadsets\n')
    return tmp_path


def offline(request: PlanRequest | None = None, hooks: Shown | None = None) -> PlanOutcome:
    return plan(request or PlanRequest(), load_config(None), STATE, None, hooks or Shown())


def look(emu: Emulator, request: PlanRequest) -> PlanOutcome:
    client = make(emu, FakeClock())
    return plan(request, load_config(None), STATE, client, Shown())


def test_a_first_plan_counts_its_changes_and_writes_the_change_set_it_covers(
    folder: Path,
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2, 3))
    hooks = Shown()
    outcome = offline(PlanRequest(changes_to=folder / "changes.tsv"), hooks)
    assert hooks.seen == ["reading", "read 0 warning(s)"]
    assert outcome.counts.create == 3 and outcome.counts.orphaned == 0
    assert outcome.counts.settings  # engage-sync.yaml is not recorded yet: one item
    assert outcome.counts.to_carry_out == outcome.written == 4
    changes = (folder / "changes.tsv").read_text()
    assert changes.startswith(f"{HEADER}{outcome.checksum}\n")
    assert parse_changeset(changes, "changes.tsv").checksum == outcome.checksum
    assert len(parse_changeset(changes, "changes.tsv").items) == outcome.written
    assert outcome.attention is Attention.CHANGES


def test_an_applied_plan_calls_for_nothing_and_a_dropped_lead_is_an_orphan_not_an_item(
    folder: Path, emu: Emulator
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2, 3))
    run(emu, Hooks())
    assert offline().attention is Attention.NONE
    write(folder / "leadsets" / "a.yaml", leads(1, 2))  # L-3 no longer declared, no prune
    outcome = offline(PlanRequest(changes_to=folder / "changes.tsv"))
    assert (outcome.counts.orphaned, outcome.counts.to_carry_out, outcome.written) == (1, 0, 0)
    assert outcome.counts.unchanged == 2
    assert outcome.attention is Attention.CHANGES  # an orphan is worth a look (plan says so)


def test_the_drift_check_looks_at_engage_and_ignores_the_plans_own_changes(
    folder: Path, emu: Emulator
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2))
    run(emu, Hooks())
    write(folder / "leadsets" / "a.yaml", leads(1, 2, 3))  # a change, not drift
    request = PlanRequest(drift_only=True, default_account=ACCOUNT, changes_to=Path("x.tsv"))
    calm = look(emu, request)
    assert calm.plan.refreshed and calm.counts.create == 1
    assert not calm.counts.drifted and calm.attention is Attention.NONE
    assert calm.written is None and not (folder / "x.tsv").exists()  # drift is no change set
    assert emu.store.delete_phone(136785, "4155550101") == 1  # L-1 gone from Engage
    drifted = look(emu, request)
    assert drifted.counts.drifted and drifted.attention is Attention.CHANGES
    # what the change set covers is the offline plan's: the look changes no checksum
    assert drifted.checksum == offline().checksum


def test_the_leads_shown_are_the_first_loads_of_each_lead_set(folder: Path) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2, 3))
    shown = offline().leads_shown(2)
    assert sorted(shown) == [(136785, "L-1"), (136785, "L-2")]
    assert dict(shown[(136785, "L-1")].fields)["firstName"] == "Ada"


def counts(overdue: int = 0, drifted: bool = False) -> PlanCounts:
    return PlanCounts(0, 0, 0, 0, 0, 0, 0, False, overdue, drifted)


CHANGED = Plan((), None, 0, "c", settings=SettingsChange(None, {"account": "1"}))
QUIET = Plan((), None, 0, "c")


@pytest.mark.parametrize(
    ("shown", "drift_only", "found", "attention"),
    [
        (QUIET, False, counts(), Attention.NONE),
        (CHANGED, False, counts(), Attention.CHANGES),
        (QUIET, False, counts(drifted=True), Attention.CHANGES),
        (CHANGED, True, counts(), Attention.NONE),
        (QUIET, True, counts(drifted=True), Attention.CHANGES),
        (CHANGED, False, counts(overdue=1, drifted=True), Attention.OVERDUE),
        (QUIET, True, counts(overdue=2), Attention.OVERDUE),
    ],
)
def test_a_late_opt_out_wins_then_changes_or_drift(
    shown: Plan, drift_only: bool, found: PlanCounts, attention: Attention
) -> None:
    outcome = PlanOutcome(shown, shown, (), drift_only, found)
    assert outcome.attention is attention


def test_counts_of_a_plan_carry_the_settings_item() -> None:
    assert PlanCounts.of(CHANGED).to_carry_out == 1 and PlanCounts.of(QUIET).to_carry_out == 0
