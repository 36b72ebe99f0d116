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
campaign, externId and request date. Each line carries its checksum (jsonl.py): a last line torn
by a crash mid-write is skipped on reading and dropped by the next append (its entry is still in
the journal, so that append writes it whole); any other line that does not read is damage, an
error naming the file and the line that stops reading and appending alike until the line is
restored from git (docs/optouts.md), for the evidence it held must not go missing unnoticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from .. import jsonl
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


class DamagedLedger(StateError):
    """A line of the ledger, not its last, does not read: the evidence it held is unknown."""

    def __init__(self, path: Path, lines: jsonl.Lines) -> None:
        after = lines.after(lines.damaged[0])
        super().__init__(
            "\n".join(d.where(path) for d in lines.damaged)
            + f"\nThe evidence ledger holds one line per opt-out carried out; the {after} "
            "intact line(s) after the damaged one are kept, and nothing was written. It is "
            f"committed with the state: `git diff -- {path}` shows what changed since the last "
            f"commit and `git log -p -- {path}` each line as it was appended; restore the "
            "damaged line from there (a line an older engage-sync left cut short by a crash "
            "appears whole further down: delete it), then run again (docs/optouts.md)."
        )
        self.damaged = lines.damaged


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The ledger's entries in order, each removal once; DamagedLedger when a line is damaged
    (a last line torn by a crash is skipped)."""
    return iter(_entries(_read(path)))


def _read(path: Path) -> jsonl.Lines:
    try:
        lines = jsonl.read(path)
    except FileNotFoundError:
        return jsonl.Lines((), (), False)
    except OSError as e:
        raise StateError(f"{path}: cannot read the evidence ledger: {e.strerror}") from e
    foreign = [
        jsonl.Damage(line.number, "not an evidence entry")
        for line in lines.records
        if "externId" not in line.record and "phone" not in line.record
    ]
    if lines.damaged or foreign:
        damaged = sorted((*lines.damaged, *foreign), key=lambda d: d.number)
        raise DamagedLedger(path, jsonl.Lines(lines.records, tuple(damaged), lines.torn))
    return lines


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
_BLOCK = 1 << 16


def append(path: Path, entries: Iterable[Entry]) -> int:
    """Append the entries the ledger does not hold yet, fsynced; returns how many. A last line
    torn by a crash is dropped first (never glued to): its entry is among these. It reads the
    ledger's last lines only (RECENT and as many as it appends), so an append costs what it
    appends, not what the ledger holds."""
    entries = list(entries)
    if not entries:
        return 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab+") as f:
            start, tail = _tail(f, len(entries) + RECENT)
            found = _checked(path, f, start, jsonl.parse(tail))
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
            if tail and not tail.endswith(b"\n"):  # a line torn by a crash, or its end lost
                if found.torn:
                    f.truncate(start + tail.rfind(b"\n") + 1)
                else:
                    f.seek(0, os.SEEK_END)
                    f.write(b"\n")
            f.seek(0, os.SEEK_END)
            f.write(b"".join(lines))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise StateError(f"{path}: cannot append to the evidence ledger: {e.strerror}") from e
    return len(lines)


def _tail(f: BinaryIO, lines: int) -> tuple[int, bytes]:
    """The file's last `lines` whole lines (and any cut-short last one), and where they start:
    read backwards a block at a time."""
    end = f.seek(0, os.SEEK_END)
    start, data = end, b""
    while start > 0 and data.count(b"\n") <= lines:
        step = min(_BLOCK, start)
        start -= step
        f.seek(start)
        data = f.read(step) + data
    parts = data.split(b"\n")  # whole lines, then what follows the last line end
    if len(parts) - 1 > lines or start > 0:  # the last `lines`: the first one read may be cut
        data = b"\n".join(parts[-(lines + 1) :])
        start = end - len(data)
    return start, data


def _checked(path: Path, f: BinaryIO, start: int, lines: jsonl.Lines) -> jsonl.Lines:
    """The ledger's last lines, or DamagedLedger naming the damaged ones by their line in the
    file (counted only then)."""
    foreign = [
        jsonl.Damage(line.number, "not an evidence entry")
        for line in lines.records
        if "externId" not in line.record and "phone" not in line.record
    ]
    if not (lines.damaged or foreign):
        return lines
    before = 0
    f.seek(0)
    while f.tell() < start:
        before += f.read(min(_BLOCK, start - f.tell())).count(b"\n")
    damaged = sorted((*lines.damaged, *foreign), key=lambda d: d.number)
    moved = tuple(jsonl.Damage(d.number + before, d.why) for d in damaged)
    records = tuple(jsonl.Line(r.number + before, r.record) for r in lines.records)
    raise DamagedLedger(path, jsonl.Lines(records, moved, lines.torn))
