"""optouts/calendar.py: business days (weekends, public holidays, closed days) and the rules
an opt-out's deadline is counted by."""

from __future__ import annotations

from datetime import date

import pytest

from engage_sync.optouts.calendar import BusinessCalendar, OptOutRules, check_country

D = date.fromisoformat
US = BusinessCalendar("US")


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        ("2026-11-25", True),  # a Wednesday
        ("2026-11-26", False),  # Thanksgiving Day
        ("2026-11-28", False),  # a Saturday
        ("2026-11-29", False),  # a Sunday
    ],
)
def test_business_days_leave_out_weekends_and_holidays(day: str, open_: bool) -> None:
    assert US.is_business_day(D(day)) is open_


def test_adding_business_days_skips_what_counting_leaves_out() -> None:
    start = D("2026-11-25")
    for days in range(0, 15):
        assert US.count(start, US.add(start, days)) == days
    assert US.add(start, 1) == D("2026-11-27")  # over Thanksgiving
    closed = BusinessCalendar("US", closed=frozenset({D("2026-11-27")}))
    assert closed.add(start, 1) == D("2026-11-30")  # and over a day the office is closed


def test_an_unknown_country_is_said_not_raised() -> None:
    assert check_country("US", None) is None
    assert check_country("ZZ", None)


def test_rules_without_settings_count_ten_business_days() -> None:
    rules = OptOutRules.of(None)
    due = rules.due(D("2026-11-20"))
    assert rules.calendar.count(D("2026-11-20"), due) == 10
