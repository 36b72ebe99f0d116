"""The do-not-call look-up of the first leads an apply posts, made while apply reads each
account's campaigns (issue #34).

Before a batch is posted its phones are looked up for records Engage holds in a do-not-call
state (donotcall.py: Engage's opt-outs are never revived). The first look-up waited for the
campaigns to be read, and the first load for it: two round trips to the server before anything
was posted. Made together, one. Its answer serves the look-ups whose phones it covers, if it
came at most FRESH_S before (a user who takes longer to answer apply's question: they are
looked up again); should it fail, they are looked up as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from itertools import chain, islice

from .. import leadsets
from ..donotcall.phones import record_phones
from ..engage import EngageApi
from ..engage.leads import normalise_state
from ..leadsets import Source
from ..model import PHONE_FIELDS, Lead, Plan
from ..optouts import OptOutRules

FRESH_S = 30.0
ROWS_AT_MOST = 20_000  # rows read to find the first leads posted: past it, no look-ahead
LOOKUP_CHUNK = 1000  # phones a look-up for Engage's opt-outs sends in one search

Search = Callable[[str, Sequence[str]], set[str]]
Answer = tuple[frozenset[str], float, set[str]]  # the phones looked up, when, those held


def search_held(
    client: EngageApi,
    account: str,
    phones: Sequence[str],
    scope: set[int] | None,
    states: Sequence[str],
    region: str,
    chunk: int,
) -> set[str]:
    """Of these phones (as loaded: the lead's own text), those a record in the scope holds in
    a do-not-call state (Engage's opt-outs win). One search per `chunk` phones, asking for
    records in those states only, so the answer is usually one empty page."""
    wanted = sorted(set(phones))
    spellings = state_spellings(states)
    campaigns = sorted(scope) if scope is not None else None
    found: set[str] = set()
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        records = client.leads.search_phones(
            account, part, campaigns, states=spellings, chunk=chunk
        )
        for r in records:
            if normalise_state(r.state) in states and (scope is None or r.campaign_id in scope):
                found.update(record_phones("|".join(r.phones), region))
    return found


def state_spellings(states: Sequence[str]) -> list[str]:
    """Lead states as a search asks for them: the spec's hyphens and the guide's underscores."""
    return sorted({s for state in states for s in (state, state.replace("-", "_"))})


def look_ahead(
    plan: Plan,
    sources: Sequence[Source],
    rules: OptOutRules,
    client: EngageApi,
    default_account: str | None,
    batch_size: int,
    at_least: int,
) -> LookAhead | None:
    """The look-up apply makes first (first_phones): of the first lead set with leads to post
    (None: nothing to look up)."""
    first = next((ls for ls in plan.leadsets if ls.creates or ls.updates or ls.replaces), None)
    account = (first.account or default_account) if first is not None else None
    if first is None or not account or not rules.engage_states:
        return None
    scope = None
    if rules.scope == "campaign":
        mine = (ls for ls in plan.leadsets if (ls.account or default_account) == account)
        scope = {ls.campaign.id for ls in mine}
    # the creates are a spool (most of them on disk) in declared order, the order the files are
    # read in: only the first rows' can be met, so only they are taken (a million creates made
    # into a tuple and a set of externIds here was most of a first apply's peak memory). One
    # more than the rows read, so that `left` cannot reach 0 before the rows are all read.
    creates = islice(first.creates, ROWS_AT_MOST + 1)
    wanted = {c.extern_id for c in chain(creates, first.updates, first.replaces)}
    own = [s for s in sources if s.meta.campaign.id == first.campaign.id]

    def gather() -> list[str]:
        leads = (lead for source in own for lead in leadsets.stream(source))
        return first_phones(leads, wanted, batch_size, at_least)

    def search(acct: str, phones: Sequence[str]) -> set[str]:
        states, region = rules.engage_states, rules.phone_region
        return search_held(client, acct, phones, scope, states, region, LOOKUP_CHUNK)

    return LookAhead(account, gather, search)


def posted_phones(lead: Lead) -> list[str]:
    """A lead's phones as the loader posts them (each part of a `|`-joined leadPhone)."""
    return [
        part
        for name, value in zip(lead.names, lead.values, strict=True)
        if name in PHONE_FIELDS
        for part in str(value).split("|")
    ]


def first_phones(
    leads: Iterable[Lead], wanted: set[str], batch_size: int, at_least: int
) -> list[str]:
    """The phones of the first `wanted` leads, in the order apply posts them, batch by batch
    until there are `at_least` (what apply's first look-up asks for: applier._not_held) or the
    wanted leads end; none when they are not among the first ROWS_AT_MOST rows."""
    phones: list[str] = []
    left, in_batch = len(wanted), 0
    for read, lead in enumerate(leads, 1):
        if lead.extern_id in wanted:
            phones += posted_phones(lead)
            left, in_batch = left - 1, in_batch + 1
            if not left or (in_batch == batch_size and len(phones) >= at_least):
                return phones
            in_batch %= batch_size
        if read >= ROWS_AT_MOST:
            return []
    return phones


class LookAhead:
    """One look-up, in a thread of its own: the phones `gather` finds (a file read), searched
    with `search`. `held` answers from it, `close` waits for it to end."""

    def __init__(
        self,
        account: str,
        gather: Callable[[], list[str]],
        search: Search,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self._clock = clock
        self._answer: Future[Answer] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(gather, search), name="engage-dnc-ahead", daemon=True
        )
        self._thread.start()

    def _run(self, gather: Callable[[], list[str]], search: Search) -> None:
        try:
            phones = gather()
            found = search(self.account, phones) if phones else set()
            self._answer.set_result((frozenset(phones), self._clock(), found))
        except Exception as e:  # any failure: the look-ups are made as if there were none
            self._answer.set_exception(e)

    def held(self, account: str, phones: Sequence[str]) -> set[str] | None:
        """Of the phones looked up ahead, those held as do-not-call, when they cover these
        and the answer is fresh; None when they are to be looked up now."""
        if account != self.account:
            return None
        try:
            covered, at, found = self._answer.result()
        except Exception:  # the search failed: looked up now, where a failure is reported
            return None
        if self._clock() - at > FRESH_S or not covered.issuperset(phones):
            return None
        return found

    def close(self) -> None:
        self._thread.join()
