"""What every command shares: the exit-code table, the run's context, the global options that may
stand before or after the command name, and the one place output is coloured."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..display import printable
from ..errors import EngageSyncError, ExitCode
from ..model import Problem
from ..progress import Meter
from ..settings import Kind, Setting, resolve
from ..settings import table as settings
from ..settings.ci_vars import ci_markers
from ..store import Item, Store

if TYPE_CHECKING:  # imported where used: the emulator, init and lock read no lead sets
    from ..config import Config
    from ..leadsets.problems import Key

PROBLEMS_SHOWN = 20  # plan and apply summarise; validate lists every problem

F = TypeVar("F", bound=Callable[..., Any])


def exit_code(outcome: BaseException | None) -> ExitCode:
    """The one map from outcomes to exit codes (the codes themselves: errors.ExitCode)."""
    if outcome is None:
        return ExitCode.OK
    if isinstance(outcome, click.UsageError):
        return ExitCode.USAGE
    if isinstance(outcome, EngageSyncError):
        return outcome.exit_code
    if isinstance(outcome, (KeyboardInterrupt, click.Abort)):
        return ExitCode.INTERRUPTED
    if isinstance(outcome, click.ClickException):
        return ExitCode.ERROR
    return ExitCode.INTERNAL


class Context:
    """Settings of one run, from the global options (before or after the command name)."""

    def __init__(self) -> None:
        self.config_file: str | None = None
        self.state_flag: str | None = None
        self.debug = False
        self.color: bool | None = None  # None: colour on a terminal only (click decides)
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        from ..config import aimed, load_config

        if self._config is None:  # the account and base URL as the environment sets them
            self._config = aimed(load_config(self.config_file))
        return self._config

    def aim(self, account: str | None, base_url: str | None) -> None:
        """A command's --account and --base-url, over the environment and the file."""
        from ..config import aimed

        self._config = aimed(self.config, account, base_url)

    @property
    def store(self) -> Store:
        """Where the state is kept (workspace.state_store)."""
        from .. import workspace  # the lead sets' readers and the state: not every command's

        if self._store is None:
            self._store = workspace.state_store(self.state_flag, self.config)
        return self._store

    @property
    def state_name(self) -> str:
        """The state as messages name it (its path, its s3:// URL)."""
        return self.store.where(Item.STATE)


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def set_value(click_ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return  # not given here: what stood before the command name (or the default) holds
        ctx = click_ctx.ensure_object(Context)
        setattr(ctx, attr, value)
        if attr in ("config_file", "state_flag"):
            ctx._store = None
        if attr == "config_file":
            ctx._config = None
        if attr == "color":
            click_ctx.find_root().color = value

    return set_value


def _color_flag(click_ctx: click.Context, _param: click.Parameter, value: bool | None) -> None:
    if value is None:
        return
    ctx = click_ctx.ensure_object(Context)
    ctx.color = value
    click_ctx.find_root().color = value


def global_options(*, state: bool = True, debug: bool = False) -> Callable[[F], F]:
    """--config, --state, --debug and --color/--no-color, accepted after the command name too.

    Precedence stays flag > environment > engage-sync.yaml > default: the environment and the
    settings file are read where the value is used, and a flag given here only replaces one
    given before the command name.
    """

    def decorate(f: F) -> F:
        opts = [
            setting_option(
                settings.CONFIG, metavar="FILE", expose_value=False, callback=_setter("config_file")
            ),
            click.option(
                "--color/--no-color",
                default=None,
                expose_value=False,
                callback=_color_flag,
                help="Colour the output [default: on a terminal, unless NO_COLOR is set].",
            ),
        ]
        if state:
            opts.append(
                setting_option(
                    settings.STATE,
                    metavar="PATH",
                    expose_value=False,
                    callback=_setter("state_flag"),
                )
            )
        if debug:
            opts.append(
                click.option(
                    "-v",
                    "--verbose",
                    "--debug",
                    "debug",
                    is_flag=True,
                    default=False,
                    expose_value=False,
                    callback=_setter("debug"),
                    help="Log HTTP requests and retries (secrets are always redacted).",
                )
            )
        for opt in reversed(opts):
            f = opt(f)
        return f

    return decorate


# -- output ---------------------------------------------------------------------------------------
# The plan is rendered as plain text by the core; colour is added here, per line, by what the
# line starts with (Terraform's colours). click.echo strips it again where the stream is not a
# terminal, where NO_COLOR is set or --no-color was given (the root context's `color`).
_LINE_COLOURS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("-/+ ", {"fg": "yellow"}),
    ("+ ", {"fg": "green"}),
    ("~ ", {"fg": "yellow"}),
    ("- ", {"fg": "red"}),
    ("! ", {"fg": "magenta"}),
    ("? ", {"fg": "yellow"}),
    ("warning:", {"fg": "yellow"}),
    ("error:", {"fg": "red", "bold": True}),
    ("overdue:", {"fg": "yellow", "bold": True}),
    ("refused unless --force:", {"fg": "red", "bold": True}),
    ("past a safety rail", {"fg": "yellow"}),
    ("Plan:", {"bold": True}),
)


def setting_option(setting: Setting, note: str = "", **attrs: Any) -> Callable[[F], F]:
    """A command's option for a row of the settings table: its flag, its help (the environment
    variable, the engage-sync.yaml key and the default, from the row) and a type within the
    row's bounds. A setting engage-sync.yaml cannot hold is resolved here (flag > environment >
    default: the command gets the value to use); one it can is resolved by the command, which
    reads the file (`settings.resolve` with the configured value)."""
    assert setting.flag is not None, setting.name
    if setting.key is None and "callback" not in attrs:
        attrs["callback"] = lambda _ctx, _param, value: resolve(setting, value)
    attrs.setdefault("type", _flag_type(setting))
    return click.option(setting.flag, default=None, help=setting.help_text(note), **attrs)


def _flag_type(setting: Setting) -> Any:
    if setting.kind is Kind.CHOICE:
        return click.Choice(setting.choices)
    bounded = setting.low is not None or setting.high is not None
    if setting.kind in (Kind.INT, Kind.BYTES):
        low, high = (None if b is None else int(b) for b in (setting.low, setting.high))
        return click.IntRange(low, high) if bounded else click.INT
    if setting.kind in (Kind.NUMBER, Kind.SECONDS):
        return click.FloatRange(setting.low, setting.high) if bounded else click.FLOAT
    return None


def lock_timeout_option(f: F) -> F:
    """`--lock-timeout`, the same on every command that takes the state lock."""
    return click.option(
        "--lock-timeout",
        type=float,
        default=0.0,
        show_default=True,
        help="Seconds to wait for another run's lock.",
    )(f)


def colourise(text: str) -> str:
    """Style each line of plain output by its leading symbol; the text itself is unchanged."""
    out = []
    for line in text.split("\n"):
        bare = line.lstrip(" ")
        for prefix, style in _LINE_COLOURS:
            if bare.startswith(prefix):
                indent = line[: len(line) - len(bare)]
                line = indent + click.style(bare, **style)
                break
        out.append(line)
    return "\n".join(out)


def color_setting() -> bool | None:
    """What click.echo should do with styles: None lets it decide by the stream (a terminal)."""
    root = click.get_current_context(silent=True)
    color = root.find_root().color if root is not None else None
    if color is None and os.environ.get("NO_COLOR"):
        return False
    return color


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    click.echo(colourise(text), err=err, nl=nl, color=color_setting())


def show_problems(
    problems: Sequence[Problem],
    limit: int | None = None,
    more: int = 0,
    totals: Mapping[Key, int] | None = None,
) -> None:
    """Each problem on its own line, by file and line, the same problem at many lines once (at
    its first lines, with how many: leadsets/problems.py group); past `limit` lines, a count
    instead. `more`: problems found but not kept (the first 10,000 of each kind are kept);
    `totals`: how many times each kept one was found (Problems.totals)."""
    from ..leadsets.problems import KEPT, group

    groups = group(problems, totals)
    for g in groups[:limit]:
        text = str(g)  # escaped: a problem is one line (model.Problem)
        if g.problem.message:
            style = "yellow" if g.problem.severity.value == "warning" else "red"
            text = f"{printable(g.where)}: " + click.style(g.problem.body, fg=style)
        click.echo(text, err=True, color=color_setting())
    hidden = sum(g.count for g in groups[limit:]) if limit is not None else 0
    # those not kept that no group shown or hidden counts
    rest = max(0, more - sum(g.count - g.kept for g in groups))
    if rest:
        click.echo(
            f"... and {hidden + rest:,} more problem(s): only the first {KEPT:,} of each kind "
            "are kept; fix these and validate again",
            err=True,
        )
    elif hidden:
        click.echo(f"... and {hidden:,} more (`engage-sync validate` lists them all)", err=True)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def refuse_pii_off_terminal(flag: str) -> None:
    """Lead values (PII) are shown on the user's own terminal only: refused when standard output
    is not a terminal (a file, a pipe, a log) or a CI service's variable is set."""
    ci = ci_markers()
    if ci:
        raise EngageSyncError(
            f"{flag} is refused in CI ({ci[0]} is set): lead values must not reach CI logs"
        )
    if not stdout_is_terminal():
        raise EngageSyncError(
            f"{flag} shows lead values on your terminal only: standard output is not a "
            "terminal (a file, a pipe or a log)"
        )


def annotate(kind: str, message: str) -> None:
    """A GitHub Actions annotation (`::error::...`): the message escaped as the runner wants
    (%, CR and LF) and printable, so no value in it can end the command or start another."""
    text = printable(message).replace("%", "%25")
    click.echo(f"::{kind}::{text}")


def write_output(text: str, out: str | None) -> None:
    """To a file exactly as rendered (never coloured), or coloured to a terminal."""
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as e:
            raise EngageSyncError(f"{out}: cannot write: {e.strerror}") from e
    else:
        echo(text, nl=False)


def progress_meter(label: str, unit: str, total: int | None = None) -> Meter | None:
    """Off a terminal (a CI log), a progress line on standard error at most every
    ENGAGE_SYNC_PROGRESS_SECONDS (5; 0 turns it off). On a terminal, None: nothing changes."""
    if sys.stderr.isatty():
        return None
    interval = resolve(settings.PROGRESS_SECONDS)
    if not interval > 0:  # 0, a negative number or nan: no progress lines
        return None
    meter = Meter(lambda line: click.echo(f"progress: {line}", err=True), interval)
    meter.start(label, unit, total)
    return meter
