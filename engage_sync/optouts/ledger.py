"""The evidence ledger: one line per opt-out carried out, appended once and never rewritten.

It sits beside the state (`engage-sync.state.json` -> `engage-sync.evidence.jsonl`, in the
state's store: engage_sync/store/) and is committed with it. A line holds no lead values: the
campaign, the externId, when the person asked (and how that is known), the commit that
tombstoned it, the deadline, each cancel or delete sent (its Engage lead ids and when it was
answered), when the search that found nothing dialable ran, and the business days it took.

How it survives: apply writes a removal's evidence into its journal (fsynced) in the same line
that records the removal, and the ledger gets it when the journal is folded, before the state
file is replaced. A crash before the fold leaves the journal, which the next run folds; a crash
between the ledger append and the state's replacement leaves the journal too, and the line is
not appended twice: a line is only appended when the ledger has no line with the same
campaign, externId and request date. Each line carries its checksum (jsonl.py): a last line torn
by a crash mid-write is skipped on reading and dropped by the next append (its entry is still in
the journal, so that append writes it whole); any other line that does not read is damage, an
error naming the file and the line that stops reading and appending alike until the line is
restored from git (docs/optouts.md), for the evidence it held must not go missing unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import StateError
from ..store import FileStore, Item, Store, Tail, ledger_path
from .deadlines import Deadline

Entry = Mapping[str, Any]
__all__ = ["DamagedLedger", "append", "entry", "key", "ledger_path", "read"]


def entry(
    campaign: int,
    extern_id: str,
    deadline: Deadline,
    acts: Sequence[Mapping[str, Any]],
    confirmed: datetime,
) -> dict[str, Any]:
    """The ledger line of one removal, confirmed (a search found nothing dialable) at
    `confirmed`; `acts` are the cancels and deletes sent for it, in this run or one cut short."""
    day = deadline.rules.date_of(confirmed)
    return {
        "campaign": campaign,
        "externId": extern_id,
        "requested": deadline.requested.day.isoformat(),
        "requestedFrom": deadline.requested.source.value,
        "commit": deadline.requested.commit,
        "due": deadline.due.isoformat(),
        "acts": [dict(a) for a in acts],
        "confirmed": confirmed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "businessDays": max(0, deadline.taken(day)),  # a request dated ahead by a time zone
        "met": day <= deadline.due,
    }


def key(entry: Entry) -> tuple[object, ...]:
    """One removal: the same person asking on another day is another removal. A phone stopped
    by do not call (issue #30) is its keyed hash (`phone`), in no one campaign: a line for each
    account it was stopped in, and for each set of records cancelled for it there (a record
    that landed beside another account's sweep is cancelled, and confirmed, once more; an
    account confirmed again while another is retried, with nothing to cancel, is not)."""
    if "phone" in entry:
        ids = entry.get("leadIds")
        return (
            None,
            entry.get("account"),
            entry.get("phone"),
            entry.get("requested"),
            tuple(map(str, ids)) if isinstance(ids, list) else None,
        )
    return (entry.get("campaign"), entry.get("externId"), entry.get("requested"))


class DamagedLedger(StateError):
    """A line of the ledger, not its last, does not read: the evidence it held is unknown."""

    def __init__(self, store: Store, lines: jsonl.Lines) -> None:
        after = lines.after(lines.damaged[0])
        super().__init__(
            "\n".join(d.where(store.where(Item.LEDGER)) for d in lines.damaged)
            + f"\nThe evidence ledger holds one line per opt-out carried out; the {after} "
            "intact line(s) after the damaged one are kept, and nothing was written. "
            f"{_sentence(store.restore(Item.LEDGER))} (a line an older engage-sync left cut "
            "short by a crash appears whole further down: delete it), then run again "
            "(docs/optouts.md)."
        )
        self.damaged = lines.damaged


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:]


def read(where: Store | Path) -> Iterator[dict[str, Any]]:
    """The ledger's entries in order, each removal once; DamagedLedger when a line is damaged
    (a last line torn by a crash is skipped). `where`: the state's store, or the ledger file."""
    return iter(_entries(_read(_store(where))[0]))


def _store(where: Store | Path) -> Store:
    return FileStore({Item.LEDGER: where}) if isinstance(where, Path) else where


def _read(store: Store) -> tuple[jsonl.Lines, str | None]:
    """The ledger's lines and the store's revision of them (None: no ledger yet)."""
    blob = store.read(Item.LEDGER)
    if blob is None:
        return jsonl.Lines((), (), False), None
    lines = jsonl.parse(blob.data)
    foreign = [
        jsonl.Damage(line.number, "not an evidence entry")
        for line in lines.records
        if "externId" not in line.record and "phone" not in line.record
    ]
    if lines.damaged or foreign:
        damaged = sorted((*lines.damaged, *foreign), key=lambda d: d.number)
        raise DamagedLedger(store, jsonl.Lines(lines.records, tuple(damaged), lines.torn))
    return lines, blob.revision


def _entries(lines: jsonl.Lines) -> list[dict[str, Any]]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for line in lines.records:
        k = key(line.record)
        if k not in seen:
            seen.add(k)
            out.append(line.record)
    return out


# lines at the ledger's end an append reads besides as many as it appends: their damage stops
# it, and an entry among them is not appended again (a crash between the ledger's append and
# the state's replacement leaves the journal, whose fold appends the same entries: they are
# the last lines). Damage further up is for `read` (the `evidence` command) to find.
RECENT = 1_000


def append(where: Store | Path, entries: Iterable[Entry]) -> int:
    """Append the entries the ledger does not hold yet, durably; returns how many. A last line
    torn by a crash is dropped first (never glued to): its entry is among these. It reads the
    ledger's last lines only (RECENT and as many as it appends), so an append to a file costs
    what it appends, not what the ledger holds."""
    entries = list(entries)
    if not entries:
        return 0
    store = _store(where)
    tail = store.tail(Item.LEDGER, len(entries) + RECENT)
    found = _checked(store, tail)
    wanted = {key(e) for e in entries}
    have = {key(line.record) for line in found.records if key(line.record) in wanted}
    lines = []
    for e in entries:
        k = key(e)
        if k not in have:
            have.add(k)
            lines.append(jsonl.dumps(dict(e)))
    if not lines:
        return 0
    revision = tail.revision if tail is not None else None
    store.append(Item.LEDGER, b"".join(lines), revision, found.torn)
    return len(lines)


def _checked(store: Store, tail: Tail | None) -> jsonl.Lines:
    """The ledger's last lines, or DamagedLedger naming the damaged ones by their line in the
    ledger (counted only then)."""
    if tail is None:
        return jsonl.Lines((), (), False)
    lines = jsonl.parse(tail.data)
    foreign = [
        jsonl.Damage(line.number, "not an evidence entry")
        for line in lines.records
        if "externId" not in line.record and "phone" not in line.record
    ]
    if not (lines.damaged or foreign):
        return lines
    before = 0
    if tail.start:
        whole = store.read(Item.LEDGER)
        before = whole.data[: tail.start].count(b"\n") if whole is not None else 0
    damaged = sorted((*lines.damaged, *foreign), key=lambda d: d.number)
    moved = tuple(jsonl.Damage(d.number + before, d.why) for d in damaged)
    records = tuple(jsonl.Line(r.number + before, r.record) for r in lines.records)
    raise DamagedLedger(store, jsonl.Lines(records, moved, lines.torn))
