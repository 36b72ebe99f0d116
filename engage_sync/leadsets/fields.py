"""Lead field rules, compiled once from the schema's `lead` definition.

Validating each of a million leads with jsonschema takes minutes, so the per-lead checks are
compiled here from the same definition (property names, types, lengths, patterns) plus the API rules
the schema cannot say (US phone normalisation, time-zone option needs). tests/test_fields.py checks
that this and jsonschema agree.
"""

from __future__ import annotations

import binascii
import difflib
import hashlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model import EXTENDED
from .exports import SHORTENED, TEXT_MARK, shortened
from .schema import definition

_FORMATTING = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"^[0-9]+$")
_E164_CHARS = re.compile(r"[\s().\-/]")
US_COUNTRIES = frozenset({"", "US", "USA", "1", "CA", "CAN"})


def _resolve(spec: dict[str, Any]) -> dict[str, Any]:
    ref = spec.get("$ref")
    if isinstance(ref, str):
        return definition(ref.rsplit("/", 1)[1])
    return spec


@dataclass(frozen=True, slots=True)
class FieldRule:
    name: str
    kind: str  # "string" | "integer" | "object"
    max_length: int | None
    pattern: re.Pattern[str] | None
    minimum: int | None


def _compile() -> tuple[dict[str, FieldRule], re.Pattern[str]]:
    lead = definition("lead")
    rules: dict[str, FieldRule] = {}
    for name, raw in lead["properties"].items():
        spec = _resolve(raw)
        pattern = spec.get("pattern")
        rules[name] = FieldRule(
            name=name,
            kind=spec.get("type", "string"),
            max_length=spec.get("maxLength"),
            pattern=re.compile(pattern) if pattern else None,
            minimum=spec.get("minimum"),
        )
    name_pattern = re.compile(lead["properties"]["extendedLeadData"]["propertyNames"]["pattern"])
    return rules, name_pattern


RULES, EXTENDED_NAME = _compile()
_EXTENDED = definition("lead")["properties"]["extendedLeadData"]
MAX_EXTENDED: int = _EXTENDED["maxProperties"]  # custom fields in a lead
MAX_EXTENDED_NAME: int = _EXTENDED["propertyNames"]["maxLength"]
MAX_EXTENDED_VALUE: int = _EXTENDED["additionalProperties"]["maxLength"]
MAX_TEXT = RULES["firstName"].max_length or 0  # every text field's (the schema's `text`)
# a whole lead, names and values: what the schema cannot say (no JSON Schema keyword bounds a
# sum); 16 times the largest field, so a lead of long addresses and notes is still one
MAX_LEAD = 1 << 16
INTEGER_FIELDS = frozenset(n for n, r in RULES.items() if r.kind == "integer")
STRING_FIELDS = frozenset(n for n, r in RULES.items() if r.kind == "string")
KNOWN_FIELDS = frozenset(RULES)
_LOWER = {n.lower(): n for n in RULES}


def suggest(name: str) -> str:
    """`, did you mean 'firstName'?` for a near miss, else empty."""
    exact = _LOWER.get(name.lower().replace("_", ""))
    close = [exact] if exact else difflib.get_close_matches(name, list(RULES), n=1, cutoff=0.75)
    return f" (did you mean '{close[0]}'?)" if close else ""


def normalise_us_phone(value: str, any_length: bool = False) -> str | None:
    """`(415) 555-0100` -> `4155550100`; a leading 1 on 11 digits dropped; None when ambiguous.
    A leading apostrophe (Excel's mark for text: exports.py) is formatting too."""
    if value.isdigit() and len(value) == 10:  # the common case, fast
        return value
    digits = _FORMATTING.sub("", value.removeprefix(TEXT_MARK))
    if digits.startswith("+"):
        digits = digits[1:]
    if not _DIGITS.match(digits):
        return None
    if any_length:
        return digits if 4 <= len(digits) <= 15 else None
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def normalise_e164(value: str) -> str | None:
    compact = _E164_CHARS.sub("", value.strip().removeprefix(TEXT_MARK))
    rule = RULES["leadPhoneE164"].pattern
    return compact if rule is not None and rule.match(compact) else None


@dataclass(frozen=True, slots=True)
class LeadContext:
    """What the lead set's options imply for each lead."""

    time_zone_option: str | None
    us_phones: bool = True


Issue = tuple[str, str]  # (field, message)


def check_lead(raw: dict[str, object], ctx: LeadContext) -> tuple[dict[str, object], list[Issue]]:
    """Validate and normalise one lead mapping: (normalised, issues); empty values dropped."""
    issues: list[Issue] = []
    out: dict[str, object] = {}
    for name, value in raw.items():
        if value is None or value == "":
            continue
        rule = RULES.get(name)
        if rule is None:
            issues.append((_cut(name), f"unknown field{suggest(name)}"))
            continue
        if rule.kind == "string":
            if not isinstance(value, str):
                issues.append((name, f"must be a string, not {_type_name(value)}"))
                continue
            if name == "leadPhone":
                phones = []
                for part in value.split("|"):
                    phone = normalise_us_phone(part.strip(), any_length=not ctx.us_phones)
                    if phone is None:
                        expected = "10 digits with area code" if ctx.us_phones else "4 to 15 digits"
                        says = (
                            SHORTENED
                            if shortened(part)
                            else f"is not a valid phone number ({expected})"
                        )
                        issues.append((name, f"'{_mask(part)}' {says}"))
                        break
                    phones.append(phone)
                else:
                    out[name] = "|".join(phones)
                continue
            if name == "leadPhoneE164":
                e164 = normalise_e164(value)
                if e164 is None:
                    says = f"'{_mask(value)}' {SHORTENED}" if shortened(value) else _NOT_E164
                    issues.append((name, says))
                else:
                    out[name] = e164
                continue
            if rule.max_length is not None and len(value) > rule.max_length:
                issues.append((name, f"longer than {rule.max_length} characters"))
                continue
            if rule.pattern is not None and not rule.pattern.search(value):
                issues.append(
                    (name, _PATTERN_SAYS.get(name, f"does not match {rule.pattern.pattern}"))
                )
                continue
            out[name] = value
        elif rule.kind == "integer":
            number = _integer(value)
            if number is None:
                shown = repr(_cut(value)) if isinstance(value, str) else _type_name(value)
                issues.append((name, f"must be a whole number, not {shown}"))
            elif rule.minimum is not None and number < rule.minimum:
                issues.append((name, f"must be at least {rule.minimum}"))
            else:
                out[name] = number
        else:  # extendedLeadData
            if not isinstance(value, dict):
                issues.append((name, "must be a mapping of custom field names to text"))
                continue
            if len(value) > MAX_EXTENDED:
                issues.append((name, f"has {len(value)} custom fields, more than {MAX_EXTENDED}"))
                continue
            custom: dict[str, str] = {}
            for key, item in value.items():
                where = f"{name}.{_cut(str(key))}"
                if not EXTENDED_NAME.match(key) or len(key) > MAX_EXTENDED_NAME:
                    issues.append((where, "is not a valid custom field name"))
                elif isinstance(item, (dict, list)):
                    issues.append((where, "must be text, not a nested value"))
                elif item is not None and item != "":
                    text = str(item)
                    if len(text) > MAX_EXTENDED_VALUE:
                        issues.append((where, f"longer than {MAX_EXTENDED_VALUE} characters"))
                    else:
                        custom[key] = text
            if custom:
                out[name] = custom
    size = _size(out)
    if size > MAX_LEAD:
        issues.append(("(lead)", f"is {size:,} characters long, more than {MAX_LEAD:,}"))
    if "externId" not in out and not any(f == "externId" for f, _ in issues):
        issues.append(("externId", "required: every lead needs an externId"))
    phone_issue = any(f in ("leadPhone", "leadPhoneE164") for f, _ in issues)
    if "leadPhone" not in out and "leadPhoneE164" not in out and not phone_issue:
        issues.append(("leadPhone", "required: a lead needs leadPhone or leadPhoneE164"))
    if ctx.time_zone_option == "EXPLICIT" and "leadTimezone" not in out:
        issues.append(("leadTimezone", "required because options.timeZoneOption is EXPLICIT"))
    elif ctx.time_zone_option == "ZIPCODE" and "zip" not in out:
        issues.append(("zip", "required because options.timeZoneOption is ZIPCODE"))
    return out, issues


_NOT_E164 = "must be E.164, e.g. +14155550100"
_PATTERN_SAYS = {
    "externId": "holds a control character (a line break, tab, escape or bidi control): it "
    "would be printed in plans, logs and pull-request comments",
}


def _cut(text: str, most: int = 64) -> str:
    """At most `most` characters of a name or value from the file, for a problem's text."""
    return text if len(text) <= most else text[:most] + "…"


def _size(lead: dict[str, object]) -> int:
    """A lead's names and values, in characters (what its JSON in a loader request grows by)."""
    size = 0
    for name, value in lead.items():
        size += len(name)
        if isinstance(value, dict):
            size += sum(len(k) + len(v) for k, v in value.items())
        else:
            size += len(str(value))
    return size


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# a phone number as written: North American (`(415) 555-0100`, `+1 415.555.0100`) or E.164 with
# its plus; a number of digits alone is a phone only when it is the lead's own (customer
# numbers are often ten digits)
_PHONE_SHAPED = re.compile(
    r"(?:\+?1[ .-]?)?(?:\([0-9]{3}\) ?|[0-9]{3}[ .-]?)[0-9]{3}[ .-]?[0-9]{4}"
    r"|\+[0-9](?:[ .-]?[0-9]){6,14}"
)
_PHONE_START = frozenset("+(0123456789")


def personal_id(extern_id: str, lead: dict[str, object]) -> str | None:
    """What personal data an externId looks like ("an email address", "a phone number"), or
    None. The fast path (HeaderPlan) sends every row this may say yes to to the general check."""
    if "@" in extern_id and _EMAIL.fullmatch(extern_id):
        return "an email address"
    if not extern_id.isdigit():
        return "a phone number" if _PHONE_SHAPED.fullmatch(extern_id) else None
    phones = str(lead.get("leadPhone") or "").split("|")
    own = {p for p in phones if p} | {"1" + p for p in phones if p}
    e164 = lead.get("leadPhoneE164")
    if isinstance(e164, str):
        own.add(e164[1:])
    return "a phone number" if extern_id in own else None


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        return int(value.strip())
    return None


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), "a number")


def _mask(text: str) -> str:
    """Enough of a bad phone to find it, not the whole number (plans and logs never show PII)."""
    text = text.strip()
    return text if len(text) <= 4 else "…" + text[-4:]


class HeaderPlan:
    """The per-row work for one CSV header (or one JSON Lines key layout), compiled once.

    `fast(row)` handles the common clean row (every value present, one US phone, no integer
    fields) with a handful of C-level operations and returns (externId, values, digest); a phone
    written otherwise than as 10 digits (`(415) 555-0100`) is normalised, and its value in
    `values` is then not the row's (the caller can tell: `is not`). It returns None for anything
    else, and the caller falls back to `check_lead`, which reports problems and normalises. Both
    give the same lead for the same row (tests/test_fields.py).
    """

    def __init__(self, names: list[str], ctx: LeadContext) -> None:
        self.width = len(names)
        self.eid = names.index("externId")
        order = sorted((i for i, n in enumerate(names) if n != "externId"), key=lambda i: names[i])
        self.names = tuple(names[i] for i in order)
        self._get = _getter(order)
        self._prefix = "\x1e" + ",".join(self.names) + "\x1es"
        self._phone = names.index("leadPhone") if "leadPhone" in names else None
        # where the phone is among `values` (what a normalised phone replaces)
        self.phone_at = self.names.index("leadPhone") if "leadPhone" in names else None
        e164 = RULES["leadPhoneE164"].pattern
        self._e164 = names.index("leadPhoneE164") if "leadPhoneE164" in names else None
        self._e164_match = e164.match if e164 is not None else (lambda v: True)
        needed = {"EXPLICIT": "leadTimezone", "ZIPCODE": "zip"}.get(ctx.time_zone_option or "")
        self._needed_missing = needed is not None and needed not in names
        bad_names = [n for n in names if n not in STRING_FIELDS and not _extended_ok(n)]
        self.usable = (
            sum(1 for n in names if n.startswith(EXTENDED)) <= MAX_EXTENDED
            and not INTEGER_FIELDS & set(names)
            and not bad_names
            and not self._needed_missing
            and ctx.us_phones
            and len(set(names)) == len(names)
        )
        # an attribute, not a method that calls it: one Python call per row, not two
        self.fast = self._compile()

    def _compile(self) -> Callable[[list[Any]], tuple[str, tuple[str, ...], str] | None]:
        """The per-row function, with everything it needs bound as locals (this runs per lead)."""
        width, eid_at, phone_at, e164_at = self.width, self.eid, self._phone, self._e164
        value_at = self.phone_at if self.phone_at is not None else -1
        normalise = normalise_us_phone
        e164_ok, get, prefix, sha256 = self._e164_match, self._get, self._prefix, hashlib.sha256
        b2a = binascii.b2a_base64  # model.short_hash, inlined: this runs per row
        # the text of a row's values past which one of them may be too long (or the lead):
        # such a rare row takes the general check, which says which
        budget = len(prefix) + 2 * self.width + MAX_TEXT
        starts, shaped = _PHONE_START, _PHONE_SHAPED.fullmatch
        if not self.usable:
            return lambda row: None

        def fast(row: list[Any]) -> tuple[str, tuple[str, ...], str] | None:
            if len(row) != width:
                return None
            eid = row[eid_at]
            if type(eid) is not str or not eid or len(eid) > 255:
                return None
            # a control character, or what may be an email or phone (personal_id says): the
            # general check refuses the one and warns of the other
            if not eid.isprintable() or "@" in eid:
                return None
            if eid[0] in starts and not eid.isdigit() and shaped(eid):
                return None
            formatted = None
            if phone_at is not None:
                phone = row[phone_at]
                if type(phone) is not str:
                    return None
                if len(phone) != 10 or not phone.isdigit():
                    if "|" in phone:
                        return None  # several phones: the general check splits them
                    formatted = phone = normalise(phone)
                    if phone is None:
                        return None
                if phone in eid:
                    return None
            if e164_at is not None:
                e164 = row[e164_at]
                if type(e164) is not str or not e164_ok(e164) or e164[1:] in eid:
                    return None
            values = get(row)
            if "" in values:
                return None
            if formatted is not None:
                values = (*values[:value_at], formatted, *values[value_at + 1 :])
            try:
                text = eid + prefix + "\x1fs".join(values)
            except TypeError:  # JSON Lines: a number, true/false or null somewhere
                return None
            if len(text) - len(eid) > budget:
                return None
            return eid, values, b2a(sha256(text.encode()).digest()[:6], newline=False).decode()

        return fast


def _getter(order: list[int]) -> Callable[[list[Any]], tuple[str, ...]]:
    if len(order) == 1:
        only = order[0]
        return lambda row: (row[only],)
    if not order:
        return lambda row: ()
    return operator.itemgetter(*order)


def _extended_ok(name: str) -> bool:
    key = name[len(EXTENDED) :]
    return name.startswith(EXTENDED) and bool(EXTENDED_NAME.match(key)) and len(key) <= 64
