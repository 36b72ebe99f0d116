"""Frozen value types that travel through the core: leads, lead sets, changes, plans."""

from __future__ import annotations

import binascii
import enum
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias, TypeVar, cast, overload
from urllib.parse import urlsplit

from .display import printable

if TYPE_CHECKING:
    from .optouts.deadlines import Deadline

FieldValue: TypeAlias = "str | int"

# Flattened name for custom fields: extendedLeadData.plan <-> {"extendedLeadData": {"plan": ...}}
EXTENDED = "extendedLeadData."


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
        """One line, whatever the file held: a value quoted in a message is escaped
        (display.printable), so it can neither end the line nor start a workflow command."""
        if not self.message:  # a whole-file problem whose message already says where
            return printable(self.file)
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{printable(where)}: {self.body}"

    @property
    def body(self) -> str:
        """What is wrong, after the place: `field: message` (a problem of a whole line, such as
        a tab that indents it, has no field)."""
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        field = f"{printable(self.field)}: " if self.field else ""
        return f"{field}{prefix}{printable(self.message)}"


class ChangeKind(enum.Enum):
    """What a line of a plan is. The first four are what apply does; an orphan is only reported
    (an owned lead no file declares any more, left as it is in Engage)."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # the phone changed: cancel the old number's records, load the new one
    REMOVE = "remove"  # a tombstone, or prune: cancel (or delete) every dialable record
    ORPHAN = "orphan"  # not an action: nothing is sent
    # declared, but its phone is on the do-not-call set (issue #30): never loaded; an owned
    # record of it is stopped with the phone, and one with an earlier phone is cancelled
    BLOCKED = "blocked"


class RemoveReason(enum.Enum):
    REMOVED = "removed"  # a tombstone in a lead-set file
    PRUNE = "prune"  # owned, no longer declared, and prune is on


class PruneAction(enum.Enum):
    CANCEL = "cancel"
    DELETE = "delete"


# A change of any of these is a replacement: Engage tells duplicates apart by phone, so loading the
# lead again would leave the old number dialable beside the new one (issue #10).
PHONE_FIELDS = frozenset({"leadPhone", "leadPhoneE164"})
PHONE_ORDER = ("leadPhone", "leadPhoneE164")  # which one is the lead's phone when both are set
# the CampaignLead fields a lead search row shows at its top level besides ids, phones and
# states (NOTES.md: contact fields); they tell one record of a lead from another
CONTACT_FIELDS = (
    "title",
    "firstName",
    "midName",
    "lastName",
    "suffix",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "email",
    "gateKeeper",
    "auxData1",
    "auxData2",
    "auxData3",
    "auxData4",
    "auxData5",
    "auxPhone",
)


class DuplicateHandling(enum.Enum):
    """What Engage does with a lead whose phone is already in the campaign."""

    REMOVE_ALL_EXISTING = "REMOVE_ALL_EXISTING"
    REMOVE_FROM_LIST = "REMOVE_FROM_LIST"
    RETAIN_ALL = "RETAIN_ALL"

    @property
    def effect(self) -> str:
        return {
            DuplicateHandling.REMOVE_ALL_EXISTING: "Engage keeps only the last lead loaded with it",
            DuplicateHandling.REMOVE_FROM_LIST: "Engage will not insert the later lead",
            DuplicateHandling.RETAIN_ALL: "Engage keeps both as separate dial records",
        }[self]


class DialPriority(enum.Enum):
    NORMAL = "NORMAL"
    IMMEDIATE = "IMMEDIATE"


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """A lead set's load options as declared (sorted by name, lists as tuples): what the loader
    request carries besides the leads. Built once, where files are read (`of`)."""

    items: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, object]) -> LoadOptions:
        return cls(
            tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in mapping.items()))
        )

    def get(self, name: str) -> object | None:
        return next((v for k, v in self.items if k == name), None)

    @property
    def duplicate_handling(self) -> DuplicateHandling | None:
        return _enum(DuplicateHandling, self.get("duplicateHandling"))

    @property
    def dial_priority(self) -> DialPriority | None:
        return _enum(DialPriority, self.get("dialPriority"))

    def body(self) -> dict[str, object]:
        """The options as the loader request carries them: empty ones left out, tuples as lists
        (also what the state records of them)."""
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.items
            if v is not None and v != "" and v != () and v != []
        }


E = TypeVar("E", bound=enum.Enum)


def _enum(kind: type[E], value: object) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None  # validation reports a value the API does not know


class OutputFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


class Lead(NamedTuple):
    """One declared lead, normalised: field names sorted, externId and empty fields left out.

    A NamedTuple rather than a frozen dataclass: plan builds one per lead of a million-row
    file, and a tuple is made several times faster. It is just as immutable. `names` is shared
    by every lead of a CSV file (one tuple per header); `digest` is computed where it is made.
    """

    extern_id: str
    names: tuple[str, ...]
    values: tuple[FieldValue, ...]
    file: str
    line: int
    digest: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], file: str, line: int) -> Lead:
        """Build from a validated, normalised mapping (the one place dicts become Leads)."""
        names, values = _flatten(data)
        extern_id = str(data["externId"])
        return cls(extern_id, names, values, file, line, lead_digest(extern_id, names, values))

    @classmethod
    def from_request(cls, row: Mapping[str, object], file: str, line: int, digest: str) -> Lead:
        """The lead `to_request` made `row` of, again (reconcile/packed.py), its digest kept."""
        names, values = _as_written(row) or _flatten(row)
        return cls(str(row["externId"]), names, values, file, line, digest)

    @property
    def fields(self) -> tuple[tuple[str, FieldValue], ...]:
        return tuple(zip(self.names, self.values, strict=True))

    @property
    def phone(self) -> str:
        """The number Engage tells duplicates apart by: leadPhone, else leadPhoneE164."""
        for name in PHONE_ORDER:
            if name in self.names:
                return str(self.values[self.names.index(name)])
        return ""

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


def lead_digest(extern_id: str, names: tuple[str, ...], values: tuple[FieldValue, ...]) -> str:
    """The content hash: externId, the sorted field names, then each value tagged with its type.

    48 bits of sha256 (hardware-accelerated) in 8 base64 characters: a changed lead goes unseen
    once in 2**48, and the state stays small. fields.HeaderPlan computes the same bytes for a
    clean CSV row with one join; a test keeps the two in step.
    """
    tagged = "\x1f".join(f"i{v}" if isinstance(v, int) else f"s{v}" for v in values)
    text = f"{extern_id}\x1e{','.join(names)}\x1e{tagged}"
    return short_hash(hashlib.sha256(text.encode()).digest())


def short_hash(digest: bytes) -> str:
    """The first 48 bits of a digest in 8 base64 characters (no padding, no spaces)."""
    return binascii.b2a_base64(digest[:6], newline=False).decode()


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def field_bits(name: str, value: FieldValue) -> int:
    """A 16-bit hash of one field (blake2b), of which the state keeps the top bits."""
    return int.from_bytes(
        hashlib.blake2b(f"{name}\x1f{value}".encode(), digest_size=2).digest(), "big"
    )


def field_code(name: str, bits: int) -> str:
    """The state's code of a field hash: 12 bits for a phone (a phone change the codes cannot
    tell apart is one in 4,096, and apply searches before every update anyway), 6 for the rest:
    enough to name changed fields, far too few to identify a value."""
    if name in PHONE_FIELDS:
        return B64[bits >> 10] + B64[(bits >> 4) & 63]
    return B64[bits >> 10]


def field_hash(name: str, value: FieldValue) -> str:
    return field_code(name, field_bits(name, value))


class DriftKind(enum.Enum):
    MISSING = "missing"
    STOPPED = "stopped"
    DUPLICATE = "duplicate"
    CHANGED = "changed"
    REAPPEARED = "reappeared"


@dataclass(frozen=True, slots=True)
class Drift:
    """One owned (or removed) externId whose records in Engage are not what engage-sync left."""

    campaign_id: int
    extern_id: str
    kind: DriftKind
    lead_state: str | None = None
    fields: tuple[str, ...] = ()  # changed: the fields Engage shows otherwise (names only)


@dataclass(frozen=True, slots=True)
class CampaignRef:
    id: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Tombstone:
    """`removed: [{externId: ...}]`: this person must not be called in this campaign any more.
    The reason stays in git; it is never read into the plan. `requested` is when the person
    asked (`requested: 2026-11-20`), when the file says (optouts/ dates the others)."""

    extern_id: str
    file: str
    line: int
    requested: date | None = None
    # do not call (issue #30): the lead's phones when the tombstone keeps them (E.164), and
    # whether it is an opt-out (the default: its phones join the do-not-call set) or a business
    # removal (`optOut: false`)
    phones: tuple[str, ...] = ()
    opt_out: bool = True


@dataclass(frozen=True, slots=True)
class LeadSetFile:
    """One lead-set file's declarations (its leads are streamed separately)."""

    path: str
    campaign: CampaignRef
    account: str | None
    options: LoadOptions
    leads_file: str | None
    tombstones: tuple[Tombstone, ...] = ()
    prune: bool = False
    prune_action: PruneAction = PruneAction.CANCEL
    key_lines: tuple[tuple[str, int], ...] = ()  # the line of each top-level key written

    def line(self, key: str) -> int:
        """Where `key` is written in the file (1: not written, the file's defaults)."""
        return next((n for k, n in self.key_lines if k == key), 1)


@dataclass(frozen=True, slots=True)
class Desired:
    """Everything declared for one campaign, across the files that target it."""

    campaign: CampaignRef
    account: str | None
    files: tuple[str, ...]
    options: LoadOptions
    leads: Iterable[Lead]
    tombstones: tuple[Tombstone, ...] = ()
    prune: bool = False
    prune_action: PruneAction = PruneAction.CANCEL
    # not read: its files are what the last apply sealed (incremental/seal.py); every owned lead is
    # declared and unchanged, but for the `leads` given (the chunks re-read: incremental/partial.py)
    unread: bool = False
    # read from the paths a command was given, not the whole folder: other files may declare
    # more of the campaign, so nothing undeclared is pruned or reported as orphaned
    targeted: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    campaign_id: int
    extern_id: str
    file: str | None
    line: int | None
    fields: tuple[str, ...] = ()
    reason: RemoveReason | None = None  # removals only
    # the content hash a load posts (create, update, replace) and the state's hash it replaces
    # (update, replace, removal of an owned lead): what a reviewer approved (changeset.py)
    digest: str | None = None
    before: str | None = None
    note: str | None = None  # blocked: where the do-not-call set names its phone (file:line)


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """engage-sync.yaml differs from what the last apply carried out: apply goes where these
    settings say (the base URL, the account, the rails), so a reviewer must see the change.
    Values are settings, never lead data; `before` is None when none was ever recorded."""

    before: Mapping[str, Any] | None
    after: Mapping[str, Any]

    @property
    def digest_before(self) -> str:
        return settings_digest(self.before) if self.before is not None else ""

    @property
    def digest_after(self) -> str:
        return settings_digest(self.after)

    def changed(self) -> list[tuple[str, object, object]]:
        """(dotted key, before, after) for each leaf setting that differs, sorted."""
        old, new = _leaves(self.before or {}), _leaves(self.after)
        return [
            (k, old.get(k), new.get(k))
            for k in sorted(old.keys() | new.keys())
            if old.get(k) != new.get(k)
        ]


def settings_digest(settings: Mapping[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _leaves(value: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    found: dict[str, object] = {}
    for key, v in value.items():
        name = f"{prefix}{key}"
        if isinstance(v, Mapping) and v:
            found.update(_leaves(v, f"{name}."))
        else:
            found[name] = v
    return found


@dataclass(frozen=True, slots=True)
class LeadSetPlan:
    """The plan for one campaign: every file that targets it, taken together."""

    campaign: CampaignRef
    account: str | None
    files: tuple[str, ...]
    options: LoadOptions
    creates: Sequence[Change]  # a spool.Spool from the planner: most of it on disk
    updates: tuple[Change, ...]
    orphans: tuple[Change, ...]
    unchanged: int
    applied_before: int
    in_doubt: tuple[str, ...] = ()
    option_changes: tuple[str, ...] = ()
    previous_options: LoadOptions | None = None
    warnings: tuple[str, ...] = ()
    replaces: tuple[Change, ...] = ()
    removals: tuple[Change, ...] = ()
    prune: bool = False
    prune_action: PruneAction = PruneAction.CANCEL
    # the tombstones still to carry out: when each was asked for and its deadline (optouts/),
    # by externId; never part of the checksum (a day passing changes no reviewed plan)
    deadlines: Mapping[str, Deadline] = field(default_factory=dict)
    # from `--refresh` only: what changed in Engage outside engage-sync (see drift.py)
    drift: tuple[Drift, ...] = ()
    unmanaged: int | None = None
    refresh_complete: bool = True
    # declared leads whose phone is on the do-not-call set: never loaded (issue #30)
    blocked: tuple[Change, ...] = ()
    # where these leads go (target_of: account@service), and where the state says the last
    # apply loaded the campaign when that was somewhere else (then every lead is a create)
    target: str | None = None
    moved_from: str | None = None

    @property
    def declared(self) -> int:
        return len(self.creates) + len(self.updates) + len(self.replaces) + self.unchanged

    @property
    def corrections(self) -> tuple[Drift, ...]:
        """Drift that apply --refresh corrects (towards less calling)."""
        return tuple(d for d in self.drift if d.kind in CORRECTED_DRIFT)

    @property
    def to_load(self) -> int:
        changed = sum(1 for d in self.drift if d.kind is DriftKind.CHANGED)
        return len(self.creates) + len(self.updates) + len(self.replaces) + changed

    @property
    def to_stop(self) -> int:
        """Removals, and drift corrections that only cancel (duplicates, reappeared)."""
        cancels = sum(1 for d in self.corrections if d.kind is not DriftKind.CHANGED)
        return len(self.removals) + cancels

    @property
    def has_work(self) -> bool:
        return bool(
            self.creates
            or self.updates
            or self.replaces
            or self.removals
            or self.corrections
            or self.owned_blocked
        )

    @property
    def owned_blocked(self) -> tuple[Change, ...]:
        """Blocked leads the state owns, or sent without a trustworthy answer (in doubt: a load
        that landed is theirs): their records (an earlier phone's too) are cancelled."""
        doubt = frozenset(self.in_doubt)
        return tuple(c for c in self.blocked if c.before is not None or c.extern_id in doubt)

    def changes(self) -> Sequence[Change]:
        """Removals first (they stop calls), then what touches leads already in Engage (a view:
        a first plan's million creates are not copied)."""
        parts = (self.removals, self.blocked, self.replaces, self.updates, self.creates)
        return Joined((*parts, self.orphans))


@dataclass(frozen=True, slots=True)
class PhoneStop:
    """A phone the repository names that no apply has stopped yet (issue #30): where it is
    named (never the number), how the person asked, and its deadline. Apply stops it first,
    in every campaign the scope says; like a deadline, not part of the checksum."""

    file: str
    line: int
    source: str | None
    deadline: Deadline


@dataclass(frozen=True, slots=True)
class Plan:
    leadsets: tuple[LeadSetPlan, ...]
    lineage: str | None
    serial: int
    checksum: str
    warnings: tuple[str, ...] = field(default=())
    refreshed: bool = False  # looked at Engage (plan --refresh): the lead sets carry drift
    settings: SettingsChange | None = None  # engage-sync.yaml changed since the last apply
    stops: tuple[PhoneStop, ...] = ()  # do not call: phones apply stops first
    # plan --refresh: phones Engage holds as do-not-call that the repository does not name
    # (how many; `engage-sync optouts pull` writes them into a list)
    engage_opt_outs: int | None = None

    def count(self, kind: ChangeKind) -> int:
        return sum(len(getattr(ls, _ATTR[kind])) for ls in self.leadsets)

    @property
    def unchanged(self) -> int:
        return sum(ls.unchanged for ls in self.leadsets)

    @property
    def has_changes(self) -> bool:
        return (
            self.settings is not None
            or bool(self.stops)
            or any(ls.has_work or ls.orphans for ls in self.leadsets)
        )

    def tombstones_only(self) -> Plan:
        """The part of this plan no safety rail may hold back: the tombstones (issue #10)."""
        kept = []
        for ls in self.leadsets:
            removals = tuple(c for c in ls.removals if c.reason is RemoveReason.REMOVED)
            kept.append(
                replace(ls, creates=(), updates=(), replaces=(), orphans=(), removals=removals)
            )  # blocked leads stay: they are never loaded either way
        return replace(self, leadsets=tuple(kept), settings=None)


CORRECTED_DRIFT = frozenset({DriftKind.DUPLICATE, DriftKind.CHANGED, DriftKind.REAPPEARED})
# what a drift check fails on: all but `stopped`, the normal end of a lead's life in a dialer
ALARMING_DRIFT = CORRECTED_DRIFT | {DriftKind.MISSING}

_ATTR = {
    ChangeKind.CREATE: "creates",
    ChangeKind.UPDATE: "updates",
    ChangeKind.REPLACE: "replaces",
    ChangeKind.REMOVE: "removals",
    ChangeKind.ORPHAN: "orphans",
    ChangeKind.BLOCKED: "blocked",
}


class StreamedChanges(Sequence[Change]):
    """A sequence of changes read by iterating it (not held as one list): subclasses give
    `__len__` and `__iter__`; indexing walks, and equality compares item by item with any
    sequence (a plan's creates against a tuple in tests, say)."""

    @overload
    def __getitem__(self, i: int) -> Change: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Change]: ...

    def __getitem__(self, i: int | slice) -> Change | Sequence[Change]:
        if isinstance(i, slice):
            return list(islice(iter(self), *i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("index out of range")
        return next(islice(iter(self), i, None))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Joined(StreamedChanges):
    """Several sequences of changes read as one, without copying them (`LeadSetPlan.changes`)."""

    def __init__(self, parts: Iterable[Sequence[Change]]) -> None:
        self._parts = tuple(parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def __iter__(self) -> Iterator[Change]:
        return chain.from_iterable(self._parts)


# -- where leads go: an account of an Engage service --------------------------------------------

# one service under two names: a state applied to one is applied to the other (NOTES.md, Hosts)
_SERVICE_ALIASES = {"engage.ringcentral.com": "ringcx.ringcentral.com"}


def engage_service(base_url: str) -> str:
    """The Engage service a base URL reaches, as the state records it: scheme, host (the old
    name as the new), port when not the default, and path."""
    parts = urlsplit(base_url.strip().rstrip("/"))
    host = (parts.hostname or "").lower()
    host = _SERVICE_ALIASES.get(host, host)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme == "https" else 80
    shown = f":{port}" if port not in (None, default) else ""
    path = parts.path.rstrip("/")
    path = path[: -len("/api")] if path.endswith("/api") else path
    return f"{parts.scheme}://{host}{shown}{path}"


def target_of(account: str | None, service: str) -> str:
    """A campaign's target as the state records it: `account@service` (no account: `@service`)."""
    return f"{account or ''}@{service}"


def same_target(recorded: str | None, wanted: str | None) -> bool:
    """Whether leads recorded for `recorded` are in `wanted`: an unknown side (a state from
    before targets were recorded, a plan with no account) is taken to agree."""
    if recorded is None or wanted is None:
        return True
    old_account, _, old_service = recorded.partition("@")
    new_account, _, new_service = wanted.partition("@")
    if old_service != new_service:
        return False
    return not (old_account and new_account and old_account != new_account)


def describe_target(target: str) -> str:
    account, _, service = target.partition("@")
    return f"account {account} at {service}" if account else service


_PLAIN = (str, int)


def _as_written(
    row: Mapping[str, object],
) -> tuple[tuple[str, ...], tuple[FieldValue, ...]] | None:
    """The fields of a row `to_request` wrote with no custom field: externId first, the rest
    in order already (no need to sort them again); None for any other row."""
    keys = tuple(row)
    if not keys or keys[0] != "externId" or "extendedLeadData" in row:
        return None
    names, plain = keys[1:], tuple(row.values())[1:]
    if list(names) != sorted(names) or not all(type(v) in _PLAIN for v in plain):
        return None
    return names, cast("tuple[FieldValue, ...]", plain)


def _flatten(data: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[FieldValue, ...]]:
    """A lead's fields as Lead holds them: sorted by name, custom fields flattened, empty ones
    and externId left out."""
    flat: list[tuple[str, FieldValue]] = []
    for name, value in data.items():
        if name == "externId" or value is None:
            continue
        if name == "extendedLeadData" and isinstance(value, dict):
            flat.extend((EXTENDED + str(k), str(v)) for k, v in value.items() if v != "")
        elif isinstance(value, (str, int)):
            flat.append((name, value))
    flat.sort()
    return tuple(n for n, _ in flat), tuple(v for _, v in flat)
