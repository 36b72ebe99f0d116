"""End to end, what is really in Engage: `plan --refresh`, drift corrected by `apply --refresh`,
`import --from-engage`, lost answers resolved by looking, and answers read rather than trusted."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Served, engage_sync, load_json, start_emulator, stop_emulator
from test_removals_e2e import (
    ACCOUNT,
    CAMPAIGN,
    PHONES,
    apply,
    by_hand,
    dialable,
    leadset,
    records,
)

pytestmark = pytest.mark.e2e
IDS = [f"R-{i}" for i in range(1001, 1007)]


@pytest.fixture
def emu() -> Iterator[Served]:
    served = start_emulator("--search-max-rows", "4")
    try:
        yield served
    finally:
        stop_emulator(served)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "engage-sync.yaml").write_text(f'account: "{ACCOUNT}"\n')
    return tmp_path


def plan(repo: Path, emu: Served, *args: str) -> Any:
    return engage_sync("plan", *args, env=emu.env("api-token"), cwd=repo)


def admin(emu: Served, action: str, lead_ids: list[int]) -> None:
    """What an Engage admin does by hand, through the API."""
    r = httpx.put(
        f"{emu.base_url}/api/v1/admin/accounts/{ACCOUNT}/campaignLeads/actions",
        params={"leadAction": action},
        json={"campaignLeadSearchCriteria": {"campaignIds": [CAMPAIGN], "leadIds": lead_ids}},
        headers={"X-Auth-Token": "emulator-legacy-api-token"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json()["success"] is True


def set_state(emu: Served, lead_ids: list[int], state: str) -> None:
    emu.post("/_emulator/leads/state", {"leadIds": lead_ids, "leadState": state})


def lead_id(emu: Served, eid: str) -> int:
    (row,) = records(emu)[eid]
    return int(row["leadId"])


def drift_of(result: Any) -> dict[str, str]:
    doc = json.loads(result.out)
    return {d["externId"]: d["kind"] for d in doc["drift"]}


def left_in_doubt(repo: Path, emu: Served, fault: str = "lost") -> None:
    """An apply whose loads' answers never come (`lost`: stored, then the connection drops;
    `drop`: cut, nothing stored) and whose lookups after them fail too: the leads stay in doubt
    for the next apply. No look first (RETAIN_ALL would look, and that lookup would fail too);
    the search faults are for the look-up after the lost answer, not do not call's by phone."""
    emu.post("/_emulator/faults", {"kind": fault})
    for _ in range(8):
        emu.post("/_emulator/faults", {"kind": "500", "endpoint": "search", "externId": IDS[0]})
    first = apply(repo, emu, "--max-retries", "1", "--look-first", "off")
    assert first.code in (1, 4) and "not confirmed" in first.err
    httpx.delete(f"{emu.origin}/_emulator/faults")


def test_each_kind_of_drift_is_seen_and_apply_refresh_corrects_towards_less_calling(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS)
    assert apply(repo, emu).code == 0
    leadset(repo, IDS[:5], removed=["R-1006"])
    assert apply(repo, emu).code == 0
    clean = plan(repo, emu, "--refresh-only", "--detailed-exitcode")
    assert clean.code == 0, clean.err
    assert "Drift: 0 missing, 0 stopped, 0 duplicate, 0 changed, 0 reappeared" in clean.out

    admin(emu, "DELETE_LEADS", [lead_id(emu, "R-1001")])  # missing
    set_state(emu, [lead_id(emu, "R-1002")], "COMPLETE")  # stopped
    by_hand(emu, CAMPAIGN, {"externId": "R-1003", "leadPhone": PHONES["R-1003"]})  # duplicate
    admin(emu, "CANCEL_LEADS", [lead_id(emu, "R-1004")])  # changed: another phone, by hand
    by_hand(emu, CAMPAIGN, {"externId": "R-1004", "leadPhone": "2125550199"})
    set_state(emu, [lead_id(emu, "R-1006")], "READY")  # reappeared
    by_hand(emu, CAMPAIGN, {"externId": "X-1", "leadPhone": "3035550100"})  # unmanaged

    r = plan(repo, emu, "--refresh")
    assert r.code == 0, r.err
    assert "Changed outside engage-sync since the last apply:" in r.out
    assert (
        f"  campaign {CAMPAIGN}: 1 missing, 1 stopped, 1 duplicate, 1 changed, 1 reappeared; "
        "1 unmanaged record(s)"
    ) in r.out
    assert "  ! R-1001  missing: recorded as loaded, no record in Engage" in r.out
    assert "  ! R-1002  stopped (COMPLETE): no record is dialable any more" in r.out
    assert "  ! R-1006  reappeared (READY)" in r.out
    assert "2125550199" not in r.out and PHONES["R-1003"] not in r.out  # no PII
    doc = plan(repo, emu, "--refresh", "--format", "json")
    assert drift_of(doc) == {
        "R-1001": "missing",
        "R-1002": "stopped",
        "R-1003": "duplicate",
        "R-1004": "changed",
        "R-1006": "reappeared",
    }
    summary = json.loads(doc.out)["summary"]["drift"]
    assert summary == {"missing": 1, "stopped": 1, "duplicate": 1, "changed": 1, "reappeared": 1}
    offline = json.loads(engage_sync("plan", "--format", "json", cwd=repo, env=emu.where()).out)
    assert json.loads(doc.out)["checksum"] != offline["checksum"]  # covers what apply corrects
    assert plan(repo, emu, "--refresh-only", "--detailed-exitcode").code == 2

    fixed = engage_sync("apply", "--auto-approve", "--refresh", env=emu.env("api-token"), cwd=repo)
    assert fixed.code == 0, fixed.err
    # drift corrected, said as such: not "removed", which is for leads taken out of the files
    assert (
        f"campaign {CAMPAIGN}: posted 1, accepted 1, inserted 1, rejected 0, failed 0; corrected "
        "2 of 2 drifted lead(s) (1 duplicate, 1 reappeared), records cancelled "
    ) in fixed.out
    assert "removed 0 of" not in fixed.out and "removal" not in fixed.out
    assert "Recorded 1 lead(s) and 2 drift correction(s) in engage-sync.state.json." in fixed.out
    now = records(emu)
    assert "R-1001" not in now  # missing: never re-created
    assert [r["leadState"] for r in now["R-1002"]] == ["COMPLETE"]  # stopped: never un-cancelled
    assert len(dialable(now["R-1003"])) == 1
    assert [r["lead"]["leadPhone"] for r in dialable(now["R-1004"])] == [PHONES["R-1004"]]
    assert dialable(now["R-1006"]) == []
    assert len(dialable(now["X-1"])) == 1  # unmanaged: never touched
    after = plan(repo, emu, "--refresh-only", "--format", "json")
    assert drift_of(after) == {"R-1001": "missing", "R-1002": "stopped"}
    assert plan(repo, emu, "--refresh-only", "--detailed-exitcode").code == 2  # missing stays
    assert engage_sync("state", "rm", str(CAMPAIGN), "R-1001", cwd=repo).code == 0
    reload = apply(repo, emu)
    assert reload.code == 0 and len(dialable(records(emu)["R-1001"])) == 1


def test_refresh_needs_credentials_and_plain_plan_stays_offline(repo: Path, emu: Served) -> None:
    leadset(repo, IDS[:2])
    r = engage_sync("plan", "--refresh", cwd=repo, env=emu.where())
    assert r.code == 1 and r.err.startswith("error: no Engage credentials") and r.out == ""
    assert engage_sync("plan", cwd=repo, env=emu.where()).code == 0


def test_import_from_engage_adopts_what_is_there_once_with_the_declared_phone(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS)
    for eid in IDS[:4]:  # loaded by hand before engage-sync
        by_hand(emu, CAMPAIGN, {"externId": eid, "leadPhone": PHONES[eid]})
    by_hand(emu, CAMPAIGN, {"externId": "R-1004", "leadPhone": PHONES["R-1004"]})  # twice
    by_hand(emu, CAMPAIGN, {"externId": "R-1005", "leadPhone": "2125550100"})  # another phone
    r = engage_sync(
        "import",
        "--campaign",
        str(CAMPAIGN),
        "--from-engage",
        env=emu.env("api-token"),
        cwd=repo,
    )
    assert r.code == 0, r.err
    assert f"Adopted 3 of 6 declared lead(s) of campaign {CAMPAIGN}" in r.out
    assert "  ! R-1004  2 dialable records: not adopted" in r.out
    assert "  -/+ R-1005  another phone in Engage: apply will replace it" in r.out
    assert "  + R-1006  no record: apply will create it" in r.out
    p = engage_sync("plan", cwd=repo, env=emu.where())
    assert (
        "Plan: 3 to create, 0 to update, 0 to replace, 0 to remove, 0 orphaned, 3 unchanged."
        in (p.out)
    )
    assert apply(repo, emu).code == 0
    posted = Counter(
        lead["externId"] for req in emu.loader_posts() for lead in req["body"]["uploadLeads"]
    )
    assert set(posted) == {"R-1004", "R-1005", "R-1006"}


def test_import_from_engage_adopts_a_stopped_record_and_never_loads_it_again(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS[:2])
    for eid in IDS[:2]:
        by_hand(emu, CAMPAIGN, {"externId": eid, "leadPhone": PHONES[eid]})
    done = [r["leadId"] for r in emu.leads(CAMPAIGN) if r["externId"] == IDS[0]]
    emu.post("/_emulator/leads/state", {"leadIds": done, "leadState": "COMPLETE"})
    r = engage_sync(
        "import", "--campaign", str(CAMPAIGN), "--from-engage", env=emu.env("api-token"), cwd=repo
    )
    assert r.code == 0, r.err
    assert f"Adopted 2 of 2 declared lead(s) of campaign {CAMPAIGN}" in r.out
    assert f"  = {IDS[0]}  stopped in Engage (COMPLETE): adopted, never loaded again" in r.out
    assert apply(repo, emu).code == 0
    assert emu.loader_posts() == []  # the finished lead is not dialled again
    assert [x["leadState"] for x in emu.leads(CAMPAIGN) if x["externId"] == IDS[0]] == ["COMPLETE"]


def test_a_lost_answer_then_a_rerun_leaves_one_record_per_lead_under_retain_all(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS, handling="RETAIN_ALL")
    emu.post("/_emulator/faults", {"kind": "lost"})  # stored, then the connection drops
    for _ in range(8):  # and the lookup cannot answer either: the leads stay in doubt
        # (a search for these leads: not do not call's look-up by phone before the load)
        emu.post("/_emulator/faults", {"kind": "500", "endpoint": "search", "externId": IDS[0]})
    first = apply(
        repo, emu, "--max-retries", "1", "--look-first", "off"
    )  # the search faults are for the look-up after the lost answer
    assert first.code in (1, 4)
    assert "not confirmed" in first.err
    assert (
        "in flight when an earlier apply stopped"
        in engage_sync("plan", cwd=repo, env=emu.where()).out
    )
    httpx.delete(f"{emu.origin}/_emulator/faults")
    again = apply(repo, emu)
    assert again.code == 0, again.err
    assert all(len(records(emu)[eid]) == 1 for eid in IDS)
    assert sum(len(req["body"]["uploadLeads"]) for req in emu.loader_posts()) == len(IDS)
    report = engage_sync("plan", "--detailed-exitcode", cwd=repo, env=emu.where())
    assert report.code == 0


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_FROM_LIST", "REMOVE_ALL_EXISTING"])
def test_a_lead_in_doubt_whose_phone_changed_before_the_rerun_is_left_once_with_the_new_phone(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 1146 (docs/chaos.md): the lookup took a record of the lead's
    earlier phone, landed while the answer was lost, for "not loaded" and posted the new phone
    beside it: two dialable records."""
    leadset(repo, IDS[:1], handling=handling)
    left_in_doubt(repo, emu)
    leadset(repo, IDS[:1], handling=handling, phones={IDS[0]: "4155550199"})
    again = apply(repo, emu)
    assert again.code == 0, again.err
    live = dialable(records(emu)[IDS[0]])
    assert [r["lead"]["leadPhone"] for r in live] == ["4155550199"]
    final = plan(repo, emu, "--refresh", "--detailed-exitcode")
    assert final.code == 0, final.out


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_FROM_LIST"])
def test_an_update_whose_load_failed_after_its_old_record_stopped_is_loaded_when_reverted(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 5008 (docs/chaos.md): an update cancels (RETAIN_ALL) or
    deletes (REMOVE_FROM_LIST) the lead's record, then its load fails; the file goes back to
    the content the state recorded. The plan had nothing to do and the lead, declared, kept no
    dialable record (`plan --refresh` called it `stopped`, or `missing`: never fixed); now the
    state keeps in mind that its record was stopped for an update, and the plan loads it again.
    The cancel's record was lost too: an apply that recorded no lead did not save the state."""
    leadset(repo, IDS[:1], handling=handling)
    assert apply(repo, emu).code == 0
    leadset(repo, IDS[:1], handling=handling, first="Bea")
    emu.post("/_emulator/faults", {"kind": "failed"})  # the load fails, after the old record
    failed = apply(repo, emu)
    assert failed.code in (1, 4), failed.err
    leadset(repo, IDS[:1], handling=handling)  # the change is reverted before anyone re-runs
    shown = plan(repo, emu, "--refresh")
    assert "loaded again: an earlier update stopped its record" in shown.out, shown.out
    assert "Drift: 0 missing, 0 stopped," in shown.out  # expected, not drift: loaded again
    again = apply(repo, emu, "--refresh")
    assert again.code == 0, again.err
    assert [r["lead"]["firstName"] for r in dialable(records(emu)[IDS[0]])] == ["Ada"]
    final = plan(repo, emu, "--refresh", "--detailed-exitcode")
    assert final.code == 0, final.out


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_FROM_LIST", "REMOVE_ALL_EXISTING"])
def test_a_lead_in_doubt_duplicated_by_hand_is_left_once_by_one_apply_refresh(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 1008 (docs/chaos.md): a load whose answer was lost landed,
    someone copied its record by hand, and `apply --refresh` took both for unmanaged, found
    the lead by looking, recorded it, and left two dialable records."""
    leadset(repo, IDS[:2], handling=handling)
    left_in_doubt(repo, emu)
    (landed,) = records(emu)[IDS[0]]
    by_hand(emu, CAMPAIGN, landed["lead"])  # a copy, made in Engage
    again = apply(repo, emu, "--refresh")
    assert again.code == 0, again.err
    now = records(emu)
    assert [len(dialable(now[eid])) for eid in IDS[:2]] == [1, 1]
    assert sum(len(req["body"]["uploadLeads"]) for req in emu.loader_posts()) == 2
    final = plan(repo, emu, "--refresh", "--detailed-exitcode")
    assert final.code == 0, final.out


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_FROM_LIST", "REMOVE_ALL_EXISTING"])
def test_a_lead_in_doubt_whose_landed_record_was_cancelled_by_hand_is_not_loaded_again(
    repo: Path, emu: Served, handling: str
) -> None:
    """Convergence campaign, seed 5175 (docs/chaos.md): a load whose answer was lost landed,
    and someone cancelled its record in Engage before the next apply. The lookup found no
    dialable record and posted the lead again: a second dialable record under RETAIN_ALL,
    and under REMOVE_FROM_LIST a row Engage accepted without inserting it, so every plan after
    showed the lead as a create. The cancelled record is the lead's own load: recorded, never
    posted again."""
    leadset(repo, IDS[:2], handling=handling)
    left_in_doubt(repo, emu)
    admin(emu, "CANCEL_LEADS", [lead_id(emu, IDS[0])])  # by hand, in Engage
    again = apply(repo, emu, "--refresh")
    assert again.code == 0, again.err
    assert "1 lead(s) in doubt had landed and were stopped in Engage since" in again.err
    now = records(emu)
    assert dialable(now[IDS[0]]) == [] and len(dialable(now[IDS[1]])) == 1
    assert sum(len(req["body"]["uploadLeads"]) for req in emu.loader_posts()) == 2  # once each
    # converged: nothing to post, and a refresh shows the stop as for any owned lead's
    assert plan(repo, emu, "--detailed-exitcode").code == 0
    final = plan(repo, emu, "--refresh")
    assert "0 to create, 0 to update" in final.out
    assert f"! {IDS[0]}  stopped (CANCELLED): no record is dialable any more" in final.out


# not REMOVE_FROM_LIST: there Engage keeps a pruned lead's record in the list, and a row with
# its phone is accepted and never inserted, whoever posts it
@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_ALL_EXISTING"])
def test_a_lead_in_doubt_whose_only_stopped_record_engage_sync_removed_itself_is_loaded(
    repo: Path, emu: Served, handling: str
) -> None:
    """The other side of seed 5175: a lead engage-sync removed (pruned), declared again with
    the same content, whose load was cut before it landed. Its newest record is the one
    engage-sync cancelled itself, not someone's stop of this load: the lead is posted."""
    leadset(repo, IDS[:2], handling=handling, prune=True)
    assert apply(repo, emu).code == 0
    leadset(repo, IDS[1:2], handling=handling, prune=True)
    assert apply(repo, emu).code == 0
    assert dialable(records(emu)[IDS[0]]) == []
    leadset(repo, IDS[:2], handling=handling, prune=True)  # declared again, as it was
    left_in_doubt(repo, emu, "drop")  # the call is cut: nothing was loaded
    assert dialable(records(emu)[IDS[0]]) == []
    again = apply(repo, emu)
    assert again.code == 0, again.err
    assert "stopped in Engage since" not in again.err
    assert len(dialable(records(emu)[IDS[0]])) == 1
    assert plan(repo, emu, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("handling", ["RETAIN_ALL", "REMOVE_FROM_LIST", "REMOVE_ALL_EXISTING"])
def test_a_lead_in_doubt_whose_file_changed_before_the_rerun_ends_with_the_new_content_once(
    repo: Path, emu: Served, handling: str
) -> None:
    leadset(repo, IDS, handling=handling)
    left_in_doubt(repo, emu)
    leadset(repo, IDS, handling=handling, first="Bea")  # edited before anyone ran it again
    again = apply(repo, emu)
    assert again.code == 0, again.err
    now = records(emu)
    for eid in IDS:  # the record that landed shows Ada: not taken as this lead's, replaced
        assert [r["lead"]["firstName"] for r in dialable(now[eid])] == ["Bea"], eid
    assert engage_sync("plan", "--detailed-exitcode", cwd=repo, env=emu.where()).code == 0


def test_a_lost_answer_that_did_not_land_beside_a_stale_record_leaves_one_record(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS[:1], handling="RETAIN_ALL")
    # a record with the lead's externId and phone, loaded by hand with another name
    by_hand(emu, CAMPAIGN, {"externId": IDS[0], "leadPhone": PHONES[IDS[0]], "firstName": "Old"})
    emu.post("/_emulator/faults", {"kind": "drop"})  # the call is cut: nothing was loaded
    r = apply(repo, emu)
    assert r.code == 0, r.err
    # the lookup found the key but not the content: not taken as the load, cleared, posted
    assert [x["lead"]["firstName"] for x in dialable(records(emu)[IDS[0]])] == ["Ada"]


def test_a_lost_answer_is_looked_up_in_the_same_run(repo: Path, emu: Served) -> None:
    leadset(repo, IDS, handling="RETAIN_ALL")
    emu.post("/_emulator/faults", {"kind": "lost"})
    r = apply(repo, emu, "--report-json", "report.json")
    assert r.code == 0, r.err
    assert all(len(records(emu)[eid]) == 1 for eid in IDS)
    assert load_json(repo / "report.json")["leadsets"][0]["foundAfterLostAnswer"] == len(IDS)


def test_leads_supplied_0_is_a_failed_batch(repo: Path, emu: Served) -> None:
    leadset(repo, IDS)
    emu.post("/_emulator/faults", {"kind": "unsupplied", "externId": "R-1001"})
    r = apply(repo, emu, "--batch-size", "3")
    assert r.code == 4
    assert "failed: leadsSupplied 0: missing.required.param" in r.err
    state = load_json(repo / "engage-sync.state.json")
    assert sorted(state["campaigns"][str(CAMPAIGN)]["leads"]) == IDS[3:]


def test_a_scrubbed_lead_is_not_recorded_and_every_other_lead_is(repo: Path, emu: Served) -> None:
    leadset(repo, IDS)
    emu.post("/_emulator/faults", {"kind": "scrub", "rows": 1})
    r = apply(repo, emu)
    assert r.code == 0, r.err
    assert "1 lead(s) accepted but not in Engage (do-not-call or duplicate phone?)" in r.err
    assert "R-1001" in r.err
    state = load_json(repo / "engage-sync.state.json")
    assert sorted(state["campaigns"][str(CAMPAIGN)]["leads"]) == IDS[1:]


def test_refresh_names_the_fields_a_record_shows_otherwise_and_keeps_the_matching_duplicate(
    repo: Path, emu: Served
) -> None:
    leadset(repo, IDS[:3], handling="RETAIN_ALL")
    assert apply(repo, emu).code == 0
    # R-1001 edited in Engage by hand: its record cancelled, one with another name loaded
    admin(emu, "CANCEL_LEADS", [lead_id(emu, "R-1001")])
    by_hand(
        emu, CAMPAIGN, {"externId": "R-1001", "leadPhone": PHONES["R-1001"], "firstName": "Eve"}
    )
    # R-1002 loaded again by hand with another name: two dialable records, the newer one wrong
    by_hand(
        emu, CAMPAIGN, {"externId": "R-1002", "leadPhone": PHONES["R-1002"], "firstName": "Zed"}
    )
    seen = plan(repo, emu, "--refresh-only")
    assert seen.code == 0, seen.err
    assert "  ! R-1001  changed [firstName] (READY): the dialable record differs" in seen.out
    assert "  ! R-1002  duplicate" in seen.out
    assert "Eve" not in seen.out and "Zed" not in seen.out  # names of fields, never values
    doc = json.loads(plan(repo, emu, "--refresh-only", "--format", "json").out)
    assert {"externId": "R-1001", "kind": "changed", "fields": ["firstName"]}.items() <= next(
        d for d in doc["drift"] if d["externId"] == "R-1001"
    ).items()
    fixed = apply(repo, emu, "--refresh")
    assert fixed.code == 0, fixed.err
    now = records(emu)
    for eid in IDS[:3]:  # one dialable record each, with the declared content
        assert [r["lead"].get("firstName") for r in dialable(now[eid])] == ["Ada"], eid
    kept = dialable(now["R-1002"])[0]
    assert kept["leadId"] < max(r["leadId"] for r in now["R-1002"])  # the older, matching one
    assert plan(repo, emu, "--refresh-only", "--detailed-exitcode").code == 0
