"""validate and plan: read the lead sets and the state, offline; no credentials needed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import workspace
from ..errors import EngageSyncError, ExitCode
from ..model import OutputFormat, Plan, Severity
from ..progress import Meter
from ..settings import chosen
from ..settings import table as settings
from .common import (
    PROBLEMS_SHOWN,
    Context,
    global_options,
    pass_ctx,
    progress_meter,
    refuse_pii_off_terminal,
    setting_option,
    show_problems,
    write_output,
)
from .connect import account_for, make_client

if TYPE_CHECKING:  # the operation (and the HTTP stack under it) is imported when a plan is made
    from ..leadsets.problems import Sink
    from ..reconcile.planning import PlanOutcome, PlanRequest


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@global_options(state=False)
@pass_ctx
def validate(ctx: Context, paths: tuple[str, ...]) -> int:
    """Check lead sets against the schema and the API's rules (every problem, as FILE:LINE)."""
    meter = progress_meter("validate", "lead(s) read")
    sink, files, leads = workspace.validate(paths, ctx.config, meter)
    show_problems(sink.problems, more=sink.unkept, totals=sink.totals)
    errors, warnings = sink.count(Severity.ERROR), sink.count(Severity.WARNING)
    if errors:
        click.echo(f"{errors:,} error(s), {warnings:,} warning(s).", err=True)
        return ExitCode.ERROR
    click.echo(
        f"{files} lead-set file(s), {leads} lead(s): valid"
        + (f", {warnings} warning(s)." if warnings else ".")
    )
    return ExitCode.OK


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default=None,
    help="[default: text; with --out, from its extension: .json, .md, else text]",
)
@click.option(
    "--out",
    "outs",
    metavar="FILE",
    multiple=True,
    help="Write the plan to FILE instead of standard output. Several --out write several "
    "formats from one pass (each by its extension), as CI does.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there is nothing to do, 2 when there are changes, 6 when an opt-out is "
    "past its deadline, 1 on error.",
)
@click.option(
    "--show-pii",
    is_flag=True,
    help="Show the values of changed leads (text only, on a terminal; refused in CI).",
)
@click.option("--limit", default=20, show_default=True, help="Changes listed per lead set (text).")
@click.option(
    "--refresh",
    is_flag=True,
    help="Also look at Engage (needs credentials) and show what changed outside engage-sync.",
)
@click.option(
    "--refresh-only",
    is_flag=True,
    help="Only what changed outside engage-sync; with --detailed-exitcode, 2 when any did.",
)
@setting_option(settings.ACCOUNT, ", for --refresh")
@setting_option(settings.BASE_URL, ", for --refresh")
@click.option(
    "--changes-out",
    metavar="FILE",
    help="Also write the change set the checksum covers (one line a change, no lead values).",
)
@global_options(debug=True)
@pass_ctx
def plan(
    ctx: Context,
    paths: tuple[str, ...],
    fmt: str | None,
    outs: tuple[str, ...],
    detailed_exitcode: bool,
    show_pii: bool,
    limit: int,
    refresh: bool,
    refresh_only: bool,
    account: str | None,
    base_url: str | None,
    changes_out: str | None = None,
) -> int:
    """Show what apply would create, update, replace, remove or leave orphaned.

    Offline (no credentials) unless --refresh or --refresh-only look at Engage.
    """
    from ..reconcile.planning import PlanRequest

    ctx.aim(account, base_url)  # where the plan's leads would go (the state says where they went)
    targets = _targets(fmt, outs)
    _check_pii(show_pii, targets)
    request = PlanRequest(
        paths,
        drift_only=refresh_only,
        default_account=account_for(account, ctx),
        changes_to=Path(changes_out) if changes_out else None,
    )
    outcome = run_plan(ctx, request, look=refresh or refresh_only, base_url=base_url)
    if refresh_only:
        write_drift(outcome, targets, limit)
    else:
        write_plan(outcome, targets, limit, show_pii=show_pii)
    return exit_for(outcome) if detailed_exitcode else ExitCode.OK


def exit_for(outcome: PlanOutcome) -> ExitCode:
    """`--detailed-exitcode` and the drift check: what the plan calls for, as an exit code."""
    from ..reconcile.planning import Attention

    return {
        Attention.NONE: ExitCode.OK,
        Attention.CHANGES: ExitCode.CHANGES,
        Attention.OVERDUE: ExitCode.OVERDUE,
    }[outcome.attention]


def _check_pii(show_pii: bool, targets: list[tuple[str, str | None]]) -> None:
    """Lead values go to the user's own terminal only: never in CI, a file or another format."""
    if not show_pii:
        return
    refuse_pii_off_terminal("--show-pii")
    if targets != [(OutputFormat.TEXT.value, None)]:
        raise EngageSyncError(
            "--show-pii shows values on your terminal only: use it with "
            "--format text and without --out"
        )


class _Shown:
    """The plan operation's hooks on the command line: progress off a terminal, warnings."""

    def reading(self) -> Meter | None:
        return progress_meter("plan", "lead(s) read")

    def read(self, sink: Sink) -> None:
        show_problems(sink.warnings, limit=PROBLEMS_SHOWN, more=sink.unkept, totals=sink.totals)


def run_plan(
    ctx: Context, request: PlanRequest, look: bool = False, base_url: str | None = None
) -> PlanOutcome:
    """The plan operation with this run's settings; `look`: at Engage too (credentials first,
    before anything is read)."""
    from ..reconcile import planning

    client = make_client(ctx, base_url) if look else None
    return planning.plan(request, ctx.config, ctx.state_path, client, _Shown())


def write_plan(
    outcome: PlanOutcome,
    targets: Sequence[tuple[str, str | None]],
    limit: int = 20,
    show_pii: bool = False,
) -> dict[str, str]:
    """Every format asked for, from one plan (one pass over the lead sets). Returns the text of
    each format but JSON (streamed to its file as it is made, never whole in memory)."""
    from ..render import render_markdown, render_text

    result, rails = outcome.plan, list(outcome.rails)
    written: dict[str, str] = {}
    for form, out in targets:
        if form == OutputFormat.JSON.value:
            _stream_json(result, rails, out)
            continue
        if form == OutputFormat.MARKDOWN.value:
            source = github_source_url(os.environ)
            text = render_markdown(result, rails, source_url=source)
        else:
            pii = outcome.leads_shown(limit) if show_pii else None
            text = render_text(result, limit=limit, rails=rails, pii=pii)
        write_output(text, out)
        written[form] = text
    return written


def write_drift(
    outcome: PlanOutcome, targets: Sequence[tuple[str, str | None]], limit: int = 20
) -> dict[str, str]:
    """The drift alone in every format asked for; returns each format's text."""
    from ..render import render_drift_text

    written: dict[str, str] = {}
    for form, out in targets:
        written[form] = _drift_only(outcome.plan, form, limit, render_drift_text)
        write_output(written[form], out)
    return written


_EXTENSIONS = {".json": "json", ".md": "markdown", ".markdown": "markdown"}


def _targets(fmt: str | None, outs: tuple[str, ...]) -> list[tuple[str, str | None]]:
    """(format, file or None for standard output) for each output asked for."""
    if not outs:
        return [(fmt or OutputFormat.TEXT.value, None)]
    if len(outs) == 1:
        return [(fmt or _by_extension(outs[0]), outs[0])]
    if fmt is not None:
        raise click.UsageError(
            "--format goes with one --out; with several, each --out's extension says its format"
        )
    if len(set(outs)) != len(outs):
        raise click.UsageError("the same --out is given twice")
    return [(_by_extension(out), out) for out in outs]


def _by_extension(path: str) -> str:
    return _EXTENSIONS.get(Path(path).suffix.lower(), OutputFormat.TEXT.value)


def _stream_json(result: Plan, rails: list[str], out: str | None) -> None:
    """The JSON plan goes to its file as it is made, never whole in memory."""
    from ..render import write_json

    if out is None:
        write_json(result, sys.stdout, rails)
        return
    try:
        with open(out, "w", encoding="utf-8") as f:
            write_json(result, f, rails)
    except OSError as e:
        Path(out).unlink(missing_ok=True)
        raise EngageSyncError(f"{out}: cannot write: {e.strerror}") from e
    except BaseException:  # never half a plan left behind for CI to upload
        Path(out).unlink(missing_ok=True)
        raise


def _drift_only(result: Plan, fmt: str, limit: int, text: Callable[[Plan, int], str]) -> str:
    """The drift, and the opt-outs still to carry out (the daily check fails on a late one)."""
    from ..render import opt_out_document, opt_out_lines, plan_document, stop_document, stop_lines

    if fmt == OutputFormat.JSON.value:
        doc = plan_document(result, with_changes=False)  # only the drift is kept
        keep = ("format_version", "refreshed", "drift", "unmanaged", "lineage", "serial")
        keep += ("engageOptOuts",)  # type: ignore[assignment]
        slim = {k: doc[k] for k in keep if k in doc}
        summary = doc["summary"]
        assert isinstance(summary, dict)
        slim["summary"] = {"drift": summary["drift"], "optOuts": summary["optOuts"]}
        slim["optOuts"] = opt_out_document(result)
        slim["doNotCall"] = stop_document(result)
        return json.dumps(slim, indent=2, sort_keys=True) + "\n"
    lines = opt_out_lines(result, limit) + stop_lines(result, limit)
    shown = text(result, limit) + "".join(f"{line}\n" for line in lines)
    if fmt == OutputFormat.MARKDOWN.value:
        return "## engage-sync drift\n\n```\n" + shown + "```\n"
    return shown


def github_source_url(env: Mapping[str, str]) -> str | None:
    """`{server}/{repo}/blob/{sha}/` for the commit under review, when GitHub Actions names them.

    On a pull request GITHUB_SHA is a merge commit that nobody can browse after the merge; the
    event payload names the pull request's head commit, which is what the reviewer sees.
    """
    server, repo = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    sha = chosen(settings.SOURCE_SHA, env=env) or _head_sha(env.get("GITHUB_EVENT_PATH"))
    sha = sha or env.get("GITHUB_SHA")
    if not (server and repo and sha):
        return None
    return f"{server.rstrip('/')}/{repo}/blob/{sha}/"


def _head_sha(event_path: str | None) -> str | None:
    if not event_path:
        return None
    try:
        with open(event_path, encoding="utf-8") as f:
            event = json.load(f)
        sha = event["pull_request"]["head"]["sha"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) else None
