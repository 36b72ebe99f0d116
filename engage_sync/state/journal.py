"""Append-only journal of an apply in progress, so a crash never loses an acknowledged lead.

Rewriting a large state file after every batch would be slow, so apply appends one fsynced line per
event instead: `begin` before a batch is posted, `ack` with the state entries once Engage accepted
it, `fail` when it did not; `act` before a lead action (cancel, delete) is sent and `acted` after
its answer, both with the lead ids; `forget` once removed leads are confirmed not dialable.
Loading the state replays the journal; a `begin` with no answer
marks its leads as in doubt. At the end of an apply the journal is folded into a new state
file and removed.

Each line carries its checksum (jsonl.py). A last line cut short by a crash is ignored (what it
was about to record was not sent yet, or its batch stays in doubt); any other line that does not
read stops every command that loads the state, naming it, until `state recover` folds the rest
(docs/state.md: what a damaged line puts at stake and why that is the safe answer).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

from .. import jsonl
from ..errors import StateError
from ..model import Lead
from .file import State, save_state, v1_fieldset_id

VERSION = 2  # version 1 (engage-sync before state format 2) is still replayed


def now() -> str:
    """A moment as the journal and the ledger write it: UTC, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def journal_path(state: State) -> Path:
    return state.path.with_name(state.path.name + ".journal")


class DamagedJournal(StateError):
    """A line of the journal, not its last, does not read: what it recorded is unknown."""

    def __init__(self, path: Path, lines: jsonl.Lines) -> None:
        first = lines.damaged[0]
        super().__init__(
            "\n".join(d.where(path) for d in lines.damaged)
            + "\nThis is the journal of an apply cut short, and a damaged line may have recorded "
            "leads Engage accepted, a batch in flight or a removal: planning or applying from it "
            f"could post those leads again. The {lines.after(first)} intact line(s) after it are "
            "kept; nothing was changed. Run `engage-sync state recover`: it folds every intact "
            "line into the state and marks in doubt every lead the lead sets would post, so the "
            "next apply looks each one up in Engage before posting it (docs/state.md)."
        )
        self.damaged = lines.damaged


def replay(state: State) -> bool:
    """Apply a journal left next to the state; True if there was one to fold. A damaged line
    (not a last one torn by a crash) raises DamagedJournal, naming it."""
    lines = _read(state)
    return lines is not None and _replay(state, lines, salvage=False) is not None


def salvage(state: State) -> tuple[jsonl.Damage, ...]:
    """Apply every intact line of a journal, damaged or not; returns the damaged lines (the
    caller decides what the leads they may have covered need: `state recover`)."""
    lines = _read(state)
    return (lines and _replay(state, lines, salvage=True)) or ()


def _read(state: State) -> jsonl.Lines | None:
    path = journal_path(state)
    try:
        return jsonl.read(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"{path}: cannot read journal: {e.strerror}") from e


def _replay(state: State, lines: jsonl.Lines, salvage: bool) -> tuple[jsonl.Damage, ...] | None:
    """Replay `lines` into `state`: None when there was nothing to replay, else the damaged
    lines (raised as DamagedJournal unless `salvage`)."""
    path = journal_path(state)
    body = list(lines.records)
    damaged = list(lines.damaged)
    head = body[0].record if body and body[0].number == 1 else None
    if head is not None:
        del body[0]
        if not _is_head(head):  # intact, yet not a head: a line without a checksum
            head = None
            damaged.insert(0, jsonl.Damage(1, "not the head of a journal"))
    if head is not None:
        version = head.get("journal")
        if version not in (1, VERSION):
            raise StateError(f"{path}: unknown journal version {head.get('journal')!r}")
        if state.exists and head.get("lineage") != state.lineage:
            raise StateError(f"{path}: journal belongs to another state (lineage differs)")
        if state.exists and int(head.get("base_serial", -1)) < state.serial:
            return None  # already folded into this state by an earlier run
        state.lineage = head["lineage"]
    elif not damaged:
        return None  # empty, or a first line torn by a crash: nothing was sent
    else:  # the head is lost: whose journal and whether it was folded are unknown, and
        # replaying a journal twice changes nothing a lookup in Engage does not settle
        version = _version_of([line.record for line in body])
        state.ensure_lineage()
    pending: dict[int, tuple[int, list[str]]] = {}
    acting: dict[int, dict[str, Any]] = {}
    for line in body:
        try:
            _apply(state, line.record, version, pending, acting)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            damaged.append(jsonl.Damage(line.number, f"not a journal record: {e!r}"))
    damaged.sort(key=lambda d: d.number)
    if damaged and not salvage:
        raise DamagedJournal(path, jsonl.Lines(tuple(body), tuple(damaged), False))
    for rec in acting.values():  # sent, never answered: it may have been carried out
        _note_act(state, rec, None, answered=False)
    for campaign, ids in pending.values():
        state.campaign(campaign).doubt(ids)
    return tuple(damaged)


def _is_head(record: dict[str, Any]) -> bool:
    try:
        return "journal" in record and "lineage" in record and int(record["base_serial"]) >= 0
    except (TypeError, ValueError):
        return False


def _apply(
    state: State,
    rec: dict[str, Any],
    version: int,
    pending: dict[int, tuple[int, list[str]]],
    acting: dict[int, dict[str, Any]],
) -> None:
    """One journal line's change to the state (a begin or an act waits for its answer)."""
    batch = int(rec.get("batch", -1))
    if "begin" in rec:
        pending[batch] = (int(rec["campaign"]), [str(e) for e in rec["ids"]])
    elif "ack" in rec:
        camp = state.campaign(int(rec["campaign"]))
        entries = rec["entries"]
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise ValueError("entries are not state entries")
        fieldsets = rec.get("fieldsets", {})
        if version == 1:
            known = {v1_fieldset_id(v): v for v in camp.fieldsets.values()}
            entries, fieldsets = camp.adopt_v1(entries, {**known, **fieldsets}), None
        pending.pop(batch, None)
        camp.accept(entries, fieldsets, rec.get("file"), rec.get("options"))
    elif "fail" in rec:
        pending.pop(batch, None)
    elif "forget" in rec:
        state.campaign(int(rec["campaign"])).forget([str(e) for e in rec["ids"]])
        state.evidence.extend(dict(e) for e in rec.get("evidence", []))
    elif "requested" in rec:
        state.campaign(int(rec["campaign"])).note_requested(dict(rec["dates"]))
    elif "act" in rec and "byExternId" in rec:
        int(rec["campaign"]), str(rec["leadAction"]), dict(rec["byExternId"])  # all there
        acting[batch] = rec
    elif "acted" in rec and batch in acting:
        sent = acting.pop(batch)
        if rec.get("ok"):  # a failed action did nothing
            _note_act(state, sent, rec.get("at"), answered=True)
    # a removal counts only once `forget` is written, so an action cut short by a crash is
    # simply done again (cancelling twice is harmless); what was sent is kept as evidence


def _version_of(records: list[dict[str, Any]]) -> int:
    """A journal's version when its head is lost: version 1 wrote 16 hex characters of hash."""
    for rec in records:
        for entry in rec.get("entries", {}).values() if "ack" in rec else ():
            return 1 if len(str(entry).split(" ", 1)[0]) == 16 else VERSION
    return VERSION


def _note_act(state: State, act: dict[str, Any], at: str | None, answered: bool) -> None:
    """An `act` line (and the time of its answer, if any) as evidence for each externId."""
    when = at or act.get("at")
    state.campaign(int(act["campaign"])).acted(
        {
            eid: {"action": act["leadAction"], "leadIds": ids, "at": when, "answered": answered}
            for eid, ids in act["byExternId"].items()
        }
    )


F = TypeVar("F", bound=Callable[..., Any])


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
        self.path = journal_path(state)
        self._batch = 0
        self._open: dict[int, list[str]] = {}  # batches posted and not answered yet
        self._acting: dict[int, dict[str, Any]] = {}  # lead actions sent, not answered yet
        self._file: IO[bytes] | None = None
        # lead sets of different accounts are applied together: one writer at a time, and the
        # in-memory state changes with its journal line
        self._lock = threading.RLock()
        self._recorded = False  # an ack or a forget: the state holds something new

    def __enter__(self) -> Journal:
        if self.path.exists():  # an earlier run's journal, replayed on load: fold it first
            save_state(self.state)
            self.path.unlink(missing_ok=True)
        lineage = self.state.ensure_lineage()
        try:
            self._file = self.path.open("ab")
        except OSError as e:
            raise StateError(f"{self.path}: cannot write journal: {e.strerror}") from e
        self._write({"journal": VERSION, "lineage": lineage, "base_serial": self.state.serial})
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            assert self._file is not None
            self._file.write(jsonl.dumps(record))
            self._file.flush()
            os.fsync(self._file.fileno())

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

    @_locked
    def fail(self, batch: int, campaign: int) -> None:
        """Engage refused the whole batch: none of it is in doubt."""
        self._write({"fail": True, "batch": batch})
        self.state.campaign(campaign).settle(self._open.pop(batch, ()))

    @_locked
    def act(self, campaign: int, lead_action: str, records: Sequence[tuple[int, str]]) -> int:
        """Before a lead action is sent: what it is meant to do, to which records (lead id,
        externId)."""
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
            _note_act(self.state, sent, at, answered=True)

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
        self.path.unlink(missing_ok=True)
