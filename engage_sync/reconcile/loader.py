"""Posting one campaign's batches to the direct lead loader, several in flight at once (issue #14).

The real loader answers only when it has processed the whole list, so a call may take seconds; a
client that waits for each answer reaches 1/latency calls a second, far under the documented
ceiling. Here each call is sent as soon as every window admits it (a short apply uses the burst
the limits allow before the long window's average holds it back; never more in flight than the
shortest window allows), paced by the client's sliding windows, which count a call in flight in
every window until it arrives (no 429 by construction). A batch waiting for a window is not
journaled yet, so a crash leaves only the calls on their way in doubt.

What concurrency must not change:
- Two leads of a campaign with the same phone are never in different batches in flight at the
  same time: a batch waits for any in-flight batch it shares a phone with, so under
  REMOVE_ALL_EXISTING the later lead still wins, as it does when posting one batch at a time.
- The journal records every batch before it is sent and after its answer, whatever order the
  answers come in; all journal, report and progress updates happen on this (the calling) thread,
  so after `kill -9` at most the batches in flight are in doubt.
- Leads held in memory are bounded by the batches in flight, not by the plan, and held packed
  (packed.py): the encoded body of their call, made again into `Lead`s when it is answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ..engage import EngageApi, LoadResult, backoff
from ..errors import AnswerLost, ApiError, ServerGone, TransientApiError
from ..model import Lead
from ..state import Journal
from .actions import loaded, stale, stopped_since
from .packed import Packed
from .report import LeadSetReport, scrub

Progress = Callable[[int], None]
Batch = tuple[str, dict[str, Any], "list[Lead] | Packed"]  # (file, options, leads)


@dataclass
class _Flight:
    file: str
    options: dict[str, Any]
    packed: Packed  # its leads, as the call sends them (packed.py)
    number: int  # the journal's batch number
    attempt: int
    throttled: int = 0  # times it was answered 429 (Engage did nothing): sent again, bounded

    @property
    def size(self) -> int:
        return len(self.packed)


@dataclass
class BatchLoader:
    client: EngageApi
    journal: Journal
    account: str
    campaign: int
    rep: LeadSetReport
    pool: ThreadPoolExecutor
    progress: Progress = lambda n: None
    fail_fast: bool = False
    lookup_delay: float = 2.0  # seconds before looking up leads whose answer was lost
    lost_rounds: int = 3  # lookups, then posts of what was not found, for one batch
    # externIds posted again rather than looked up after a lost answer: updates under
    # REMOVE_ALL_EXISTING, whose earlier record has the same phone (the loader replaces it)
    post_again: frozenset[str] = frozenset()
    max_in_flight: int | None = None  # None: as the limits and the latency allow
    # the campaign's options as the state records them (its first file's): every file of a
    # campaign posts its own options, but the state keeps one set, the one plans compare with
    recorded_options: dict[str, Any] | None = None
    _flights: dict[Future[LoadResult], _Flight] = field(default_factory=dict)
    # batches answered 429: not journaled (none of them is in doubt), their phones still
    # reserved, sent again in order once the windows admit a call
    _held: list[_Flight] = field(default_factory=list)
    _failed: bool = False
    _gone: bool = False  # the server stopped answering: nothing more is sent
    # deals with records that carry a lead's key but not its content before it is posted
    # again (actions.Reconciler.clear_stale); returns the externIds that must not be posted
    clear: Callable[[list[Lead]], set[str]] | None = None

    def _recorded(self, flight: _Flight) -> dict[str, Any]:
        return flight.options if self.recorded_options is None else self.recorded_options

    def run(self, batches: Iterable[Batch]) -> bool:
        """Post every batch; False when any failed (with --fail-fast, nothing new is sent after
        the first failure, and the calls already in flight are waited for)."""
        for file, options, leads in batches:
            packed = leads if isinstance(leads, Packed) else Packed.of(leads, options)
            while self._busy() and (
                self._occupied() >= self._target() or self._clashes(packed.phones)
            ):
                self._step()
            self._until_admitted()
            if self._stopped():
                break
            self._send(file, options, packed, attempt=0)
        while self._busy():
            self._step()
        if self.rep.throttled:
            self.rep.notes.append(
                f"{self.rep.throttled} loader call(s) were answered 429 (too many requests): "
                "Engage did nothing with them, and they were sent again once it allowed"
            )
        return not self._failed

    def _stopped(self) -> bool:
        return (self._failed and self.fail_fast) or self._gone

    def _busy(self) -> bool:
        return bool(self._flights or self._held)

    def _occupied(self) -> int:
        return len(self._flights) + len(self._held)

    def _step(self) -> None:
        """Land an answer, or send a batch that was answered 429 again once every window
        admits a call (journaled only then: waiting, it is in no doubt)."""
        if not self._held:
            self._land_one()
            return
        if self._stopped():  # nothing new is sent: what waited is not loaded
            for flight in self._held:
                self.rep.failed += flight.size
                self.progress(flight.size)
            self._held.clear()
            return
        wait_s = self.client.pacer("loader", self.account).wait_time()
        if wait_s <= 0 or (wait_s == float("inf") and not self._flights):
            f = self._held.pop(0)
            self._send(f.file, f.options, f.packed, f.attempt, f.throttled)
        elif self._flights:
            self._land_one(timeout=None if wait_s == float("inf") else wait_s)
        else:
            self.client.sleep(wait_s)

    # -- how many in flight ------------------------------------------------------------------
    def _target(self) -> int:
        """As many in flight as the shortest window admits (or --max-in-flight): a short apply
        uses the burst the limits allow before the long window's average holds them back."""
        burst = self.client.pacer("loader", self.account).burst
        if self.max_in_flight is not None:
            return max(1, min(self.max_in_flight, burst))
        return burst

    def _until_admitted(self) -> None:
        """Hold the next batch (not journaled, not sent) until every window admits a call,
        landing answers meanwhile: only calls on their way are ever in doubt, never ones
        waiting for a window."""
        pacer = self.client.pacer("loader", self.account)
        while not self._gone:
            wait_s = pacer.wait_time()
            if wait_s <= 0:
                return
            if self._flights:
                self._land_one(timeout=None if wait_s == float("inf") else wait_s)
            elif wait_s == float("inf"):
                return  # another thread's call holds the windows: acquire waits for it
            else:
                self.client.sleep(wait_s)

    def _clashes(self, phones: frozenset[str]) -> bool:
        return any(f.packed.phones & phones for f in (*self._flights.values(), *self._held))

    # -- sending and landing -----------------------------------------------------------------
    def _send(
        self,
        file: str,
        options: dict[str, Any],
        packed: Packed,
        attempt: int,
        throttled: int = 0,
    ) -> None:
        number = self.journal.begin(self.campaign, list(packed.extern_ids))
        future = self.pool.submit(
            self.client.load_leads, self.account, self.campaign, packed.upload
        )
        self._flights[future] = _Flight(file, options, packed, number, attempt, throttled)

    def _posted(self, flight: _Flight) -> None:
        """Engage took the call (it answered, or may have acted): its leads count as posted,
        once (a batch sent again after a lost answer holds leads counted already)."""
        if flight.attempt == 0:
            self.rep.posted += flight.size

    def _land_one(self, timeout: float | None = None) -> None:
        done, _ = wait(list(self._flights), timeout=timeout, return_when=FIRST_COMPLETED)
        # land in the order they were sent among those answered: deterministic reports
        for future in sorted(done, key=lambda f: self._flights[f].number):
            flight = self._flights.pop(future)
            ok = self._land(flight, future)
            self._failed |= not ok

    def _land(self, flight: _Flight, future: Future[LoadResult]) -> bool:
        try:
            result = future.result()
        except AnswerLost as e:
            self._posted(flight)
            return self._lost(flight, e)
        except ServerGone as e:  # never sent: said once, and nothing more is sent
            if not self._gone:  # engage-sync's own words and the base URL: nothing to scrub
                self.rep.errors.append(str(e))
            self._gone = True
            self.rep.failed += flight.size
            self.journal.fail(flight.number, self.campaign)
            self.progress(flight.size)
            return False
        except ApiError as e:  # refused, or never reached Engage: nothing was loaded
            if isinstance(e, TransientApiError) and e.status == 429 and not e.may_have_acted:
                return self._throttled(flight)
            word = "refused" if not isinstance(e, TransientApiError) else "not sent"
            if word == "refused":
                self._posted(flight)
            self.rep.errors.append(scrub(f"batch of {flight.size} {word}: {e}"))
            self.rep.failed += flight.size
            self.journal.fail(flight.number, self.campaign)
            self.progress(flight.size)
            return False
        self._posted(flight)
        self.progress(flight.size)
        return self._record(flight, result)

    def _throttled(self, flight: _Flight) -> bool:
        """Answered 429: Engage did nothing with it. Journaled as failed (none of it is in
        doubt), not counted as posted, and held to be sent again once the windows admit a call
        (the client holds them as long as the server asked), up to the client's retries."""
        self.journal.fail(flight.number, self.campaign)
        self.rep.throttled += 1
        flight.throttled += 1
        if flight.throttled > self.client.max_retries:
            self.rep.errors.append(
                f"batch of {flight.size} refused: answered 429 (too many requests) "
                f"{flight.throttled} times; nothing loaded, run apply again later"
            )
            self.rep.failed += flight.size
            self.progress(flight.size)
            return False
        self._held.append(flight)
        return True

    def _lost(self, flight: _Flight, e: AnswerLost) -> bool:
        """Sent, no answer to trust: look, record what Engage holds, post the rest again."""
        other: list[Lead] = []  # the key is there, the content is not: this load did not land
        leads = flight.packed.leads()
        found = self._look(leads, after_lost=True, stale_out=other)
        if found is None:  # cannot look either: leave them in doubt for the next run
            self.rep.errors.append(scrub(f"batch of {flight.size} not confirmed: {e}"))
            self.rep.failed += flight.size
            self.rep.in_doubt += flight.size
            self.progress(flight.size)
            return False
        if found:
            self.journal.ack(
                flight.number, self.campaign, found, flight.file, self._recorded(flight)
            )
            self.rep.recorded += len(found)
            self.rep.found_after_lost += len(found)
            self.progress(len(found))
        else:
            self.journal.fail(flight.number, self.campaign)
        pending = [lead for lead in leads if lead not in found]
        if other and self.clear is not None:  # never two dialable records once posted again
            blocked = self.clear(other)
            if blocked:
                self.rep.failed += sum(1 for x in pending if x.extern_id in blocked)
                self.progress(sum(1 for x in pending if x.extern_id in blocked))
                pending = [x for x in pending if x.extern_id not in blocked]
        if not pending:
            return True
        if flight.attempt >= self.lost_rounds:
            self.rep.errors.append(
                scrub(f"batch of {len(pending)} not loaded after {flight.attempt + 1} tries: {e}")
            )
            self.rep.failed += len(pending)
            self.progress(len(pending))
            return False
        self.client.sleep(backoff(flight.attempt + 1))
        self._send(
            flight.file, flight.options, Packed.of(pending, flight.options), flight.attempt + 1
        )
        return True

    def _record(self, flight: _Flight, result: LoadResult) -> bool:
        """Read the answer, not trust it: a failure in a 200, rejected rows, and counts that do
        not add up (accepted but not inserted: do-not-call, duplicate phones) are looked up."""
        batch, rep = flight.packed.leads(), self.rep
        rejected = _rejected(result, batch)
        why = result.failure  # "returns 200 even on failure" (a real client)
        if why is not None:
            rep.errors.append(
                scrub(f"batch of {len(batch)} failed: {why}: {result.message}").rstrip().rstrip(":")
            )
            rep.failed += len(batch)
            rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
            self.journal.fail(flight.number, self.campaign)
            return False
        accepted_count = result.accepted or 0
        inserted = result.inserted
        rep.accepted += accepted_count
        rep.inserted += inserted or 0
        rep.rejected.extend({"externId": e, "message": m} for e, m in sorted(rejected.items()))
        accepted = [lead for lead in batch if lead.extern_id not in rejected]
        counted = min(accepted_count, inserted if inserted is not None else accepted_count)
        if accepted and counted + len(rejected) < len(batch):
            found = self._look(accepted, after_lost=False)
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
        self.journal.ack(
            flight.number, self.campaign, accepted, flight.file, self._recorded(flight)
        )
        rep.recorded += len(accepted)
        return not rejected

    def _look(
        self, leads: list[Lead], *, after_lost: bool, stale_out: list[Lead] | None = None
    ) -> set[Lead] | None:
        return look(
            self.client,
            self.account,
            self.campaign,
            leads,
            self.lookup_delay,
            self.post_again if after_lost else frozenset(),
            stale_out,
        )


def look(
    client: EngageApi,
    account: str,
    campaign: int,
    leads: list[Lead],
    delay: float,
    post_again: frozenset[str] = frozenset(),
    stale_out: list[Lead] | None = None,
    stopped_out: list[Lead] | None = None,
) -> set[Lead] | None:
    """The leads Engage holds (a dialable record with that externId and phone, showing the
    lead's content where the search rows show it), or None when the lookup itself failed;
    `stale_out` gets the leads whose externId and phone Engage holds with other content, or
    whose externId it holds with another phone (actions.stale); `stopped_out` those whose
    load landed and was stopped since (actions.stopped_since).
    Freshly loaded leads may take a moment to be searchable."""
    if delay:
        client.sleep(delay)
    try:
        records = client.leads.search(account, campaign, [x.extern_id for x in leads])
    except ApiError:
        return None
    if stale_out is not None:
        stale_out.extend(stale(leads, records))
    if stopped_out is not None:
        stopped_out.extend(stopped_since(leads, records))
    return loaded(leads, records, post_again)


def batches(leads: Iterable[Lead], size: int) -> Iterator[list[Lead]]:
    batch: list[Lead] = []
    for lead in leads:
        batch.append(lead)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _rejected(result: LoadResult, batch: list[Lead]) -> dict[str, str]:
    """Match the rejected rows to the batch's leads by externId."""
    ids = {lead.extern_id for lead in batch}
    found: dict[str, str] = {}
    for row in result.rejected:
        match = next((v for v in row.extern_ids if v in ids), None)
        message = scrub(row.message or "rejected")
        if match is not None:
            found[match] = message
    unmatched = len(result.rejected) - len(found)
    if unmatched > 0:
        # rows we cannot tie to a lead: trust none of the batch rather than record a rejected lead
        return {lead.extern_id: "rejected (row not identifiable)" for lead in batch}
    return found
