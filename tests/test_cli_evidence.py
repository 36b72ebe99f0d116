"""`engage-sync evidence` (cli/evidence.py) in-process under click's CliRunner, on a ledger written
by optouts.ledger in tmp_path: what each removal's text says, its filters (person, phone,
campaign, days), CSV and JSON, and each refusal as one error line. A ledger written by real
applies is in test_optouts_e2e.py and test_donotcall_e2e.py; a damaged one in test_optouts.py."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from clirunner import invoke

from engage_sync.cli.evidence import CSV_COLUMNS
from engage_sync.donotcall.keys import PhoneKey
from engage_sync.optouts import ledger
from engage_sync.state import load_state, save_state

LEDGER = "engage-sync.evidence.jsonl"
TAIL = f"removal(s) from {LEDGER}. Days are dates in UTC (optOuts.timezone); times are UTC."


def removal(eid: str, confirmed: str = "2026-12-03T22:00:00Z", **more: Any) -> dict[str, Any]:
    return {
        "campaign": 136785,
        "externId": eid,
        "requested": "2026-12-01",
        "requestedFrom": "lead set",
        "commit": None,
        "due": "2026-12-11",
        "acts": [],
        "confirmed": confirmed,
        "businessDays": 2,
        "met": True,
        **more,
    }


def phone_removal(digest: str, **more: Any) -> dict[str, Any]:
    return {
        "phone": digest,
        "scope": "account",
        "campaigns": [136785, 136790],
        "requested": "2026-12-01",
        "requestedFrom": "do-not-call list",
        "source": "lists/dnc.csv",
        "due": "2026-12-11",
        "acts": [],
        "confirmed": "2026-12-02T09:00:00Z",
        "businessDays": 1,
        "met": True,
        **more,
    }


def ledger_of(workspace: Path, *entries: dict[str, Any]) -> None:
    ledger.append(workspace / LEDGER, entries)


def keyed_state(workspace: Path) -> PhoneKey:
    """A state whose phone hashes are made with its own salt, as the first do-not-call stop
    leaves it."""
    key = PhoneKey.new_salt()
    state = load_state(workspace / "engage-sync.state.json")
    state.do_not_call.keyed(key.to_json())
    save_state(state)
    return key


def test_no_ledger_yet_is_no_removal(workspace: Path) -> None:
    r = invoke("evidence")
    assert (r.code, r.out, r.err) == (0, f"0 {TAIL}\n", "")


def test_each_removal_says_when_how_and_what_was_cancelled(workspace: Path) -> None:
    answered = {
        "action": "CANCEL_LEADS",
        "leadIds": [500001, 500002],
        "at": "2026-12-03T21:59:58Z",
        "answered": True,
    }
    lost = {"action": "DELETE_LEADS", "leadIds": [500003], "at": "late", "answered": False}
    ledger_of(
        workspace,
        removal("R-1", acts=[answered, lost], commit="abc123"),
        removal("R-2", met=False, businessDays=9, requestedFrom="state"),
    )
    r = invoke("evidence")
    assert r.code == 0 and r.err == ""
    assert r.out.splitlines() == [
        "campaign 136785 R-1: stopped 2026-12-03 (UTC), 2 business day(s) after the request "
        "(due 2026-12-11: met)",
        "  requested 2026-12-01 (lead set); tombstoned in commit abc123",
        "  CANCEL_LEADS of Engage lead id(s) 500001, 500002: answered 2026-12-03 21:59:58 UTC",
        "  DELETE_LEADS of Engage lead id(s) 500003: sent late, no answer (it may have been "
        "carried out)",
        "  a search at 2026-12-03 22:00:00 UTC found no dialable record",
        "campaign 136785 R-2: stopped 2026-12-03 (UTC), 9 business day(s) after the request "
        "(due 2026-12-11: MISSED)",
        "  requested 2026-12-01 (state)",
        "  no dialable record was found, so none had to be cancelled",
        "  a search at 2026-12-03 22:00:00 UTC found no dialable record",
        f"2 {TAIL}",
    ]


def test_filters_by_person_campaign_and_confirmed_day(workspace: Path) -> None:
    ledger_of(
        workspace,
        removal("R-1", confirmed="2026-12-01T10:00:00Z"),
        removal("R-2", confirmed="2026-12-03T10:00:00Z"),
        removal("W-1", confirmed="2026-12-05T10:00:00Z", campaign=136790),
        removal("X-1", confirmed="not a time"),
    )

    def shown(*args: str) -> list[str]:
        r = invoke("evidence", "--format", "json", *args)
        assert r.code == 0, r.err
        return [e["externId"] for e in json.loads(r.out)["removals"]]

    assert shown() == ["R-1", "R-2", "W-1", "X-1"]  # no range: even one with no day
    assert shown("--extern-id", "R-2", "--extern-id", "W-1") == ["R-2", "W-1"]
    assert shown("--campaign", "136790") == ["W-1"]
    assert shown("--since", "2026-12-02") == ["R-2", "W-1"]
    assert shown("--until", "2026-12-03") == ["R-1", "R-2"]
    assert shown("--since", "2026-12-03", "--until", "2026-12-03") == ["R-2"]


def test_a_person_with_no_removal_in_range_is_an_error_after_what_was_found(
    workspace: Path,
) -> None:
    ledger_of(workspace, removal("R-1", confirmed="2026-12-01T10:00:00Z"))
    r = invoke("evidence", "--extern-id", "R-1", "--extern-id", "R-9", "--since", "2026-12-01")
    assert r.code == 1
    assert r.out.startswith("campaign 136785 R-1: stopped 2026-12-01")
    assert r.err == (
        f"error: no removal of R-9 is recorded in {LEDGER} in that range: a tombstone not "
        "carried out yet shows in `engage-sync plan` with its deadline\n"
    )
    assert invoke("evidence", "--extern-id", "R-1", "--since", "2026-12-02").code == 1


def test_until_before_since_is_a_usage_error(workspace: Path) -> None:
    r = invoke("evidence", "--since", "2026-12-05", "--until", "2026-12-01")
    assert r.code == 64 and "--until is before --since" in r.err and r.out == ""


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "12/01/2026"])
def test_a_day_not_written_yyyy_mm_dd_is_a_usage_error(workspace: Path, day: str) -> None:
    r = invoke("evidence", "--since", day)
    assert r.code == 64 and "Traceback" not in r.err and "'--since'" in r.err


def test_csv_has_one_row_a_removal_for_a_spreadsheet(workspace: Path) -> None:
    act = {"action": "CANCEL_LEADS", "leadIds": [7, 8], "at": "2026-12-03T21:59:58Z"}
    later = {"action": "DELETE_LEADS", "leadIds": [9], "at": "2026-12-03T23:00:00Z"}
    ledger_of(
        workspace,
        removal("R-1", acts=[later, act], commit="abc123"),
        phone_removal("f" * 24),
        {**phone_removal("f" * 24), "account": "99990002"},
    )
    r = invoke("evidence", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0] == {
        "campaignId": "136785",
        "externId": "R-1",
        "requested": "2026-12-01",
        "requestedFrom": "lead set",
        "commit": "abc123",
        "due": "2026-12-11",
        "confirmed": "2026-12-03T22:00:00Z",
        "businessDays": "2",
        "met": "yes",
        "actions": "DELETE_LEADS CANCEL_LEADS",
        "leadIds": "9 7 8",
        "actedAt": "2026-12-03T21:59:58Z",  # the first act sent
        "account": "",
    }
    phone = rows[1]
    assert (phone["campaignId"], phone["externId"]) == ("136785 136790", f"phone #{'f' * 24}")
    assert (phone["commit"], phone["actions"], phone["actedAt"]) == ("", "", "")
    assert (phone["account"], rows[2]["account"]) == ("", "99990002")  # where it was stopped


def test_out_writes_the_file_and_nothing_to_standard_output(workspace: Path) -> None:
    ledger_of(workspace, removal("R-1"))
    r = invoke("evidence", "--format", "json", "--out", "evidence.json")
    assert (r.code, r.out) == (0, "")
    doc = json.loads((workspace / "evidence.json").read_text())
    assert doc["ledger"] == LEDGER and [e["externId"] for e in doc["removals"]] == ["R-1"]


def test_a_phone_is_looked_up_by_its_keyed_hash_in_any_writing_and_never_shown(
    workspace: Path,
) -> None:
    key = keyed_state(workspace)
    digest = key.digest("+14155550100")
    act = {
        "action": "CANCEL_LEADS",
        "leadIds": [500001],
        "campaign": 136790,
        "at": "2026-12-02T08:59:00Z",
        "answered": True,
    }
    ledger_of(workspace, phone_removal(digest, acts=[act]), removal("R-1"))
    for form in ("(415) 555-0100", "+1 415 555 0100", "4155550100"):
        r = invoke("evidence", "--phone", form)
        assert r.code == 0, r.err
        assert r.out.splitlines() == [
            f"phone #{digest[:12]}: stopped 2026-12-02, 1 business day(s) after the request "
            "(due 2026-12-11: met)",
            "  requested 2026-12-01 (do-not-call list, lists/dnc.csv)",
            "  CANCEL_LEADS of Engage lead id(s) 500001 in campaign 136790: answered "
            "2026-12-02T08:59:00Z",
            "  a search by phone at 2026-12-02T09:00:00Z found no dialable record with it in "
            "every campaign of the account",
            f"1 {TAIL}",
        ]
        assert "4155550100" not in r.out + r.err and "555 0100" not in r.out + r.err
    assert invoke("evidence", "--phone", "4155550100", "--campaign", "136790").code == 0
    other = invoke("evidence", "--phone", "4155550199")
    assert other.code == 1 and other.err.startswith("error: no removal of 4155550199 is recorded")


def test_a_phone_before_any_was_stopped_by_do_not_call_is_an_error(workspace: Path) -> None:
    ledger_of(workspace, removal("R-1"))
    r = invoke("evidence", "--phone", "4155550100")
    assert (r.code, r.out) == (1, "")
    assert r.err == (
        "error: engage-sync.state.json records no phone stopped by do not call yet: "
        "nothing to look up\n"
    )


def test_a_phone_that_is_no_phone_number_is_a_usage_error(workspace: Path) -> None:
    keyed_state(workspace)
    r = invoke("evidence", "--phone", "not-a-number")
    assert r.code == 64 and "--phone 'not-a-number' is not a phone number" in r.err


def test_a_phone_of_a_state_keyed_with_a_secret_needs_that_secret(workspace: Path) -> None:
    state = load_state(workspace / "engage-sync.state.json")
    state.do_not_call.keyed(PhoneKey(b"s" * 32, "secret").to_json())
    save_state(state)
    r = invoke("evidence", "--phone", "4155550100")
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("error: cannot look a phone up: this state's phone hashes were made")
    wrong = invoke("evidence", "--phone", "4155550100", env={"ENGAGE_SYNC_PHONE_KEY": "t" * 32})
    assert wrong.code == 1 and "is not the key this state's phone hashes were made" in wrong.err
    assert "t" * 32 not in wrong.err  # the secret is never shown


def test_what_the_ledger_says_is_shown_escaped(workspace: Path) -> None:
    ledger_of(workspace, removal("x\n::error::forged", requestedFrom="\x1b]8;;evil\x07"))
    r = invoke("evidence")
    assert r.code == 0
    for line in r.out.splitlines():
        assert not line.startswith("::") and "\x1b" not in line


@pytest.mark.parametrize("eid", ['=HYPERLINK("http://x")', "+1-2", "-1+2", "@SUM(A1)"])
def test_csv_never_hands_a_spreadsheet_a_formula(workspace: Path, eid: str) -> None:
    """An externId comes from a lead-set file anyone who can push may write."""
    ledger_of(workspace, removal(eid))
    r = invoke("evidence", "--format", "csv")
    assert r.code == 0, r.err
    (row,) = list(csv.DictReader(io.StringIO(r.out)))
    assert row["externId"] == "'" + eid
