"""Value types: load options with their closed vocabularies, a lead's phone."""

from __future__ import annotations

from engage_sync.model import DialPriority, DuplicateHandling, Lead, LoadOptions


def test_load_options_are_built_once_and_give_the_request_body() -> None:
    options = LoadOptions.of(
        {
            "duplicateHandling": "RETAIN_ALL",
            "dialPriority": "IMMEDIATE",
            "callerIdNumbers": ["4155550100"],
            "description": "",
        }
    )
    assert options.items[0] == ("callerIdNumbers", ("4155550100",))  # sorted, lists as tuples
    assert options.duplicate_handling is DuplicateHandling.RETAIN_ALL
    assert options.dial_priority is DialPriority.IMMEDIATE
    assert options.body() == {
        "callerIdNumbers": ["4155550100"],
        "dialPriority": "IMMEDIATE",
        "duplicateHandling": "RETAIN_ALL",
    }  # empty values left out
    assert LoadOptions.of({"duplicateHandling": "SOMETHING_NEW"}).duplicate_handling is None
    assert LoadOptions().get("dialPriority") is None
    assert DuplicateHandling.RETAIN_ALL.effect == "Engage keeps both as separate dial records"


def test_a_leads_phone_is_its_lead_phone_else_its_e164_one() -> None:
    both = Lead.from_mapping(
        {"externId": "a", "leadPhoneE164": "+14155550101", "leadPhone": "4155550100"}, "f", 1
    )
    only_e164 = Lead.from_mapping({"externId": "b", "leadPhoneE164": "+14155550101"}, "f", 1)
    assert (both.phone, only_e164.phone) == ("4155550100", "+14155550101")
    assert Lead.from_mapping({"externId": "c"}, "f", 1).phone == ""
