"""Walk a plan in batches through the client, recording each acknowledged lead in the journal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import leadsets
from .engage import EngageClient
from .errors import ApiError, TransientApiError
from .leadsets import Sink, Source
from .model import Lead, LeadSetPlan, Plan, posted_options
from .reconcile import Reconciler
from .report import LeadSetReport, Report, scrub
from .state import Journal

FAILURE_STATUSES = frozenset(
    {
        "GENERAL_FAILURE",
        "NO_LEADS_PASSED_VALIDATION",
        "DNC_UPLOAD_FAILED",
        "DNC_ACCOUNT_SETTINGS",
        "DNC_GREATER_ONE_DAY",
    }
)


Progress = Callable[[int], None]


@dataclass
class Applier:
    client: EngageClient
    journal: Journal
    default_account: str | None
    batch_size: int = 500
    fail_fast: bool = False
    progress: Progress = lambda n: None
    _campaigns: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    def run(self, plan: Plan, sources: Sequence[Source]) -> Report:
        report = Report()
        for ls in plan.leadsets:
            if not ls.has_work:
                continue
            rep = LeadSetReport(ls.campaign.id, ls.campaign.name, ls.to_load)
            rep.to_remove = len(ls.removals)
            report.leadsets.append(rep)
            self._apply_leadset(
                ls, [s for s in sources if s.meta.campaign.id == ls.campaign.id], rep
            )
            if self.fail_fast and not rep.ok:
                report.stopped_early = True
                break
        return report

    def _check_campaign(self, account: str, ls: LeadSetPlan, rep: LeadSetReport) -> str | None:
        """Why this lead set must not be posted, or None when its campaign is as declared."""
        if account not in self._campaigns:
            groups = self.client.dial_groups_with_campaigns(account)
            self._campaigns[account] = {
                int(c["campaignId"]): c for g in groups for c in g.get("campaigns", [])
            }
        campaigns = self._campaigns[account]
        cid = ls.campaign.id
        if cid not in campaigns:
            return f"campaign {cid} does not exist in account {account}: nothing posted"
        name = str(campaigns[cid].get("campaignName", ""))
        if ls.campaign.name is not None and name != ls.campaign.name:
            return (
                f"campaign {cid} is named {name!r} in Engage, not "
                f"{ls.campaign.name!r}: nothing posted"
            )
        if campaigns[cid].get("isActive") in (0, False):  # 0/1 in the API, not a boolean
            rep.notes.append(
                f"campaign {cid} is inactive in Engage: its leads are loaded but not dialled "
                "until it is activated"
            )
        return None

    def _apply_leadset(
        self, ls: LeadSetPlan, sources: Sequence[Source], rep: LeadSetReport
    ) -> None:
        account = ls.account or self.default_account
        if not account:
            rep.errors.append(
                "no account: set `account:` in the lead set, ENGAGE_ACCOUNT_ID or engage-sync.yaml"
            )
            rep.failed = rep.to_post
            return
        try:
            problem = self._check_campaign(account, ls, rep)
        except ApiError as e:
            problem = f"cannot list campaigns of account {account}: {e}"
        if problem:
            rep.errors.append(problem)
            rep.failed = rep.to_post
            return
        # cancels and deletes first: a run cut short leaves fewer dialable records, never more
        blocked = Reconciler(self.client, self.journal).run(account, ls, sources, rep)
        if blocked and self.fail_fast:
            return
        wanted = {c.extern_id for c in (*ls.creates, *ls.updates, *ls.replaces)} - blocked
        for source in sources:
            options = posted_options(source.meta.options)
            leads = (
                lead for lead in leadsets.iter_leads(source, Sink()) if lead.extern_id in wanted
            )
            for batch in _batches(leads, self.batch_size):
                ok = self._post(account, ls.campaign.id, source.meta.path, options, batch, rep)
                if not ok and self.fail_fast:
                    return

    def _post(
        self,
        account: str,
        campaign: int,
        file: str,
        options: dict[str, Any],
        batch: list[Lead],
        rep: LeadSetReport,
    ) -> bool:
        body = {**options, "uploadLeads": [lead.to_request() for lead in batch]}
        number = self.journal.begin(campaign, [lead.extern_id for lead in batch])
        rep.posted += len(batch)
        try:
            result = self.client.load_leads(account, campaign, body)
        except TransientApiError as e:
            # no answer we can trust: Engage may or may not have loaded these (in doubt)
            rep.errors.append(scrub(f"batch of {len(batch)} not confirmed: {e}"))
            rep.failed += len(batch)
            rep.in_doubt += len(batch)
            self.progress(len(batch))
            return False
        except ApiError as e:
            rep.errors.append(scrub(f"batch of {len(batch)} refused: {e}"))
            rep.failed += len(batch)
            self.journal.fail(number, campaign)
            self.progress(len(batch))
            return False
        self.progress(len(batch))
        status = str(result.get("processingStatus") or "")
        if result.get("processingResult") == "Failed" or status in FAILURE_STATUSES:
            rejected = _rejected(result, batch)
            rep.errors.append(
                scrub(
                    f"batch of {len(batch)} failed: {status or 'Failed'}: "
                    f"{result.get('message') or ''}".rstrip(": ")
                )
            )
            rep.failed += len(batch)
            rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
            self.journal.fail(number, campaign)
            return False
        rep.accepted += int(result.get("leadsAccepted") or 0)
        rep.inserted += int(result.get("leadsInserted") or 0)
        rejected = _rejected(result, batch)
        rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
        accepted = [lead for lead in batch if lead.extern_id not in rejected]
        self.journal.ack(number, campaign, accepted, file, options)
        rep.recorded += len(accepted)
        return not rejected


def _batches(leads: Iterable[Lead], size: int) -> Iterator[list[Lead]]:
    batch: list[Lead] = []
    for lead in leads:
        batch.append(lead)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rejected(result: dict[str, Any], batch: list[Lead]) -> dict[str, str]:
    """Match rejectedRows to the batch's leads by externId (rowData carries the lead's values)."""
    ids = {lead.extern_id for lead in batch}
    found: dict[str, str] = {}
    for row in result.get("rejectedRows") or []:
        data = (row.get("rowData") or []) if isinstance(row, dict) else []
        match = next((str(v) for v in data if str(v) in ids), None)
        message = str(row.get("message") or "rejected") if isinstance(row, dict) else "rejected"
        message = scrub(message)
        if match is not None:
            found[match] = message
    unmatched = len(result.get("rejectedRows") or []) - len(found)
    if unmatched > 0:
        # rows we cannot tie to a lead: trust none of the batch rather than record a rejected lead
        return {lead.extern_id: "rejected (row not identifiable)" for lead in batch}
    return found
