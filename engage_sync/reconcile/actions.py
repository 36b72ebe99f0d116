"""Which records already in Engage to cancel or delete, so a campaign never holds more dialable
records than its files declare (issue #10): `decide` is pure (records and intentions in, lead ids
out); `Reconciler` searches, acts and journals, for the applier.

Engage tells duplicates apart by phone, never by externId (NOTES.md, the direct lead loader), so
what a load does to the records already there depends on `duplicateHandling`:

- tombstone: cancel every dialable record of the externId (owned or not: the user named it).
- prune: cancel every dialable record (`pruneAction: delete`: delete every record).
- replacement (the phone changed): cancel the dialable records with another phone; then, for
  records with the declared phone, as for an update; then load.
- update: REMOVE_ALL_EXISTING: cancel dialable records with another phone (a safeguard: a phone
  change the state's 16-bit field hash cannot tell apart), the loader replaces the record with
  that phone. RETAIN_ALL: cancel the earlier dialable records (the loader would add a second one).
  REMOVE_FROM_LIST: delete the earlier record (the loader would skip the lead as a duplicate,
  cancelled or not, and the update would never land).

Cancels and deletes always run before the loads of the same campaign, so a run cut short leaves
fewer dialable records, never more. PATCH (150 a minute, re-checks unknown) is not used.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

from ..donotcall.phones import record_phones
from ..engage import EngageApi
from ..engage.leads import LeadAction, LeadRecord, normalise_state, phone_key
from ..errors import ApiError
from ..model import (
    DriftKind,
    DuplicateHandling,
    Lead,
    LeadSetPlan,
    PruneAction,
    RemoveReason,
)
from ..optouts import DateSource, Deadline
from ..optouts.ledger import entry as evidence_entry
from ..planner import NOT_AN_OPT_OUT
from ..state import Journal
from .donotcall import Stop
from .drift import newest
from .report import LeadSetReport, scrub


class Intent(enum.Enum):
    REMOVE = "remove"  # a tombstone
    PRUNE = "prune"
    REPLACE = "replace"
    UPDATE = "update"
    DEDUPE = "dedupe"  # drift: several dialable records of one owned lead; keep the newest
    BLOCK = "block"  # declared, its phone on the do-not-call set: none may stay dialable


@dataclass(frozen=True, slots=True)
class Want:
    extern_id: str
    intent: Intent
    phone: str = ""  # the declared phone, for replacements and updates
    fields: tuple[tuple[str, object], ...] | None = None  # the declared lead (duplicates)


def decide(
    want: Want,
    records: Iterable[LeadRecord],
    duplicate_handling: DuplicateHandling | None,
    prune_action: PruneAction = PruneAction.CANCEL,
) -> dict[LeadAction, list[int]]:
    """The lead ids to act on for one externId, by action."""
    out: dict[LeadAction, list[int]] = {LeadAction.CANCEL: [], LeadAction.DELETE: []}
    declared = phone_key(want.phone)
    records = list(records)
    live = [r for r in records if r.extern_id == want.extern_id and r.dialable]
    keep = newest(live, want.phone, want.fields).lead_id if live else None
    for r in records:
        if r.extern_id != want.extern_id:
            continue
        if want.intent in (Intent.REMOVE, Intent.BLOCK):
            if r.dialable:
                out[LeadAction.CANCEL].append(r.lead_id)
        elif want.intent is Intent.DEDUPE:
            if r.dialable and r.lead_id != keep:
                out[LeadAction.CANCEL].append(r.lead_id)
        elif want.intent is Intent.PRUNE:
            if prune_action is PruneAction.DELETE:
                out[LeadAction.DELETE].append(r.lead_id)
            elif r.dialable:
                out[LeadAction.CANCEL].append(r.lead_id)
        elif r.phone != declared or duplicate_handling is DuplicateHandling.RETAIN_ALL:
            if r.dialable:
                out[LeadAction.CANCEL].append(r.lead_id)
        elif duplicate_handling is DuplicateHandling.REMOVE_FROM_LIST:
            out[LeadAction.DELETE].append(r.lead_id)
    return {action: ids for action, ids in out.items() if ids}


def still_dialable(
    acted: Mapping[int, LeadAction], records: Iterable[LeadRecord]
) -> list[LeadRecord]:
    """Records an action was answered for that a later search still finds dialable."""
    return [r for r in records if r.lead_id in acted and r.dialable]


def dialable_left(extern_ids: set[str], records: Iterable[LeadRecord]) -> list[LeadRecord]:
    """Dialable records of externIds that must have none (tombstones and prunes)."""
    return [r for r in records if r.extern_id in extern_ids and r.dialable]


@dataclass
class Reconciler:
    """Before a campaign's loads: search its affected records, cancel or delete, check, journal."""

    client: EngageApi
    journal: Journal
    action_batch: int = 500
    # do not call (issue #30): stops phones everywhere the scope says (donotcall.Sweeper.sweep
    # for this account; returns the phones not confirmed), the states Engage holds as an
    # opt-out, and the region phones without a country code are of
    stop_phones: Callable[[list[Stop]], set[str]] | None = None
    dnc_states: tuple[str, ...] = ()
    region: str = "US"
    today: date | None = None  # the day Engage's opt-outs are dated (optOuts.timezone)

    def remove(self, account: str, ls: LeadSetPlan, rep: LeadSetReport) -> None:
        """Carry out the removals (tombstones, prunes, leads removed that are dialable again,
        and the records of blocked leads it owns), before anything of the campaign is loaded:
        a run cut short leaves fewer dialable records, never more. Nothing of the files is
        read."""
        cid = ls.campaign.id
        # when the pending opt-outs were asked for, kept until each is done (a date git or
        # today gave may not be known to the next run)
        self.journal.requested(
            cid,
            {
                eid: d.requested.day.isoformat()
                for eid, d in ls.deadlines.items()
                if d.requested.source is not DateSource.LEAD_SET
            },
        )
        wants: dict[str, Want] = {}
        for c in ls.removals:
            intent = Intent.REMOVE if c.reason is RemoveReason.REMOVED else Intent.PRUNE
            wants[c.extern_id] = Want(c.extern_id, intent)
        # an owned lead now blocked (its new phone, or its phone, on the do-not-call set), or
        # one in doubt (a load that landed is its own): every record must stop, one with an
        # earlier phone too, and it is never loaded again (convergence campaign, docs/chaos.md:
        # seeds 2 and 3003); feed.py never loads nor corrects it
        blocking = {c.extern_id for c in ls.owned_blocked} - set(wants)
        for eid in blocking:
            wants[eid] = Want(eid, Intent.BLOCK)
        reappeared: set[str] = set()  # removed, dialable again: cancelled as a correction
        for d in ls.corrections:  # apply --refresh: towards less calling only
            if d.kind is DriftKind.REAPPEARED and d.extern_id not in blocking:
                if d.extern_id not in wants:
                    reappeared.add(d.extern_id)
                wants.setdefault(d.extern_id, Want(d.extern_id, Intent.REMOVE))
        self._opt_outs = {c.extern_id for c in ls.removals if c.reason is RemoveReason.REMOVED}
        self._opt_outs -= {c.extern_id for c in ls.removals if c.note == NOT_AN_OPT_OUT}
        self._carry_out(
            account,
            cid,
            ls.options.duplicate_handling,
            ls.prune_action,
            wants,
            set(),
            rep,
            ls.deadlines,
            frozenset(reappeared),
        )

    def prepare(
        self,
        account: str,
        ls: LeadSetPlan,
        declared: Mapping[str, Lead],
        changed: Mapping[str, Intent],
        dedupe: set[str],
        rep: LeadSetReport,
    ) -> set[str]:
        """Before these leads are loaded (feed.py: as the files are read for the loader): the
        earlier records of updates and replacements (`changed`) cancelled or deleted as
        `decide` says, and duplicates of owned leads (`dedupe`, apply --refresh) cancelled but
        the one to keep. `declared`: these leads as the files declare them (none for drift of
        a lead no file declares). Returns the externIds that must not be loaded because their
        earlier records could not be dealt with."""
        self._declared = declared
        wants: dict[str, Want] = {}
        for eid in dedupe:  # the record kept: the declared phone, then the declared content
            lead = declared.get(eid)
            fields = lead.fields if lead is not None else None
            wants[eid] = Want(eid, Intent.DEDUPE, lead.phone if lead else "", fields)
        for eid, intent in changed.items():
            lead = declared.get(eid)
            wants[eid] = Want(eid, intent, lead.phone if lead is not None else "")
        return self._carry_out(
            account,
            ls.campaign.id,
            ls.options.duplicate_handling,
            ls.prune_action,
            wants,
            set(changed),
            rep,
            ls.deadlines,
            replacing=frozenset(e for e in changed if e in declared),
        )

    def clear_stale(
        self,
        account: str,
        campaign: int,
        handling: DuplicateHandling | None,
        leads: Iterable[Lead],
        rep: LeadSetReport,
    ) -> set[str]:
        """Records that carry a lead's externId and phone but other content (a load that did not
        land, found after a crash or a lost answer), or its externId and another phone (an
        earlier version's load): dealt with as for an update before the lead is posted again
        (cancelled under RETAIN_ALL, deleted under REMOVE_FROM_LIST; under REMOVE_ALL_EXISTING
        the loader replaces those with the lead's phone, and another phone's are cancelled), so
        posting it again never leaves two dialable records. Returns the externIds that must not
        be posted."""
        wants = {x.extern_id: Want(x.extern_id, Intent.UPDATE, x.phone) for x in leads}
        if not wants:
            return set()
        return self._carry_out(
            account,
            campaign,
            handling,
            PruneAction.CANCEL,
            wants,
            set(wants),
            rep,
            replacing=frozenset(wants),
        )

    def _carry_out(
        self,
        account: str,
        cid: int,
        handling: DuplicateHandling | None,
        prune_action: PruneAction,
        wants: dict[str, Want],
        changed: set[str],
        rep: LeadSetReport,
        deadlines: Mapping[str, Deadline] | None = None,
        reappeared: frozenset[str] = frozenset(),
        replacing: frozenset[str] = frozenset(),
    ) -> set[str]:
        """Search the wanted externIds, cancel or delete as decided, check, journal (with the
        evidence of each opt-out done); returns the changed externIds that must not be loaded
        (their records could not be dealt with). `reappeared`: removals that are drift
        corrections, reported as such. `replacing`: the leads about to be loaded, whose
        stopped records the state keeps in mind until a load of them succeeds (`reloading`)."""
        if not wants:
            return set()
        try:
            records = self.client.leads.search(account, cid, wants)
        except ApiError as e:
            return self._failed(rep, changed, f"lead search failed: {e}")
        searched = checked = datetime.now(timezone.utc)
        by_id: dict[str, list[LeadRecord]] = {}
        for r in records:
            by_id.setdefault(r.extern_id, []).append(r)
        # Engage's opt-outs win: an update or replacement whose earlier record Engage holds as
        # DO-NOT-CALL is not touched (a delete or a load would undo it) nor loaded; its phone
        # joins the do-not-call set
        held = self._held_by_engage(changed, by_id, rep)
        wants = {e: w for e, w in wants.items() if e not in held}
        todo: dict[LeadAction, list[tuple[int, str]]] = {a: [] for a in LeadAction}
        for eid, want in wants.items():
            mine = by_id.get(eid, [])
            for action, ids in decide(want, mine, handling, prune_action).items():
                todo[action].extend((i, eid) for i in ids)
        failed: set[str] = set()
        acted: dict[int, LeadAction] = {}
        for action in (LeadAction.DELETE, LeadAction.CANCEL):
            items = todo[action]
            for start in range(0, len(items), self.action_batch):
                chunk = items[start : start + self.action_batch]
                self._act(account, cid, action, chunk, rep, failed, acted, replacing)
        removing = {
            e for e, w in wants.items() if w.intent in (Intent.REMOVE, Intent.PRUNE, Intent.BLOCK)
        }
        touched = {eid for items in todo.values() for _, eid in items}
        if acted:
            try:
                after = self.client.leads.search(account, cid, touched)
            except ApiError as e:
                return self._failed(rep, changed, f"checking search failed: {e}")
            checked = datetime.now(timezone.utc)
            left = still_dialable(acted, after) + dialable_left(removing - failed, after)
            for r in {r.lead_id: r for r in left}.values():
                failed.add(r.extern_id)
                rep.action_failures += 1
                rep.errors.append(f"{r.extern_id}: a record is still dialable after {r.state}")
        failed |= self._stop_tombstone_phones(removing - failed, by_id, deadlines)
        done = sorted(removing - failed)
        camp = self.journal.state.campaign(cid)
        evidence = [
            evidence_entry(
                cid,
                eid,
                deadlines[eid],
                camp.acts.get(eid, []),
                checked if eid in touched else searched,
            )
            for eid in done
            if deadlines and eid in deadlines and wants[eid].intent is Intent.REMOVE
        ]
        self.journal.forget(cid, done, evidence)
        deduped = {e for e, w in wants.items() if w.intent is Intent.DEDUPE} - failed
        again = reappeared.intersection(done)
        stopped = {e for e in done if wants[e].intent is Intent.BLOCK}
        rep.removed += len(done) - len(again) - len(stopped)
        if stopped & touched:
            rep.notes.append(
                f"{len(stopped & touched)} blocked lead(s) (do not call) had a record dialable: "
                "cancelled, and no longer owned: " + ", ".join(sorted(stopped & touched)[:20])
            )
        for kind, fixed in ((DriftKind.DUPLICATE, deduped), (DriftKind.REAPPEARED, again)):
            if fixed:
                rep.corrected[kind.value] = rep.corrected.get(kind.value, 0) + len(fixed)
        blocked = failed & set(changed)
        failed_loads = set(blocked)
        blocked |= held
        if failed_loads:
            rep.failed += len(failed_loads)
            rep.errors.append(
                f"{len(failed_loads)} lead(s) not loaded: their earlier records could not be "
                "cancelled or deleted, and loading them would leave two dialable records"
            )
        return blocked

    def _held_by_engage(
        self, changed: set[str], by_id: Mapping[str, list[LeadRecord]], rep: LeadSetReport
    ) -> set[str]:
        """Changed leads a record of which Engage holds in a do-not-call state: not loaded, their
        phones (the record's and the declared one) stopped everywhere the scope says."""
        if not self.dnc_states or self.stop_phones is None:
            return set()
        held = {
            eid
            for eid in changed
            if any(normalise_state(r.state) in self.dnc_states for r in by_id.get(eid, []))
        }
        if not held:
            return set()
        phones: set[str] = set()
        for eid in held:
            for r in by_id.get(eid, []):
                phones.update(record_phones("|".join(r.phones), self.region))
            lead = getattr(self, "_declared", {}).get(eid)
            if lead is not None:
                phones.update(record_phones(lead.phone, self.region))
        today = self.today or date.today()
        self.stop_phones([Stop(p, today, DateSource.FIRST_SEEN, "engage") for p in sorted(phones)])
        rep.notes.append(
            f"{len(held)} lead(s) not loaded: Engage holds their record as do-not-call; their "
            f"phone joins the do-not-call set (`engage-sync optouts pull` writes it into a "
            f"list): {', '.join(sorted(held)[:20])}"
        )
        return held

    def _stop_tombstone_phones(
        self,
        removing: set[str],
        by_id: Mapping[str, list[LeadRecord]],
        deadlines: Mapping[str, Deadline] | None,
    ) -> set[str]:
        """Every opt-out tombstone stops its phone too (the phones of its records in Engage),
        before the removal is recorded; returns the tombstones whose phones were not stopped
        (recorded next time: the removal stays to do)."""
        if self.stop_phones is None:
            return set()
        stops: dict[str, Stop] = {}
        owners: dict[str, set[str]] = {}
        for eid in sorted(removing & getattr(self, "_opt_outs", set())):
            d = deadlines.get(eid) if deadlines else None
            day = d.requested.day if d is not None else (self.today or date.today())
            source = d.requested.source if d is not None else DateSource.FIRST_SEEN
            for r in by_id.get(eid, []):
                for phone in record_phones("|".join(r.phones), self.region):
                    if phone not in stops or day < stops[phone].requested:
                        stops[phone] = Stop(phone, day, source, "tombstone")
                    owners.setdefault(phone, set()).add(eid)
        if not stops:
            return set()
        failed = self.stop_phones(list(stops.values()))
        return {eid for phone in failed for eid in owners.get(phone, ())}

    def _act(
        self,
        account: str,
        campaign: int,
        action: LeadAction,
        chunk: list[tuple[int, str]],
        rep: LeadSetReport,
        failed: set[str],
        acted: dict[int, LeadAction],
        replacing: frozenset[str] = frozenset(),
    ) -> None:
        lead_ids = [i for i, _ in chunk]
        eids = [e for _, e in chunk]
        number = self.journal.act(campaign, action.value, chunk, replacing.intersection(eids))
        try:
            result = self.client.leads.act(account, campaign, action, lead_ids)
        except ApiError as e:
            self.journal.acted(number, False)
            failed.update(eids)
            rep.action_failures += 1
            rep.errors.append(scrub(f"{action.value} of {len(lead_ids)} record(s) failed: {e}"))
            return
        self.journal.acted(number, True, result.count)
        acted.update(dict.fromkeys(lead_ids, action))
        if action is LeadAction.DELETE:
            rep.deleted += len(lead_ids)
        else:
            rep.cancelled += len(lead_ids)

    def _failed(self, rep: LeadSetReport, changed: set[str], message: str) -> set[str]:
        rep.action_failures += 1
        rep.errors.append(scrub(message))
        rep.failed += len(changed)
        return changed


def stale(leads: Iterable[Lead], records: Iterable[LeadRecord]) -> list[Lead]:
    """Leads whose externId Engage holds in a dialable record that is not this lead's load:
    with its phone but other content where the search rows show it (it landed earlier, or
    never did), or with another phone (an earlier version's load, landed while its answer was
    lost: docs/chaos.md, seed 1146). Each is cleared as for an update before it is posted."""
    by_key: dict[tuple[str, str], list[LeadRecord]] = {}
    phones: dict[str, set[str]] = {}
    for r in records:
        if r.dialable:
            by_key.setdefault((r.extern_id, r.phone), []).append(r)
            phones.setdefault(r.extern_id, set()).add(r.phone)
    found = []
    for lead in leads:
        key = phone_key(lead.phone)
        mine = by_key.get((lead.extern_id, key), [])
        if (mine and all(r.differs_from(lead.fields) for r in mine)) or (
            phones.get(lead.extern_id, set()) - {key}
        ):
            found.append(lead)
    return found


def stopped_since(leads: Iterable[Lead], records: Iterable[LeadRecord]) -> list[Lead]:
    """Leads whose load landed and was stopped in Engage since: no dialable record with their
    externId, and the newest record with it (by when it was loaded) shows their phone and
    content, stopped. For a lead in doubt that is its own load, stopped by someone (an agent's
    DO-NOT-CALL, a cancel by hand) unless engage-sync stopped it itself, which the caller
    rules out from the state (docs/chaos.md, seed 5175)."""
    by_extern: dict[str, list[LeadRecord]] = {}
    for r in records:
        by_extern.setdefault(r.extern_id, []).append(r)
    found = []
    for lead in leads:
        mine = by_extern.get(lead.extern_id)
        if not mine or any(r.dialable for r in mine):
            continue
        last = newest(mine)
        if last.phone == phone_key(lead.phone) and not last.differs_from(lead.fields):
            found.append(lead)
    return found


def loaded(
    leads: Iterable[Lead], records: Iterable[LeadRecord], post_again: frozenset[str] = frozenset()
) -> set[Lead]:
    """The leads Engage holds: a dialable record with the externId and the posted phone.

    Earlier records of updates and replacements were cancelled or deleted before the load (see
    the table above), so a dialable one with that phone is the load's own, except for externIds
    in `post_again` (updates under REMOVE_ALL_EXISTING: the old record has the same phone, and
    posting again is harmless there because the loader replaces by phone)."""
    records = list(records)
    have = {(r.extern_id, r.phone) for r in records if r.dialable}
    leads = list(leads)
    other = {x.extern_id for x in stale(leads, records)}  # the key matches, the content not
    found = set()
    for lead in leads:
        if lead.extern_id in post_again or lead.extern_id in other:
            continue
        if (lead.extern_id, phone_key(lead.phone)) in have:
            found.add(lead)
    return found
