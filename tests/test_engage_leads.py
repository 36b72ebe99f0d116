"""engage/leads.py: what a lead-search row becomes, which records can still be dialled, and how a
record is compared with a declared lead. Rows with a field missing or of another type, an
externId no lead set can declare, and a page's envelope are in test_engage_answers.py; the
dialable states table and the nested lead in test_reconcile.py."""

from __future__ import annotations

from typing import Any

import pytest

from engage_sync.engage.leads import (
    UNREADABLE,
    LeadRecord,
    is_dialable,
    normalise_state,
    phone_key,
)

ROW: dict[str, Any] = {
    "leadId": 11,
    "externId": "E-1",
    "campaignId": 7,
    "leadPhone": "4155550100",
    "leadState": "READY",
}


# -- states --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "state"),
    [
        (" do_not_call ", "DO-NOT-CALL"),  # trimmed, upper case, the guide's spelling
        ("Max-Dial-Limit", "MAX-DIAL-LIMIT"),
        (None, ""),
        ("", ""),
        ("READY NOW", UNREADABLE),  # not one word
        ("9READY", UNREADABLE),  # not a word's start
        (7, UNREADABLE),
    ],
)
def test_a_state_is_one_spelling_of_a_short_word(raw: object, state: str) -> None:
    assert normalise_state(raw) == state


@pytest.mark.parametrize(
    ("state", "suppressed", "dialable"),
    [
        ("do_not_call", False, False),
        ("", False, True),  # no state said: the safe side
        ("READY", "TRUE", False),
        ("READY", "false", True),
        ("READY", None, True),
    ],
)
def test_what_can_still_be_dialled(state: str, suppressed: object, dialable: bool) -> None:
    assert is_dialable(state, suppressed) is dialable


@pytest.mark.parametrize(
    ("phone", "key"),
    [
        ("+1 (415) 555-0100|4155550101", "4155550100|4155550101"),  # each part on its own
        ("24155550100", "24155550100"),  # eleven digits not starting with 1: kept
        ("+44 20 7946 0018", "442079460018"),
        (None, ""),
        (4155550100, "4155550100"),
    ],
)
def test_a_phones_key_is_its_digits_without_the_north_american_1(phone: object, key: str) -> None:
    assert phone_key(phone) == key


# -- a search row --------------------------------------------------------------------------------
def test_top_level_fields_win_over_the_nested_lead() -> None:
    row = {
        **ROW,
        "firstName": "Ada",
        "leadState": "CANCELLED",
        "campaignLead": {"firstName": "Grace", "lastName": "Hopper", "leadState": "READY"},
    }
    r = LeadRecord.parse(row)
    assert r.content == (("firstName", "Ada"), ("lastName", "Hopper"))
    assert r.state == "CANCELLED" and not r.dialable


def test_a_top_level_null_state_is_the_rows_word_not_the_nested_one() -> None:
    r = LeadRecord.parse({**ROW, "leadState": None, "campaignLead": {"leadState": "CANCELLED"}})
    assert r.state == "" and r.dialable  # unknown: dialable, the safe side


@pytest.mark.parametrize(("raw", "suppressed"), [("TRUE", True), ("False", False), (True, True)])
def test_suppressed_is_read_as_a_flag_or_its_text(raw: object, suppressed: bool) -> None:
    r = LeadRecord.parse({**ROW, "suppressed": raw})
    assert r.suppressed is suppressed and r.dialable is not suppressed


def test_the_nested_suppressed_counts_when_the_row_does_not_say() -> None:
    assert LeadRecord.parse({**ROW, "campaignLead": {"suppressed": True}}).suppressed


def test_every_phone_shown_is_kept_once_and_the_key_is_the_first() -> None:
    row = {
        **ROW,
        "leadPhone": "",
        "leadPhoneE164": "+14155550100",
        "campaignLead": {"leadPhone": "(415) 555-0100", "leadPhoneE164": "+14155550100"},
    }
    r = LeadRecord.parse(row)
    assert r.phones == ("(415) 555-0100", "+14155550100")
    assert r.phone == "4155550100"


def test_when_it_was_loaded_falls_back_to_the_upload_date() -> None:
    assert LeadRecord.parse({**ROW, "uploadDate": "2026-01-02"}).loaded == "2026-01-02"
    both = {**ROW, "uploadDate": "2026-01-02", "loadedDts": "2026-03-04"}
    assert LeadRecord.parse(both).loaded == "2026-03-04"


def test_custom_fields_at_the_top_level_are_read_when_the_nested_lead_has_none() -> None:
    row = {**ROW, "extendedLeadData": {"plan": "gold", "tier": 2.5, "": "x"}}
    assert LeadRecord.parse(row).content == (
        ("extendedLeadData.plan", "gold"),
        ("extendedLeadData.tier", "2.5"),
    )


def test_a_records_identity_is_its_fields_not_the_phones_it_shows() -> None:
    a = LeadRecord(1, "E", 7, "4155550100", "READY", False, phones=("4155550100",))
    b = LeadRecord(1, "E", 7, "4155550100", "READY", False, phones=("+14155550100",))
    assert a == b


# -- compared with a declared lead ---------------------------------------------------------------
def test_a_record_differs_by_the_fields_it_shows_otherwise() -> None:
    r = LeadRecord(1, "E", 7, "4155550100", "READY", False, content=(("city", "Boston"),))
    assert r.differs_from([("city", " boston ")]) == ()
    assert r.differs_from([("city", "Austin")]) == ("city",)
    assert r.differs_from([]) == ("city",)  # a value the declaration leaves out
    assert r.differs_from([("city", "Boston"), ("zip", "02134")]) == ()  # zip not shown
    phones = [("city", "Boston"), ("leadPhone", "x"), ("leadPhoneE164", "y")]
    assert r.differs_from(phones) == ()  # phones are compared elsewhere
