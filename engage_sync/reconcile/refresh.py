"""`--refresh`: look at what is really in Engage for the declared campaigns, and put the drift
in the plan (issue #11).

Cost model: one lead search per page of the campaign (`maxRows`, 1,000 asked; a server may clamp
it) plus one empty page, at 15 searches per 10 s and 60 per 30 s: about N/1,000 searches for a
campaign of N records (a minute for 100,000). A server that ignores paging is noticed (a full
page with nothing new); then the owned externIds are looked up 500 at a time instead (about N/250
searches), and `unmanaged` is a lower bound.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..donotcall.registry import Registry
from ..engage import EngageApi
from ..leadsets import Source, by_campaign, stream
from ..model import CORRECTED_DRIFT, DriftKind, Lead, LeadSetPlan, Plan
from ..optouts import OptOutRules
from ..state import State
from .donotcall import engage_opt_outs
from .drift import CampaignDrift, classify, content_drift, with_content


def refresh(
    plan: Plan,
    state: State,
    sources: Sequence[Source],
    client: EngageApi,
    default_account: str | None,
    registry: Registry | None = None,
    rules: OptOutRules | None = None,
) -> Plan:
    """The plan with each declared campaign's drift; the checksum covers what apply corrects.
    With the do-not-call set (`registry`), also how many phones Engage holds as do-not-call
    that it does not (issue #30)."""
    leadsets_out = []
    files = by_campaign(sources)
    for ls in plan.leadsets:
        account = ls.account or default_account
        if not account or not ls.files:
            leadsets_out.append(ls)
            continue
        mine = files.get(ls.campaign.id, [])
        leadsets_out.append(_refresh_one(ls, state, mine, client, account))
    digest = hashlib.sha256(plan.checksum.encode())
    for ls in leadsets_out:
        for d in ls.drift:
            if d.kind in CORRECTED_DRIFT:
                digest.update(f"!{d.campaign_id}\x1f{d.extern_id}\x1f{d.kind.value}\x1e".encode())
    opt_outs = None
    if registry is not None:
        rules = rules or OptOutRules()
        accounts = {ls.account or default_account for ls in plan.leadsets} - {None}
        by_account: dict[str, set[int]] = {}
        for ls in plan.leadsets:
            if ls.account or default_account:
                by_account.setdefault(str(ls.account or default_account), set()).add(ls.campaign.id)
        phones: set[str] = set()
        for account in sorted(a for a in accounts if a):
            scope = by_account.get(account) if rules.scope == "campaign" else None
            phones |= engage_opt_outs(
                client, account, registry, rules.engage_states, sorted(scope) if scope else None
            )
        opt_outs = len(phones)
    return replace(
        plan,
        leadsets=tuple(leadsets_out),
        refreshed=True,
        checksum=digest.hexdigest(),
        engage_opt_outs=opt_outs,
    )


def _refresh_one(
    ls: LeadSetPlan,
    state: State,
    mine: Sequence[Source],
    client: EngageApi,
    account: str,
) -> LeadSetPlan:
    cid = ls.campaign.id
    camp = state.campaigns.get(cid)
    if ls.moved_from is not None:  # the state's leads are in another account: none here
        camp = None
    owned = set(camp.leads) if camp is not None else set()
    removed = set(camp.removed) if camp is not None else set()
    # sent, the answer lost: not owned yet (apply looks them up), but their records are no
    # one else's, and a copy made by hand is a duplicate to correct (docs/chaos.md: seed 1008)
    doubt = (set(camp.in_doubt) - owned) if camp is not None else set()
    records, complete = client.leads.scan(account, cid)
    if not complete:
        seen = {r.lead_id for r in records}
        extra = client.leads.search(account, cid, owned | removed | doubt)
        records = records + [r for r in extra if r.lead_id not in seen]
    # a phone the plan already changes (a replacement) or removes is not drift; a create is
    # owned by no state, so it is never among them (and a million of them are never held);
    # nor is the phone of a blocked lead (do not call): it is never loaded, only stopped
    settled = {c.extern_id for c in (*ls.replaces, *ls.removals, *ls.blocked)}
    wanted = owned - settled
    # content that differs where the rows show it (a record loaded by hand, an edit in Engage);
    # a planned update is expected to differ, and is not drift
    compared = wanted - {c.extern_id for c in ls.updates}
    phones: dict[str, str] = {}

    def declared() -> Iterator[Lead]:  # one read of the files: the phones, and the content
        for source in mine:
            for lead in stream(source):
                if lead.extern_id in wanted:
                    phones[lead.extern_id] = lead.phone
                    if lead.extern_id in compared:
                        yield lead

    content = content_drift(cid, records, declared())  # reads them all: `phones` is complete
    found = classify(
        cid, records, owned | doubt, removed - {c.extern_id for c in ls.removals}, phones
    )
    if doubt:  # of a lead in doubt only duplicates are drift: missing is for apply to look up
        found = CampaignDrift(
            cid,
            tuple(
                d for d in found.items if d.extern_id not in doubt or d.kind is DriftKind.DUPLICATE
            ),
            found.unmanaged,
        )
    # an update stopped these leads' records and did not load: the plan loads them again, so
    # no record (stopped or missing) is what is expected, not drift (docs/chaos.md: seed 5008)
    reloading = camp.reloading() if camp is not None else set()
    if reloading:
        gone = (DriftKind.MISSING, DriftKind.STOPPED)
        found = CampaignDrift(
            cid,
            tuple(d for d in found.items if d.extern_id not in reloading or d.kind not in gone),
            found.unmanaged,
        )
    found = with_content(found, content)
    return replace(ls, drift=found.items, unmanaged=found.unmanaged, refresh_complete=complete)
