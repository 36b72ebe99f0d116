"""Walk a plan through the client, campaign by campaign: removals first (actions.py), leads in
doubt looked up, then the loads (loader.py), every answer recorded in the journal."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..donotcall.phones import record_phones
from ..engage import Campaign, EngageApi
from ..errors import ApiError
from ..incremental.inputs import CampaignInputs
from ..model import DuplicateHandling, Lead, LeadSetPlan, Plan
from ..optouts import DateSource
from ..state import Journal
from .actions import Reconciler
from .donotcall import Stop, Sweeper
from .feed import Feed
from .loader import Batch, BatchLoader
from .lookahead import posted_phones
from .packed import Packed, unpacked
from .report import LeadSetReport, Report, scrub

Progress = Callable[[int], None]
LOOK_AHEAD = 16  # batches whose do-not-call look-up runs ahead of the loads
LOOKERS = 4  # look-ups in flight at once (the search pacer keeps them within the limits)
# phones a do-not-call look-up asks for at once: 1,000 (two batches of 500) keeps the searches
# (15 per 10 s, 60 per 30 s) within the loader's time (30 per 10 s, 120 per 60 s); how many
# `leadPhoneNumbers` the real server takes in one search is not documented
LOOKUP_PHONES = 1000


def _nothing_held(account: str, phones: Sequence[str]) -> set[str]:
    return set()


# updates posted again rather than looked up after a lost answer: under this mode the loader
# replaces the record with the same phone
REPLACED_BY_PHONE = DuplicateHandling.REMOVE_ALL_EXISTING


def _posted_again(ls: LeadSetPlan) -> frozenset[str]:
    """Updates whose lookup proves nothing (the earlier record has the same externId and phone):
    under REMOVE_ALL_EXISTING they are posted again, the loader replacing by phone; under the
    other modes the reconciler cancelled or deleted the earlier record before the load."""
    if ls.options.duplicate_handling is not REPLACED_BY_PHONE:
        return frozenset()
    return frozenset(c.extern_id for c in ls.updates)


@dataclass
class Applier:
    client: EngageApi
    journal: Journal
    default_account: str | None
    batch_size: int = 500
    fail_fast: bool = False
    progress: Progress = lambda n: None
    lookup_delay: float = 2.0  # seconds before looking up leads whose answer was lost
    lost_rounds: int = 3  # lookups, then posts of what was not found, for one batch
    # look creates up before posting them (`ci apply`: a state lost with an earlier runner
    # must never load them twice): "probe" looks up the first batch of a campaign's creates
    # and all of them once one is found; "all"; "off"; "auto": "probe" where a second load
    # would keep two records (RETAIN_ALL) or the state is shared (`shared_state`), else "off"
    look_first: str = "off"
    shared_state: bool = False
    _campaigns: dict[str, dict[int, Campaign]] = field(default_factory=dict)
    max_in_flight: int | None = None  # None: as many as the shortest window admits
    _executors: dict[str, ThreadPoolExecutor] = field(default_factory=dict)
    report: Report = field(default_factory=Report)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # do not call (issue #30): stops phones in Engage, and the phones to stop first, in every
    # account the lead sets name
    sweeper: Sweeper | None = None
    stops: Sequence[Stop] = ()

    def run(self, plan: Plan, inputs: Mapping[int, CampaignInputs]) -> Report:
        """Carry the plan out; `inputs`: each campaign's files, read once more for its loads."""
        try:
            return self._run(plan, inputs)
        finally:
            self.close()

    def _run(self, plan: Plan, inputs: Mapping[int, CampaignInputs]) -> Report:
        """Rate limits are per sub-account: each account's lead sets run in a thread of their
        own, within that account's limits; within an account, campaign after campaign."""
        report = self.report  # kept on the applier: a run cut short still has its report
        by_account: dict[str, list[tuple[LeadSetPlan, LeadSetReport]]] = {}
        if self.sweeper is not None:
            report.do_not_call = self.sweeper.report
            self.sweeper.report.to_stop = len(self.stops)
            # the accounts the lead sets name: a phone learned in one is stopped in each, and
            # a look-up for Engage's opt-outs asks each
            named = {ls.account or self.default_account or "" for ls in plan.leadsets} - {""}
            self.sweeper.accounts = tuple(sorted(named))
            if self.stops:  # every account the lead sets name stops them, work or not
                for account in sorted(named | {self.default_account or ""} - {""}):
                    by_account[account] = []
        for ls in plan.leadsets:
            if not ls.has_work:
                continue
            rep = LeadSetReport(ls.campaign.id, ls.campaign.name, ls.to_load)
            rep.to_remove = len(ls.removals)
            rep.to_correct = ls.to_stop - rep.to_remove  # duplicates and reappeared leads
            report.leadsets.append(rep)  # in plan order, whatever order they finish in
            account = ls.account or self.default_account or ""
            by_account.setdefault(account, []).append((ls, rep))
        if self.sweeper is not None:
            # a phone is recorded as stopped once every account the lead sets name has confirmed
            # it (a default account none of them uses is swept, and not waited for: it may not
            # even be reachable)
            self.sweeper.expect(self.stops, self.sweeper.accounts)
            self.sweeper.working = set(by_account)

        def one_account(account: str) -> bool:
            try:
                return work_through(account)
            finally:
                if self.sweeper is not None:
                    self.sweeper.finished(account)

        def work_through(account: str) -> bool:
            if self.sweeper is not None and self.stops and account:
                # first in the run, never held back: no dialable record with these phones
                self.sweeper.sweep(account, self.stops)
            for ls, rep in by_account[account]:
                if self.client.gone:  # nothing more is sent once the server went away
                    rep.failed = rep.to_post
                    continue
                cid = ls.campaign.id
                self._apply_leadset(ls, inputs.get(cid) or CampaignInputs(cid), rep)
                if self.fail_fast and not rep.ok:
                    return True
            return False

        if len(by_account) <= 1:
            stopped = [one_account(a) for a in by_account]
        else:
            with ThreadPoolExecutor(len(by_account), thread_name_prefix="engage-account") as run:
                stopped = list(run.map(one_account, list(by_account)))
            if self.sweeper is not None and not self.client.gone:
                # every load answered: what landed beside another account's sweep is stopped
                self.sweeper.recheck()
        report.stopped_early = any(stopped)
        report.server_gone = self.client.gone
        return report

    def _check_campaign(self, account: str, ls: LeadSetPlan, rep: LeadSetReport) -> str | None:
        """Why this lead set must not be posted, or None when its campaign is as declared."""
        if account not in self._campaigns:
            groups = self.client.dial_groups_with_campaigns(account)
            self._campaigns[account] = {c.campaign_id: c for g in groups for c in g.campaigns}
        campaigns = self._campaigns[account]
        cid = ls.campaign.id
        if cid not in campaigns:
            return f"campaign {cid} does not exist in account {account}: nothing posted"
        name = campaigns[cid].name
        if ls.campaign.name is not None and name != ls.campaign.name:
            return (
                f"campaign {cid} is named {name!r} in Engage, not "
                f"{ls.campaign.name!r}: nothing posted"
            )
        if campaigns[cid].active is False:
            rep.notes.append(
                f"campaign {cid} is inactive in Engage: its leads are loaded but not dialled "
                "until it is activated"
            )
        return None

    def _apply_leadset(self, ls: LeadSetPlan, inputs: CampaignInputs, rep: LeadSetReport) -> None:
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
        sweeper = self.sweeper
        reconciler = Reconciler(
            self.client,
            self.journal,
            stop_phones=(lambda stops: sweeper.sweep_everywhere(account, stops))
            if sweeper
            else None,
            dnc_states=sweeper.states if sweeper else (),
            region=sweeper.rules.phone_region if sweeper else "US",
            today=sweeper.rules.today() if sweeper else None,
        )
        reconciler.remove(account, ls, rep)
        handling = ls.options.duplicate_handling
        plain = Reconciler(self.client, self.journal)

        def clear(leads: list[Lead]) -> set[str]:
            return plain.clear_stale(account, ls.campaign.id, handling, leads, rep)

        # one more pass over the files (the plan's was the first): what must be settled before
        # a lead is posted is found on the way (feed.py)
        feed = Feed(
            self.client,
            self.journal,
            account,
            ls,
            inputs,
            rep,
            reconciler,
            clear,
            self.batch_size,
            self._look_mode(ls),
            self.lookup_delay,
            _posted_again(ls),
            self.progress,
            self.fail_fast,
            _stopped_by_us(self.journal, ls.campaign.id),
        )
        loader = BatchLoader(
            self.client,
            self.journal,
            account,
            ls.campaign.id,
            rep,
            self._pool(account),
            self.progress,
            self.fail_fast,
            self.lookup_delay,
            self.lost_rounds,
            _posted_again(ls),
            self.max_in_flight,
            ls.options.body(),
        )
        loader.clear = clear
        loader.run(self._not_held(account, rep, feed.batches()))

    def _not_held(
        self, account: str, rep: LeadSetReport, loads: Iterator[Batch]
    ) -> Iterator[Batch]:
        """The batches, less the leads whose phone Engage holds as do-not-call (issue #30):
        those are skipped, said, and their phones stopped everywhere the scope says. The
        look-ups run ahead of the loads in a thread of their own (their rate limits are not
        the loader's), so they add little to an apply's time (bench/: `dnc_lookups`)."""
        sweeper = self.sweeper
        if sweeper is None:
            yield from loads
            return
        ahead: deque[tuple[list[Batch], Future[set[str]]]] = deque()
        look = sweeper.held if sweeper.states else _nothing_held
        group: list[Batch] = []
        phones: list[str] = []
        with ThreadPoolExecutor(LOOKERS, thread_name_prefix=f"engage-dnc-{account}") as pool:
            for file, options, leads in loads:
                leads = unpacked(leads)
                phones += [p for lead in leads for p in posted_phones(lead)]
                group.append((file, options, Packed.of(leads, options)))  # held small: packed.py
                if len(phones) < LOOKUP_PHONES:
                    continue  # one search for several batches: the search limits are tighter
                ahead.append((group, pool.submit(look, account, phones)))
                group, phones = [], []
                if len(ahead) >= LOOK_AHEAD:
                    yield from self._without_held(account, rep, *ahead.popleft())
            if group:
                ahead.append((group, pool.submit(look, account, phones)))
            while ahead:
                yield from self._without_held(account, rep, *ahead.popleft())

    def _without_held(
        self, account: str, rep: LeadSetReport, group: list[Batch], looked: Future[set[str]]
    ) -> Iterator[Batch]:
        for batch in group:
            yield from self._batch_without_held(account, rep, batch, looked)

    def _batch_without_held(
        self, account: str, rep: LeadSetReport, batch: Batch, looked: Future[set[str]]
    ) -> Iterator[Batch]:
        assert self.sweeper is not None
        file, options, packed = batch
        try:
            held = looked.result()
        except ApiError as e:
            rep.errors.append(
                scrub(f"{len(packed)} lead(s) not posted: the do-not-call look-up failed: {e}")
            )
            rep.failed += len(packed)
            self.progress(len(packed))
            return
        # a phone this run stopped (a tombstone's, found in Engage, listed) since the plan was
        # made: never loaded again, in any campaign
        done = self.sweeper.done
        if not done and not held:
            yield batch
            return
        region = self.sweeper.rules.phone_region
        leads = unpacked(packed)
        stopped = [x for x in leads if done and done & set(record_phones(x.phone, region))]
        if stopped:
            rep.notes.append(
                f"{len(stopped)} lead(s) not loaded: this apply stopped their phone (do not "
                "call) in every campaign: " + ", ".join(x.extern_id for x in stopped[:20])
            )
            self.progress(len(stopped))
            leads = [x for x in leads if x not in stopped]
        if held:
            skip = [x for x in leads if held & set(record_phones(x.phone, region))]
            today = self.sweeper.rules.today()
            stops = [Stop(p, today, DateSource.FIRST_SEEN, "engage") for p in sorted(held)]
            self.sweeper.sweep_everywhere(account, stops)
            self.sweeper.skipped(len(skip))
            rep.notes.append(
                f"{len(skip)} lead(s) not loaded: Engage holds their phone as do-not-call; it "
                "joins the do-not-call set (`engage-sync optouts pull` writes it into a list): "
                + ", ".join(x.extern_id for x in skip[:20])
            )
            self.progress(len(skip))
            leads = [x for x in leads if x not in skip]
        if leads:
            yield file, options, leads

    def _pool(self, account: str) -> ThreadPoolExecutor:
        with self._lock:
            if account not in self._executors:
                workers = self.client.pacer("loader", account).burst
                self._executors[account] = ThreadPoolExecutor(
                    workers, thread_name_prefix=f"engage-loader-{account}"
                )
            return self._executors[account]

    def close(self) -> None:
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.shutdown(wait=True)

    def _look_mode(self, ls: LeadSetPlan) -> str:
        """How this campaign's creates are looked up before they are posted."""
        if self.look_first != "auto":
            return self.look_first
        keeps_both = ls.options.duplicate_handling is DuplicateHandling.RETAIN_ALL
        return "probe" if keeps_both or self.shared_state else "off"


def _stopped_by_us(journal: Journal, campaign: int) -> Callable[[str], bool]:
    """Whether engage-sync stopped records of this externId itself: removed (a tombstone, a
    prune), or cancels and deletes sent for it that the state still keeps (an update's)."""
    state = journal.state.campaign(campaign)
    return lambda extern_id: extern_id in state.removed or extern_id in state.acts
