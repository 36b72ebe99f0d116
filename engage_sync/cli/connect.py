"""Connecting to Engage from the command line: credentials, base URL, limits and the debug log,
all checked before anything is read or sent (no network needed for that)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from ..settings import chosen, resolve
from ..settings import table as settings
from .common import Context


def make_client(
    ctx: Context,
    base_url: str | None,
    rate_scale: float | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
) -> Any:
    from ..engage import (
        EngageClient,
        RedactingFilter,
        Redactor,
        credentials_from_env,
    )
    from ..engage.auth import AuthMode
    from ..engage.hosts import ENGAGE_HOSTS, RINGCENTRAL_HOSTS, check_host

    creds = credentials_from_env()
    url = resolve(settings.BASE_URL, base_url, ctx.config.base_url)
    # before any secret is sent anywhere: the hosts that may receive one (engage/hosts.py)
    check_host(str(url), "Engage base URL", ENGAGE_HOSTS)
    if creds.mode is AuthMode.JWT:
        check_host(creds.rc_server, str(settings.RC_SERVER.env), RINGCENTRAL_HOSTS)
    limits = {
        name: resolve(setting, None, ctx.config.rate_limits.get(name))
        for name, setting in (
            ("loader", settings.LOADER_RATE),
            ("search", settings.SEARCH_RATE),
            ("actions", settings.ACTION_RATE),
        )
    }
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
        rate_scale=resolve(settings.RATE_SCALE, rate_scale),
        max_retries=resolve(settings.MAX_RETRIES, max_retries),
        # connections refused in a row before the server is taken to be gone
        give_up_after=resolve(settings.GIVE_UP_AFTER),
        timeout=resolve(settings.TIMEOUT, timeout),
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


def account_for(flag: str | None, ctx: Context) -> str | None:
    value = chosen(settings.ACCOUNT, flag, ctx.config.account)
    return str(value) if value is not None else None
