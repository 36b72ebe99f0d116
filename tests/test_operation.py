"""The apply operation without a terminal or a subprocess: the emulator in-process (httpx's WSGI
transport), a fake clock, and hooks that record what a user would have seen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import write
from test_client import FakeClock, make

from engage_sync.changeset import ChangeSet, plan_items
from engage_sync.config import load_config
from engage_sync.emulator import Emulator
from engage_sync.model import Plan, Problem
from engage_sync.reconcile.operation import ApplyOutcome, ApplyRequest, apply
from engage_sync.state import load_state

ACCOUNT = "99990001"
HEAD = (
    "campaign: 136785\noptions: {duplicateHandling: RETAIN_ALL, dialPriority: NORMAL,"
    " timeZoneOption: NPA_NXX}\n"
)


class Hooks:
    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.shown: list[Plan] = []
        self.decided_: list[ApplyOutcome] = []
        self.asked: list[tuple[int, int]] = []
        self.answered = 0
        self.closed = False

    def planned(self, plan: Plan, rails: list[str], warnings: list[Problem]) -> None:
        self.shown.append(plan)

    def decided(self, outcome: ApplyOutcome) -> None:
        self.decided_.append(outcome)

    def confirm(self, to_post: int, to_remove: int) -> bool:
        self.asked.append((to_post, to_remove))
        return self.answer

    def reading(self) -> None:
        return None

    def progress(self, total: int) -> Callable[[int], None]:
        def step(n: int) -> None:
            self.answered += n

        return step

    def done(self) -> None:
        self.closed = True


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "engage-sync.yaml", f'account: "{ACCOUNT}"\nleadsets: leadsets\n')
    return tmp_path


def leads(*numbers: int, removed: tuple[int, ...] = ()) -> str:
    text = (
        HEAD
        + "leads:\n"
        + "".join(
            f'  - {{externId: "L-{i}", leadPhone: "41555501{i:02d}", firstName: Ada}}\n'
            for i in numbers
        )
    )
    if removed:
        text += "removed:\n" + "".join(f'  - {{externId: "L-{i}"}}\n' for i in removed)
    return text


def run(emu: Emulator, hooks: Hooks, **request: object) -> ApplyOutcome:
    client = make(emu, FakeClock())  # the emulator in-process, as test_client makes it
    req = ApplyRequest(default_account=ACCOUNT, lookup_delay=0.0, **request)  # type: ignore[arg-type]
    return apply(req, load_config(None), Path("engage-sync.state.json"), client, hooks)


def live(emu: Emulator) -> dict[str, int]:
    """Dialable records per externId in the campaign."""
    found: dict[str, int] = {}
    for r in emu.store.all_leads(136785):
        if r["leadState"] not in ("CANCELLED", "COMPLETE", "PAUSED"):
            found[r["externId"]] = found.get(r["externId"], 0) + 1
    return found


def test_applies_records_and_seals_then_has_nothing_to_do(folder: Path, emu: Emulator) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2, 3))
    hooks = Hooks()
    outcome = run(emu, hooks)
    assert outcome.carried_out_all and outcome.report.ok and outcome.report.recorded == 3
    assert hooks.asked == [(3, 0)] and hooks.answered == 3 and hooks.closed
    assert live(emu) == {"L-1": 1, "L-2": 1, "L-3": 1}
    state = load_state(folder / "engage-sync.state.json")
    assert state.campaigns[136785].seal is not None  # clean plan, carried out whole
    again = run(emu, Hooks())
    assert again.nothing_to_do and again.report.leadsets == []
    assert load_state(folder / "engage-sync.state.json").serial == state.serial


def test_no_at_the_question_sends_nothing_and_keeps_the_state(folder: Path, emu: Emulator) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1))
    outcome = run(emu, Hooks(answer=False))
    assert outcome.cancelled and not outcome.carried_out_all
    assert live(emu) == {} and not (folder / "engage-sync.state.json").exists()


def test_a_checksum_that_is_not_the_plans_carries_out_the_tombstones_alone(
    folder: Path, emu: Emulator
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1, 2))
    run(emu, Hooks())
    write(folder / "leadsets" / "a.yaml", leads(1, 3, removed=(2,)))
    hooks = Hooks()
    outcome = run(emu, hooks, checksum="0" * 64)
    assert outcome.mismatch and not outcome.carried_out_all
    assert hooks.asked == [(0, 1)]
    assert live(emu) == {"L-1": 1}  # L-2 stopped, L-3 not loaded
    state = load_state(folder / "engage-sync.state.json")
    assert "L-2" in state.campaigns[136785].removed and state.campaigns[136785].seal is None


def test_reviewed_change_sets_gate_what_is_carried_out(folder: Path, emu: Emulator) -> None:
    write(folder / "leadsets" / "a.yaml", leads(1))
    run(emu, Hooks())
    write(folder / "leadsets" / "a.yaml", leads(2, 3, removed=(1,)))
    hooks = Hooks()
    preview = run(emu, Hooks(answer=False))  # what a reviewer was shown, then a third lead
    shown = frozenset(i for i in plan_items(preview.plan) if "\tL-2\t" in i)
    outcome = run(emu, hooks, reviewed=[ChangeSet(preview.plan.checksum, shown, "#4")])
    assert [i.split("\t")[2] for i in outcome.held_back] == ["L-3"]
    assert [i.split("\t")[2] for i in outcome.unreviewed_tombstones] == ["L-1"]
    assert live(emu) == {"L-2": 1}  # the reviewed create and the tombstone; not L-3
    assert hooks.decided_[0] is outcome


def test_a_tripped_rail_holds_back_all_but_tombstones(folder: Path, emu: Emulator) -> None:
    write(folder / "engage-sync.yaml", f'account: "{ACCOUNT}"\nrails: {{maxCreates: 1}}\n')
    write(folder / "leadsets" / "a.yaml", leads(1, 2))
    outcome = run(emu, Hooks())
    assert outcome.refused and outcome.nothing_to_do and live(emu) == {}
    forced = run(emu, Hooks(), force=True)
    assert forced.carried_out_all and live(emu) == {"L-1": 1, "L-2": 1}
