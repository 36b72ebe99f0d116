"""The emulator's lead search and lead actions (NOTES.md, "Lead management"): rows shaped like the
real server's, a configurable `maxRows` clamp, lead states, both endpoints' own rate limits and
injected faults."""

from __future__ import annotations

from typing import Any

from ..ratelimit import Limit
from .http import HttpError, Request, paging
from .shared import Shared
from .store import ACTIONS

SEARCH_LIMITS: tuple[Limit, ...] = ((15, 10.0), (60, 30.0))
ACTION_LIMITS: tuple[Limit, ...] = ((30, 10.0), (120, 60.0))


class Leads:
    """Lead search and lead actions."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    def _campaign_names(self, account: dict[str, Any]) -> dict[int, tuple[str, int]]:
        return {
            int(c["campaignId"]): (str(c.get("campaignName", "")), int(g["dialGroupId"]))
            for g in account.get("dialGroups", [])
            for c in g.get("campaigns", [])
        }

    def search(
        self, req: Request, environ: dict[str, Any], account_id: str, account: dict[str, Any]
    ) -> tuple[int, Any]:
        self.shared.limit(
            account_id,
            "leadSearch",
            self.shared.settings.search_limits,
            environ.get("emulator.arrived"),
        )
        criteria = req.json() or {}
        if not isinstance(criteria, dict):
            raise HttpError(400, "BAD_REQUEST", "search criteria must be an object")
        # a fault with an externId strikes only the searches that ask for it
        asked = criteria.get("externIds")
        ids = frozenset(map(str, asked)) if isinstance(asked, list) else frozenset()
        self.shared.fault("search", environ, req, ids)
        page, rows = paging(req, default_rows=self.shared.settings.search_max_rows)
        rows = min(rows, self.shared.settings.search_max_rows)  # the server's clamp
        if self.shared.settings.ignore_extern_ids:  # as one real client reports it
            criteria = {k: v for k, v in criteria.items() if k != "externIds"}
        names = self._campaign_names(account)
        found = self.shared.store.leads(account_id, criteria, page, rows)
        for row in found:
            name, group = names.get(int(row["campaignId"]), ("", 0))
            row["campaignName"], row["dialGroupId"] = name, group
        return 200, found

    def actions(
        self, req: Request, environ: dict[str, Any], account_id: str, account: dict[str, Any]
    ) -> tuple[int, Any]:
        self.shared.limit(
            account_id,
            "actions",
            self.shared.settings.action_limits,
            environ.get("emulator.arrived"),
        )
        action = req.query.get("leadAction", "")
        if action not in ACTIONS:
            raise HttpError(400, "BAD_REQUEST", f"leadAction must be one of {', '.join(ACTIONS)}")
        fault = self.shared.fault("actions", environ, req)
        body = req.json() or {}
        criteria = body.get("campaignLeadSearchCriteria") if isinstance(body, dict) else None
        if not isinstance(criteria, dict) or not any(criteria.values()):
            raise HttpError(400, "BAD_REQUEST", "campaignLeadSearchCriteria is required")
        if fault is not None and fault.kind == "unsuccessful":
            return 200, _result(action, False, 0, 0, "injected failure: nothing was changed")
        with self.shared.store.transaction() as store:
            updated, deleted = store.act(account_id, criteria, action)
        with self.shared.lock:
            self.shared.stats["leadsActedOn"] = (
                self.shared.stats.get("leadsActedOn", 0) + updated + deleted
            )
        return 200, _result(action, True, updated, deleted)


def _result(
    action: str, success: bool, updated: int, deleted: int, error: str | None = None
) -> dict[str, Any]:
    return {
        "success": success,
        "leadActionType": action,
        "leadUpdateCount": updated,
        "leadDeleteCount": deleted,
        "redialDeleteCount": 0,
        "dialerRefreshed": success,
        "errorMessage": error,
    }
