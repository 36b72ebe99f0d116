"""What a server's answer may put in front of anyone: secrets out of the log, and server messages
cut to a short printable excerpt with no secret, no token and no value of the request in them.

A server (or a proxy before it) may echo the request in an error: the Authorization header, the
leads' names and phones. Every message taken from an answer (an error body, the loader's message
and rejected rows, an action's errorMessage) goes through `Redactor.server_text` where it enters
(the client), before it can reach an exception, a wait message, the log or a report; the log's
filter applies the same secret redaction to every record (issue #29, finding 6).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted]"
EXCERPT = 200  # characters of a server's message kept
WINDOW = 4096  # characters of a server's text looked at: redacted whole, then cut
SHORTEST_SECRET = 3  # shorter "secrets" would blot out every message they occur in
SHORTEST_VALUE = 2  # request values shorter than this are not looked for
KEY = 8  # characters of a request value it is indexed by

# the shapes of credentials, whoever's: an auth scheme and its value, a JWT, a key named like a
# credential and its value (JSON, form or header syntax)
_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_KEYED = re.compile(
    r"(?i)(\b(?:authorization|x-auth-token|cookie|set-cookie|[a-z_]*token|assertion|"
    r"client_secret|secret|password|api_?key|jwt)\b[\"']?\s*[:=]\s*[\"']?)"
    r"(?!\[redacted\]|bearer\s|basic\s)([^\"'\s,;&}]+)"
)
# server text only: a long run of token characters with letters and digits (an unknown token),
# and anything shaped like an email address or a phone number
_OPAQUE = re.compile(r"[A-Za-z0-9_~+=.-]{24,}")
_PII = re.compile(r"[^\s@\"'<>(),;]+@[^\s@\"'<>(),;]+|\+?\(?\d[\d() .-]{5,}\d")
_CUT_WORD = re.compile(r"\S+\Z")
# identifiers engage-sync shows anyway (plans name leads by externId): kept in server text
SHOWN = frozenset({"externId", "externIds", "leadIds", "campaignIds", "listIds"})


class Redactor:
    """The secrets of one run (those configured, and each token as it is minted), and the
    redaction of text that may hold them."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._lock = threading.Lock()
        self._known: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Redact this secret from now on, as it is and as a URL or JSON would spell it."""
        if not secret or len(secret) < SHORTEST_SECRET:
            return
        forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
        with self._lock:
            known = set(self._known) | forms
            self._known = tuple(sorted(known, key=len, reverse=True))  # longest first

    def secrets(self, text: str) -> str:
        """`text` with every known secret and anything shaped like a credential replaced."""
        for secret in self._known:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
        return _KEYED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)

    def server_text(self, text: object, sent: Any = None) -> str:
        """A server's message as it may be shown: its first `WINDOW` characters with secrets,
        token-like runs, phone- and email-like text and the values of the request `sent` (its
        JSON body, or `Sent` made of it once for many messages) replaced, then cut to `EXCERPT`
        printable characters."""
        whole = "" if text is None else str(text)
        window = whole[:WINDOW]
        if len(whole) > WINDOW:  # a token or a value cut in two is no longer recognised: drop it
            window = _CUT_WORD.sub("", window)
        window = self.secrets(window)
        window = (sent if isinstance(sent, Sent) else Sent.of(sent)).remove(window)
        window = _OPAQUE.sub(_opaque, window)
        window = _PII.sub(REDACTED, window)
        return excerpt(window)


def _opaque(match: re.Match[str]) -> str:
    run = match.group(0)
    has_letter = any(c.isalpha() for c in run)
    has_digit = any(c.isdigit() for c in run)
    return REDACTED if has_letter and has_digit else run


def values_sent(body: Any) -> frozenset[str]:
    """The values a JSON request body carried that may be a person's: every string and number
    below its top level (the leads, the phones searched for) but the identifiers engage-sync
    shows anyway; the top level's own values are the request's options (lead-set settings)."""
    found: set[str] = set()

    def walk(value: Any, key: str | None) -> None:
        if key in SHOWN:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v, key)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value).strip()
            if len(text) >= SHORTEST_VALUE:
                found.add(text)

    if isinstance(body, dict):
        for k, v in body.items():
            if isinstance(v, (dict, list, tuple)):
                walk(v, str(k))
    elif isinstance(body, (list, tuple)):
        walk(body, None)
    return frozenset(found)


class Sent:
    """The values a request carried, as they may come back: as they are and JSON-escaped,
    indexed by their first `KEY` characters so that many messages (a rejected row each) are
    searched in time that grows with each message, not with the number of values."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._index: dict[str, list[tuple[str, str]]] = {}
        for value in values:
            for form in {value, json.dumps(value)[1:-1]}:
                folded = form.casefold()
                self._index.setdefault(folded[:KEY], []).append((form, folded))

    @classmethod
    def of(cls, body: Any) -> Sent:
        return cls(values_sent(body))

    @classmethod
    def of_parts(cls, parts: Iterable[Any]) -> Sent:
        """Of a body in parts (upload.py): the values of each, as `of` finds them in the whole."""
        found: set[str] = set()
        for part in parts:
            found |= values_sent(part)
        return cls(found)

    def remove(self, text: str) -> str:
        """`text` with each value it holds replaced where it stands as a whole (not inside a
        longer word), whatever its case."""
        if not self._index:
            return text
        folded = text.casefold()
        found: list[tuple[int, int, str]] = []
        for i in range(len(folded)):
            for length in range(SHORTEST_VALUE, KEY + 1):
                for form, folded_form in self._index.get(folded[i : i + length], ()):
                    if folded.startswith(folded_form, i):
                        found.append((i, i + len(folded_form), form))
        if len(folded) != len(text):  # casefolding moved the places (ß, ligatures): by pattern
            spellings = {f for _, _, f in found} | {f.casefold() for _, _, f in found}
            for form in sorted(spellings, key=len, reverse=True):
                pattern = rf"(?<![^\W_]){re.escape(form)}(?![^\W_])"
                text = re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)
            return text
        kept, last = [], 0
        for start, end, _ in sorted(found, key=lambda f: (f[0], -f[1])):  # longest first
            inside_a_word = (start > 0 and text[start - 1].isalnum()) or (
                end < len(text) and text[end].isalnum()
            )
            if start < last or inside_a_word:
                continue
            kept += [text[last:start], REDACTED]
            last = end
        return "".join([*kept, text[last:]])


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """One line of printable characters: control and format characters (escapes, bidi
    overrides, line breaks) become spaces, runs of spaces one, and past `limit` it is cut."""
    cleaned = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3].rstrip() + "..."


class RedactingFilter(logging.Filter):
    """Replaces every known secret, and anything shaped like a credential, in log records,
    whatever code logged them."""

    def __init__(self, redactor: Redactor | Iterable[str]) -> None:
        super().__init__()
        self.redactor = redactor if isinstance(redactor, Redactor) else Redactor(redactor)

    def add(self, secret: str | None) -> None:
        self.redactor.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redactor.secrets(record.getMessage()), ()
        return True
