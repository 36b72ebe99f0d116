"""Frozen value types that travel through the core: leads, lead sets, changes, plans."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import TypeAlias

FieldValue: TypeAlias = "str | int"

# Flattened name for custom fields: extendedLeadData.plan <-> {"extendedLeadData": {"plan": ...}}
EXTENDED = "extendedLeadData."
_HASH_DOMAIN = b"engage-sync/lead/v1\x1e"


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about an input file, printed as FILE:LINE: field: message."""

    file: str
    line: int
    field: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        if not self.field:  # a whole-file problem whose message already says where
            return self.file
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {prefix}{self.message}"


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    ORPHAN = "orphan"


class OutputFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


@dataclass(frozen=True, slots=True)
class Lead:
    """One declared lead, normalised; fields are sorted (name, value) pairs, externId excluded."""

    extern_id: str
    fields: tuple[tuple[str, FieldValue], ...]
    file: str
    line: int

    @classmethod
    def from_mapping(cls, data: dict[str, object], file: str, line: int) -> Lead:
        """Build from a validated, normalised mapping (the one place dicts become Leads)."""
        flat: list[tuple[str, FieldValue]] = []
        for name, value in data.items():
            if name == "externId" or value is None:
                continue
            if name == "extendedLeadData" and isinstance(value, dict):
                flat.extend((EXTENDED + str(k), str(v)) for k, v in value.items() if v != "")
            elif isinstance(value, (str, int)):
                flat.append((name, value))
        flat.sort()
        return cls(str(data["externId"]), tuple(flat), file, line)

    def content_hash(self) -> str:
        """A hash of the normalised content: equal for equal leads however the file spells them."""
        return content_hash(self.extern_id, self.fields)

    def field_hashes(self) -> dict[str, str]:
        return {name: field_hash(name, value) for name, value in self.fields}

    def to_request(self) -> dict[str, object]:
        """The CampaignLead body: empty fields left out, custom fields nested again."""
        body: dict[str, object] = {"externId": self.extern_id}
        extended: dict[str, str] = {}
        for name, value in self.fields:
            if name.startswith(EXTENDED):
                extended[name[len(EXTENDED) :]] = str(value)
            else:
                body[name] = value
        if extended:
            body["extendedLeadData"] = extended
        return body


def content_hash(extern_id: str, fields: tuple[tuple[str, FieldValue], ...]) -> str:
    parts = [extern_id]
    for name, value in fields:
        parts.append(f"{name}\x1f{'i' if isinstance(value, int) else 's'}{value}")
    return hashlib.blake2b(_HASH_DOMAIN + "\x1e".join(parts).encode(), digest_size=8).hexdigest()


def field_hash(name: str, value: FieldValue) -> str:
    """16 bits per field: enough to name changed fields, too few to identify a value."""
    return hashlib.blake2b(f"{name}\x1f{value}".encode(), digest_size=2).hexdigest()


@dataclass(frozen=True, slots=True)
class CampaignRef:
    id: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LeadSetFile:
    """One lead-set file's declarations (its leads are streamed separately)."""

    path: str
    campaign: CampaignRef
    account: str | None
    options: tuple[tuple[str, object], ...]
    leads_file: str | None
    inline_count: int

    @property
    def options_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options}


def posted_options(options: tuple[tuple[str, object], ...]) -> dict[str, object]:
    """The options as the loader request carries them: empty ones left out, tuples as lists."""
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in options
        if v is not None and v != "" and v != () and v != []
    }


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    campaign_id: int
    extern_id: str
    file: str | None
    line: int | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LeadSetPlan:
    """The plan for one campaign: every file that targets it, taken together."""

    campaign: CampaignRef
    account: str | None
    files: tuple[str, ...]
    options: tuple[tuple[str, object], ...]
    creates: tuple[Change, ...]
    updates: tuple[Change, ...]
    orphans: tuple[Change, ...]
    unchanged: int
    applied_before: int
    in_doubt: tuple[str, ...] = ()
    option_changes: tuple[str, ...] = ()
    previous_options: tuple[tuple[str, object], ...] | None = None
    warnings: tuple[str, ...] = ()

    @property
    def options_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options}

    @property
    def declared(self) -> int:
        return len(self.creates) + len(self.updates) + self.unchanged


@dataclass(frozen=True, slots=True)
class Plan:
    leadsets: tuple[LeadSetPlan, ...]
    lineage: str | None
    serial: int
    checksum: str
    warnings: tuple[str, ...] = field(default=())

    def count(self, action: Action) -> int:
        attr = {Action.CREATE: "creates", Action.UPDATE: "updates", Action.ORPHAN: "orphans"}[
            action
        ]
        return sum(len(getattr(ls, attr)) for ls in self.leadsets)

    @property
    def unchanged(self) -> int:
        return sum(ls.unchanged for ls in self.leadsets)

    @property
    def has_changes(self) -> bool:
        return any(ls.creates or ls.updates or ls.orphans for ls in self.leadsets)
