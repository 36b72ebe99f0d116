"""What an apply did, per campaign: posted, accepted, rejected, failed, cancelled, deleted. No PII:
Engage's own messages are scrubbed of phone- and email-like text before they are kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LeadSetReport:
    campaign_id: int
    campaign_name: str | None
    to_post: int
    posted: int = 0
    accepted: int = 0
    inserted: int = 0
    recorded: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    failed: int = 0
    in_doubt: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    to_remove: int = 0  # tombstones and prunes
    removed: int = 0  # externIds whose records are confirmed not dialable, forgotten
    to_correct: int = 0  # drift apply --refresh corrects by cancelling (duplicates, reappeared)
    corrected: dict[str, int] = field(default_factory=dict)  # of those done, by drift kind
    cancelled: int = 0  # records
    deleted: int = 0  # records
    action_failures: int = 0  # searches or actions that failed, records still dialable after
    found_after_lost: int = 0  # leads whose answer was lost, found in Engage by a lookup
    not_inserted: list[str] = field(default_factory=list)  # accepted, yet not in Engage
    resolved_in_doubt: int = 0  # in doubt from an earlier run, found in Engage, not posted
    throttled: int = 0  # loader calls answered 429: Engage did nothing, sent again

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.failed or self.errors)

    @property
    def corrections(self) -> int:
        return sum(self.corrected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaignId": self.campaign_id,
            "campaignName": self.campaign_name,
            "toPost": self.to_post,
            "posted": self.posted,
            "accepted": self.accepted,
            "inserted": self.inserted,
            "recorded": self.recorded,
            "rejected": len(self.rejected),
            "rejectedLeads": self.rejected,
            "failed": self.failed,
            "inDoubt": self.in_doubt,
            "errors": self.errors,
            "notes": self.notes,
            "toRemove": self.to_remove,
            "removed": self.removed,
            "toCorrect": self.to_correct,
            "corrected": dict(sorted(self.corrected.items())),
            "cancelled": self.cancelled,
            "deleted": self.deleted,
            "actionFailures": self.action_failures,
            "foundAfterLostAnswer": self.found_after_lost,
            "notInserted": self.not_inserted,
            "resolvedInDoubt": self.resolved_in_doubt,
            "throttled": self.throttled,
        }


@dataclass
class Report:
    leadsets: list[LeadSetReport] = field(default_factory=list)
    # do not call (issue #30): reconcile/donotcall.DoNotCallReport, when the apply had any
    do_not_call: Any = None
    stopped_early: bool = False
    server_gone: str | None = None  # why the run stopped sending: the server went away
    interrupted: bool = False  # Ctrl-C: the calls in flight were let finish, no new one sent

    @property
    def ok(self) -> bool:
        return (
            all(ls.ok for ls in self.leadsets)
            and (self.do_not_call is None or self.do_not_call.ok)
            and not self.stopped_early
            and not self.server_gone
            and not self.interrupted
        )

    @property
    def recorded(self) -> int:
        return sum(ls.recorded for ls in self.leadsets)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format_version": 1,
            "ok": self.ok,
            "stoppedEarly": self.stopped_early,
            "serverGone": self.server_gone,
            "interrupted": self.interrupted,
            "leadsets": [ls.as_dict() for ls in self.leadsets],
            **({"doNotCall": self.do_not_call.as_dict()} if self.do_not_call else {}),
        }


_PII = re.compile(r"[^\s@]+@[^\s@]+|\+?\(?\d[\d() .-]{5,}\d")


def scrub(message: str) -> str:
    """Engage's messages may quote a lead's values: keep phones and emails out of reports."""
    return _PII.sub("[redacted]", message)
