"""leadsets/readers.py: CSV and JSON Lines leadsFiles read row by row, the compiled fast path
and the general check agreeing lead for lead, and the edge cases of a file from a spreadsheet
(the problems a lead set reports are in test_leadsets.py, inline YAML in test_yaml_stream.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write

from engage_sync import leadsets
from engage_sync.leadsets import Sink, problems, readers
from engage_sync.leadsets.fields import HeaderPlan
from engage_sync.model import Lead

HEADER = """campaign: 136785
options: {dialPriority: NORMAL, duplicateHandling: REMOVE_ALL_EXISTING, timeZoneOption: NPA_NXX}
"""


def read(tmp_path: Path, name: str, data: bytes) -> tuple[list[Lead], list[str]]:
    (tmp_path / name).write_bytes(data)
    path = write(tmp_path / "a.yaml", HEADER + f"leadsFile: {name}\n")
    sink = Sink()
    sources = leadsets.load_sources([path], {}, sink)
    leads = [lead for d in leadsets.group(sources, sink) for lead in d.leads]
    return leads, [str(p).replace(f"{tmp_path}/", "") for p in sink.problems]


CSV = (
    "externId,leadPhone,firstName,extendedLeadData.plan,leadPriority\n"
    "a,4155550100,Ada,gold,2\n"
    "b,(415) 555-0101,Grace,,\n"
    'c,4155550102,"Line\nbreak",silver,1\n'
)
JSONL = (
    '{"externId": "a", "leadPhone": "4155550100", "firstName": "Ada", '
    '"extendedLeadData": {"plan": "gold"}, "leadPriority": 2}\n'
    '{"externId": "b", "leadPhone": "(415) 555-0101", "firstName": "Grace"}\n'
    '{"externId": "c", "leadPhone": "4155550102", "firstName": "Line\\nbreak", '
    '"extendedLeadData": {"plan": "silver"}, "leadPriority": 1}\n'
)


@pytest.mark.parametrize(("name", "text"), [("l.csv", CSV), ("l.jsonl", JSONL)])
def test_the_fast_path_and_the_general_check_make_the_same_leads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    fast, problems = read(tmp_path, name, text.encode())
    assert problems == []
    monkeypatch.setattr(HeaderPlan, "_compile", lambda self: lambda row: None)
    slow, problems = read(tmp_path, name, text.encode())
    assert problems == []
    assert [(x.extern_id, x.digest, x.fields, x.line) for x in fast] == [
        (x.extern_id, x.digest, x.fields, x.line) for x in slow
    ]
    assert [x.extern_id for x in fast] == ["a", "b", "c"]
    assert dict(fast[1].fields)["leadPhone"] == "4155550101"  # normalised either way


def test_csv_and_json_lines_of_the_same_leads_hash_alike(tmp_path: Path) -> None:
    csv, _ = read(tmp_path, "l.csv", CSV.encode())
    jsonl, _ = read(tmp_path, "l.jsonl", JSONL.encode())
    assert [x.digest for x in csv] == [x.digest for x in jsonl]


def test_an_excel_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    leads, problems = read(tmp_path, "l.csv", b"\xef\xbb\xbfexternId,leadPhone\na,4155550100\n")
    assert problems == [] and [x.extern_id for x in leads] == ["a"]


def test_blank_lines_are_no_rows_and_lines_keep_counting(tmp_path: Path) -> None:
    leads, problems = read(tmp_path, "l.csv", b"externId,leadPhone\n\na,4155550100\n\n")
    assert problems == [] and [(x.extern_id, x.line) for x in leads] == [("a", 3)]
    text = b'\n{"externId": "a", "leadPhone": "4155550100"}\n  \n'
    leads, problems = read(tmp_path, "l.jsonl", text)
    assert problems == [] and [(x.extern_id, x.line) for x in leads] == [("a", 2)]


def test_a_file_with_nul_bytes_is_not_read_as_a_csv(tmp_path: Path) -> None:
    _, problems = read(tmp_path, "l.csv", b"\x00\x01PK\x03\x04,x\nexternId,leadPhone\n")
    assert problems == ["l.csv:1: bad header: the file holds NUL bytes: not a CSV file"]


def test_rows_of_a_file_with_an_unknown_column_are_still_checked(tmp_path: Path) -> None:
    text = b"externId,leadPhone,colour\na,4155550100,red\nb,123,blue\nc,4155550102\n"
    leads, problems = read(tmp_path, "l.csv", text)
    assert [x.extern_id for x in leads] == ["a"]  # the unknown column is left out
    assert problems[0].startswith("l.csv:1: (header): unknown column(s) 3 'colour'")
    assert [p.split(":")[1] for p in problems[1:]] == ["3", "4"]
    assert problems[2].endswith("has 2 values but the header has 3 columns")


def test_a_json_lines_value_keeps_the_text_of_its_number(tmp_path: Path) -> None:
    text = b'{"externId": "a", "leadPhone": "4155550100", "zip": 2134, "leadPriority": 3}\n'
    (lead,) = read(tmp_path, "l.jsonl", text)[0]
    fields = dict(lead.fields)
    assert fields["zip"] == "2134" and fields["leadPriority"] == 3


def test_where_a_file_stops_being_utf8_is_said_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_bytes(b"externId,leadPhone\na,4155550100\nb,41555\xe90101\n")
    assert str(readers.not_utf8(path, "l.csv")) == (
        "l.csv:3: not valid UTF-8: byte 39 (column 8) is 0xe9; save the file as UTF-8 "
        "(Excel: CSV UTF-8)"
    )
    path.write_text("fine")
    assert str(readers.not_utf8(path, "l.csv")) == "l.csv: file is not valid UTF-8"
    assert str(readers.not_utf8(tmp_path / "none.csv", "none.csv")) == (
        "none.csv: cannot read: No such file or directory"
    )


def test_a_second_look_at_checked_leads_keeps_no_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """apply's pass over the leads a plan checked (leadsets.stream) checks no duplicate: it
    kept 16 bytes of hashes a lead nobody read, 16 MB at a million (issue #34, item 2)."""
    rows = "".join(f"x{i},41555{i:05d}\n" for i in range(50))
    (tmp_path / "l.csv").write_text("externId,leadPhone\n" + rows + "x3,4155500003\n")
    path = write(tmp_path / "a.yaml", HEADER + "leadsFile: l.csv\n")
    (source,) = leadsets.load_sources([path], {}, Sink())
    made: list[object] = []
    real = problems.Hashes.__init__

    def counted(self: problems.Hashes, *args: object, **kwargs: object) -> None:
        made.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(problems.Hashes, "__init__", counted)
    streamed = [lead.extern_id for lead in leadsets.stream(source)]
    assert made == [] and len(streamed) == 51 and streamed[-1] == "x3"  # as declared, repeat too
    sink = Sink()
    checked = [x.extern_id for d in leadsets.group([source], sink) for x in d.leads]
    assert len(made) == 2 and len(checked) == 51  # the first pass does keep them
    assert any("duplicate externId 'x3'" in str(p) for p in sink.problems)
