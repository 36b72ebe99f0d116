"""How far a long command got, said every few seconds, for logs that are not a terminal (a CI job
prints nothing for minutes otherwise: issue #31). A `Meter` counts work done and, at most every
`interval` seconds, hands one line to `say`: done (of the total when known), the rate, and what
remains. It never prints itself; the clock is injected so tests need no sleeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .model import Lead

STEP = 1024  # leads between two looks at the clock while reading (a look costs a call)


class Meter:
    """One phase of a command (`start`), counted (`add`), said at most every `interval` s."""

    def __init__(
        self,
        say: Callable[[str], None],
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.say, self.interval, self.clock = say, interval, clock
        self._lock = threading.Lock()  # accounts are applied in threads of their own
        self.start("", "")

    def start(self, label: str, unit: str, total: int | None = None) -> None:
        """A new phase: `label` starts each line, `unit` names what is counted."""
        with self._lock:
            self.label, self.unit, self.total = label, unit, total
            self.done = 0
            self.began = self.last = self.clock()
            self._lines: dict[str, int] = {}  # reading: lines each file has
            self._reached: dict[str, int] = {}  # reading: the last line read of each file

    def expect(self, file: str, lines: int) -> None:
        """Reading: `file` has `lines` lines, so how far into it a lead is tells what remains."""
        with self._lock:
            self._lines[file] = max(1, lines)

    def add(self, n: int, file: str | None = None, line: int = 0) -> None:
        """`n` more done (reading: the last of them at `file`:`line`)."""
        with self._lock:
            self.done += n
            if file is not None:
                self._reached[file] = max(line, self._reached.get(file, 0))
            now = self.clock()
            if now - self.last < self.interval:
                return
            self.last = now
            text = self._line(now)
        self.say(text)

    def fraction(self) -> float | None:
        """How much of the phase is done (None: not known)."""
        if self.total:
            return min(1.0, self.done / self.total)
        if self._lines and set(self._reached) <= set(self._lines):
            total = sum(self._lines.values())
            return min(1.0, sum(self._reached.values()) / total)
        return None

    def _line(self, now: float) -> str:
        elapsed = max(now - self.began, 1e-9)
        rate = self.done / elapsed
        done = (
            f"{self.done:,} of {self.total:,} {self.unit}"
            if self.total
            else (f"{self.done:,} {self.unit}")
        )
        parts = [f"{self.label}: {done}"]
        part = self.fraction()
        if part is not None:
            parts[0] += f" ({part:.0%}{'' if self.total else ' of the input'})"
        parts.append(f"{rate:,.0f}/s")
        if part is not None and 0 < part < 1:
            parts.append(f"about {duration(elapsed * (1 - part) / part)} left")
        elif part is None:
            parts.append("total not known yet")
        return ", ".join(parts)


def duration(seconds: float) -> str:
    """`45 s`, `3 min 20 s`, `1 h 05 min`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def counted(leads: Iterable[Lead], meter: Meter) -> Iterator[Lead]:
    """The leads, each counted by `meter` as it is read (a look at the clock every STEP)."""
    n = 0
    last: Lead | None = None
    for lead in leads:
        yield lead
        n += 1
        if n == STEP:
            meter.add(n, lead.file, lead.line)
            n = 0
        last = lead
    if n and last is not None:
        meter.add(n, last.file, last.line)


def count_lines(path: Path) -> int:
    """Lines in a file (about 30 ms for 50 MB): how much reading remains."""
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines + 1
