"""A plan's creates without holding them: a first plan of millions of leads is millions of creates,
and a `Change` each would make memory grow with the lead set (issue #13). `Spool` keeps the first
few thousand in memory (what text plans show) and writes the rest, one short line each, to an
anonymous temporary file that reading streams back."""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Iterator
from typing import IO

from ..errors import ScratchError
from ..model import Change, ChangeKind, StreamedChanges

KEEP = 10_000  # changes held in memory before the rest go to the temporary file
_BATCH = 4096  # lines written to it at once
_READ = 1 << 16  # bytes read back at once: a few hundred lines, not a MB of them


class Spool(StreamedChanges):
    """Creates of one campaign, in the order they were declared. Append-only while planning."""

    def __init__(self, campaign_id: int, keep: int | None = None) -> None:
        self.campaign_id = campaign_id
        self._keep = KEEP if keep is None else keep
        self._head: list[Change] = []
        self._file: IO[bytes] | None = None
        self._read = False
        self._names: dict[str, int] = {}  # file paths, written as their index
        self._pending: list[str] = []
        self._len = 0

    def add(
        self, extern_id: str, file: str | None, line: int | None, digest: str | None = None
    ) -> None:
        if self._read:
            raise RuntimeError("a spool is written while planning and read after, not both")
        self._len += 1
        if self._len <= self._keep:
            self._head.append(
                Change(ChangeKind.CREATE, self.campaign_id, extern_id, file, line, digest=digest)
            )
            return
        index = self._names.setdefault(file or "", len(self._names))
        if "\\" in extern_id or "\n" in extern_id:
            extern_id = extern_id.replace("\\", "\\\\").replace("\n", "\\n")
        pending = self._pending
        pending.append(f"{index}\t{'' if line is None else line}\t{digest or ''}\t{extern_id}\n")
        if len(pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        """Write the lines waiting (one write per few thousand creates, not one each)."""
        if not self._pending:
            return
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="engage-sync-plan-")  # noqa: SIM115
                weakref.finalize(self, self._file.close)  # closed (and gone) with the plan
            self._file.write("".join(self._pending).encode())
            self._file.flush()
        except OSError as e:
            raise ScratchError.from_os(e) from e
        self._pending.clear()

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __iter__(self) -> Iterator[Change]:
        self._read = True
        yield from self._head
        self._flush()
        if self._file is None:
            return
        names = list(self._names)
        cid, create = self.campaign_id, ChangeKind.CREATE
        for raw in self._lines(self._file):
            index, line, digest, extern_id = raw.decode().split("\t", 3)
            if "\\" in extern_id:
                extern_id = _unescape(extern_id)
            file = names[int(index)] or None
            yield Change(
                create, cid, extern_id, file, int(line) if line else None, digest=digest or None
            )

    @staticmethod
    def _lines(f: IO[bytes]) -> Iterator[bytes]:
        """The file's lines from the start; each read seeks first, so readers may interleave."""
        offset, rest = 0, b""
        while True:
            f.seek(offset)
            chunk = f.read(_READ)
            if not chunk:
                return
            offset += len(chunk)
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield from lines

    def __repr__(self) -> str:
        return f"Spool({self._len} creates of campaign {self.campaign_id})"


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
