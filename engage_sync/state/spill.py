"""Leads an apply records, kept on disk until the state is saved (issue #34): a first apply of a
million leads would otherwise hold a million state entries in memory only to write them once,
at the end. The journal is what keeps them durable; this is where the in-memory state keeps
them meanwhile (journal.py moves them here, SPILL_AT at a time, never on load or replay: a plan
reads `CampaignState.leads` whole).

Each `add` writes one run, its entries sorted by externId, to an anonymous temporary file, and
keeps the hashes of its externIds (8 bytes a lead) for `in`: two externIds with one 64-bit hash
would make one look owned, about once in 10**13 applies of a million leads. A later run wins
over an earlier one for the same externId; `gone` hides what the runs hold of a lead removed
since. `items` merges the runs in externId order, the order the state file lists leads in.
"""

from __future__ import annotations

import heapq
import tempfile
import weakref
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import IO

from ..errors import ScratchError

_BLOCK = 1 << 15
_LINES = 2000  # lines written at once


class Spill:
    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._runs: list[tuple[int, int, array[int]]] = []  # bytes [start, end), hashes sorted
        self._end = 0
        self.gone: set[str] = set()  # removed since they were spilled

    def __bool__(self) -> bool:
        return bool(self._runs)

    def add(self, entries: Mapping[str, str]) -> None:
        """Entries (externId -> state entry) out of memory, as one sorted run."""
        if not entries:
            return
        keys = sorted(entries)
        size = 0
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="engage-sync-state-")  # noqa: SIM115
                weakref.finalize(self, self._file.close)  # closed (and gone) with the state
            self._file.seek(self._end)
            for i in range(0, len(keys), _LINES):  # a few hundred KB at a time, not the run
                data = "".join(f"{_escape(k)}\t{entries[k]}\n" for k in keys[i : i + _LINES])
                size += self._file.write(data.encode())
            self._file.flush()
        except OSError as e:
            raise ScratchError.from_os(e) from e
        self._runs.append((self._end, self._end + size, array("q", sorted(map(hash, keys)))))
        self._end += size
        self.gone.difference_update(entries)

    def __contains__(self, extern_id: object) -> bool:
        if not isinstance(extern_id, str) or extern_id in self.gone:
            return False
        h = hash(extern_id)
        for _, _, hashes in self._runs:
            i = bisect_left(hashes, h)
            if i < len(hashes) and hashes[i] == h:
                return True
        return False

    def items(self) -> Iterator[tuple[str, str]]:
        """(externId, entry) of each lead spilled and not gone, once, in externId order."""
        runs = [self._run(-i, start, end) for i, (start, end, _) in enumerate(self._runs)]
        last = None
        for key, _, entry in heapq.merge(*runs):  # the latest run first among equal keys
            if key != last:
                last = key
                if key not in self.gone:
                    yield key, entry

    def _run(self, rank: int, start: int, end: int) -> Iterator[tuple[str, int, str]]:
        """One run's lines; each read seeks first, so the runs' readers may interleave."""
        f = self._file
        assert f is not None
        offset, rest = start, b""
        while offset < end:
            f.seek(offset)
            block = f.read(min(_BLOCK, end - offset))
            if not block:
                return
            offset += len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                key, entry = line.decode().split("\t", 1)
                yield (_unescape(key) if "\\" in key else key), rank, entry


def _escape(key: str) -> str:
    if "\\" in key or "\t" in key or "\n" in key:
        return key.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return key


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
