"""`state list|show|rm|recover` and `import` (cli/state.py) in-process under click's CliRunner,
on real files in tmp_path and, for `import --from-engage`, the in-process emulator on a loopback
socket: what each prints, its exit code, the error line of each refusal (the state left as it
was), and never a lead's value. The recovery of a damaged journal is in test_state.py; `state
path`'s precedence in test_cli_options.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirunner import invoke
from conftest import Served, write

from engage_sync.state import load_state, save_state

STATE = "engage-sync.state.json"
SPRING = "leadsets/spring-renewals.yaml"
VALUES = ("Ada", "Lovelace", "4155550100", "ada@example.com", "San Francisco")


def imported(workspace: Path) -> bytes:
    r = invoke("import", "--campaign", "136785", SPRING)
    assert r.code == 0, r.err
    return (workspace / STATE).read_bytes()


def test_state_list_before_any_apply_says_there_is_none(workspace: Path) -> None:
    r = invoke("state", "list")
    assert (r.code, r.out, r.err) == (0, f"{STATE}: no state yet (nothing applied)\n", "")
    doc = json.loads(invoke("state", "list", "--format", "json").out)
    assert doc == {"path": STATE, "lineage": doc["lineage"], "serial": 0, "campaigns": []}


def test_state_list_counts_each_campaigns_leads_in_doubt_and_files(workspace: Path) -> None:
    imported(workspace)
    r = invoke("import", "--campaign", "136790", "leadsets/webinar-followup.csv")
    assert r.code == 0, r.err
    state = load_state(workspace / STATE)
    state.campaigns[136790].doubt(["W-2001"])
    save_state(state)
    listed = invoke("state", "list")
    assert listed.code == 0
    assert listed.out.splitlines() == [
        f"{STATE}: serial {state.serial}, lineage {state.lineage}",
        "  campaign 136785: 4 lead(s) (leadsets/spring-renewals.yaml)",
        "  campaign 136790: 5 lead(s), 1 in doubt (leadsets/webinar-followup.csv)",
        "9 lead(s) in 2 campaign(s).",
    ]
    doc = json.loads(invoke("state", "list", "--format", "json").out)
    assert [(c["campaignId"], c["leads"], c["inDoubt"], c["synced"]) for c in doc["campaigns"]] == [
        (136785, 4, 0, False),
        (136790, 5, 1, False),
    ]
    for value in VALUES:
        assert value not in listed.out + json.dumps(doc)


def test_state_show_names_hashes_and_fields_never_values(workspace: Path) -> None:
    imported(workspace)
    r = invoke("state", "show", "136785", "R-1001")
    assert r.code == 0 and r.err == ""
    lines = r.out.splitlines()
    assert lines[0] == "campaign 136785, externId R-1001"
    assert lines[1].startswith("  content hash: ")
    fields = {line.split(":")[0].strip() for line in lines[2:]}
    assert {"leadPhone", "firstName", "email"} <= fields
    assert all(": field hash " in line for line in lines[2:])
    for value in VALUES:
        assert value not in r.out


def test_state_show_of_a_lead_in_doubt_says_so(workspace: Path) -> None:
    imported(workspace)
    state = load_state(workspace / STATE)
    state.campaigns[136785].drop(["R-1002"])
    state.campaigns[136785].doubt(["R-1002"])
    save_state(state)
    r = invoke("state", "show", "136785", "R-1002")
    assert r.code == 0 and "content hash" not in r.out
    assert r.out.splitlines()[-1] == (
        "  in doubt: an apply stopped while this lead was being posted"
    )


@pytest.mark.parametrize(
    ("campaign", "extern_id"), [("136785", "R-9999"), ("136790", "R-1001"), ("5", "x")]
)
def test_state_show_of_a_lead_the_state_does_not_hold_is_one_error_line(
    workspace: Path, campaign: str, extern_id: str
) -> None:
    imported(workspace)
    r = invoke("state", "show", campaign, extern_id)
    assert (r.code, r.out) == (1, "")
    assert r.err == f"error: campaign {campaign}: no lead '{extern_id}' in {STATE}\n"


def test_state_rm_forgets_the_leads_named_and_says_the_next_apply_creates_them(
    workspace: Path,
) -> None:
    imported(workspace)
    serial = load_state(workspace / STATE).serial
    r = invoke("state", "rm", "136785", "R-1001", "R-1003")
    assert r.code == 0, r.err
    assert r.out == (
        f"Removed 2 lead(s) of campaign 136785 from {STATE} (serial {serial + 1}); "
        "the next apply creates them again.\n"
    )
    assert sorted(load_state(workspace / STATE).campaigns[136785].leads) == ["R-1002", "R-1004"]


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("136785", "R-1001", "R-0000", "R-0001"), "R-0000, R-0001"),  # only the unknown named
        (("136790", "R-1001"), "R-1001"),  # a campaign the state does not hold
    ],
)
def test_state_rm_of_a_lead_not_in_the_state_removes_nothing(
    workspace: Path, args: tuple[str, ...], named: str
) -> None:
    before = imported(workspace)
    r = invoke("state", "rm", *args)
    assert (r.code, r.out) == (1, "")
    assert r.err == f"error: campaign {args[0]}: not in the state: {named}; nothing removed\n"
    assert (workspace / STATE).read_bytes() == before
    assert not (workspace / f"{STATE}.lock").exists()  # the lock is let go on the error too


def test_state_rm_needs_at_least_one_extern_id(workspace: Path) -> None:
    r = invoke("state", "rm", "136785")
    assert r.code == 64 and "Missing argument 'EXTERN_IDS...'" in r.err


def test_state_recover_with_no_damaged_journal_changes_nothing(workspace: Path) -> None:
    before = imported(workspace)
    r = invoke("state", "recover")
    assert (r.code, r.out) == (0, f"{STATE}: nothing to recover (no damaged journal line)\n")
    assert (workspace / STATE).read_bytes() == before


@pytest.mark.parametrize("args", [(), (SPRING, "--from-engage")])
def test_import_takes_a_file_or_from_engage_and_not_both(
    workspace: Path, args: tuple[str, ...]
) -> None:
    r = invoke("import", "--campaign", "136785", *args)
    assert r.code == 64 and "give either FILE or --from-engage" in r.err
    assert not (workspace / STATE).exists()


def test_import_of_a_lead_set_of_another_campaign_records_nothing(workspace: Path) -> None:
    r = invoke("import", "--campaign", "136790", SPRING)
    assert (r.code, r.out) == (1, "")
    assert r.err == (f"error: {SPRING}: declares campaign 136785, not 136790; nothing imported\n")
    assert not (workspace / STATE).exists()


def test_import_of_a_lead_set_says_how_many_and_where_without_posting(workspace: Path) -> None:
    r = invoke("import", "--campaign", "136785", SPRING)
    assert r.code == 0, r.err
    assert r.out == (
        f"Recorded 4 lead(s) of campaign 136785 in {STATE} (serial 1) without posting them.\n"
    )
    assert load_state(workspace / STATE).campaigns[136785].files == {SPRING}


def test_import_of_an_invalid_leads_file_says_where_and_records_nothing(workspace: Path) -> None:
    write(workspace / "more.csv", "externId,leadPhone\nX-1,4155550100\nX-2,\n")
    r = invoke("import", "--campaign", "136785", "more.csv")
    assert r.code == 1 and r.out == "" and "Traceback" not in r.err
    assert "more.csv:3: leadPhone: required" in r.err
    assert not (workspace / STATE).exists()


def test_import_from_engage_for_a_campaign_no_lead_set_declares_is_refused(
    workspace: Path, served: Served
) -> None:
    r = invoke("import", "--campaign", "136799", "--from-engage", env=served.env("api-token"))
    assert (r.code, r.out) == (1, "")
    assert r.err == "error: no lead set declares campaign 136799; nothing imported\n"
    assert not (workspace / STATE).exists() and served.get("/_emulator/requests") == []


def test_import_from_engage_without_credentials_fails_before_reading_anything(
    workspace: Path,
) -> None:
    r = invoke("import", "--campaign", "136785", "--from-engage")
    assert r.code == 1 and r.err.startswith("error: no Engage credentials")
    assert not (workspace / STATE).exists()


def test_import_from_engage_adopts_the_leads_held_once_with_their_phone_and_lists_the_rest(
    workspace: Path, served: Served
) -> None:
    by_hand = [
        {"externId": "R-1001", "leadPhone": "4155550100"},  # as declared: adopted
        {"externId": "R-1002", "leadPhone": "2125550199"},  # another phone: not adopted
    ]
    served.post(
        "/_emulator/leads", {"accountId": "99990001", "campaignId": 136785, "leads": by_hand}
    )
    r = invoke("import", "--campaign", "136785", "--from-engage", env=served.env("api-token"))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == (
        f"Adopted 1 of 4 declared lead(s) of campaign 136785 from Engage into {STATE} "
        "(serial 1) without posting them."
    )
    assert any("R-1002" in line for line in lines[1:]) and any("R-1003" in line for line in lines)
    assert sorted(load_state(workspace / STATE).campaigns[136785].leads) == ["R-1001"]
    for value in ("2125550199", "4155550100", "Ada"):
        assert value not in r.out + r.err
