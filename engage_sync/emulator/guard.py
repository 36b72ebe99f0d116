"""Who may talk to the emulator on a socket (issue #29, finding 7).

The emulator serves demo credentials and admin endpoints that change its data (`/_emulator/*`):
a web page the user visits must not reach them. So every request names a host this server is
(loopback, with its port, or a host named with `--allowed-host`: no DNS rebinding), carries no
`Origin` but its own (no cross-site request), and an admin request that posts sends JSON (a
form or `text/plain` post is what a page can send without asking) and, when an admin token is
set, `Authorization: Bearer <token>`. In-process use (httpx's WSGI transport) has no socket and
no guard.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from .http import REASONS, HttpError, is_admin

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SAME_SITE = ("same-origin", "none")  # Sec-Fetch-Site values of a request no other site made
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (brackets or none)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    """WSGI middleware in front of the emulator: refuses what another site or host could send."""

    def __init__(
        self, app: App, allowed_hosts: Iterable[str] = (), admin_token: str | None = None
    ) -> None:
        self.app = app
        self.allowed_hosts = frozenset(h.strip("[]").lower() for h in allowed_hosts if h)
        self.admin_token = admin_token or None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            self.check(environ)
        except HttpError as e:
            data = json.dumps({"errorCode": e.code, "generalMessage": e.message}).encode()
            start_response(
                f"{e.status} {REASONS.get(e.status, 'Status')}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            )
            return [data]
        return self.app(environ, start_response)

    def check(self, environ: dict[str, Any]) -> None:
        host = self._host(environ)
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and origin.lower() != f"http://{host}".lower():
            raise HttpError(403, "CROSS_ORIGIN", "requests from another origin are refused")
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if site is not None and site.lower() not in SAME_SITE:
            raise HttpError(403, "CROSS_ORIGIN", "requests from another site are refused")
        if not is_admin(environ.get("PATH_INFO") or "/"):
            return
        if self.admin_token is not None:
            given = environ.get("HTTP_AUTHORIZATION", "")
            expected = f"Bearer {self.admin_token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise HttpError(
                    401,
                    "ADMIN_TOKEN_REQUIRED",
                    "the emulator's admin endpoints need Authorization: Bearer <admin token>",
                )
        method = environ.get("REQUEST_METHOD", "GET").upper()
        media = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        if method in ("POST", "PUT", "PATCH") and media != "application/json":
            raise HttpError(
                415, "JSON_REQUIRED", "the emulator's admin endpoints take application/json"
            )

    def _host(self, environ: dict[str, Any]) -> str:
        """The Host header, if it names this server: a loopback name or address, or an allowed
        host, with the port this server listens on."""
        header = environ.get("HTTP_HOST") or ""
        try:
            parts = urlsplit(f"//{header}")
            name, port = parts.hostname or "", parts.port
        except ValueError:
            name, port = "", None
        if not _HOST.fullmatch(header):  # no user@, path or stray characters: a name and a port
            name = ""
        listening = int(environ.get("SERVER_PORT") or 0)
        known = is_loopback(name) or name in self.allowed_hosts
        if not header or not known or (port if port is not None else 80) != listening:
            raise HttpError(
                421,
                "HOST_NOT_ALLOWED",
                f"this emulator answers to loopback hosts (and --allowed-host) on port "
                f"{listening}, not to Host {header[:80]!r}",
            )
        return header
