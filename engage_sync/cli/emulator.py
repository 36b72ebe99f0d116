"""`engage-sync emulator`: serve the local Engage-compatible server until Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import ConfigError, ExitCode


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
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
) -> int:
    """Run a local Engage-compatible server for trying engage-sync and for tests."""
    from ..emulator import Emulator, Settings, default_seed, load_seed
    from ..emulator.server import SignalStop, run_until_signal, serve
    from ..engage import parse_limits

    seed = load_seed(Path(seed_file)) if seed_file else default_seed()
    settings = Settings.from_seed(seed.get("settings", {}))
    for value, attr in (
        (token_ttl, "token_ttl"),
        (rate_scale, "rate_scale"),
        (max_leads, "max_leads_per_call"),
        (latency, "latency"),
        (hang_seconds, "hang_seconds"),
        (search_max_rows, "search_max_rows"),
        (loader_status, "loader_status"),
    ):
        if value is not None:
            setattr(settings, attr, value)
    if loader_limits:
        try:
            settings.loader_limits = parse_limits(loader_limits)
        except ValueError as e:
            raise ConfigError(str(e)) from e
    emu = Emulator(seed, settings, data or ":memory:")
    try:
        server = serve(emu, host, port)
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    stop = SignalStop()  # before the banner: whoever reads it may signal us at once
    bound_host, bound_port = server.server_address[:2]
    origin = f"http://{bound_host!s}:{bound_port}"
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
    click.echo(f"# or a ready access token (valid {settings.token_ttl:g} s):")
    click.echo(f"#   export ENGAGE_ACCESS_TOKEN={emu.mint_access_token()}")
    click.echo(
        "Inspect: GET /_emulator/leads, /_emulator/requests, /_emulator/faults. Ctrl-C stops.",
        nl=True,
    )
    sys.stdout.flush()
    run_until_signal(server, stop)
    emu.store.close()
    click.echo("emulator stopped")
    return ExitCode.OK
