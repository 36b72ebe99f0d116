"""The compiled lead rules agree with the JSON Schema they are compiled from."""

from __future__ import annotations

import pytest

from engage_sync.leadsets.fields import RULES, LeadContext, check_lead, normalise_us_phone, suggest
from engage_sync.leadsets.schema import document_validator, leadset_schema, schema_path

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
        ("'4155550100", "4155550100"),  # Excel's mark for text: not part of the number
        ("'+1 (415) 555-0100", "4155550100"),  # a CSV-injection guard's, before a +
        ("''4155550100", None),  # one mark only
        ("4155'550100", None),
        ("4.15556E+09", None),
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


@pytest.mark.parametrize(
    ("raw", "issue"),
    [
        ({**BASE, "leadPhone": "'4155550100|'(415) 555-0101"}, None),
        ({"externId": "x", "leadPhoneE164": "'+14155550100"}, None),
        (
            {**BASE, "leadPhone": "4.15556E+09"},
            (
                "leadPhone",
                "'…E+09' is a number Excel shortened (scientific notation): digits "
                "were lost; format the column as text and export again",
            ),
        ),
        (
            {"externId": "x", "leadPhoneE164": "1,41556E+10"},
            (
                "leadPhoneE164",
                "'…E+10' is a number Excel shortened (scientific notation): "
                "digits were lost; format the column as text and export again",
            ),
        ),
        (
            {"externId": "x", "leadPhoneE164": "14155550100"},
            ("leadPhoneE164", "must be E.164, e.g. +14155550100"),
        ),
    ],
)
def test_excel_marks_and_shortened_numbers_in_phones(
    raw: dict[str, object], issue: tuple[str, str] | None
) -> None:
    """A leading apostrophe is Excel's mark for text: removed. A number in scientific notation
    lost its digits: said so, never read; the message shows no more than the last four
    characters, as every phone message."""
    lead, issues = check_lead(raw, CTX)
    assert issues == ([issue] if issue else [])
    if issue is None:
        assert lead.get("leadPhone", "4155550100|4155550101") == "4155550100|4155550101"
        assert lead.get("leadPhoneE164", "+14155550100") == "+14155550100"


# -- the compiled fast path gives exactly the lead the general check gives ------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engage_sync.leadsets.fields import HeaderPlan, personal_id  # noqa: E402
from engage_sync.leadsets.readers import _raw  # noqa: E402
from engage_sync.model import Lead  # noqa: E402


def _phoneish(extern_id: str) -> bool:
    return personal_id(extern_id, {"leadPhone": "4155550100"}) is not None


HEADERS = [
    ["externId", "leadPhone", "firstName", "zip", "extendedLeadData.plan"],
    ["leadPhone", "externId", "email", "state", "city"],
    ["externId", "leadPhoneE164", "lastName"],
    ["externId", "leadPhone", "leadPriority"],
]
VALUE = st.one_of(
    st.sampled_from(
        [
            "",
            "4155550100",
            "(415) 555-0100",
            "14155550100",
            "+14155550100",
            "02134",
            "ON",
            "Ada",
            "x" * 300,
            "x" * 5000,  # past a field's length: the general check says so
            "5",
            "a|b",
            "R-1\x1b[2J",  # a control character: an externId may not hold one
            "ada@example.com",  # an externId like this is warned of (personal_id)
            "+1 415 555 0100",
            "415.555.0100",
            "'4155550100",  # Excel's mark for text: the general check removes it
            "4.15556E+09",
        ]
    ),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(
    header=st.sampled_from(HEADERS),
    data=st.data(),
    tz=st.sampled_from([None, "NPA_NXX", "ZIPCODE", "EXPLICIT"]),
)
def test_fast_path_agrees_with_the_general_check(
    header: list[str], data: st.DataObject, tz: str | None
) -> None:
    row = [data.draw(VALUE) for _ in header]
    ctx = LeadContext(tz)
    hit = HeaderPlan(header, ctx).fast(row)
    normalised, issues = check_lead(_raw(header, row), ctx)
    if hit is None:
        return  # the caller takes the general path: nothing to compare
    assert issues == []
    # a row the general check would warn of never takes the fast path (which does not warn)
    assert personal_id(hit[0], normalised) is None
    slow = Lead.from_mapping(normalised, "f", 1)
    plan = HeaderPlan(header, ctx)
    assert (hit[0], plan.names, hit[1], hit[2]) == (
        slow.extern_id,
        slow.names,
        slow.values,
        slow.digest,
    )


def test_fast_path_takes_clean_rows() -> None:
    plan = HeaderPlan(HEADERS[0], LeadContext("NPA_NXX"))
    assert plan.fast(["E1", "4155550100", "Ada", "02134", "gold"]) is not None
    row = ["E1", "(415) 555-0100", "Ada", "02134", "gold"]
    hit = plan.fast(row)  # a phone written otherwise is normalised, and is not the row's
    assert hit is not None and hit[1][plan.names.index("leadPhone")] == "4155550100"
    assert plan.fast(["E1", "415555010", "Ada", "02134", "gold"]) is None  # the check says why
    assert plan.fast(["E1", "4155550100|2125550100", "Ada", "02134", "gold"]) is None
    assert plan.fast(["E1", "4155550100", "", "02134", "gold"]) is None  # empty: general path
    assert HeaderPlan(HEADERS[3], LeadContext(None)).fast(["E1", "4155550100", "5"]) is None


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.text(min_size=1, max_size=20).filter(lambda t: t.strip() == t and t),
        min_size=3,
        max_size=3,
    ),
    eid=st.text(min_size=1, max_size=40).filter(
        # a clean externId: printable, and not what may be a phone or an email (those take the
        # general check, which warns: test_fast_path_agrees_with_the_general_check)
        lambda e: e.isprintable() and "@" not in e and "4155550100" not in e and not _phoneish(e)
    ),
)
def test_clean_rows_take_the_fast_path_and_match(text: list[str], eid: str) -> None:
    header = ["externId", "leadPhone", "firstName", "city", "extendedLeadData.note"]
    row = [eid, "4155550100", *text]
    ctx = LeadContext("NPA_NXX")
    plan = HeaderPlan(header, ctx)
    hit = plan.fast(row)
    assert hit is not None
    normalised, issues = check_lead(_raw(header, row), ctx)
    assert issues == []
    slow = Lead.from_mapping(normalised, "f", 1)
    assert (hit[0], plan.names, hit[1], hit[2]) == (
        slow.extern_id,
        slow.names,
        slow.values,
        slow.digest,
    )
