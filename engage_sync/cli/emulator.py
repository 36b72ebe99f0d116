"""`engage-sync emulator`: serve the local Engage-compatible server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError, ExitCode
from ..settings import table as settings
from .common import setting_option

if TYPE_CHECKING:  # the emulator's server is imported when it is run
    from ..emulator import Emulator, Settings


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Listen on this address; one that is not loopback needs --allow-remote.",
)
@click.option("--port", type=int, default=8089, show_default=True, help="0 picks a free port.")
@click.option("--data", metavar="FILE", help="Keep everything in this SQLite file across restarts.")
@click.option("--seed", "seed_file", metavar="FILE", help="YAML seed replacing the demo account.")
@click.option("--token-ttl", type=float, help="Engage access-token lifetime in seconds [300].")
@click.option("--rate-scale", type=float, help="Run the documented rate limits N times faster [1].")
@click.option("--loader-limits", help="Loader limits, e.g. 30/10,120/60 (the documented ones).")
@click.option("--max-leads", type=int, help="Maximum leads per loader call [1000].")
@click.option("--latency", type=float, help="Seconds added to every API request [0].")
@click.option("--hang-seconds", type=float, help="How long an injected hang lasts [30].")
@click.option(
    "--loader-status",
    type=click.IntRange(200, 299),
    help="Answer successful loader calls with this status (the spec says 201) [200].",
)
@click.option(
    "--search-max-rows",
    type=click.IntRange(1),
    help="Clamp lead search pages to this many rows, as a server may [1000].",
)
@click.option(
    "--request-log",
    type=click.IntRange(0),
    help="Keep the last N requests for /_emulator/requests [10000].",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on an address other machines can reach (needs --admin-token).",
)
@setting_option(settings.EMULATOR_ADMIN_TOKEN, metavar="TOKEN")
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests whose Host is NAME (the name clients use), with --allow-remote.",
)
def emulator(
    host: str,
    port: int,
    data: str | None,
    seed_file: str | None,
    token_ttl: float | None,
    rate_scale: float | None,
    loader_limits: str | None,
    max_leads: int | None,
    latency: float | None,
    hang_seconds: float | None,
    search_max_rows: int | None,
    loader_status: int | None,
    request_log: int | None,
    allow_remote: bool,
    admin_token: str | None,
    allowed_hosts: tuple[str, ...],
) -> int:
    """Run a local Engage-compatible server for trying engage-sync and for tests."""
    from ..emulator import Emulator, Settings, default_seed, load_seed
    from ..emulator.guard import is_loopback
    from ..emulator.server import SignalStop, run_until_signal, serve

    hosts = _reachable_as(host, allow_remote, admin_token, allowed_hosts, is_loopback(host))

    seed = load_seed(Path(seed_file)) if seed_file else default_seed()
    overrides = {
        "token_ttl": token_ttl,
        "rate_scale": rate_scale,
        "max_leads_per_call": max_leads,
        "latency": latency,
        "hang_seconds": hang_seconds,
        "search_max_rows": search_max_rows,
        "loader_status": loader_status,
        "request_log": request_log,
    }
    settings = _settings(Settings.from_seed(seed.get("settings", {})), overrides, loader_limits)
    emu = Emulator(seed, settings, data or ":memory:")
    try:
        server = serve(emu, host, port, hosts, admin_token)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    stop = SignalStop()  # before the banner: whoever reads it may signal us at once
    bound_host, bound_port = server.server_address[:2]
    named = hosts[0] if hosts else str(bound_host)
    origin = f"http://{f'[{named}]' if ':' in named else named}:{bound_port}"
    _banner(origin, emu, settings.token_ttl, admin_token)
    if allow_remote:
        click.echo(
            f"warning: reachable from other machines as {', '.join(hosts)}; the credentials "
            "above are the seed's (give your own with --seed), and anyone who can reach it "
            "can use them",
            err=True,
        )
    sys.stdout.flush()
    run_until_signal(server, stop)
    emu.store.close()
    click.echo("emulator stopped")
    return ExitCode.OK


def _settings(settings: Settings, overrides: dict[str, Any], loader_limits: str | None) -> Settings:
    """The seed's settings with the flags given on top."""
    from ..engage import parse_limits

    for attr, value in overrides.items():
        if value is not None:
            setattr(settings, attr, value)
    if loader_limits:
        try:
            settings.loader_limits = parse_limits(loader_limits)
        except ValueError as e:
            raise ConfigError(str(e)) from e
    return settings


def _banner(origin: str, emu: Emulator, token_ttl: float, admin_token: str | None) -> None:
    """Where the emulator listens and the credentials that work on it, to paste in a shell."""
    creds = emu.creds
    first_account = next(iter(emu.accounts), "")
    click.echo(f"engage-sync emulator listening on {origin} (Voice API base URL {origin}/voice)")
    click.echo("# paste one credential block into your shell (they only work on this emulator):")
    click.echo(f"export ENGAGE_BASE_URL={origin}/voice")
    click.echo(f"export ENGAGE_ACCOUNT_ID={first_account}")
    click.echo(f"export RINGCENTRAL_SERVER_URL={origin}")
    click.echo(f"export RINGCENTRAL_CLIENT_ID={creds['clientId']}")
    click.echo(f"export RINGCENTRAL_CLIENT_SECRET={creds['clientSecret']}")
    click.echo(f"export RINGCENTRAL_JWT={creds['jwt']}")
    # a loopback host in CI must be named (engage/hosts.py): this one is the emulator
    click.echo(f"export ENGAGE_SYNC_ALLOWED_HOSTS={origin.split('://', 1)[1]}")
    click.echo("# or a legacy API token:")
    tokens = creds.get("apiTokens") or [""]
    click.echo(f"#   export ENGAGE_API_TOKEN={tokens[0]}")
    click.echo(f"# or a ready access token (valid {token_ttl:g} s):")
    click.echo(f"#   export ENGAGE_ACCESS_TOKEN={emu.mint_access_token()}")
    click.echo(
        "Inspect: GET /_emulator/leads, /_emulator/requests, /_emulator/faults"
        + (" (with Authorization: Bearer <admin token>)" if admin_token else "")
        + ". Ctrl-C stops.",
        nl=True,
    )


MIN_ADMIN_TOKEN = 16


def _reachable_as(
    host: str,
    allow_remote: bool,
    admin_token: str | None,
    allowed_hosts: tuple[str, ...],
    loopback: bool,
) -> list[str]:
    """The host names, besides loopback ones, the emulator answers to; or a clear refusal.

    A web page, or another machine, must not drive an emulator the user started for a test: an
    address others can reach needs --allow-remote and an admin token (issue #29, finding 7)."""
    if admin_token is not None and len(admin_token) < MIN_ADMIN_TOKEN:
        raise ConfigError(f"--admin-token must be at least {MIN_ADMIN_TOKEN} characters")
    if loopback and not allow_remote:
        if allowed_hosts:
            raise ConfigError("--allowed-host needs --allow-remote")
        return []
    if not allow_remote:
        raise ConfigError(
            f"--host {host} is reachable from other machines: the emulator's demo credentials "
            "and admin endpoints would be too. Listen on 127.0.0.1, or pass --allow-remote "
            "with --admin-token (or ENGAGE_SYNC_EMULATOR_ADMIN_TOKEN) to mean it"
        )
    if admin_token is None:
        raise ConfigError(
            "--allow-remote needs --admin-token (or ENGAGE_SYNC_EMULATOR_ADMIN_TOKEN): the "
            "admin endpoints then ask for it"
        )
    wildcard = host in ("", "0.0.0.0", "::")
    if wildcard and not allowed_hosts:
        raise ConfigError(
            f"--host {host!r} listens on every address: name the host clients use with "
            "--allowed-host NAME (requests naming any other host are refused)"
        )
    return [*allowed_hosts, *([] if wildcard or loopback else [host])]
