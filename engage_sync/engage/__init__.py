"""The Engage Voice API from the outside: credentials and tokens, the HTTP client, rate limits,
and what Engage answers as typed values. The rest of the package reads no answer's keys.

api.py             what reconcile/ needs of Engage: the `EngageApi` protocol
answers.py         the loader's, a lead action's, campaigns', tokens' answers, each parsed once
leads.py           lead search rows (`LeadRecord`), and which records can still be dialled
shapes.py          reading an answer field by field: one clear error for a wrong shape
auth.py            three kinds of credentials, tokens cached and renewed
client.py          httpx client: pacing, retries, status -> error, the endpoints engage-sync uses
campaign_leads.py  lead search and lead actions (`client.leads`)
redaction.py       secrets out of the log; server messages redacted and cut before they go further
ratelimit.py       sliding windows, used to pace (client) and to refuse (emulator)
"""

from __future__ import annotations

from ..ratelimit import LOADER_LIMITS, Limit, SlidingWindows, parse_limits
from .answers import ActionResult, Campaign, DialGroup, LoadResult, RejectedRow
from .api import EngageApi, LeadsApi
from .auth import AuthMode, Credentials, credentials_from_env
from .client import EngageClient, backoff
from .leads import LeadAction, LeadRecord, is_dialable
from .redaction import RedactingFilter, Redactor

__all__ = [
    "LOADER_LIMITS",
    "ActionResult",
    "AuthMode",
    "Campaign",
    "Credentials",
    "DialGroup",
    "EngageApi",
    "EngageClient",
    "LeadAction",
    "LeadRecord",
    "LeadsApi",
    "Limit",
    "LoadResult",
    "RedactingFilter",
    "Redactor",
    "RejectedRow",
    "SlidingWindows",
    "backoff",
    "credentials_from_env",
    "is_dialable",
    "parse_limits",
]
