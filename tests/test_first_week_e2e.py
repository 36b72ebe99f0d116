"""What a new user met in their first week (issue #31), with the installed command against the
emulator: a campaign declared in two files is one campaign, and an apply limited to some
paths never removes what it did not read."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Served, engage_sync, write

pytestmark = pytest.mark.e2e

CAMPAIGN = 136785
OPTIONS = "  duplicateHandling: REMOVE_ALL_EXISTING\n  timeZoneOption: NPA_NXX\n"


def leadset(first: int, count: int, priority: str = "NORMAL", prune: bool = False) -> str:
    rows = "".join(
        f'  - {{externId: "L-{i:04d}", leadPhone: "41555{i:05d}"}}\n'
        for i in range(first, first + count)
    )
    return (
        f"campaign: {CAMPAIGN}\noptions:\n{OPTIONS}  dialPriority: {priority}\n"
        + ("prune: true\n" if prune else "")
        + f"leads:\n{rows}"
    )


def repo(tmp_path: Path) -> Path:
    write(tmp_path / "engage-sync.yaml", "account: '99990001'\n")
    return tmp_path


def test_two_files_of_one_campaign_with_other_options_are_an_error_at_both_places(
    tmp_path: Path,
) -> None:
    root = repo(tmp_path)
    write(root / "leadsets" / "can.yaml", leadset(1, 3, "IMMEDIATE"))
    write(root / "leadsets" / "extra.yaml", leadset(100, 3, "NORMAL"))
    checked = engage_sync("validate", cwd=root)
    assert checked.code == 1, checked.out + checked.err
    lines = [line for line in checked.err.splitlines() if ": options: " in line]
    assert [line.split(":", 2)[:2] for line in lines] == [
        ["leadsets/can.yaml", "2"],
        ["leadsets/extra.yaml", "2"],
    ]
    assert 'leadsets/extra.yaml:2 with options dialPriority: "NORMAL"' in lines[0]
    assert 'leadsets/can.yaml:2 with options dialPriority: "IMMEDIATE"' in lines[1]
    planned = engage_sync("plan", cwd=root)
    assert planned.code == 1 and "nothing planned" in planned.err


def test_an_apply_limited_to_one_file_never_prunes_what_another_file_declares(
    tmp_path: Path, emulator_process: Served
) -> None:
    root = repo(tmp_path)
    env = emulator_process.env("api-token")
    write(root / "leadsets" / "can.yaml", leadset(1, 5, prune=True))
    write(root / "leadsets" / "extra.yaml", leadset(100, 20, prune=True))
    first = engage_sync("apply", "--auto-approve", env=env, cwd=root)
    assert first.code == 0, first.out + first.err
    # one lead of can.yaml changes, and only that file is applied
    write(root / "leadsets" / "can.yaml", leadset(1, 5, prune=True).replace("L-0001", "L-0009"))
    planned = engage_sync("plan", "leadsets/can.yaml", cwd=root)
    assert planned.code == 0, planned.err
    assert "0 orphaned" in planned.out and "to remove" in planned.out
    assert "1 to create, 0 to update, 0 to replace, 0 to remove" in planned.out
    assert "this plan reads only the paths given" in planned.out
    assert f"prune is on for campaign(s) {CAMPAIGN}" in planned.out
    limited = engage_sync("apply", "--auto-approve", "leadsets/can.yaml", env=env, cwd=root)
    assert limited.code == 0, limited.out + limited.err
    live = {
        r["externId"]
        for r in emulator_process.leads(CAMPAIGN)
        if r["leadState"] == "READY" and not r["suppressed"]
    }
    assert {f"L-{i:04d}" for i in range(100, 120)} <= live  # extra.yaml's leads stay
    # the whole folder: L-0001 (no file declares it any more) is pruned, and nothing else
    full = engage_sync("apply", "--auto-approve", env=env, cwd=root)
    assert full.code == 0, full.out + full.err
    assert "- L-0001" in full.out
    again = engage_sync("plan", "--detailed-exitcode", cwd=root)
    assert again.code == 0, again.out + again.err
