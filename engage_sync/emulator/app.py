"""The emulator's WSGI application: the parts of the Engage Voice API that engage-sync uses.

API facts: shared/engage-api/NOTES.md and the official OpenAPI specs. Not part of the Engage API:
the inspection and fault controls under /_emulator/.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import httpx
import jsonschema

from ..ratelimit import EXCHANGE_LIMITS, LOADER_LIMITS, Limit, SlidingWindows
from .store import Store

StartResponse = Callable[..., Any]
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FAULT_KINDS = ("500", "503", "429", "hang", "drop", "failed", "reject")
_SECRET_KEYS = re.compile(r"(token|secret|assertion|password|jwt)", re.I)


class DropConnection(httpx.RemoteProtocolError):
    """Raised in-process (no socket) when a fault asks to drop the connection."""


@dataclass
class Settings:
    token_ttl: float = 300.0
    rate_scale: float = 1.0
    loader_limits: tuple[Limit, ...] = LOADER_LIMITS
    exchange_limits: tuple[Limit, ...] = EXCHANGE_LIMITS
    max_leads_per_call: int = 1000
    latency: float = 0.0
    hang_seconds: float = 30.0

    @classmethod
    def from_seed(cls, raw: dict[str, Any]) -> Settings:
        s = cls()
        for key, attr in (
            ("tokenTtl", "token_ttl"),
            ("rateScale", "rate_scale"),
            ("maxLeadsPerCall", "max_leads_per_call"),
            ("latency", "latency"),
            ("hangSeconds", "hang_seconds"),
        ):
            if key in raw:
                setattr(s, attr, type(getattr(s, attr))(raw[key]))
        if "loaderLimits" in raw:
            s.loader_limits = tuple((int(c), float(p)) for c, p in raw["loaderLimits"])
        return s


@dataclass
class Fault:
    kind: str
    remaining: int
    rows: int = 1


@dataclass
class _Token:
    kind: str  # "rc" | "engage" | "refresh"
    expires: float
    accounts: tuple[str, ...] = ()


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, text: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.text = status, code, message, text


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as e:
            raise HttpError(400, "BAD_REQUEST", f"request body is not JSON: {e}") from e

    def form(self) -> dict[str, str]:
        values = dict(self.query)
        if self.body and "json" not in self.headers.get("content-type", ""):
            values.update(
                {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}
            )
        return values


def _load_schemas() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("engage_schemas.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass
class Emulator:
    seed: dict[str, Any]
    settings: Settings = field(default_factory=Settings)
    data_path: str = ":memory:"
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.store = Store(self.data_path)
        self.accounts = {str(a["accountId"]): a for a in self.seed["accounts"]}
        self.creds = self.seed["credentials"]
        self.tokens: dict[str, _Token] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.stats = {"loaderCalls": 0, "loader429": 0, "exchangeCalls": 0, "exchange429": 0}
        self._lock = threading.Lock()
        self._limits: dict[tuple[str, str], SlidingWindows] = {}
        spec = _load_schemas()
        self._request_schema = {
            **spec["components"]["schemas"]["LeadListProcessingRequest"],
            "components": spec["components"],
        }
        # refs like #/components/schemas/CampaignLead resolve inside this same document
        self._validator = jsonschema.Draft4Validator(self._request_schema)

    # -- plumbing -----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        req = Request(
            environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"), query, headers, body
        )
        if self.settings.latency and not req.path.startswith("/_emulator"):
            time.sleep(self.settings.latency)
        try:
            status, payload = self.route(req, environ)
        except HttpError as e:
            status = e.status
            payload = (
                e.text
                if e.text is not None
                else {
                    "errorCode": e.code,
                    "generalMessage": e.message,
                    "details": e.message,
                    "requestUri": req.path,
                    "timestamp": _now(),
                }
            )
        if not req.path.startswith("/_emulator"):
            self._log(req, status)
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        start_response(
            f"{status} {_REASONS.get(status, 'Status')}",
            [("Content-Type", ctype), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _log(self, req: Request, status: int) -> None:
        body: Any
        try:
            body = json.loads(req.body) if req.body else None
        except ValueError:
            body = {
                k: ("[redacted]" if _SECRET_KEYS.search(k) else v)
                for k, v in req.form().items()
                if k not in req.query
            }
        with self._lock:
            self.requests.append(
                {
                    "method": req.method,
                    "path": req.path,
                    "query": {
                        k: ("[redacted]" if _SECRET_KEYS.search(k) else v)
                        for k, v in req.query.items()
                    },
                    "body": body,
                    "status": status,
                    "time": _now(),
                    "t": time.time(),
                }
            )

    def route(self, req: Request, environ: dict[str, Any]) -> tuple[int, Any]:
        p, m = req.path.rstrip("/"), req.method
        if p.startswith("/_emulator"):
            return self.inspect(req, p)
        if m == "POST" and p == "/restapi/oauth/token":
            return self.rc_token(req)
        if m == "POST" and p == "/api/auth/login/rc/accesstoken":
            return self.exchange(req)
        if m == "POST" and p == "/api/auth/token/refresh":
            return self.refresh(req)
        if not p.startswith("/voice/api/"):
            raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")
        accounts = self.authenticate(req)
        if m == "GET" and p == "/voice/api/v1/admin/accounts":
            return 200, [
                {"accountId": a, "accountName": self.accounts[a].get("accountName", a)}
                for a in accounts
            ]
        match = re.fullmatch(r"/voice/api(?:/v1)?/admin/accounts/([^/]+)(/.*)", p)
        if not match:
            raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")
        account_id, rest = match.groups()
        account = self.accounts.get(account_id)
        if account is None:
            raise HttpError(404, "ACCOUNT_NOT_FOUND", f"account {account_id} not found")
        if account_id not in accounts:
            raise HttpError(403, "FORBIDDEN", f"no access to account {account_id}")
        versioned = p.startswith("/voice/api/v1/")
        loader = re.fullmatch(r"/campaigns/(\d+)/(leadLoader|loader)/direct", rest)
        if m == "POST" and loader and (versioned == (loader.group(2) == "leadLoader")):
            return self.load(req, environ, account_id, account, int(loader.group(1)))
        if not versioned:
            raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")
        if m == "GET" and rest == "/dialGroups":
            return 200, _page(req, [_dial_group(g) for g in account.get("dialGroups", [])])
        if m == "GET" and rest == "/dialGroups/withChildren":
            groups = [
                {**_dial_group(g), "campaigns": [_campaign(c, g) for c in g.get("campaigns", [])]}
                for g in account.get("dialGroups", [])
            ]
            return 200, _page(req, groups)
        dg = re.fullmatch(r"/dialGroups/(\d+)/campaigns", rest)
        if m == "GET" and dg:
            group = next(
                (
                    g
                    for g in account.get("dialGroups", [])
                    if int(g["dialGroupId"]) == int(dg.group(1))
                ),
                None,
            )
            if group is None:
                raise HttpError(404, "DIAL_GROUP_NOT_FOUND", f"dial group {dg.group(1)} not found")
            return 200, _page(req, [_campaign(c, group) for c in group.get("campaigns", [])])
        if m == "POST" and rest == "/campaignLeads/leadSearch":
            criteria = req.json() or {}
            if not isinstance(criteria, dict):
                raise HttpError(400, "BAD_REQUEST", "search criteria must be an object")
            page, rows = _paging(req, default_rows=100)
            return 200, self.store.leads(account_id, criteria, page, rows)
        raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")

    # -- auth ---------------------------------------------------------------------------------
    def _mint(self, kind: str, ttl: float, accounts: tuple[str, ...]) -> str:
        token = f"{kind}-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.tokens[token] = _Token(kind, self.clock() + ttl, accounts)
        return token

    def mint_access_token(self) -> str:
        """A ready Engage access token (printed at start for ENGAGE_ACCESS_TOKEN)."""
        return self._mint("engage", self.settings.token_ttl, tuple(self.accounts))

    def rc_token(self, req: Request) -> tuple[int, Any]:
        auth = req.headers.get("authorization", "")
        try:
            client = base64.b64decode(auth.removeprefix("Basic ").strip()).decode()
        except (ValueError, UnicodeDecodeError):
            client = ""
        if (
            not auth.startswith("Basic ")
            or client != f"{self.creds['clientId']}:{self.creds['clientSecret']}"
        ):
            raise HttpError(
                401,
                "invalid_client",
                "Invalid client credentials",
                text=json.dumps(
                    {"error": "invalid_client", "error_description": "Invalid client credentials"}
                ),
            )
        form = req.form()
        if form.get("grant_type") != JWT_GRANT:
            raise HttpError(400, "unsupported_grant_type", "Unsupported grant type")
        if form.get("assertion") != self.creds["jwt"]:
            raise HttpError(400, "invalid_grant", "Invalid JWT assertion")
        token = self._mint("rc", 3600, tuple(self.accounts))
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": self._mint("rcrefresh", 604800, ()),
            "refresh_token_expires_in": 604800,
            "scope": "ReadAccounts",
        }

    def _engage_login(self, accounts: tuple[str, ...]) -> dict[str, Any]:
        access = self._mint("engage", self.settings.token_ttl, accounts)
        refresh = self._mint("refresh", 86400, accounts)
        main = accounts[0] if accounts else ""
        return {
            "accessToken": access,
            "refreshToken": refresh,
            "tokenType": "Bearer",
            "mainAccountId": main,
            "platformId": "emulator",
            "rcUser": {},
            "agentDetails": [
                {"accountId": a, "agentId": 1000 + i, "firstName": "Emulator", "lastName": "Admin"}
                for i, a in enumerate(accounts)
            ],
            "adminId": 1,
            "adminUrl": "",
            "agentUrl": "",
            "ssoLogin": True,
        }

    def exchange(self, req: Request) -> tuple[int, Any]:
        key = ("*", "exchange")
        with self._lock:
            self.stats["exchangeCalls"] += 1
            limiter = self._limits.setdefault(
                key,
                SlidingWindows(self.settings.exchange_limits, self.settings.rate_scale, self.clock),
            )
        if not limiter.try_acquire():
            self.stats["exchange429"] += 1
            raise HttpError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded for token exchange")
        form = req.form()
        token = self.tokens.get(form.get("rcAccessToken", ""))
        if token is None or token.kind != "rc" or token.expires <= self.clock():
            raise HttpError(401, "UNAUTHORIZED", "Invalid RingCentral access token")
        return 200, self._engage_login(token.accounts)

    def refresh(self, req: Request) -> tuple[int, Any]:
        form = req.form()
        old = form.get("refresh_token", "")
        with self._lock:
            token = self.tokens.pop(old, None)  # rotation: a refresh token works once
        if token is None or token.kind != "refresh" or token.expires <= self.clock():
            raise HttpError(401, "UNAUTHORIZED", "Invalid refresh token")
        return 200, self._engage_login(token.accounts)

    def authenticate(self, req: Request) -> tuple[str, ...]:
        api_token = req.headers.get("x-auth-token")
        if api_token is not None:
            if api_token in self.creds.get("apiTokens", []):
                return tuple(self.accounts)
            raise HttpError(401, "UNAUTHORIZED", "Invalid API token")
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise HttpError(401, "UNAUTHORIZED", "Full authentication is required")
        token = self.tokens.get(auth[7:].strip())
        if token is None or token.kind != "engage":
            raise HttpError(401, "UNAUTHORIZED", "Invalid access token")
        if token.expires <= self.clock():
            raise HttpError(401, "UNAUTHORIZED", "Jwt is expired", text="Jwt is expired")
        return token.accounts

    # -- the direct loader --------------------------------------------------------------------
    def _next_fault(self) -> Fault | None:
        with self._lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.pop(0)
            return fault

    def load(
        self,
        req: Request,
        environ: dict[str, Any],
        account_id: str,
        account: dict[str, Any],
        campaign_id: int,
    ) -> tuple[int, Any]:
        campaign = next(
            (
                c
                for g in account.get("dialGroups", [])
                for c in g.get("campaigns", [])
                if int(c["campaignId"]) == campaign_id
            ),
            None,
        )
        if campaign is None:
            raise HttpError(404, "CAMPAIGN_NOT_FOUND", f"campaign {campaign_id} not found")
        with self._lock:
            self.stats["loaderCalls"] += 1
            limiter = self._limits.setdefault(
                (account_id, "loader"),
                SlidingWindows(self.settings.loader_limits, self.settings.rate_scale, self.clock),
            )
        if not limiter.try_acquire():
            with self._lock:
                self.stats["loader429"] += 1
            raise HttpError(429, "TOO_MANY_REQUESTS", "Rate limit exceeded for leadLoader/direct")
        fault = self._next_fault()
        if fault is not None and fault.kind in ("500", "503", "429"):
            raise HttpError(int(fault.kind), "INJECTED_FAULT", f"injected fault {fault.kind}")
        if fault is not None and fault.kind == "hang":
            time.sleep(self.settings.hang_seconds)
            raise HttpError(504, "GATEWAY_TIMEOUT", "injected hang")
        if fault is not None and fault.kind == "drop":
            drop = environ.get("emulator.drop")
            if drop is None:
                raise DropConnection("injected dropped connection")
            drop()
            return 500, {}
        body = req.json()
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(x) for x in first.absolute_path) or "body"
            raise HttpError(400, "INVALID_REQUEST", f"{where}: {first.message}")
        leads = body.get("uploadLeads") or []
        if len(leads) > self.settings.max_leads_per_call:
            raise HttpError(
                400,
                "TOO_MANY_LEADS",
                f"{len(leads)} leads in one call; the maximum is "
                f"{self.settings.max_leads_per_call}",
            )
        if fault is not None and fault.kind == "failed":
            return 200, _result(
                body,
                len(leads),
                0,
                0,
                0,
                [],
                failed="GENERAL_FAILURE",
                message="injected failure: the list was not loaded",
            )
        rejected: list[dict[str, Any]] = []
        good: list[dict[str, Any]] = []
        for i, lead in enumerate(leads):
            problem = _lead_problem(lead, body)
            if problem is None and fault is not None and fault.kind == "reject" and i < fault.rows:
                problem = "injected rejection"
            if problem:
                rejected.append({"message": problem, "rowData": _row_data(lead)})
            else:
                good.append(lead)
        if not good:
            return 200, _result(
                body,
                len(leads),
                0,
                0,
                0,
                rejected,
                failed="NO_LEADS_PASSED_VALIDATION",
                message="No leads passed validation",
            )
        mode = body.get("duplicateHandling", "RETAIN_ALL")
        inserted = deleted = 0
        with self.store.transaction() as store:
            list_id = store.new_list(
                account_id,
                campaign_id,
                str(body.get("description") or ""),
                _now(),
                {k: v for k, v in body.items() if k != "uploadLeads"},
            )
            batch_phones: dict[str, int] = {}
            to_insert: list[dict[str, Any]] = []
            for lead in good:
                phone = str(lead.get("leadPhone") or lead.get("leadPhoneE164") or "")
                if mode == "REMOVE_ALL_EXISTING":
                    deleted += store.delete_phone(campaign_id, phone)
                    if phone in batch_phones:
                        to_insert[batch_phones[phone]] = {}
                        deleted += 1
                elif mode == "REMOVE_FROM_LIST" and (
                    phone in batch_phones or store.phone_exists(campaign_id, phone)
                ):
                    continue
                batch_phones[phone] = len(to_insert)
                to_insert.append(lead)
            inserted = store.insert_leads(
                account_id, campaign_id, list_id, [x for x in to_insert if x]
            )
        return 200, _result(body, len(leads), len(good), inserted, deleted, rejected)

    # -- inspection and faults ----------------------------------------------------------------
    def inspect(self, req: Request, path: str) -> tuple[int, Any]:
        if path == "/_emulator/leads":
            campaign = req.query.get("campaignId")
            return 200, self.store.all_leads(int(campaign) if campaign else None)
        if path == "/_emulator/lists":
            return 200, self.store.lists()
        if path == "/_emulator/requests":
            if req.method == "DELETE":
                with self._lock:
                    self.requests.clear()
                return 200, {"cleared": True}
            return 200, list(self.requests)
        if path == "/_emulator/stats":
            return 200, dict(self.stats)
        if path == "/_emulator/faults":
            if req.method == "POST":
                spec = req.json() or {}
                kind = str(spec.get("kind", ""))
                if kind not in FAULT_KINDS:
                    raise HttpError(
                        400, "BAD_FAULT", f"kind must be one of {', '.join(FAULT_KINDS)}"
                    )
                with self._lock:
                    self.faults.append(
                        Fault(kind, int(spec.get("count", 1)), int(spec.get("rows", 1)))
                    )
            elif req.method == "DELETE":
                with self._lock:
                    self.faults.clear()
            return 200, [
                {"kind": f.kind, "remaining": f.remaining, "rows": f.rows} for f in self.faults
            ]
        raise HttpError(404, "NOT_FOUND", f"no such emulator endpoint: {path}")


def _result(
    body: dict[str, Any],
    supplied: int,
    accepted: int,
    inserted: int,
    deleted: int,
    rejected: list[dict[str, Any]],
    failed: str | None = None,
    message: str = "",
) -> dict[str, Any]:
    return {
        "leadsSupplied": supplied,
        "leadsAccepted": accepted,
        "leadsInserted": inserted,
        "leadsConverted": 0,
        "deletedCount": deleted,
        "hasDeletedLeads": deleted > 0,
        "dncReturnedCount": 0,
        "dncUploadCount": 0,
        "internalDncCount": 0,
        "whitelistCount": 0,
        "quotaCount": 0,
        "failedAgentAssignment": 0,
        "listState": body.get("listState", "ACTIVE"),
        "timeZoneOption": body.get("timeZoneOption", "NOT_APPLICABLE"),
        "processingResult": "Failed" if failed else "OK",
        "processingStatus": failed or "DEFAULT_NOT_A_FAILURE",
        "message": message
        or ("Leads loaded" if not rejected else f"{len(rejected)} row(s) rejected"),
        "rejectedRows": rejected,
    }


_US_PHONE = re.compile(r"^[0-9]{10}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _lead_problem(lead: dict[str, Any], body: dict[str, Any]) -> str | None:
    if not lead.get("externId"):
        return "externId is required"
    phone, e164 = lead.get("leadPhone"), lead.get("leadPhoneE164")
    if not phone and not e164:
        return "leadPhone is required"
    if (
        phone
        and not body.get("phoneNumbersI18nEnabled")
        and not all(_US_PHONE.match(p) for p in str(phone).split("|"))
    ):
        return "Invalid phone number"
    if e164 and not _E164.match(str(e164)):
        return "Invalid E.164 phone number"
    empty = [k for k, v in lead.items() if v == ""]
    if empty:
        return f"empty value for {empty[0]}"
    tz = body.get("timeZoneOption")
    if tz == "EXPLICIT" and not lead.get("leadTimezone"):
        return "leadTimezone is required for EXPLICIT time zones"
    if tz == "ZIPCODE" and not lead.get("zip"):
        return "zip is required for ZIPCODE time zones"
    return None


_ROW_FIELDS = (
    "externId",
    "leadPhone",
    "leadPhoneE164",
    "firstName",
    "lastName",
    "address1",
    "city",
    "state",
    "zip",
    "email",
)


def _row_data(lead: dict[str, Any]) -> list[str]:
    return [str(lead.get(k, "")) for k in _ROW_FIELDS]


def _dial_group(g: dict[str, Any]) -> dict[str, Any]:
    return {
        "dialGroupId": int(g["dialGroupId"]),
        "dialGroupName": g.get("dialGroupName", ""),
        "dialGroupDesc": g.get("dialGroupDesc", ""),
        "dialMode": g.get("dialMode", "PREDICTIVE"),
        "isActive": bool(g.get("isActive", True)),
    }


def _campaign(c: dict[str, Any], g: dict[str, Any]) -> dict[str, Any]:
    return {
        "campaignId": int(c["campaignId"]),
        "campaignName": c.get("campaignName", ""),
        "campaignDesc": c.get("campaignDesc", ""),
        "isActive": 1 if c.get("isActive", 1) else 0,
        "dialGroup": {"id": int(g["dialGroupId"]), "description": g.get("dialGroupDesc", "")},
    }


def _paging(req: Request, default_rows: int) -> tuple[int, int]:
    try:
        page = int(req.query.get("page", 0))
        rows = int(req.query.get("maxRows", default_rows))
    except ValueError as e:
        raise HttpError(400, "BAD_REQUEST", "page and maxRows must be whole numbers") from e
    if page < 0 or rows < 1:
        raise HttpError(400, "BAD_REQUEST", "page must be >= 0 and maxRows >= 1")
    return page, rows


def _page(req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if "page" not in req.query and "maxRows" not in req.query:
        return items
    page, rows = _paging(req, default_rows=len(items) or 1)
    return items[page * rows : (page + 1) * rows]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
