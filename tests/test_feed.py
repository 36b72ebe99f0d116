"""The apply's one pass over the files for the loader (reconcile/feed.py): in doubt, `--look-first`
and updates settled on the way, so a file is parsed twice in all (the plan, then the pass)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from test_operation import HEAD, Hooks, folder, live, run  # noqa: F401

from engage_sync.emulator import Emulator
from engage_sync.leadsets import readers
from engage_sync.state import load_state, save_state


def leads(numbers: range, renamed: tuple[int, ...] = ()) -> str:
    return (
        HEAD
        + "leads:\n"
        + "".join(
            f'  - {{externId: "L-{i}", leadPhone: "41555501{i:02d}", '
            f"firstName: {'Grace' if i in renamed else 'Ada'}}}\n"
            for i in numbers
        )
    )


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each pass that parses a file's leads."""
    seen: list[str] = []
    original = readers.inline_leads

    def counted(path: Path, *args: Any, **kwargs: Any) -> Any:
        whole = False
        try:
            yield from original(path, *args, **kwargs)
            whole = True
        finally:  # a pass stopped early (the do-not-call look-ahead's first rows) is no parse
            if whole:
                seen.append(path.name)

    monkeypatch.setattr(readers, "inline_leads", counted)
    yield seen


def test_in_doubt_look_first_and_updates_are_settled_in_the_loaders_pass(
    folder: Path,  # noqa: F811
    emu: Emulator,
    parses: list[str],
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(range(1, 8)))
    assert run(emu, Hooks()).report.ok
    # an earlier apply's answer for L-7 was lost with its state: in doubt, not recorded
    state = load_state(folder / "engage-sync.state.json")
    camp = state.campaigns[136785]
    camp.drop(["L-7"])
    camp.doubt(["L-7"])
    save_state(state)
    write(folder / "leadsets" / "a.yaml", leads(range(1, 10), renamed=(1, 4)))
    parses.clear()
    outcome = run(emu, Hooks(), look_first="probe")
    assert parses == ["a.yaml", "a.yaml"]  # the plan, then the apply's one pass
    report = outcome.report
    (rep,) = report.leadsets
    assert report.ok and rep.resolved_in_doubt == 1  # L-7 found, recorded, not posted again
    assert rep.posted == 4 and rep.recorded == 5  # two updates and two creates, and L-7
    assert live(emu) == {f"L-{i}": 1 for i in range(1, 10)}  # each once: never two records
    names = {r["externId"]: r["lead"].get("firstName") for r in emu.store.all_leads(136785)
             if r["leadState"] not in ("CANCELLED", "COMPLETE", "PAUSED")}  # fmt: skip
    assert names["L-1"] == names["L-4"] == "Grace"
    after = load_state(folder / "engage-sync.state.json").campaigns[136785]
    assert sorted(after.leads) == sorted(f"L-{i}" for i in range(1, 10)) and not after.in_doubt


def test_a_lead_whose_file_changed_since_the_plan_is_not_posted(
    folder: Path,  # noqa: F811
    emu: Emulator,
) -> None:
    write(folder / "leadsets" / "a.yaml", leads(range(1, 4)))
    hooks = Hooks()

    def confirm(to_post: int, to_remove: int) -> bool:  # the file edited while asked
        write(folder / "leadsets" / "a.yaml", leads(range(1, 4), renamed=(2,)))
        return True

    hooks.confirm = confirm  # type: ignore[method-assign]
    outcome = run(emu, hooks)
    (rep,) = outcome.report.leadsets
    assert rep.posted == 2 and rep.failed == 1 and not outcome.report.ok
    assert any("not in the lead-set files as planned" in e for e in rep.errors)
    assert live(emu) == {"L-1": 1, "L-3": 1}
