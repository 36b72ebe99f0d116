"""Lead records as Engage's lead search returns them, and which of them can still be dialled.

NOTES.md, "Lead management": rows carry `leadId`, `externId`, `campaignId`, `leadPhone`,
`leadState`, `suppressed` and a nested `campaignLead` (with `leadPhoneE164`). States are spelled
with hyphens in the spec and underscores in the guide; an unknown state counts as dialable, and a
suppressed record is not dialled whatever its state.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError
from ..model import CONTACT_FIELDS
from .shapes import Shape, kind

# Everything else, including states nobody documented, is treated as dialable: the safe side for a
# tool whose promise is "never more dialable records than the files declare".
NOT_DIALABLE = frozenset(
    {
        "CANCELLED",
        "PAUSED",
        "COMPLETE",
        "DO-NOT-CALL",
        "MAX-DIAL-LIMIT",
        "DISCONNECTED",
        "INTERCEPT",
    }
)


CONTENT_FIELDS = frozenset(CONTACT_FIELDS)


class LeadAction(enum.Enum):
    """The `leadAction` values engage-sync sends (the API has more; see NOTES.md)."""

    CANCEL = "CANCEL_LEADS"
    DELETE = "DELETE_LEADS"


# a state is a short word; anything else (a server echoing text, a token) is shown as this, and
# like any state nobody documented it counts as dialable
UNREADABLE = "UNREADABLE"
_STATE = re.compile(r"[A-Z][A-Z0-9-]{0,39}")


def normalise_state(state: object) -> str:
    text = str(state or "").strip().upper().replace("_", "-")
    return text if not text or _STATE.fullmatch(text) else UNREADABLE


def is_dialable(state: object, suppressed: object) -> bool:
    if suppressed is True or str(suppressed).lower() == "true":
        return False
    return normalise_state(state) not in NOT_DIALABLE


_NOT_DIGITS = re.compile(r"[^0-9|]")


def phone_key(phone: object) -> str:
    """Digits only, so `(415) 555-0100`, `4155550100` and `+14155550100` compare equal."""
    text = _NOT_DIGITS.sub("", str(phone or ""))
    return "|".join(p[1:] if len(p) == 11 and p.startswith("1") else p for p in text.split("|"))


@dataclass(frozen=True, slots=True)
class LeadRecord:
    """One dial record in Engage (never logged or reported: the phone is PII)."""

    lead_id: int
    extern_id: str
    campaign_id: int
    phone: str
    state: str
    suppressed: bool
    loaded: str = ""
    # the lead's other fields as the search row shows them (name -> text; custom fields as
    # extendedLeadData.NAME): compared with the declared lead, never logged or reported
    content: tuple[tuple[str, str], ...] = ()
    # every phone field the row shows, as written (leadPhone, possibly `|`-joined, and
    # leadPhoneE164): do not call compares each in E.164 (issue #30)
    phones: tuple[str, ...] = field(default=(), compare=False)

    @property
    def dialable(self) -> bool:
        return is_dialable(self.state, self.suppressed)

    @classmethod
    def parse(cls, row: object, where: str = "leadSearch") -> LeadRecord:
        """One search row (NOTES.md, lead search), the nested `campaignLead` filling what the
        top level leaves out; ApiError naming `where` and the field when a row lacks what
        identifies a record (leadId, campaignId, externId, a phone, leadState) or holds a
        field of another type. An externId no lead set can declare (null, too long, control
        characters) reads as "": a record that is not engage-sync's, never shown."""
        r = Shape(row, where)
        raw = r.raw("campaignLead")
        if raw is not None and not isinstance(raw, Mapping):
            raise r.wrong(f"campaignLead is {kind(raw)}, not an object")
        nested = Shape(raw or {}, f"{where}: campaignLead")
        for needed in ("externId", "leadState"):
            if not (r.has(needed) or nested.has(needed)):
                raise r.wrong(f"has no {needed}")
        if not any(x.has(k) for x in (r, nested) for k in PHONE_KEYS):
            raise r.wrong("has no leadPhone or leadPhoneE164")
        # leadPhone, the nested leadPhone, leadPhoneE164, the nested one
        phones = [x.text(k, PHONE_LIMIT) for k in PHONE_KEYS for x in (r, nested)]
        for i, phone in enumerate(phones):
            if len(phone) > PHONE_LIMIT:
                raise r.wrong(f"{PHONE_KEYS[i // 2]} is longer than {PHONE_LIMIT} characters")
        content: dict[str, str] = {}
        for source in (nested, r):  # top-level contact fields win over the nested copy
            for name in CONTENT_FIELDS & source.data.keys():
                content[name] = _value(source, name)
        extended = _first(nested, r, "extendedLeadData")
        if extended is not None:
            if not isinstance(extended, Mapping):
                raise r.wrong(f"extendedLeadData is {kind(extended)}, not an object")
            custom = Shape(extended, f"{where}: extendedLeadData")
            for name in extended:  # a name no lead set can declare is never compared nor shown
                if isinstance(name, str) and _CUSTOM_NAME.fullmatch(name):
                    content[f"extendedLeadData.{name}"] = _value(custom, name)
        state = _first(r, nested, "leadState")
        if state is not None and not isinstance(state, str):
            raise r.wrong(f"leadState is {kind(state)}, not a text")
        return cls(
            lead_id=r.ident("leadId", nested),
            extern_id=_extern_id(r, nested),
            campaign_id=r.ident("campaignId", nested),
            phone=phone_key(phones[0] or phones[1] or phones[3]),
            state=normalise_state(state),
            suppressed=_suppressed(r, nested),
            loaded=r.text("loadedDts", STAMP_LIMIT) or r.text("uploadDate", STAMP_LIMIT),
            content=tuple(sorted(content.items())),
            phones=tuple(dict.fromkeys(p for p in phones if p)),
        )

    def differs_from(self, fields: Iterable[tuple[str, object]]) -> tuple[str, ...]:
        """The declared fields this record shows with another value (phones aside; a field the
        row does not show is not compared; text compared trimmed and case-blind), and fields
        the record has a value for that the declaration leaves out."""
        shown = dict(self.content)
        declared = {n: str(v) for n, v in fields if n not in ("leadPhone", "leadPhoneE164")}
        names = []
        for name in sorted(shown.keys() | declared.keys()):
            if name not in shown:
                continue
            have, want = shown[name].strip().casefold(), declared.get(name, "").strip().casefold()
            if have != want:
                names.append(name)
        return tuple(names)


def read_page(answer: object, where: str = "leadSearch") -> list[LeadRecord]:
    """One page of a lead search: a list of rows (or a paged envelope's `content` or `leads`,
    should a tenant answer one; nothing for an empty answer)."""
    if isinstance(answer, Mapping):
        answer = answer.get("content") or answer.get("leads") or []
    if answer is None:
        return []
    if not isinstance(answer, list):
        raise ApiError(f"{where}: is {kind(answer)}, not a list of leads")
    return [LeadRecord.parse(row, f"{where}: row {i}") for i, row in enumerate(answer)]


PHONE_KEYS = ("leadPhone", "leadPhoneE164")
PHONE_LIMIT = 1000  # characters of a phone field (several numbers may be `|`-joined)
VALUE_LIMIT = 4096  # a declared field's longest value (schemas/leadset.schema.json)
STAMP_LIMIT = 40  # loadedDts: only ordered, never shown
EXTERN_ID_LIMIT = 255
_CUSTOM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ -]{0,63}")  # as the lead-set schema allows
# control and format characters, which the lead-set schema forbids in an externId
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _first(a: Shape, b: Shape, key: str) -> Any:
    """The field as `a` has it (even null), else as `b` has it."""
    return a.raw(key) if a.has(key) else b.raw(key)


def _extern_id(r: Shape, nested: Shape) -> str:
    source = r if r.has("externId") else nested
    text = source.text("externId", EXTERN_ID_LIMIT)
    return "" if len(text) > EXTERN_ID_LIMIT or _CONTROL.search(text) else text


def _value(source: Shape, name: str) -> str:
    """A field's value as text, compared and never shown: a value longer than any a lead set
    can declare is cut (and so differs from all of them)."""
    value = source.raw(name)
    if isinstance(value, float):
        return str(value)
    return source.text(name, VALUE_LIMIT)


def _suppressed(r: Shape, nested: Shape) -> bool:
    source = r if r.has("suppressed") else nested
    value = source.raw("suppressed")
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return source.flag("suppressed") is True
