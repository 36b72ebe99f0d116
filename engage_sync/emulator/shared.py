"""What the emulator's endpoints share, handed to each explicitly: the settings, the store, the
clock, the accounts and credentials of the seed, the tokens minted, the injected faults, the log
of requests and the counters, the rate-limit windows, and one lock for the mutable parts."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..ratelimit import Limit, SlidingWindows
from .http import DropConnection, HttpError, Request, echo, too_many
from .store import Store

FAULT_KINDS = (
    "500",
    "503",
    "429",
    "hang",
    "drop",
    "failed",
    "reject",
    "unsuccessful",
    "lost",  # the leads are stored, then the connection drops: the answer is lost
    "scrub",  # the first `rows` leads are accepted but not inserted (do-not-call)
    "unsupplied",  # 200 with leadsSupplied 0 and nothing stored (missing.required.param)
    "echo",  # a 500 whose body copies the request: its headers (tokens) and body (lead values)
    "stall",  # the call waits `seconds` (hangSeconds unless given), then is handled as usual
    "expired",  # the access token the call carries expires now: 401 "Jwt is expired"
)
FAULT_ENDPOINTS = ("loader", "search", "actions")


@dataclass
class Fault:
    kind: str
    remaining: int
    rows: int = 1
    endpoint: str = "loader"  # which endpoint it strikes: loader, search or actions
    extern_id: str | None = None  # only loader calls carrying this lead (a fault for one batch)
    seconds: float | None = None  # how long a stall lasts (None: settings.hang_seconds)


@dataclass
class Token:
    kind: str  # "rc" | "engage" | "refresh" | "rcrefresh"
    expires: float
    accounts: tuple[str, ...] = ()


@dataclass
class Shared:
    seed: dict[str, Any]
    settings: Any  # app.Settings
    store: Store
    clock: Callable[[], float]
    tokens: dict[str, Token] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    # the last `settings.request_log` requests (a ring: the oldest go first), for inspection
    requests: deque[dict[str, Any]] = field(init=False)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "loaderCalls": 0,
            "loader429": 0,
            "exchangeCalls": 0,
            "exchange429": 0,
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)
    windows: dict[tuple[str, str], SlidingWindows] = field(default_factory=dict)

    accounts: dict[str, dict[str, Any]] = field(init=False)
    creds: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.requests = deque(maxlen=max(0, int(self.settings.request_log)))
        self.accounts = {str(a["accountId"]): a for a in self.seed["accounts"]}
        self.creds = self.seed["credentials"]

    def next_fault(
        self, endpoint: str = "loader", extern_ids: frozenset[str] = frozenset()
    ) -> Fault | None:
        with self.lock:
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.endpoint == endpoint and (f.extern_id is None or f.extern_id in extern_ids)
                ),
                None,
            )
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
            return fault

    def expire(self, token: str) -> None:
        """The access token expires now (as its lifetime running out would have it)."""
        with self.lock:
            found = self.tokens.get(token)
            if found is not None:
                found.expires = min(found.expires, self.clock())

    def limit(
        self,
        account_id: str,
        endpoint: str,
        limits: tuple[Limit, ...],
        arrived: float | None = None,
    ) -> None:
        """Count a call against the account's windows for this endpoint, or answer 429.
        `arrived`: when its connection was accepted (else now)."""
        with self.lock:
            self.stats[f"{endpoint}Calls"] = self.stats.get(f"{endpoint}Calls", 0) + 1
            limiter = self.windows.setdefault(
                (account_id, endpoint),
                SlidingWindows(limits, self.settings.rate_scale, self.clock),
            )
        if not limiter.try_acquire(arrived):
            with self.lock:
                self.stats[f"{endpoint}429"] = self.stats.get(f"{endpoint}429", 0) + 1
            raise too_many(endpoint, limiter.wait_time())

    def fault(
        self,
        endpoint: str,
        environ: dict[str, Any],
        req: Request,
        extern_ids: frozenset[str] = frozenset(),
    ) -> Fault | None:
        """The next injected fault for this endpoint: status faults, echo, hang and drop strike
        here (a dropped call did nothing); the others are returned for the endpoint to act out."""
        fault = self.next_fault(endpoint, extern_ids)
        if fault is None:
            return None
        if fault.kind == "echo":
            raise echo(req)
        if fault.kind in ("500", "503", "429"):
            raise HttpError(int(fault.kind), "INJECTED_FAULT", f"injected fault {fault.kind}")
        if fault.kind == "hang":
            time.sleep(self.settings.hang_seconds)
            raise HttpError(504, "GATEWAY_TIMEOUT", "injected hang")
        if fault.kind == "stall":  # slow, not broken: past the client's timeout it still acts
            time.sleep(self.settings.hang_seconds if fault.seconds is None else fault.seconds)
            return fault
        if fault.kind == "expired":
            self.expire(req.headers.get("authorization", "").removeprefix("Bearer ").strip())
            raise HttpError(401, "UNAUTHORIZED", "Jwt is expired", text="Jwt is expired")
        if fault.kind == "drop":
            drop = environ.get("emulator.drop")
            if drop is None:
                raise DropConnection("injected dropped connection")
            drop()
            raise HttpError(500, "INJECTED_FAULT", "injected dropped connection")
        return fault
