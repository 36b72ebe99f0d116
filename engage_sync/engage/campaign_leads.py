"""Lead search and lead actions (NOTES.md, "Lead management"): `client.leads`, on top of the
client's paced and retried requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ..errors import ApiError, UnsafeAction
from ..ratelimit import SlidingWindows
from .answers import ActionResult
from .leads import LeadAction, LeadRecord, read_page


class Api(Protocol):
    """What lead search and actions need of the client: paced, retried requests, and the
    redaction of what a server says."""

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        pacer: SlidingWindows | None = None,
        repeatable: bool = True,
    ) -> Any: ...

    def pacer(self, kind: str, account: str) -> SlidingWindows: ...

    def server_text(self, text: object, sent: Any = None) -> str: ...


def admin(account: str) -> str:
    return f"/api/v1/admin/accounts/{account}"


class _TooMany(Exception):
    """A paged search would take more pages than it may."""


class CampaignLeads:
    """A campaign's records: search by externId, scan, act on named records."""

    def __init__(self, api: Api, search_page_size: int = 1000, search_chunk: int = 500) -> None:
        self.api = api
        self.search_page_size = search_page_size
        self.search_chunk = search_chunk

    def search(self, account: str, campaign: int, extern_ids: Iterable[str]) -> list[LeadRecord]:
        """Every record in `campaign` with one of these externIds (NOTES.md, lead search).

        Asks for a few hundred externIds at a time, one campaign only, paced within the search
        limits. Rows are filtered here by campaign and externId as well: one real client saw the
        externIds filter ignored.
        """
        wanted = sorted(set(extern_ids))
        found: dict[int, LeadRecord] = {}
        for start in range(0, len(wanted), self.search_chunk):
            chunk = wanted[start : start + self.search_chunk]
            keep = set(chunk)
            criteria = {"campaignIds": [campaign], "externIds": chunk}
            for record in self._search(account, campaign, criteria)[0]:
                if record.extern_id in keep:
                    found[record.lead_id] = record
        return sorted(found.values(), key=lambda r: r.lead_id)

    def search_phones(
        self,
        account: str,
        numbers: Sequence[str],
        campaigns: Sequence[int] | None = None,
        states: Sequence[str] | None = None,
        chunk: int | None = None,
    ) -> list[LeadRecord]:
        """Every record, in any campaign of the account (or of `campaigns`), whose phone is one
        of `numbers` as the server matches them (send every form a phone may have been loaded
        in; compare on the client). A few hundred numbers a search, paced within the search
        limits: do not call (issue #30)."""
        wanted = sorted(set(numbers))
        found: dict[int, LeadRecord] = {}
        size = chunk or self.search_chunk
        for start in range(0, len(wanted), size):
            criteria: dict[str, Any] = {"leadPhoneNumbers": wanted[start : start + size]}
            if campaigns is not None:
                criteria["campaignIds"] = sorted(campaigns)
            if states:
                criteria["leadStates"] = list(states)
            for record in self._search(account, None, criteria)[0]:
                found[record.lead_id] = record
        return sorted(found.values(), key=lambda r: r.lead_id)

    def search_states(
        self, account: str, states: Sequence[str], campaigns: Sequence[int] | None = None
    ) -> list[LeadRecord]:
        """Every record in these lead states, in any campaign of the account (or of
        `campaigns`): Engage's own opt-outs (issue #30)."""
        criteria: dict[str, Any] = {"leadStates": list(states)}
        if campaigns is not None:
            criteria["campaignIds"] = list(campaigns)
        return self._search(account, None, criteria)[0]

    def search_states_at_most(
        self,
        account: str,
        states: Sequence[str],
        campaigns: Sequence[int] | None,
        pages: int,
    ) -> list[LeadRecord] | None:
        """`search_states`, in at most `pages` pages (searches); None when there are more, or
        when the server ignores paging (what it answered may not be all)."""
        criteria: dict[str, Any] = {"leadStates": list(states)}
        if campaigns is not None:
            criteria["campaignIds"] = list(campaigns)
        try:
            records, whole = self._search(account, None, criteria, pages)
        except _TooMany:
            return None
        return records if whole else None

    def scan(self, account: str, campaign: int) -> tuple[list[LeadRecord], bool]:
        """Every record of one campaign, and whether the scan saw them all (False: a page that
        was not empty brought nothing new, so the server ignores paging and hides the rest)."""
        return self._search(account, campaign, {"campaignIds": [campaign]})

    def _search(
        self,
        account: str,
        campaign: int | None,
        criteria: dict[str, Any],
        pages: int | None = None,
    ) -> tuple[list[LeadRecord], bool]:
        """Page until a page comes back empty: a server may clamp `maxRows`, so a short page
        proves nothing. A page with nothing new ends it too (a server that ignores `page`).
        `campaign` None: rows of any campaign are kept (a search across the account).
        `pages`: _TooMany rather than a search more."""
        path = f"{admin(account)}/campaignLeads/leadSearch"
        found: dict[int, LeadRecord] = {}
        page = 0
        while True:
            if pages is not None and page >= pages:
                raise _TooMany
            rows = self.api.request(
                "POST",
                f"{path}?page={page}&maxRows={self.search_page_size}",
                json=criteria,
                pacer=self.api.pacer("search", account),
            )
            records = read_page(rows, f"leadSearch (page {page})")
            new = 0
            for record in records:
                if record.lead_id in found:
                    continue
                new += 1
                if campaign is None or record.campaign_id == campaign:
                    found[record.lead_id] = record
            if not records:
                return sorted(found.values(), key=lambda r: r.lead_id), True
            if not new:
                return sorted(found.values(), key=lambda r: r.lead_id), False
            page += 1

    def act(
        self, account: str, campaign: int, action: LeadAction, lead_ids: Sequence[int]
    ) -> ActionResult:
        """One lead action on named records of one campaign, or UnsafeAction before sending.

        Criteria that do not name exactly one campaign and a non-empty list of lead ids could
        match a whole account (the guide's own delete example sends only externIds).
        """
        ids = list(lead_ids)
        if (
            isinstance(campaign, bool)
            or not isinstance(campaign, int)
            or campaign < 1
            or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        ):
            raise UnsafeAction(
                f"refused to send {action.value}: criteria must name one campaign and lead ids"
            )
        body = {
            "campaignLeadSearchCriteria": {"campaignIds": [campaign], "leadIds": ids},
            "leadActionParams": {"paramMap": {}},
        }
        result = self.api.request(
            "PUT",
            f"{admin(account)}/campaignLeads/actions?leadAction={action.value}",
            json=body,
            pacer=self.api.pacer("actions", account),
        )
        answer = ActionResult.parse(result, action, lambda text: self.api.server_text(text, body))
        if answer.success is False:
            raise ApiError(f"{action.value} answered success: false: {answer.error}")
        return answer
