"""The emulator's auth endpoints: RingCentral JWT grant, Engage token exchange and refresh,
and the check every Voice API call goes through (NOTES.md, Authentication)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from ..ratelimit import SlidingWindows
from .http import HttpError, Request, too_many
from .shared import Shared, Token

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Auth:
    """The token endpoints, and the check every Voice API call goes through."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared

    def _mint(self, kind: str, ttl: float, accounts: tuple[str, ...]) -> str:
        token = f"{kind}-{secrets.token_urlsafe(24)}"
        with self.shared.lock:
            self.shared.tokens[token] = Token(kind, self.shared.clock() + ttl, accounts)
        return token

    def mint_access_token(self) -> str:
        """A ready Engage access token (printed at start for ENGAGE_ACCESS_TOKEN)."""
        return self._mint("engage", self.shared.settings.token_ttl, tuple(self.shared.accounts))

    def rc_token(self, req: Request) -> tuple[int, Any]:
        auth = req.headers.get("authorization", "")
        try:
            client = base64.b64decode(auth.removeprefix("Basic ").strip()).decode()
        except (ValueError, UnicodeDecodeError):
            client = ""
        if (
            not auth.startswith("Basic ")
            or client != f"{self.shared.creds['clientId']}:{self.shared.creds['clientSecret']}"
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
        if form.get("assertion") != self.shared.creds["jwt"]:
            raise HttpError(400, "invalid_grant", "Invalid JWT assertion")
        token = self._mint("rc", 3600, tuple(self.shared.accounts))
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": self._mint("rcrefresh", 604800, ()),
            "refresh_token_expires_in": 604800,
            "scope": "ReadAccounts",
        }

    def _engage_login(self, accounts: tuple[str, ...]) -> dict[str, Any]:
        access = self._mint("engage", self.shared.settings.token_ttl, accounts)
        refresh = self._mint("refresh", 86400, accounts)
        main = str(self.shared.seed.get("mainAccountId") or (accounts[0] if accounts else ""))
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
        with self.shared.lock:
            self.shared.stats["exchangeCalls"] += 1
            limiter = self.shared.windows.setdefault(
                key,
                SlidingWindows(
                    self.shared.settings.exchange_limits,
                    self.shared.settings.rate_scale,
                    self.shared.clock,
                ),
            )
        if not limiter.try_acquire():
            self.shared.stats["exchange429"] += 1
            raise too_many("token exchange", limiter.wait_time())
        form = req.form()
        token = self.shared.tokens.get(form.get("rcAccessToken", ""))
        if token is None or token.kind != "rc" or token.expires <= self.shared.clock():
            raise HttpError(401, "UNAUTHORIZED", "Invalid RingCentral access token")
        return 200, self._engage_login(token.accounts)

    def refresh(self, req: Request) -> tuple[int, Any]:
        form = req.form()
        old = form.get("refresh_token", "")
        with self.shared.lock:
            token = self.shared.tokens.pop(old, None)  # rotation: a refresh token works once
        if token is None or token.kind != "refresh" or token.expires <= self.shared.clock():
            raise HttpError(401, "UNAUTHORIZED", "Invalid refresh token")
        return 200, self._engage_login(token.accounts)

    def authenticate(self, req: Request) -> tuple[str, ...]:
        api_token = req.headers.get("x-auth-token")
        if api_token is not None:
            if api_token in self.shared.creds.get("apiTokens", []):
                return tuple(self.shared.accounts)
            raise HttpError(401, "UNAUTHORIZED", "Invalid API token")
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise HttpError(401, "UNAUTHORIZED", "Full authentication is required")
        token = self.shared.tokens.get(auth[7:].strip())
        if token is None or token.kind != "engage":
            raise HttpError(401, "UNAUTHORIZED", "Invalid access token")
        if token.expires <= self.shared.clock():
            if self.shared.settings.expired_json:  # the SDKs match /expired/i in either form
                raise HttpError(401, "UNAUTHORIZED", "JWT IS EXPIRED")
            raise HttpError(401, "UNAUTHORIZED", "Jwt is expired", text="Jwt is expired")
        return token.accounts
