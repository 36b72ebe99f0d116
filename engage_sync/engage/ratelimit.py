"""Sliding-window rate limits (several windows at once, as Engage documents them).

Used both ways: the client *waits* until a call fits every window (pacing), and the emulator
*refuses* a call that does not fit (429).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

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


class SlidingWindows:
    def __init__(
        self,
        limits: Sequence[Limit],
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # scale > 1 runs the same pacing faster: windows shrink, counts stay
        self.limits = tuple((count, period / scale) for count, period in limits)
        self.clock = clock
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        longest = max(period for _, period in self.limits)
        while self._calls and self._calls[0] <= now - longest:
            self._calls.popleft()

    def wait_time(self, now: float | None = None) -> float:
        """Seconds until one more call fits every window (0 when it fits now)."""
        now = self.clock() if now is None else now
        with self._lock:
            self._prune(now)
            wait = 0.0
            calls = list(self._calls)
            for count, period in self.limits:
                recent = [t for t in calls if t > now - period]
                if len(recent) >= count:
                    wait = max(wait, recent[len(recent) - count] + period - now)
            return wait

    def try_acquire(self, now: float | None = None) -> bool:
        """Record a call if it fits every window; False (nothing recorded) if not."""
        now = self.clock() if now is None else now
        with self._lock:
            self._prune(now)
            for count, period in self.limits:
                if sum(1 for t in self._calls if t > now - period) >= count:
                    return False
            self._calls.append(now)
            return True

    def completed(self, now: float | None = None) -> None:
        """Move the latest call's time to when its answer came back.

        The server counts a call when it arrives, somewhere between our send and its answer.
        Counting our calls from their answers means every earlier call has surely arrived before
        the window lets the next one go, whatever the network did: no 429 by construction.
        """
        now = self.clock() if now is None else now
        with self._lock:
            if self._calls:
                self._calls[-1] = max(self._calls[-1], now)

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait until a call fits, record it; returns the seconds waited."""
        waited = 0.0
        while True:
            wait = self.wait_time()
            if wait <= 0 and self.try_acquire():
                return waited
            pause = max(wait, 0.001)
            sleep(pause)
            waited += pause
