"""The engage-sync command line: the only module that prints or chooses exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__, workspace
from .config import Config, load_config
from .errors import EngageSyncError, ValidationFailed
from .model import OutputFormat, Problem, Severity

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_RAIL = 3
EXIT_PARTIAL = 4
EXIT_CHECKSUM = 5
EXIT_USAGE = 64
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
PROBLEMS_SHOWN = 20  # plan and apply summarise; validate lists every problem


def exit_code(outcome: BaseException | None) -> int:
    """The one table from outcomes to exit codes (README: Exit codes)."""
    if outcome is None:
        return EXIT_OK
    if isinstance(outcome, click.UsageError):
        return EXIT_USAGE
    if isinstance(outcome, EngageSyncError):
        return outcome.exit_code
    if isinstance(outcome, (KeyboardInterrupt, click.Abort)):
        return EXIT_INTERRUPTED
    return EXIT_INTERNAL


class Context:
    def __init__(self, config_file: str | None, state: str | None, debug: bool) -> None:
        self.config_file = config_file
        self.state_flag = state
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_file)
        return self._config

    @property
    def state_path(self) -> Path:
        return workspace.state_path(self.state_flag, self.config)


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="engage-sync")
@click.option(
    "--config",
    "config_file",
    metavar="FILE",
    envvar="ENGAGE_SYNC_CONFIG",
    help="Settings file [default: ./engage-sync.yaml].",
)
@click.option(
    "--state",
    metavar="PATH",
    help="State file [env ENGAGE_SYNC_STATE; default: engage-sync.state.json].",
)
@click.option(
    "-v",
    "--verbose",
    "--debug",
    "debug",
    is_flag=True,
    help="Log HTTP requests and retries (secrets are always redacted).",
)
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, state: str | None, debug: bool) -> None:
    """Lead sets as code for RingCentral Engage Voice (RingCX)."""
    ctx.obj = Context(config_file, state, debug)


def _problems(problems: Sequence[Problem], limit: int | None = None) -> None:
    """Each problem on its own line, by file and line; past `limit`, a count instead."""
    ordered = sorted(problems, key=lambda p: (p.file, p.line))
    for p in ordered[:limit]:
        click.echo(str(p), err=True)
    if limit is not None and len(ordered) > limit:
        click.echo(
            f"... and {len(ordered) - limit} more (`engage-sync validate` lists them all)", err=True
        )


@cli.command()
@click.argument("paths", nargs=-1)
@pass_ctx
def validate(ctx: Context, paths: tuple[str, ...]) -> int:
    """Check lead sets against the schema and the API's rules (every problem, as FILE:LINE)."""
    sink, files, leads = workspace.validate(paths, ctx.config)
    _problems(sink.problems)
    errors, warnings = len(sink.errors), len(sink.warnings)
    if errors:
        click.echo(f"{errors} error(s), {warnings} warning(s).", err=True)
        return EXIT_ERROR
    click.echo(
        f"{files} lead-set file(s), {leads} lead(s): valid"
        + (f", {warnings} warning(s)." if warnings else ".")
    )
    return EXIT_OK


def _write(text: str, out: str | None) -> None:
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise EngageSyncError(f"{out}: cannot write: {e.strerror}") from e
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default="text",
    show_default=True,
)
@click.option("--out", metavar="FILE", help="Write the plan to FILE instead of standard output.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.",
)
@click.option(
    "--show-pii",
    is_flag=True,
    help="Show the values of changed leads (text only; refused when CI=true).",
)
@click.option("--limit", default=20, show_default=True, help="Changes listed per lead set (text).")
@pass_ctx
def plan(
    ctx: Context,
    paths: tuple[str, ...],
    fmt: str,
    out: str | None,
    detailed_exitcode: bool,
    show_pii: bool,
    limit: int,
) -> int:
    """Show what apply would create, update or leave orphaned. Offline: no credentials needed."""
    from .render import render_json, render_markdown, render_text

    if show_pii and os.environ.get("CI", "").lower() == "true":
        raise EngageSyncError(
            "--show-pii is refused when CI=true: lead values must not reach CI logs"
        )
    if show_pii and (fmt != OutputFormat.TEXT.value or out):
        raise EngageSyncError(
            "--show-pii shows values on your terminal only: use it with "
            "--format text and without --out"
        )
    planned = workspace.build_plan(paths, ctx.config, ctx.state_path)
    _problems(planned.sink.warnings, limit=PROBLEMS_SHOWN)
    result = planned.plan
    if fmt == OutputFormat.JSON.value:
        text = render_json(result, planned.rails)
    elif fmt == OutputFormat.MARKDOWN.value:
        text = render_markdown(result, planned.rails)
    else:
        pii = None
        if show_pii:
            wanted = {
                (c.campaign_id, c.extern_id)
                for ls in result.leadsets
                for c in (*ls.creates, *ls.updates)[:limit]
            }
            pii = workspace.leads_by_key(planned.sources, wanted)
        text = render_text(result, limit=limit, rails=planned.rails, pii=pii)
    _write(text, out)
    if detailed_exitcode and result.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def _report_error(e: EngageSyncError) -> None:
    if isinstance(e, ValidationFailed):
        _problems(e.problems, limit=PROBLEMS_SHOWN)
        errors = sum(1 for p in e.problems if p.severity is Severity.ERROR)
        click.echo(f"{errors} error(s): nothing planned.", err=True)
    else:
        click.echo(f"error: {e}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: runs the command and maps its outcome to an exit code."""
    code: Any
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="engage-sync",
            standalone_mode=False,
        )
    except click.UsageError as e:
        e.show()
        code = exit_code(e)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = EXIT_ERROR
    except EngageSyncError as e:
        _report_error(e)
        code = exit_code(e)
    except (KeyboardInterrupt, click.Abort) as e:
        click.echo("interrupted", err=True)
        code = exit_code(e)
    except Exception as e:
        traceback.print_exc()
        click.echo(
            "engage-sync: internal error (a bug: please report it with the traceback above)",
            err=True,
        )
        code = exit_code(e)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


# The other commands register themselves on `cli`.
from . import cli_apply, cli_emulator, cli_init, cli_state  # noqa: E402,F401
