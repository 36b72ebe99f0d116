"""What to cancel or delete before loading, per duplicateHandling mode (reconcile.py's table)."""

from __future__ import annotations

import pytest

from engage_sync.engage.leads import LeadAction, LeadRecord, is_dialable, phone_key
from engage_sync.errors import ApiError
from engage_sync.model import DuplicateHandling, PruneAction
from engage_sync.reconcile.actions import Intent, Want, decide, dialable_left

CANCEL, DELETE = LeadAction.CANCEL, LeadAction.DELETE
RETAIN_ALL = DuplicateHandling.RETAIN_ALL


def rec(lead_id: int, phone: str, state: str = "READY", eid: str = "A", **kw: bool) -> LeadRecord:
    return LeadRecord(lead_id, eid, 1, phone_key(phone), state, kw.get("suppressed", False))


OLD, NEW = "4155550100", "2125550142"
RECORDS = [rec(1, OLD), rec(2, NEW), rec(3, OLD, "COMPLETE"), rec(4, OLD, eid="B")]


@pytest.mark.parametrize(
    ("intent", "handling", "expected"),
    [
        (Intent.REMOVE, "REMOVE_ALL_EXISTING", {CANCEL: [1, 2]}),
        (Intent.REMOVE, "RETAIN_ALL", {CANCEL: [1, 2]}),
        (Intent.PRUNE, "REMOVE_FROM_LIST", {CANCEL: [1, 2]}),
        # declared phone NEW: records with OLD are cancelled whatever the mode
        (Intent.REPLACE, "REMOVE_ALL_EXISTING", {CANCEL: [1]}),
        (Intent.REPLACE, "RETAIN_ALL", {CANCEL: [1, 2]}),
        (Intent.REPLACE, "REMOVE_FROM_LIST", {CANCEL: [1], DELETE: [2]}),
        (Intent.UPDATE, "REMOVE_ALL_EXISTING", {CANCEL: [1]}),
        (Intent.UPDATE, "RETAIN_ALL", {CANCEL: [1, 2]}),
        (Intent.UPDATE, "REMOVE_FROM_LIST", {CANCEL: [1], DELETE: [2]}),
    ],
)
def test_the_mechanism_per_mode(intent: Intent, handling: str, expected: dict) -> None:  # type: ignore[type-arg]
    assert decide(Want("A", intent, NEW), RECORDS, DuplicateHandling(handling)) == expected


def test_prune_delete_deletes_every_record_of_the_person() -> None:
    assert decide(Want("A", Intent.PRUNE), RECORDS, RETAIN_ALL, PruneAction.DELETE) == {
        DELETE: [1, 2, 3]
    }


@pytest.mark.parametrize(
    ("state", "suppressed", "dialable"),
    [
        ("READY", False, True),
        ("CALLBACK", False, True),
        ("PENDING_HCI", False, True),
        ("CANCELLED", False, False),
        ("DO_NOT_CALL", False, False),
        ("do-not-call", False, False),
        ("MAX-DIAL-LIMIT", False, False),
        ("SOMETHING-NEW", False, True),  # unknown: dialable, the safe side
        ("TRANSITIONED", False, True),
        ("READY", True, False),  # suppressed: not dialled whatever the state
        ("READY", "true", False),
    ],
)
def test_dialable_states(state: str, suppressed: object, dialable: bool) -> None:
    assert is_dialable(state, suppressed) is dialable


def test_phones_compare_by_digits() -> None:
    assert phone_key("(415) 555-0100") == phone_key("+14155550100") == "4155550100"
    assert phone_key("3125550123|3125550124") == "3125550123|3125550124"


def test_records_from_search_rows_read_the_nested_lead_too() -> None:
    row = {
        "leadId": "7",
        "campaignLead": {"campaignId": 9, "externId": "E", "leadPhoneE164": "+14155550100"},
        "leadState": "pending_callback",
        "suppressed": False,
    }
    r = LeadRecord.parse(row)
    assert r == LeadRecord(7, "E", 9, "4155550100", "PENDING-CALLBACK", False, "")
    for unreadable in ({"externId": "E"}, []):
        with pytest.raises(ApiError, match=r"^leadSearch: "):
            LeadRecord.parse(unreadable)
    assert dialable_left({"E"}, [r]) == [r]


@pytest.mark.parametrize(
    "state", ["Bearer engage-abc123", "READY\n::error::x", "\x1b]8;;http://e\x07", "A" * 41]
)
def test_a_lead_state_that_is_not_a_word_is_unreadable_and_dialable(state: str) -> None:
    row = {"leadId": 1, "campaignId": 2, "externId": "E", "leadPhone": "1", "leadState": state}
    record = LeadRecord.parse(row)
    assert record.state == "UNREADABLE" and record.dialable
