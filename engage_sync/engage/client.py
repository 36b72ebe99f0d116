"""The Engage Voice HTTP client over httpx: auth, pacing, retries, status -> error."""

from __future__ import annotations

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from ..errors import AnswerLost, ApiError, AuthError, ServerGone, TransientApiError
from ..ratelimit import ACTION_LIMITS, LOADER_LIMITS, SEARCH_LIMITS, Limit, SlidingWindows
from ..settings import table as settings
from ..tls import tls_for
from .answers import DialGroup, LoadResult, account_ids, read_campaigns, read_groups
from .auth import (
    AuthMode,
    Credentials,
    TokenSource,
    check_url,
    normalise_base_url,
    retry_after,
)
from .campaign_leads import CampaignLeads, admin
from .redaction import WINDOW, RedactingFilter, Redactor, Sent
from .upload import Upload

__all__ = ["EngageClient", "RedactingFilter", "backoff"]

log = logging.getLogger("engage_sync.http")

# Calls are counted from when their request was fully sent (SlidingWindows.arrived), or, where
# that cannot be seen, from their answer; the margin (3% of each window: 0.3 s of 10 s) covers the
# way to the server and its timer resolution, and never less than 50 ms: the way there and a busy
# machine's scheduling do not shrink with a window (limits run faster against the emulator).
PACING_MARGIN = 0.03
MIN_MARGIN_S = 0.05
# the campaigns authenticate read for apply are used for its campaign check up to this long
# after (a user may take minutes to answer apply's question: then they are read again)
KEEP_GROUPS_S = 30.0


def _with_margin(period: float) -> float:
    return period + max(period * PACING_MARGIN, MIN_MARGIN_S)


class EngageClient:
    """Engage's Voice API: auth, pacing per sub-account, retries, status -> error; campaigns and the
    loader here; lead search and actions are `client.leads` (campaign_leads.py)."""

    def __init__(
        self,
        base_url: str,
        creds: Credentials,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        max_retries: int = 6,
        give_up_after: int = 4,
        loader_limits: tuple[Limit, ...] = LOADER_LIMITS,
        search_limits: tuple[Limit, ...] = SEARCH_LIMITS,
        action_limits: tuple[Limit, ...] = ACTION_LIMITS,
        search_page_size: int = 1000,
        search_chunk: int = 500,
        rate_scale: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        redactor: Redactor | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        check_url(base_url, str(settings.BASE_URL.env))
        # what the server says passes through this before it reaches an error, a wait message,
        # the log or a report; every token minted is added to it before it is used
        self.redactor = redactor if redactor is not None else Redactor(creds.secrets)
        self.base_url = normalise_base_url(base_url)
        self.http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": "engage-sync"},
            # the Voice API and its auth share the base URL's origin; a JWT is exchanged at
            # the RingCentral server (https://platform.ringcentral.com unless set otherwise)
            verify=tls_for(
                self.base_url, *([creds.rc_server] if creds.mode is AuthMode.JWT else [])
            ),
        )
        self.tokens = TokenSource(creds, self.http, self.base_url, clock)
        self.max_retries = max_retries
        self.sleep = sleep
        # rate limits are per sub-account: each account gets its own windows (see `pacer`)
        self._limits = {
            kind: tuple((count, _with_margin(period)) for count, period in limits)
            for kind, limits in (
                ("loader", loader_limits),
                ("search", search_limits),
                ("actions", action_limits),
            )
        }
        self._rate_scale = rate_scale
        self._clock = clock
        self._wall = wall  # the calls an earlier run made are kept in wall-clock time
        self._pacers: dict[tuple[str, str], SlidingWindows] = {}
        self._remembered: dict[tuple[str, str], list[float]] = {}
        self._pacers_lock = threading.Lock()
        self.leads = CampaignLeads(self, search_page_size, search_chunk)
        # connections refused in a row: past `give_up_after` the server is taken to be gone
        # and nothing more is sent (ServerGone), so a vanished server ends a run in seconds
        self.give_up_after = give_up_after
        self._refused_in_a_row = 0
        self._gone: str | None = None
        # waits a user should hear about (throttling, retries), said without --debug
        self.on_wait: Callable[[str], None] = lambda message: None
        self.tokens.on_wait = lambda message: self.on_wait(message)
        # each token as it is minted, before it is used or could be printed (CI masks it)
        self.on_secret: Callable[[str], None] = lambda secret: None
        self.tokens.on_secret = self._minted
        self.stats = {"requests": 0, "retries": 0, "throttled": 0, "waited": 0.0}
        # each account's dial groups and campaigns as authenticate read them, and when
        self._kept_groups: dict[str, tuple[float, list[DialGroup]]] = {}
        log.info("Engage Voice API at %s (auth at %s)", self.base_url, self.tokens.auth_origin)

    def _minted(self, secret: str) -> None:
        self.on_secret(secret)
        self.redactor.add(secret)

    def server_text(self, text: object, sent: Any = None) -> str:
        """A message from the server, as it may be shown (redaction.py): no secret, no token,
        no value of the request `sent`, a short printable excerpt."""
        return self.redactor.server_text(text, sent)

    def pacer(self, kind: str, account: str) -> SlidingWindows:
        """The windows of one endpoint (`loader`, `search`, `actions`) for one sub-account."""
        with self._pacers_lock:
            key = (kind, account)
            if key not in self._pacers:
                pacer = SlidingWindows(self._limits[kind], self._rate_scale, self._clock)
                pacer.remember(self._remembered.pop(key, ()))
                self._pacers[key] = pacer
            return self._pacers[key]

    def remember(self, calls: Mapping[tuple[str, str], Iterable[float]]) -> None:
        """Calls earlier runs made, by (endpoint, account), at wall-clock times: each endpoint's
        windows start with them (state/pacing.py)."""
        offset = self._clock() - self._wall()
        with self._pacers_lock:
            for (kind, account), times in calls.items():
                if kind not in self._limits:
                    continue
                mine = [t + offset for t in times]
                if (kind, account) in self._pacers:
                    self._pacers[(kind, account)].remember(mine)
                else:
                    self._remembered.setdefault((kind, account), []).extend(mine)

    def recent_calls(self) -> dict[tuple[str, str], list[float]]:
        """The calls of this run still in their windows, by (endpoint, account), at wall-clock
        times, for the next run to remember."""
        offset = self._wall() - self._clock()
        with self._pacers_lock:
            pacers = dict(self._pacers)
        return {key: [t + offset for t in pacer.recent()] for key, pacer in pacers.items()}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> EngageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        pacer: SlidingWindows | None = None,
        repeatable: bool = True,
        retry_throttled: bool = True,
    ) -> Any:
        """One API call with retries: 429, 5xx, timeouts and dropped connections are retried with
        exponential backoff and jitter (honouring Retry-After); other 4xx are not.

        A call that is not `repeatable` (the loader: under RETAIN_ALL a second post is a second
        record) is retried only when the server surely did nothing (no connection, 429); other
        failures raise AnswerLost at once, for the caller to resolve by looking. A 429 holds the
        `pacer` for as long as the server asked; without `retry_throttled` it is raised (the
        server did nothing) for the caller to send again once the windows admit it."""
        url = f"{self.base_url}{path}"
        refreshed = False
        attempt = 0
        while True:
            try:
                return self._attempt(method, url, json, pacer)
            except AuthError as e:
                # the SDKs match /expired/i, in a text or a JSON body
                if e.status == 401 and "expired" in str(e).lower() and not refreshed:
                    log.info("access token expired; renewing and retrying once")
                    self.tokens.expired(e.rejected)
                    refreshed = True
                    continue
                raise
            except TransientApiError as e:
                if not repeatable and e.may_have_acted:
                    raise AnswerLost(str(e), e.status) from e
                self._count_refused(e)
                attempt += 1
                delay = e.retry_after if e.retry_after is not None else backoff(attempt)
                if e.status == 429:
                    self.stats["throttled"] += 1
                    if pacer is not None:  # every call to this endpoint waits, not this one
                        pacer.hold(delay)
                    if not retry_throttled:  # the caller sends it again (reconcile/loader.py)
                        if delay >= WAIT_SAID:
                            self.on_wait(
                                f"{method} {path}: {e}; holding calls for {delay:.0f}s"
                                + (" as the server asked" if e.retry_after is not None else "")
                            )
                        raise
                if attempt > self.max_retries:
                    raise
                self.stats["retries"] += 1
                log.info(
                    "%s %s: %s; retry %d/%d in %.2fs",
                    method,
                    path,
                    e,
                    attempt,
                    self.max_retries,
                    delay,
                )
                if delay >= WAIT_SAID:
                    self.on_wait(
                        f"{method} {path}: {e}; waiting {delay:.0f}s"
                        + (" as the server asked" if e.retry_after is not None else "")
                        + f" (retry {attempt} of {self.max_retries})"
                    )
                self.sleep(delay)

    def authenticate(self, accounts: Iterable[str] = (), campaigns: bool = False) -> None:
        """Log in now (JWT credentials), with the same retries as any call, then read each
        account's dial groups once: so a command fails on wrong credentials of any kind (a
        legacy API token, an expired access token) or an account they cannot use before it
        shows anything else. With `campaigns` (apply, which checks its campaigns), each group's
        campaigns are read in the same call and kept (`dial_groups_with_campaigns`): one round
        trip to the server before the first load, not two."""
        attempt = 0
        while True:
            try:
                self.tokens.headers()
                break
            except TransientApiError as e:
                attempt += 1
                if attempt > self.max_retries:
                    raise
                delay = e.retry_after if e.retry_after is not None else backoff(attempt)
                if delay >= WAIT_SAID:
                    self.on_wait(f"logging in: {e}; waiting {delay:.0f}s")
                self.sleep(delay)
        for account in sorted(set(accounts)):
            try:
                if campaigns:
                    self._kept_groups[account] = (self._clock(), self._campaigns(account))
                else:
                    self.request("GET", f"{admin(account)}/dialGroups")
            except AuthError as e:
                if e.status == 401 and "expired" not in str(e).lower():  # the token itself
                    raise AuthError(f"credentials refused by Engage: {e}", 401) from e
                raise self._account_hint(account, e) from e
            except ApiError as e:
                if isinstance(e, TransientApiError):
                    raise
                raise self._account_hint(account, e) from e

    def _attempt(self, method: str, url: str, body: Any, pacer: SlidingWindows | None) -> Any:
        if pacer is None:
            return self._once(method, url, body)
        waited, ticket = pacer.acquire(self.sleep)
        self.stats["waited"] += waited

        def trace(event: str, info: Any) -> None:  # httpcore: the request body is on its way
            if event.endswith("send_request_body.complete"):
                pacer.arrived(ticket)

        try:
            return self._once(method, url, body, trace)
        finally:
            pacer.completed(ticket)

    @property
    def gone(self) -> str | None:
        """Why the server is taken to be gone (None while it answers)."""
        return self._gone

    def _count_refused(self, e: TransientApiError) -> None:
        if e.connect_failed:
            with self._pacers_lock:
                self._refused_in_a_row += 1
                if self._refused_in_a_row >= self.give_up_after and self._gone is None:
                    self._gone = (
                        f"{self._refused_in_a_row} connections in a row to {self.base_url} "
                        f"were refused ({e})"
                    )
        if self._gone is not None:
            raise ServerGone(f"the server stopped answering: {self._gone}") from e

    def _once(
        self, method: str, url: str, body: Any, trace: Callable[[str, Any], None] | None = None
    ) -> Any:
        if self._gone is not None:
            raise ServerGone(f"the server stopped answering: {self._gone}")
        headers = self.tokens.headers()
        started = time.monotonic()
        self.stats["requests"] += 1
        extensions = {"trace": trace} if trace is not None else None
        try:
            if isinstance(body, Upload):  # encoded already, as httpx would have
                headers = {**headers, "Content-Type": "application/json"}
                r = self.http.request(
                    method, url, content=body.content, headers=headers, extensions=extensions
                )
            else:
                r = self.http.request(
                    method, url, json=body, headers=headers, extensions=extensions
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # never reached the server: safe to send again whatever the call
            failed = TransientApiError(
                f"could not connect ({type(e).__name__})", may_have_acted=False
            )
            failed.connect_failed = True
            raise failed from e
        except httpx.TimeoutException as e:
            raise TransientApiError(f"timed out after {time.monotonic() - started:.0f}s") from e
        except httpx.TransportError as e:
            raise TransientApiError(f"connection failed ({type(e).__name__})") from e
        self._refused_in_a_row = 0  # answered: the server is there
        path = httpx.URL(url).path
        took = time.monotonic() - started
        log.info("%s %s -> %d (%.2fs)", method, path, r.status_code, took)
        if 200 <= r.status_code < 300:  # real clients accept any 2xx (the spec lists 201, 204)
            if not r.content.strip():
                return None
            try:
                return r.json()
            except ValueError as e:
                raise ApiError(f"{path}: the answer is not JSON", r.status_code) from e
        said, code = _error_message(r)
        sent = Sent.of_parts(body.parts()) if isinstance(body, Upload) else Sent.of(body)
        message = self.server_text(said, sent)
        if code is not None:  # the server's short code, checked as any of its words
            message = f"{message} ({self.server_text(code, sent)})"
        if r.status_code == 401:
            raise AuthError(
                message if "expired" in message.lower() else f"{path}: unauthorized: {message}",
                401,
                rejected=headers.get("Authorization"),
            )
        if r.status_code == 403:
            raise AuthError(f"{path}: forbidden: {message}", 403)
        if r.status_code == 429 or r.status_code >= 500:
            raise TransientApiError(
                f"HTTP {r.status_code}: {message}",
                r.status_code,
                retry_after(r.headers.get("Retry-After")),
                may_have_acted=r.status_code != 429,
            )
        raise ApiError(f"{path}: HTTP {r.status_code}: {message}", r.status_code)

    # -- endpoints --------------------------------------------------------------------------------
    def dial_groups_with_campaigns(self, account: str) -> list[DialGroup]:
        """Dial groups, each with its campaigns: one call to dialGroups/withChildren, or, where a
        tenant does not serve it, dialGroups and then each group's campaigns. What
        `authenticate(..., campaigns=True)` read is used once, if still fresh (KEEP_GROUPS_S)."""
        kept = self._kept_groups.pop(account, None)
        if kept is not None and self._clock() - kept[0] <= KEEP_GROUPS_S:
            return kept[1]
        try:
            return self._campaigns(account)
        except ApiError as e:
            raise self._account_hint(account, e) from e

    def _campaigns(self, account: str) -> list[DialGroup]:
        try:
            groups = read_groups(
                self.request("GET", f"{admin(account)}/dialGroups/withChildren"),
                "dialGroups/withChildren",
            )
        except ApiError as e:
            # real clients use dialGroups then each group's campaigns (no public use of
            # withChildren was found): any failure here, or an answer of another shape, falls
            # back to that
            log.info("dialGroups/withChildren: %s; asking group by group", e)
            groups = [
                (group, False)
                for group, _ in read_groups(
                    self.request("GET", f"{admin(account)}/dialGroups"), "dialGroups"
                )
            ]
        result = []
        for group, listed in groups:
            if not listed:  # a group answered without its campaigns
                where = f"dialGroups/{group.group_id}/campaigns"
                campaigns = self.request("GET", f"{admin(account)}/{where}")
                group = replace(group, campaigns=read_campaigns(campaigns, where))
            result.append(group)
        return result

    def usable_accounts(self) -> list[str]:
        """The account ids these credentials can use: from the token exchange (agentDetails), else
        `GET /api/v1/admin/accounts`; empty when neither says."""
        if self.tokens.account_ids:
            return list(self.tokens.account_ids)
        try:
            return list(account_ids(self.request("GET", "/api/v1/admin/accounts"), "accounts"))
        except ApiError:  # a hint for an error message: no hint rather than another error
            return []

    def _account_hint(self, account: str, e: ApiError) -> ApiError:
        """Most calls take the sub-account id; the main account gets 403/404. Say which to use."""
        if e.status not in (403, 404):
            return e
        usable = self.usable_accounts()
        if not usable or account in usable:
            return e
        main = self.tokens.main_account
        note = f" ({main} is the main account)" if main and main == account else ""
        return ApiError(
            f"{e}; account {account}{note} is not one these credentials can use: use "
            f"{' or '.join(usable)} (ENGAGE_ACCOUNT_ID, --account or `account:`)",
            e.status,
        )

    def load_leads(
        self, account: str, campaign: int, body: Upload | Mapping[str, Any]
    ) -> LoadResult:
        """Post one batch to the direct lead loader (its body encoded already, upload.py, or
        whole). An answer that cannot be read (none, or of a shape the loader's is not) is a
        lost answer: the leads may or may not be loaded."""
        upload = body if isinstance(body, Upload) else Upload.of_body(body)
        result = self.request(
            "POST",
            f"{admin(account)}/campaigns/{campaign}/leadLoader/direct",
            json=upload,
            pacer=self.pacer("loader", account),
            repeatable=False,
            retry_throttled=False,
        )
        if result is None:
            raise AnswerLost("leadLoader/direct: the answer has no result body")
        # a rejected row keeps only the externIds sent (the rest of rowData is the lead's
        # values), and every message is redacted of what the call carried: no lead value goes
        # further than here
        carried = functools.cache(lambda: Sent.of_parts(upload.parts()))  # once for all rows
        try:
            return LoadResult.parse(
                result,
                upload.extern_ids,
                upload.count,
                lambda text: self.server_text(text, carried()),
            )
        except ApiError as e:
            raise AnswerLost(f"{e}: the leads may or may not be loaded") from e


WAIT_SAID = 1.0  # seconds: a wait at least this long is said on stderr, not only with --debug


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return float(random.uniform(0, min(cap, base * 2 ** (attempt - 1))))


def _error_message(r: httpx.Response) -> tuple[str, str | None]:
    """The server's own words for an error, raw (the caller redacts them), and its short error
    code: of a JSON body only these, never the rest (which may copy the request)."""
    try:
        data = r.json()
    except ValueError:
        return r.text.strip()[:WINDOW] or r.reason_phrase, None
    if not isinstance(data, dict):
        return r.reason_phrase, None
    said = next(
        (
            str(data[key])
            for key in ("generalMessage", "details", "message", "error_description")
            if isinstance(data.get(key), str) and data[key].strip()
        ),
        r.reason_phrase,
    )
    code = data.get("errorCode")
    if isinstance(code, str) and _CODE.fullmatch(code) and code not in said:
        return said, code
    return said, None


_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
