"""Opt-outs with a deadline and evidence (issue #22): when each tombstone was asked for, the
business days it has left (calendar.py, deadlines.py, history.py for what git knows), and the
ledger of removals carried out (ledger.py). No module here reads or writes lead values."""

from .calendar import BusinessCalendar, OptOutRules
from .deadlines import DateSource, Deadline, Pending, Requested, Status, requested_dates
from .ledger import ledger_path

__all__ = [
    "BusinessCalendar",
    "DateSource",
    "Deadline",
    "OptOutRules",
    "Pending",
    "Requested",
    "Status",
    "ledger_path",
    "requested_dates",
]
