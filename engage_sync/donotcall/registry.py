"""The do-not-call set a plan checks every declared lead against (issue #30), and the phones an
apply must still stop.

It holds the phones the repository names in clear (its do-not-call lists, and the phones
tombstones keep: they are in git already) and the keyed hashes the state keeps of the phones
stopped before (donotcall/keys.py), which outlive the files that named them. A lead is blocked
when one of its phones (`leadPhone`, each part of a `|`-joined one, or `leadPhoneE164`) is in
either. Checking a lead costs a dictionary look-up when its phone is ten North American digits,
and a keyed hash more only while the state holds hashes no phone of the repository explains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from .keys import PhoneKey
from .phones import e164


@dataclass(frozen=True, slots=True)
class Origin:
    """Why a phone is on the do-not-call set: where the repository says so (or the state), when
    the person asked (None: a tombstone that says not; its deadline dates it), and how."""

    file: str
    line: int
    requested: date | None
    source: str | None  # IVR, agent, ... ; "tombstone"; "engage"

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


IN_STATE = Origin("the state (stopped by an earlier apply)", 0, None, "state")


class LeadLike(Protocol):
    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def values(self) -> tuple[object, ...]: ...


@dataclass(frozen=True, slots=True)
class Pending:
    """A phone the repository names that no apply has confirmed stopped yet."""

    phone: str
    origin: Origin


class Registry:
    """The do-not-call set: phones in clear (E.164 -> where), and the state's keyed hashes."""

    def __init__(
        self, region: str = "US", key: PhoneKey | None = None, hashes: Iterable[str] = ()
    ) -> None:
        self.region = region
        self.key = key
        self.hashes = frozenset(hashes)
        self.phones: dict[str, Origin] = {}
        self._listed: set[str] = set()  # from the do-not-call lists (not tombstones)
        self._extra: frozenset[str] | None = None
        self._fingerprint: str | None = None
        self._after: str | None = None  # after_stops
        self._slots: dict[tuple[str, ...], tuple[tuple[int, bool], ...]] = {}

    def add(self, phone: str, origin: Origin, listed: bool = True) -> None:
        """A phone the repository names; the earliest request wins (an undated one last)."""
        had = self.phones.get(phone)
        if had is None or (
            origin.requested is not None
            and (had.requested is None or origin.requested < had.requested)
        ):
            self.phones[phone] = origin
        if listed:
            self._listed.add(phone)
            self._fingerprint = None
        self._extra = None
        self._after = None

    def __bool__(self) -> bool:
        return bool(self.phones or self.hashes)

    @property
    def extra(self) -> frozenset[str]:
        """The state's hashes no phone the repository names explains (only these make a
        lead's phone worth hashing)."""
        if self._extra is None:
            if self.key is None or not self.hashes:
                self._extra = self.hashes
            else:
                known = {self.key.digest(p) for p in self.phones}
                self._extra = self.hashes - known
        return self._extra

    def listed(self, phone: str) -> bool:
        """Whether a do-not-call list of the repository names this phone."""
        return phone in self._listed

    def digest(self, phone: str) -> str | None:
        return self.key.digest(phone) if self.key is not None else None

    def done(self, phone: str) -> bool:
        """Whether an apply confirmed this phone stopped (recorded in the state)."""
        d = self.digest(phone)
        return d is not None and d in self.hashes

    def pending(self) -> list[Pending]:
        """The phones the repository names that no apply has confirmed stopped."""
        return [Pending(p, o) for p, o in sorted(self.phones.items()) if not self.done(p)]

    def phones_of(self, lead: LeadLike) -> list[str]:
        """A lead's phones in E.164."""
        slots = self._slots.get(lead.names)
        if slots is None:
            slots = self._slots[lead.names] = tuple(
                (i, name == "leadPhoneE164")
                for i, name in enumerate(lead.names)
                if name in ("leadPhone", "leadPhoneE164")
            )
        found = []
        for i, is_e164 in slots:
            value = str(lead.values[i])
            if is_e164:
                found.append(value)
                continue
            for part in value.split("|") if "|" in value else (value,):
                phone = e164(part, self.region)
                if phone is not None:
                    found.append(phone)
        return found

    def blocked_by(self, lead: LeadLike) -> Origin | None:
        """Why this lead must not be loaded, or None."""
        extra = self.extra
        for phone in self.phones_of(lead):
            origin = self.phones.get(phone)
            if origin is not None:
                return origin
            if extra and self.key is not None and self.key.digest(phone) in extra:
                return IN_STATE
        return None

    def fingerprint(self) -> str:
        """What a seal must match for a plan to trust a campaign it does not read: the listed
        phones and the state's hashes they do not explain ("" for no do-not-call set at all)."""
        if self._fingerprint is None:
            self._fingerprint = self._fingerprinted()
        return self._fingerprint

    def after_stops(self) -> str:
        """The fingerprint the next plan finds once the apply has stopped every phone this set
        holds in clear that no list names (the tombstones'; their hashes join the state): what
        the seal of a campaign read whole records, as that campaign was checked against all of
        those phones. Any other stop (a phone Engage held, another run's) changes the set, and
        the campaign is read again. With no key to hash with (none made yet, or the state's
        cannot be had: apply refuses to run then), it is the set as it is: the next plan reads
        the campaign again, which is safe."""
        if self._after is None:
            unlisted = self.phones.keys() - self._listed
            if not unlisted or self.key is None:
                self._after = self.fingerprint()
            else:
                stopped = {self.key.digest(p) for p in unlisted}
                self._after = self._fingerprinted(self.hashes | stopped)
        return self._after

    def _fingerprinted(self, hashes: frozenset[str] | None = None) -> str:
        # the lists alone, not tombstones: a plan reads the tombstones of the campaigns it
        # reads only, and the fingerprint must not depend on which those are
        unexplained = self.hashes if hashes is None else hashes
        if self.key is not None and unexplained:
            unexplained = unexplained - {self.key.digest(p) for p in self._listed}
        if not self._listed and not unexplained:
            return ""
        digest = hashlib.sha256(self.region.encode())
        for phone in sorted(self._listed):
            digest.update(phone.encode() + b"\n")
        digest.update(b"\x1e")
        for h in sorted(unexplained):
            digest.update(h.encode() + b"\n")
        return digest.hexdigest()
