"""What spreadsheet exports do: the separator found from a header line, numbers Excel shortened."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from engage_sync.leadsets.exports import SEPARATORS, columns, named, separator, shortened

FIELDS = {"externId", "leadPhone", "leadPhoneE164", "firstName", "city"}


def known(name: str) -> bool:
    return name in FIELDS or name.startswith("extendedLeadData.")


def needed(names: Collection[str]) -> bool:
    return "externId" in names and ("leadPhone" in names or "leadPhoneE164" in names)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("externId,leadPhone,firstName\r\n", ","),
        ("externId;leadPhone;firstName\r\n", ";"),  # Excel in a comma-decimal locale
        ("externId\tleadPhone\tfirstName\n", "\t"),  # Excel's "Text (Tab delimited)"
        ("externId|leadPhone", "|"),
        ('"externId";"leadPhone";"extendedLeadData.a,b"\n', ";"),  # quoted, a comma inside
        # a comma header whose column names hold a `;`: still a comma file
        ('externId,leadPhone,"extendedLeadData.a;b"\n', ","),
        # a comma file with a `;` in a name: a comma first
        ("externId,leadPhone,x;y\n", ","),
        # no externId: the separator that finds the most field names (the header's problems
        # are then reported column by column)
        ("externID;leadPhone;firstName\n", ";"),
        # no field names at all: the one that splits into the most columns
        ("id;phone;name\n", ";"),
        ("id\tphone\tname;x\n", "\t"),
        ("just one column\n", ","),
        ("", ","),
        # a cell past the csv module's field limit is no header of names
        ("externId;" + "x" * 200_000 + "\n", ","),
    ],
)
def test_the_separator_is_the_one_the_header_reads_with(header: str, expected: str) -> None:
    assert separator(header, known, needed) == expected


def test_columns_split_as_the_csv_reader_does() -> None:
    assert columns('"a;b";c\r\n', ";") == ["a;b", "c"]
    assert [named(s) for s in SEPARATORS] == ["','", "';'", "a tab", "'|'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4.15556E+09", True),
        ("4.15556e+09", True),
        ("4,15556E+09", True),  # a comma-decimal locale
        ("4E+09", True),
        ("1.41556E+10", True),
        (" 4.15556E+09 ", True),
        ("4155550100", False),
        ("(415) 555-0100", False),
        ("+14155550100", False),
        ("E+09", False),
        ("4.15556E+09x", False),
        ("ext. 4", False),
    ],
)
def test_a_number_in_scientific_notation_is_recognised(text: str, expected: bool) -> None:
    assert shortened(text) is expected
