"""Flat memory for large first plans (issue #13): creates spooled to a temporary file, duplicate
checks on hashes spilled to disk; what users see is byte for byte what holding it all gave."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from conftest import write

from engage_sync.leadsets import problems
from engage_sync.model import Change, ChangeKind
from engage_sync.planner import spool
from engage_sync.planner.spool import Spool


def test_a_spool_reads_back_what_was_added_in_order() -> None:
    ids = ["a", "tab\there", "new\nline", "back\\slash", "both\\n\n", "é", "z"]
    s = Spool(7, keep=2)
    for i, eid in enumerate(ids):
        s.add(eid, "f.csv" if i % 2 else "g.yaml", i + 1)
    s.add("no-place", None, None)
    expected = [
        Change(ChangeKind.CREATE, 7, eid, "f.csv" if i % 2 else "g.yaml", i + 1)
        for i, eid in enumerate(ids)
    ] + [Change(ChangeKind.CREATE, 7, "no-place", None, None)]
    assert list(s) == expected and len(s) == 8 and s == tuple(expected)
    assert s[0] == expected[0] and s[5] == expected[5] and s[-1] == expected[-1]
    assert s[1:4] == expected[1:4] and s[6:] == expected[6:]
    assert [(a.extern_id, b.extern_id) for a, b in zip(s, s, strict=True)] == [
        (e, e) for e in [*ids, "no-place"]
    ]  # two readers at once each get every line
    with pytest.raises(IndexError):
        s[8]
    with pytest.raises(RuntimeError):
        s.add("late", None, None)
    assert not Spool(1) and Spool(1) == []


def test_the_duplicate_check_finds_repeats_across_spills(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(problems, "SPILL_AT", 10)
    check = problems.DuplicateCheck()
    track = check.tracker(1, "RETAIN_ALL", "f.csv")
    ids = [f"L{i}" for i in range(100)] + ["L7", "L3", "L7"]
    for i, eid in enumerate(ids):
        track(eid, f"41555501{i % 60:02d}", i + 2)
    repeated = check.repeated(1)
    assert repeated is not None
    id_hashes, phone_hashes = repeated
    assert id_hashes == {hash("L7"), hash("L3")}
    assert phone_hashes == {hash(f"41555501{i:02d}") for i in range(60) if i + 60 < len(ids)}


def write_set(root: Path, n: int) -> None:
    rows = [["externId", "leadPhone", "firstName"]]
    rows += [[f"L{i:05d}", f"4155{i:06d}", "Ada"] for i in range(n)]
    rows[40][1] = rows[7][1]  # a shared phone: a warning, the plan goes on
    rows[90][1] = rows[7][1]
    with (root / "leadsets" / "leads.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    write(
        root / "leadsets" / "big.yaml",
        "campaign: 246810\noptions: {duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX, "
        "dialPriority: NORMAL}\nremoved:\n  - externId: gone\nleadsFile: leads.csv\n",
    )


def outputs(run: Any, root: Path) -> dict[str, str]:
    out = {}
    for fmt in ("text", "json", "markdown"):
        result = run("plan", "--format", fmt, "--limit", "500")
        assert result.code == 0, result.err
        out[fmt] = result.out + result.err
    out["validate"] = run("validate").out
    return out


def test_spilled_plans_are_byte_identical_to_held_ones(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_set(workspace, 300)
    held = outputs(run, workspace)
    monkeypatch.setattr(spool, "KEEP", 3)
    monkeypatch.setattr(problems, "SPILL_AT", 17)
    spilled = outputs(run, workspace)
    assert spilled == held
    assert "L00299" in held["json"] and "same phone as the lead at" in held["text"]


def test_spilled_duplicate_checks_report_the_same_problems(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_set(workspace, 300)
    path = workspace / "leadsets" / "leads.csv"
    lines = path.read_text().splitlines()
    lines[200] = lines[30]  # the same lead twice: an error naming the first place
    lines.append("gone,4155999999,Ada")  # declared and removed: an error at both places
    path.write_text("\n".join(lines) + "\n")
    held = run("validate")
    monkeypatch.setattr(problems, "SPILL_AT", 5)
    spilled = run("validate")
    assert held.code == spilled.code == 1
    assert spilled.out + spilled.err == held.out + held.err
    assert "duplicate externId 'L00029' in campaign 246810: first declared at" in held.err
    assert "'gone' is removed here but declared at leadsets/leads.csv:302" in held.err


@pytest.mark.parametrize("where", ["spool", "hashes"])
def test_a_full_disk_is_a_clear_error_not_a_traceback(
    workspace: Path, run: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    write_set(workspace, 300)

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    if where == "spool":
        monkeypatch.setattr(spool, "KEEP", 1)
        monkeypatch.setattr(spool.tempfile, "TemporaryFile", full)
    else:
        monkeypatch.setattr(problems, "SPILL_AT", 5)
        monkeypatch.setattr(problems.tempfile, "mkdtemp", full)
    result = run("plan", "--out", "plan.json", "--out", "plan.md")
    assert result.code == 1
    assert "cannot write a temporary file in" in result.err
    assert "No space left on device" in result.err and "Traceback" not in result.err
    assert not (workspace / "plan.json").exists()  # no half plan for CI to upload
