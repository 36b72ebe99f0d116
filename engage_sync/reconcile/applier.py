"""Walk a plan in batches through the client, recording each acknowledged lead in the journal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import leadsets
from ..engage import EngageClient
from ..engage.client import backoff
from ..errors import AnswerLost, ApiError, TransientApiError
from ..leadsets import Sink, Source
from ..model import DriftKind, Lead, LeadSetPlan, Plan, posted_options
from ..state import Journal
from .actions import Reconciler, loaded
from .report import LeadSetReport, Report, scrub

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
    lookup_delay: float = 2.0  # seconds before looking up leads whose answer was lost
    lost_rounds: int = 3  # lookups, then posts of what was not found, for one batch
    _campaigns: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    # externIds whose earlier record Engage itself replaces by phone on the next post (updates
    # under REMOVE_ALL_EXISTING): after a lost answer, posted again rather than looked up, since
    # a record with that phone is there whether or not the update landed
    _replaced_by_phone: frozenset[str] = frozenset()

    def run(self, plan: Plan, sources: Sequence[Source]) -> Report:
        report = Report()
        for ls in plan.leadsets:
            if not ls.has_work:
                continue
            rep = LeadSetReport(ls.campaign.id, ls.campaign.name, ls.to_load)
            rep.to_remove = ls.to_stop
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
        changed = {d.extern_id for d in ls.corrections if d.kind is DriftKind.CHANGED}
        loads = (*ls.creates, *ls.updates, *ls.replaces)
        wanted = ({c.extern_id for c in loads} | changed) - blocked
        handling = dict(ls.options).get("duplicateHandling")
        self._replaced_by_phone = frozenset(
            c.extern_id for c in ls.updates if handling == "REMOVE_ALL_EXISTING"
        )
        if ls.in_doubt:
            wanted -= self._settle_in_doubt(account, ls, sources, wanted, rep)
        for source in sources:
            options = posted_options(source.meta.options)
            leads = (
                lead for lead in leadsets.iter_leads(source, Sink()) if lead.extern_id in wanted
            )
            for batch in _batches(leads, self.batch_size):
                ok = self._post(account, ls.campaign.id, source.meta.path, options, batch, rep)
                if not ok and self.fail_fast:
                    return

    def _settle_in_doubt(
        self,
        account: str,
        ls: LeadSetPlan,
        sources: Sequence[Source],
        wanted: set[str],
        rep: LeadSetReport,
    ) -> set[str]:
        """Leads an earlier run sent without a trustworthy answer: look before posting again.
        Returns those found in Engage (recorded now, not posted) and those that must wait."""
        doubt = set(ls.in_doubt) & wanted
        settled: set[str] = set()  # found and recorded, or not looked up: not posted now
        for source in sources if doubt else ():
            leads = [x for x in leadsets.iter_leads(source, Sink()) if x.extern_id in doubt]
            if not leads:
                continue
            found = self._look(account, ls.campaign.id, leads, after_lost=True)
            if found is None:
                rep.errors.append(
                    f"{len(leads)} lead(s) in doubt from an earlier apply could not be looked up: "
                    "not posted again (that could load them twice); run apply again"
                )
                rep.failed += len(leads)
                rep.in_doubt += len(leads)
                settled |= {x.extern_id for x in leads}
                continue
            if found:
                options = posted_options(source.meta.options)
                number = self.journal.begin(ls.campaign.id, [x.extern_id for x in found])
                self.journal.ack(number, ls.campaign.id, found, source.meta.path, options)
                rep.recorded += len(found)
                rep.resolved_in_doubt += len(found)
                self.progress(len(found))
                settled |= {x.extern_id for x in found}
        return settled

    def _post(
        self,
        account: str,
        campaign: int,
        file: str,
        options: dict[str, Any],
        batch: list[Lead],
        rep: LeadSetReport,
    ) -> bool:
        """Post one batch; an answer lost after it was sent is resolved by looking (issue #11):
        what Engage holds is recorded, only what it does not is posted again."""
        rep.posted += len(batch)
        pending = batch
        for attempt in range(self.lost_rounds + 1):
            body = {**options, "uploadLeads": [lead.to_request() for lead in pending]}
            number = self.journal.begin(campaign, [lead.extern_id for lead in pending])
            try:
                result = self.client.load_leads(account, campaign, body)
            except AnswerLost as e:
                found = self._look(account, campaign, pending, after_lost=True)
                if found is None:  # cannot look either: leave them in doubt for the next run
                    rep.errors.append(scrub(f"batch of {len(pending)} not confirmed: {e}"))
                    rep.failed += len(pending)
                    rep.in_doubt += len(pending)
                    self.progress(len(pending))
                    return False
                if found:
                    self.journal.ack(number, campaign, found, file, options)
                    rep.recorded += len(found)
                    rep.found_after_lost += len(found)
                else:
                    self.journal.fail(number, campaign)
                pending = [lead for lead in pending if lead not in found]
                if not pending:
                    self.progress(len(batch))
                    return True
                if attempt == self.lost_rounds:
                    rep.errors.append(
                        scrub(f"batch of {len(pending)} not loaded after {attempt + 1} tries: {e}")
                    )
                    rep.failed += len(pending)
                    self.progress(len(batch))
                    return False
                self.client.sleep(backoff(attempt + 1))
                continue
            except ApiError as e:  # refused, or never reached Engage: nothing was loaded
                word = "refused" if not isinstance(e, TransientApiError) else "not sent"
                rep.errors.append(scrub(f"batch of {len(pending)} {word}: {e}"))
                rep.failed += len(pending)
                self.journal.fail(number, campaign)
                self.progress(len(batch))
                return False
            self.progress(len(batch))
            return self._record(account, campaign, file, options, pending, number, result, rep)
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self,
        account: str,
        campaign: int,
        file: str,
        options: dict[str, Any],
        batch: list[Lead],
        number: int,
        result: dict[str, Any],
        rep: LeadSetReport,
    ) -> bool:
        """Read the answer, not trust it: a failure in a 200, rejected rows, and counts that do
        not add up (accepted but not inserted: do-not-call, duplicate phones) are looked up."""
        status = str(result.get("processingStatus") or "")
        rejected = _rejected(result, batch)
        supplied = result.get("leadsSupplied")
        if (
            result.get("processingResult") == "Failed"
            or status in FAILURE_STATUSES
            or (supplied == 0 and batch)  # "returns 200 even on failure" (a real client)
        ):
            if supplied == 0:
                why = "leadsSupplied 0"
            else:
                why = status if status in FAILURE_STATUSES else "Failed"
            rep.errors.append(
                scrub(f"batch of {len(batch)} failed: {why}: {result.get('message') or ''}")
                .rstrip()
                .rstrip(":")
            )
            rep.failed += len(batch)
            rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
            self.journal.fail(number, campaign)
            return False
        accepted_count = int(result.get("leadsAccepted") or 0)
        inserted = result.get("leadsInserted")
        rep.accepted += accepted_count
        rep.inserted += int(inserted or 0)
        rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
        accepted = [lead for lead in batch if lead.extern_id not in rejected]
        counted = min(accepted_count, inserted if isinstance(inserted, int) else accepted_count)
        if accepted and counted + len(rejected) < len(batch):
            found = self._look(account, campaign, accepted, after_lost=False)
            if found is None:  # cannot tell which: in doubt, resolved by the next apply
                rep.errors.append(
                    f"batch of {len(batch)}: {len(batch) - counted - len(rejected)} lead(s) "
                    "unaccounted for and the lookup failed: in doubt"
                )
                rep.in_doubt += len(accepted)
                return False
            missing = sorted(lead.extern_id for lead in accepted if lead not in found)
            if missing:
                rep.not_inserted.extend(missing)
                rep.notes.append(
                    f"{len(missing)} lead(s) accepted but not in Engage (do-not-call or duplicate "
                    f"phone?), not recorded: {', '.join(missing[:20])}"
                    + (" ..." if len(missing) > 20 else "")
                )
            accepted = [lead for lead in accepted if lead in found]
        self.journal.ack(number, campaign, accepted, file, options)
        rep.recorded += len(accepted)
        return not rejected

    def _look(
        self, account: str, campaign: int, leads: list[Lead], *, after_lost: bool
    ) -> set[Lead] | None:
        """The leads Engage holds (a dialable record with that externId and phone), or None
        when the lookup itself failed. Freshly loaded leads may take a moment to be searchable."""
        if self.lookup_delay:
            self.client.sleep(self.lookup_delay)
        try:
            records = self.client.search_leads(account, campaign, [x.extern_id for x in leads])
        except ApiError:
            return None
        rehost = self._replaced_by_phone if after_lost else frozenset()
        return loaded(leads, records, rehost)


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
