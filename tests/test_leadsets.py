"""Lead-set reading and validation, on real files (tests/data and tmp_path)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, write

from engage_sync import leadsets
from engage_sync.config import load_config
from engage_sync.errors import InputError
from engage_sync.leadsets import Sink
from engage_sync.model import Lead, Severity

HEADER = """campaign: 136785
options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, timeZoneOption: NPA_NXX}
"""


def read(path: Path, defaults: dict[str, object] | None = None) -> tuple[list[Lead], Sink]:
    sink = Sink()
    sources = leadsets.load_sources([path], defaults or {}, sink)
    leads = [lead for d in leadsets.group(sources, sink) for lead in d.leads]
    return leads, sink


def messages(sink: Sink) -> list[str]:
    return sorted(str(p) for p in sink.problems)


def test_valid_corpus_has_no_errors_and_keeps_exact_text() -> None:
    sink = Sink()
    files = leadsets.discover([str(DATA / "valid")])
    sources = leadsets.load_sources(files, {}, sink)
    leads = {
        (d.campaign.id, lead.extern_id): dict(lead.fields)
        for d in leadsets.group(sources, sink)
        for lead in d.leads
    }
    assert sink.errors == []
    assert leads[(136785, "V1")]["zip"] == "02134"  # never 1116 or 2134
    assert leads[(136785, "V1")]["state"] == "ON"  # Ontario, never True
    assert leads[(136785, "V3")]["zip"] == "2134"  # JSON number kept as written
    assert leads[(136785, "V3")]["leadPriority"] == 2
    assert leads[(136785, "V4")]["extendedLeadData.tier"] == "A"
    assert leads[(136790, "V1")]["leadPhone"] == "4155550101"
    assert leads[(136790, "V1")]["address1"] == "1 Main St\r\nSuite 2"
    assert leads[(136790, "V1")]["extendedLeadData.note"] == 'said "call back"'
    assert leads[(136790, "V2")]["firstName"] == "Émile"
    assert "address1" not in leads[(136790, "V2")]  # empty fields are left out


def test_csv_line_numbers_count_multi_line_rows() -> None:
    leads, _ = read(DATA / "valid" / "beta.yaml")
    assert [(lead.extern_id, lead.line) for lead in leads] == [("V1", 2), ("V2", 4)]


def test_same_phone_twice_is_a_warning_saying_what_engage_will_do() -> None:
    _, sink = read(DATA / "valid" / "alpha.yaml")
    (warning,) = sink.warnings
    assert warning.severity is Severity.WARNING
    assert str(warning) == (
        "tests/data/valid/alpha.yaml:15: leadPhone: warning: same phone as the lead at "
        "tests/data/valid/alpha.yaml:10; with duplicateHandling REMOVE_ALL_EXISTING Engage keeps "
        "only the last lead loaded with it"
    ) or str(warning).endswith("Engage keeps only the last lead loaded with it")


def test_every_problem_of_a_file_is_reported_with_its_line() -> None:
    _, sink = read(DATA / "invalid" / "fields.yaml")
    got = messages(sink)
    expected = [
        ":4: options.duplicateHandling: 'REMOVE_SOME' is not one of",
        ":9: leadPhone: '…5010' is not a valid phone number (10 digits with area code)",
        ":11: firstname: unknown field (did you mean 'firstName'?)",
        ":12: externId: required: every lead needs an externId",
        ":14: leadPhone: required: a lead needs leadPhone or leadPhoneE164",
        ":16: leadTimezone: required because options.timeZoneOption is EXPLICIT",
        ":19: leadPhoneE164: must be E.164, e.g. +14155550100",
        ":22: leadPhone: '12' is not a valid phone number",
        ":24: maxPasses: must be a whole number, not 'many'",
        ":25: externId: duplicate externId 'B1' in campaign 136785: first declared at "
        "tests/data/invalid/fields.yaml:8",
    ]
    assert len(got) == len(expected)
    for want in expected:
        assert any(f"tests/data/invalid/fields.yaml{want}" in line for line in got), want


def test_top_level_schema_problems_point_at_their_lines() -> None:
    _, sink = read(DATA / "invalid" / "options.yaml")
    assert messages(sink) == [
        "tests/data/invalid/options.yaml:1: campaign: must be a campaign id (a positive whole "
        "number) or {id: ..., name: ...}",
        "tests/data/invalid/options.yaml:2: acount: unknown field(s): acount",
        "tests/data/invalid/options.yaml:3: options.duplicateHandling: required (set it here or "
        "in engage-sync.yaml options)",
        "tests/data/invalid/options.yaml:3: options.timeZoneOption: required (set it here or in "
        "engage-sync.yaml options)",
        "tests/data/invalid/options.yaml:4: options.dialPriority: 'SOON' is not one of "
        "['IMMEDIATE', 'NORMAL']",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("empty.yaml", "empty.yaml:1: file is empty"),
        ("list.yaml", "list.yaml:1: the top level must be a mapping"),
        ("malformed.yaml", "malformed.yaml:4: invalid YAML"),
        ("malformed.json", "malformed.json:1: invalid JSON"),
        ("not-utf8.yaml", "not-utf8.yaml:3: file is not valid UTF-8"),
        ("bomb.yaml", "bomb.yaml:3: YAML anchors/aliases are not supported"),  # the first *a
        (
            "missing-csv.yaml",
            "missing-csv.yaml:3: leadsFile: tests/data/invalid/nowhere.csv: file not found",
        ),
    ],
)
def test_unreadable_input_is_one_clear_problem(name: str, expected: str) -> None:
    _, sink = read(DATA / "invalid" / name)
    assert len(sink.errors) == 1
    assert expected in str(sink.errors[0])


def test_defaults_fill_required_options(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml", "campaign: 1\nleads:\n  - {externId: x, leadPhone: '4155550100'}\n"
    )
    _, without = read(path)
    assert {p.field for p in without.errors} == {
        "options.dialPriority",
        "options.duplicateHandling",
        "options.timeZoneOption",
    }
    defaults = {
        "dialPriority": "NORMAL",
        "duplicateHandling": "RETAIN_ALL",
        "timeZoneOption": "NPA_NXX",
    }
    leads, with_defaults = read(path, defaults)
    assert with_defaults.errors == [] and len(leads) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"(415) 555-0100"', "4155550100"),
        ('"1-415-555-0100"', "4155550100"),
        ("4155550100", "4155550100"),
        ('"+1 415 555 0100"', "4155550100"),
        ('"415.555.0100 | (212) 555-0142"', "4155550100|2125550142"),
    ],
)
def test_unambiguous_phone_formats_are_normalised(
    tmp_path: Path, value: str, expected: str
) -> None:
    path = write(tmp_path / "a.yaml", HEADER + f"leads:\n  - {{externId: x, leadPhone: {value}}}\n")
    leads, sink = read(path)
    assert sink.errors == []
    assert dict(leads[0].fields)["leadPhone"] == expected


@pytest.mark.parametrize(
    "value", ['"415555010"', '"24155550100"', '"415-555-01OO"', "4.1555501e9", '"4155550100|"']
)
def test_ambiguous_phones_are_rejected(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "a.yaml", HEADER + f"leads:\n  - {{externId: x, leadPhone: {value}}}\n")
    leads, sink = read(path)
    assert leads == []
    assert [p.field for p in sink.errors] == ["leadPhone"]
    assert sink.errors[0].line == 4


def test_yaml_implicit_types_never_change_lead_data(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """leads:
  - externId: 0012
    leadPhone: 4155550100
    zip: 02134
    state: ON
    city: yes
    auxData1: 1e3
    auxData2: 0x1F
    auxData3: 12:30:00
    auxData4: 2026-01-02
    lastName: null
    extendedLeadData: {flag: off, code: 007}
""",
    )
    leads, sink = read(path)
    assert sink.errors == []
    fields = dict(leads[0].fields)
    assert leads[0].extern_id == "0012"
    assert fields == {
        "leadPhone": "4155550100",
        "zip": "02134",
        "state": "ON",
        "city": "yes",
        "auxData1": "1e3",
        "auxData2": "0x1F",
        "auxData3": "12:30:00",
        "auxData4": "2026-01-02",
        "extendedLeadData.flag": "off",
        "extendedLeadData.code": "007",
    }


def test_non_text_values_for_text_fields_are_rejected_with_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """leads:
  - externId: x
    leadPhone: "4155550100"
    firstName: [Ada]
    extendedLeadData: {nested: {a: 1}}
""",
    )
    _, sink = read(path)
    assert sorted((p.line, p.field) for p in sink.errors) == [
        (6, "firstName"),
        (7, "extendedLeadData.nested"),
    ]


def test_duplicate_externid_across_files_names_both_places(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", HEADER + "leads:\n  - {externId: x, leadPhone: '4155550100'}\n")
    write(tmp_path / "b.yaml", HEADER + "leads:\n  - {externId: x, leadPhone: '4155550101'}\n")
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover([str(tmp_path)]), {}, sink)
    list(lead for d in leadsets.group(sources, sink) for lead in d.leads)
    (error,) = sink.errors
    assert error.file.endswith("b.yaml") and error.line == 4
    assert "duplicate externId 'x' in campaign 136785: first declared at" in error.message
    assert "a.yaml:4" in error.message


def test_same_externid_in_different_campaigns_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", HEADER + "leads:\n  - {externId: x, leadPhone: '4155550100'}\n")
    write(
        tmp_path / "b.yaml",
        HEADER.replace("136785", "136786") + "leads:\n  - {externId: x, leadPhone: '4155550101'}\n",
    )
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover([str(tmp_path)]), {}, sink)
    assert len([lead for d in leadsets.group(sources, sink) for lead in d.leads]) == 2
    assert sink.errors == []


@pytest.mark.parametrize(("tz", "field"), [("EXPLICIT", "leadTimezone"), ("ZIPCODE", "zip")])
def test_time_zone_option_needs_its_field(tmp_path: Path, tz: str, field: str) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER.replace("NPA_NXX", tz) + "leads:\n  - {externId: x, leadPhone: '4155550100'}\n",
    )
    _, sink = read(path)
    assert [p.field for p in sink.errors] == [field]


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """leads:
  - externId: x
    leadPhone: "4155550100"
    firstName: Ada
    firstName: Grace
""",
    )
    _, sink = read(path)
    assert [(p.line, p.field, p.message) for p in sink.errors] == [
        (7, "firstName", "duplicate key in this lead")
    ]


def test_merge_keys_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + """base: &base {leadPhone: "4155550100"}
leads:
  - {<<: *base, externId: x}
""",
    )
    _, sink = read(path)
    assert any("a.yaml:5: YAML merge keys (<<) are not supported" in str(p) for p in sink.errors)


def test_csv_rows_of_the_wrong_width_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "l.csv", "externId,leadPhone\nx,4155550100,extra\ny,4155550101\n")
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.csv\n")
    leads, sink = read(path)
    assert [lead.extern_id for lead in leads] == ["y"]
    assert [(p.line, p.message) for p in sink.errors] == [
        (2, "has 3 values but the header has 2 columns")
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("externId,leadPhone,leadPhone", "column(s) repeated: leadPhone"),
        ("externId,firstName", "needs an externId and a leadPhone or leadPhoneE164 column"),
        ("", "the file is empty"),
    ],
)
def test_bad_csv_headers(tmp_path: Path, header: str, message: str) -> None:
    write(tmp_path / "l.csv", header + ("\n" if header else ""))
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.csv\n")
    _, sink = read(path)
    assert len(sink.errors) == 1 and message in str(sink.errors[0])


def test_jsonl_problems_have_line_numbers(tmp_path: Path) -> None:
    write(
        tmp_path / "l.jsonl",
        '{"externId": "a", "leadPhone": "4155550100"}\n[1]\n{bad\n'
        '{"externId": "b", "leadPhone": true}\n',
    )
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.jsonl\n")
    leads, sink = read(path)
    assert [lead.extern_id for lead in leads] == ["a"]
    assert [(p.line, p.field) for p in sink.errors] == [
        (2, "(line)"),
        (3, "(line)"),
        (4, "leadPhone"),
    ]


def test_non_utf8_csv_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_bytes(b"externId,leadPhone\nx,4155550100\n\xff\xfe,1\n")
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.csv\n")
    _, sink = read(path)
    assert len(sink.errors) == 1 and "not valid UTF-8" in str(sink.errors[0])


def test_discover_skips_hidden_and_config_files(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "")
    write(tmp_path / ".hidden" / "b.yaml", "")
    write(tmp_path / "engage-sync.yaml", "")
    write(tmp_path / "notes.txt", "")
    assert [p.name for p in leadsets.discover([str(tmp_path)])] == ["a.yaml"]


def test_discover_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        leadsets.discover([str(tmp_path / "missing")])
    with pytest.raises(InputError, match="no lead-set files"):
        leadsets.discover([str(tmp_path)])


def test_files_of_one_campaign_must_agree_on_account(tmp_path: Path) -> None:
    write(
        tmp_path / "a.yaml",
        HEADER + "account: '1'\nleads:\n  - {externId: x, leadPhone: '4155550100'}\n",
    )
    write(
        tmp_path / "b.yaml",
        HEADER + "account: '2'\nleads:\n  - {externId: y, leadPhone: '4155550101'}\n",
    )
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover([str(tmp_path)]), {}, sink)
    leadsets.group(sources, sink)
    # an error at both places, each naming the other
    assert [(p.field, p.file) for p in sink.errors] == [
        ("account", f"{tmp_path}/b.yaml"),
        ("account", f"{tmp_path}/a.yaml"),
    ]
    assert "also declared in" in sink.errors[0].message


def test_files_of_one_campaign_must_agree_on_options_but_the_list_name(tmp_path: Path) -> None:
    for name, priority, described in (("a", "NORMAL", "A"), ("b", "IMMEDIATE", "B")):
        write(
            tmp_path / f"{name}.yaml",
            f"campaign: 136785\noptions:\n  description: {described}\n"
            f"  dialPriority: {priority}\n  duplicateHandling: RETAIN_ALL\n"
            "  timeZoneOption: NPA_NXX\nleads:\n"
            f"  - {{externId: {name}, leadPhone: '415555010{len(name)}'}}\n",
        )
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover([str(tmp_path)]), {}, sink)
    leadsets.group(sources, sink)
    found = [(p.file.rsplit("/", 1)[1], p.line, p.field) for p in sink.errors]
    assert found == [("b.yaml", 2, "options"), ("a.yaml", 2, "options")]
    assert 'with options dialPriority: "NORMAL"' in sink.errors[0].message
    assert "description" not in sink.errors[0].message  # each file's leads get a list of their own


def test_the_same_leads_hash_the_same_in_yaml_csv_and_json_lines(tmp_path: Path) -> None:
    write(
        tmp_path / "l.csv",
        "externId,leadPhone,firstName,extendedLeadData.plan\n"
        "a,4155550100,Ada,gold\nb,(415) 555-0101,Bo,silver\n",
    )
    write(
        tmp_path / "l.jsonl",
        '{"externId": "a", "leadPhone": "4155550100", "firstName": "Ada", '
        '"extendedLeadData": {"plan": "gold"}}\n'
        '{"firstName": "Bo", "externId": "b", "leadPhone": "415.555.0101", '
        '"extendedLeadData": {"plan": "silver"}}\n',
    )
    yaml_leads = (
        HEADER
        + """leads:
  - {externId: a, leadPhone: "4155550100", firstName: Ada, extendedLeadData: {plan: gold}}
  - {externId: b, leadPhone: 415 555 0101, firstName: Bo, extendedLeadData: {plan: silver}}
"""
    )
    got = {}
    for name, text in (
        ("csv.yaml", HEADER + "leadsFile: l.csv\n"),
        ("jsonl.yaml", HEADER + "leadsFile: l.jsonl\n"),
        ("inline.yaml", yaml_leads),
    ):
        leads, sink = read(write(tmp_path / name, text))
        assert sink.errors == []
        got[name] = sorted((lead.extern_id, lead.names, lead.values, lead.digest) for lead in leads)
    assert got["csv.yaml"] == got["jsonl.yaml"] == got["inline.yaml"]
    assert len(got["csv.yaml"]) == 2


def test_a_campaigns_leads_are_read_once_and_a_second_read_is_a_bug(tmp_path: Path) -> None:
    from engage_sync.workspace import read_sources

    write(
        tmp_path / "leadsets" / "a.yaml",
        "campaign: 7\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleads:\n  - {externId: a, leadPhone: '4155550100'}\n",
    )
    sources, sink, _ = read_sources([str(tmp_path / "leadsets")], load_config(cwd=tmp_path))
    (want,) = leadsets.group(sources, sink)
    assert [x.extern_id for x in want.leads] == ["a"]
    with pytest.raises(RuntimeError, match="the leads of campaign 7 were read already"):
        list(want.leads)


def test_unknown_csv_columns_are_reported_with_the_other_problems_in_one_run(
    tmp_path: Path,
) -> None:
    write(tmp_path / "a.csv", "externId,leadPhone,frstName\nX1,4155550100,Ann\nX2,123,Bob\nX3,1\n")
    path = write(
        tmp_path / "a.yaml",
        "campaign: 1\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleadsFile: a.csv\n",
    )
    _, sink = read(path)
    found = [str(p).split("a.csv:", 1)[1] for p in sink.errors]
    assert found == [
        "1: (header): unknown column(s) 3 'frstName' (did you mean 'firstName'?); columns are lead "
        "field names, custom fields as extendedLeadData.NAME (the other columns are still checked)",
        "3: leadPhone: '123' is not a valid phone number (10 digits with area code)",
        "4: (row): has 2 values but the header has 3 columns",
    ]
    # and without the needed columns, nothing else can be checked: one clear problem
    write(tmp_path / "a.csv", "externId,phone,firstname\n1,4155550100,Ada\n")
    _, sink = read(path)
    assert [str(p).split("a.csv:", 1)[1] for p in sink.errors][-1] == (
        "1: bad header: needs an externId and a leadPhone or leadPhoneE164 column"
    )


def test_a_byte_that_is_not_utf8_is_named_at_its_line(tmp_path: Path) -> None:
    rows = ["externId,leadPhone,firstName"] + [f"X{i},41555501{i:02d},Ann" for i in range(60)]
    data = (
        ("\n".join(rows) + "\n").encode().replace(b"X49,4155550149,Ann", b"X49,4155550149,An\xe9")
    )
    (tmp_path / "a.csv").write_bytes(data)
    path = write(
        tmp_path / "a.yaml",
        "campaign: 1\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleadsFile: a.csv\n",
    )
    _, sink = read(path)
    (problem,) = sink.errors
    offset = data.index(b"\xe9")
    assert str(problem).endswith(
        f"a.csv:51: not valid UTF-8: byte {offset} (column 18) is 0xe9; save the file as UTF-8 "
        "(Excel: CSV UTF-8)"
    )


def test_a_request_date_must_be_a_day_that_has_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGE_SYNC_TODAY", "2026-12-02")
    path = write(
        tmp_path / "a.yaml",
        "campaign: 1\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
        "timeZoneOption: NPA_NXX}\nleads: []\nremoved:\n"
        '  - {externId: "A", requested: 2026-11-20}\n'
        '  - {externId: "B", requested: 2026-02-30}\n'
        "  - externId: C\n    requested: 2026-12-04\n"
        '  - {externId: "D", requested: 2026-12-03}\n'  # a time zone ahead of this machine
        '  - {externId: "E", requested: "20 Nov"}\n',
    )
    source, sink = None, Sink()
    source = leadsets.load_source(path, {}, sink)
    assert source is not None
    assert [
        (t.extern_id, t.requested and t.requested.isoformat()) for t in source.meta.tombstones
    ] == [
        ("A", "2026-11-20"),
        ("B", None),
        ("C", None),
        ("D", "2026-12-03"),
        ("E", None),
    ]
    shown = str(path)
    assert messages(sink) == [
        f"{shown}:10: removed.4.requested: '20 Nov' is not a date (YYYY-MM-DD, for example "
        "2026-11-20)",
        f"{shown}:6: removed.1.requested: '2026-02-30' is not a date (YYYY-MM-DD)",
        f"{shown}:8: removed.2.requested: 2026-12-04 has not come yet",
    ]


def test_the_exact_recheck_finds_every_repeat_among_rows_it_skips(tmp_path: Path) -> None:
    """A campaign whose hashes repeated is read again, and that second read skips the rows that
    cannot be a repeat: it still finds each repeat, written any way, at its line."""
    rows = [f"E{i},415555{i:04d},Ada" for i in range(2000)]
    rows[100] = "E100,(415) 555-0007,Ada"  # the phone of line 9, formatted: normalised first
    rows[1500] = "E1500,4155550007,Bo"  # the same phone again, as the first pass hashed it
    rows[1800] = "E7,4155559999,Cy"  # an externId again
    write(tmp_path / "l.csv", "externId,leadPhone,firstName\n" + "\n".join(rows) + "\n")
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.csv\n")
    leads, sink = read(path)
    assert [(p.line, p.field, p.message.split(";")[0]) for p in sink.problems] == [
        (102, "leadPhone", "same phone as the lead at l.csv:9".replace("l.csv", shown(tmp_path))),
        (1502, "leadPhone", "same phone as the lead at l.csv:9".replace("l.csv", shown(tmp_path))),
        (
            1802,
            "externId",
            f"duplicate externId 'E7' in campaign 136785: first declared at {shown(tmp_path)}:9",
        ),
    ]
    assert len(leads) == 2000


def shown(folder: Path) -> str:
    return leadsets.shown_path(folder / "l.csv")


# -- hostile inputs: sizes, nesting, counts (issue #29) -------------------------------------------
CSV_SET = (
    "campaign: 1\noptions: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, "
    "timeZoneOption: NPA_NXX}\nleadsFile: a.csv\n"
)


def test_a_field_longer_than_its_cap_is_an_error_at_its_line(tmp_path: Path) -> None:
    write(
        tmp_path / "a.csv",
        "externId,leadPhone,firstName,extendedLeadData.note\n"
        f"A1,4155550100,Ada,{'n' * 4096}\n"  # at the cap: fine
        f"A2,4155550101,{'x' * 4097},ok\n"
        f"A3,4155550102,Bo,{'n' * 4097}\n",
    )
    leads, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    assert [lead.extern_id for lead in leads] == ["A1"]
    assert messages(sink) == [
        f"{tmp_path}/a.csv:3: firstName: longer than 4096 characters",
        f"{tmp_path}/a.csv:4: extendedLeadData.note: longer than 4096 characters",
    ]


def test_a_lead_larger_than_its_cap_is_an_error_at_its_line(tmp_path: Path) -> None:
    fields = ["firstName", "lastName", "address1", "address2", "city", "auxData1", "auxData2"]
    fields += ["auxData3", "auxData4", "auxData5", "email", "gateKeeper", "title", "suffix"]
    fields += ["midName", "state", "zip"]
    lead = {"externId": "BIG", "leadPhone": "4155550100", **{f: "v" * 4000 for f in fields}}
    write(tmp_path / "a.jsonl", json.dumps(lead) + "\n")
    leads, sink = read(write(tmp_path / "a.yaml", CSV_SET.replace("a.csv", "a.jsonl")))
    assert leads == []
    (problem,) = messages(sink)
    assert problem.startswith(f"{tmp_path}/a.jsonl:1: (lead): is 68,")
    assert problem.endswith("characters long, more than 65,536")


def test_extended_lead_data_is_capped_in_fields_names_and_values(tmp_path: Path) -> None:
    """A 1 MB lead set was a 210 MB loader request: extendedLeadData had no bound."""
    many = ", ".join(f"f{i}: v" for i in range(101))
    path = write(
        tmp_path / "a.yaml",
        HEADER
        + "leads:\n"
        + f"  - {{externId: A, leadPhone: '4155550100', extendedLeadData: {{{many}}}}}\n"
        + f"  - {{externId: B, leadPhone: '4155550101', extendedLeadData: {{{'k' * 65}: v}}}}\n"
        + "  - externId: C\n    leadPhone: '4155550102'\n"
        + f"    extendedLeadData: {{ok: {'v' * 5000}}}\n",
    )
    leads, sink = read(path)
    assert leads == []
    got = [m.split("a.yaml:", 1)[1] for m in messages(sink)]
    assert got == [
        "4: extendedLeadData: has 101 custom fields, more than 100",
        f"5: extendedLeadData.{'k' * 64}…: is not a valid custom field name",
        "8: extendedLeadData.ok: longer than 4096 characters",
    ]


def test_problems_past_ten_thousand_are_counted_not_kept(tmp_path: Path) -> None:
    """A 4 MB CSV of bad rows kept two million problems in 630 MB."""
    rows = "".join(f"B{i},12\n" for i in range(25_000))
    write(tmp_path / "a.csv", "externId,leadPhone\n" + rows)
    leads, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    assert leads == []
    assert len(sink.problems) == 10_000 and sink.unkept == 15_000
    assert sink.count(Severity.ERROR) == 25_000
    failure = sink.failure()
    assert (len(failure.problems), failure.more_errors) == (10_000, 15_000)


def test_problems_past_the_cap_are_counted_on_the_command_line(workspace: Path, run: Any) -> None:
    # 10,000 problems, each its own (the phone's last four digits differ), then 5 of another
    rows = "".join(f"B{i},x{i:04d}\n" for i in range(10_000)) + "B,1,2\n" * 5
    write(workspace / "leadsets" / "a.csv", "externId,leadPhone\n" + rows)
    write(workspace / "leadsets" / "a.yaml", CSV_SET)
    r = run("validate")
    assert r.code == 1
    assert "... and 5 more problem(s): only the first 10,000 of each kind are kept" in r.err
    assert r.err.rstrip().endswith("10,005 error(s), 0 warning(s).")
    r = run("plan")
    assert "... and 9,985 more problem(s)" in r.err and "10,005 error(s): nothing planned." in r.err


def test_one_problem_at_many_lines_is_one_line_counting_those_past_the_cap(
    workspace: Path, run: Any
) -> None:
    """The same problem at every row is one line, its count exact though only the first
    10,000 are kept; the error count and exit code are those of every problem."""
    rows = "".join(f"B{i},12\n" for i in range(10_005))
    write(workspace / "leadsets" / "a.csv", "externId,leadPhone\n" + rows)
    write(workspace / "leadsets" / "a.yaml", CSV_SET)
    expected = (
        "leadsets/a.csv:2,3,4 and 10,002 more lines: leadPhone: '12' is not a valid phone "
        "number (10 digits with area code)"
    )
    r = run("validate")
    assert (r.code, r.err.splitlines()) == (1, [expected, "10,005 error(s), 0 warning(s)."])
    r = run("plan")
    assert (r.code, r.err.splitlines()) == (1, [expected, "10,005 error(s): nothing planned."])


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.jsonl", "[" * 100_000 + "\n", "a.jsonl:1: (line): invalid JSON: nested too deeply"),
        (
            "a.jsonl",
            '{"externId": "x", "leadPhone": "' + "1" * 1_100_000 + '"}\n',
            "a.jsonl:1: (line): longer than 1,048,576 characters",
        ),
    ],
)
def test_a_json_lines_line_too_deep_or_too_long_is_a_problem_at_its_line(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    write(tmp_path / name, text)
    _, sink = read(write(tmp_path / "a.yaml", CSV_SET.replace("a.csv", name)))
    assert [m.split("/")[-1] for m in messages(sink)] == [expected]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("a.json", '{"campaign": 1, "options": ' + "[" * 500 + "]" * 500 + "}"),
        ("b.json", '{"campaign": 1, "options": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("a.yaml", "campaign: 1\noptions: " + "[" * 500 + "]" * 500 + "\n"),
        ("b.yaml", "campaign: 1\nremoved:\n" + "".join("  " * i + "- \n" for i in range(200))),
    ],
)
def test_deep_nesting_is_an_error_at_its_line_not_a_crash(
    tmp_path: Path, name: str, text: str
) -> None:
    """PyYAML's composer recursed out of Python's stack, and json.loads too: an internal error."""
    _, sink = read(write(tmp_path / name, text))
    (problem,) = messages(sink)
    line = {"a.json": 1, "b.json": 1, "a.yaml": 2, "b.yaml": 67}[name]
    # past 1,000 levels libyaml stops by itself, with its own message
    said = "exceeded maximum nesting depth" if name == "b.json" else "nested more than 64 levels"
    assert problem.startswith(f"{tmp_path}/{name}:{line}: ") and said in problem, problem


def test_deep_nesting_in_the_settings_is_an_error(tmp_path: Path) -> None:
    from engage_sync.errors import ConfigError

    write(tmp_path / "engage-sync.yaml", "options: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(ConfigError, match="nested more than 64 levels deep"):
        load_config(cwd=tmp_path)
    write(tmp_path / "engage-sync.yaml", "account: &a '1'\nstate: *a\n")
    with pytest.raises(ConfigError, match=r"engage-sync\.yaml:2: YAML anchors/aliases"):
        load_config(cwd=tmp_path)


def test_externids_like_phones_or_emails_are_warned_of_once_a_file(tmp_path: Path) -> None:
    write(
        tmp_path / "a.csv",
        "externId,leadPhone\nC-1,4155550100\nada@example.com,4155550101\n"
        "4155550102,4155550102\n(415) 555-0199,4155550103\n+14155550104,4155550104\n"
        "1000000007,4155550105\n",  # ten digits, not its phone: a customer number
    )
    leads, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    assert len(leads) == 6 and sink.errors == []
    (warning,) = sink.warnings
    assert str(warning) == (
        f"{tmp_path}/a.csv:3: externId: warning: 4 externId(s) look like a phone number or an "
        "email address, the first here: plans, reports, the state and pull-request comments "
        "show externIds, so they would hold personal data; use an id that is not"
    )
    inline = write(
        tmp_path / "b.yaml",
        HEADER + "leads:\n  - {externId: bo@example.org, leadPhone: '4155550100'}\n",
    )
    _, sink = read(inline)
    assert [(w.line, w.field) for w in sink.warnings] == [(4, "externId")]
    assert "bo@example.org" not in str(sink.warnings[0])


def test_control_characters_in_externids_and_campaign_names_are_refused(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "a.yaml",
        'campaign: {id: 1, name: "Renewals\\n::error::x"}\n'
        "options: {dialPriority: NORMAL, duplicateHandling: RETAIN_ALL, timeZoneOption: NPA_NXX}\n"
        "leads:\n"
        '  - {externId: "x\\n::error::forged", leadPhone: "4155550100"}\n'
        '  - {externId: "\\e[2Jy", leadPhone: "4155550101"}\n'
        '  - {externId: "R\\u00a0100", leadPhone: "4155550102"}\n'  # a no-break space: fine
        "removed:\n"
        '  - {externId: "z\\rw"}\n',
    )
    leads, sink = read(path)
    assert [lead.extern_id for lead in leads] == ["R\u00a0100"]
    got = [m.split("a.yaml:", 1)[1] for m in messages(sink)]
    assert got[0] == (
        "1: campaign.name: holds a control character (a line break, tab, escape or bidi control)"
    )
    assert got[1:3] == [
        "4: externId: holds a control character (a line break, tab, escape or bidi control): "
        "it would be printed in plans, logs and pull-request comments",
        "5: externId: holds a control character (a line break, tab, escape or bidi control): "
        "it would be printed in plans, logs and pull-request comments",
    ]
    assert got[3].startswith("8: removed.0.externId: ")


def test_a_csv_header_is_never_echoed_but_in_short_field_like_names(tmp_path: Path) -> None:
    """A header is whatever the first line holds: a secret's text, cut or escaped, would escape
    a CI log's masking. Unknown columns are named by number; a short field-like name is shown
    whole (a typo is the common case)."""
    write(
        tmp_path / "a.csv",
        'externId,leadPhone,frstName,TOKEN=ghp_s3cret,"a,b\\\\c",'
        + "x" * 70
        + "\nA1,4155550100,,,,\n",
    )
    _, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    (problem,) = messages(sink)
    assert problem.endswith(
        "a.csv:1: (header): unknown column(s) 3 'frstName', 4, 5, 6 (did you mean 'firstName'?); "
        "columns are lead field names, custom fields as extendedLeadData.NAME (the other columns "
        "are still checked)"
    )
    (tmp_path / "a.csv").write_bytes(b"HOME=/root\x00TOKEN=s3cret\x00PATH=/bin\x00")
    _, sink = read(tmp_path / "a.yaml")
    (problem,) = messages(sink)
    # Python 3.10's csv module refuses a NUL byte itself; 3.11's reads it into the header
    nul = (
        "malformed CSV: line contains NUL"
        if sys.version_info < (3, 11)
        else ("bad header: the file holds NUL bytes: not a CSV file")
    )
    assert problem.endswith(f"a.csv:1: {nul}")
    assert "s3cret" not in problem


# -- Excel's habits (issue #31, item 8) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sep", "bom", "end"),
    [
        (",", True, "\r\n"),
        (";", False, "\n"),
        (";", True, "\r\n"),
        ("\t", True, "\r\n"),
        ("|", False, "\n"),
    ],
)
def test_an_excel_export_is_read_with_the_separator_its_header_uses(
    tmp_path: Path, sep: str, bom: bool, end: str
) -> None:
    """`;` where the decimal mark is a comma, a tab from "Text (Tab delimited)", with or without
    a byte-order mark and CRLF line ends: the same leads at the same lines as a comma file."""
    rows = [
        ["externId", "leadPhone", "firstName", "address1", "extendedLeadData.note"],
        ["A1", "4155550100", "Ada", '"1 Main St, Suite 2; back door"', "gold"],
        ["A2", "4155550101", "Bo", f'"two{end}lines"', '"said ""hi"""'],
        ["A3", "'4155550102", "Cy", "", ""],
    ]
    text = "".join(sep.join(r) + end for r in rows)
    (tmp_path / "a.csv").write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    leads, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    assert sink.problems == []
    assert [(lead.extern_id, lead.line) for lead in leads] == [("A1", 2), ("A2", 3), ("A3", 5)]
    assert dict(leads[0].fields)["address1"] == "1 Main St, Suite 2; back door"
    assert dict(leads[1].fields)["address1"] == f"two{end}lines"
    assert dict(leads[1].fields)["extendedLeadData.note"] == 'said "hi"'
    assert dict(leads[2].fields)["leadPhone"] == "4155550102"  # Excel's text mark removed
    comma = tmp_path / "comma"
    comma.mkdir()
    (comma / "a.csv").write_bytes("".join(",".join(r) + end for r in rows).encode())
    same, _ = read(write(comma / "a.yaml", CSV_SET))
    assert [lead.digest for lead in leads] == [lead.digest for lead in same]


def test_chunks_of_a_semicolon_file_are_read_with_its_separator(tmp_path: Path) -> None:
    """An incremental plan reads some chunks of a leadsFile (chunks.py): against the header's
    separator, as the whole file is."""
    from engage_sync.leadsets import chunks

    rows = "".join(f"E{i};41555{i:05d};Ann\n" for i in range(3000))
    write(tmp_path / "a.csv", "externId;leadPhone;firstName\n" + rows)
    whole, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    cut = chunks.cut(tmp_path / "a.csv", csv_file=True)
    assert cut is not None and len(cut.spans) > 3 and cut.spans[0].lines == 1  # the header
    sink = Sink()
    (source,) = leadsets.load_sources([tmp_path / "a.yaml"], {}, sink)
    source.ranges = cut.spans[1:]
    parts = list(leadsets.stream(source))
    assert sink.problems == [] and len(whole) == 3000
    assert [(p.extern_id, p.line, p.digest) for p in parts] == [
        (w.extern_id, w.line, w.digest) for w in whole
    ]


@pytest.mark.parametrize(
    ("header", "problems"),
    [
        (
            "externID;leadPhone;frstName",
            [
                "1: (header): unknown column(s) 1 'externID', 3 'frstName' (did you mean "
                "'externId'?) (its columns read as separated by ';'); columns are lead field "
                "names, custom fields as extendedLeadData.NAME (the other columns are still "
                "checked)",
                "1: bad header: needs an externId and a leadPhone or leadPhoneE164 column (its "
                "columns read as separated by ';')",
            ],
        ),
        (
            "externId\tleadPhone\tleadPhone",
            [
                "1: bad header: column(s) repeated: leadPhone (its columns read as separated "
                "by a tab)"
            ],
        ),
    ],
)
def test_the_header_of_another_separator_is_checked_column_by_column(
    tmp_path: Path, header: str, problems: list[str]
) -> None:
    write(tmp_path / "a.csv", header + "\nA1;4155550100;Ada\n")
    _, sink = read(write(tmp_path / "a.yaml", CSV_SET))
    assert [m.split("a.csv:", 1)[1] for m in messages(sink)] == problems


TABBED = """campaign: 136785
options:
\tdialPriority: NORMAL
\tduplicateHandling: REMOVE_ALL_EXISTING
\ttimeZoneOption: NPA_NXX
leads:
  - externId: a
    leadPhone: "4155550100"
    firstName: |
      text may hold	a tab
  -\texternId: b
  \tleadPhone: "4155550101"
"""


def test_every_line_a_tab_indents_is_named(tmp_path: Path) -> None:
    """libyaml stops at the first tab with words of its own; each line is named, in one run."""
    _, sink = read(write(tmp_path / "a.yaml", TABBED))
    tab = "a tab character indents this line; YAML indents with spaces"
    assert [(p.line, p.field, p.message) for p in sink.errors] == [
        (n, "", tab) for n in (3, 4, 5, 11, 12)
    ]
    assert str(sink.errors[0]).endswith("a.yaml:3: " + tab)


def test_a_tab_elsewhere_leaves_the_parsers_message(tmp_path: Path) -> None:
    """Only a file that fails at a tab is searched for them: a tab in a block of text is text,
    and an error elsewhere keeps the parser's words."""
    text = HEADER + "description: |\n  a\n  \tb\nleads:\n  - {externId: a, leadPhone: [}\n"
    _, sink = read(write(tmp_path / "a.yaml", text))
    (problem,) = sink.errors
    assert ": invalid YAML: " in str(problem) and "a tab character" not in str(problem)


def test_tabs_in_the_settings_file_are_named_too(tmp_path: Path) -> None:
    from engage_sync.errors import ConfigError

    write(tmp_path / "engage-sync.yaml", "rails:\n\tmaxCreates: 5\n\tmaxImmediateLeads: 5\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(tmp_path / "engage-sync.yaml"))
    assert str(caught.value).endswith(
        "engage-sync.yaml:2,3: a tab character indents this line; YAML indents with spaces"
    )
