"""`import --from-engage`: take what Engage already holds for declared leads as engage-sync's own,
without posting anything. The decision per lead is drift's (`classify`), read from the other side:
a lead with no drift is adopted; a stopped one too (it is that person's record: the next apply
must never call them again); duplicates and other phones are left for apply to settle."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..engage import EngageApi
from ..model import DriftKind, Lead
from .drift import classify


@dataclass
class Adoption:
    adopted: list[Lead] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what happens to each of the others


def adopt(client: EngageApi, account: str, campaign: int, leads: list[Lead]) -> Adoption:
    records = client.leads.search(account, campaign, [lead.extern_id for lead in leads])
    phones = {lead.extern_id: lead.phone for lead in leads}
    found = classify(campaign, records, phones, (), phones)
    drift = {d.extern_id: d for d in found.items}
    live = Counter(r.extern_id for r in records if r.dialable and r.campaign_id == campaign)
    result = Adoption()
    for lead in leads:
        eid = lead.extern_id
        d = drift.get(eid)
        if d is None:
            result.adopted.append(lead)
        elif d.kind is DriftKind.STOPPED:
            result.adopted.append(lead)
            result.lines.append(
                f"  = {eid}  stopped in Engage ({d.lead_state}): adopted, never loaded again"
            )
        elif d.kind is DriftKind.MISSING:
            result.lines.append(f"  + {eid}  no record: apply will create it")
        elif d.kind is DriftKind.DUPLICATE:
            result.lines.append(
                f"  ! {eid}  {live[eid]} dialable records: not adopted "
                "(cancel the extras in Engage, or apply --refresh once adopted)"
            )
        else:
            result.lines.append(f"  -/+ {eid}  another phone in Engage: apply will replace it")
    return result
