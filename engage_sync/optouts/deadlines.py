"""When each opt-out was asked for, and how many business days it has left.

The date comes from, in order: the tombstone's own `requested:` (what the person said); else
the earlier of the date an earlier apply recorded in the state and the day git says the
tombstone's line was committed (author date); else today, the day it is first seen. A plan
writes nothing, so without git or an earlier apply each plan counts from its own day: the
first apply that sees the tombstone records the date, and keeps it until the removal is done.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from .calendar import BusinessCalendar, OptOutRules


class DateSource(enum.Enum):
    LEAD_SET = "lead set"  # requested: in the file
    GIT = "git"  # the commit that added the tombstone's line
    STATE = "state"  # recorded by an earlier apply
    FIRST_SEEN = "first seen"  # today: nothing earlier is known


@dataclass(frozen=True, slots=True)
class Requested:
    day: date
    source: DateSource
    commit: str | None = None  # the commit that tombstoned it, when git knows


class Status(enum.Enum):
    OK = "ok"
    SOON = "soon"  # within optOuts.warnWithinBusinessDays of the deadline
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Deadline:
    """One pending opt-out: asked for on `requested.day`, counted to `today` by `rules`."""

    requested: Requested
    today: date
    rules: OptOutRules = field(compare=False, repr=False)

    @property
    def calendar(self) -> BusinessCalendar:
        return self.rules.calendar

    @property
    def due(self) -> date:
        return self.rules.due(self.requested.day)

    @property
    def elapsed(self) -> int:
        """Business days since it was asked for."""
        return self.calendar.count(self.requested.day, self.today)

    @property
    def left(self) -> int:
        """Business days until the deadline: 0 on the day itself, negative once past it."""
        return self.calendar.count(self.today, self.due)

    @property
    def status(self) -> Status:
        if self.today > self.due:
            return Status.OVERDUE
        return Status.SOON if self.left <= self.rules.warn_within else Status.OK

    def taken(self, done: date) -> int:
        """Business days from the request to `done` (the day the removal was confirmed)."""
        return self.calendar.count(self.requested.day, done)

    def describe(self) -> str:
        """`requested 2026-11-20 (lead set), 8 business days ago; due 2026-12-04, 2 left`."""
        ago = self._ago()
        head = f"requested {self.requested.day} ({self.requested.source.value}), {ago}"
        if self.status is Status.OVERDUE:
            late = self.calendar.count(self.due, self.today)
            return f"{head}; due {self.due}: PAST ITS DEADLINE by {_days(late)}"
        left = "due today" if self.left == 0 else f"{_days(self.left)} left"
        return f"{head}; due {self.due}, {left}"

    def _ago(self) -> str:
        """How long ago it was asked for: `today` only for today (a date a time zone ahead
        counts as today), and a weekend or holiday since is said as such, not as today."""
        day = self.requested.day
        if day >= self.today:
            return "today"
        if self.elapsed > 0:
            return _days(self.elapsed) + " ago"
        days = (self.today - day).days
        return f"{days} day{'' if days == 1 else 's'} ago (no business day since)"


def _days(n: int) -> str:
    return f"{n} business day{'' if n == 1 else 's'}"


Blame = Callable[[str, Iterable[int]], Mapping[int, tuple[str, date]]]


@dataclass(frozen=True, slots=True)
class Pending:
    """A tombstone not yet carried out, as the deadline needs it."""

    extern_id: str
    file: str
    line: int
    requested: date | None  # from the file


def requested_dates(
    pending: Iterable[Pending], recorded: Mapping[str, str], blame: Blame, today: date
) -> dict[str, Requested]:
    """When each pending opt-out was asked for (see the module's docstring for the order)."""
    pending = list(pending)
    lines: dict[str, set[int]] = {}
    for p in pending:
        lines.setdefault(p.file, set()).add(p.line)
    known = {file: blame(file, sorted(wanted)) for file, wanted in lines.items()}
    found: dict[str, Requested] = {}
    for p in pending:
        commit, committed = known[p.file].get(p.line, (None, None))
        if p.requested is not None:
            found[p.extern_id] = Requested(p.requested, DateSource.LEAD_SET, commit)
            continue
        options = []
        if p.extern_id in recorded:
            with contextlib.suppress(ValueError):  # a hand edit: git or today still date it
                options.append((date.fromisoformat(recorded[p.extern_id]), DateSource.STATE))
        if committed is not None:
            options.append((committed, DateSource.GIT))
        day, source = min(options, default=(today, DateSource.FIRST_SEEN), key=lambda o: o[0])
        found[p.extern_id] = Requested(day, source, commit)
    return found
