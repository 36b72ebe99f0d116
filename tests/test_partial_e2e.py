"""End to end (issue #23): the installed command against the emulator on a socket. After an
apply, one edited row of a 3,000-row CSV is planned from the chunk around it, the plan is the one
a full read makes, apply posts that lead alone and seals the campaign again."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, Served, engage_sync

from engage_sync import workspace
from engage_sync.config import aimed, load_config

pytestmark = pytest.mark.e2e
CAMPAIGN = 136790
ROWS = 3000


def posted(served: Served) -> Counter[str]:
    counts: Counter[str] = Counter()
    for request in served.loader_posts():
        if request["status"] == 200:
            counts.update(lead["externId"] for lead in request["body"]["uploadLeads"])
    return counts


def rows(changed: int | None = None) -> str:
    lines = ["externId,leadPhone,firstName,lastName"]
    for i in range(ROWS):
        # a household in every 500 rows: its warnings must survive a partial plan
        phone = f"415{(i - 250 if i % 500 == 499 else i):07d}"
        first = "Changed" if i == changed else f"Ada{i}"
        lines.append(f"H-{i:05d},{phone},{first},Lovelace")
    return "\n".join(lines) + "\n"


def households(repo: Path) -> Path:
    """The bundled settings and the households lead set (its 3,000-row CSV) in `repo`."""
    shutil.copy(REPO / "engage-sync.yaml", repo / "engage-sync.yaml")
    (repo / "leadsets").mkdir()
    (repo / "leadsets" / "households.yaml").write_text(
        f"campaign: {CAMPAIGN}\nleadsFile: households.csv\noptions:\n  dialPriority: NORMAL\n"
        "  duplicateHandling: RETAIN_ALL\n  timeZoneOption: NPA_NXX\n"
    )
    csv_file = repo / "leadsets" / "households.csv"
    csv_file.write_text(rows())
    return csv_file


def test_one_edited_row_is_planned_from_its_chunk_and_posted_alone(
    tmp_path: Path, emulator_process: Served
) -> None:
    emu = emulator_process
    csv_file = households(tmp_path)
    env = {**emu.env(), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"}
    first = engage_sync("apply", "--auto-approve", "--rate-scale", "100", env=env, cwd=tmp_path)
    assert first.code == 0, first.err
    state_file = tmp_path / "engage-sync.state.json"
    sealed = json.loads(state_file.read_text())["campaigns"][str(CAMPAIGN)]["synced"]
    assert len(sealed["chunks"]) > 5 and len(sealed["groups"]) == ROWS // 500

    csv_file.write_text(rows(changed=1500))
    plan = engage_sync("plan", "--format", "json", cwd=tmp_path, env=emulator_process.where())
    assert plan.code == 0, plan.err
    # the same plan from a full read: the state without its seal
    unsealed = json.loads(state_file.read_text())
    del unsealed["campaigns"][str(CAMPAIGN)]["synced"]
    (tmp_path / "full.json").write_text(json.dumps(unsealed))
    full = engage_sync(
        "plan",
        "--format",
        "json",
        "--state",
        "full.json",
        cwd=tmp_path,
        env=emulator_process.where(),
    )
    assert full.code == 0, full.err
    assert json.loads(plan.out) == json.loads(full.out)
    assert plan.err == full.err  # the shared-phone warnings, each at its line
    assert plan.err.count("same phone as the lead at") == ROWS // 500
    summary = json.loads(plan.out)["summary"]
    assert (summary["update"], summary["unchanged"]) == (1, ROWS - 1)
    with contextlib.chdir(tmp_path):  # and it was read in part (the library says)
        planned = workspace.build_plan([], aimed(load_config(), env=emu.where()), state_file)
    assert planned.partial == {CAMPAIGN}

    second = engage_sync("apply", "--auto-approve", "--rate-scale", "100", env=env, cwd=tmp_path)
    assert second.code == 0, second.err
    counts = posted(emu)
    assert counts["H-01500"] == 2 and sum(counts.values()) == ROWS + 1
    listed = engage_sync("state", "list", "--format", "json", cwd=tmp_path, env=emu.where())
    assert [c["synced"] for c in json.loads(listed.out)["campaigns"]] == [True]
    again = engage_sync("plan", "--detailed-exitcode", cwd=tmp_path, env=emulator_process.where())
    assert again.code == 0, again.out


def test_a_campaign_read_in_part_beside_a_new_tombstone_is_read_whole_next(
    tmp_path: Path, emulator_process: Served
) -> None:
    """A tombstone with its phone, new in one campaign, joins the do-not-call set with the
    apply that stops it. A campaign read whole in that apply was checked against the phone, so
    its seal expects the stop; one read in part was not (its other chunks were checked against
    the set before), so its seal keeps that set and the next plan reads it whole."""
    emu = emulator_process
    csv_file = households(tmp_path)
    other = tmp_path / "leadsets" / "other.yaml"
    head = (
        "campaign: 136785\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\n"
    )
    other.write_text(head + 'leads:\n  - {externId: "O-1", leadPhone: "6175550100"}\n')
    env = {
        **emu.env(),
        "ENGAGE_SYNC_LOOKUP_DELAY": "0.05",
        "ENGAGE_SYNC_PHONE_KEY": "a-secret-of-more-than-sixteen-characters",
    }
    first = engage_sync("apply", "--auto-approve", "--rate-scale", "100", env=env, cwd=tmp_path)
    assert first.code == 0, first.err

    csv_file.write_text(rows(changed=1500))
    other.write_text(head + 'leads: []\nremoved: [{externId: "O-1", leadPhone: "6175550100"}]\n')
    second = engage_sync("apply", "--auto-approve", "--rate-scale", "100", env=env, cwd=tmp_path)
    assert second.code == 0, second.err
    assert posted(emu)["H-01500"] == 2  # the households were planned from the edited chunk
    state = json.loads((tmp_path / "engage-sync.state.json").read_text())
    assert state["do_not_call"]["done"]  # the tombstone's phone was stopped
    seals = {c: state["campaigns"][str(c)].get("synced") or {} for c in (CAMPAIGN, 136785)}
    assert seals[136785].get("doNotCall") and not seals[CAMPAIGN].get("doNotCall")
    listed = engage_sync("state", "list", cwd=tmp_path, env=env).out
    assert f"campaign {CAMPAIGN}: {ROWS} lead(s) (leadsets/households.yaml)\n" in listed
    assert "campaign 136785: 0 lead(s), 1 removed (leadsets/other.yaml), in sync" in listed
