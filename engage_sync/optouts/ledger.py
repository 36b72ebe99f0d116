"""The evidence ledger: one line per opt-out carried out, appended once and never rewritten.

It sits beside the state (`engage-sync.state.json` -> `engage-sync.evidence.jsonl`) and is
committed with it. A line holds no lead values: the campaign, the externId, when the person
asked (and how that is known), the commit that tombstoned it, the deadline, each cancel or
delete sent (its Engage lead ids and when it was answered), when the search that found nothing
dialable ran, and the business days it took.

How it survives: apply writes a removal's evidence into its journal (fsynced) in the same line
that records the removal, and the ledger gets it when the journal is folded, before the state
file is replaced. A crash before the fold leaves the journal, which the next run folds; a crash
between the ledger append and the state's replacement leaves the journal too, and the line is
not appended twice: a line is only appended when the ledger has no line with the same
campaign, externId and request date. A line torn by a crash mid-write is skipped on reading and
never glued to (the next append starts on a new line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import StateError
from .deadlines import Deadline

Entry = Mapping[str, Any]


def ledger_path(state_path: Path) -> Path:
    """`engage-sync.state.json` -> `engage-sync.evidence.jsonl` (`x.json` -> `x.evidence.jsonl`)."""
    name = state_path.name
    for suffix in (".state.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return state_path.with_name(f"{name}.evidence.jsonl")


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
    by do not call (issue #30) is its keyed hash (`phone`), in no one campaign."""
    if "phone" in entry:
        return (None, None, entry.get("phone"), entry.get("requested"))
    return (entry.get("campaign"), entry.get("externId"), entry.get("requested"))


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The ledger's entries in order, each removal once (a line that is not an entry, such as
    one torn by a crash, is skipped)."""
    seen: set[tuple[object, ...]] = set()
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as e:
        raise StateError(f"{path}: cannot read the evidence ledger: {e.strerror}") from e
    with f:
        for raw in f:
            try:
                entry = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(entry, dict) or ("externId" not in entry and "phone" not in entry):
                continue
            k = key(entry)
            if k not in seen:
                seen.add(k)
                yield entry


def append(path: Path, entries: Iterable[Entry]) -> int:
    """Append the entries the ledger does not hold yet, fsynced; returns how many."""
    entries = list(entries)
    if not entries:
        return 0
    wanted = {key(e) for e in entries}
    have = {key(e) for e in read(path) if key(e) in wanted}
    lines = []
    for e in entries:
        k = key(e)
        if k not in have:
            have.add(k)
            lines.append(json.dumps(e, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    if not lines:
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab+") as f:
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":  # a line torn by a crash: never glue onto it
                    f.write(b"\n")
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise StateError(f"{path}: cannot append to the evidence ledger: {e.strerror}") from e
    return len(lines)
