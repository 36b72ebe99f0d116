"""Append-only journal of an apply in progress, so a crash never loses an acknowledged lead.

Rewriting a large state file after every batch would be slow, so apply appends one synced line per
event instead: `begin` before a batch is posted, `ack` with the state entries once Engage accepted
it, `fail` when it did not; `act` before a lead action (cancel, delete) is sent and `acted` after
its answer, both with the lead ids; `forget` once removed leads are confirmed not dialable.
Loading the state replays the journal; a `begin` with no answer
marks its leads as in doubt. At the end of an apply the journal is folded into a new state
file and removed.

Each line carries its checksum (jsonl.py); replay.py reads a journal back, damaged or not.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from .. import jsonl
from ..model import Lead
from ..store import Appender, Item
from .donotcall import acts_for
from .file import State, save_state
from .replay import VERSION, dnc_done, note_act, note_dnc_act


def now() -> str:
    """A moment as the journal and the ledger write it: UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


F = TypeVar("F", bound=Callable[..., Any])
# leads recorded in a campaign before their state entries go to disk (spill.py): the in-memory
# state of a first apply of a million leads stays at a few megabytes
SPILL_AT = 20_000


def _locked(method: F) -> F:
    """One journal line and its change to the state at a time (threads of several accounts)."""

    @functools.wraps(method)
    def wrapper(self: Journal, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Journal:
    """The journal of one apply. Use as a context manager; `fold()` ends it cleanly."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.store = state.store
        self._batch = 0
        self._open: dict[int, list[str]] = {}  # batches posted and not answered yet
        self._acting: dict[int, dict[str, Any]] = {}  # lead actions sent, not answered yet
        self._dnc_acting: dict[int, dict[str, Any]] = {}  # cancels by phone, not answered
        self._out: Appender | None = None
        # lead sets of different accounts are applied together: one writer at a time, and the
        # in-memory state changes with its journal line
        self._lock = threading.RLock()
        self._recorded = False  # an ack or a forget: the state holds something new
        self._fresh: dict[int, list[str]] = {}  # recorded by this run, still in memory

    def __enter__(self) -> Journal:
        if self.store.exists(Item.JOURNAL):  # an earlier run's, replayed on load: fold it first
            save_state(self.state)
            self.store.delete(Item.JOURNAL)
        lineage = self.state.ensure_lineage()
        self._out = self.store.appender(Item.JOURNAL)
        self._write({"journal": VERSION, "lineage": lineage, "base_serial": self.state.serial})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            assert self._out is not None
            self._out.write(jsonl.dumps(record))

    @_locked
    def begin(self, campaign: int, extern_ids: Iterable[str]) -> int:
        """Before a batch is posted: its leads are in doubt until Engage answers."""
        self._batch += 1
        ids = list(extern_ids)
        self._write({"begin": True, "batch": self._batch, "campaign": campaign, "ids": ids})
        self._open[self._batch] = ids
        self.state.campaign(campaign).doubt(ids)
        return self._batch

    @_locked
    def ack(
        self,
        batch: int,
        campaign: int,
        leads: Iterable[Lead],
        file: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        """Record leads Engage accepted: durable in the journal, then in the in-memory state."""
        camp = self.state.campaign(campaign)
        known = set(camp.fieldsets)
        entries = {lead.extern_id: camp.encode(lead) for lead in leads}
        new_sets = {k: list(v) for k, v in camp.fieldsets.items() if k not in known}
        self._write(
            {
                "ack": True,
                "batch": batch,
                "campaign": campaign,
                "entries": entries,
                "fieldsets": new_sets,
                "file": file,
                "options": options,
            }
        )
        camp.accept(entries, None, file, options)
        camp.settle(self._open.pop(batch, ()))
        self._recorded = True
        fresh = self._fresh.setdefault(campaign, [])
        fresh.extend(entries)
        if len(fresh) >= SPILL_AT:
            camp.spill(fresh)
            fresh.clear()

    @_locked
    def fail(self, batch: int, campaign: int) -> None:
        """Engage refused the whole batch: none of it is in doubt."""
        self._write({"fail": True, "batch": batch})
        self.state.campaign(campaign).settle(self._open.pop(batch, ()))

    @_locked
    def act(
        self,
        campaign: int,
        lead_action: str,
        records: Sequence[tuple[int, str]],
        replacing: Collection[str] = (),
    ) -> int:
        """Before a lead action is sent: what it is meant to do, to which records (lead id,
        externId). `replacing`: those externIds whose record is stopped for an update or a
        replacement, to be loaded again once the load that follows succeeds (seed 5008)."""
        self._batch += 1
        by_extern: dict[str, list[int]] = {}
        for lead_id, eid in records:
            by_extern.setdefault(eid, []).append(lead_id)
        record = {
            "act": True,
            "batch": self._batch,
            "campaign": campaign,
            "leadAction": lead_action,
            "leadIds": [lead_id for lead_id, _ in records],
            "externIds": sorted(by_extern),
            "byExternId": by_extern,
            "at": now(),
        }
        if replacing:
            record["replacing"] = sorted(set(replacing) & set(by_extern))
        self._write(record)
        self._acting[self._batch] = record
        return self._batch

    @_locked
    def acted(self, batch: int, ok: bool, count: int | None = None) -> None:
        """After its answer: done (with Engage's count), or not."""
        at = now()
        self._write({"acted": True, "batch": batch, "ok": ok, "count": count, "at": at})
        sent = self._acting.pop(batch, None)
        if sent is not None and ok:
            note_act(self.state, sent, at, answered=True)
            self._recorded = True  # what Engage did is kept, even if nothing else is recorded
        dnc = self._dnc_acting.pop(batch, None)
        if dnc is not None and ok:
            note_dnc_act(self.state, dnc, at, answered=True)
            self._recorded = True

    @_locked
    def requested(self, campaign: int, dates: Mapping[str, str]) -> None:
        """When pending opt-outs were asked for, as first known (kept until they are done)."""
        camp = self.state.campaign(campaign)
        new = camp.earlier_requests(dates)
        if not new:
            return
        self._write({"requested": True, "campaign": campaign, "dates": new})
        camp.note_requested(new)
        self._recorded = True

    @_locked
    def retarget(self, campaign: int, target: str) -> None:
        """Before the first lead is posted to a campaign's new account or service: from here on
        the state holds what that one holds (CampaignState.retarget)."""
        if self.state.campaign(campaign).target == target:
            return
        self._write({"retarget": target, "campaign": campaign})
        self.state.campaign(campaign).retarget(target)
        self._recorded = True

    @_locked
    def forget(
        self,
        campaign: int,
        extern_ids: Iterable[str],
        evidence: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Removed leads, confirmed not dialable: durable in the journal, then in the state;
        the evidence of the opt-outs among them goes to the ledger when the state is saved."""
        ids = sorted(set(extern_ids))
        if not ids:
            return
        record: dict[str, Any] = {"forget": True, "campaign": campaign, "ids": ids}
        if evidence:
            record["evidence"] = [dict(e) for e in evidence]
        self._write(record)
        self.state.campaign(campaign).forget(ids)
        self.state.evidence.extend(record.get("evidence", []))
        self._recorded = True

    # -- do not call (issue #30) ---------------------------------------------------------------
    @_locked
    def dnc_key(self, key: Mapping[str, Any]) -> None:
        """The key phone hashes are made with, before the first of them is written."""
        if self.state.do_not_call.key is not None:
            return
        self._write({"dncKey": dict(key)})
        self.state.do_not_call.keyed(key)
        self._recorded = True

    @_locked
    def dnc_act(
        self,
        campaign: int,
        lead_action: str,
        records: Sequence[tuple[int, str]],
        account: str | None = None,
    ) -> int:
        """Before a cancel by phone is sent: the records (lead id, the phone's keyed hash), in
        this account's campaign."""
        self._batch += 1
        by_phone: dict[str, list[int]] = {}
        for lead_id, digest in records:
            by_phone.setdefault(digest, []).append(lead_id)
        record = {
            "dncAct": True,
            "batch": self._batch,
            "campaign": campaign,
            "leadAction": lead_action,
            "leadIds": [lead_id for lead_id, _ in records],
            "byPhone": by_phone,
            "at": now(),
        }
        if account is not None:
            record["account"] = account
        self._write(record)
        self._dnc_acting[self._batch] = record
        return self._batch

    @_locked
    def dnc_done(
        self,
        confirmed: Mapping[str, list[Any]],
        evidence: Sequence[Mapping[str, Any]] = (),
        forget: Mapping[int, Iterable[str]] | None = None,
        account: str | None = None,
        here: Sequence[str] | None = None,
    ) -> None:
        """Phones confirmed stopped in this account (`here`, their hashes; None: those of
        `confirmed`), with their ledger lines and the owned externIds whose records were
        cancelled with them; `confirmed` (hash -> [requested, from, confirmed]): those now
        stopped in every account the run was to stop them in, blocked for good. Each line's
        `acts` are the cancels it takes from the state, taken here, under the journal's lock:
        another account's cancel answered meanwhile is either in the line or kept."""
        if not confirmed and not here:
            return
        record: dict[str, Any] = {"dncDone": {k: list(v) for k, v in confirmed.items()}}
        if account is not None:
            record["account"] = account
        if here is not None:
            record["dncHere"] = list(here)
        gone = {str(cid): sorted(set(ids)) for cid, ids in (forget or {}).items() if ids}
        if gone:
            record["forget"] = gone
        if evidence:
            dnc = self.state.do_not_call
            record["evidence"] = [
                {**e, "acts": acts_for(dnc, e["phone"], account, e["phone"] in confirmed)}
                if "phone" in e
                else dict(e)
                for e in evidence
            ]
        self._write(record)
        dnc_done(self.state, record)
        self._recorded = True

    @property
    def changed(self) -> bool:
        """Whether the state differs from the file: leads recorded or forgotten, or batches
        sent with no answer (in doubt). A run that failed before posting changed nothing."""
        return self._recorded or bool(self._open)

    def fold(self, seals: bool = False) -> None:
        """Write the state with everything recorded (when anything was, or `seals` changed),
        then drop the journal: an apply that recorded nothing leaves the file as it was."""
        if self.changed or seals:
            save_state(self.state)
        self.__exit__()
        self.store.delete(Item.JOURNAL)
