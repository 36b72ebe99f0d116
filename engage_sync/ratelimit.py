"""Sliding-window rate limits (several windows at once, as Engage documents them).

Used both ways: the client *waits* until a call fits every window (pacing), and the emulator
*refuses* a call that does not fit (429).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence

Limit = tuple[int, float]  # (requests, per seconds)

LOADER_LIMITS: tuple[Limit, ...] = ((30, 10.0), (120, 60.0))
SEARCH_LIMITS: tuple[Limit, ...] = ((15, 10.0), (60, 30.0))
ACTION_LIMITS: tuple[Limit, ...] = ((30, 10.0), (120, 60.0))
EXCHANGE_LIMITS: tuple[Limit, ...] = ((5, 60.0),)


def parse_limits(text: str) -> tuple[Limit, ...]:
    """`30/10,120/60` -> ((30, 10.0), (120, 60.0))."""
    limits = []
    for part in text.split(","):
        count, _, period = part.strip().partition("/")
        limits.append((int(count), float(period)))
    if not limits or any(c < 1 or p <= 0 for c, p in limits):
        raise ValueError(f"bad rate limits {text!r}: expected e.g. 30/10,120/60")
    return tuple(limits)


class Ticket:
    """One call counted by a SlidingWindows: in flight until `completed`, then at its answer."""

    __slots__ = ("pending", "time")

    def __init__(self, time: float, pending: bool) -> None:
        self.time, self.pending = time, pending


def _when(ticket: Ticket) -> float:
    return ticket.time


class SlidingWindows:
    """Several windows at once. A call counts in every window from when it is sent until the
    request has been fully written (the server counts it when it arrives), and from then on at
    that moment; where that moment cannot be seen, until its answer, and from the answer on. So
    whatever the server's latency and however many calls are in flight, every call the server
    has counted is counted here, given the windows' small margin for the way there."""

    def __init__(
        self,
        limits: Sequence[Limit],
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # scale > 1 runs the same pacing faster: windows shrink, counts stay
        self.limits = tuple((count, period / scale) for count, period in limits)
        self.clock = clock
        self._calls: deque[Ticket] = deque()
        self._held_until = float("-inf")  # a 429's Retry-After: nothing fits before then
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)

    @property
    def burst(self) -> int:
        """The most calls the shortest window lets be in flight at once."""
        return min(count for count, _ in self.limits)

    def _prune(self, now: float) -> None:
        longest = max(period for _, period in self.limits)
        while self._calls and not self._calls[0].pending and self._calls[0].time <= now - longest:
            self._calls.popleft()

    def _wait(self, now: float) -> float:
        """Seconds until one more call fits (inf: only an answer in flight can free a slot).

        `now` may be in the past (the emulator counts a call when it arrived, and a busy
        emulator may get round to an earlier arrival after later ones): calls counted after it
        are not in its window, as a server counting in arrival order would not have seen them."""
        self._prune(now)
        wait = max(0.0, self._held_until - now)
        for count, period in self.limits:
            times = sorted(
                float("inf") if c.pending else c.time
                for c in self._calls
                if c.pending or now - period < c.time <= now
            )
            if len(times) >= count:
                wait = max(wait, times[len(times) - count] + period - now)
        return wait

    def hold(self, seconds: float, now: float | None = None) -> None:
        """The server answered 429 and asked for `seconds` (or the client chose a backoff): no
        call fits before then, whichever thread sends it."""
        now = self.clock() if now is None else now
        with self._lock:
            self._held_until = max(self._held_until, now + seconds)

    def remember(self, times: Iterable[float]) -> None:
        """Count calls made before this run (its clock's times), answered: the windows start
        where the last run left them, not empty (state/pacing.py)."""
        with self._lock:
            earlier = [Ticket(t, False) for t in times]
            self._calls = deque(sorted([*earlier, *self._calls], key=_when))

    def recent(self, now: float | None = None) -> list[float]:
        """The times of the calls still in the longest window (a call in flight counts as now),
        for the next run to remember."""
        now = self.clock() if now is None else now
        longest = max(period for _, period in self.limits)
        with self._lock:
            return [
                now if c.pending else c.time
                for c in self._calls
                if c.pending or c.time > now - longest
            ]

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until one more call fits every window (0 when it fits now)."""
        now = self.clock() if now is None else now
        with self._lock:
            return self._wait(now)

    def try_acquire(self, now: float | None = None, pending: bool = False) -> Ticket | None:
        """Count a call if it fits every window; None (nothing counted) if not. The emulator
        counts arrivals (`pending=False`); the client counts a call in flight until answered."""
        now = self.clock() if now is None else now
        with self._lock:
            if self._wait(now) > 0:
                return None
            ticket = Ticket(now, pending)
            self._calls.append(ticket)
            return ticket

    def arrived(self, ticket: Ticket, now: float | None = None) -> None:
        """The request is fully sent: the server counts it on arrival, so it counts from now
        (the windows' margin covers the way there). Its answer may take much longer."""
        now = self.clock() if now is None else now
        with self._lock:
            if ticket.pending:
                ticket.time, ticket.pending = max(ticket.time, now), False
                self._answered.notify_all()

    def completed(self, ticket: Ticket | None = None, now: float | None = None) -> None:
        """The call's answer came back. Unless it was seen to arrive, it counts from now: every
        call the server counted is surely counted here (the latest call if no ticket)."""
        now = self.clock() if now is None else now
        with self._lock:
            if ticket is None:
                if not self._calls:
                    return
                ticket = self._calls[-1]
            if ticket.pending:
                ticket.time, ticket.pending = max(ticket.time, now), False
            self._answered.notify_all()

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> tuple[float, Ticket]:
        """Wait until a call fits, count it as in flight; returns (seconds waited, ticket)."""
        waited = 0.0
        while True:
            now = self.clock()
            with self._lock:
                wait = self._wait(now)
                if wait <= 0:
                    ticket = Ticket(now, True)
                    self._calls.append(ticket)
                    return waited, ticket
                if wait == float("inf") and sleep is time.sleep:
                    started = time.monotonic()
                    self._answered.wait(timeout=1.0)  # woken by an answer
                    waited += time.monotonic() - started
                    continue
            pause = 0.01 if wait == float("inf") else max(wait, 0.001)
            sleep(pause)
            waited += pause
