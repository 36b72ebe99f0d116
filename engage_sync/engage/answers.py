"""What Engage answers, as typed values: each answer is read here, in one place, and nowhere else
(lead search rows are leads.py's `LeadRecord`). A field renamed or of another type is one clear
error naming the endpoint and the field (shapes.py); a server's words pass the run's redaction
(`clean`: redaction.py) before they are kept. NOTES.md names the fields.

- the direct lead loader: `LoadResult`, its `RejectedRow`s
- a lead action: `ActionResult`
- dial groups and their campaigns: `DialGroup`, `Campaign`
- the accounts credentials can use (GET accounts): `account_ids`
- tokens: RingCentral's token answer, Engage's login and refresh: `Tokens`
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, AuthError
from .leads import LeadAction
from .shapes import Shape, kind

Clean = Callable[[object], str]  # a server's text as it may be shown (Redactor.server_text)

# a 200 with one of these is a load that failed (NOTES.md, the direct lead loader)
FAILURE_STATUSES = frozenset(
    {
        "GENERAL_FAILURE",
        "NO_LEADS_PASSED_VALIDATION",
        "DNC_UPLOAD_FAILED",
        "DNC_ACCOUNT_SETTINGS",
        "DNC_GREATER_ONE_DAY",
    }
)
NAME_LIMIT = 255  # campaign and dial group names: a lead set's `campaign.name` is as long at most
WORD_LIMIT = 64  # processingResult, processingStatus: words
_ACCOUNT = re.compile(r"[A-Za-z0-9_-]{1,64}")
# a token as it can be sent in a header and masked in a CI log: printable ASCII, no spaces (a
# line break in one would forge a workflow command where `::add-mask::` announces it)
_TOKEN = re.compile(r"[!-~]{1,8192}")


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A row the loader rejected: of its `rowData`, only the externIds the call sent (a rejected
    row is matched by nothing else, and the rest are the lead's values), and its message,
    redacted."""

    extern_ids: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The direct lead loader's answer (`LeadListProcessingResult`). Counts are None where the
    answer leaves them out."""

    result: str = ""  # processingResult: OK | Failed
    status: str = ""  # processingStatus
    message: str = ""
    supplied: int | None = None
    accepted: int | None = None
    inserted: int | None = None
    rejected: tuple[RejectedRow, ...] = ()

    @property
    def failure(self) -> str | None:
        """Why this 200 is a load that failed, or None: "returns 200 even on failure" (a real
        client), with `processingResult: Failed`, a failure status, or no lead supplied."""
        if self.supplied == 0:
            return "leadsSupplied 0"
        if self.status in FAILURE_STATUSES:
            return self.status
        if self.result == "Failed":
            return "Failed"
        return None

    @classmethod
    def parse(
        cls, answer: object, sent: Iterable[str], sent_count: int, clean: Clean
    ) -> LoadResult:
        """The answer to a call that posted `sent_count` leads with the externIds `sent`; an
        ApiError (the caller's to turn into a lost answer: the leads may be loaded) when its
        shape is not the loader's."""
        a = Shape(answer, "leadLoader/direct")
        ids = frozenset(sent)
        rows = a.items("rejectedRows") or []
        if len(rows) > sent_count:
            raise a.wrong(f"rejectedRows holds {len(rows)} rows for {sent_count} leads sent")
        return cls(
            result=a.text("processingResult", WORD_LIMIT),
            status=a.text("processingStatus", WORD_LIMIT),
            message=_said(a, "message", clean) or "",
            supplied=a.count("leadsSupplied"),
            accepted=a.count("leadsAccepted"),
            inserted=a.count("leadsInserted"),
            rejected=tuple(_rejected_row(row, i, ids, clean) for i, row in enumerate(rows)),
        )


def _rejected_row(row: object, i: int, sent: frozenset[str], clean: Clean) -> RejectedRow:
    r = Shape(row, f"leadLoader/direct: rejectedRows[{i}]")
    data = r.items("rowData") or []
    # rowData's format is unknown (NOTES.md): any text or number in it equal to an externId sent
    kept = (str(v) for v in data if isinstance(v, (str, int)) and not isinstance(v, bool))
    return RejectedRow(tuple(v for v in kept if v in sent), _said(r, "message", clean))


@dataclass(frozen=True, slots=True)
class ActionResult:
    """A lead action's answer (`LeadActionResult`): `count` is the records the action changed
    as Engage counts them (leadDeleteCount for a delete, leadUpdateCount otherwise), None where
    it does not say; an empty answer (204) says nothing."""

    success: bool | None = None
    count: int | None = None
    error: str = ""  # errorMessage, redacted

    @classmethod
    def parse(cls, answer: object, action: LeadAction, clean: Clean) -> ActionResult:
        if answer is None:
            return cls()
        a = Shape(answer, f"campaignLeads/actions ({action.value})")
        key = "leadDeleteCount" if action is LeadAction.DELETE else "leadUpdateCount"
        return cls(a.flag("success"), a.count(key), _said(a, "errorMessage", clean) or "")


@dataclass(frozen=True, slots=True)
class Campaign:
    campaign_id: int
    name: str = ""
    active: bool | None = None  # isActive (1/0 in the API); None where it is not said

    def as_json(self) -> dict[str, Any]:
        return {"campaignId": self.campaign_id, "campaignName": self.name, "isActive": self.active}


@dataclass(frozen=True, slots=True)
class DialGroup:
    group_id: int
    name: str = ""
    active: bool | None = None
    campaigns: tuple[Campaign, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The group as `campaigns --format json` prints it (Engage's names for the fields)."""
        return {
            "dialGroupId": self.group_id,
            "dialGroupName": self.name,
            "isActive": self.active,
            "campaigns": [c.as_json() for c in self.campaigns],
        }


def read_groups(answer: object, where: str) -> list[tuple[DialGroup, bool]]:
    """The dial groups of `dialGroups` or `dialGroups/withChildren`, each with whether the
    answer listed its campaigns (a group without them is asked for them)."""
    found = []
    for i, item in enumerate(_list(answer, where)):
        g = Shape(item, f"{where}[{i}]")
        listed = g.items("campaigns")
        campaigns = _campaigns(listed, f"{where}[{i}].campaigns") if listed is not None else ()
        group = DialGroup(
            g.ident("dialGroupId"),
            g.text("dialGroupName", NAME_LIMIT),
            g.flag("isActive"),
            campaigns,
        )
        found.append((group, listed is not None))
    return found


def read_campaigns(answer: object, where: str) -> tuple[Campaign, ...]:
    """The campaigns of `dialGroups/{id}/campaigns`."""
    return _campaigns(_list(answer, where), where)


def _campaigns(items: list[Any], where: str) -> tuple[Campaign, ...]:
    found = []
    for i, item in enumerate(items):
        c = Shape(item, f"{where}[{i}]")
        name = c.text("campaignName", NAME_LIMIT)
        found.append(Campaign(c.ident("campaignId"), name, c.flag("isActive")))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Tokens:
    """A token answer: RingCentral's (`access_token`, `refresh_token`), or Engage's login or
    refresh (`accessToken`, `refreshToken`, and which accounts the credentials can use). A
    refresh token that is not a token is never used, nor shown (None)."""

    access: str
    refresh: str | None = None
    account_ids: tuple[str, ...] = ()
    main_account: str | None = None

    def __repr__(self) -> str:  # never a token, even in a traceback
        return f"Tokens(accounts={self.account_ids}, main={self.main_account})"

    @classmethod
    def from_ringcentral(cls, answer: object) -> Tokens:
        a = Shape(answer, "RingCentral's token answer", AuthError)
        return cls(_token(a, "access_token"), _maybe_token(a, "refresh_token"))

    @classmethod
    def from_engage(cls, answer: object, where: str = "Engage's login answer") -> Tokens:
        a = Shape(answer, where, AuthError)
        access = _token(a, "accessToken")
        details = a.items("agentDetails")
        ids = account_ids(details, f"{where}: agentDetails", AuthError) if details else ()
        main = account_id(a, "mainAccountId") if a.raw("mainAccountId") is not None else None
        return cls(access, _maybe_token(a, "refreshToken"), ids, main)


def _token(a: Shape, key: str) -> str:
    value = a.raw(key)
    if value is None:
        raise a.error(f"{a.where} has no {key}")
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise a.error(f"{a.where} has a {key} that is not a token (not printable ASCII)")
    return value


def _maybe_token(a: Shape, key: str) -> str | None:
    value = a.raw(key)
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else None


def account_ids(items: object, where: str, error: type[ApiError] = ApiError) -> tuple[str, ...]:
    """The `accountId` of each object of a list (the login's agentDetails, GET accounts)."""
    found = set()
    for i, item in enumerate(_list(items, where, error)):
        a = Shape(item, f"{where}[{i}]", error)
        if a.raw("accountId") is not None:
            found.add(account_id(a, "accountId"))
    return tuple(sorted(found))


def account_id(a: Shape, key: str) -> str:
    """An account id: a short run of letters, digits, `_` and `-` (digits, in practice)."""
    value = a.raw(key)
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not _ACCOUNT.fullmatch(text):
        raise a.wrong(f"{key} is {kind(value)}, not an account id")
    return text


def _list(answer: object, where: str, error: type[ApiError] = ApiError) -> list[Any]:
    if not isinstance(answer, list):
        raise error(
            f"{where}: is {kind(answer)}, not a list (an answer of a shape engage-sync "
            "does not know)"
        )
    return answer


def _said(a: Shape, key: str, clean: Clean) -> str | None:
    """A server's message (text, or left out), redacted and cut where it enters."""
    value = a.raw(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise a.wrong(f"{key} is {kind(value)}, not a text")
    return clean(value)
