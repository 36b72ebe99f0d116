"""Append-only files of JSON lines that tell a damaged line from a write cut short by a crash.

The journal of an apply and the evidence ledger are such files. Each line engage-sync writes is
one JSON object whose last member is its own checksum, `{...,"crc32":"<8 hex>"}`: the crc32 of
the line's bytes without that member. It catches any one damaged byte (and any burst of up to
four), including one that leaves valid JSON behind, such as a changed digit. Lines without it
(written before checksums were) are taken when they parse, until the first line that has one.

A crash can cut only the last write short: a last line with no line end that does not check is
"torn" and ignored, and so is a line that a later line starts with (an older engage-sync
appended after such a fragment rather than dropping it). Any other line that does not parse,
is not an object, or whose checksum does not match is damage, which the caller reports by file
and line: nothing after a damaged line is lost, every intact line is read.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHECKSUM = "crc32"
_CHECKED = re.compile(rb'(\{.*),"crc32":"([0-9a-f]{8})"\}[ \t\r]*')


def dumps(record: dict[str, Any]) -> bytes:
    """One line (with its line end): the record as compact sorted JSON, then its checksum."""
    assert record and CHECKSUM not in record
    body = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    return body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body)


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, counting every line of the file
    record: dict[str, Any]  # without its checksum


@dataclass(frozen=True, slots=True)
class Damage:
    number: int
    why: str

    def where(self, path: Path | str) -> str:
        return f"{path}:{self.number}: damaged line ({self.why})"


@dataclass(frozen=True, slots=True)
class Lines:
    """What a file holds: its intact lines, its damaged ones, and whether its end was torn."""

    records: tuple[Line, ...]
    damaged: tuple[Damage, ...]
    torn: bool

    def after(self, damage: Damage) -> int:
        """How many intact lines follow a damaged one (kept, not lost)."""
        return sum(1 for line in self.records if line.number > damage.number)


def read(path: Path) -> Lines:
    """Every line of `path`; OSError is the caller's to wrap."""
    return parse(path.read_bytes())


def parse(data: bytes) -> Lines:
    raw = data.split(b"\n")
    last = len(raw) - 1  # the bytes after the last line end: a line cut short, or nothing
    records: list[Line] = []
    damaged: list[Damage] = []
    bad: list[tuple[int, bytes]] = []
    torn = False
    checked = False  # a line with a checksum was read: every later line has one
    for index, text in enumerate(raw):
        if not text.strip():
            continue
        record, why = _check(text, checked)
        if record is not None:
            checked = checked or _CHECKED.fullmatch(text) is not None
            records.append(Line(index + 1, record))
        elif index == last:
            torn = True
        else:
            damaged.append(Damage(index + 1, why))
            bad.append((index, text))
    if bad:  # an older engage-sync's torn write, whole again on a later line: not damage
        later = {i: text for i, text in enumerate(raw) if text.strip()}
        cut = {
            index
            for index, text in bad
            if any(j > index and other.startswith(text) for j, other in later.items())
        }
        damaged = [d for d, (index, _) in zip(damaged, bad, strict=True) if index not in cut]
    return Lines(tuple(records), tuple(damaged), torn)


def _check(text: bytes, checked: bool) -> tuple[dict[str, Any] | None, str]:
    """The record of one line, or None and why it is not one. `checked`: lines before it had
    a checksum, so it must have one (one damaged byte in its name leaves a line without)."""
    match = _CHECKED.fullmatch(text)
    if match is not None and zlib.crc32(match[1] + b"}") != int(match[2], 16):
        return None, "its checksum does not match"
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        return None, f"not JSON: {e.msg if isinstance(e, json.JSONDecodeError) else e.reason}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if match is None and (checked or CHECKSUM in record):
        return None, "no checksum where engage-sync writes it"
    record.pop(CHECKSUM, None)
    return record, ""
