"""Phone numbers to one form, E.164, so "(303) 555-0142", "303.555.0142" and "+1 303 555 0142"
are one phone.

Parsing is Google's libphonenumber (the `phonenumbers` package): which lengths a country's
numbers have, its trunk prefixes and its international prefix are data that changes, not rules
to write here. A number that cannot be a phone number of its region (a wrong length) is refused;
one the metadata does not know as assigned is accepted (`is_possible_number`, not
`is_valid_number`): a do-not-call entry must never be dropped because the metadata is behind.

The common case, a North American lead's ten digits, takes a fast path: a million leads are
checked against the do-not-call set in a plan. The library (about 25 ms to import, its metadata
read on first use) is imported when a phone first needs it, not by every command that starts.
"""

from __future__ import annotations

import functools

# regions whose national numbers are the ten digits of the North American Numbering Plan
NANP = frozenset(
    [
        "US",
        "CA",
        "AG",
        "AI",
        "AS",
        "BB",
        "BM",
        "BS",
        "DM",
        "DO",
        "GD",
        "GU",
        "JM",
        "KN",
        "KY",
        "LC",
        "MP",
        "MS",
        "PR",
        "SX",
        "TC",
        "TT",
        "VC",
        "VG",
        "VI",
    ]
)


def known_region(region: str) -> bool:
    import phonenumbers

    return region.upper() in phonenumbers.SUPPORTED_REGIONS


@functools.lru_cache(maxsize=4096)
def _parse(text: str, region: str) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164(text: object, region: str = "US") -> str | None:
    """The phone in E.164 (`+13035550142`), or None when it is not a phone number of `region`
    (numbers written with a `+` carry their own country)."""
    raw = str(text or "").strip()
    if not raw:
        return None
    if len(raw) == 10 and raw.isdigit() and region in NANP and raw[0] not in "01":
        return "+1" + raw  # the fast path: ten digits of a NANP region
    return _parse(raw, region.upper())


def search_forms(phone: str) -> tuple[str, ...]:
    """The forms a phone may have been loaded in, to send a lead search (how Engage matches a
    phone written otherwise than loaded is not documented: NOTES.md, lead management): E.164,
    its digits, and the national number (a NANP lead's ten digits)."""
    forms = [phone, phone.lstrip("+")]
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return tuple(dict.fromkeys(forms))
    forms.append(str(number.national_number))
    return tuple(dict.fromkeys(forms))


def record_phones(raw: object, region: str) -> tuple[str, ...]:
    """The E.164 phones a record's or a lead's phone field holds (several joined with `|`)."""
    found = []
    for part in str(raw or "").split("|"):
        phone = e164(part, region)
        if phone is not None:
            found.append(phone)
    return tuple(found)
