"""The compiled lead rules agree with the JSON Schema they are compiled from."""

from __future__ import annotations

import pytest

from engage_sync.fields import RULES, LeadContext, check_lead, normalise_us_phone, suggest
from engage_sync.schema import document_validator, leadset_schema, schema_path

CTX = LeadContext("NPA_NXX")
BASE = {"externId": "x", "leadPhone": "4155550100"}
CASES: list[dict[str, object]] = [
    BASE,
    {**BASE, "firstName": "Ada", "zip": "02134", "extendedLeadData": {"plan": "gold"}},
    {**BASE, "leadPriority": 3, "maxPasses": 0},
    {**BASE, "leadPriority": -1},
    {**BASE, "maxPasses": "three"},
    {**BASE, "firstname": "typo"},
    {"externId": "x"},
    {"leadPhone": "4155550100"},
    {"externId": "x", "leadPhoneE164": "+14155550100"},
    {"externId": "x", "leadPhoneE164": "14155550100"},
    {**BASE, "firstName": ["a"]},
    {**BASE, "extendedLeadData": {"bad name!": "v"}},
    {**BASE, "externId": "y" * 256},
]


def schema_accepts(lead: dict[str, object]) -> bool:
    doc = {"campaign": 1, "leads": [lead]}
    return not any(document_validator().iter_errors(doc))


@pytest.mark.parametrize("lead", CASES, ids=range(len(CASES)))
def test_compiled_rules_agree_with_jsonschema(lead: dict[str, object]) -> None:
    _, issues = check_lead(lead, CTX)
    assert (not issues) == schema_accepts(lead), issues


def test_rules_cover_every_schema_property() -> None:
    assert set(RULES) == set(leadset_schema()["$defs"]["lead"]["properties"])


def test_schema_file_is_the_checkout_copy_when_not_installed_as_wheel() -> None:
    assert schema_path().name == "leadset.schema.json" and schema_path().is_file()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4155550100", "4155550100"),
        ("(415) 555-0100", "4155550100"),
        ("14155550100", "4155550100"),
        ("+1 (415) 555-0100", "4155550100"),
        ("415 555 010", None),
        ("24155550100", None),
        ("", None),
        ("415-555-O100", None),
    ],
)
def test_us_phone_normalisation(raw: str, expected: str | None) -> None:
    assert normalise_us_phone(raw) == expected


def test_international_lead_phone_accepts_other_lengths() -> None:
    _, issues = check_lead(
        {"externId": "x", "leadPhone": "442071838750"}, LeadContext("NPA_NXX", us_phones=False)
    )
    assert issues == []


@pytest.mark.parametrize(
    ("name", "hint"),
    [("firstname", "firstName"), ("lead_phone", "leadPhone"), ("emial", "email"), ("zzz", None)],
)
def test_unknown_fields_get_a_suggestion(name: str, hint: str | None) -> None:
    assert suggest(name) == (f" (did you mean '{hint}'?)" if hint else "")


def test_bad_phone_messages_do_not_show_the_whole_number() -> None:
    _, issues = check_lead({"externId": "x", "leadPhone": "415555010"}, CTX)
    assert issues == [
        ("leadPhone", "'…5010' is not a valid phone number (10 digits with area code)")
    ]
    assert "415555010" not in issues[0][1]
