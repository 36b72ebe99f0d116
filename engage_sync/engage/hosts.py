"""Where credentials may go: the hosts engage-sync sends a RingCentral or Engage secret to.

A base URL is a setting a pull request can change (`baseUrl` in engage-sync.yaml), and whatever
host it names receives the access tokens, then the leads. So only RingCentral's own hosts are
trusted by default (NOTES.md, Hosts); any other must be named in the environment
(`ENGAGE_SYNC_ALLOWED_HOSTS`, e.g. a protected GitHub environment's variable), never in the
repository. Plain http goes to a loopback host only (the emulator), and in CI a loopback host
must be named too: a runner's loopback is no place for production credentials.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..model import engage_service
from ..settings import chosen
from ..settings import table as settings
from ..settings.ci_vars import ci_markers

ALLOWED_VAR = str(settings.ALLOWED_HOSTS.env)
# the Voice API, under its current and its old name, and the legacy tenants' portals
ENGAGE_HOSTS = frozenset(
    {"ringcx.ringcentral.com", "engage.ringcentral.com", "portal.vacd.biz", "portal.virtualacd.biz"}
)
# the RingCentral platform a JWT is exchanged at (production, and the developer sandbox)
RINGCENTRAL_HOSTS = frozenset({"platform.ringcentral.com", "platform.devtest.ringcentral.com"})


def in_ci(env: Mapping[str, str] | None = None) -> bool:
    return bool(ci_markers(env))


def allowed(env: Mapping[str, str]) -> set[str]:
    """`host` or `host:port` entries of ENGAGE_SYNC_ALLOWED_HOSTS (commas or spaces)."""
    raw = str(chosen(settings.ALLOWED_HOSTS, env=env) or "")
    return {e.strip().lower() for e in raw.replace(",", " ").split() if e.strip()}


def check_host(
    url: str, what: str, known: frozenset[str], env: Mapping[str, str] | None = None
) -> None:
    """Refuse, before anything is sent, a URL whose host may not receive credentials."""
    env = os.environ if env is None else env
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise ConfigError(f"{what}: not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{what}: not an http(s) URL")
    if parts.username or parts.password:
        raise ConfigError(f"{what}: a URL with a user name or password is refused")
    loopback = _loopback(host)
    if parts.scheme == "http" and not loopback:
        raise ConfigError(f"{what}: plain http:// is refused for {host}: use https://")
    named = allowed(env)
    if host in named or (port is not None and f"{host}:{port}" in named):
        return
    if host in known and parts.scheme == "https" and port in (None, 443):
        return
    if loopback and not in_ci(env):
        return
    where = f"{host}:{port}" if port is not None else host
    raise ConfigError(
        f"{what}: {where} is not a RingCentral host, and engage-sync sends credentials and "
        f"leads only to those ({', '.join(sorted(known))}); to use another, name it in the "
        f"environment, not in the repository: {ALLOWED_VAR}={where}"
    )


def engage_target(base_url: str) -> str:
    """The Engage service a base URL reaches, as the state records it (model.engage_service)."""
    return engage_service(base_url)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
