"""The versioned state file: what Engage accepted, by (campaign id, externId) and content hash.

It holds no lead values besides externIds, because it is committed to git and read by CI. Each lead
is one line, `"externId": "<content hash> <fieldset id> <16-bit hash per field>"`, so a million
leads stay small on disk and in memory, and git diffs show one line per changed lead. Saves are
atomic (write a temporary file, fsync, rename); apply's progress goes to an append-only journal
first (see journal.py); `engage_sync.state.load_state` reads both.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern

from ..errors import StateError
from ..model import Lead, field_hash

FORMAT_VERSION = 1
_FIELD_HASH_LEN = 4


def fieldset_id(names: tuple[str, ...]) -> str:
    return hashlib.blake2b(",".join(names).encode(), digest_size=4).hexdigest()


@dataclass
class CampaignState:
    leads: dict[str, str] = field(default_factory=dict)
    fieldsets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    in_doubt: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    options: dict[str, object] | None = None  # the load options last applied (no lead data)
    # externIds removed by a tombstone or by prune: not owned any more, remembered so the plan
    # has nothing left to do for a tombstone, and so drift can tell one that reappeared
    removed: set[str] = field(default_factory=set)

    def encode(self, lead: Lead) -> str:
        names = lead.names
        fsid = fieldset_id(names)
        self.fieldsets.setdefault(fsid, names)
        hashes = "".join(map(field_hash, names, lead.values))
        return f"{lead.content_hash()} {fsid} {hashes}"

    def record(self, lead: Lead) -> None:
        self.leads[lead.extern_id] = self.encode(lead)
        self.in_doubt.discard(lead.extern_id)
        self.removed.discard(lead.extern_id)

    def forget(self, extern_ids: Iterable[str]) -> None:
        """These were removed in Engage (cancelled or deleted): no longer owned, remembered."""
        for eid in extern_ids:
            self.leads.pop(eid, None)
            self.in_doubt.discard(eid)
            self.removed.add(eid)

    def hash_of(self, extern_id: str) -> str | None:
        entry = self.leads.get(extern_id)
        return entry[:16] if entry is not None else None

    def field_hashes(self, extern_id: str) -> dict[str, str]:
        try:
            _, fsid, hashes = self.leads[extern_id].split(" ")
        except ValueError:
            raise StateError(f"the state entry of lead {extern_id!r} is malformed") from None
        names = self.fieldsets.get(fsid, ())
        return {
            name: hashes[i * _FIELD_HASH_LEN : (i + 1) * _FIELD_HASH_LEN]
            for i, name in enumerate(names)
        }

    def changed_fields(self, lead: Lead) -> tuple[str, ...]:
        """Names of the fields whose value differs from what was applied."""
        old = self.field_hashes(lead.extern_id)
        new = lead.field_hashes()
        return tuple(sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n)))


@dataclass
class State:
    path: Path
    lineage: str | None = None
    serial: int = 0
    campaigns: dict[int, CampaignState] = field(default_factory=dict)
    exists: bool = False

    def campaign(self, campaign_id: int) -> CampaignState:
        return self.campaigns.setdefault(campaign_id, CampaignState())

    def ensure_lineage(self) -> str:
        if self.lineage is None:
            self.lineage = str(uuid.uuid4())
        return self.lineage

    def lead_count(self) -> int:
        return sum(len(c.leads) for c in self.campaigns.values())


def read_state(path: Path) -> State:
    """Read the state file alone (absent is an empty state); `load_state` also replays a journal."""
    if not path.exists():
        return State(path=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))  # text: no second copy while parsing
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StateError(f"{path}: state file is corrupt ({e}); restore it from git") from e
    except OSError as e:
        raise StateError(f"{path}: cannot read state: {e.strerror}") from e
    if not isinstance(data, dict) or "format_version" not in data:
        raise StateError(f"{path}: not an engage-sync state file (no format_version)")
    version = data["format_version"]
    if version != FORMAT_VERSION:
        raise StateError(
            f"{path}: state format_version {version!r} is not supported by this engage-sync "
            f"(it reads version {FORMAT_VERSION}); upgrade engage-sync"
        )
    try:
        state = State(path, str(data["lineage"]), int(data["serial"]), exists=True)
        for key, raw in data["campaigns"].items():
            leads = raw["leads"]
            if not isinstance(leads, dict) or not set(map(type, leads.values())) <= {str}:
                raise ValueError(f"campaign {key}: malformed lead entry")
            state.campaigns[int(key)] = CampaignState(
                # interned: the readers intern externIds too, so a million of them are held once
                leads={intern(k): v for k, v in leads.items()},
                fieldsets={k: tuple(v) for k, v in raw.get("fieldsets", {}).items()},
                in_doubt=set(raw.get("in_doubt", [])),
                files=set(raw.get("files", [])),
                options=raw.get("options"),
                removed=set(raw.get("removed", [])),
            )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise StateError(f"{path}: state file is corrupt ({e}); restore it from git") from e
    return state


def render_state(state: State) -> str:
    """Sorted, stable JSON with one lead per line."""
    dumps = json.dumps
    out = [
        "{",
        f'  "format_version": {FORMAT_VERSION},',
        f'  "lineage": {dumps(state.lineage)},',
        f'  "serial": {state.serial},',
        '  "campaigns": {',
    ]
    campaign_blocks = []
    for cid in sorted(state.campaigns):
        c = state.campaigns[cid]
        if not c.leads and not c.in_doubt and not c.removed:
            continue
        used = {entry.split(" ", 2)[1] for entry in c.leads.values()}
        fieldsets = {k: list(v) for k, v in sorted(c.fieldsets.items()) if k in used}
        lines = [
            f'    "{cid}": {{',
            f'      "fieldsets": {dumps(fieldsets, sort_keys=True)},',
            f'      "files": {dumps(sorted(c.files))},',
            f'      "in_doubt": {dumps(sorted(c.in_doubt))},',
            f'      "options": {dumps(c.options, sort_keys=True)},',
        ]
        if c.removed:  # one per line, so a git diff shows each removal
            removed = ",\n".join(f"        {dumps(k)}" for k in sorted(c.removed))
            lines.append(f'      "removed": [\n{removed}\n      ],')
        if c.leads:
            lines.append('      "leads": {')
            lead_lines = [f"        {dumps(k)}: {dumps(c.leads[k])}" for k in sorted(c.leads)]
            lines.append(",\n".join(lead_lines))
            lines.append("      }")
        else:
            lines.append('      "leads": {}')
        lines.append("    }")
        campaign_blocks.append("\n".join(lines))
    if campaign_blocks:
        out.append(",\n".join(campaign_blocks))
    out.extend(["  }", "}", ""])
    return "\n".join(out)


def save_state(state: State) -> None:
    """Write a new serial atomically: readers see the old file or the new one, never half."""
    state.ensure_lineage()
    state.serial += 1
    write_atomic(state.path, render_state(state).encode())
    state.exists = True


def write_atomic(path: Path, data: bytes) -> None:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise StateError(f"{path}: cannot write state: {e.strerror}") from e
