"""Checksummed JSON lines: any damaged byte is found, a torn last line is not damage, and old
lines without a checksum still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage_sync import jsonl

RECORDS = [
    {"journal": 2, "lineage": "l-1", "base_serial": 0},
    {"begin": True, "batch": 1, "campaign": 7, "ids": ["a", "b"]},
    {"ack": True, "batch": 1, "campaign": 7, "entries": {"a": "lODLbr3v 0 hGpbLIyTL"}},
]


def text(records: list[dict[str, object]]) -> bytes:
    return b"".join(jsonl.dumps(r) for r in records)


def test_a_line_is_compact_sorted_json_ending_in_its_checksum() -> None:
    line = jsonl.dumps({"b": 1, "a": "x"})
    assert line.startswith(b'{"a":"x","b":1,"crc32":"') and line.endswith(b'"}\n')
    assert json.loads(line)["crc32"]
    read = jsonl.parse(text(RECORDS))
    assert [r.record for r in read.records] == RECORDS  # the checksum is not part of the record
    assert [r.number for r in read.records] == [1, 2, 3]
    assert (read.damaged, read.torn) == ((), False)


def test_every_damaged_byte_of_a_middle_line_is_found_and_nothing_after_it_is_lost() -> None:
    lines = [jsonl.dumps(r) for r in RECORDS]
    middle = lines[1]
    for at in range(len(middle) - 1):  # each byte but the line end
        for byte in {ord("0"), ord("a"), ord("}"), middle[at] ^ 0x01, 0xFF, 0x00} - {middle[at]}:
            damaged = middle[:at] + bytes([byte]) + middle[at + 1 :]
            read = jsonl.parse(lines[0] + damaged + lines[2])
            assert [d.number for d in read.damaged] == [2], (at, byte, read)
            assert [r.number for r in read.records] == [1, 3]  # read past it


def test_a_last_line_cut_short_is_torn_not_damage() -> None:
    whole = text(RECORDS)
    for cut in range(2, len(jsonl.dumps(RECORDS[2])) - 1):
        read = jsonl.parse(whole[:-cut])
        assert read.torn and read.damaged == (), cut
        assert [r.number for r in read.records] == [1, 2]
    read = jsonl.parse(whole[:-1])  # only its line end lost: the line checks, it is kept
    assert not read.torn and len(read.records) == 3
    zeros = jsonl.parse(whole + b"\0" * 40)  # a write whose blocks never reached the disk
    assert zeros.torn and len(zeros.records) == 3


def test_a_whole_last_line_that_does_not_check_is_damage() -> None:
    whole = text(RECORDS)
    read = jsonl.parse(whole[:-20] + b"X" + whole[-19:])
    assert [d.number for d in read.damaged] == [3] and not read.torn
    assert [r.number for r in read.records] == [1, 2]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"{not json\n", "not JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"a": 1, "crc32": "zz"}\n', "no checksum where engage-sync writes it"),
        (b'{"a":1,"crc32":"00000000"}\n', "its checksum does not match"),
        (b'{"a":1}\n', "no checksum where engage-sync writes it"),
        (b"\xff\xfe\n", "not JSON"),
    ],
)
def test_damage_says_what_is_wrong_at_its_line(line: bytes, why: str) -> None:
    read = jsonl.parse(jsonl.dumps(RECORDS[0]) + line + jsonl.dumps(RECORDS[1]))
    (damage,) = read.damaged
    assert damage.number == 2 and why in damage.why
    assert damage.where(Path("j")).startswith(f"j:2: damaged line ({why}")
    assert read.after(damage) == 1


def test_lines_without_a_checksum_still_read() -> None:
    old = b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in RECORDS)
    read = jsonl.parse(old + b"\n\n")
    assert [r.record for r in read.records] == RECORDS and read.damaged == ()
    mixed = jsonl.parse(old + text(RECORDS))  # a ledger appended to before and after
    assert len(mixed.records) == 6 and mixed.damaged == ()
    (late,) = jsonl.parse(text(RECORDS) + old.split(b"\n")[0] + b"\n" + text(RECORDS)).damaged
    assert late.number == 4  # once lines have a checksum, one without is damage


def test_an_older_torn_write_that_a_later_line_repeats_whole_is_not_damage() -> None:
    entry = jsonl.dumps({"campaign": 5, "externId": "d", "requested": "2026-11-20"})
    fragment = entry[:25] + b"\n"  # an older engage-sync ended the torn line and appended after
    read = jsonl.parse(jsonl.dumps(RECORDS[0]) + fragment + entry)
    assert read.damaged == () and [r.number for r in read.records] == [1, 3]
