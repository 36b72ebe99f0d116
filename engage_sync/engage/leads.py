"""Lead records as Engage's lead search returns them, and which of them can still be dialled.

NOTES.md, "Lead management": rows carry `leadId`, `externId`, `campaignId`, `leadPhone`,
`leadState`, `suppressed` and a nested `campaignLead` (with `leadPhoneE164`). States are spelled
with hyphens in the spec and underscores in the guide; an unknown state counts as dialable, and a
suppressed record is not dialled whatever its state.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model import CONTACT_FIELDS

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
    def from_row(cls, row: Any) -> LeadRecord | None:
        """A search row, or None when it lacks what identifies a record."""
        if not isinstance(row, dict):
            return None
        raw = row.get("campaignLead")
        nested: dict[str, Any] = raw if isinstance(raw, dict) else {}
        try:
            lead_id = int(row["leadId"])
            campaign = int(row.get("campaignId") or nested["campaignId"])
        except (KeyError, TypeError, ValueError):
            return None
        extern_id = row.get("externId", nested.get("externId"))
        if extern_id is None:
            return None
        phone = row.get("leadPhone") or nested.get("leadPhone") or nested.get("leadPhoneE164")
        suppressed = row.get("suppressed", nested.get("suppressed", False))
        content: dict[str, str] = {}
        for source in (nested, row):  # top-level contact fields win over the nested copy
            for name, value in source.items():
                if name in CONTENT_FIELDS:
                    content[name] = "" if value is None else str(value)
        extended = nested.get("extendedLeadData") or row.get("extendedLeadData")
        if isinstance(extended, dict):
            for name, value in extended.items():
                content[f"extendedLeadData.{name}"] = "" if value is None else str(value)
        raw_phones = tuple(
            str(v)
            for v in (
                row.get("leadPhone"),
                nested.get("leadPhone"),
                row.get("leadPhoneE164"),
                nested.get("leadPhoneE164"),
            )
            if v
        )
        return cls(
            phones=tuple(dict.fromkeys(raw_phones)),
            lead_id=lead_id,
            extern_id=str(extern_id),
            campaign_id=campaign,
            phone=phone_key(phone),
            state=normalise_state(row.get("leadState", nested.get("leadState"))),
            suppressed=suppressed is True or str(suppressed).lower() == "true",
            loaded=str(row.get("loadedDts") or row.get("uploadDate") or ""),
            content=tuple(sorted(content.items())),
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
