"""Credentials (three kinds) and the tokens they give, cached and refreshed for the whole run.

NOTES.md, Authentication: a RingCentral JWT grant, exchanged for an Engage token (5 a minute, so
never per request), refreshed with rotation; or a ready Engage access token; or a legacy permanent
API token sent as X-Auth-Token.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ..errors import ApiError, AuthError, ConfigError, TransientApiError
from ..ratelimit import EXCHANGE_LIMITS, SlidingWindows
from ..settings import Setting, chosen, resolve
from ..settings import table as settings
from .answers import Tokens

DEFAULT_RC_SERVER: str = settings.RC_SERVER.default
JWT_SETTINGS = (settings.CLIENT_ID, settings.CLIENT_SECRET, settings.JWT)
JWT_VARS = tuple(str(s.env) for s in JWT_SETTINGS)
TOKEN_VAR = str(settings.ACCESS_TOKEN.env)
API_TOKEN_VAR = str(settings.API_TOKEN.env)
ENGAGE_TOKEN_LIFETIME = 300.0  # not returned by the exchange; NOTES.md: tokens live 5 minutes
REFRESH_MARGIN = 60.0  # renew after 4 minutes, as the SDKs do, well before the server's 5


class AuthMode(enum.Enum):
    JWT = "jwt"
    ACCESS_TOKEN = "access-token"
    API_TOKEN = "api-token"


@dataclass(frozen=True, slots=True)
class Credentials:
    mode: AuthMode
    secret: str  # the JWT, the access token or the API token
    client_id: str = ""
    client_secret: str = ""
    rc_server: str = DEFAULT_RC_SERVER

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        return f"Credentials(mode={self.mode.value}, secret=[redacted])"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.secret, self.client_secret) if s)


def credentials_from_env(env: Mapping[str, str] | None = None) -> Credentials:
    """Exactly one kind of credentials from the environment, or one clear error naming them."""

    def given(setting: Setting) -> str:
        return str(chosen(setting, env=env) or "")

    client_id, client_secret, jwt = (given(s) for s in JWT_SETTINGS)
    token, api_token = given(settings.ACCESS_TOKEN), given(settings.API_TOKEN)
    kinds = []
    if client_id or client_secret or jwt:
        kinds.append("/".join(JWT_VARS))
    if token:
        kinds.append(TOKEN_VAR)
    if api_token:
        kinds.append(API_TOKEN_VAR)
    if not kinds:
        raise ConfigError(
            f"no Engage credentials: set {', '.join(JWT_VARS[:2])} and {JWT_VARS[2]} "
            f"(recommended), or {TOKEN_VAR}, or {API_TOKEN_VAR}"
        )
    if len(kinds) > 1:
        raise ConfigError(f"several kinds of credentials are set ({', '.join(kinds)}): set one")
    if kinds[0] not in (TOKEN_VAR, API_TOKEN_VAR):
        parts = zip(JWT_VARS, (client_id, client_secret, jwt), strict=True)
        missing = [var for var, value in parts if not value]
        if missing:
            raise ConfigError(f"JWT credentials are incomplete: {', '.join(missing)} not set")
        server = str(resolve(settings.RC_SERVER, env=env))
        check_url(server, str(settings.RC_SERVER.env))
        return Credentials(AuthMode.JWT, jwt, client_id, client_secret, server.rstrip("/"))
    if token:
        return Credentials(AuthMode.ACCESS_TOKEN, token)
    return Credentials(AuthMode.API_TOKEN, api_token)


def check_url(url: str, what: str) -> None:
    """Only https, except plain http to a loopback host (the emulator)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    if parts.scheme == "http":
        raise ConfigError(f"{what}: plain http:// is refused for {parts.hostname}: use https://")
    raise ConfigError(f"{what}: {url!r} is not an http(s) URL")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str) -> str:
    """The Voice API base URL as users type it: `https://ringcx.ringcentral.com/voice`, a legacy
    `https://portal.vacd.biz` or the docs' `https://portal.vacd.biz/api` (the client adds
    `/api/v1/...` itself, so a trailing `/api` is dropped rather than doubled)."""
    url = url.strip().rstrip("/")
    return url[: -len("/api")] if url.endswith("/api") else url


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim (epoch seconds) of a token that is a readable JWT, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = payload.get("exp") if isinstance(payload, dict) else None
        return float(exp) if isinstance(exp, (int, float)) else None
    except (ValueError, binascii.Error):
        return None


def origin(base_url: str) -> str:
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


class TokenSource:
    """Gives the auth header for each request; logs in once and refreshes before expiry."""

    def __init__(
        self,
        creds: Credentials,
        http: httpx.Client,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
        exchange_limiter: SlidingWindows | None = None,
    ) -> None:
        self.creds = creds
        self.http = http
        self.auth_origin = origin(base_url)
        self.clock = clock
        self.exchange_limiter = exchange_limiter or SlidingWindows(EXCHANGE_LIMITS)
        self._access: str | None = creds.secret if creds.mode is AuthMode.ACCESS_TOKEN else None
        self._refresh: str | None = None
        self._expires = float("inf")
        self.logins = 0
        self.refreshes = 0
        self.account_ids: list[str] = []
        self.main_account: str | None = None
        self._lock = threading.RLock()
        self.on_secret: Callable[[str], None] = lambda secret: None
        # a wait the user should hear about (a throttled login), said without --debug
        self.on_wait: Callable[[str], None] = lambda message: None

    def headers(self) -> dict[str, str]:
        if self.creds.mode is AuthMode.API_TOKEN:
            return {"X-Auth-Token": self.creds.secret}
        with self._lock:  # calls in flight together: one of them renews, the others wait
            if self.creds.mode is AuthMode.JWT and (
                self._access is None or self.clock() >= self._expires - REFRESH_MARGIN
            ):
                self.renew()
            return {"Authorization": f"Bearer {self._access}"}

    def expired(self, rejected: str | None = None) -> None:
        """The server said the token expired: renew once (only JWT credentials can). With
        several calls in flight, only the first to see it renews: `rejected` is the header the
        server refused, and a token renewed since is simply used."""
        if self.creds.mode is not AuthMode.JWT:
            raise AuthError(
                f"the Engage access token has expired ({TOKEN_VAR} tokens last 5 "
                "minutes); use RINGCENTRAL_* JWT credentials for long runs",
                401,
            )
        with self._lock:
            if rejected is None or rejected == f"Bearer {self._access}":
                self.renew()

    def renew(self) -> None:
        if self._refresh is not None:
            try:
                answer = self._post(
                    f"{self.auth_origin}/api/auth/token/refresh",
                    {"refresh_token": self._refresh, "rcTokenType": "Bearer"},
                )
                self._store(Tokens.from_engage(answer, "Engage's refresh answer"))
                self.refreshes += 1
                return
            except AuthError:
                self._refresh = None  # refresh token gone: log in again below
        self.login()

    def login(self) -> None:
        rc_answer = self._post(
            f"{self.creds.rc_server}/restapi/oauth/token",
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": self.creds.secret,
            },
            auth=(self.creds.client_id, self.creds.client_secret),
        )
        rc = Tokens.from_ringcentral(rc_answer)
        self.on_secret(rc.access)
        if rc.refresh is not None:  # never used, yet a secret this run now holds
            self.on_secret(rc.refresh)
        wait = self.exchange_limiter.wait_time()
        if wait >= 1:
            self.on_wait(f"waiting {wait:.0f}s to log in: Engage allows 5 token exchanges a minute")
        _, ticket = self.exchange_limiter.acquire()
        try:
            answer = self._post(
                f"{self.auth_origin}/api/auth/login/rc/accesstoken?includeRefresh=true",
                {"rcAccessToken": rc.access, "rcTokenType": "Bearer"},
            )
        finally:
            self.exchange_limiter.completed(ticket)
        self._store(Tokens.from_engage(answer))
        self.logins += 1

    def _store(self, tokens: Tokens) -> None:
        self.on_secret(tokens.access)
        if tokens.refresh is not None:
            self.on_secret(tokens.refresh)
        self._access = tokens.access
        self._refresh = tokens.refresh
        lifetime = ENGAGE_TOKEN_LIFETIME
        exp = jwt_expiry(tokens.access)
        if exp is not None:  # the token says when it ends: believe it when it is sooner
            lifetime = max(0.0, min(lifetime, exp - time.time()))
        self._expires = self.clock() + lifetime
        # which accounts these credentials can use (never the tokens): for wrong-account errors
        if tokens.account_ids:
            self.account_ids = list(tokens.account_ids)
        if tokens.main_account is not None:
            self.main_account = tokens.main_account

    def _post(self, url: str, form: dict[str, str], auth: tuple[str, str] | None = None) -> object:
        """The JSON of a 200 (answers.Tokens reads it), or the error for its status."""
        try:
            basic = httpx.BasicAuth(*auth) if auth is not None else httpx.USE_CLIENT_DEFAULT
            r = self.http.post(url, data=form, auth=basic)
        except httpx.TransportError as e:
            raise TransientApiError(
                f"cannot reach {urlsplit(url).netloc}: {type(e).__name__}"
            ) from e
        if r.status_code in (401, 403, 400):
            raise AuthError(
                f"credentials refused by {urlsplit(url).path} (HTTP {r.status_code})", r.status_code
            )
        if r.status_code == 429 or r.status_code >= 500:
            raise TransientApiError(
                f"{urlsplit(url).path}: HTTP {r.status_code}",
                r.status_code,
                retry_after(r.headers.get("Retry-After")),
            )
        if r.status_code != 200:
            raise ApiError(f"{urlsplit(url).path}: HTTP {r.status_code}", r.status_code)
        try:
            return r.json()
        except ValueError as e:
            raise ApiError(f"{urlsplit(url).path}: answer is not JSON") from e


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (None: absent, or an HTTP date: our own backoff)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
