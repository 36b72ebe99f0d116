"""What spreadsheet exports do to a file, recognised (issue #31, item 8).

Excel writes a "CSV" with the list separator of the machine's locale (`;` where the decimal
mark is a comma, a tab for "Text (Tab delimited)"), marks text with a leading apostrophe, and
shows a long number it was never told is text in scientific notation (`4.15556E+09`), which is
what it then exports: the digits past the sixth are gone. The separator is found from the header
line; a shortened number is named as such, never read (digits were lost).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Collection

SEPARATORS = (",", ";", "\t", "|")  # "," first: a header that reads with it is a comma file
_SHOWN = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}
TEXT_MARK = "'"  # Excel's (and CSV-injection guards') mark for text, before a value

# a number as Excel shows one too long for its column: one digit, a decimal mark (a comma in
# some locales) and at most 14 more, an exponent
_SHORTENED = re.compile(r"[+-]?[0-9](?:[.,][0-9]{0,14})?[eE]\+?[0-9]{1,3}")
SHORTENED = (
    "is a number Excel shortened (scientific notation): digits were lost; format the column "
    "as text and export again"
)


def shortened(text: str) -> bool:
    """Whether `text` is a number in scientific notation (`4.15556E+09`), as Excel writes a
    long number it was not told is text."""
    return "e" in text.lower() and _SHORTENED.fullmatch(text.strip()) is not None


def separator(
    header: str, known: Callable[[str], bool], needed: Callable[[Collection[str]], bool]
) -> str:
    """The separator of a CSV file, from its header line: the first of SEPARATORS whose columns
    include every `needed` name; else the one that finds the most `known` names, then the most
    columns (a header of other names: its problems are then reported column by column, each
    where it is); a comma when none does better."""
    best, rank = ",", (0, 0)
    for sep in SEPARATORS:
        if sep != "," and sep not in header:
            continue
        names = [n.strip() for n in columns(header, sep)]
        if needed(names):
            return sep
        score = (sum(1 for n in names if known(n)), len(names))
        if score > rank:
            best, rank = sep, score
    return best


def columns(header: str, sep: str) -> list[str]:
    """The header line's cells, split by `sep` as the CSV reader splits them (quotes kept to)."""
    try:
        return next(csv.reader([header.rstrip("\r\n")], delimiter=sep), [])
    except csv.Error:  # a cell past the csv module's field limit: no header of names
        return []


def named(sep: str) -> str:
    """How a message names a separator."""
    return _SHOWN[sep]
