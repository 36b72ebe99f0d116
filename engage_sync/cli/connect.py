"""Connecting to Engage from the command line: credentials, base URL, limits and the debug log,
all checked before anything is read or sent (no network needed for that)."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from ..config import DEFAULT_BASE_URL, pick
from ..errors import ConfigError
from .common import Context

if TYPE_CHECKING:  # the HTTP stack is imported only by commands that talk to Engage
    from ..engage import Limit


def make_client(
    ctx: Context,
    base_url: str | None,
    rate_scale: float | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
) -> Any:
    from ..engage import (
        LOADER_LIMITS,
        EngageClient,
        RedactingFilter,
        Redactor,
        credentials_from_env,
    )
    from ..engage.auth import AuthMode
    from ..engage.hosts import ENGAGE_HOSTS, RINGCENTRAL_HOSTS, check_host
    from ..ratelimit import ACTION_LIMITS, SEARCH_LIMITS

    creds = credentials_from_env()
    url = pick(base_url, "ENGAGE_BASE_URL", ctx.config.base_url, DEFAULT_BASE_URL)
    # before any secret is sent anywhere: the hosts that may receive one (engage/hosts.py)
    check_host(str(url), "Engage base URL", ENGAGE_HOSTS)
    if creds.mode is AuthMode.JWT:
        check_host(creds.rc_server, "RINGCENTRAL_SERVER_URL", RINGCENTRAL_HOSTS)
    limits = {
        name: limits_for(ctx, name, env_var, default)
        for name, env_var, default in (
            ("loader", "ENGAGE_SYNC_LOADER_LIMITS", LOADER_LIMITS),
            ("search", "ENGAGE_SYNC_SEARCH_LIMITS", SEARCH_LIMITS),
            ("actions", "ENGAGE_SYNC_ACTION_LIMITS", ACTION_LIMITS),
        )
    }
    scale = number(float, rate_scale, "ENGAGE_SYNC_RATE_SCALE", 1.0)
    # one redactor for the log and for every message taken from the server's answers
    redactor = Redactor(creds.secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("debug: %(message)s"))
    logger = logging.getLogger("engage_sync")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if ctx.debug else logging.WARNING)
    client = EngageClient(
        str(url),
        creds,
        loader_limits=limits["loader"],
        search_limits=limits["search"],
        action_limits=limits["actions"],
        rate_scale=scale,
        max_retries=number(int, max_retries, "ENGAGE_SYNC_MAX_RETRIES", 6),
        # connections refused in a row before the server is taken to be gone
        give_up_after=number(int, None, "ENGAGE_SYNC_GIVE_UP_AFTER", 4),
        timeout=number(float, timeout, "ENGAGE_SYNC_TIMEOUT", 60.0),
        redactor=redactor,  # tokens minted during the run are redacted too
    )
    if os.environ.get("GITHUB_ACTIONS") == "true":
        client.on_secret = _add_mask
    client.on_wait = _say_wait  # a long wait is announced, never silent
    return client


def _add_mask(secret: str) -> None:
    """GitHub Actions masks the secrets it was given, not tokens minted during the run: each is
    announced on standard output as it is minted, before anything could print it (the client
    refuses a token with spaces or control characters, so this is one line, one word)."""
    click.echo(f"::add-mask::{secret}")
    sys.stdout.flush()


def _say_wait(message: str) -> None:
    click.echo(f"engage-sync: {message}", err=True)


def limits_for(
    ctx: Context, name: str, env_var: str, default: tuple[Limit, ...]
) -> tuple[Limit, ...]:
    from ..engage import parse_limits

    text = pick(None, env_var, ctx.config.rate_limits.get(name), None)
    try:
        return parse_limits(str(text)) if text else default
    except ValueError as e:
        raise ConfigError(f"rateLimits.{name}: {e}") from e


def number(kind: Any, flag: Any, env_var: str, default: Any) -> Any:
    value = pick(flag, env_var, None, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{env_var} must be a number, not {value!r}") from None


def account_for(flag: str | None, ctx: Context) -> str | None:
    value = pick(flag, "ENGAGE_ACCOUNT_ID", ctx.config.account, None)
    return str(value) if value is not None else None
