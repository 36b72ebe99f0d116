"""Reading the journal an apply left back into the state: on load, and by `state recover`.

A `begin` with no answer marks its leads as in doubt; an `act` with none is kept as evidence
that may have been carried out. Each line carries its checksum (jsonl.py). A last line cut short
by a crash is ignored (what it was about to record was not sent yet, or its batch stays in
doubt); any other line that does not read stops every command that loads the state, naming it,
until `state recover` folds the rest (docs/state.md: what a damaged line puts at stake and why
that is the safe answer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import StateError
from ..store import FileStore, Item
from .file import State, v1_fieldset_id

VERSION = 2  # version 1 (engage-sync before state format 2) is still replayed


def journal_path(state: State) -> Path:
    """The journal's file, for a state kept in files (tools and tests that edit it)."""
    assert isinstance(state.store, FileStore), state.store
    return state.store.path(Item.JOURNAL)


class DamagedJournal(StateError):
    """A line of the journal, not its last, does not read: what it recorded is unknown."""

    def __init__(self, path: str, lines: jsonl.Lines) -> None:
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
    blob = state.store.read(Item.JOURNAL)
    return None if blob is None else jsonl.parse(blob.data)


def _replay(state: State, lines: jsonl.Lines, salvage: bool) -> tuple[jsonl.Damage, ...] | None:
    """Replay `lines` into `state`: None when there was nothing to replay, else the damaged
    lines (raised as DamagedJournal unless `salvage`)."""
    path = state.store.where(Item.JOURNAL)
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
    dnc_acting: dict[int, dict[str, Any]] = {}
    for line in body:
        try:
            _apply(state, line.record, version, pending, acting, dnc_acting)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            damaged.append(jsonl.Damage(line.number, f"not a journal record: {e!r}"))
    damaged.sort(key=lambda d: d.number)
    if damaged and not salvage:
        raise DamagedJournal(path, jsonl.Lines(tuple(body), tuple(damaged), False))
    for rec in acting.values():  # sent, never answered: it may have been carried out
        note_act(state, rec, None, answered=False)
    for rec in dnc_acting.values():
        note_dnc_act(state, rec, None, answered=False)
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
    dnc_acting: dict[int, dict[str, Any]],
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
    elif "dncDone" in rec:  # before `forget`: it carries the owned leads it forgets too
        dnc_done(state, rec)
    elif "retarget" in rec:
        state.campaign(int(rec["campaign"])).retarget(str(rec["retarget"]))
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
            note_act(state, sent, rec.get("at"), answered=True)
    # do not call (issue #30): the key, cancels by phone, phones confirmed stopped
    elif "dncKey" in rec:
        state.do_not_call.keyed(rec["dncKey"])
    elif "dncAct" in rec:
        dict(rec["byPhone"])  # all there
        dnc_acting[batch] = rec
    elif "acted" in rec and batch in dnc_acting:
        sent = dnc_acting.pop(batch)
        if rec.get("ok"):
            note_dnc_act(state, sent, rec.get("at"), answered=True)
    # a removal counts only once `forget` is written, so an action cut short by a crash is
    # simply done again (cancelling twice is harmless); what was sent is kept as evidence


def _version_of(records: list[dict[str, Any]]) -> int:
    """A journal's version when its head is lost: version 1 wrote 16 hex characters of hash."""
    for rec in records:
        for entry in rec.get("entries", {}).values() if "ack" in rec else ():
            return 1 if len(str(entry).split(" ", 1)[0]) == 16 else VERSION
    return VERSION


def note_act(state: State, act: dict[str, Any], at: str | None, answered: bool) -> None:
    """An `act` line (and the time of its answer, if any) as evidence for each externId."""
    when = at or act.get("at")
    replacing = set(act.get("replacing", ()))
    state.campaign(int(act["campaign"])).acted(
        {
            eid: {"action": act["leadAction"], "leadIds": ids, "at": when, "answered": answered}
            | ({"replacing": True} if eid in replacing else {})
            for eid, ids in act["byExternId"].items()
        }
    )


def note_dnc_act(state: State, act: dict[str, Any], at: str | None, answered: bool) -> None:
    """A `dncAct` line (and the time of its answer) as evidence for each phone's hash."""
    state.do_not_call.acted(
        {
            digest: {
                "action": act["leadAction"],
                "campaign": act["campaign"],
                "leadIds": ids,
                "at": at or act.get("at"),
                "answered": answered,
                **({"account": act["account"]} if "account" in act else {}),
            }
            for digest, ids in act["byPhone"].items()
        }
    )


def dnc_done(state: State, rec: dict[str, Any]) -> None:
    """Phones confirmed stopped: blocked for good; the owned records cancelled with them are
    forgotten (not owned any more); their evidence goes to the ledger."""
    state.do_not_call.stopped(rec["dncDone"], rec.get("account"), rec.get("dncHere"))
    for cid, ids in rec.get("forget", {}).items():
        state.campaign(int(cid)).forget(ids)
    state.evidence.extend(rec.get("evidence", []))
