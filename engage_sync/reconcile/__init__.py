"""Bringing Engage to what the files declare: the run against the live API, on top of the plan.

applier.py  walks a Plan through the client: removals first, then loads, every answer
            journaled; lost answers resolved by looking
actions.py  which records to cancel or delete so no campaign holds more dialable records
            than declared (a pure decision per duplicateHandling mode), and doing it
refresh.py  `--refresh`: what is really in Engage for the declared campaigns
drift.py    what changed outside engage-sync (pure)
report.py   what an apply did, per campaign, without PII
"""

from __future__ import annotations

from .applier import Applier
from .refresh import refresh
from .report import LeadSetReport, Report, scrub

__all__ = ["Applier", "LeadSetReport", "Report", "refresh", "scrub"]
