"""Safety rails (exit 3), the reviewed-plan checksum (exit 5), and the state commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Served, write
from test_planner import applied, desired, lead

from engage_sync.config import Rails
from engage_sync.model import ChangeKind, LoadOptions
from engage_sync.rails import tripped

HEAD = (
    "options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, "
    "timeZoneOption: NPA_NXX}\n"
)


def leads_yaml(n: int, first: str = "Ada", start: int = 0) -> str:
    rows = [
        f'  - {{externId: "L{i}", leadPhone: "415555{i:04d}", firstName: {first}}}'
        for i in range(start, start + n)
    ]
    return "leads:\n" + "\n".join(rows) + "\n"


@pytest.fixture
def engage(workspace: Path, served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    for k, v in served.env("api-token").items():
        monkeypatch.setenv(k, v)
    for f in (workspace / "leadsets").iterdir():
        f.unlink()
    return served


def test_update_rail_trips_past_30_percent_and_force_overrides(
    workspace: Path, engage: Served, run: Any
) -> None:
    path = workspace / "leadsets" / "a.yaml"
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(10))
    assert run("apply", "--auto-approve").code == 0
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(4, "Grace") + leads_yaml(6, start=4)[7:])
    plan = run("plan")
    assert (
        "refused unless --force: campaign 136785: 4 updates are 40% of its 10 applied leads "
        "(rails.maxUpdateFraction: 0.3)"
    ) in plan.out
    before = len(engage.loader_posts())
    refused = run("apply", "--auto-approve")
    assert refused.code == 3 and "refused by safety rails" in refused.err
    assert len(engage.loader_posts()) == before
    forced = run("apply", "--auto-approve", "--force")
    assert forced.code == 0 and len(engage.loader_posts()) == before + 1
    assert (
        "past a safety rail, applied as --force asks: campaign 136785: 4 updates are 40% of its "
        "10 applied leads (rails.maxUpdateFraction: 0.3)"
    ) in forced.out
    assert "refused unless --force" not in forced.out


def test_update_rail_threshold_comes_from_engage_sync_yaml(
    workspace: Path, engage: Served, run: Any
) -> None:
    write(workspace / "engage-sync.yaml", "account: '99990001'\nrails: {maxUpdateFraction: 0.5}\n")
    path = workspace / "leadsets" / "a.yaml"
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(10))
    assert run("apply", "--auto-approve").code == 0
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(10, "Grace"))
    assert "rails.maxUpdateFraction: 0.5" in run("plan").out
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(4, "Grace") + leads_yaml(6, start=4)[7:])
    assert run("apply", "--auto-approve").code == 0


def test_emptied_lead_set_trips(workspace: Path, engage: Served, run: Any) -> None:
    path = workspace / "leadsets" / "a.yaml"
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(3))
    assert run("apply", "--auto-approve").code == 0
    write(path, "campaign: 136785\n" + HEAD + "leads: []\n")
    r = run("apply", "--auto-approve")
    assert r.code == 3
    assert "campaign 136785: declares no leads but 3 were applied before" in r.out
    forced = run("apply", "--auto-approve", "--force")
    assert forced.code == 0 and "Nothing to post." in forced.out  # nothing to post, nothing lost
    assert "3 orphaned" in run("plan").out


def test_max_creates_and_immediate_rails(workspace: Path, engage: Served, run: Any) -> None:
    write(
        workspace / "engage-sync.yaml",
        "account: '99990001'\nrails: {maxCreates: 5, maxImmediateLeads: 2}\n",
    )
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + leads_yaml(6))
    r = run("apply", "--auto-approve")
    assert r.code == 3 and "this run would create 6 leads (rails.maxCreates: 5)" in r.out
    write(
        workspace / "leadsets" / "a.yaml",
        "campaign: 136785\n" + HEAD.replace("NORMAL", "IMMEDIATE") + leads_yaml(3),
    )
    r = run("apply", "--auto-approve")
    assert r.code == 3 and "would post 3 leads with dialPriority IMMEDIATE" in r.out
    assert engage.loader_posts() == []
    assert run("apply", "--auto-approve", "--force").code == 0


def test_immediate_rail_is_about_switching() -> None:
    state = applied((1, lead("a")))
    state.campaign(1).options = {"dialPriority": "IMMEDIATE"}
    from engage_sync.planner import plan

    opts = LoadOptions((("dialPriority", "IMMEDIATE"),))
    result = plan([desired(1, lead("a"), *[lead(f"n{i}") for i in range(5)], options=opts)], state)
    assert tripped(result, Rails(max_immediate_leads=2)) == []
    state.campaign(1).options = {"dialPriority": "NORMAL"}
    result = plan([desired(1, *[lead(f"n{i}") for i in range(5)], options=opts)], state)
    assert any("IMMEDIATE" in r for r in tripped(result, Rails(max_immediate_leads=2)))
    assert result.count(ChangeKind.CREATE) == 5


def test_options_changes_are_shown(workspace: Path, engage: Served, run: Any) -> None:
    path = workspace / "leadsets" / "a.yaml"
    write(path, "campaign: 136785\n" + HEAD + leads_yaml(2))
    assert run("apply", "--auto-approve").code == 0
    write(
        path,
        "campaign: 136785\n" + HEAD.replace("REMOVE_ALL_EXISTING", "RETAIN_ALL") + leads_yaml(2),
    )
    out = run("plan").out
    assert (
        'options changed since the last apply (duplicateHandling: "REMOVE_ALL_EXISTING" -> '
        '"RETAIN_ALL")'
    ) in out


def test_checksum_gate(workspace: Path, engage: Served, run: Any) -> None:
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + leads_yaml(3))
    reviewed = json.loads(run("plan", "--format", "json").out)["checksum"]
    wrong = run("apply", "--auto-approve", "--checksum", "0" * 64)
    assert wrong.code == 5 and f"the plan's checksum is {reviewed}" in wrong.err
    assert engage.loader_posts() == []
    assert run("apply", "--auto-approve", "--checksum", reviewed).code == 0
    # the files changed since that review (a fourth lead): the same checksum no longer applies
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + leads_yaml(4))
    assert run("apply", "--auto-approve", "--checksum", reviewed).code == 5


def test_state_commands(workspace: Path, engage: Served, run: Any) -> None:
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + leads_yaml(3))
    assert run("state", "list").out == "engage-sync.state.json: no state yet (nothing applied)\n"
    assert run("apply", "--auto-approve").code == 0
    listed = run("state", "list").out.splitlines()
    assert listed[0].startswith("engage-sync.state.json: serial 1, lineage ")
    assert listed[1:] == [
        "  campaign 136785: 3 lead(s) (leadsets/a.yaml), in sync (unchanged files are not read)",
        "3 lead(s) in 1 campaign(s).",
    ]
    doc = json.loads(run("state", "list", "--format", "json").out)
    assert doc["campaigns"] == [
        {
            "campaignId": 136785,
            "files": ["leadsets/a.yaml"],
            "inDoubt": 0,
            "leads": 3,
            "removed": 0,
            "synced": True,
        }
    ]
    shown = run("state", "show", "136785", "L1").out.splitlines()
    assert shown[0] == "campaign 136785, externId L1"
    assert [line.split(":")[0].strip() for line in shown[2:]] == ["firstName", "leadPhone"]
    assert "Ada" not in "".join(shown)
    assert run("state", "show", "136785", "nope").code == 1
    refused = run("state", "rm", "136785", "L1", "nope")
    assert refused.code == 1 and "not in the state: nope; nothing removed" in refused.err
    removed = run("state", "rm", "136785", "L1")
    assert removed.code == 0 and "(serial 2)" in removed.out
    assert (
        "Plan: 1 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 2 unchanged."
        in run("plan").out
    )
    write(
        workspace / "leadsets" / "a.yaml",
        "campaign: 136785\n" + HEAD + leads_yaml(3) + 'removed: [{externId: "L0"}]\n',
    )
    assert run("validate").code == 1  # L0 is both declared and removed
    write(
        workspace / "leadsets" / "a.yaml",
        "campaign: 136785\n" + HEAD + leads_yaml(2, start=1) + 'removed: [{externId: "L0"}]\n',
    )
    assert run("apply", "--auto-approve").code == 0
    listed = run("state", "list").out.splitlines()
    # not "in sync": the tombstone names no phone, so the apply stopped the one Engage's record
    # had; the campaign was never checked against it, and the next plan reads it whole (a
    # tombstone with its phone keeps the seal: the next test)
    assert listed[1] == "  campaign 136785: 2 lead(s), 1 removed (leadsets/a.yaml)"
    assert run("state", "path").out == "engage-sync.state.json\n"


def test_a_tombstone_with_its_phone_keeps_the_campaign_sealed(
    workspace: Path, engage: Served, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lead moved to `removed:` with its phone: the apply stops that phone, whose hash joins
    the state's do-not-call set. The campaign was checked against that phone (the plan held it
    in clear), so its seal holds and the next plan does not read it; a tombstone without its
    phone (the last test) learns the phone from Engage, and the campaign is read again. The
    plan needs the key the phone will be hashed with: here ENGAGE_SYNC_PHONE_KEY (with none,
    the apply makes a salt, and the next plan reads the campaign once more)."""
    monkeypatch.setenv("ENGAGE_SYNC_PHONE_KEY", "a-secret-of-more-than-sixteen-characters")
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + leads_yaml(3))
    assert run("apply", "--auto-approve").code == 0
    write(
        workspace / "leadsets" / "a.yaml",
        "campaign: 136785\n"
        + HEAD
        + leads_yaml(2, start=1)
        + 'removed: [{externId: "L0", leadPhone: "4155550000"}]\n',
    )
    assert run("apply", "--auto-approve").code == 0
    state = json.loads((workspace / "engage-sync.state.json").read_text())
    assert state["do_not_call"]["done"]  # the phone was stopped, and its hash recorded
    listed = run("state", "list").out.splitlines()
    assert listed[1] == (
        "  campaign 136785: 2 lead(s), 1 removed (leadsets/a.yaml), in sync (unchanged files "
        "are not read)"
    )


def test_import_records_without_posting(workspace: Path, engage: Served, run: Any) -> None:
    write(workspace / "leadsets" / "a.yaml", "campaign: 136785\n" + HEAD + "leadsFile: a.csv\n")
    write(workspace / "leadsets" / "a.csv", "externId,leadPhone\nX1,4155550100\nX2,4155550101\n")
    r = run("import", "--campaign", "136785", "leadsets/a.csv")
    assert r.code == 0 and "Recorded 2 lead(s) of campaign 136785" in r.out
    assert engage.loader_posts() == []
    assert run("plan").out.endswith(
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 2 unchanged.\n"
    )
    wrong = run("import", "--campaign", "1", "leadsets/a.yaml")
    assert wrong.code == 1 and "declares campaign 136785, not 1" in wrong.err
    write(workspace / "bad.csv", "externId,leadPhone\nX1,12\n")
    bad = run("import", "--campaign", "136785", "bad.csv")
    assert bad.code == 1 and "bad.csv:2: leadPhone:" in bad.err
    assert run("import", "--campaign", "1", "notes.txt").code == 1


def test_import_reports_duplicates_with_their_first_place(workspace: Path, run: Any) -> None:
    write(workspace / "dups.csv", "externId,leadPhone\nX1,4155550100\nX1,4155550101\n")
    r = run("import", "--campaign", "136785", "dups.csv")
    assert r.code == 1
    assert (
        "dups.csv:3: externId: duplicate externId 'X1' in campaign 136785: "
        "first declared at dups.csv:2"
    ) in r.err


def test_loading_into_an_inactive_campaign_works_with_a_note(
    workspace: Path, engage: Served, run: Any
) -> None:
    write(workspace / "leadsets" / "a.yaml", "campaign: 136799\n" + HEAD + leads_yaml(2))
    r = run("apply", "--auto-approve", "--report-json", "report.json")
    assert r.code == 0
    assert (
        "  note: campaign 136799 is inactive in Engage: its leads are loaded but not dialled "
        "until it is activated"
    ) in r.err
    assert len(engage.leads(136799)) == 2
    report = json.loads((workspace / "report.json").read_text())
    assert report["leadsets"][0]["notes"] and report["ok"] is True


def test_the_prune_rail_counts_pruned_leads_and_never_tombstones() -> None:
    from engage_sync.model import CampaignRef, Desired, Tombstone
    from engage_sync.planner import plan

    state = applied(*[(1, lead(f"L{i}")) for i in range(10)])
    keep = [lead(f"L{i}") for i in range(6)]
    pruned = Desired(CampaignRef(1), None, ("f",), desired(1).options, keep, prune=True)
    (reason,) = tripped(plan([pruned], state), Rails())
    assert "prune would remove 4 leads, 40% of its 10 applied leads" in reason
    assert tripped(plan([pruned], state), Rails(max_prune_fraction=0.5)) == []
    stones = tuple(Tombstone(f"L{i}", "f", i) for i in range(6, 10))
    tombstoned = Desired(CampaignRef(1), None, ("f",), desired(1).options, keep, tombstones=stones)
    assert tripped(plan([tombstoned], state), Rails()) == []
    emptied = Desired(
        CampaignRef(1),
        None,
        ("f",),
        desired(1).options,
        [],
        tombstones=tuple(Tombstone(f"L{i}", "f", i) for i in range(10)),
    )
    assert tripped(plan([emptied], state), Rails()) == []  # every lead removed on purpose
