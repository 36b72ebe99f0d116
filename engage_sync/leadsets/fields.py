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
    min_length: int
    max_length: int | None
    pattern: re.Pattern[str] | None
    minimum: int | None


def _compile() -> tuple[dict[str, FieldRule], tuple[str, ...], re.Pattern[str]]:
    lead = definition("lead")
    rules: dict[str, FieldRule] = {}
    for name, raw in lead["properties"].items():
        spec = _resolve(raw)
        pattern = spec.get("pattern")
        rules[name] = FieldRule(
            name=name,
            kind=spec.get("type", "string"),
            min_length=spec.get("minLength", 0),
            max_length=spec.get("maxLength"),
            pattern=re.compile(pattern) if pattern else None,
            minimum=spec.get("minimum"),
        )
    name_pattern = re.compile(lead["properties"]["extendedLeadData"]["propertyNames"]["pattern"])
    return rules, tuple(lead["required"]), name_pattern


RULES, REQUIRED, EXTENDED_NAME = _compile()
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
    """`(415) 555-0100` -> `4155550100`; a leading 1 on 11 digits dropped; None when ambiguous."""
    if value.isdigit() and len(value) == 10:  # the common case, fast
        return value
    digits = _FORMATTING.sub("", value)
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
    compact = _E164_CHARS.sub("", value)
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
            issues.append((name, f"unknown field{suggest(name)}"))
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
                        issues.append(
                            (name, f"'{_mask(part)}' is not a valid phone number ({expected})")
                        )
                        break
                    phones.append(phone)
                else:
                    out[name] = "|".join(phones)
                continue
            if name == "leadPhoneE164":
                e164 = normalise_e164(value)
                if e164 is None:
                    issues.append((name, "must be E.164, e.g. +14155550100"))
                else:
                    out[name] = e164
                continue
            if rule.max_length is not None and len(value) > rule.max_length:
                issues.append((name, f"longer than {rule.max_length} characters"))
                continue
            if rule.pattern is not None and not rule.pattern.search(value):
                issues.append((name, f"does not match {rule.pattern.pattern}"))
                continue
            out[name] = value
        elif rule.kind == "integer":
            number = _integer(value)
            if number is None:
                shown = repr(value) if isinstance(value, str) else _type_name(value)
                issues.append((name, f"must be a whole number, not {shown}"))
            elif rule.minimum is not None and number < rule.minimum:
                issues.append((name, f"must be at least {rule.minimum}"))
            else:
                out[name] = number
        else:  # extendedLeadData
            if not isinstance(value, dict):
                issues.append((name, "must be a mapping of custom field names to text"))
                continue
            custom: dict[str, str] = {}
            for key, item in value.items():
                if not EXTENDED_NAME.match(key):
                    issues.append((f"{name}.{key}", "is not a valid custom field name"))
                elif isinstance(item, (dict, list)):
                    issues.append((f"{name}.{key}", "must be text, not a nested value"))
                elif item is not None and item != "":
                    custom[key] = str(item)
            if custom:
                out[name] = custom
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

    `fast(row)` handles the common clean row (every value present, phones already 10 digits, no
    integer fields) with a handful of C-level operations and returns (externId, values, digest);
    it returns None for anything else, and the caller falls back to `check_lead`, which reports
    problems and normalises. Both give the same lead for the same row (tests/test_fields.py).
    """

    def __init__(self, names: list[str], ctx: LeadContext) -> None:
        self.width = len(names)
        self.eid = names.index("externId")
        order = sorted((i for i, n in enumerate(names) if n != "externId"), key=lambda i: names[i])
        self.names = tuple(names[i] for i in order)
        self._get = _getter(order)
        self._prefix = "\x1e" + ",".join(self.names) + "\x1es"
        self._phone = names.index("leadPhone") if "leadPhone" in names else None
        e164 = RULES["leadPhoneE164"].pattern
        self._e164 = names.index("leadPhoneE164") if "leadPhoneE164" in names else None
        self._e164_match = e164.match if e164 is not None else (lambda v: True)
        needed = {"EXPLICIT": "leadTimezone", "ZIPCODE": "zip"}.get(ctx.time_zone_option or "")
        self._needed_missing = needed is not None and needed not in names
        bad_names = [n for n in names if n not in STRING_FIELDS and not _extended_ok(n)]
        self.usable = (
            not INTEGER_FIELDS & set(names)
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
        e164_ok, get, prefix, sha256 = self._e164_match, self._get, self._prefix, hashlib.sha256
        b2a = binascii.b2a_base64  # model.short_hash, inlined: this runs per row
        if not self.usable:
            return lambda row: None

        def fast(row: list[Any]) -> tuple[str, tuple[str, ...], str] | None:
            if len(row) != width:
                return None
            eid = row[eid_at]
            if type(eid) is not str or not eid or len(eid) > 255:
                return None
            if phone_at is not None:
                phone = row[phone_at]
                if type(phone) is not str or len(phone) != 10 or not phone.isdigit():
                    return None
            if e164_at is not None:
                e164 = row[e164_at]
                if type(e164) is not str or not e164_ok(e164):
                    return None
            values = get(row)
            if "" in values:
                return None
            try:
                text = eid + prefix + "\x1fs".join(values)
            except TypeError:  # JSON Lines: a number, true/false or null somewhere
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
    return name.startswith(EXTENDED) and bool(EXTENDED_NAME.match(name[len(EXTENDED) :]))
