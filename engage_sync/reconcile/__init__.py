"""Bringing Engage to what the files declare: the run against the live API, on top of the plan.

operation.py  the apply operation: plan, gates (checksum, reviews, rails), ask, post, record;
              the commands only render its outcome
planning.py   the plan operation: read, plan, look at Engage when asked, write the change set;
              `plan`, `ci plan` and `ci drift` render its outcome
adopt.py    `import --from-engage`: what Engage holds, adopted by drift's rules
applier.py  walks a Plan through the client: removals first, then loads, every answer
            journaled; lost answers resolved by looking
feed.py     the apply's one pass over a campaign's files for the loader, settling on the way
            what must be first (updates' earlier records, leads in doubt, --look-first)
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
