"""Do-not-call lists in the lead-set folder (leadsets/dnclists.py): inline entries and CSV files,
streamed, phones in E.164, every problem at file:line, the JSON Schema agreeing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import jsonschema
import pytest
from conftest import write

from engage_sync import leadsets
from engage_sync.errors import InputError
from engage_sync.leadsets import Sink, dnclists
from engage_sync.leadsets.schema import do_not_call_validator


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def read(tmp_path: Path, region: str = "US") -> tuple[list[dnclists.Entry], Sink]:
    sink = Sink()
    sources = leadsets.load_sources(leadsets.discover(["leadsets"]), {}, sink)
    assert sources == []  # a do-not-call list is no lead set
    found = [e for d in sink.do_not_call for e in dnclists.entries(d, sink, region)]
    return found, sink


def test_three_formattings_of_one_number_are_one_phone(tmp_path: Path) -> None:
    write(
        tmp_path / "leadsets" / "dnc.yaml",
        "doNotCall:\n"
        '  - {phone: "(303) 555-0142", requested: 2026-11-20, source: IVR}\n'
        '  - {phone: "303.555.0142", requested: 2026-11-21}\n'
        "  - phone: +1 303 555 0142\n"
        "    requested: 2026-11-22\n"
        "    source: agent\n",
    )
    found, sink = read(tmp_path)
    assert sink.problems == []
    assert [(e.phone, e.requested, e.source, e.line) for e in found] == [
        ("+13035550142", date(2026, 11, 20), "IVR", 2),
        ("+13035550142", date(2026, 11, 21), None, 3),
        ("+13035550142", date(2026, 11, 22), "agent", 4),
    ]


def test_a_csv_file_beside_the_list_is_streamed_with_its_lines(tmp_path: Path) -> None:
    write(tmp_path / "leadsets" / "dnc.yaml", "doNotCallFile: dnc.csv\n")
    write(
        tmp_path / "leadsets" / "dnc.csv",
        "phone,requested,source\n303-555-0142,2026-11-20,email\n\n+44 20 7946 0018,2026-11-21,\n",
    )
    found, sink = read(tmp_path)
    assert sink.problems == []
    assert [(e.phone, e.line, e.source) for e in found] == [
        ("+13035550142", 2, "email"),
        ("+442079460018", 4, None),
    ]


def test_every_problem_is_reported_at_its_line(tmp_path: Path) -> None:
    write(
        tmp_path / "leadsets" / "dnc.yaml",
        "doNotCall:\n"
        '  - {phone: "12", requested: 2026-11-20}\n'
        '  - {phone: "3035550142"}\n'
        '  - {phone: "3035550143", requested: 2026-02-30, colour: red}\n'
        '  - {phone: "3035550144", requested: 2999-01-01}\n'
        "  - just text\n"
        "doNotCallFile: missing.csv\n",
    )
    found, sink = read(tmp_path)
    assert found == []
    assert sorted(str(p) for p in sink.problems) == [
        "leadsets/dnc.yaml:2: doNotCall.0.phone: '12' is not a phone number (of region US when "
        "it has no +country code)",
        "leadsets/dnc.yaml:3: doNotCall.1.requested: required: the day the person asked "
        "(YYYY-MM-DD)",
        "leadsets/dnc.yaml:4: doNotCall.2.colour: unknown field; known: phone, requested, source",
        "leadsets/dnc.yaml:4: doNotCall.2.requested: '2026-02-30' is not a date (YYYY-MM-DD)",
        "leadsets/dnc.yaml:5: doNotCall.3.requested: 2999-01-01 has not come yet",
        "leadsets/dnc.yaml:6: doNotCall.4: each entry must be {phone, requested, source}",
        "leadsets/dnc.yaml:7: doNotCallFile: leadsets/missing.csv: file not found",
    ]
    assert "3035550142" not in "".join(str(p) for p in sink.problems)  # never a whole number


def test_an_excel_export_separated_by_semicolons_or_tabs_is_read_as_such(tmp_path: Path) -> None:
    """Excel writes `;` where the decimal mark is a comma, tabs for "Text (Tab delimited)"; a
    shortened number (scientific notation) lost its digits: said so, never read."""
    write(tmp_path / "leadsets" / "dnc.yaml", "doNotCallFile: dnc.csv\n")
    (tmp_path / "leadsets" / "dnc.csv").write_bytes(
        b'\xef\xbb\xbfphone;requested;source\r\n\'303-555-0142;2026-11-20;"IVR; by phone"\r\n'
        b"3,03555E+09;2026-11-21;\r\n"
    )
    found, sink = read(tmp_path)
    assert [(e.phone, e.line, e.source) for e in found] == [("+13035550142", 2, "IVR; by phone")]
    assert [str(p) for p in sink.problems] == [
        "leadsets/dnc.csv:3: phone: '…E+09' is a number Excel shortened (scientific notation): "
        "digits were lost; format the column as text and export again"
    ]
    write(tmp_path / "leadsets" / "dnc.csv", "phone\trequested\n3035550142\t2026-11-20\n")
    found, sink = read(tmp_path)
    assert sink.problems == [] and [e.phone for e in found] == ["+13035550142"]
    write(tmp_path / "leadsets" / "dnc.csv", "number;when\n3035550142;2026-11-20\n")
    with pytest.raises(InputError, match=r"not column\(s\) 1, 2\); read as separated by ';'"):
        read(tmp_path)


def test_a_csv_with_another_header_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "leadsets" / "dnc.yaml", "doNotCallFile: dnc.csv\n")
    write(tmp_path / "leadsets" / "dnc.csv", "number,when\n3035550142,2026-11-20\n")
    with pytest.raises(InputError, match=r"leadsets/dnc.csv:1: bad header"):
        read(tmp_path)


def test_a_region_reads_numbers_without_a_country_code(tmp_path: Path) -> None:
    write(
        tmp_path / "leadsets" / "dnc.yaml",
        "doNotCall:\n  - {phone: '020 7946 0018', requested: 2026-11-20}\n",
    )
    found, sink = read(tmp_path, region="GB")
    assert sink.problems == [] and [e.phone for e in found] == ["+442079460018"]


@pytest.mark.parametrize(
    "doc, valid",
    [
        ({"doNotCall": [{"phone": "3035550142", "requested": "2026-11-20"}]}, True),
        ({"doNotCallFile": "x.csv"}, True),
        ({"doNotCallFile": "x.txt"}, False),
        ({}, False),
        ({"doNotCall": [{"phone": "3035550142"}]}, False),
        ({"doNotCall": [], "campaign": 1}, False),
    ],
)
def test_the_json_schema_covers_the_file(doc: dict[str, object], valid: bool) -> None:
    errors = list(do_not_call_validator().iter_errors(doc))
    assert (not errors) is valid
    jsonschema.Draft202012Validator.check_schema(do_not_call_validator().schema)
