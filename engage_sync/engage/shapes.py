"""Reading one JSON object of an Engage answer field by field, for the parsers of answers.py and
leads.py: each field is checked for its type and bounds as it is read, and a field of another
shape is one clear error naming the endpoint and the field, never its value (a server's answer
may copy a token or a lead back: the type's name is all an error says of it).

A server is not trusted to be small either: numbers are bounded (`MAX_COUNT`), texts cut or
refused past a bound, so nothing a server sends grows without limit past here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import ApiError

MAX_COUNT = 2**53  # counts and ids: larger is not a number Engage would send (nor JSON keep)
_DIGITS = re.compile(r"[0-9]{1,16}")


class Shape:
    """One JSON object of an answer, `where` naming it in errors (`leadLoader/direct`,
    `leadSearch: row 3`); `error` is the exception a wrong shape raises."""

    def __init__(self, data: object, where: str, error: type[ApiError] = ApiError) -> None:
        self.where = where
        self.error = error
        if not isinstance(data, Mapping):
            raise self.wrong(f"is {kind(data)}, not an object")
        self.data: Mapping[str, Any] = data

    def wrong(self, what: str) -> ApiError:
        return self.error(f"{self.where}: {what} (an answer of a shape engage-sync does not know)")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def count(self, key: str) -> int | None:
        """A count (0 or more), or None when the answer leaves it out (or null)."""
        value = self.data.get(key)
        if value is None:
            return None
        number = _whole(value)
        if number is None or number < 0:
            raise self.wrong(f"{key} is {kind(value)}, not a count")
        return number

    def ident(self, key: str, fallback: Shape | None = None) -> int:
        """A required id (1 or more): here, else in `fallback` (a nested copy of the row)."""
        value = self.data.get(key)
        if value is None and fallback is not None:
            value = fallback.data.get(key)
        if value is None:
            raise self.wrong(f"has no {key}")
        number = _whole(value)
        if number is None or number < 1:
            raise self.wrong(f"{key} is {kind(value)}, not an id")
        return number

    def text(self, key: str, limit: int, default: str = "") -> str:
        """A text (a number is read as its digits), `default` when left out or null; past
        `limit` characters it is cut and marked, so it never equals a text of `limit` or less."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.wrong(f"{key} is {kind(value)}, not a text")
        text = str(value)
        return text if len(text) <= limit else text[:limit] + "..."

    def flag(self, key: str) -> bool | None:
        """A yes/no: true/false, or 1/0 as Engage writes `isActive` of campaigns; None when
        left out or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self.wrong(f"{key} is {kind(value)}, not true or false")

    def items(self, key: str) -> list[Any] | None:
        """A list, or None when left out or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.wrong(f"{key} is {kind(value)}, not a list")
        return value


def kind(value: object) -> str:
    """What a value is, as an error may say it: its JSON type, never the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a number out of range" if abs(value) >= MAX_COUNT else "a number"
    if isinstance(value, float):
        return "a fraction"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "of another type"


def _whole(value: object) -> int | None:
    """A whole number under MAX_COUNT, written as a number or as digits; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < MAX_COUNT else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
        return number if number < MAX_COUNT else None
    return None
