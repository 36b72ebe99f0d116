"""The keyed hash that stands for a phone in every file engage-sync writes (state, ledger, plans).

A plain or salted hash of a phone number protects nothing: there are about 10^10 North American
numbers, and hashing them all takes minutes. What protects a phone is a key the reader of the
file does not have. HMAC-SHA256 with `ENGAGE_SYNC_PHONE_KEY` (a secret of the CI environment and
of whoever runs apply) gives hashes nobody without the key can test guesses against. Without
that secret, engage-sync keys the hashes with a random salt it keeps in the state file: that
still keeps the numbers out of sight in diffs, plan artifacts and logs, and defeats tables
computed in advance, but anyone who can read the state can test every number against it in
minutes. docs/optouts.md says so.

The state records which key its hashes were made with (the salt itself, or a short id of the
secret), so a run with another key is refused rather than silently blind.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..settings import chosen
from ..settings import table as settings

ENV: str = str(settings.PHONE_KEY.env)
DIGEST_BYTES = 12  # 96 bits: the key, not the length, is what resists guessing
MIN_SECRET = 16  # characters of ENGAGE_SYNC_PHONE_KEY


@dataclass(frozen=True)
class PhoneKey:
    """The key of one state's phone hashes: a secret (from the environment) or the state's
    own salt."""

    secret: bytes
    kind: str  # "secret" | "salt"

    def digest(self, phone: str) -> str:
        """The keyed hash of an E.164 phone: 24 hex characters."""
        return hmac.digest(self.secret, phone.encode(), hashlib.sha256)[:DIGEST_BYTES].hex()

    @property
    def ident(self) -> str:
        """A short name of the key, safe to write down (it reveals nothing of the key)."""
        return hmac.digest(self.secret, b"engage-sync phone key id", hashlib.sha256)[:4].hex()

    def to_json(self) -> dict[str, Any]:
        if self.kind == "salt":
            return {"kind": "salt", "salt": self.secret.hex()}
        return {"kind": "secret", "id": self.ident}

    @classmethod
    def new_salt(cls) -> PhoneKey:
        return cls(secrets.token_bytes(32), "salt")


def key_from_env(environ: Any = None) -> PhoneKey | None:
    """ENGAGE_SYNC_PHONE_KEY as a key, None when it is not set."""
    value = chosen(settings.PHONE_KEY, env=environ)
    if not value:
        return None
    if len(value) < MIN_SECRET:
        raise ConfigError(f"{ENV} must be at least {MIN_SECRET} characters (a random secret)")
    return PhoneKey(value.encode(), "secret")


def resolve(recorded: dict[str, Any] | None, environ: Any = None) -> tuple[PhoneKey | None, str]:
    """The key to hash phones with for a state that recorded `recorded` (None: no hash yet), and
    why it may be unusable ("" when it is fine). A state's key is fixed by its first hash: a
    salted state keeps its salt (ENGAGE_SYNC_PHONE_KEY is ignored, with a warning), a state keyed
    with a secret needs that secret."""
    env = key_from_env(environ)
    if recorded is None:
        return env, ""
    kind = recorded.get("kind")
    if kind == "salt":
        try:
            salt = PhoneKey(bytes.fromhex(str(recorded["salt"])), "salt")
        except (KeyError, ValueError):
            return None, "the state's phone-hash salt is malformed; restore the state from git"
        note = (
            f"{ENV} is set but this state's phone hashes were made with its own salt: the salt "
            "is used (see docs/optouts.md to change it)"
            if env is not None
            else ""
        )
        return salt, note
    if kind == "secret":
        if env is None:
            return None, (
                f"this state's phone hashes were made with {ENV} (key id {recorded.get('id')}), "
                "which is not set"
            )
        if env.ident != recorded.get("id"):
            return None, (
                f"{ENV} is not the key this state's phone hashes were made with (key id "
                f"{recorded.get('id')}, this one is {env.ident})"
            )
        return env, ""
    return None, "the state's phone-hash key is of an unknown kind; restore the state from git"
