"""optouts/ledger.py: a removal's line, what makes two lines one removal, and an append's edge
cases (appending once, torn lines and damage are in test_optouts.py and test_spill.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from engage_sync import jsonl
from engage_sync.errors import StateError
from engage_sync.optouts import DateSource, Deadline, OptOutRules, Requested, ledger


def deadline(requested: str, commit: str | None = None, **rules: object) -> Deadline:
    day = date.fromisoformat(requested)
    return Deadline(Requested(day, DateSource.GIT, commit), day, OptOutRules.of(rules))


def test_a_removal_line_says_when_it_was_asked_due_done_and_whether_in_time() -> None:
    confirmed = datetime(2026, 12, 2, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    line = ledger.entry(
        5,
        "R-1",
        deadline("2026-11-20", commit="abc123", country="US"),
        [{"action": "CANCEL_LEADS", "leadIds": [1]}],
        confirmed,
    )
    assert line == {
        "campaign": 5,
        "externId": "R-1",
        "requested": "2026-11-20",
        "requestedFrom": "git",
        "commit": "abc123",
        "due": "2026-12-07",  # ten business days, Thanksgiving and two weekends skipped
        "acts": [{"action": "CANCEL_LEADS", "leadIds": [1]}],
        "confirmed": "2026-12-02T14:30:00Z",  # in UTC whatever the clock's zone
        "businessDays": 7,
        "met": True,
    }


def test_a_removal_confirmed_after_its_deadline_is_not_met() -> None:
    late = ledger.entry(5, "R-1", deadline("2026-11-20"), [], datetime(2026, 12, 8, 12))
    assert late["met"] is False and late["businessDays"] == 11


def test_a_request_dated_ahead_by_a_time_zone_took_no_negative_days() -> None:
    # asked "tomorrow" in Auckland, confirmed today in UTC
    line = ledger.entry(
        5,
        "R-1",
        deadline("2026-11-20", timezone="UTC"),
        [],
        datetime(2026, 11, 19, 23, 0, tzinfo=timezone.utc),
    )
    assert line["businessDays"] == 0 and line["met"] is True


def test_the_confirmed_day_is_counted_in_the_configured_time_zone() -> None:
    moment = datetime(2026, 12, 8, 3, 0, tzinfo=timezone.utc)  # still the 7th in Los Angeles
    utc = ledger.entry(5, "R", deadline("2026-11-20"), [], moment)
    la = ledger.entry(5, "R", deadline("2026-11-20", timezone="America/Los_Angeles"), [], moment)
    assert (utc["met"], la["met"]) == (False, True)


def test_one_removal_is_a_campaign_extern_id_and_request_day_or_a_phone_account_and_day() -> None:
    a = {"campaign": 5, "externId": "R", "requested": "2026-11-20", "confirmed": "x"}
    assert ledger.key(a) == ledger.key({**a, "confirmed": "y", "acts": []})
    assert ledger.key(a) != ledger.key({**a, "campaign": 6})
    assert ledger.key(a) != ledger.key({**a, "requested": "2026-11-21"})
    phone = {"phone": "h1", "requested": "2026-11-20", "campaign": 5}
    assert ledger.key(phone) == ledger.key({**phone, "campaign": 6})  # in no one campaign
    assert ledger.key(phone) != ledger.key({**phone, "phone": "h2"})
    # stopped in two accounts of one run: a line each (each account's records and cancels)
    assert ledger.key({**phone, "account": "1"}) != ledger.key({**phone, "account": "2"})
    # the records cancelled: a record that landed later is another line; confirmed again with
    # nothing to cancel (another account is retried), the same
    assert ledger.key({**phone, "leadIds": [5]}) != ledger.key({**phone, "leadIds": []})
    assert ledger.key({**phone, "leadIds": [], "confirmed": "a"}) == ledger.key(
        {**phone, "leadIds": [], "confirmed": "b"}
    )


def test_read_returns_each_removal_once_the_first_line_winning(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    ledger.append(path, [{"campaign": 5, "externId": "a", "requested": "d", "n": 1}])
    # a second line of the same removal (a merge of two branches' ledgers)
    with path.open("ab") as f:
        f.write(jsonl.dumps({"campaign": 5, "externId": "a", "requested": "d", "n": 2}))
    assert [e["n"] for e in ledger.read(path)] == [1]


def test_a_line_that_is_no_evidence_entry_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    path.write_text('{"campaign":5}\n')
    with pytest.raises(ledger.DamagedLedger, match=r"x\.evidence\.jsonl:1: damaged line \(not an"):
        list(ledger.read(path))
    with pytest.raises(ledger.DamagedLedger):
        ledger.append(path, [{"campaign": 5, "externId": "b", "requested": "d"}])
    assert path.read_text() == '{"campaign":5}\n'


def test_nothing_to_append_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.evidence.jsonl"
    assert ledger.append(path, []) == 0
    assert not path.exists()


def test_a_whole_last_line_without_its_line_end_is_ended_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    ledger.append(path, [{"campaign": 5, "externId": "a", "requested": "d"}])
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # its end lost (an editor, a copy)
    assert ledger.append(path, [{"campaign": 5, "externId": "b", "requested": "d"}]) == 1
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b"]
    assert path.read_bytes().count(b"\n") == 2


def test_lines_longer_than_a_block_are_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "x.evidence.jsonl"
    acts = [{"action": "CANCEL_LEADS", "leadIds": list(range(20_000))}]  # ~110 kB a line
    ledger.append(
        path, [{"campaign": 5, "externId": e, "requested": "d", "acts": acts} for e in "ab"]
    )
    assert ledger.append(path, [{"campaign": 5, "externId": "a", "requested": "d"}]) == 0
    assert [e["externId"] for e in ledger.read(path)] == ["a", "b"]


def test_a_ledger_that_cannot_be_written_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "x.evidence.jsonl"
    with pytest.raises(StateError, match="cannot append to the evidence ledger"):
        ledger.append(path, [{"campaign": 5, "externId": "a", "requested": "d"}])
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(StateError, match="cannot read the evidence ledger"):
        list(ledger.read(tmp_path / "dir.jsonl"))
