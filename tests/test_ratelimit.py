"""ratelimit.py: several sliding windows at once, with plain numbers for time (no clock runs)."""

from __future__ import annotations

import pytest

from engage_sync.ratelimit import SlidingWindows, parse_limits


@pytest.mark.parametrize(
    ("text", "limits"),
    [("30/10,120/60", ((30, 10.0), (120, 60.0))), (" 5/1 ", ((5, 1.0),))],
)
def test_limits_are_read_as_count_per_seconds(text: str, limits: tuple[object, ...]) -> None:
    assert parse_limits(text) == limits


@pytest.mark.parametrize("text", ["0/10", "5/0", "5/-1", "five/10", "", "5"])
def test_a_limit_that_admits_nothing_or_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_limits(text)


def test_the_shortest_window_sets_the_burst_and_the_longest_the_pace() -> None:
    windows = SlidingWindows(((2, 10.0), (3, 60.0)), clock=lambda: 0.0)
    assert windows.burst == 2
    assert windows.try_acquire(0.0) and windows.try_acquire(1.0)
    assert windows.try_acquire(2.0) is None  # the 10 s window is full
    assert windows.wait_time(2.0) == pytest.approx(8.0)  # until the first call leaves it
    assert windows.try_acquire(10.5)
    assert windows.try_acquire(11.5) is None  # now the 60 s window is: three in it
    assert windows.wait_time(11.5) == pytest.approx(48.5)
    assert windows.try_acquire(60.5)


def test_a_call_in_flight_holds_its_slot_until_it_arrives() -> None:
    windows = SlidingWindows(((1, 10.0),), clock=lambda: 0.0)
    ticket = windows.try_acquire(0.0, pending=True)
    assert ticket is not None
    assert windows.wait_time(100.0) == float("inf")  # only its answer can free the slot
    windows.arrived(ticket, 5.0)  # the server counts it from its arrival
    assert windows.wait_time(10.0) == pytest.approx(5.0)
    assert windows.wait_time(100.0) == 0.0


def test_a_hold_delays_every_call_and_the_scale_shrinks_the_windows() -> None:
    windows = SlidingWindows(((10, 10.0),), scale=2.0, clock=lambda: 0.0)
    assert windows.limits == ((10, 5.0),)
    windows.hold(3.0, now=1.0)
    assert windows.try_acquire(2.0) is None and windows.wait_time(2.0) == pytest.approx(2.0)
    assert windows.try_acquire(4.0) is not None


def test_the_calls_of_the_last_run_are_remembered_and_handed_on() -> None:
    windows = SlidingWindows(((2, 10.0), (5, 60.0)), clock=lambda: 100.0)
    windows.remember([95.0, 96.0, 20.0])
    assert windows.try_acquire(100.0) is None  # two calls in the last 10 s already
    assert windows.try_acquire(106.0) is not None
    # what the next run gets: every call still in the longest window, none older
    assert windows.recent(110.0) == [95.0, 96.0, 106.0]
