"""The emulator's SQLite store (emulator/store.py), called directly: what a search matches and
returns, what each lead action does, the admin side's phone lookups and state changes, a
transaction's all or nothing, and a --data file that survives a restart or an older emulator.
The endpoints in front of it are in test_emulator.py and test_emulator_app.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engage_sync.emulator.store import ACTIONS, Store, digits

ACCOUNT, OTHER = "99990001", "99990002"
CAMPAIGN, SECOND = 136785, 136790


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store()
    yield s
    s.close()


def load(
    store: Store, *leads: dict[str, Any], account: str = ACCOUNT, campaign: int = CAMPAIGN
) -> int:
    with store.transaction() as tx:
        list_id = tx.new_list(account, campaign, "Spring", "2026-11-20T10:00:00.000+0000", {})
        tx.insert_leads(account, campaign, list_id, leads)
    return list_id


def lead(extern_id: str, phone: str = "4155550100", **fields: Any) -> dict[str, Any]:
    return {"externId": extern_id, "leadPhone": phone, **fields}


def found(store: Store, account: str = ACCOUNT, **criteria: Any) -> list[str]:
    return [r["externId"] for r in store.leads(account, criteria, 0, 100)]


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("(303) 555-0142", "3035550142"),
        ("+1 303 555 0142", "3035550142"),
        ("13035550142", "3035550142"),  # eleven digits with the country code: less its 1
        ("3035550142", "3035550142"),
        ("+44 20 7946 0958", "442079460958"),  # another country's keeps every digit
        ("4155550100|4155550199", "4155550100"),  # the first of several
        (None, ""),
        (4155550100, "4155550100"),
    ],
)
def test_a_phones_digits_whatever_its_writing(phone: object, expected: str) -> None:
    assert digits(phone) == expected


def test_ids_look_like_the_real_servers_and_go_on_after_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "data.sqlite")
    first = Store(path)
    list_id = load(first, lead("A"))
    assert list_id == 7001 and first.all_leads(None)[0]["leadId"] == 500001
    first.close()
    again = Store(path)
    try:
        assert load(again, lead("B")) == 7002
        assert [r["leadId"] for r in again.all_leads(None)] == [500001, 500002]
    finally:
        again.close()


def test_a_data_file_of_an_older_emulator_gains_the_new_columns_and_its_phones_are_found(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE lists (list_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,"
        " campaign INTEGER NOT NULL, description TEXT, created TEXT NOT NULL,"
        " options TEXT NOT NULL);"
        "CREATE TABLE leads (lead_id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL,"
        " campaign INTEGER NOT NULL, list_id INTEGER NOT NULL, extern_id TEXT NOT NULL, phone TEXT,"
        " data TEXT NOT NULL);"
        "INSERT INTO lists VALUES (7001, '99990001', 136785, 'old', '2026-01-01', '{}');"
        "INSERT INTO leads VALUES (500001, '99990001', 136785, 7001, 'OLD-1', '(415) 555-0100',"
        ' \'{"externId": "OLD-1", "leadPhone": "(415) 555-0100"}\');'
    )
    db.commit()
    db.close()
    store = Store(str(path))
    try:
        (row,) = store.leads(ACCOUNT, {"leadPhoneNumbers": ["+1 415 555 0100"]}, 0, 10)
        assert row["externId"] == "OLD-1" and row["leadState"] == "READY"
        assert row["suppressed"] is False and row["leadPasses"] == 0
        assert store.by_phone("4155550100") == [500001]
    finally:
        store.close()


def test_a_search_row_has_the_real_servers_shape(store: Store) -> None:
    list_id = load(
        store,
        lead("A", firstName="Ada", maxPasses=3, extendedLeadData={"tier": "gold"}, auxData1="x"),
        {"externId": "B", "leadPhoneE164": "+14155550101"},
    )
    a, b = store.leads(ACCOUNT, {"campaignIds": [CAMPAIGN]}, 0, 10)
    assert a["campaignId"] == CAMPAIGN and a["listId"] == list_id and a["listDesc"] == "Spring"
    assert a["leadPhone"] == "4155550100" and a["leadState"] == "READY"
    assert a["firstName"] == "Ada" and a["maxPasses"] == 3
    assert a["uploadDate"] == a["loadedDts"] == "2026-11-20T10:00:00.000+0000"
    assert a["campaignName"] is None  # the app fills it: it knows the campaigns
    nested = a["campaignLead"]
    assert nested["leadId"] == a["leadId"] and nested["externId"] == "A"
    assert nested["extendedLeadData"] == {"tier": "gold"}
    assert b["leadPhone"] == "+14155550101"  # E.164 alone: that is its phone
    assert b["campaignLead"]["extendedLeadData"] == {} and "firstName" not in b


def test_a_search_matches_each_criterion_and_only_the_accounts_records(store: Store) -> None:
    first = load(store, lead("A", "(415) 555-0100"), lead("B", "4155550101"))
    load(store, lead("C", "4155550102"), campaign=SECOND)
    load(store, lead("A", "4155550100"), account=OTHER)
    assert found(store) == ["A", "B", "C"]  # no criterion: the whole account, and only it
    assert found(store, campaignIds=[SECOND]) == ["C"]
    assert found(store, externIds=["A", "C"]) == ["A", "C"]
    assert found(store, listIds=[first]) == ["A", "B"]
    assert found(store, leadPhoneNumbers=["+1 (415) 555-0100"]) == ["A"]  # any writing
    lead_id = store.leads(ACCOUNT, {"externIds": ["B"]}, 0, 1)[0]["leadId"]
    assert found(store, leadIds=[lead_id]) == ["B"]
    assert found(store, externIds=["A"], campaignIds=[SECOND]) == []  # criteria combine
    assert found(store, OTHER) == ["A"]
    assert found(store, "11112222") == []


def test_a_search_by_state_and_by_suppression(store: Store) -> None:
    load(store, lead("A"), lead("B", "4155550101"), lead("C", "4155550102"))
    store.act(ACCOUNT, {"externIds": ["B"]}, "PAUSE_LEADS")
    store.act(ACCOUNT, {"externIds": ["C"]}, "SUPPRESS_LEADS")
    assert found(store, leadStates=["paused"]) == ["B"]  # spelled as the caller likes
    assert found(store, leadStates=["READY", "PAUSED"]) == ["A", "B", "C"]
    assert found(store, suppressed="ONLY_SUPPRESSED") == ["C"]
    assert found(store, suppressed="ONLY_UNSUPPRESSED") == ["A", "B"]
    assert found(store, suppressed="ALL") == ["A", "B", "C"]


def test_a_search_pages_in_lead_id_order(store: Store) -> None:
    load(store, *(lead(f"L-{i}", f"41555501{i:02d}") for i in range(5)))
    pages = [[r["externId"] for r in store.leads(ACCOUNT, {}, page, 2)] for page in range(4)]
    assert pages == [["L-0", "L-1"], ["L-2", "L-3"], ["L-4"], []]


@pytest.mark.parametrize(
    ("action", "state", "suppressed"),
    [
        ("CANCEL_LEADS", "CANCELLED", False),
        ("PAUSE_LEADS", "PAUSED", False),
        ("READY_LEADS", "READY", False),
        ("RESET_LEADS", "READY", False),
        ("SUPPRESS_LEADS", "PAUSED", True),
        ("UNSUPPRESS_LEADS", "PAUSED", False),
    ],
)
def test_each_lead_action_changes_the_records_it_matches_and_no_other(
    store: Store, action: str, state: str, suppressed: bool
) -> None:
    load(store, lead("A"), lead("B", "4155550101"))
    store.act(ACCOUNT, {}, "PAUSE_LEADS")
    store.act(ACCOUNT, {}, "SUPPRESS_LEADS")
    store.act(ACCOUNT, {}, "UNSUPPRESS_LEADS")
    assert store.act(ACCOUNT, {"externIds": ["A"]}, action) == (1, 0)
    a, b = store.all_leads(CAMPAIGN)
    assert (a["leadState"], a["suppressed"]) == (state, suppressed)
    assert (b["leadState"], b["suppressed"]) == ("PAUSED", False)


def test_delete_removes_the_matched_records_and_counts_them_as_deleted(store: Store) -> None:
    load(store, lead("A"), lead("B", "4155550101"))
    load(store, lead("A"), account=OTHER)
    assert store.act(ACCOUNT, {"externIds": ["A"]}, "DELETE_LEADS") == (0, 1)
    assert [r["externId"] for r in store.all_leads(None)] == ["B", "A"]  # the other account's A
    assert store.act(ACCOUNT, {"externIds": ["A"]}, "DELETE_LEADS") == (0, 0)
    assert set(ACTIONS) == {
        "CANCEL_LEADS",
        "PAUSE_LEADS",
        "READY_LEADS",
        "RESET_LEADS",
        "SUPPRESS_LEADS",
        "UNSUPPRESS_LEADS",
        "DELETE_LEADS",
    }


def test_the_loaders_exact_phone_lookups_are_per_campaign(store: Store) -> None:
    load(store, lead("A", "4155550100"), lead("B", "4155550100"))
    load(store, lead("C", "4155550100"), campaign=SECOND)
    assert store.phone_exists(CAMPAIGN, "4155550100")
    assert not store.phone_exists(CAMPAIGN, "4155550199")
    assert store.delete_phone(CAMPAIGN, "4155550100") == 2
    assert not store.phone_exists(CAMPAIGN, "4155550100")
    assert store.phone_exists(SECOND, "4155550100")


def test_the_admin_side_finds_a_phone_in_any_writing_and_sets_states(store: Store) -> None:
    load(store, lead("A", "(415) 555-0100"), lead("B", "4155550101"))
    load(store, lead("C", "+14155550100"), campaign=SECOND)
    a, b, c = (r["leadId"] for r in store.all_leads(None))
    assert store.by_phone("415.555.0100") == [a, c]
    assert store.by_phone("415.555.0100", SECOND) == [c]
    assert store.by_phone("4155550199") == []
    assert store.set_state([a, b], "do_not_call", None) == 2
    assert store.set_state([b], None, True) == 1
    assert store.set_state([a], None, None) == 0
    rows = {r["externId"]: (r["leadState"], r["suppressed"]) for r in store.all_leads(None)}
    assert rows == {"A": ("DO-NOT-CALL", False), "B": ("DO-NOT-CALL", True), "C": ("READY", False)}


def test_a_transaction_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        list_id = tx.new_list(ACCOUNT, CAMPAIGN, "half", "now", {})
        tx.insert_leads(ACCOUNT, CAMPAIGN, list_id, [lead("A")])
        raise RuntimeError("the loader failed half way")
    assert store.all_leads(None) == [] and store.lists() == []
    load(store, lead("B"))
    assert [r["externId"] for r in store.all_leads(None)] == ["B"]
    assert store.lock.acquire(blocking=False)  # released after both
    store.lock.release()


def test_the_inspection_listings(store: Store) -> None:
    list_id = load(store, lead("A", firstName="Ada"))
    load(store, lead("B"), campaign=SECOND)
    (row,) = store.all_leads(CAMPAIGN)
    assert row == {
        "leadId": row["leadId"],
        "accountId": ACCOUNT,
        "campaignId": CAMPAIGN,
        "listId": list_id,
        "externId": "A",
        "listDescription": "Spring",
        "leadState": "READY",
        "suppressed": False,
        "lead": {"externId": "A", "leadPhone": "4155550100", "firstName": "Ada"},
    }
    assert [(x["listId"], x["campaignId"], x["description"]) for x in store.lists()] == [
        (list_id, CAMPAIGN, "Spring"),
        (list_id + 1, SECOND, "Spring"),
    ]
