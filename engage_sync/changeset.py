"""What a plan would do, as the set of changes a reviewer approves: the unit reviews compose in.

Each change apply would carry out is one item, a tab-separated line:

    campaign  action  externId  before  after  key

`before` is the state's content hash the change replaces (empty for a create, or a tombstone of
a lead never loaded), `after` the content hash it posts (a load) or why it is removed
(`removed` for a tombstone, `prune`), and `key` a short hash of what else decides the result: the
account and the load options a lead is posted with, or the removal's action. Leads that stay
unchanged, orphans (apply does nothing with them), the state's serial and lineage are not items:
two pull requests reviewed on the same main therefore still match after the other was applied,
as long as they do not change the same leads (then `before` differs).

The checksum is a sha256 over the items, campaign by campaign and kind by kind in the order a plan
lists them; the change-set file (`ci plan` keeps it beside the plan) holds the same lines, so the
checksum of a file can be checked against the one a reviewer saw. Items carry externIds and
hashes only, never lead values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .display import printable
from .errors import ChangeSetError, EngageSyncError
from .model import (
    Change,
    ChangeKind,
    LeadSetPlan,
    LoadOptions,
    Plan,
    PruneAction,
    RemoveReason,
    SettingsChange,
    StreamedChanges,
    short_hash,
)

HEADER = "# engage-sync change set 1 checksum "
# the order a plan lists a campaign's changes in (LeadSetPlan.changes), orphans aside
KINDS = (
    ChangeKind.REMOVE,
    ChangeKind.BLOCKED,
    ChangeKind.REPLACE,
    ChangeKind.UPDATE,
    ChangeKind.CREATE,
)
BLOCKED = "do-not-call"  # a blocked lead's `after`: never posted (issue #30)
# engage-sync.yaml changed since the last apply: one item, campaign 0, before everything else
# (`0  settings  engage-sync.yaml  <digest before>  <digest after>  `)
SETTINGS = "settings"
_ORDER = {SETTINGS: -1, **{k.value: i for i, k in enumerate(KINDS)}}


def load_key(account: str | None, options: LoadOptions) -> str:
    """What besides its content decides how a lead is posted: where (the target, account@service,
    or the account alone when a plan has no target) and the options."""
    text = json.dumps([account, options.body()], sort_keys=True, default=str)
    return short_hash(hashlib.sha256(text.encode()).digest())


def item(change: Change, key: str) -> str:
    """One change as its item line (without the newline)."""
    if change.kind is ChangeKind.REMOVE:
        assert change.reason is not None
        after = change.reason.value
    elif change.kind is ChangeKind.BLOCKED:
        after = BLOCKED
    else:
        after = change.digest or ""
    eid = escape(change.extern_id)
    return (
        f"{change.campaign_id}\t{change.kind.value}\t{eid}\t{change.before or ''}\t{after}\t{key}"
    )


def escape(extern_id: str) -> str:
    """An externId as an item holds it (tabs and newlines would split the line)."""
    if "\\" in extern_id or "\t" in extern_id or "\n" in extern_id:
        return extern_id.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return extern_id


def settings_item(change: SettingsChange) -> str:
    return f"0\t{SETTINGS}\tengage-sync.yaml\t{change.digest_before}\t{change.digest_after}\t"


def is_settings(line: str) -> bool:
    return line.startswith(f"0\t{SETTINGS}\t")


def is_tombstone(line: str) -> bool:
    """A tombstone's removal: carried out whether or not a review showed it."""
    parts = line.split("\t")
    return parts[1] == ChangeKind.REMOVE.value and parts[4] == RemoveReason.REMOVED.value


def is_blocked(line: str) -> bool:
    """A declared lead the do-not-call set blocks: nothing is sent for it, reviewed or not."""
    return line.split("\t")[1] == ChangeKind.BLOCKED.value


def campaign_id(line: str) -> int:
    return int(line.split("\t", 1)[0])


def extern_id(line: str) -> str:
    raw = line.split("\t", 3)[2]
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append({"n": "\n", "t": "\t"}.get(raw[i + 1], raw[i + 1]))
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


_EMPTY = hashlib.sha256().hexdigest()


class Checksum:
    """The checksum of a change set, fed item by item: per campaign and kind, a running sha256
    (so a planner that finds creates, updates and replacements interleaved needs no sorting)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[int, str], hashlib._Hash] = {}

    def part(self, cid: int, kind: ChangeKind | str) -> hashlib._Hash:
        """The running hash of one campaign's items of one kind: feed it `line + "\\n"`."""
        name = kind.value if isinstance(kind, ChangeKind) else kind
        found = self._parts.get((cid, name))
        if found is None:
            found = self._parts[(cid, name)] = hashlib.sha256()
        return found

    def add(self, cid: int, kind: ChangeKind | str, line: str) -> None:
        self.part(cid, kind).update(line.encode() + b"\n")

    def add_line(self, line: str) -> None:
        cid, kind = line.split("\t", 2)[:2]
        if kind not in _ORDER or (kind == SETTINGS) != (cid == "0"):
            raise ValueError(line)
        self.add(int(cid), kind, line)

    def hexdigest(self) -> str:
        order = _ORDER
        total = hashlib.sha256(b"engage-sync change set 1\n")
        for cid, kind in sorted(self._parts, key=lambda p: (p[0], order[p[1]])):
            part = self._parts[(cid, kind)].hexdigest()
            if part != _EMPTY:  # a kind with no items is no part of the change set
                total.update(f"{cid}\t{kind}\t{part}\n".encode())
        return total.hexdigest()


def removal_key(prune_action: PruneAction) -> str:
    return prune_action.value


def leadset_items(ls: LeadSetPlan) -> Iterator[str]:
    """A campaign's items in plan order (removals, replacements, updates, creates)."""
    key = load_key(ls.target if ls.target is not None else ls.account, ls.options)
    gone = removal_key(ls.prune_action)
    for change in ls.changes():
        if change.kind is ChangeKind.ORPHAN:
            continue
        yield item(change, gone if change.kind is ChangeKind.REMOVE else key)


def plan_items(plan: Plan) -> Iterator[str]:
    if plan.settings is not None:
        yield settings_item(plan.settings)
    for ls in plan.leadsets:
        yield from leadset_items(ls)


def write_changeset(plan: Plan, path: Path) -> int:
    """The plan's items, one a line, after a header naming the checksum. Returns the count."""
    count = 0
    try:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.write(f"{HEADER}{plan.checksum}\n")
            for line in plan_items(plan):
                out.write(line + "\n")
                count += 1
    except OSError as e:
        raise EngageSyncError(f"{path}: cannot write the change set: {e.strerror}") from e
    return count


@dataclass(frozen=True)
class ChangeSet:
    """The changes one reviewed plan showed, and where it came from (a pull request, a file)."""

    checksum: str
    items: frozenset[str]
    source: str = ""


def parse_changeset(text: str, source: str) -> ChangeSet:
    """Read a change set and check its items give the checksum its header names."""
    return parse_changeset_lines(iter(text.split("\n")), source)


def parse_changeset_lines(lines: Iterator[str], source: str) -> ChangeSet:
    """`parse_changeset` of lines as they are read (an artifact's file, streamed)."""
    first = next(lines, "")
    if not first.startswith(HEADER):
        raise ChangeSetError(f"{source}: not an engage-sync change set (no header line)")
    claimed = first[len(HEADER) :].strip()
    digest = Checksum()
    items = []
    for number, line in enumerate(lines, start=2):
        if not line:
            continue
        try:
            if line.count("\t") != 5:
                raise ValueError(line)
            digest.add_line(line)
        except ValueError:
            raise ChangeSetError(f"{source}:{number}: not a change-set item") from None
        items.append(line)
    if digest.hexdigest() != claimed:
        raise ChangeSetError(
            f"{source}: its changes do not give the checksum {claimed} its header names "
            "(the file was altered or cut short)"
        )
    return ChangeSet(claimed, frozenset(items), source)


@dataclass
class Coverage:
    """Main's plan against the reviewed change sets: what was reviewed, what was not."""

    reviewed: set[str] = field(default_factory=set)  # items of the plan some review showed
    unreviewed: list[str] = field(default_factory=list)  # items of the plan no review showed
    # items some review showed that the plan does not hold: carried out already, or the files
    # no longer ask for them
    not_in_plan: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        return not self.unreviewed


def cover(plan: Plan, reviewed: Iterable[ChangeSet]) -> Coverage:
    union: set[str] = set()
    for changeset in reviewed:
        union |= changeset.items
    found = Coverage()
    for line in plan_items(plan):
        if line in union:
            found.reviewed.add(line)
        else:
            found.unreviewed.append(line)
    found.not_in_plan = union - found.reviewed
    return found


def describe(line: str, reviewed: Iterable[ChangeSet] = ()) -> str:
    """`campaign 136785: update R-1001 (no reviewed plan shows it)`, never a lead value."""
    return describe_all([line], reviewed)[0]


def describe_all(lines: Sequence[str], reviewed: Iterable[ChangeSet] = ()) -> list[str]:
    """`describe` for several lines, reading each reviewed change set once (not once a line:
    a change set may hold a million items)."""
    keys = [(campaign_id(line), extern_id(line)) for line in lines]
    wanted = set(keys)
    sources: dict[tuple[int, str], list[str]] = {}
    for changeset in reviewed if wanted else ():
        for i in changeset.items:
            key = (campaign_id(i), extern_id(i))
            if key in wanted and changeset.source not in sources.setdefault(key, []):
                sources[key].append(changeset.source)
    out = []
    for line, (cid, eid) in zip(lines, keys, strict=True):
        action = line.split("\t", 2)[1]
        if is_settings(line):
            why = "a reviewed plan shows other settings" if sources.get((cid, eid)) else None
            out.append(f"settings: {eid} changed ({why or 'no reviewed plan shows it'})")
            continue
        others = sources.get((cid, eid))
        why = f"{', '.join(others)} reviewed other content for it" if others else None
        said = why or "no reviewed plan shows it"
        out.append(f"campaign {cid}: {printable(action)} {printable(eid)} ({printable(said)})")
    return out


class Kept(StreamedChanges):
    """The changes of a sequence a review kept, read from it as they are walked: a first
    plan's million creates are not copied (its Spool streams them from disk)."""

    def __init__(self, changes: Sequence[Change], wanted: Callable[[Change], bool]) -> None:
        self._changes, self._wanted = changes, wanted
        self._len: int | None = None

    def __iter__(self) -> Iterator[Change]:
        return (c for c in self._changes if self._wanted(c))

    def __len__(self) -> int:
        if self._len is None:
            self._len = sum(1 for _ in self)
        return self._len


def only(plan: Plan, keep: set[str]) -> Plan:
    """The part of a plan whose items are in `keep`, and every tombstone (stopping a call is
    never held back for want of a review); orphans stay as they are (apply does nothing).
    Settings nobody reviewed hold everything back but the tombstones: every other change
    would be carried out under them."""
    if plan.settings is not None and settings_item(plan.settings) not in keep:
        return replace(plan.tombstones_only(), settings=None)
    kept = []
    for ls in plan.leadsets:
        key = load_key(ls.target if ls.target is not None else ls.account, ls.options)
        gone = removal_key(ls.prune_action)

        def wanted(change: Change, key: str = key) -> bool:
            return item(change, key) in keep

        kept.append(
            replace(
                ls,
                creates=Kept(ls.creates, wanted),
                updates=tuple(c for c in ls.updates if wanted(c)),
                replaces=tuple(c for c in ls.replaces if wanted(c)),
                removals=tuple(
                    c
                    for c in ls.removals
                    if c.reason is RemoveReason.REMOVED or item(c, gone) in keep
                ),
            )
        )
    return replace(plan, leadsets=tuple(kept))
