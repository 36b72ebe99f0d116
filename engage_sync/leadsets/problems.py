"""Problems found while reading lead sets, and the duplicate checks that find some of them:
`Problems` collects them; `DuplicateCheck` is the first, hashed pass over a campaign and
`ExactCheck` the second, exact one for the hashes that repeated; `Sink` hands both to readers.
`group` makes of the same problem at many lines one line to show (issue #31: a header with one
column too many was 300 identical lines, one a row)."""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..display import printable
from ..errors import ScratchError, ValidationFailed
from ..model import DuplicateHandling, Problem, Severity
from .shapes import Written

DUPLICATE_EFFECT = {h.value: h.effect for h in DuplicateHandling}

# track(externId, phone or None, line) -> False when the lead is not to be used (a replay skips
# a repeated externId, as the first read reported it)
Tracker = Callable[[str, object, int], bool]
Replay = tuple[set[int], set[int]]  # hashes of the externIds and phones seen more than once
_BUCKETS = 64
SPILL_AT = 1 << 20  # hashes held in memory per check before they go to a temporary file


class Hashes:
    """The 64-bit hashes of one campaign's externIds (or phones), to find repeats in bounded
    memory: 64 buckets in arrays, moved to temporary files once a million are held, then
    counted bucket by bucket. A repeated hash is a candidate only: an `ExactCheck` reads the
    campaign again and compares the values themselves."""

    def __init__(self, spill_at: int | None = None) -> None:
        # the tracker appends to buckets[value & 63] itself (a method call per lead costs)
        self.buckets = [array("q") for _ in range(_BUCKETS)]
        self._spill_at = spill_at or SPILL_AT
        self._dir: str | None = None

    def room(self) -> int:
        """How many more may be added before `spill` is due."""
        return self._spill_at - sum(map(len, self.buckets))

    def spill(self) -> None:
        """Move what is held to the temporary files (one per bucket)."""
        try:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="engage-sync-")
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._dir, True)
            for i, bucket in enumerate(self.buckets):
                with open(os.path.join(self._dir, str(i)), "ab") as f:
                    bucket.tofile(f)
                del bucket[:]
        except OSError as e:
            raise ScratchError.from_os(e) from e

    def repeated(self) -> set[int]:
        found: set[int] = set()
        for i in range(_BUCKETS):
            values = array("q")
            if self._dir is not None:
                path = os.path.join(self._dir, str(i))
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        values.frombytes(f.read())
            values.extend(self.buckets[i])
            found.update(v for v, n in Counter(values).items() if n > 1)
        return found

    def close(self) -> None:
        if self._dir is not None:
            self._cleanup()
            self._dir = None


KEPT = 10_000  # problems kept of each severity; past it they are counted (issue #29)
_LONGEST = 1_000  # characters of a message kept (a value in it may be a whole file's line)
FIRST_LINES = 3  # the lines a problem found at many is shown at; the others are counted

# what makes two problems the same but for their line: file, field, message, severity
Key = tuple[str, str, str, Severity]


def key_of(problem: Problem) -> Key:
    return (problem.file, problem.field, problem.message, problem.severity)


@dataclass
class Problems:
    """The problems found while reading, in the order found: the first `KEPT` errors and the
    first `KEPT` warnings, and how many more of each there were (a million bad rows must not
    hold a million messages: memory stays flat; the first ones say what to fix). `totals`
    counts, for each problem kept, how many times it was found at any line, kept or not (so
    `group` says "and 999,997 more lines"): at most one entry per problem kept."""

    items: list[Problem] = field(default_factory=list)
    more: dict[Severity, int] = field(
        default_factory=lambda: {Severity.ERROR: 0, Severity.WARNING: 0}
    )
    totals: dict[Key, int] = field(default_factory=dict)
    _kept: dict[Severity, int] = field(
        default_factory=lambda: {Severity.ERROR: 0, Severity.WARNING: 0}
    )

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity is Severity.WARNING]

    def count(self, severity: Severity) -> int:
        """How many of this severity were found, kept or not."""
        return self._kept[severity] + self.more[severity]

    def add(self, file: str, line: int, name: str, message: str, warn: bool = False) -> None:
        severity = Severity.WARNING if warn else Severity.ERROR
        if len(message) > _LONGEST:
            message = message[:_LONGEST] + "…"
        name = name[:200]
        key = (file, name, message, severity)  # key_of the problem, before it is made
        if self._kept[severity] >= KEPT:  # counted, not kept: a million must cost little
            self.more[severity] += 1
            if key in self.totals:
                self.totals[key] += 1
            return
        self._kept[severity] += 1
        self.totals[key] = self.totals.get(key, 0) + 1
        self.items.append(Problem(file, line, name, message, severity))

    def add_fatal(self, message: str) -> None:
        """A whole-file error whose message already says where (InputError)."""
        if self._kept[Severity.ERROR] >= KEPT:
            self.more[Severity.ERROR] += 1
            return
        self._kept[Severity.ERROR] += 1
        self.items.append(Problem(message[:_LONGEST], 0, "", ""))  # stands alone: never grouped

    def drop(self, unwanted: Callable[[Problem], bool]) -> None:
        """Forget the problems kept that are `unwanted` (a partial read's, replaced)."""
        before = Counter(map(key_of, self.items))
        self.items[:] = [p for p in self.items if not unwanted(p)]
        for severity in self._kept:
            self._kept[severity] = sum(1 for p in self.items if p.severity is severity)
        after = Counter(map(key_of, self.items))
        # a problem's count past those kept stays with it while one of it is kept
        self.totals = {k: n - before[k] + after[k] for k, n in self.totals.items() if after[k]}


@dataclass(frozen=True, slots=True)
class ProblemGroup:
    """One problem as shown: found at one line, or at many (the same file, field, message and
    severity), then shown once at its first lines with how many more there are."""

    problem: Problem  # the first found
    lines: tuple[int, ...]  # the first FIRST_LINES lines it is at
    count: int  # how many times it was found in all, kept or not
    kept: int  # how many of them are kept (Problems.items)

    @property
    def where(self) -> str:
        """`file:2,3,4 and 297 more lines`, or the one problem's `file:line`."""
        p = self.problem
        if self.count == 1:
            return f"{p.file}:{p.line}" if p.line else p.file
        rest = self.count - len(self.lines)
        more = f" and {rest:,} more line{'' if rest == 1 else 's'}" if rest else ""
        return f"{p.file}:{','.join(map(str, self.lines))}{more}"

    def __str__(self) -> str:
        if not self.problem.message:  # a whole-file problem whose text already says where
            return str(self.problem)
        return f"{printable(self.where)}: {self.problem.body}"


def group(
    problems: Iterable[Problem], totals: Mapping[Key, int] | None = None
) -> list[ProblemGroup]:
    """The problems as they are shown: by file and line, a problem found at several lines once,
    at the first; with `totals` (Problems.totals), counting those found past the ones kept too.
    A problem of no line (a whole file's) stands alone."""
    found: dict[object, list[Any]] = {}  # key -> [first problem, first lines, how many kept]
    for p in sorted(problems, key=lambda p: (p.file, p.line)):
        key: object = key_of(p) if p.line else id(p)
        entry = found.get(key)
        if entry is None:
            found[key] = [p, [p.line], 1]
            continue
        entry[2] += 1
        lines = entry[1]
        if len(lines) < FIRST_LINES and lines[-1] != p.line:
            lines.append(p.line)
    totals = totals or {}
    return [
        ProblemGroup(p, tuple(lines), max(kept, totals.get(key_of(p), 0)) if p.line else kept, kept)
        for p, lines, kept in found.values()
    ]


@dataclass
class DuplicateCheck:
    """The first pass over a campaign: 64-bit hashes of its externIds and phones (never the
    numbers), spilled to temporary files past a million, and which of its tombstones are
    declared too. Memory stays flat however many leads stream past."""

    shared_phones: dict[int, int] = field(default_factory=dict)  # campaign -> leads (warnings)
    # campaign -> the leads that share a phone, as (externId, line) groups in the order read
    # (no phone: the state holds these for incremental plans, see incremental/partial.py)
    shared_groups: dict[int, list[list[tuple[str, int]]]] = field(default_factory=dict)
    _ids: dict[int, Hashes] = field(default_factory=dict)
    _phones: dict[int, Hashes] = field(default_factory=dict)
    _watch: dict[int, tuple[frozenset[str], set[str]]] = field(default_factory=dict)

    def watch(self, campaign: int, extern_ids: Iterable[str]) -> None:
        """Note which of these externIds (a campaign's tombstones) are declared."""
        self._watch[campaign] = (frozenset(extern_ids), set())

    def watched(self, campaign: int) -> set[str]:
        return self._watch.get(campaign, (frozenset(), set()))[1]

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        """The check for one campaign's leads in one file: called once per lead."""
        ids = self._ids.setdefault(campaign, Hashes())
        phones = self._phones.setdefault(campaign, Hashes())
        id_buckets, phone_buckets = ids.buckets, phones.buckets
        wanted, seen = self._watch.get(campaign, (frozenset(), set()))
        left = ids.room()

        def track(extern_id: str, phone: object, line: int) -> bool:
            nonlocal left
            if wanted and extern_id in wanted:
                seen.add(extern_id)
            h = hash(extern_id)
            id_buckets[h & 63].append(h)
            if phone:
                h = hash(phone)
                phone_buckets[h & 63].append(h)
            left -= 1
            if not left:  # both spill together: the phones are never more than the ids
                ids.spill()
                phones.spill()
                left = ids.room()
            return True

        return track

    def repeated(self, campaign: int) -> Replay | None:
        """The hashes seen more than once in a campaign (None when none were): then the
        campaign's files are read again with an `ExactCheck` of them."""
        ids, phones = self._ids.pop(campaign, None), self._phones.pop(campaign, None)
        id_hashes = ids.repeated() if ids is not None else set()
        phone_hashes = phones.repeated() if phones is not None else set()
        for each in (ids, phones):
            if each is not None:
                each.close()
        return (id_hashes, phone_hashes) if id_hashes or phone_hashes else None


@dataclass
class ExactCheck:
    """The second pass, for a campaign whose hashes repeated: the leads with those hashes are
    compared by value, as one pass holding every value would, so the problems and the places
    they name are the same. A repeated externId is skipped (its phone is not counted)."""

    replay: Replay
    found: list[tuple[str, object, str, int, str]] = field(default_factory=list)
    first: dict[object, str] = field(default_factory=dict)  # key -> where first declared
    members: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # phone key -> leads
    _seen_ids: set[str] = field(default_factory=set)
    _seen_phones: set[int] = field(default_factory=set)

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        handling = str(duplicate_handling)
        id_hashes, phone_hashes = self.replay
        ids, phones, found, first = self._seen_ids, self._seen_phones, self.found, self.first
        members = self.members

        def track(extern_id: str, phone: object, line: int) -> bool:
            if hash(extern_id) in id_hashes:
                if extern_id in ids:
                    found.append(("externId", extern_id, file, line, handling))
                    return False
                ids.add(extern_id)
                first[extern_id] = f"{file}:{line}"
            key = hash(phone) if phone else None
            if key is not None and key in phone_hashes:
                members.setdefault(key, []).append((extern_id, line))
                if key in phones:
                    found.append(("leadPhone", key, file, line, handling))
                else:
                    phones.add(key)
                    first[key] = f"{file}:{line}"
            return True

        return track

    def report(self, campaign: int, problems: Problems, check: DuplicateCheck) -> None:
        """The duplicates found, in the order the leads came, each naming where the value was
        first declared; the groups of leads that share a phone go to `check`."""
        shared_phones = check.shared_phones
        groups = [m for m in self.members.values() if len(m) > 1]
        if groups:
            check.shared_groups.setdefault(campaign, []).extend(groups)
        for kind, key, file, line, handling in self.found:
            first = self.first.get(key, "an earlier lead")
            if kind == "externId":
                problems.add(
                    file,
                    line,
                    "externId",
                    f"duplicate externId '{key}' in campaign {campaign}: first declared at {first}",
                )
            else:
                shared_phones[campaign] = shared_phones.get(campaign, 0) + 1
                problems.add(file, line, "leadPhone", shared_phone(first, handling), warn=True)


def shared_phone(first: str, handling: str) -> str:
    """The warning at a lead whose phone an earlier lead (at `first`, file:line) has."""
    return (
        f"same phone as the lead at {first}; with "
        f"duplicateHandling {handling} {DUPLICATE_EFFECT.get(handling, '')}"
    )


class NoCheck:
    """No duplicate check: a second look at leads a plan checked already (leadsets.stream).
    Every lead passes, and nothing is kept (the first pass's hashes are 16 bytes a lead)."""

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        return _passes


def _passes(extern_id: str, phone: object, line: int) -> bool:
    return True


class Sink:
    """What reading hands every reader: where problems go (`Problems`) and the duplicate check
    the leads pass through (the hashed first pass, an exact re-check, or none)."""

    def __init__(self, check: DuplicateCheck | ExactCheck | NoCheck | None = None) -> None:
        self.collected = Problems()
        self.check = check if check is not None else DuplicateCheck()
        # per file, how its phones are written where not as they are compared (shapes.py), so
        # a plan can look for a phone in chunks it does not read (incremental/partial.py)
        self.written: dict[str, Written] = {}
        self._personal: dict[str, tuple[int, int]] = {}  # file -> (how many, first line)
        # the do-not-call list files found among the lead sets (dnclists.DncList): read apart
        # from the campaigns, by whoever checks leads against them
        self.do_not_call: list[Any] = []

    @property
    def problems(self) -> list[Problem]:
        return self.collected.items

    @property
    def errors(self) -> list[Problem]:
        return self.collected.errors

    @property
    def warnings(self) -> list[Problem]:
        return self.collected.warnings

    @property
    def replay(self) -> Replay | None:
        """The repeated hashes an exact re-check looks for (None on a first pass)."""
        return self.check.replay if isinstance(self.check, ExactCheck) else None

    @property
    def shared_phones(self) -> dict[int, int]:
        return self.check.shared_phones if isinstance(self.check, DuplicateCheck) else {}

    @property
    def shared_groups(self) -> dict[int, list[list[tuple[str, int]]]]:
        return self.check.shared_groups if isinstance(self.check, DuplicateCheck) else {}

    def shapes(self, file: str) -> Written:
        """How `file` writes its phones (see `written`)."""
        found = self.written.get(file)
        if found is None:
            found = self.written[file] = Written()
        return found

    @property
    def unkept(self) -> int:
        """Problems found past those kept (Problems.KEPT of each severity)."""
        return sum(self.collected.more.values())

    def count(self, severity: Severity) -> int:
        return self.collected.count(severity)

    def failure(self) -> ValidationFailed:
        """The error that stops a plan: the problems kept, and how many more there were."""
        more = self.collected.more
        return ValidationFailed(
            list(self.problems), more[Severity.ERROR], more[Severity.WARNING], self.totals
        )

    @property
    def totals(self) -> dict[Key, int]:
        """How many times each problem kept was found (Problems.totals), for `group`."""
        return self.collected.totals

    def personal(self, file: str, line: int) -> None:
        """An externId that looks like a phone or an email (fields.personal_id), at this line."""
        count, first = self._personal.get(file, (0, line))
        self._personal[file] = (count + 1, first)

    def warn_personal(self, file: str) -> None:
        """After a file is read: one warning for its externIds that look like personal data, at
        the first of them, with how many (never the values)."""
        found = self._personal.pop(file, None)
        if found is not None:
            count, first = found
            self.add(
                file,
                first,
                "externId",
                f"{count:,} externId(s) look like a phone number or an email address, the first "
                "here: plans, reports, the state and pull-request comments show externIds, so "
                "they would hold personal data; use an id that is not",
                warn=True,
            )

    def add(self, file: str, line: int, name: str, message: str, warn: bool = False) -> None:
        self.collected.add(file, line, name, message, warn)

    def add_fatal(self, message: str) -> None:
        self.collected.add_fatal(message)

    def tracker(self, campaign: int, duplicate_handling: object, file: str) -> Tracker:
        return self.check.tracker(campaign, duplicate_handling, file)
