"""End to end, stopping calls: the installed `engage-sync` against `engage-sync emulator`:
tombstones, prune, replacements, updates under each duplicateHandling mode, crashes, failures."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    Served,
    engage_sync,
    load_json,
    spawn_engage_sync,
    start_emulator,
    stop_emulator,
    wait_until,
    write,
)

pytestmark = pytest.mark.e2e
CAMPAIGN = 136785
OTHER = 136792
ACCOUNT = "99990001"
PHONES = {f"R-{i}": f"41555501{i % 100:02d}" for i in range(1001, 1013)}


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--hang-seconds", "5", "--search-max-rows", "3")
    try:
        yield served
    finally:
        stop_emulator(served)


def leadset(
    repo: Path,
    ids: list[str],
    *,
    handling: str = "REMOVE_ALL_EXISTING",
    removed: list[str] = (),  # type: ignore[assignment]
    prune: bool | None = None,
    extra: str = "",
    phones: dict[str, str] | None = None,
    first: str = "Ada",
    campaign: int = CAMPAIGN,
    name: str = "a.yaml",
) -> Path:
    phones = {**PHONES, **(phones or {})}
    lines = [
        f"campaign: {campaign}",
        "options:",
        f"  duplicateHandling: {handling}",
        "  timeZoneOption: NPA_NXX",
        "  dialPriority: NORMAL",
    ]
    if prune is not None:
        lines.append(f"prune: {str(prune).lower()}")
    lines.append("leads:" if ids else "leads: []")
    for eid in ids:
        lines.append(f'  - {{externId: "{eid}", leadPhone: "{phones[eid]}", firstName: {first}}}')
    if removed:
        lines.append("removed:")
        lines += [f'  - {{externId: "{eid}", reason: "consent revoked"}}' for eid in removed]
    return write(repo / "leadsets" / name, "\n".join(lines) + extra + "\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(tmp_path / "engage-sync.yaml", f'account: "{ACCOUNT}"\n')
    return tmp_path


def apply(repo: Path, emu: Served, *args: str) -> Any:
    return engage_sync(
        "apply",
        "--auto-approve",
        "--max-retries",
        "2",
        *args,
        env={**emu.env("api-token"), "ENGAGE_SYNC_LOOKUP_DELAY": "0.05"},
        cwd=repo,
    )


def records(emu: Served, campaign: int = CAMPAIGN) -> dict[str, list[dict[str, Any]]]:
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in emu.leads(campaign):
        by_id.setdefault(row["externId"], []).append(row)
    return by_id


def dialable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["leadState"] not in ("CANCELLED", "PAUSED", "COMPLETE")]


def by_hand(emu: Served, campaign: int, *leads: dict[str, Any]) -> None:
    """Records engage-sync did not load: an admin's upload, another tool's."""
    emu.post(
        "/_emulator/leads", {"accountId": ACCOUNT, "campaignId": campaign, "leads": list(leads)}
    )


def action_requests(emu: Served) -> list[dict[str, Any]]:
    return [r for r in emu.get("/_emulator/requests") if r["path"].endswith("/actions")]


def test_a_tombstone_cancels_every_dialable_record_of_that_person_and_nothing_else(
    repo: Path, emu: Served
) -> None:
    leadset(repo, ["R-1001", "R-1002", "R-1003"])
    assert apply(repo, emu).code == 0
    # the same person loaded twice more by hand in this campaign, and once in another campaign
    by_hand(emu, CAMPAIGN, {"externId": "R-1003", "leadPhone": "6175550199"})
    by_hand(emu, CAMPAIGN, {"externId": "R-1003", "leadPhone": "6175550100"})
    by_hand(emu, OTHER, {"externId": "R-1003", "leadPhone": "6175550123"})
    # and someone else in another campaign with one of the phones it cancels (do not call)
    by_hand(emu, OTHER, {"externId": "Q-1", "leadPhone": "6175550199"})
    path = leadset(repo, ["R-1001", "R-1002"], removed=["R-1003"])
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    today = date.today()  # no `requested:`, no git, no earlier apply: first seen today
    assert (
        f"  - R-1003  {path.relative_to(repo)}:10  (removed; requested {today} (first seen), "
        "today; due "
    ) in plan.out
    assert "Plan: 0 to create, 0 to update, 0 to replace, 1 to remove, 0 orphaned" in plan.out
    assert "consent revoked" not in plan.out  # the reason stays in git
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert "removed 1 of 1, records cancelled 3, deleted 0" in r.out
    assert "Recorded 1 removal(s) in engage-sync.state.json." in r.out  # not "0 lead(s)"
    now = records(emu)
    assert dialable(now["R-1003"]) == [] and len(now["R-1003"]) == 3
    assert len(dialable(now["R-1001"])) == 1 and len(dialable(now["R-1002"])) == 1
    # another campaign: that externId's record with another phone untouched; the record with a
    # phone the tombstone cancelled is stopped too (every tombstone stops its phones)
    assert len(dialable(records(emu, OTHER)["R-1003"])) == 1
    assert dialable(records(emu, OTHER)["Q-1"]) == []
    state = load_json(repo / "engage-sync.state.json")["campaigns"][str(CAMPAIGN)]
    assert "R-1003" not in state["leads"] and state["removed"] == ["R-1003"]
    again = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=emu.where())
    assert again.code == 0 and "0 to remove" in again.out
    for req in action_requests(emu):  # one campaign and lead ids, every time
        criteria = req["body"]["campaignLeadSearchCriteria"]
        assert criteria["campaignIds"] in ([CAMPAIGN], [OTHER]) and criteria["leadIds"]
        assert set(criteria) == {"campaignIds", "leadIds"}


def test_a_tombstone_and_a_declaration_of_one_person_is_an_error_at_both(repo: Path) -> None:
    leadset(repo, ["R-1001", "R-1002"], removed=["R-1002"])
    r = engage_sync("validate", cwd=repo)
    assert r.code == 1
    assert "leadsets/a.yaml:10: removed: 'R-1002' is removed here but declared at" in r.err
    assert "leadsets/a.yaml:8: externId: 'R-1002' is declared here but removed at" in r.err


def test_prune_off_leaves_dropped_leads_dialable(repo: Path, emu: Served) -> None:
    leadset(repo, ["R-1001", "R-1002"])
    assert apply(repo, emu).code == 0
    leadset(repo, ["R-1001"])
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "  ? R-1002  (not declared)  (stays in Engage)" in plan.out
    assert "stay dialable in Engage" in plan.out
    assert apply(repo, emu).code == 0
    assert len(dialable(records(emu)["R-1002"])) == 1
    assert action_requests(emu) == []


def test_prune_cancels_exactly_the_dropped_leads(repo: Path, emu: Served) -> None:
    leadset(repo, ["R-1001", "R-1002", "R-1003"])
    assert apply(repo, emu).code == 0
    by_hand(emu, CAMPAIGN, {"externId": "X-9", "leadPhone": "3125550100"})  # unmanaged
    by_hand(emu, OTHER, {"externId": "R-1002", "leadPhone": "3125550101"})  # another campaign
    leadset(repo, ["R-1001", "R-1003"], prune=True)
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "  - R-1002  (no longer declared; prune)" in plan.out
    assert "prune: on (cancel what no file declares)" in plan.out
    doc = json.loads(engage_sync("plan", "--format", "json", cwd=repo, env=emu.where()).out)
    assert doc["format_version"] == 2 and doc["summary"]["remove"] == 1
    removal = next(c for c in doc["changes"] if c["action"] == "remove")
    assert removal == {
        "action": "remove",
        "campaignId": CAMPAIGN,
        "externId": "R-1002",
        "file": None,
        "line": None,
        "reason": "prune",
    }
    r = apply(repo, emu)
    assert r.code == 0, r.err
    now = records(emu)
    assert dialable(now["R-1002"]) == []
    assert len(dialable(now["X-9"])) == 1 and len(dialable(now["R-1001"])) == 1
    assert len(dialable(records(emu, OTHER)["R-1002"])) == 1


def test_prune_delete_deletes_the_records(repo: Path, emu: Served) -> None:
    leadset(repo, ["R-1001", "R-1002"])
    assert apply(repo, emu).code == 0
    leadset(repo, ["R-1001"], prune=True, extra="\npruneAction: delete")
    r = apply(repo, emu)
    assert r.code == 0 and "records cancelled 0, deleted 1" in r.out
    assert "R-1002" not in records(emu)


def test_files_of_one_campaign_must_agree_on_prune(repo: Path) -> None:
    leadset(repo, ["R-1001"], prune=True)
    leadset(repo, ["R-1002"], name="b.yaml")
    r = engage_sync("validate", cwd=repo)
    assert r.code == 1
    # at both places, each naming the other (b.yaml does not write prune: its line 1)
    assert (
        "leadsets/b.yaml:1: prune: campaign 136785 is also declared in leadsets/a.yaml:6" in r.err
    )
    assert (
        "leadsets/a.yaml:6: prune: campaign 136785 is also declared in leadsets/b.yaml:1" in r.err
    )


def test_the_prune_rail_refuses_then_force(repo: Path, emu: Served) -> None:
    ids = [f"R-{i}" for i in range(1001, 1013)]
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    leadset(repo, ids[:6], prune=True)  # half of them
    r = apply(repo, emu)
    assert r.code == 3
    assert "prune would remove 6 leads, 50% of its 12 applied leads" in r.out
    assert action_requests(emu) == []
    assert all(len(dialable(rows)) == 1 for rows in records(emu).values())
    r = apply(repo, emu, "--force")
    assert r.code == 0, r.err
    now = records(emu)
    assert sorted(e for e, rows in now.items() if dialable(rows)) == ids[:6]


def test_tombstones_are_honoured_when_a_rail_refuses_the_rest(repo: Path, emu: Served) -> None:
    ids = [f"R-{i}" for i in range(1001, 1013)]
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    # a broken export empties the file, and one person asked not to be called
    leadset(repo, [], removed=["R-1005"], prune=True)
    r = apply(repo, emu)
    assert r.code == 3 and "tombstone(s) are honoured all the same" in r.err
    now = records(emu)
    assert dialable(now["R-1005"]) == []
    assert len([e for e, rows in now.items() if dialable(rows)]) == 11


@pytest.mark.parametrize("handling", ["REMOVE_ALL_EXISTING", "RETAIN_ALL", "REMOVE_FROM_LIST"])
def test_a_phone_change_leaves_one_dialable_record_with_the_new_phone(
    repo: Path, emu: Served, handling: str
) -> None:
    leadset(repo, ["R-1001", "R-1002"], handling=handling)
    assert apply(repo, emu).code == 0
    path = leadset(repo, ["R-1001", "R-1002"], handling=handling, phones={"R-1002": "2125550142"})
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert f"  -/+ R-1002  {path.relative_to(repo)}:8  (leadPhone)" in plan.out
    assert "1 to replace" in plan.out
    r = apply(repo, emu)
    assert r.code == 0, r.err
    live = dialable(records(emu)["R-1002"])
    assert [row["lead"]["leadPhone"] for row in live] == ["2125550142"]
    assert len(dialable(records(emu)["R-1001"])) == 1


@pytest.mark.parametrize("handling", ["REMOVE_ALL_EXISTING", "RETAIN_ALL", "REMOVE_FROM_LIST"])
def test_an_update_leaves_one_dialable_record_with_the_new_content(
    repo: Path, emu: Served, handling: str
) -> None:
    leadset(repo, ["R-1001", "R-1002"], handling=handling)
    assert apply(repo, emu).code == 0
    leadset(repo, ["R-1001", "R-1002"], handling=handling, first="Grace")
    r = apply(repo, emu)
    assert r.code == 0, r.err
    for eid in ("R-1001", "R-1002"):
        live = dialable(records(emu)[eid])
        assert [row["lead"]["firstName"] for row in live] == ["Grace"], (handling, eid)


def test_an_update_under_remove_all_existing_still_cancels_an_old_number(
    repo: Path, emu: Served
) -> None:
    # what a phone change whose 16-bit field hash collided would leave: the state sees only an
    # update, yet a record of that person with another number is still dialable
    leadset(repo, ["R-1001"])
    assert apply(repo, emu).code == 0
    by_hand(emu, CAMPAIGN, {"externId": "R-1001", "leadPhone": "2125550199"})
    leadset(repo, ["R-1001"], first="Grace")
    assert "1 to update" in engage_sync("plan", cwd=repo, env=emu.where()).out
    r = apply(repo, emu)
    assert r.code == 0, r.err
    live = dialable(records(emu)["R-1001"])
    assert [(x["lead"]["leadPhone"], x["lead"]["firstName"]) for x in live] == [
        (PHONES["R-1001"], "Grace")
    ]


def test_kill_9_during_the_actions_then_a_rerun_finishes_the_job(repo: Path, emu: Served) -> None:
    ids = [f"R-{i}" for i in range(1001, 1007)]
    leadset(repo, ids)
    assert apply(repo, emu).code == 0
    leadset(repo, ids[:2], removed=ids[2:])
    emu.post("/_emulator/faults", {"kind": "hang", "endpoint": "actions"})
    journal = repo / "engage-sync.state.json.journal"
    proc = spawn_engage_sync(
        "apply", "--auto-approve", "--timeout", "30", env=emu.env("api-token"), cwd=repo
    )
    try:
        # the hang fault struck: the cancel is in the emulator, sent and journaled, unanswered
        wait_until(lambda: emu.get("/_emulator/faults") == [])
        assert journal.exists() and proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # the hung cancel answers 504 later, having done nothing: the rerun need not wait for it
    lock = repo / "engage-sync.state.json.lock"
    if lock.exists():
        lock_id = json.loads(lock.read_text())["id"]
        assert engage_sync("force-unlock", lock_id, cwd=repo).code == 0
    plan = engage_sync("plan", cwd=repo, env=emu.where())
    assert "4 to remove" in plan.out  # nothing was confirmed: all of it is still to do
    r = apply(repo, emu)
    assert r.code == 0, r.err
    now = records(emu)
    assert all(dialable(now[e]) == [] for e in ids[2:])
    assert all(len(dialable(now[e])) == 1 for e in ids[:2])
    assert "0 to remove" in engage_sync("plan", cwd=repo, env=emu.where()).out


def test_an_action_answered_success_false_is_exit_4_and_is_done_next_time(
    repo: Path, emu: Served
) -> None:
    leadset(repo, ["R-1001", "R-1002"])
    assert apply(repo, emu).code == 0
    leadset(repo, ["R-1001"], removed=["R-1002"])
    emu.post("/_emulator/faults", {"kind": "unsuccessful", "endpoint": "actions"})
    r = apply(repo, emu)
    assert r.code == 4
    assert "CANCEL_LEADS of 1 record(s) failed" in r.err and "success: false" in r.err
    assert len(dialable(records(emu)["R-1002"])) == 1
    assert "1 to remove" in engage_sync("plan", cwd=repo, env=emu.where()).out
    r = apply(repo, emu)
    assert r.code == 0 and dialable(records(emu)["R-1002"]) == []


def test_a_clamped_max_rows_still_finds_every_record(repo: Path, emu: Served) -> None:
    leadset(repo, ["R-1001"])
    assert apply(repo, emu).code == 0
    for i in range(7):  # eight records of one person; the emulator answers 3 rows a page
        by_hand(emu, CAMPAIGN, {"externId": "R-1001", "leadPhone": f"303555010{i}"})
    leadset(repo, [], removed=["R-1001"])
    r = apply(repo, emu, "--force")
    assert r.code == 0, r.err
    assert "records cancelled 8" in r.out
    assert dialable(records(emu)["R-1001"]) == []
    searches = [r for r in emu.get("/_emulator/requests") if r["path"].endswith("/leadSearch")]
    assert all(s["query"]["maxRows"] == "1000" for s in searches)
    assert len(searches) >= 4  # pages of 3 until an empty one, then the check
