"""validate and plan: read the lead sets and the state, offline; no credentials needed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from itertools import chain, islice
from pathlib import Path

import click

from .. import workspace
from ..errors import EngageSyncError, ExitCode
from ..model import ALARMING_DRIFT, OutputFormat, Plan, Severity
from .common import (
    PROBLEMS_SHOWN,
    Context,
    global_options,
    pass_ctx,
    progress_meter,
    refuse_pii_off_terminal,
    show_problems,
    write_output,
)
from .connect import account_for, make_client


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
@click.option("--account", help="Engage account id, for --refresh [env ENGAGE_ACCOUNT_ID].")
@click.option("--base-url", help="Voice API base URL, for --refresh [env ENGAGE_BASE_URL].")
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
    from ..render import opt_out_counts, render_drift_text, render_markdown, render_text

    targets = _targets(fmt, outs)
    if show_pii:
        refuse_pii_off_terminal("--show-pii")
    if show_pii and (targets != [(OutputFormat.TEXT.value, None)]):
        raise EngageSyncError(
            "--show-pii shows values on your terminal only: use it with "
            "--format text and without --out"
        )
    client = make_client(ctx, base_url) if refresh or refresh_only else None  # credentials first
    # --refresh compares declared phones with Engage's: it reads every lead set
    looking = client is not None
    meter = progress_meter("plan", "lead(s) read")
    planned = workspace.build_plan(
        paths, ctx.config, ctx.store, incremental=not looking, meter=meter
    )
    show_problems(
        planned.sink.warnings,
        limit=PROBLEMS_SHOWN,
        more=planned.sink.unkept,
        totals=planned.sink.totals,
    )
    result = planned.plan
    if client is not None:
        from ..reconcile import refresh as look

        with client:
            result = look(
                result,
                planned.state,
                planned.sources,
                client,
                account_for(account, ctx),
                planned.registry,
                ctx.config.opt_outs,
            )
    late = bool(opt_out_counts(result)["overdue"])
    if refresh_only:
        for form, out in targets:
            write_output(_drift_only(result, form, limit, render_drift_text), out)
        alarming = any(d.kind in ALARMING_DRIFT for ls in result.leadsets for d in ls.drift)
        alarming = alarming or bool(result.engage_opt_outs)  # opt-outs to bring home
        if detailed_exitcode and late:
            return ExitCode.OVERDUE
        return ExitCode.CHANGES if detailed_exitcode and alarming else ExitCode.OK
    for form, out in targets:  # one plan, every format asked for: one pass over the lead sets
        if form == OutputFormat.JSON.value:
            _stream_json(result, planned.rails, out)
            continue
        if form == OutputFormat.MARKDOWN.value:
            source = github_source_url(os.environ)
            text = render_markdown(result, planned.rails, source_url=source)
        else:
            pii = None
            if show_pii:
                wanted = {
                    (c.campaign_id, c.extern_id)
                    for ls in result.leadsets
                    for c in islice(chain(ls.creates, ls.updates, ls.replaces), limit)
                }
                pii = workspace.leads_by_key(planned.sources, wanted)
            text = render_text(result, limit=limit, rails=planned.rails, pii=pii)
        write_output(text, out)
    if changes_out:
        from ..changeset import write_changeset

        write_changeset(planned.plan, Path(changes_out))  # offline: drift is no change set
    drifted = any(d.kind in ALARMING_DRIFT for ls in result.leadsets for d in ls.drift)
    drifted = drifted or bool(result.engage_opt_outs)
    if detailed_exitcode and late:
        return ExitCode.OVERDUE
    if detailed_exitcode and (result.has_changes or drifted):
        return ExitCode.CHANGES
    return ExitCode.OK


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
    sha = env.get("ENGAGE_SYNC_SOURCE_SHA") or _head_sha(env.get("GITHUB_EVENT_PATH"))
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
