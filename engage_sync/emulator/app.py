"""The emulator's WSGI application: the parts of the Engage Voice API that engage-sync uses.

API facts: shared/engage-api/NOTES.md and the official OpenAPI specs. Not part of the Engage API:
the inspection and fault controls under /_emulator/. The endpoints live beside this module, each a
class handed the `Shared` context (shared.py): auth.py (tokens), loader.py (the direct loader),
leads.py (search and actions); http.py holds requests and errors; on a socket, guard.py decides
who may call at all (server.py puts it in front). `route` dispatches through two
tables: the token endpoints by path, the account's endpoints by pattern.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import jsonschema

from ..ratelimit import EXCHANGE_LIMITS, LOADER_LIMITS, Limit
from .auth import Auth
from .http import REASONS, HttpError, Request, is_admin, now, page_of
from .leads import ACTION_LIMITS, SEARCH_LIMITS, Leads
from .loader import Loader
from .shared import FAULT_ENDPOINTS, FAULT_KINDS, Fault, Shared
from .store import Store

StartResponse = Callable[..., Any]
_SECRET_KEYS = re.compile(r"(token|secret|assertion|password|jwt)", re.I)


@dataclass
class Settings:
    token_ttl: float = 300.0
    rate_scale: float = 1.0
    loader_limits: tuple[Limit, ...] = LOADER_LIMITS
    exchange_limits: tuple[Limit, ...] = EXCHANGE_LIMITS
    max_leads_per_call: int = 1000
    latency: float = 0.0
    hang_seconds: float = 30.0
    search_limits: tuple[Limit, ...] = SEARCH_LIMITS
    action_limits: tuple[Limit, ...] = ACTION_LIMITS
    search_max_rows: int = 1000  # the server's clamp on maxRows (real value unknown)
    loader_status: int = 200  # the spec lists 201 for the loader; real clients accept any 2xx
    expired_json: bool = False  # answer an expired token with a JSON body in capitals
    ignore_extern_ids: bool = False  # answer a search as if its externIds filter were absent
    request_log: int = 10_000  # requests kept for /_emulator/requests, the oldest dropped first

    @classmethod
    def from_seed(cls, raw: dict[str, Any]) -> Settings:
        s = cls()
        for key, attr in (
            ("tokenTtl", "token_ttl"),
            ("rateScale", "rate_scale"),
            ("maxLeadsPerCall", "max_leads_per_call"),
            ("latency", "latency"),
            ("hangSeconds", "hang_seconds"),
            ("searchMaxRows", "search_max_rows"),
            ("ignoreExternIds", "ignore_extern_ids"),
            ("loaderStatus", "loader_status"),
            ("expiredJson", "expired_json"),
            ("requestLog", "request_log"),
        ):
            if key in raw:
                setattr(s, attr, type(getattr(s, attr))(raw[key]))
        if "loaderLimits" in raw:
            s.loader_limits = tuple((int(c), float(p)) for c, p in raw["loaderLimits"])
        return s


def _load_schemas() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("engage_schemas.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


Handler = Callable[[Request, dict[str, Any], str, dict[str, Any], "re.Match[str]"], tuple[int, Any]]


@dataclass
class Emulator:
    seed: dict[str, Any]
    settings: Settings = field(default_factory=Settings)
    data_path: str = ":memory:"
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.shared = Shared(self.seed, self.settings, Store(self.data_path), self.clock)
        spec = _load_schemas()
        request_schema = {
            **spec["components"]["schemas"]["LeadListProcessingRequest"],
            "components": spec["components"],
        }
        # refs like #/components/schemas/CampaignLead resolve inside this same document
        self.auth = Auth(self.shared)
        self.loader = Loader(self.shared, jsonschema.Draft4Validator(request_schema))
        self.leads = Leads(self.shared)
        # what tests and the server inspect, the same objects the endpoints change
        self.store = self.shared.store
        self.tokens = self.shared.tokens
        self.faults = self.shared.faults
        self.requests = self.shared.requests
        self.stats = self.shared.stats
        self.accounts = self.shared.accounts
        self.creds = self.shared.creds
        self._lock = self.shared.lock
        self._tokens_routes: dict[tuple[str, str], Callable[[Request], tuple[int, Any]]] = {
            ("POST", "/restapi/oauth/token"): self.auth.rc_token,
            ("POST", "/api/auth/login/rc/accesstoken"): self.auth.exchange,
            ("POST", "/api/auth/token/refresh"): self.auth.refresh,
        }
        # the account's endpoints under /voice/api/v1/admin/accounts/{id}
        self._account_routes: tuple[tuple[str, re.Pattern[str], Handler], ...] = (
            ("GET", re.compile(r"/dialGroups"), self._dial_groups),
            ("GET", re.compile(r"/dialGroups/withChildren"), self._with_children),
            ("GET", re.compile(r"/dialGroups/(\d+)/campaigns"), self._group_campaigns),
            ("POST", re.compile(r"/campaignLeads/leadSearch"), self._search),
            ("PUT", re.compile(r"/campaignLeads/actions"), self._actions),
        )

    def mint_access_token(self) -> str:
        """A ready Engage access token (printed at start for ENGAGE_ACCESS_TOKEN)."""
        return self.auth.mint_access_token()

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
        extra: list[tuple[str, str]] = []
        try:
            status, payload = self.route(req, environ)
        except HttpError as e:
            status = e.status
            if e.retry_after is not None:
                extra.append(("Retry-After", str(max(1, math.ceil(e.retry_after)))))
            payload = (
                e.text
                if e.text is not None
                else e.body
                if e.body is not None
                else {
                    "errorCode": e.code,
                    "generalMessage": e.message,
                    "details": e.message,
                    "requestUri": req.path,
                    "timestamp": now(),
                }
            )
        if self.settings.latency and not is_admin(req.path):
            # the time a real server takes to answer: the call was counted (rate limits) when it
            # arrived, and the loader answers only once the list is processed
            time.sleep(self.settings.latency)
        if not is_admin(req.path):
            self._log(req, status)
        if isinstance(payload, str):
            data, ctype = payload.encode(), "text/plain"
        else:
            data, ctype = json.dumps(payload).encode(), "application/json"
        start_response(
            f"{status} {REASONS.get(status, 'Status')}",
            [("Content-Type", ctype), ("Content-Length", str(len(data))), *extra],
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
            if self.requests.maxlen is not None and len(self.requests) >= self.requests.maxlen:
                self.stats["requestsDropped"] = self.stats.get("requestsDropped", 0) + 1
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
                    "time": now(),
                    "t": time.time(),
                }
            )

    def route(self, req: Request, environ: dict[str, Any]) -> tuple[int, Any]:
        p, m = req.path.rstrip("/"), req.method
        if p.startswith("/api/") and not p.startswith("/api/auth/"):
            p = "/voice" + p  # a legacy tenant's base URL has no /voice (NOTES.md, Hosts)
        if is_admin(p):
            return self.inspect(req, p)
        token_endpoint = self._tokens_routes.get((m, p))
        if token_endpoint is not None:
            return token_endpoint(req)
        if not p.startswith("/voice/api/"):
            raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")
        accounts = self.auth.authenticate(req)
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
        # the loader kept its old path on the unversioned API (NOTES.md)
        if m == "POST" and loader and (versioned == (loader.group(2) == "leadLoader")):
            status, result = self.loader.load(
                req, environ, account_id, account, int(loader.group(1))
            )
            if status == 200:
                status = self.settings.loader_status
            return status, result
        if versioned:
            for method, pattern, handler in self._account_routes:
                found = pattern.fullmatch(rest)
                if method == m and found:
                    return handler(req, environ, account_id, account, found)
        raise HttpError(404, "NOT_FOUND", f"no such endpoint: {m} {p}")

    def _dial_groups(
        self, req: Request, environ: dict[str, Any], aid: str, account: dict[str, Any], _: Any
    ) -> tuple[int, Any]:
        return 200, page_of(req, [_dial_group(g) for g in account.get("dialGroups", [])])

    def _with_children(
        self, req: Request, environ: dict[str, Any], aid: str, account: dict[str, Any], _: Any
    ) -> tuple[int, Any]:
        groups = [
            {**_dial_group(g), "campaigns": [_campaign(c, g) for c in g.get("campaigns", [])]}
            for g in account.get("dialGroups", [])
        ]
        return 200, page_of(req, groups)

    def _group_campaigns(
        self, req: Request, environ: dict[str, Any], aid: str, account: dict[str, Any], dg: Any
    ) -> tuple[int, Any]:
        group = next(
            (g for g in account.get("dialGroups", []) if int(g["dialGroupId"]) == int(dg.group(1))),
            None,
        )
        if group is None:
            raise HttpError(404, "DIAL_GROUP_NOT_FOUND", f"dial group {dg.group(1)} not found")
        return 200, page_of(req, [_campaign(c, group) for c in group.get("campaigns", [])])

    def _search(
        self, req: Request, environ: dict[str, Any], aid: str, account: dict[str, Any], _: Any
    ) -> tuple[int, Any]:
        return self.leads.search(req, environ, aid, account)

    def _actions(
        self, req: Request, environ: dict[str, Any], aid: str, account: dict[str, Any], _: Any
    ) -> tuple[int, Any]:
        return self.leads.actions(req, environ, aid, account)

    # -- inspection and faults ----------------------------------------------------------------
    def inspect(self, req: Request, path: str) -> tuple[int, Any]:
        if path == "/_emulator/leads" and req.method == "POST":
            return 200, self._insert(_object(req))
        if path == "/_emulator/leads/state":
            spec = _object(req)
            ids = [_whole(i, "leadIds") for i in _list(spec, "leadIds")]
            with self.store.transaction() as store:
                if spec.get("phone"):  # an agent's disposition: every record with that phone
                    campaign = spec.get("campaignId")
                    ids += store.by_phone(
                        str(spec["phone"]), _whole(campaign, "campaignId") if campaign else None
                    )
                changed = store.set_state(ids, spec.get("leadState"), spec.get("suppressed"))
            return 200, {"changed": changed}
        if path == "/_emulator/leads":
            campaign = req.query.get("campaignId")
            return 200, self.store.all_leads(_whole(campaign, "campaignId") if campaign else None)
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
                spec = _object(req)
                kind = str(spec.get("kind", ""))
                if kind not in FAULT_KINDS:
                    raise HttpError(
                        400, "BAD_FAULT", f"kind must be one of {', '.join(FAULT_KINDS)}"
                    )
                endpoint = str(spec.get("endpoint", "loader"))
                if endpoint not in FAULT_ENDPOINTS:
                    raise HttpError(
                        400, "BAD_FAULT", f"endpoint must be one of {', '.join(FAULT_ENDPOINTS)}"
                    )
                with self._lock:
                    self.faults.append(
                        Fault(
                            kind,
                            _whole(spec.get("count", 1), "count"),
                            _whole(spec.get("rows", 1), "rows"),
                            endpoint,
                            spec.get("externId"),
                            float(spec["seconds"]) if spec.get("seconds") is not None else None,
                        )
                    )
            elif req.method == "DELETE":
                with self._lock:
                    self.faults.clear()
            return 200, [
                {"kind": f.kind, "remaining": f.remaining, "rows": f.rows}
                | ({"endpoint": f.endpoint} if f.endpoint != "loader" else {})
                for f in self.faults
            ]
        raise HttpError(404, "NOT_FOUND", f"no such emulator endpoint: {path}")

    def _insert(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Records engage-sync did not load (by hand, another tool): `unmanaged` for tests."""
        account = str(spec.get("accountId", ""))
        campaign = _whole(spec.get("campaignId", 0), "campaignId")
        leads = _list(spec, "leads")
        if not all(isinstance(lead, dict) for lead in leads):
            raise HttpError(400, "BAD_REQUEST", "leads must be a list of JSON objects")
        with self.store.transaction() as store:
            list_id = store.new_list(account, campaign, "loaded by hand", now(), {})
            store.insert_leads(account, campaign, list_id, leads)
        return {"listId": list_id, "inserted": len(leads)}


def _object(req: Request) -> dict[str, Any]:
    """An admin request's JSON body, an object (no body: an empty one)."""
    spec = req.json() or {}
    if not isinstance(spec, dict):
        raise HttpError(400, "BAD_REQUEST", "a JSON object is expected")
    return spec


def _list(spec: dict[str, Any], name: str) -> list[Any]:
    values = spec.get(name) or []
    if not isinstance(values, list):
        raise HttpError(400, "BAD_REQUEST", f"{name} must be a list")
    return values


def _whole(value: object, name: str) -> int:
    """An admin request's number: a 400 that names it, not a crash, when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise HttpError(400, "BAD_REQUEST", f"{name} must be a whole number, not {value!r}")
    try:
        return int(value)
    except ValueError as e:
        raise HttpError(400, "BAD_REQUEST", f"{name} must be a whole number, not {value!r}") from e


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
