"""The versioned state file: what Engage accepted, by (campaign id, externId) and content hash.

It holds no lead values besides externIds, because it is committed to git and read by CI. Each lead
is one unindented line, `"externId":"<content hash> <fieldset> <field codes>"`: 8 base64
characters of content hash (48 bits), the campaign's number for the lead's field names, then one
base64 character per field (two for a phone). About 36 bytes a lead, so three million leads stay
near 100 MB and a git diff shows one line per changed lead. Version 1 files (16 hex characters
of hash, 4 per field) are read and converted; the next save writes version 2. Saves are atomic
(write a temporary file, fsync, rename) or a compare-and-swap of the object that was read, by
the `Store` it is kept in (engage_sync/store/); apply's progress goes to an append-only journal
first (see journal.py); `engage_sync.state.load_state` reads both.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..model import PHONE_FIELDS, Lead, field_code, field_hash, short_hash
from ..optouts import ledger
from ..store import Item, Store, as_store
from . import donotcall as dnc
from .donotcall import DoNotCallState
from .spill import Spill


class MalformedEntry(StateError):
    """One lead's entry in the state is not what engage-sync writes (a hand edit, a bad merge)."""

    def __init__(self, extern_id: str, why: str) -> None:
        super().__init__(f"the state entry of lead {extern_id!r} is malformed ({why})")
        self.extern_id = extern_id
        self.campaign: int | None = None  # filled in by whoever knows it (the planner)


# 3: the same leads as 2, with what older versions would drop on their next save (the settings
# applied, the Engage service, the do-not-call record): they refuse it instead
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
_HASH_LEN = 8
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def v1_fieldset_id(names: Iterable[str]) -> str:
    """How version 1 named a list of field names (its journals still say so)."""
    return hashlib.blake2b(",".join(names).encode(), digest_size=4).hexdigest()


@dataclass
class CampaignState:
    leads: dict[str, str] = field(default_factory=dict)
    fieldsets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "0", "1", ... -> names
    in_doubt: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    options: dict[str, object] | None = None  # the load options last applied (no lead data)
    # externIds removed by a tombstone or by prune: not owned any more, remembered so the plan
    # has nothing left to do for a tombstone, and so drift can tell one that reappeared
    removed: set[str] = field(default_factory=set)
    # tombstones not carried out yet: the date the person asked, as first known (optouts/), and
    # the cancels and deletes already sent for them (a run cut short): kept until the removal
    # is recorded, then they go to the evidence ledger
    requested: dict[str, str] = field(default_factory=dict)
    acts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # set by apply when the campaign's files and this state agree exactly (see incremental/seal.py):
    # the bytes' fingerprint, the lead count and what a plan shows of the campaign. Any change
    # to the campaign's leads drops it.
    seal: dict[str, Any] | None = None
    # where the leads above are: `account@service` (model.target_of); None in a state from before
    # it was recorded (then the first apply records it)
    target: str | None = None
    _ids: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False, compare=False)
    # leads an apply recorded, moved out of `leads` to disk (spill.py): `owns`, `count` and
    # `entries` see them, a plan (which reads `leads`) never runs on such a state
    _spill: Spill | None = field(default=None, repr=False, compare=False)

    def fieldset_id(self, names: tuple[str, ...]) -> str:
        fsid = self._ids.get(names)
        if fsid is None:
            self._ids = {v: k for k, v in self.fieldsets.items()}
            fsid = self._ids.get(names)
        if fsid is None:
            numbers = [int(k) for k in self.fieldsets if k.isdigit()]
            fsid = str(max(numbers) + 1 if numbers else 0)
            self.fieldsets[fsid] = names
            self._ids[names] = fsid
        return fsid

    def encode(self, lead: Lead) -> str:
        codes = "".join(map(field_hash, lead.names, lead.values))
        return f"{lead.digest} {self.fieldset_id(lead.names)} {codes}"

    # The transitions: the only code that changes which leads the campaign owns. The live
    # journal and its replay after a crash both call them, so they cannot disagree; each drops
    # the seal, because the files and the state no longer agree as they did.

    def accept(
        self,
        entries: Mapping[str, str],
        fieldsets: Mapping[str, Iterable[str]] | None = None,
        file: str | None = None,
        options: dict[str, object] | None = None,
    ) -> None:
        """Engage accepted these leads (encoded state entries): owned, answered, not removed."""
        if fieldsets:
            self.fieldsets.update({k: tuple(v) for k, v in fieldsets.items()})
        self.leads.update(entries)
        self.in_doubt.difference_update(entries)
        self.removed.difference_update(entries)
        if self.acts:  # loaded: an update's stopped record is replaced (`reloading`)
            for eid in set(entries).intersection(self.acts):
                kept = [a for a in self.acts[eid] if not a.get("replacing")]
                if kept:
                    self.acts[eid] = kept
                else:
                    del self.acts[eid]
        if file:
            self.files.add(file)
        if options is not None:
            self.options = options
        self.seal = None

    def retarget(self, target: str) -> None:
        """The campaign is applied to another account or service from now on: what the state
        held was loaded elsewhere, so none of it is owned here (the opt-outs asked for and the
        cancels sent for them stay: they are the people's, and evidence)."""
        if self.target is not None and self.target != target:
            self.leads.clear()
            self._spill = None
            self.fieldsets.clear()
            self._ids.clear()
            self.in_doubt.clear()
            self.files.clear()
            self.removed.clear()
            self.options = None
        self.target = target
        self.seal = None

    def record(self, lead: Lead) -> None:
        """One lead accepted (import, adoption)."""
        self.accept({lead.extern_id: self.encode(lead)})

    def doubt(self, extern_ids: Iterable[str]) -> None:
        """Sent with no answer yet (or ever): the next apply looks them up before posting."""
        self.in_doubt.update(e for e in extern_ids if e)
        self.seal = None

    def settle(self, extern_ids: Iterable[str]) -> None:
        """Answered without being accepted (a refused batch): no longer in doubt."""
        self.in_doubt.difference_update(extern_ids)

    def forget(self, extern_ids: Iterable[str]) -> None:
        """These were removed in Engage (cancelled or deleted): no longer owned, remembered."""
        for eid in extern_ids:
            self.leads.pop(eid, None)
            self.in_doubt.discard(eid)
            self.removed.add(eid)
            self.requested.pop(eid, None)
            self.acts.pop(eid, None)
            if self._spill is not None:
                self._spill.gone.add(eid)
        self.seal = None

    def drop(self, extern_ids: Iterable[str]) -> None:
        """`state rm`: no longer owned and not removed either: the next apply creates them."""
        for eid in extern_ids:
            self.leads.pop(eid, None)
            self.in_doubt.discard(eid)
            if self._spill is not None:
                self._spill.gone.add(eid)
        self.seal = None

    def earlier_requests(self, dates: Mapping[str, str]) -> dict[str, str]:
        """Of these request dates, those this state does not know or knows as later."""
        return {e: d for e, d in dates.items() if e not in self.requested or d < self.requested[e]}

    def note_requested(self, dates: Mapping[str, str]) -> None:
        """When these pending opt-outs were asked for, as first known (an earlier date wins)."""
        self.requested.update(self.earlier_requests(dates))

    def acted(self, acts: Mapping[str, Mapping[str, Any]]) -> None:
        """A cancel or delete sent for these externIds (answered or not): evidence to keep.
        One that stops an update's earlier record (`replacing`) leaves the lead to be loaded
        again until a load of it succeeds (`reloading`), and the seal goes: the next plan
        reads the campaign, and sees the lead even if its file goes back to what is recorded."""
        for eid, act in acts.items():
            self.acts.setdefault(eid, []).append(dict(act))
            if act.get("replacing"):
                self.seal = None

    def reloading(self) -> set[str]:
        """Owned leads whose record engage-sync stopped for an update whose load has not
        succeeded since (it failed, or a crash came between): Engage may hold no dialable
        record of them, whatever their file says now (convergence campaign, seed 5008)."""
        return {
            eid
            for eid, acts in self.acts.items()
            if any(a.get("replacing") for a in acts) and self.owns(eid)
        }

    def spill(self, extern_ids: Iterable[str]) -> None:
        """Move these leads' entries out of memory, to disk until the state is saved."""
        moved = {eid: self.leads.pop(eid) for eid in extern_ids if eid in self.leads}
        if moved:
            if self._spill is None:
                self._spill = Spill()
            self._spill.add(moved)

    def owns(self, extern_id: str) -> bool:
        return extern_id in self.leads or (self._spill is not None and extern_id in self._spill)

    def count(self) -> int:
        """How many leads the campaign owns."""
        if not self._spill:
            return len(self.leads)
        leads = self.leads
        return len(leads) + sum(1 for eid, _ in self._spill.items() if eid not in leads)

    def entries(self) -> Iterator[tuple[str, str]]:
        """(externId, entry) of every lead owned, in externId order (as the file lists them)."""
        leads = self.leads
        ordered = ((eid, leads[eid]) for eid in sorted(leads))
        if not self._spill:
            return ordered
        spilled = ((eid, e) for eid, e in self._spill.items() if eid not in leads)
        return heapq.merge(ordered, spilled)

    def hash_of(self, extern_id: str) -> str | None:
        entry = self.leads.get(extern_id)
        return entry[:_HASH_LEN] if entry is not None else None

    def field_hashes(self, extern_id: str) -> dict[str, str]:
        """The field codes of a lead's entry; MalformedEntry when the entry is not one (checked
        here, where an entry is read for a changed lead, not for each lead on load)."""
        entry = self.leads[extern_id]
        try:
            digest, fsid, codes = entry.split(" ")
        except ValueError:
            raise MalformedEntry(extern_id, "not three parts") from None
        names = self.fieldsets.get(fsid)
        if len(digest) != _HASH_LEN or not _B64.issuperset(digest + codes):
            raise MalformedEntry(extern_id, "not base64 hashes")
        if names is None:
            raise MalformedEntry(extern_id, f"field set {fsid!r} is not in the file")
        widths = [2 if name in PHONE_FIELDS else 1 for name in names]
        if sum(widths) != len(codes):
            raise MalformedEntry(extern_id, f"{len(codes)} field codes for {len(names)} fields")
        found: dict[str, str] = {}
        at = 0
        for name, width in zip(names, widths, strict=True):
            found[name] = codes[at : at + width]
            at += width
        return found

    def changed_fields(self, lead: Lead) -> tuple[str, ...]:
        """Names of the fields whose value differs from what was applied."""
        old = self.field_hashes(lead.extern_id)
        new = {name: field_hash(name, value) for name, value in lead.fields}
        return tuple(sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n)))

    def adopt_v1(
        self, entries: Mapping[str, str], fieldsets: Mapping[str, Iterable[str]]
    ) -> dict[str, str]:
        """Version-1 entries (16 hex of hash, a blake2b fieldset id, 4 hex per field) in
        version 2: the same hashes, fewer of their bits. Raises ValueError when malformed."""
        names = {k: tuple(v) for k, v in fieldsets.items()}
        ids = {k: self.fieldset_id(v) for k, v in names.items()}
        out: dict[str, str] = {}
        for eid, entry in entries.items():
            digest, old_id, hashes = entry.split(" ")
            fields = names[old_id]
            if len(digest) != 16 or len(hashes) != 4 * len(fields):
                raise ValueError(f"lead {eid!r}: malformed version-1 entry")
            codes = "".join(
                field_code(n, int(hashes[4 * i : 4 * i + 4], 16)) for i, n in enumerate(fields)
            )
            out[eid] = f"{short_hash(bytes.fromhex(digest))} {ids[old_id]} {codes}"
        return out


@dataclass
class State:
    store: Store  # a Path is taken as the file store of that state file
    lineage: str | None = None
    serial: int = 0
    campaigns: dict[int, CampaignState] = field(default_factory=dict)
    exists: bool = False
    version: int = FORMAT_VERSION  # of the file read; the next save writes FORMAT_VERSION
    # removals recorded since the last save, for the evidence ledger (appended on save)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    # engage-sync.yaml as the last apply carried it out (planner: a change to it is a change
    # a reviewer must see; None: never recorded)
    settings: dict[str, Any] | None = None
    # the Engage service the last apply sent to (hosts.engage_target): drift looks there only
    base_url: str | None = None
    # the phones stopped by do not call, by keyed hash (donotcall.py; issue #30)
    do_not_call: DoNotCallState = field(default_factory=DoNotCallState)
    # the store's revision of what was read (an ETag): the next save replaces only that
    revision: str | None = None

    def __post_init__(self) -> None:
        self.store = as_store(self.store)

    @property
    def name(self) -> str:
        """How messages name the state (its path, its s3:// URL)."""
        return self.store.where(Item.STATE)

    def campaign(self, campaign_id: int) -> CampaignState:
        return self.campaigns.setdefault(campaign_id, CampaignState())

    def ensure_lineage(self) -> str:
        if self.lineage is None:
            self.lineage = str(uuid.uuid4())
        return self.lineage

    def lead_count(self) -> int:
        return sum(c.count() for c in self.campaigns.values())


def read_state(where: Store | Path) -> State:
    """Read the state alone (absent is an empty state); `load_state` also replays a journal."""
    store = as_store(where)
    blob = store.read(Item.STATE)
    if blob is None:
        return State(store)
    name = store.where(Item.STATE)
    try:
        text = blob.data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Corrupt(store, _where(blob.data, e.start), "a byte that is not UTF-8") from e
    revision = blob.revision
    del blob  # no second copy while parsing (a state of millions of leads is 100 MB)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise Corrupt(store, f":{e.lineno}:{e.colno}", e.msg) from e
    del text
    if not isinstance(data, dict) or "format_version" not in data:
        raise StateError(f"{name}: not an engage-sync state file (no format_version)")
    version = data["format_version"]
    if version not in READABLE_VERSIONS:
        raise StateError(
            f"{name}: state format_version {version!r} is not supported by this engage-sync "
            f"(it reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade engage-sync"
        )
    try:
        state = State(store, str(data["lineage"]), int(data["serial"]), exists=True)
        state.version, state.revision = version, revision
        settings = data.get("settings")
        if settings is not None and not isinstance(settings, dict):
            raise ValueError("settings: not an object")
        state.settings = settings
        base_url = data.get("baseUrl")
        if base_url is not None and not isinstance(base_url, str):
            raise ValueError("baseUrl: not a string")
        state.base_url = base_url
        state.do_not_call = dnc.read(data.get("do_not_call"))
        for key, raw in data["campaigns"].items():
            leads = raw["leads"]
            if not isinstance(leads, dict) or not set(map(type, leads.values())) <= {str}:
                raise ValueError(f"campaign {key}: malformed lead entry")
            sealed = raw.get("synced")  # the seal's key in the file (format 2)
            camp = CampaignState(
                in_doubt=set(raw.get("in_doubt", [])),
                files=set(raw.get("files", [])),
                options=raw.get("options"),
                removed=set(raw.get("removed", [])),
                seal=sealed if isinstance(sealed, dict) else None,
                requested=dict(raw.get("requested", {})),
                acts={str(k): list(v) for k, v in raw.get("acts", {}).items()},
                target=_text(raw.get("target"), f"campaign {key}: target"),
            )
            if version == 1:
                leads = camp.adopt_v1(leads, raw.get("fieldsets", {}))
            else:
                camp.fieldsets = {str(k): tuple(v) for k, v in raw.get("fieldsets", {}).items()}
            camp.leads = leads
            state.campaigns[int(key)] = camp
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        why = f"no {e}" if isinstance(e, KeyError) else str(e)
        raise Corrupt(store, "", f"not what engage-sync writes: {why}") from e
    return state


def _text(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{what}: not a string")
    return value


class Corrupt(StateError):
    """The state does not read (a damaged byte, a bad merge): never taken as empty."""

    def __init__(self, store: Store, at: str, why: str) -> None:
        super().__init__(
            f"{store.where(Item.STATE)}{at}: state file is corrupt ({why}). Nothing was changed: "
            f"{store.restore(Item.STATE)}; if an apply ran since the copy restored, run the next "
            "apply with `--look-first all`, so the leads it created are found in Engage and "
            "recorded rather than loaded again (docs/state.md)."
        )


def _where(data: bytes, offset: int) -> str:
    """`:line:column` of a byte offset (for a byte that is not UTF-8)."""
    data = data[:offset]
    line, column = data.count(b"\n") + 1, offset - data.rfind(b"\n")
    return f":{line}:{column}"


def render_state(state: State) -> str:
    """Sorted, stable JSON with one unindented lead per line."""
    return "".join(state_text(state))


_LINES = 8192  # lead lines rendered at once: the text is written as it is made, never whole


def state_text(state: State) -> Iterator[str]:
    """The state file's text, piece by piece (`render_state` joined)."""
    dumps = json.dumps
    out = [
        "{",
        f'  "format_version": {FORMAT_VERSION},',
        f'  "lineage": {dumps(state.lineage)},',
        f'  "serial": {state.serial},',
    ]
    if state.base_url is not None:
        out.append(f'  "baseUrl": {dumps(state.base_url)},')
    if state.settings is not None:
        out.append(f'  "settings": {dumps(state.settings, sort_keys=True)},')
    if state.do_not_call:
        out.extend(dnc.render(state.do_not_call))
    out.append('  "campaigns": {')
    yield "\n".join(out) + "\n"
    first = True
    for cid in sorted(state.campaigns):
        c = state.campaigns[cid]
        if not (c.leads or c._spill) and not c.in_doubt and not c.removed and not c.requested:
            continue
        if not first:
            yield ",\n"
        first = False
        yield from _campaign_text(cid, c)
    yield "  }\n}\n" if first else "\n  }\n}\n"


def _campaign_text(cid: int, c: CampaignState) -> Iterator[str]:
    dumps = json.dumps
    if c._spill:
        used = {entry.split(" ", 2)[1] for _, entry in c.entries()}
    else:
        used = {entry.split(" ", 2)[1] for entry in c.leads.values()}
    fieldsets = {k: list(v) for k, v in sorted(c.fieldsets.items()) if k in used}
    lines = [
        f'    "{cid}": {{',
        f'      "fieldsets": {dumps(fieldsets, sort_keys=True)},',
        f'      "files": {dumps(sorted(c.files))},',
        f'      "in_doubt": {dumps(sorted(c.in_doubt))},',
        f'      "options": {dumps(c.options, sort_keys=True)},',
    ]
    if c.target is not None:
        lines.append(f'      "target": {dumps(c.target)},')
    if c.seal is not None:
        lines.append(f'      "synced": {dumps(c.seal, sort_keys=True)},')
    if c.requested:
        lines.append(f'      "requested": {dumps(c.requested, sort_keys=True)},')
    if c.acts:
        lines.append(f'      "acts": {dumps(c.acts, sort_keys=True)},')
    if c.removed:  # one per line, so a git diff shows each removal
        removed = ",\n".join(f"        {dumps(k)}" for k in sorted(c.removed))
        lines.append(f'      "removed": [\n{removed}\n      ],')
    entries = c.entries()
    ahead = next(entries, None)
    if ahead is None:
        lines += ['      "leads": {}', "    }"]
        yield "\n".join(lines)
        return
    lines.append('      "leads": {')
    yield "\n".join(lines) + "\n"
    chunk = [f"{dumps(ahead[0])}:{dumps(ahead[1])}"]
    glue = ""
    for eid, entry in entries:
        if len(chunk) >= _LINES:
            yield glue + ",\n".join(chunk)
            chunk, glue = [], ",\n"
        chunk.append(f"{dumps(eid)}:{dumps(entry)}")
    yield glue + ",\n".join(chunk) + "\n      }\n    }"


def save_state(state: State) -> None:
    """Write a new serial whole: readers see the old state or the new one, never half, and a
    store that keeps revisions replaces only the one read (a compare-and-swap). Removals
    recorded since the last save go to the evidence ledger first (ledger.py says why that order
    never loses nor doubles a line)."""
    state.ensure_lineage()
    if state.evidence:
        ledger.append(state.store, state.evidence)
    state.serial += 1
    over = state.revision if state.exists else None
    pieces = (text.encode() for text in state_text(state))  # never the whole text at once
    state.revision = state.store.swap(Item.STATE, pieces, over)
    state.evidence.clear()
    state.exists = True
