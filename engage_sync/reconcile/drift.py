"""What changed in Engage outside engage-sync since the last apply (issue #11). Pure: the state's
view and the records a refresh found in, drift out. No PII: externIds, kinds and lead states only.

- missing: recorded as loaded, no record in Engage. Reported, never re-created: an admin may have
  removed it on purpose (`engage-sync state rm` it to load it again).
- stopped: no record is dialable any more (complete, cancelled or paused outside, DNC, ...).
  The normal end of a lead's life in a dialer: informational.
- duplicate: more than one dialable record for an owned externId.
- changed: the dialable record's phone differs from the declared one.
- reappeared: a removed (tombstoned or pruned) externId is dialable again.
Plus a count of the campaign's records engage-sync does not own (`unmanaged`), never acted on.
`apply --refresh` corrects duplicate, changed and reappeared, always towards less calling.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..engage.leads import LeadRecord, phone_key
from ..model import Drift, DriftKind, Lead


@dataclass(frozen=True, slots=True)
class CampaignDrift:
    campaign_id: int
    items: tuple[Drift, ...] = ()
    unmanaged: int = 0


def newest(
    records: Iterable[LeadRecord],
    phone: str = "",
    fields: Iterable[tuple[str, object]] | None = None,
) -> LeadRecord:
    """The record to keep of several: of those with the declared phone, the ones showing the
    declared content (where the search rows show it), the newest; else the newest."""
    records = list(records)
    key = phone_key(phone)
    pool = [r for r in records if key and r.phone == key] or records
    if fields is not None:
        wanted = tuple(fields)
        pool = [r for r in pool if not r.differs_from(wanted)] or pool
    return max(pool, key=lambda r: (r.loaded, r.lead_id))


def content_drift(
    campaign_id: int, records: Iterable[LeadRecord], leads: Iterable[Lead]
) -> list[Drift]:
    """`changed` drift for leads whose one dialable record has their phone but shows other
    content than the file declares (the field names only). `leads` streams."""
    live: dict[str, list[LeadRecord]] = {}
    for r in records:
        if r.campaign_id == campaign_id and r.dialable:
            live.setdefault(r.extern_id, []).append(r)
    found = []
    for lead in leads:
        mine = live.get(lead.extern_id)
        if not mine or len(mine) != 1 or mine[0].phone != phone_key(lead.phone):
            continue  # none, duplicates, or another phone: other kinds of drift
        names = mine[0].differs_from(lead.fields)
        if names:
            found.append(
                Drift(campaign_id, lead.extern_id, DriftKind.CHANGED, mine[0].state, names)
            )
    return found


def with_content(drift: CampaignDrift, content: Iterable[Drift]) -> CampaignDrift:
    """The drift with the content drift of leads that have no other drift."""
    seen = {d.extern_id for d in drift.items}
    extra = [d for d in content if d.extern_id not in seen]
    if not extra:
        return drift
    items = sorted((*drift.items, *extra), key=lambda d: (d.kind.value, d.extern_id))
    return CampaignDrift(drift.campaign_id, tuple(items), drift.unmanaged)


def classify(
    campaign_id: int,
    records: Iterable[LeadRecord],
    owned: Iterable[str],
    removed: Iterable[str],
    declared_phones: Mapping[str, str],
) -> CampaignDrift:
    """Drift of one campaign. `declared_phones` holds the declared phone of each owned lead whose
    phone the plan does not change already (a planned replacement is not drift)."""
    by_id: dict[str, list[LeadRecord]] = {}
    for r in records:
        if r.campaign_id == campaign_id:
            by_id.setdefault(r.extern_id, []).append(r)
    owned_set, removed_set = set(owned), set(removed) - set(owned)
    items: list[Drift] = []
    for eid in sorted(owned_set):
        mine = by_id.get(eid, [])
        if not mine:
            items.append(Drift(campaign_id, eid, DriftKind.MISSING))
            continue
        live = [r for r in mine if r.dialable]
        if not live:
            items.append(Drift(campaign_id, eid, DriftKind.STOPPED, newest(mine).state))
        elif len(live) > 1:
            # apply --refresh searches again and cancels all but this one (actions.decide)
            keep = newest(live, declared_phones.get(eid, ""))
            items.append(Drift(campaign_id, eid, DriftKind.DUPLICATE, keep.state))
        elif eid in declared_phones and live[0].phone != phone_key(declared_phones[eid]):
            items.append(Drift(campaign_id, eid, DriftKind.CHANGED, live[0].state, ("leadPhone",)))
    for eid in sorted(removed_set):
        live = [r for r in by_id.get(eid, []) if r.dialable]
        if live:
            items.append(Drift(campaign_id, eid, DriftKind.REAPPEARED, live[0].state))
    unmanaged = sum(len(v) for k, v in by_id.items() if k not in owned_set and k not in removed_set)
    return CampaignDrift(campaign_id, tuple(items), unmanaged)
