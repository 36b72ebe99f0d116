"""Incremental below the campaign (issue #23): after an edit to a sealed campaign's leadsFile, a
plan re-reads only the chunks whose bytes changed (leadsets/chunks.py), and plans the rest as
the state holds it. It must come out exactly as a full read would, or not at all.

A seal of a campaign whose leads all come from one CSV or JSON Lines file records the file's
chunks: where each is, its sha256, how many leads it held, and the XOR and sum of their content
hashes (`Tally`); and the groups of leads that share a phone, by externId and line (no phone:
the state never holds one). A plan then cuts the file again and `match`es its chunks to the
sealed ones, in order. The chunks whose bytes are new are read (the header of a CSV file must
be unchanged); the sealed chunks that are gone held leads that must all turn up among them.

What is read is planned as usual; the rest counts as unchanged. `settle` then checks what a full
read would have seen differently, and returns None (the plan reads the campaign whole) when:
- there is an error anywhere: a full read reports every problem exactly;
- the leads read that the state holds are not exactly the leads of the chunks gone (their count,
  and the XOR and sum of the state's hashes of them): a lead was dropped or moved in from a chunk
  not read (a duplicate), and the plan would miss an orphan or a duplicate;
- a lead created or changed has a phone that occurs in a chunk not read (a new shared phone the
  read cannot see), or was in a group that shared a phone (the group may have split). A phone
  is looked for as text: as digits, and written in each way the chunks not read write their
  phones (`(###) ###-####`: leadsets/shapes.py, recorded with each chunk); a chunk whose phones
  cannot be searched for so (a JSON escape, an unknown way) makes the plan read whole;
- a lead that shared a phone with leads in other chunks is not found.
Otherwise the groups of shared phones are rebuilt (moved by the lines the chunks moved, merged
with what the read found) and the warnings at the file are those a full read gives.
"""

from __future__ import annotations

import mmap
import re
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import xor
from pathlib import Path

from ..leadsets import Sink
from ..leadsets.chunks import Cut, Span
from ..leadsets.problems import shared_phone
from ..leadsets.shapes import UNKNOWN, Written, pattern, render
from ..model import PHONE_FIELDS, Lead, LeadSetPlan, Severity
from .seal import Chunk, Group, Seal

# The phones of the leads created or changed are searched for one by one in the chunks kept up
# to this many (about 40 ms each in 80 MB), and past it found in one pass (about 1.4 s).
FIND_EACH_AT_MOST = 32
SCAN_WINDOWS_AT_MOST = 4_000_000  # a scan finding more long numbers to look into: read whole
# the ways a chunk may write its phones (leadsets/shapes.py), and all the chunks kept: past it,
# a chunk's phones are not searched for (its campaign is read whole after an edit)
SHAPES_AT_MOST = 8
_U64 = (1 << 64) - 1


def _fold(digests: list[str]) -> tuple[int, int, int]:
    """How many content hashes, and their XOR and sum (mod 2**64), each hash's 8 characters of
    base64 read as a 64-bit number (in bulk: an array, not a Python step per lead). A hash of
    another length gives a count no chunk has: the plan reads the campaign whole."""
    raw = "".join(digests).encode("ascii")
    if len(raw) != 8 * len(digests):
        return (-1, 0, 0)
    numbers = array("Q", raw)
    if sys.byteorder != "little":
        numbers.byteswap()
    return len(numbers), reduce(xor, numbers, 0), sum(numbers) & _U64


class Tally:
    """Per chunk, as the leads stream to the planner: how many, and the XOR and sum of their
    content hashes. With `applied` (the state's leads), the same of the state's hashes of the
    leads it holds, and the phones of the leads created or changed (`phones`, by externId);
    with `watch`, where these externIds were found."""

    def __init__(
        self,
        spans: Sequence[Span],
        applied: Mapping[str, str] | None = None,
        watch: frozenset[str] = frozenset(),
    ) -> None:
        self.firsts = [s.line for s in spans]
        size = len(spans)
        self.leads, self.xor, self.total = [0] * size, [0] * size, [0] * size
        self.applied, self.watch = applied, watch
        self.known = (0, 0, 0)  # leads the state holds: count, XOR, sum of its hashes
        self.lines: dict[str, int] = {}
        self.phones: dict[str, set[str]] = {}

    def wrap(self, leads: Iterable[Lead]) -> Iterator[Lead]:
        if self.applied is not None:
            leads = self._looking(leads, self.applied)
        firsts, last = self.firsts, len(self.firsts) - 1
        at, lo, hi = -1, 0, 0  # the chunk being counted and its lines [lo, hi)
        digests: list[str] = []
        keep = digests.append
        for lead in leads:  # a million leads on a full read: keep it lean
            line = lead.line
            if not lo <= line < hi:
                self._add(at, digests)
                digests.clear()
                at = bisect_right(firsts, line) - 1
                lo, hi = firsts[at], firsts[at + 1] if at < last else 1 << 62
            keep(lead.digest)
            yield lead
        self._add(at, digests)

    def _looking(self, leads: Iterable[Lead], applied: Mapping[str, str]) -> Iterator[Lead]:
        """The leads, noting the state's hashes of those it holds, the phones of those new or
        changed (as the planner tells them), and where watched ones are."""
        get, watch, lines, phones = applied.get, self.watch, self.lines, self.phones
        held: list[str] = []
        for lead in leads:
            entry = get(lead.extern_id)
            if entry is not None:
                held.append(entry[:8])
            if entry is None or not entry.startswith(lead.digest):
                phones.setdefault(lead.extern_id, set()).update(phones_of(lead))
            if lead.extern_id in watch:
                lines[lead.extern_id] = lead.line
            yield lead
        self.known = _fold(held)

    def _add(self, at: int, digests: list[str]) -> None:
        if at >= 0 and digests:
            n, x, t = _fold(digests)
            self.leads[at] += n
            self.xor[at] ^= x
            self.total[at] = (self.total[at] + t) & _U64

    def chunks(
        self, cut: Cut, written: Written, kept: Mapping[int, Chunk] | None = None
    ) -> tuple[Chunk, ...]:
        """The chunks to seal: those read as counted here, with the shapes of their phones
        (`written`; `plain` unless a shape is not known, or too many, or a JSON escape is in
        it), those `kept` as sealed before, moved."""
        shapes = written.by_chunk(self.firsts)
        made = []
        for i, s in enumerate(cut.spans):
            old = kept.get(i) if kept is not None else None
            if old is not None:
                leads, xor, total, plain = old.leads, old.xor, old.total, old.plain
                mine = old.shapes
            else:
                leads, xor, total = self.leads[i], self.xor[i], self.total[i]
                mine = tuple(sorted(shapes[i]))
                plain = not s.escaped and UNKNOWN not in mine and len(mine) <= SHAPES_AT_MOST
                mine = mine if plain else ()
            made.append(
                Chunk(s.start, s.end, s.line, s.lines, s.sha, leads, xor, total, plain, mine)
            )
        return tuple(made)


@dataclass
class Partial:
    """A sealed campaign whose leadsFile is read in part: which of the file's chunks now are the
    sealed ones (`kept`: new index -> sealed index), which are read, and which sealed ones are
    gone."""

    seal: Seal
    cut: Cut
    kept: dict[int, int]
    read: tuple[int, ...]
    vanished: tuple[int, ...]
    tally: Tally = field(init=False)

    def ranges(self) -> tuple[Span, ...]:
        return tuple(self.cut.spans[i] for i in self.read)


def match(seal: Seal, cut: Cut, csv_file: bool, applied: Mapping[str, str]) -> Partial | None:
    """The file's chunks matched to the sealed ones, in order; None when the file is better read
    whole (a CSV header changed, or nothing is kept)."""
    if not seal.chunks:
        return None
    where: dict[str, list[int]] = {}
    for i, c in enumerate(seal.chunks):
        where.setdefault(c.sha, []).append(i)
    kept: dict[int, int] = {}
    read: list[int] = []
    last = -1
    for j, span in enumerate(cut.spans):
        # the first sealed chunk with these bytes after the last one kept: the order holds
        found = next((i for i in where.get(span.sha, ()) if i > last), None)
        if found is None:
            read.append(j)
        else:
            kept[j] = last = found
    if csv_file and kept.get(0) != 0:
        return None  # the header changed: every row reads otherwise
    if not kept:
        return None
    taken = set(kept.values())
    vanished = tuple(i for i in range(len(seal.chunks)) if i not in taken)
    partial = Partial(seal, cut, kept, tuple(read), vanished)
    firsts = [c.line for c in seal.chunks]
    gone = set(vanished)
    watch = frozenset(
        eid for g in seal.groups for eid, line in g if bisect_right(firsts, line) - 1 in gone
    )
    partial.tally = Tally(cut.spans, applied, watch)
    return partial


def settle(
    partial: Partial,
    ls: LeadSetPlan,
    sink: Sink,
    path: Path,
    changed_phones: Mapping[str, set[str]],
) -> tuple[Chunk, ...] | None:
    """Check the plan made from the chunks read (see the module's docstring); when it holds,
    put the warnings a full read gives at the file into `sink` and return the chunks to seal,
    else None. `path`: the leadsFile; `changed_phones`: the phones of the leads created or
    changed, by externId."""
    seal, tally, cid = partial.seal, partial.tally, ls.campaign.id
    if sink.unkept or _other_warnings(sink, seal):
        return None  # what a full read finds at the file is not known from the chunks read
    gone = [seal.chunks[i] for i in partial.vanished]
    xors = reduce(xor, (c.xor for c in gone), 0)
    if tally.known != (sum(c.leads for c in gone), xors, sum(c.total for c in gone) & _U64):
        return None
    members = {eid for g in seal.groups for eid, _ in g}
    if members & changed_phones.keys():
        return None
    assert seal.leads_file is not None
    if changed_phones and not _absent(path, partial, changed_phones):
        return None
    groups = _groups(partial, sink.shared_groups.get(cid, []))
    if groups is None:
        return None
    _warnings(sink, cid, seal.leads_file, groups, str(ls.options.get("duplicateHandling")))
    kept = {j: seal.chunks[i] for j, i in partial.kept.items()}
    made = tally.chunks(partial.cut, sink.shapes(seal.leads_file), kept)
    sink.shared_groups[cid] = [list(g) for g in groups]
    return made


def _absent(path: Path, partial: Partial, phones: Mapping[str, set[str]]) -> bool:
    """No chunk kept holds any of these phones (as text: each written as digits and in each
    shape the kept chunks' phones have, leadsets/shapes.py; when a kept chunk's phones cannot
    be searched for, this is not known and the answer is no). A phone that is several (`|`) is
    looked for by its first: a lead that has them all has that one."""
    kept = sorted(partial.kept)
    sealed = [partial.seal.chunks[partial.kept[j]] for j in kept]
    if not all(c.plain for c in sealed):
        return False
    shapes = sorted({s for c in sealed for s in c.shapes})
    if len(shapes) > SHAPES_AT_MOST:
        return False
    firsts = {p.split("|", 1)[0] for each in phones.values() for p in each if p}
    spans = [(partial.cut.spans[j].start, partial.cut.spans[j].end) for j in kept]
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if len(firsts) > FIND_EACH_AT_MOST:
                needles = {p.encode() for p in firsts}
                if _scan(m, spans, needles) is not False:
                    return False
                digits = {p.removeprefix("+").encode() for p in firsts}
                return not any(_scan_shaped(m, spans, s, digits) for s in shapes)
            texts = set(firsts)
            texts.update(t for p in firsts for s in shapes if (t := render(p, s)) is not None)
            runs: list[list[int]] = []  # kept chunks next to each other, searched as one
            for a, b in spans:
                if runs and runs[-1][1] == a:
                    runs[-1][1] = b
                else:
                    runs.append([a, b])
            return not any(m.find(t.encode(), a, b) >= 0 for t in texts for a, b in runs)
    except (OSError, ValueError):
        return False


_PHONE_TEXT = re.compile(rb"\+?[0-9]+")


def _scan(
    text: bytes | mmap.mmap, spans: Sequence[tuple[int, int]], needles: set[bytes]
) -> bool | None:
    """Whether any needle occurs in these byte ranges of `text` (each a run of whole lines), in
    one pass for any number of needles; None when it is not known (a needle not written as
    digits, or too many long numbers to look into). A needle of digits (and a leading +) lies
    within a longest run of digits and + signs: each such run at least as long as the shortest
    needle is found, looked up in the set of needles, and if longer, looked into window by
    window. A run never spans two lines, so the ranges are searched one by one (flat memory)."""
    if not all(_PHONE_TEXT.fullmatch(n) for n in needles):
        return None
    lengths = sorted({len(n) for n in needles})
    numbers = re.compile(rb"[0-9+]{%d,}" % lengths[0])
    budget = SCAN_WINDOWS_AT_MOST
    for a, b in spans:
        found = numbers.findall(text, a, b)
        if not needles.isdisjoint(found):
            return True
        for t in found:
            if len(t) > lengths[0]:
                budget -= len(t) * len(lengths)
                if budget < 0:
                    return None
                if any(t[i : i + n] in needles for n in lengths for i in range(len(t) - n + 1)):
                    return True
    return False


_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)


def _scan_shaped(
    text: bytes | mmap.mmap, spans: Sequence[tuple[int, int]], shape: str, digits: set[bytes]
) -> bool:
    """Whether a phone written in `shape` whose digits are one of `digits` (or a 1 and one of
    them) occurs in these byte ranges of `text`, in one pass: every text in that shape is
    found (overlapping ones too), and its digits looked up."""
    found = re.compile(b"(?=(" + pattern(shape) + b"))").findall
    for a, b in spans:
        for t in found(text, a, b):
            d = t.translate(None, _NOT_DIGITS)
            if d in digits or (d[:1] == b"1" and d[1:] in digits):
                return True
    return False


def _groups(partial: Partial, found: Sequence[Sequence[tuple[str, int]]]) -> list[Group] | None:
    """The groups of leads sharing a phone in the file as it is now: the sealed groups within
    kept chunks, moved with them; those with leads in chunks gone and kept, merged with where
    the read found the former; and the groups the read found among the chunks read."""
    seal, cut, tally = partial.seal, partial.cut, partial.tally
    firsts = [c.line for c in seal.chunks]
    now = {i: cut.spans[j].line - seal.chunks[i].line for j, i in partial.kept.items()}
    result: list[Group] = []
    merged: set[str] = set()
    for group in seal.groups:
        moved: list[tuple[str, int]] = []
        outside = 0
        for eid, line in group:
            shift = now.get(bisect_right(firsts, line) - 1)
            if shift is not None:
                moved.append((eid, line + shift))
            else:
                outside += 1
                if eid not in tally.lines:
                    return None
                moved.append((eid, tally.lines[eid]))
        if outside == len(group):
            continue  # all of it read again: the read found it
        if outside:
            merged.update(eid for eid, _ in group)
        result.append(tuple(sorted(moved, key=lambda m: m[1])))
    for more in found:
        if not merged.intersection(eid for eid, _ in more):
            result.append(tuple(sorted(more, key=lambda m: m[1])))
    return sorted(result, key=lambda g: g[0][1])


def _other_warnings(sink: Sink, seal: Seal) -> bool:
    """Whether the file has warnings other than shared phones (externIds that look like personal
    data: fields.personal_id), in the chunks read or when it was sealed: only a full read
    counts them all."""
    file = seal.leads_file
    return any(f == file and field != "leadPhone" for f, _, field, _ in seal.warnings) or any(
        p.file == file and p.severity is Severity.WARNING and p.field != "leadPhone"
        for p in sink.problems
    )


def _warnings(sink: Sink, cid: int, file: str, groups: Sequence[Group], handling: str) -> None:
    """The warnings at the file: one at each lead whose phone an earlier lead has."""
    sink.collected.drop(lambda p: p.file == file and p.severity is Severity.WARNING)
    for group in groups:
        first = f"{file}:{group[0][1]}"
        for _eid, line in group[1:]:
            sink.add(file, line, "leadPhone", shared_phone(first, handling), warn=True)
    shared = sum(len(g) - 1 for g in groups)
    if shared:
        sink.shared_phones[cid] = shared
    else:
        sink.shared_phones.pop(cid, None)


def phones_of(lead: Lead) -> set[str]:
    """The phone values a lead's duplicate check may compare."""
    return {str(v) for n, v in zip(lead.names, lead.values, strict=True) if n in PHONE_FIELDS and v}
