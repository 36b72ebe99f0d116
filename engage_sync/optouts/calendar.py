"""Business days: weekends, a country's public holidays (the `holidays` library) and the
closures a team lists itself. The settings are engage-sync.yaml's `optOuts:`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..settings import chosen
from ..settings import table as settings

if TYPE_CHECKING:
    import holidays


def forced_today() -> date | None:
    """ENGAGE_SYNC_TODAY, when set: the day deadlines are counted to (tests, re-runs); a
    ConfigError when it is not a date."""
    forced: date | None = chosen(settings.TODAY)
    return forced


def latest_request_day() -> date:
    """The latest `requested:` date a lead set may give: today (ENGAGE_SYNC_TODAY when set),
    plus a day for the time zones ahead of this machine."""
    return (forced_today() or date.today()) + timedelta(days=1)


@functools.lru_cache(maxsize=8)
def _public(country: str, subdivision: str | None) -> holidays.HolidayBase:
    import holidays  # on first use: most plans have no opt-out to count days for

    return holidays.country_holidays(country, subdiv=subdivision)


def check_country(country: str, subdivision: str | None) -> str | None:
    """Why the `holidays` library cannot give this country's holidays, or None when it can."""
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        return f"{country!r} is not a country the holidays library knows (ISO 3166-1 alpha-2)"
    if subdivision is not None and subdivision not in supported[country]:
        return f"{subdivision!r} is not a subdivision of {country} the holidays library knows"
    return None


@dataclass(frozen=True)
class BusinessCalendar:
    """Monday to Friday, less the public holidays of `country` (None: weekends only) and the
    days in `closed`."""

    country: str | None = "US"
    subdivision: str | None = None
    closed: frozenset[date] = frozenset()

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.closed:
            return False
        return self.country is None or day not in _public(self.country, self.subdivision)

    def count(self, start: date, end: date) -> int:
        """Business days after `start` up to and including `end`; negative when `end` is
        earlier (the business days from `end` up to `start`, less one way round)."""
        if end < start:
            return -self.count(end, start)
        days, day = 0, start
        while day < end:
            day += timedelta(days=1)
            days += self.is_business_day(day)
        return days

    def add(self, start: date, days: int) -> date:
        """The `days`-th business day after `start`."""
        day = start
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_business_day(day)
        return day


@dataclass(frozen=True)
class OptOutRules:
    """engage-sync.yaml `optOuts:`: how many business days an opt-out may take, when the plan
    starts to warn, the calendar, and the time zone whose date counts."""

    deadline: int = 10
    warn_within: int = 3
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    timezone: str = "UTC"
    # do not call (issue #30): the region whose numbers a phone without a country code is, and
    # where a do-not-call phone is stopped: every campaign of the account, or the campaigns
    # the lead sets declare
    phone_region: str = "US"
    scope: str = "account"
    engage_states: tuple[str, ...] = ("DO-NOT-CALL",)  # records Engage holds as an opt-out

    @classmethod
    def of(cls, settings: Mapping[str, object] | None) -> OptOutRules:
        """From the `optOuts:` mapping the config schema already checked."""
        raw = dict(settings or {})
        country = raw.get("country", "US")
        subdivision = raw.get("subdivision")
        closed = frozenset(date.fromisoformat(str(d)) for d in raw.get("closed", []) or [])  # type: ignore[attr-defined]
        return cls(
            deadline=int(raw.get("deadlineBusinessDays", 10)),  # type: ignore[call-overload]
            warn_within=int(raw.get("warnWithinBusinessDays", 3)),  # type: ignore[call-overload]
            calendar=BusinessCalendar(
                str(country) if country else None,
                str(subdivision) if subdivision else None,
                closed,
            ),
            timezone=str(raw.get("timezone", "UTC")),
            phone_region=str(raw.get("phoneRegion") or "US").upper(),
            scope=str(raw.get("scope") or "account"),
            engage_states=tuple(
                dict.fromkeys(
                    ["DO-NOT-CALL"]
                    + [str(x).upper().replace("_", "-") for x in raw.get("engageStates") or []]  # type: ignore[attr-defined]
                )
            ),
        )

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"optOuts.timezone: unknown time zone {self.timezone!r}") from e

    def today(self) -> date:
        """The date in the configured time zone, or ENGAGE_SYNC_TODAY when set."""
        return forced_today() or datetime.now(self.zone).date()

    def date_of(self, moment: datetime) -> date:
        """The date of a moment in the configured time zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(self.zone).date()

    def due(self, requested: date) -> date:
        return self.calendar.add(requested, self.deadline)
