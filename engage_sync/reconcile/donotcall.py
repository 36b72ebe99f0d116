"""Do not call in Engage (issue #30): every dialable record with a do-not-call phone is cancelled,
in every campaign of the account (`optOuts.scope: account`) or of the lead sets
(`campaign`), owned by engage-sync or not; and a lead whose phone Engage holds as DO-NOT-CALL
is never loaded.

A sweep searches by phone across the campaigns (every form the phone may have been loaded in;
phones compared in E.164 on this side), cancels by campaign and lead ids (never by phone
criteria alone: those could match more than meant), journals each cancel before it is sent and
after its answer, searches again, and only then records the phone as stopped, by its keyed hash,
with one evidence-ledger line. A run cut short leaves the phone unrecorded: the next apply does
it again (cancelling twice is harmless), and the lead ids already sent reach the ledger. No
phone is written anywhere: the journal, the state and the ledger hold keyed hashes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..donotcall.keys import PhoneKey, key_from_env
from ..donotcall.phones import record_phones, search_forms
from ..donotcall.registry import Registry
from ..engage import EngageApi
from ..engage.leads import LeadAction, LeadRecord, normalise_state
from ..errors import ApiError
from ..optouts import DateSource, Deadline, OptOutRules, Requested
from ..state import Journal
from .lookahead import LOOKUP_CHUNK, LookAhead, search_held, state_spellings
from .report import scrub

ACTION_BATCH = 500
# another account's do-not-call records are read whole for a look-up (again once ELSEWHERE_S
# old: one search every 10 s of the 15 the limits allow) when they fit in this many searches
# (pages: two of records and the empty one that ends a search, 2,000 records at the page size
# of 1,000); past that, or where the server ignores paging, its look-ups are made per batch
# (one search per LOOKUP_CHUNK phones: twice the searches of a run of two accounts, which then
# set its pace, where the loader's limits set it)
ELSEWHERE_PAGES = 3
ELSEWHERE_S = 10.0
LEARNED = frozenset({"tombstone", "engage"})  # phones learned in Engage, not listed
DNC_STATES = ("DO-NOT-CALL",)  # what Engage holds as an opt-out (optOuts.engageStates adds)


@dataclass(frozen=True, slots=True)
class Stop:
    """One phone to stop: E.164, when the person asked, how that is known, and how they asked."""

    phone: str
    requested: date
    requested_from: DateSource = DateSource.LEAD_SET
    source: str | None = None


@dataclass
class DoNotCallReport:
    """What the do-not-call sweeps of an apply did (no phone: counts and messages only)."""

    to_stop: int = 0
    stopped: int = 0  # phones confirmed not dialable anywhere the scope says, recorded
    cancelled: int = 0  # records
    learned: int = 0  # phones found by tombstones or as DO-NOT-CALL in Engage, added
    skipped: int = 0  # leads not loaded: Engage holds their phone as DO-NOT-CALL
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "toStop": self.to_stop,
            "stopped": self.stopped,
            "cancelled": self.cancelled,
            "learned": self.learned,
            "skipped": self.skipped,
            "errors": self.errors,
        }


@dataclass
class Sweeper:
    """Stops phones in Engage for one apply (one journal, several accounts' threads)."""

    client: EngageApi
    journal: Journal
    rules: OptOutRules
    key: PhoneKey | None
    report: DoNotCallReport = field(default_factory=DoNotCallReport)
    # campaigns per account that `scope: campaign` limits a sweep to
    campaigns: dict[str, set[int]] = field(default_factory=dict)
    states: tuple[str, ...] = DNC_STATES
    done: set[str] = field(default_factory=set)  # phones stopped by this run, in any account
    # (account, phone): each account's records are swept for a phone, once a run
    swept: set[tuple[str, str]] = field(default_factory=set)
    ahead: LookAhead | None = None  # the first look-up, made while campaigns were read
    # One caller, one opt-out: the accounts the run's lead sets name (the applier sets them).
    # A phone learned in one of them (Engage holds it, a tombstone's records had it) is stopped
    # in each, and a look-up for Engage's opt-outs asks each: once its hash is in the state it
    # could never be searched for again
    accounts: tuple[str, ...] = ()
    # phone -> the accounts it is to be stopped in this run, and those it was confirmed in: its
    # hash joins the state's set (which blocks it, and ends the retries) once confirmed in all
    asked: dict[str, set[str]] = field(default_factory=dict)
    confirmed: dict[str, set[str]] = field(default_factory=dict)
    working: set[str] = field(default_factory=set)  # accounts whose loads may be in flight
    # account -> phones another account's thread swept there while it was loading: looked at
    # again once every load was answered (a batch may have passed the check just before)
    foreign: dict[str, dict[str, Stop]] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.RLock = field(default_factory=threading.RLock)
    # account -> (when read, each phone its records hold as do-not-call -> all the phones of
    # those records), or None: too many to read whole
    _elsewhere: dict[str, tuple[float, dict[str, frozenset[str]]] | None] = field(
        default_factory=dict
    )
    _reading: dict[str, threading.Lock] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic

    def hash_key(self) -> PhoneKey:
        """The key phones are hashed with: the state's, else ENGAGE_SYNC_PHONE_KEY, else a new
        salt (one for the run, whichever account's thread asks first); recorded in the journal
        before the first hash made with it."""
        with self._guard:
            if self.key is None:
                self.key = key_from_env() or PhoneKey.new_salt()
            self.journal.dnc_key(self.key.to_json())
            return self.key

    def scope(self, account: str) -> set[int] | None:
        return self.campaigns.get(account, set()) if self.rules.scope == "campaign" else None

    def expect(self, stops: Sequence[Stop], accounts: Iterable[str]) -> None:
        """These phones are to be stopped in each of these accounts: none is recorded as
        stopped before all of them have confirmed it."""
        with self._guard:
            for s in stops:
                self.asked.setdefault(s.phone, set()).update(accounts)

    def sweep_everywhere(self, account: str, stops: Sequence[Stop]) -> set[str]:
        """Phones learned in this account: `sweep` here, then in every other account of the
        run; returns the phones not confirmed in one of them. No load anywhere in the run
        posts them from now on."""
        self.expect(stops, {account, *self.accounts})
        with self._guard:
            self.done.update(s.phone for s in stops)
            for other in self.working.intersection(self.accounts) - {account}:
                self.foreign.setdefault(other, {}).update((s.phone, s) for s in stops)
        failed = self.sweep(account, stops)
        for other in self.accounts:
            if other != account:
                failed |= self.sweep(other, stops)
        return failed

    def finished(self, account: str) -> None:
        """An account's loads are all answered (its thread is done)."""
        with self._guard:
            self.working.discard(account)

    def recheck(self) -> None:
        """Once no load is in flight: the accounts swept for a phone by another account's
        thread while they were loading are searched for it again, and a record that landed
        since is cancelled (its own ledger line)."""
        with self._guard:
            foreign, self.foreign = self.foreign, {}
        for account, stops in sorted(foreign.items()):
            self.sweep(account, list(stops.values()), again=True)

    def sweep(self, account: str, stops: Sequence[Stop], again: bool = False) -> set[str]:
        """Cancel every dialable record with one of these phones where the scope says, check,
        record each phone confirmed; returns the phones not confirmed (failed). One sweep of
        an account at a time (another account's thread may sweep it for a phone it learned).
        `again`: phones confirmed here already, looked at once more; a line is recorded only
        for a phone that had a dialable record."""
        with self._guard:
            lock = self._locks.setdefault(account, threading.Lock())
        with lock:
            return self._sweep(account, stops, again)

    def _sweep(self, account: str, stops: Sequence[Stop], again: bool) -> set[str]:
        wanted = {s.phone: s for s in stops if again or (account, s.phone) not in self.swept}
        if not wanted:
            return set()
        key = self.hash_key()
        scope = self.scope(account)
        forms = [f for phone in wanted for f in search_forms(phone)]
        try:
            records = self.client.leads.search_phones(account, forms, _sorted(scope))
        except ApiError as e:
            return self._failed(wanted, f"do-not-call search failed: {e}")
        searched = datetime.now(timezone.utc)
        hits = self._hits(records, wanted, scope)
        acts: dict[str, list[dict[str, Any]]] = {}
        failed: set[str] = set()
        by_campaign: dict[int, list[tuple[int, str]]] = {}
        for record, phone in hits:
            if record.dialable:
                by_campaign.setdefault(record.campaign_id, []).append((record.lead_id, phone))
        if again:  # only the phones a dialable record of which landed since
            landed = {phone for items in by_campaign.values() for _, phone in items}
            wanted = {p: s for p, s in wanted.items() if p in landed}
            if not wanted:
                return set()
        for cid, items in sorted(by_campaign.items()):
            for start in range(0, len(items), ACTION_BATCH):
                chunk = items[start : start + ACTION_BATCH]
                if not self._cancel(account, cid, chunk, key, acts):
                    failed.update(phone for _, phone in chunk)
        checked = searched
        if by_campaign:
            try:
                after = self.client.leads.search_phones(account, forms, _sorted(scope))
            except ApiError as e:
                return self._failed(wanted, f"do-not-call checking search failed: {e}")
            checked = datetime.now(timezone.utc)
            for record, phone in self._hits(after, wanted, scope):
                if record.dialable:
                    failed.add(phone)
                    self._error(
                        f"a record in campaign {record.campaign_id} with a do-not-call phone "
                        f"is still dialable after the cancel ({record.state})"
                    )
        self._record(account, wanted, hits, failed, key, checked, scope)
        with self._guard:
            self.swept.update((account, phone) for phone in wanted.keys() - failed)
        return failed

    def _hits(
        self, records: Iterable[LeadRecord], wanted: dict[str, Stop], scope: set[int] | None
    ) -> list[tuple[LeadRecord, str]]:
        """The records with one of the wanted phones (in scope), each with that phone."""
        found = []
        for r in records:
            if scope is not None and r.campaign_id not in scope:
                continue
            for raw in r.phones:
                phone = next(
                    (p for p in record_phones(raw, self.rules.phone_region) if p in wanted), None
                )
                if phone is not None:
                    found.append((r, phone))
                    break
        return found

    def _cancel(
        self,
        account: str,
        cid: int,
        chunk: list[tuple[int, str]],
        key: PhoneKey,
        acts: dict[str, list[dict[str, Any]]],
    ) -> bool:
        lead_ids = [i for i, _ in chunk]
        number = self.journal.dnc_act(
            cid, LeadAction.CANCEL.value, [(i, key.digest(p)) for i, p in chunk], account
        )
        try:
            result = self.client.leads.act(account, cid, LeadAction.CANCEL, lead_ids)
        except ApiError as e:
            self.journal.acted(number, False)
            self._error(scrub(f"cancel of {len(lead_ids)} do-not-call record(s) failed: {e}"))
            return False
        self.journal.acted(number, True, result.count)
        with self._guard:
            self.report.cancelled += len(lead_ids)
        return True

    def _record(
        self,
        account: str,
        wanted: dict[str, Stop],
        hits: list[tuple[LeadRecord, str]],
        failed: set[str],
        key: PhoneKey,
        confirmed: datetime,
        scope: set[int] | None,
    ) -> None:
        """Each phone confirmed in this account: its line in the ledger (with the cancels sent
        for it here), the owned records cancelled with it forgotten (not owned any more), and,
        once every account it was asked for has confirmed it, its hash in the state."""
        today = self.rules.today()
        state = self.journal.state
        moment = confirmed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        day = self.rules.date_of(confirmed)
        with self._guard:  # one account's record at a time: which confirmation is the last
            done: dict[str, list[Any]] = {}
            here: list[str] = []
            evidence = []
            forget: dict[int, set[str]] = {}
            for phone, stop in sorted(wanted.items()):
                if phone in failed:
                    continue
                digest = key.digest(phone)
                here.append(digest)
                seen = self.confirmed.setdefault(phone, set())
                seen.add(account)
                whole = seen >= self.asked.get(phone, {account})
                whole = whole and digest not in state.do_not_call.done
                mine = [r for r, p in hits if p == phone]
                for r in mine:  # the owned records this sweep cancelled (a tombstone's own
                    # were cancelled, and are recorded, by its removal)
                    camp = state.campaigns.get(r.campaign_id)
                    if r.dialable and camp is not None and camp.owns(r.extern_id):
                        forget.setdefault(r.campaign_id, set()).add(r.extern_id)
                requested = Requested(stop.requested, stop.requested_from)
                deadline = Deadline(requested, today, self.rules)
                fields = [stop.requested.isoformat(), stop.requested_from.value, moment]
                if whole:
                    done[digest] = fields
                    self.report.stopped += 1
                    self.report.learned += stop.source in LEARNED
                evidence.append(
                    {
                        "phone": digest,
                        "keyId": key.ident,
                        "requested": stop.requested.isoformat(),
                        "requestedFrom": stop.requested_from.value,
                        "source": stop.source,
                        "due": deadline.due.isoformat(),
                        "scope": "account" if scope is None else sorted(scope),
                        "campaigns": sorted({r.campaign_id for r in mine}),
                        "leadIds": sorted({r.lead_id for r in mine if r.dialable}),
                        "account": account,
                        "acts": [],  # the journal takes them from the state, atomically
                        "confirmed": moment,
                        "search": "leadSearch by phone (E.164, digits, national number): "
                        "nothing dialable",
                        "businessDays": max(0, deadline.taken(day)),
                        "met": day <= deadline.due,
                    }
                )
                self.done.add(phone)
            self.journal.dnc_done(done, evidence, forget, account, here)

    def skipped(self, leads: int) -> None:
        """Leads not loaded: Engage holds their phone as do-not-call (any account's thread)."""
        with self._guard:
            self.report.skipped += leads

    def _error(self, message: str) -> None:
        with self._guard:
            self.report.errors.append(message)

    def _failed(self, wanted: dict[str, Stop], message: str) -> set[str]:
        self._error(scrub(message))
        return set(wanted)

    # -- Engage's own opt-outs ---------------------------------------------------------------
    def held(self, account: str, phones: Sequence[str]) -> set[str]:
        """Of these phones (as loaded: the lead's own text), those a record in the scope holds
        in a do-not-call state (Engage's opt-outs win), in this account or another of the
        run: from the look-up made ahead when it covers them (lookahead.py), else one search
        per LOOKUP_CHUNK phones."""
        early = self.ahead.held(account, phones) if self.ahead is not None else None
        found = early if early is not None else self.search_held(account, phones)
        others = [other for other in self.accounts if other != account]
        if others:  # a run of one account (the usual) reads no phone here
            region = self.rules.phone_region
            wanted = {e for p in phones for e in record_phones(p, region)}
            for other in others:
                found = found | self._held_elsewhere(other, phones, wanted)
        return found

    def _held_elsewhere(self, other: str, phones: Sequence[str], wanted: set[str]) -> set[str]:
        """Of these phones (`wanted`: in E.164), those another account of the run holds as
        do-not-call, with the other phones of the records that hold them (as `search_held`
        answers): from its do-not-call records read whole (again once ELSEWHERE_S old), or,
        where they cannot be read whole, searched for as in `search_held`. A read that fails
        raises (the batch is not posted), and the next look-up reads again."""
        with self._guard:
            lock = self._reading.setdefault(other, threading.Lock())
        with lock:  # one read of an account's records at a time, whichever thread asks
            known = self._elsewhere.get(other, (float("-inf"), {}))
            if known is not None and self.clock() - known[0] > ELSEWHERE_S:
                known = self._read_elsewhere(other)
                self._elsewhere[other] = known
        if known is None:
            return self.search_held(other, phones)
        held = known[1]
        return {p for phone in wanted if phone in held for p in held[phone]}

    def _read_elsewhere(self, account: str) -> tuple[float, dict[str, frozenset[str]]] | None:
        scope, region = self.scope(account), self.rules.phone_region
        at = self.clock()
        records = self.client.leads.search_states_at_most(
            account, state_spellings(self.states), _sorted(scope), ELSEWHERE_PAGES
        )
        if records is None:
            return None
        held: dict[str, frozenset[str]] = {}
        for r in records:
            if normalise_state(r.state) in self.states and (
                scope is None or r.campaign_id in scope
            ):
                group = frozenset(record_phones("|".join(r.phones), region))
                for phone in group:
                    held[phone] = held.get(phone, frozenset()) | group
        return at, held

    def search_held(self, account: str, phones: Sequence[str]) -> set[str]:
        scope, region = self.scope(account), self.rules.phone_region
        return search_held(self.client, account, phones, scope, self.states, region, LOOKUP_CHUNK)


def _sorted(scope: set[int] | None) -> list[int] | None:
    return sorted(scope) if scope is not None else None


def engage_opt_outs(
    client: EngageApi,
    account: str,
    registry: Registry,
    states: Sequence[str] = DNC_STATES,
    campaigns: Sequence[int] | None = None,
) -> set[str]:
    """The phones (E.164) of the records Engage holds in a do-not-call state in the account (or
    these campaigns) that no do-not-call list of the repository names (a phone the state holds
    as a keyed hash is blocked already, but nobody can read it there): Engage's opt-outs to
    bring home
    (`plan --refresh` counts them, `engage-sync optouts pull` writes them into a list)."""
    spellings = state_spellings(states)
    criteria_campaigns = sorted(campaigns) if campaigns is not None else None
    found: set[str] = set()
    for r in client.leads.search_states(account, spellings, criteria_campaigns):
        if normalise_state(r.state) not in states:
            continue
        if campaigns is not None and r.campaign_id not in campaigns:
            continue
        for raw in r.phones:
            for phone in record_phones(raw, registry.region):
                if not registry.listed(phone):
                    found.add(phone)
    return found
