"""Leads an apply records go to disk until the state is saved (state/spill.py), and the state file
is written as it is rendered: what is saved is what a state held in memory would save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engage_sync.errors import StateError
from engage_sync.model import Lead
from engage_sync.optouts import ledger
from engage_sync.state import Journal, load_state, render_state, save_state, write_atomic
from engage_sync.state import journal as journals
from engage_sync.state.file import CampaignState, State
from engage_sync.state.spill import Spill


def lead(eid: str, name: str = "Ada", phone: str = "4155550100") -> Lead:
    return Lead.from_mapping({"externId": eid, "leadPhone": phone, "firstName": name}, "f", 1)


def test_a_spill_merges_its_runs_in_order_the_latest_winning_and_the_gone_hidden() -> None:
    spill = Spill()
    spill.add({"b": "2", "a\tb\\c\nd": "tab", "d": "4"})
    spill.add({"c": "3", "b": "2x"})
    spill.gone.add("d")
    assert list(spill.items()) == [("a\tb\\c\nd", "tab"), ("b", "2x"), ("c", "3")]
    assert "b" in spill and "a\tb\\c\nd" in spill and "d" not in spill and "z" not in spill
    spill.add({"d": "4y"})  # recorded again after it was removed
    assert dict(spill.items())["d"] == "4y" and "d" in spill


def test_a_campaign_with_spilled_leads_saves_what_one_held_in_memory_saves(
    tmp_path: Path,
) -> None:
    def story(camp: CampaignState, spill: bool) -> None:
        camp.record(lead("k1"))
        camp.record(lead("k2"))
        if spill:
            camp.spill(["k1", "k2", "nothing"])
        camp.record(lead("k3"))
        camp.accept({"k1": camp.encode(lead("k1", "Grace"))})  # updated after it was spilled
        camp.forget(["k2"])  # removed after it was spilled
        camp.record(lead("k4"))
        if spill:
            camp.spill(["k1", "k4"])
        camp.forget(["k4"])
        camp.record(lead("k4", "Alan"))  # back again
        if spill:
            camp.spill(["k4"])

    held, spilled = State(tmp_path / "a.json"), State(tmp_path / "b.json")
    story(held.campaign(7), spill=False)
    story(spilled.campaign(7), spill=True)
    assert spilled.campaigns[7].leads == {"k3": held.campaigns[7].leads["k3"]}  # the rest: disk
    assert render_state(spilled) == render_state(held)
    assert spilled.campaigns[7].count() == held.campaigns[7].count() == 3
    assert [spilled.campaigns[7].owns(e) for e in ("k1", "k2", "k3", "k4")] == [1, 0, 1, 1]
    save_state(spilled)
    assert load_state(spilled.path).campaigns[7].leads == held.campaigns[7].leads


def test_an_apply_keeps_at_most_spill_at_recorded_leads_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journals, "SPILL_AT", 10)
    state = load_state(tmp_path / "s.json")
    leads = [lead(f"E{i:03d}", phone=f"41555{i:05d}") for i in range(95)]
    with Journal(state) as journal:
        for start in range(0, 95, 5):
            batch = leads[start : start + 5]
            n = journal.begin(3, [x.extern_id for x in batch])
            journal.ack(n, 3, batch, "f.yaml", {"listState": "ACTIVE"})
            assert len(state.campaigns[3].leads) < 10
        journal.fold()
    again = load_state(state.path)
    assert sorted(again.campaigns[3].leads) == [x.extern_id for x in leads]
    assert again.campaigns[3].leads["E042"] == again.campaigns[3].encode(leads[42])


def test_a_state_written_as_it_is_rendered_is_the_old_file_or_the_new_never_half(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(b"old\n")

    def pieces() -> Iterator[bytes]:
        yield b"new, half"
        raise OSError(28, "No space left on device")

    with pytest.raises(StateError, match="No space left on device"):
        write_atomic(path, pieces())
    assert path.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left
    write_atomic(path, iter([b"new ", b"whole\n"]))
    assert path.read_bytes() == b"new whole\n"


def entry(eid: str, requested: str = "2026-11-20") -> dict[str, object]:
    return {"campaign": 5, "externId": eid, "requested": requested}


def test_a_ledger_append_reads_its_last_lines_not_the_whole_ledger(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    ledger.append(path, [entry(f"e{i}") for i in range(ledger.RECENT + 50)])
    lines = path.read_bytes().split(b"\n")
    lines[0] = lines[0].replace(b"e0", b"E0", 1)  # damage far up: only reading finds it
    path.write_bytes(b"\n".join(lines))
    last = f"e{ledger.RECENT + 49}"
    assert ledger.append(path, [entry(last), entry("new")]) == 1  # the last lines are read
    with pytest.raises(ledger.DamagedLedger) as e:
        list(ledger.read(path))
    assert str(e.value).startswith(f"{path}:1: damaged line (its checksum does not match)")
    # damage among the last lines stops the append, named by its line in the file
    lines = path.read_bytes().split(b"\n")
    lines[-3] = lines[-3].replace(b'"campaign":5', b'"campaign":6', 1)
    path.write_bytes(b"\n".join(lines))
    before = path.read_bytes()
    with pytest.raises(ledger.DamagedLedger) as e:
        ledger.append(path, [entry("more")])
    assert str(e.value).startswith(f"{path}:{len(lines) - 2}: damaged line (")
    assert path.read_bytes() == before
