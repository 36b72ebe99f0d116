"""apply, campaigns and force-unlock: the commands that talk to Engage or guard the state.

`apply` parses its flags, calls the apply operation (reconcile/operation.py) and renders what it
returns; the policy (gates, rails, tombstones, seals, the journal) lives in the operation."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..changeset import ChangeSet, describe_all
from ..display import printable
from ..errors import (
    ApplyFailed,
    ChecksumMismatch,
    ConfigError,
    EngageSyncError,
    ExitCode,
    Interrupted,
    NotReviewed,
    PartialFailure,
    SafetyRailTripped,
)
from ..model import Plan, Problem
from ..progress import Meter
from ..settings import resolve
from ..settings import table as settings
from .common import (
    PROBLEMS_SHOWN,
    Context,
    echo,
    global_options,
    lock_timeout_option,
    pass_ctx,
    progress_meter,
    setting_option,
    show_problems,
    write_output,
)
from .connect import account_for, make_client

if TYPE_CHECKING:  # the HTTP stack is imported only when apply runs
    from ..reconcile import Report
    from ..reconcile.operation import ApplyOutcome


class _Progress:
    """Leads answered of the total: click's progress bar on a terminal, a line every few
    seconds in a log (common.progress_meter)."""

    def __init__(self, total: int) -> None:
        self.bar: Any = None
        self.lock = threading.Lock()  # accounts are applied in threads of their own
        self.meter = progress_meter("apply", "lead(s) answered", total) if total > 0 else None
        if sys.stderr.isatty() and total > 0:
            self.bar = click.progressbar(
                length=total, label="Posting leads", file=sys.stderr, show_pos=True, show_eta=True
            )
            self.bar.__enter__()

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.update(n)
        elif self.meter is not None:
            self.meter.add(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@setting_option(settings.BATCH_SIZE)
@setting_option(settings.ACCOUNT)
@setting_option(settings.BASE_URL)
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed batch.")
@click.option(
    "--report-json", metavar="FILE", help="Write the apply report as JSON (also on failure)."
)
@lock_timeout_option
@click.option(
    "--checksum",
    metavar="SHA",
    help="Carry out only tombstones and exit 5 unless the plan has this checksum.",
)
@click.option("--force", is_flag=True, help="Apply even when a safety rail trips.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Look at Engage first and correct drift towards less calling (duplicates, "
    "reappeared, changed phones); never re-creates missing leads.",
)
@setting_option(settings.RATE_SCALE)
@setting_option(settings.MAX_RETRIES)
@setting_option(settings.TIMEOUT)
@setting_option(settings.LOOK_FIRST)
@global_options(debug=True)
@pass_ctx
def apply(ctx: Context, /, **flags: Any) -> ExitCode:
    """Stop calling what was removed, then post new, changed and replaced leads; record it all."""
    return run_apply(ctx, **flags)


class _Terminal:
    """The apply operation's hooks on the command line: the plan on standard output, notes on
    standard error, the question on a terminal, click's progress bar."""

    def __init__(
        self, auto_approve: bool, reviewed: list[ChangeSet] | None, force: bool = False
    ) -> None:
        self.auto_approve = auto_approve
        self.force = force
        self.reviewed = reviewed or []
        self.bar: _Progress | None = None

    def planned(self, plan: Plan, rails: list[str], warnings: list[Problem]) -> None:
        from ..render import render_text

        show_problems(warnings, limit=PROBLEMS_SHOWN)
        echo(render_text(plan, rails=rails, applying=True, force=self.force), nl=False)

    def decided(self, outcome: ApplyOutcome) -> None:
        if outcome.coverage is not None:
            _say_coverage(outcome, self.reviewed)
        if outcome.refused and not outcome.nothing_to_do:
            removals = sum(ls.to_stop for ls in outcome.plan.leadsets)
            click.echo(
                f"Refused by safety rails (see above); the {removals} tombstone(s) are "
                "honoured all the same: removals never wait for --force.",
                err=True,
            )

    def confirm(self, to_post: int, to_remove: int) -> bool:
        if self.auto_approve:
            return True
        if not sys.stdin.isatty():
            raise EngageSyncError(
                "apply needs --auto-approve when not run on a terminal; nothing posted"
            )
        question = f"Post {to_post} lead(s) to Engage?"
        if to_remove:
            question = f"Stop calling {to_remove} lead(s) and post {to_post} lead(s) to Engage?"
        return click.confirm(question, default=False)

    def reading(self) -> Meter | None:
        return progress_meter("apply: reading", "lead(s) read")

    def progress(self, total: int) -> Callable[[int], None]:
        self.bar = _Progress(total)
        return self.bar

    def done(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_apply(
    ctx: Context,
    *,
    paths: tuple[str, ...] = (),
    auto_approve: bool = False,
    batch_size: int | None = None,
    account: str | None = None,
    base_url: str | None = None,
    fail_fast: bool = False,
    report_json: str | None = None,
    lock_timeout: float = 0.0,
    checksum: str | None = None,
    force: bool = False,
    refresh: bool = False,
    rate_scale: float | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
    look_first: str = settings.LOOK_FIRST.default,
    reviewed: list[ChangeSet] | None = None,
) -> ExitCode:
    """`apply` and `ci apply`: the flags to a request, the operation, its outcome rendered."""
    from ..reconcile import operation

    ctx.aim(account, base_url)  # the plan's target is where this apply sends
    # credentials and base URL first (no network): a misconfigured apply fails on its first line
    client = make_client(ctx, base_url, rate_scale, max_retries, timeout)
    request = operation.ApplyRequest(
        paths=paths,
        default_account=account_for(account, ctx),
        batch_size=resolve(settings.BATCH_SIZE, batch_size, ctx.config.batch_size),
        fail_fast=fail_fast,
        lock_timeout=lock_timeout,
        checksum=checksum,
        force=force,
        refresh=refresh,
        reviewed=reviewed,
        look_first=look_first,
        lookup_delay=resolve(settings.LOOKUP_DELAY, None, ctx.config.lookup_delay),
        max_in_flight=_in_flight(),
    )
    hooks = _Terminal(auto_approve, reviewed, force)
    outcome = operation.apply(request, ctx.config, ctx.store, client, hooks)
    # the report is written before the outcome is rendered (a failed apply's too), and a report
    # that cannot be written is an error said after what the apply did, never instead of it
    unwritten: EngageSyncError | None = None
    if report_json and not outcome.cancelled:
        text = json.dumps(outcome.report.as_dict(), indent=2, sort_keys=True) + "\n"
        try:
            write_output(text, report_json)
        except EngageSyncError as e:
            unwritten = e
    try:
        code = _render(outcome, request, ctx)
    except EngageSyncError:
        if unwritten is not None:
            click.echo(f"error: {printable(str(unwritten))}", err=True)  # and the error below
        raise
    if unwritten is not None:
        raise unwritten
    return code


def _render(outcome: ApplyOutcome, request: Any, ctx: Context) -> ExitCode:
    """What the operation did, then what it means: an exit code, or the error that says why."""
    if outcome.mismatch and outcome.nothing_to_do:
        raise ChecksumMismatch(_mismatch(outcome, request.checksum, "nothing posted"))
    if outcome.refused and outcome.nothing_to_do:
        raise SafetyRailTripped(RAILS_MESSAGE)
    if outcome.cancelled:
        click.echo("Cancelled; nothing posted.")
        return ExitCode.ERROR
    if outcome.nothing_to_do:
        click.echo("Nothing to post.")
    else:
        _show_report(outcome.report, ctx)
    if outcome.mismatch:
        raise ChecksumMismatch(_mismatch(outcome, request.checksum, "only tombstones applied"))
    if outcome.refused:
        raise SafetyRailTripped(RAILS_MESSAGE.replace("nothing posted", "only tombstones applied"))
    if outcome.held_back:
        raise NotReviewed(_held_back(outcome.held_back, request.reviewed or []))
    report = outcome.report
    recorded = sum(ls.recorded for ls in report.leadsets)
    wanted = sum(ls.to_post for ls in report.leadsets)
    if report.interrupted:
        raise Interrupted(
            f"interrupted: {recorded} of {wanted} lead(s) recorded (the calls in flight were let "
            "finish); run apply again to finish what is still missing: leads whose answer did "
            "not arrive are looked up before anything is posted again"
        )
    if report.server_gone:
        raise PartialFailure(
            f"{report.server_gone}; nothing more was sent. {recorded} of {wanted} lead(s) "
            "recorded: run apply again once Engage answers, to finish what is still missing",
            report,
        )
    if report.ok:
        return ExitCode.OK
    click.echo(f"Apply did not complete: {_what_to_do(report)}", err=True)
    if report.do_not_call is not None and not report.do_not_call.ok:
        raise PartialFailure("a do-not-call phone was not confirmed stopped; see above", report)
    if any(ls.action_failures for ls in report.leadsets):  # someone may still be called
        raise PartialFailure("a removal was not confirmed; see above", report)
    if sum(ls.recorded for ls in report.leadsets):
        raise PartialFailure("some leads were recorded, others failed; see above", report)
    if any(ls.removed or ls.corrections for ls in report.leadsets):  # recorded, but no lead
        raise PartialFailure(
            f"no lead was recorded (only {recorded_what(report, leads=False)}); see above",
            report,
        )
    raise ApplyFailed("nothing was recorded; see above", report)


def _what_to_do(report: Report) -> str:
    """What to do about this failure, not a generic retry."""
    steps = []
    rejected = sum(len(ls.rejected) for ls in report.leadsets)
    if any(ls.action_failures for ls in report.leadsets):
        steps.append(
            "a cancel or delete was not confirmed, so someone may still be called: run apply "
            "again now (it searches and acts again)"
        )
    if rejected:
        steps.append(
            f"Engage rejected {rejected} lead(s): fix them in the files (the messages above "
            "name each one), then apply again; the others are recorded"
        )
    if any(ls.in_doubt for ls in report.leadsets):
        steps.append("leads in doubt are looked up by the next apply before anything is posted")
    if not steps or any(ls.failed for ls in report.leadsets):
        steps.append("run apply again to finish what is still missing")
    return "; ".join(steps) + "."


def _mismatch(outcome: ApplyOutcome, reviewed: str | None, done: str) -> str:
    return (
        f"the plan's checksum is {outcome.plan.checksum}, not the reviewed {reviewed}: the changes "
        f"it would make are not the ones reviewed; {done}"
    )


def _say_coverage(outcome: ApplyOutcome, reviewed: list[ChangeSet]) -> None:
    coverage = outcome.coverage
    assert coverage is not None
    for said in describe_all(outcome.unreviewed_tombstones, reviewed):
        click.echo(
            f"  {said}: carried out all the same (stopping a call never waits for a review)",
            err=True,
        )
    sources = ", ".join(cs.source for cs in reviewed) or "none"
    click.echo(
        f"Reviewed plans: {sources}. Of this plan's changes {len(coverage.reviewed)} were "
        f"reviewed, {len(coverage.unreviewed)} were not"
        + (
            f"; {len(coverage.not_in_plan)} reviewed change(s) are no longer in the plan "
            "(carried out already, or the files no longer ask for them)"
            if coverage.not_in_plan
            else ""
        )
        + "."
    )


SHOWN = 50  # unreviewed changes named in the error; the count says how many more


def _held_back(lines: list[str], reviewed: list[ChangeSet]) -> str:
    named = "\n".join(f"  {said}" for said in describe_all(lines[:SHOWN], reviewed))
    more = f"\n  ... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return (
        f"{len(lines)} change(s) on this commit were not in any reviewed plan and were not "
        f"applied (the reviewed changes and every tombstone were):\n{named}{more}\n"
        "To carry them out: open a pull request that shows them, or plan on main "
        "(`engage-sync ci plan`, the plan workflow's `workflow_dispatch`) and, once that plan "
        "is reviewed, apply with its checksum (the apply workflow's `workflow_dispatch` with "
        "`checksum`, or `engage-sync ci apply --checksum SHA`)"
    )


RAILS_MESSAGE = (
    "refused by safety rails (see above); nothing posted. Re-run with --force if "
    "this is intended, or change the thresholds under rails: in engage-sync.yaml"
)


def _show_report(report: Report, ctx: Context) -> None:
    dnc = report.do_not_call
    if dnc is not None and (dnc.to_stop or dnc.stopped or dnc.cancelled or dnc.errors):
        click.echo(
            f"do not call: {dnc.stopped} phone(s) stopped ({dnc.to_stop} listed, "
            f"{dnc.learned} found by tombstones or in Engage), records cancelled "
            f"{dnc.cancelled}, leads not loaded {dnc.skipped}"
        )
        for e in dnc.errors:
            echo(f"  error: {e}", err=True)
    for rep in report.leadsets:
        line = (
            f"campaign {rep.campaign_id}: posted {rep.posted}, accepted {rep.accepted}, "
            f"inserted {rep.inserted}, rejected {len(rep.rejected)}, failed {rep.failed}"
        )
        stopped = []
        if rep.to_remove:
            stopped.append(f"removed {rep.removed} of {rep.to_remove}")
        if rep.to_correct:  # apply --refresh: drift corrected, not leads removed from the files
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(rep.corrected.items()))
            stopped.append(
                f"corrected {rep.corrections} of {rep.to_correct} drifted lead(s)"
                + (f" ({kinds})" if kinds else "")
            )
        if stopped or rep.cancelled or rep.deleted:
            line += "; " + ", ".join(
                [*stopped, f"records cancelled {rep.cancelled}", f"deleted {rep.deleted}"]
            )
        click.echo(line)
        # externIds, and Engage's own words: escaped (display.printable)
        for r in rep.rejected[:50]:
            said = f"{printable(r['externId'])}: {printable(r['message'])}"
            click.echo(f"  rejected {said}", err=True)
        for e in rep.errors:
            echo(f"  error: {printable(e)}", err=True)
        for note in rep.notes:
            click.echo(f"  note: {printable(note)}", err=True)
    click.echo(f"Recorded {recorded_what(report)} in {ctx.state_name}.")


def recorded_what(report: Report, leads: bool = True) -> str:
    """What the state now holds that it did not: leads loaded, removals, drift corrections
    (`leads=False`: removals and corrections only)."""
    removed = sum(ls.removed for ls in report.leadsets)
    corrected = sum(ls.corrections for ls in report.leadsets)
    wanted = sum(ls.to_post for ls in report.leadsets)
    parts = []
    if leads and (report.recorded or wanted or not (removed or corrected)):
        parts.append(f"{report.recorded} lead(s)")
    if removed:
        parts.append(f"{removed} removal(s)")
    if corrected:
        parts.append(f"{corrected} drift correction(s)")
    return " and ".join(parts)


@click.command()
@setting_option(settings.ACCOUNT)
@setting_option(settings.BASE_URL)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@global_options(state=False, debug=True)
@pass_ctx
def campaigns(ctx: Context, account: str | None, base_url: str | None, fmt: str) -> int:
    """List dial groups and their campaigns (id, name, active)."""
    acct = account_for(account, ctx)
    if not acct:
        raise ConfigError(
            "no account: pass --account, set ENGAGE_ACCOUNT_ID or `account:` in engage-sync.yaml"
        )
    with make_client(ctx, base_url) as client:
        groups = client.dial_groups_with_campaigns(acct)
    if fmt == "json":
        click.echo(json.dumps([g.as_json() for g in groups], indent=2, sort_keys=True))
        return ExitCode.OK
    for g in groups:
        inactive = " (inactive)" if g.active is False else ""
        click.echo(f"dial group {g.group_id} {printable(g.name)}{inactive}")
        for c in g.campaigns:
            active = "active" if c.active else "inactive"
            click.echo(f"  {c.campaign_id:>8}  {printable(c.name)}  ({active})")
    return ExitCode.OK


@click.command("force-unlock")
@click.argument("lock_id")
@global_options()
@pass_ctx
def force_unlock(ctx: Context, lock_id: str) -> int:
    """Remove a state lock left by a run that died (LOCK_ID from the lock error)."""
    from ..state import force_unlock as unlock

    holder = unlock(ctx.store, lock_id)
    click.echo(f"Removed lock {holder.describe()}.")
    return ExitCode.OK


def _in_flight() -> int | None:
    """ENGAGE_SYNC_MAX_IN_FLIGHT: loader calls in flight at once (unset: what the limits admit)."""
    value: int | None = resolve(settings.MAX_IN_FLIGHT)
    return value
