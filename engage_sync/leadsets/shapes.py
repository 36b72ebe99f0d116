"""How a file writes its phones (issue #34), so a plan can look for a phone in the chunks of a
leadsFile it does not read (incremental/partial.py).

A phone written `(415) 555-0100` is compared as `4155550100`: searched for as digits, it is not
found. The readers note the *shape* of each phone they read written otherwise than as digits:
its text as the check reads it (trimmed, Excel's mark for text dropped) with each digit marked
`#`, so `(###) ###-####` (no digit of it: no personal data), by the lines it is on. A plan then
writes a phone in each shape the chunks it searches have (`render`) and looks for that text.

A phone of digits alone (a `+` before them, a `1` before ten) holds the digits it is compared by,
and has no shape. A phone with characters the check does not read as formatting (it was not
read as a phone: an error) has the shape UNKNOWN, and its chunk cannot be searched.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence

from .exports import TEXT_MARK

MARK = "#"
UNKNOWN = "?"  # a phone whose shape is not kept: its chunk cannot be searched for phones
MAX_SHAPE = 40  # characters: past this a phone is not kept as a shape (UNKNOWN)
_MARKS = str.maketrans("0123456789", MARK * 10)
# what fields.normalise_us_phone and normalise_e164 read as formatting, and the `+`
_SHAPE = re.compile(r"[#\s().\-/+]*")


def shape(text: str) -> str | None:
    """`(415) 555-0100` -> `(###) ###-####`; None for digits alone, found as written."""
    core = text.strip().removeprefix(TEXT_MARK).strip()
    if core.removeprefix("+").isdigit():
        return None
    marked = core.translate(_MARKS)
    if len(marked) > MAX_SHAPE or MARK not in marked or not _SHAPE.fullmatch(marked):
        return UNKNOWN
    return marked


def shapes_of(raw: Mapping[str, object]) -> tuple[str, ...]:
    """The shapes of a lead's phones (each of leadPhone's, and leadPhoneE164), as the general
    check met them; () when every one is digits."""
    found: set[str] = set()
    phone, e164 = raw.get("leadPhone"), raw.get("leadPhoneE164")
    texts = [*(phone.split("|") if isinstance(phone, str) else ()), e164]
    for text in texts:
        if isinstance(text, str):
            s = shape(text)
            if s is not None:
                found.add(s)
    return tuple(sorted(found))


def render(phone: str, shape: str) -> str | None:
    """A compared phone (`4155550100`, `+14155550100`) written in `shape`: with a `1` before it
    when the shape has one digit more (a US number written `+1 (415) ...`); None when it cannot
    be written so."""
    digits = phone.removeprefix("+")
    slots = shape.count(MARK)
    if slots == len(digits) + 1:
        digits = "1" + digits
    elif slots != len(digits):
        return None
    it = iter(digits)
    return "".join(next(it) if ch == MARK else ch for ch in shape)


def pattern(shape: str) -> bytes:
    """A regular expression for any phone written in `shape` (UTF-8 bytes)."""
    return b"".join(b"[0-9]" if ch == MARK else re.escape(ch).encode() for ch in shape)


class Written:
    """The shapes of one file's phones, by line: the line of each lead with a phone written
    otherwise than as digits, and runs of them whose phones have the same shapes (a file is
    mostly written one way: one run, or a few). A read meets the lines in increasing order;
    should it not, no chunk's shapes are known (`by_chunk`)."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[str, ...], int] = {}
        self.names: list[tuple[str, ...]] = []
        self.lines = array("q")  # 8 bytes a lead, should a million of them be formatted
        self.runs, self.which = array("q"), array("l")  # where in `lines` a kind starts; which
        self.ordered = True
        self._last = ""  # the last phone's text with its digits marked (a fast path's)

    def phone(self, line: int, text: str) -> None:
        """A lead's phone (the only one) that the fast path normalised."""
        marked = text.translate(_MARKS)
        if self._last and marked == self._last and line > self.lines[-1]:
            self.lines.append(line)  # written as the phone before: the same shape
            return
        s = shape(text)
        self.lead(line, () if s is None else (s,))
        if s is not None:
            self._last = marked

    def lead(self, line: int, shapes: tuple[str, ...]) -> None:
        """A lead's shapes (shapes_of)."""
        self._last = ""
        if not shapes:
            return
        kind = self.kinds.get(shapes)
        if kind is None:
            kind = self.kinds[shapes] = len(self.names)
            self.names.append(shapes)
        if self.lines and line <= self.lines[-1]:
            self.ordered = False
        if not self.which or self.which[-1] != kind:
            self.runs.append(len(self.lines))
            self.which.append(kind)
        self.lines.append(line)

    def by_chunk(self, firsts: Sequence[int]) -> list[set[str]]:
        """The shapes of the phones in each chunk, the chunks starting at these lines (in
        order); UNKNOWN in each when the lines came out of order."""
        if not self.ordered:
            return [{UNKNOWN} for _ in firsts]
        out: list[set[str]] = [set() for _ in firsts]
        lines, runs, which, names = self.lines, self.runs, self.which, self.names
        ends = [*firsts[1:], 1 << 62]
        for at, (first, end) in enumerate(zip(firsts, ends, strict=True)):
            lo, hi = bisect_left(lines, first), bisect_left(lines, end)
            r = bisect_right(runs, lo) - 1
            while lo < hi and r < len(runs) and runs[r] < hi:
                out[at].update(names[which[r]])
                r += 1
        return out
