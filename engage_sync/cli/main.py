"""The engage-sync command group and its entry point: runs a command, maps its outcome to an exit
code (the table is `common.exit_code`), and is the only place a traceback may be printed."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from .. import __version__
from ..display import printable
from ..errors import EngageSyncError, ExitCode, ValidationFailed
from ..model import Severity
from ..settings import chosen
from ..settings import table as settings
from .common import (
    PROBLEMS_SHOWN,
    Context,
    exit_code,
    global_options,
    show_problems,
)

# Each command's module ("module:function" in engage_sync/cli), imported only when that command
# is asked for: a command pays for its own imports (`lock`'s packaging, `ci`'s GitHub client, the
# emulator's server), not for every other command's. `--help` lists them all, and imports them.
COMMANDS = {
    "validate": "plan:validate",
    "plan": "plan:plan",
    "apply": "apply:apply",
    "campaigns": "apply:campaigns",
    "force-unlock": "apply:force_unlock",
    "state": "state:state",
    "import": "state:import_leads",
    "evidence": "evidence:evidence",
    "optouts": "optouts:optouts",
    "init": "scaffold:init",
    "lock": "lock:lock",
    "emulator": "emulator:emulator",
    "ci": "ci:ci",
}


class Commands(click.Group):
    """The command group, loading its commands lazily (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:  # one added with add_command, or none
            return super().get_command(ctx, cmd_name)
        module, name = where.split(":")
        command = getattr(importlib.import_module(f"{__package__}.{module}"), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="engage-sync")
@global_options(state=True, debug=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Lead sets as code for RingCentral Engage Voice (RingCX).

    --config, --state, --debug and --color/--no-color may stand before or after the command name.
    """
    ctx.ensure_object(Context)
    # flag (before the command name) > ENGAGE_SYNC_CONFIG; a flag after the name replaces both
    ctx.obj.config_file = chosen(settings.CONFIG, ctx.obj.config_file)


def _report_error(e: EngageSyncError) -> None:
    if isinstance(e, ValidationFailed):
        more = e.more_errors + e.more_warnings
        show_problems(e.problems, limit=PROBLEMS_SHOWN, more=more, totals=e.totals)
        errors = sum(1 for p in e.problems if p.severity is Severity.ERROR) + e.more_errors
        click.echo(f"{errors:,} error(s): nothing planned.", err=True)
    else:
        # line by line: a message may name values from a file or a server (display.printable)
        text = "\n".join(printable(line) for line in str(e).split("\n"))
        click.echo(click.style("error: ", fg="red", bold=True) + text, err=True, color=_color())


def _color() -> bool | None:
    return False if os.environ.get("NO_COLOR") else None


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
        code = exit_code(e)
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
    sys.exit(int(code) if isinstance(code, int) else ExitCode.OK)
