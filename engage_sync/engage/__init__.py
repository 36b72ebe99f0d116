"""The Engage Voice API from the outside: credentials and tokens, the HTTP client, rate limits.

auth.py       three kinds of credentials, tokens cached and renewed
client.py     httpx client: pacing, retries, status -> error, the endpoints engage-sync uses
redaction.py  secrets out of the log; server messages redacted and cut before they go further
ratelimit.py  sliding windows, used to pace (client) and to refuse (emulator)
"""

from __future__ import annotations

from ..ratelimit import LOADER_LIMITS, Limit, SlidingWindows, parse_limits
from .auth import AuthMode, Credentials, credentials_from_env
from .client import EngageClient
from .leads import LeadAction, LeadRecord, is_dialable
from .redaction import RedactingFilter, Redactor

__all__ = [
    "LOADER_LIMITS",
    "AuthMode",
    "Credentials",
    "EngageClient",
    "LeadAction",
    "LeadRecord",
    "Limit",
    "RedactingFilter",
    "Redactor",
    "SlidingWindows",
    "credentials_from_env",
    "is_dialable",
    "parse_limits",
]
