"""Content-defined chunks of a leadsFile (issue #23): so a plan after a one-row edit re-reads the
few hundred rows around it, not the million-row file.

A chunk ends after a line whose CRC-32 (from `_SEED`) has its low `BITS` bits clear (about
one line in 256), at a row end (an even count of `"` so far in a CSV file, where a quoted value
may hold a line break). The cut points move with the content, not with byte offsets: an
inserted or deleted row changes one chunk, and every other chunk keeps its bytes and its sha256
(only its place and first line move). A CSV file's header is a chunk of its own: rows are read
against it.

`cut` returns None for a file it will not chunk (a lone carriage return, which the CSV and text
readers count as a line break, or a header with a quoted line break): such a file is read whole.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, count, repeat
from operator import not_
from pathlib import Path

BITS = 8  # a chunk ends after about one line in 2**BITS
_MASK = (1 << BITS) - 1
_SEED = 0x5EED  # where each line's CRC-32 starts: a blank line does not end a chunk
_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Span:
    """Where a chunk is in the file now: bytes [start, end), its first line and how many."""

    start: int
    end: int
    line: int
    lines: int
    sha: str  # the first 128 bits of its sha256, hex
    escaped: bool = False  # a backslash in it (a JSON escape may hide a phone's digits)


@dataclass(frozen=True)
class Cut:
    digest: str  # sha256 of the whole file (what a seal compares first)
    spans: tuple[Span, ...]


def cut(path: Path, csv_file: bool) -> Cut | None:
    """The file's chunks and its sha256, in one streamed pass; None when it cannot be chunked
    (or read: the parse says why)."""
    try:
        with path.open("rb") as f:
            return _cut(iter(lambda: f.read(_BLOCK), b""), csv_file)
    except OSError:
        return None


def _cut(blocks: Iterator[bytes], csv_file: bool) -> Cut | None:
    whole = hashlib.sha256()
    spans: list[Span] = []
    part = hashlib.sha256()  # the open chunk's bytes so far
    start, line, lines = 0, 1, 0  # the open chunk's first byte and line, and lines so far
    quotes = 0  # the open chunk's `"` so far (CSV)
    offset = 0  # the file offset of the block's first complete line
    carry: list[bytes] = []  # the pieces of a line not ended yet (joined once it ends)
    header = csv_file
    escaped = False  # a backslash in the open chunk so far (JSON Lines)
    for block in blocks:
        whole.update(block)
        if b"\n" not in block:
            # a line longer than a block: kept in pieces, not copied again for each block (a
            # file whose lines end in lone carriage returns was all one such line, cut in time
            # quadratic in its size); a carriage return not followed by a line feed here is a
            # lone one: such a file is not chunked, and nothing more of it need be read
            if block.find(b"\r", 0, len(block) - 1) >= 0 or (carry and carry[-1][-1:] == b"\r"):
                return None
            carry.append(block)
            continue
        data = b"".join((*carry, block)) if carry else block
        last = data.rfind(b"\n") + 1
        done, rest = data[:last], data[last:]
        carry = [rest] if rest else []
        if done.count(b"\r") != done.count(b"\r\n"):
            return None
        rows = done.split(b"\n")
        rows.pop()  # `done` ends with a line break
        # the rows whose CRC-32 ends in BITS zero bits, without a Python-level step per row
        crcs = map(zlib.crc32, rows, repeat(_SEED))
        picks = list(compress(count(), map(not_, map(_MASK.__and__, crcs))))
        if header:  # a CSV header is a chunk of its own
            picks = [0, *(i for i in picks if i)]
            header = False
        at, first = 0, 0  # the open chunk's part of `done`: from byte `at`, row `first`
        end, upto = 0, 0  # the byte after row `upto - 1`
        for i in picks:
            end += sum(map(len, rows[upto : i + 1])) + i + 1 - upto
            upto = i + 1
            if csv_file and (quotes + done.count(b'"', at, end)) & 1:
                if not spans:
                    return None  # a quoted line break in the header
                continue  # inside a quoted value: not a row end
            part.update(done[at:end])
            n = lines + i + 1 - first
            esc = not csv_file and (escaped or done.find(b"\\", at, end) >= 0)
            spans.append(Span(start, offset + end, line, n, part.hexdigest()[:32], esc))
            part = hashlib.sha256()
            start, line, lines, quotes, escaped = offset + end, line + n, 0, 0, False
            at, first = end, i + 1
        if csv_file:
            quotes += done.count(b'"', at)
        else:
            escaped = escaped or done.find(b"\\", at) >= 0
        part.update(done[at:])
        lines += len(rows) - first
        offset += last
    tail = b"".join(carry)
    if tail:  # a last line without a line break
        if tail.count(b"\r") != tail.count(b"\r\n"):
            return None
        part.update(tail)
        lines += 1
        escaped = escaped or (not csv_file and b"\\" in tail)
    if offset + len(tail) > start:
        end = offset + len(tail)
        spans.append(Span(start, end, line, lines, part.hexdigest()[:32], escaped))
    return Cut(whole.hexdigest(), tuple(spans))
