"""One pass over a campaign's leads for the loader (issue #34): the apply reads each file once
after the plan did, and finds on the way what must be settled before a lead is posted.

- Creates are the plan's, walked in step with the files (both are in declared order): no set of
  a million externIds is held, and a lead whose content is not what the plan showed (its file
  changed since) is not posted.
- An update or a replacement has its earlier records dealt with first (actions.Reconciler), and
  a lead in doubt, or a create under `--look-first`, is looked up first (loader.look). Such a
  lead waits, with the leads read after it, until 500 of them wait (a search's size) or the
  window is full; then they are settled together and the window is posted in file order (under
  REMOVE_ALL_EXISTING the later of two leads with one phone still wins).

What is held is the window, never the campaign.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..engage import EngageApi
from ..incremental.inputs import CampaignInputs
from ..leadsets import Source
from ..model import Change, DriftKind, Lead, LeadSetPlan
from ..state import Journal
from .actions import Intent, Reconciler
from .loader import Batch, look
from .report import LeadSetReport

GROUP = 500  # leads settled at once: a lead search asks for 500 externIds
WINDOW_BATCHES = 16  # batches' worth of leads that may wait behind one to settle


class Need(enum.Flag):
    NOTHING = 0
    LOAD = enum.auto()  # posted (unless settling says otherwise)
    CREATE = enum.auto()
    CHANGE = enum.auto()  # earlier records dealt with first
    DEDUPE = enum.auto()  # duplicates of an owned lead cancelled (apply --refresh)
    DOUBT = enum.auto()  # looked up first: an earlier run may have loaded it
    PROBE = enum.auto()  # looked up first: --look-first


SETTLE = Need.CHANGE | Need.DEDUPE | Need.DOUBT | Need.PROBE


@dataclass
class _Waiting:
    source: Source
    lead: Lead
    need: Need


@dataclass
class Feed:
    """The batches of one campaign, for `BatchLoader.run`, settling what must be first."""

    client: EngageApi
    journal: Journal
    account: str
    ls: LeadSetPlan
    inputs: CampaignInputs
    rep: LeadSetReport
    reconciler: Reconciler  # deals with earlier records (with the do-not-call hooks)
    clear: Callable[[list[Lead]], set[str]]  # records with a lead's key, not its content
    batch_size: int = 500
    look_first: str = "off"  # "probe", "all" or "off"
    lookup_delay: float = 2.0
    post_again: frozenset[str] = frozenset()
    progress: Callable[[int], None] = lambda n: None
    fail_fast: bool = False
    # externIds whose records engage-sync stopped itself (a removal, an update's earlier
    # record), from the state: a stopped record of theirs may be engage-sync's, not a person's
    stopped_by_us: Callable[[str], bool] = lambda extern_id: False
    stopped: bool = False  # fail_fast, and earlier records could not be dealt with
    _looked: bool = False  # a lead in doubt was looked up (the delay is waited once)
    _all: bool = False  # --look-first probe found one: every create is looked up
    _creates: int = 0
    _found_first: int = 0  # creates found in Engage already
    _seen: set[str] = field(default_factory=set)  # changes and duplicates met in the files
    _intents: dict[str, Intent] = field(default_factory=dict)

    def batches(self) -> Iterator[Batch]:
        """The leads to post, in batches of one file each, in the files' order."""
        batch: list[Lead] = []
        current: Source | None = None
        for source, lead in self._leads():
            if batch and (source is not current or len(batch) >= self.batch_size):
                assert current is not None
                yield current.meta.path, current.meta.options.body(), batch
                batch = []
            current = source
            batch.append(lead)
        if batch:
            assert current is not None
            yield current.meta.path, current.meta.options.body(), batch

    def _changes(self) -> dict[str, tuple[Change | None, Intent]]:
        """Updates and replacements (the plan's), and leads whose records drifted (refresh,
        with no planned content). An update looks first too, under REMOVE_ALL_EXISTING as well:
        the state keeps 16 bits per field, so one phone change in 65,536 looks like an update."""
        found: dict[str, tuple[Change | None, Intent]] = {
            c.extern_id: (c, Intent.REPLACE) for c in self.ls.replaces
        }
        found.update((c.extern_id, (c, Intent.UPDATE)) for c in self.ls.updates)
        blocked = self._blocked()
        for d in self.ls.corrections:
            if d.kind is DriftKind.CHANGED and d.extern_id not in blocked:
                found.setdefault(d.extern_id, (None, Intent.REPLACE))
        return found

    def _blocked(self) -> set[str]:
        """Blocked leads (do not call): never loaded, whatever drift a refresh found for them;
        their records are cancelled before the loads (actions.Reconciler.remove)."""
        return {c.extern_id for c in self.ls.blocked}

    def _leads(self) -> Iterator[tuple[Source, Lead]]:
        ls = self.ls
        changes = self._changes()
        self._intents = {e: i for e, (_, i) in changes.items()}
        dedupe = {d.extern_id for d in ls.corrections if d.kind is DriftKind.DUPLICATE}
        dedupe -= self._blocked()
        doubt = set(ls.in_doubt)
        creates = iter(ls.creates)
        upcoming = next(creates, None)
        window: deque[_Waiting] = deque()
        waiting, size = 0, max(GROUP, WINDOW_BATCHES * self.batch_size)
        mismatched = 0
        for source, lead in self.inputs.leads():
            eid = lead.extern_id
            need, planned = Need.NOTHING, None
            if upcoming is not None and eid == upcoming.extern_id:
                planned, upcoming = upcoming, next(creates, None)
                need = Need.LOAD | Need.CREATE
                self._creates += 1
                if self.look_first == "all" or (
                    self.look_first == "probe" and (self._all or self._creates <= self.batch_size)
                ):
                    need |= Need.PROBE
            elif eid in changes:
                planned, need = changes[eid][0], Need.LOAD | Need.CHANGE
                self._seen.add(eid)
            if eid in dedupe:
                need |= Need.DEDUPE
                self._seen.add(eid)
            if not need:
                continue
            if planned is not None and planned.digest not in (None, lead.digest):
                mismatched += 1  # not what was reviewed: the file changed since the plan
                continue
            if need & Need.LOAD and eid in doubt:
                need |= Need.DOUBT
            if not window and not need & SETTLE:
                yield source, lead
                continue
            window.append(_Waiting(source, lead, need))
            waiting += bool(need & SETTLE)
            if waiting >= GROUP or len(window) >= size:
                yield from self._settle(list(window))
                window.clear()
                waiting = 0
                if self.stopped:
                    return
        if window:
            yield from self._settle(list(window))
        self._unmatched(mismatched + (upcoming is not None) + sum(1 for _ in creates), changes)
        # drift of owned leads no file declares: corrected all the same, with no declared lead
        drifted = {e: i for e, (c, i) in changes.items() if c is None and e not in self._seen}
        if (drifted or dedupe - self._seen) and not self.stopped:
            self.reconciler.prepare(self.account, ls, {}, drifted, dedupe - self._seen, self.rep)
        if self._found_first:
            self.rep.notes.append(
                f"{self._found_first} lead(s) the state did not hold were already in Engage (an "
                "earlier apply whose state was not saved?): recorded, not posted again"
            )

    def _unmatched(self, count: int, changes: Mapping[str, tuple[Change | None, Intent]]) -> None:
        """Planned loads the files no longer hold as planned: never posted unreviewed."""
        count += sum(1 for e, (c, _) in changes.items() if c is not None and e not in self._seen)
        if count:
            self.rep.failed += count
            self.progress(count)
            self.rep.errors.append(
                f"{count} lead(s) to post are not in the lead-set files as planned (a file "
                "changed since the plan was made): not posted; plan and apply again"
            )

    def _settle(self, window: list[_Waiting]) -> Iterator[tuple[Source, Lead]]:
        """Deal with earlier records, look up what must be looked up, then post the rest."""
        skip: set[str] = set()
        changing = [w for w in window if w.need & (Need.CHANGE | Need.DEDUPE)]
        if changing:
            declared = {w.lead.extern_id: w.lead for w in changing}
            intents = {
                w.lead.extern_id: self._intents[w.lead.extern_id]
                for w in changing
                if w.need & Need.CHANGE
            }
            dedupe = {w.lead.extern_id for w in changing if w.need & Need.DEDUPE}
            blocked = self.reconciler.prepare(
                self.account, self.ls, declared, intents, dedupe, self.rep
            )
            skip |= blocked
            if blocked and self.fail_fast:
                self.stopped = True
                return
        skip |= {w.lead.extern_id for w in window if not w.need & Need.LOAD}
        doubt = [w for w in window if w.need & Need.DOUBT and w.lead.extern_id not in skip]
        if doubt:
            skip |= self._look(doubt, 0.0 if self._looked else self.lookup_delay)
            self._looked = True
        probe = [
            w
            for w in window
            if w.need & Need.PROBE and not w.need & Need.DOUBT and w.lead.extern_id not in skip
        ]
        before = self._found_first
        skip |= self._look(probe, 0.0, first=True)
        if self._found_first > before and self.look_first == "probe" and not self._all:
            self._all = True  # one was there already: look every create up
            rest = [
                w
                for w in window
                if w.need & Need.CREATE
                and not w.need & (Need.PROBE | Need.DOUBT)
                and w.lead.extern_id not in skip
            ]
            skip |= self._look(rest, 0.0, first=True)
        for w in window:
            if w.need & Need.LOAD and w.lead.extern_id not in skip:
                yield w.source, w.lead

    def _look(self, waiting: Sequence[_Waiting], delay: float, first: bool = False) -> set[str]:
        """Leads an earlier run may have loaded: those Engage holds are recorded, not posted;
        returns them, and those that must wait (the look-up failed, or a record with their
        key and other content could not be dealt with)."""
        if not waiting:
            return set()
        cid = self.ls.campaign.id
        leads = [w.lead for w in waiting]
        other: list[Lead] = []
        stopped: list[Lead] | None = None if first else []
        found = look(self.client, self.account, cid, leads, delay, self.post_again, other, stopped)
        if found is None:
            self.rep.errors.append(
                f"{len(leads)} lead(s) could not be looked up before posting: not posted "
                "(that could load them twice); run apply again"
            )
            self.rep.failed += len(leads)
            self.rep.in_doubt += len(leads)
            return {x.extern_id for x in leads}
        # in doubt, landed, and stopped in Engage since by someone else: recorded as landed,
        # never posted again (that would revive what they stopped); a refresh shows the stop
        # as drift, as for any owned lead's record stopped in Engage
        revived = [x for x in stopped or () if not self.stopped_by_us(x.extern_id)]
        if revived:
            found = found | set(revived)
            self.rep.notes.append(
                f"{len(revived)} lead(s) in doubt had landed and were stopped in Engage since "
                "(by hand?): recorded, not posted again (`plan --refresh` shows them stopped)"
            )
        settled = {x.extern_id for x in found}
        if found:
            by_file: dict[str, list[Lead]] = {}
            for w in waiting:
                if w.lead in found:
                    by_file.setdefault(w.source.meta.path, []).append(w.lead)
            options = self.ls.options.body()
            for file, mine in by_file.items():
                number = self.journal.begin(cid, [x.extern_id for x in mine])
                self.journal.ack(number, cid, mine, file, options)
            self.rep.recorded += len(found)
            self.rep.resolved_in_doubt += len(found)
            self.progress(len(found))
            if first:
                self._found_first += len(found)
        if other:  # the key is there, not the content: clear it, then post the lead
            settled |= self.clear(other)
        return settled
