"""apply, campaigns and force-unlock: the commands that talk to Engage or guard the state."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from .. import workspace
from ..changeset import ChangeSet, Coverage, cover, describe, is_tombstone, only
from ..config import DEFAULT_BASE_URL
from ..errors import (
    ChecksumMismatch,
    ConfigError,
    EngageSyncError,
    NotReviewed,
    SafetyRailTripped,
)
from ..model import Plan

if TYPE_CHECKING:  # the HTTP stack is imported only when apply runs
    from ..reconcile import Report
from .common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    PROBLEMS_SHOWN,
    Context,
    echo,
    global_options,
    pass_ctx,
    show_problems,
    write_output,
)
from .connect import account_for, make_client, number


def _check_accounts(plan: Plan, default: str | None) -> None:
    """Every campaign with something to do needs an account, before anything is shown or sent."""
    missing = [
        ls.campaign.id for ls in plan.leadsets if ls.has_work and not (ls.account or default)
    ]
    if missing:
        raise ConfigError(
            f"no account for campaign(s) {', '.join(map(str, missing))}: pass --account, set "
            "ENGAGE_ACCOUNT_ID, `account:` in engage-sync.yaml or in the lead set; nothing posted"
        )


class _Progress:
    """Leads answered of the total, with click's progress bar, on a terminal only."""

    def __init__(self, total: int) -> None:
        self.bar: Any = None
        self.lock = threading.Lock()  # accounts are applied in threads of their own
        if sys.stderr.isatty() and total > 0:
            self.bar = click.progressbar(
                length=total, label="Posting leads", file=sys.stderr, show_pos=True, show_eta=True
            )
            self.bar.__enter__()

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            with self.lock:
                self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@dataclass
class ApplyRequest:
    """What one apply is asked to do: the `apply` command's flags, and what `ci apply` adds."""

    paths: tuple[str, ...] = ()
    auto_approve: bool = False
    batch_size: int | None = None
    account: str | None = None
    base_url: str | None = None
    fail_fast: bool = False
    report_json: str | None = None
    lock_timeout: float = 0.0
    checksum: str | None = None
    force: bool = False
    refresh: bool = False
    rate_scale: float | None = None
    max_retries: int | None = None
    timeout: float | None = None
    # ci apply: the change sets reviewed on pull requests; main's plan is carried out only as
    # far as they show it (tombstones always), the rest named with exit 5
    reviewed: list[ChangeSet] | None = None
    # look up creates before posting them: "probe" (the first batch of each campaign; all of
    # them if any is found), "all", or "off"
    look_first: str = "off"


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Leads per loader call [default: 500 or engage-sync.yaml batchSize].",
)
@click.option("--account", help="Engage account id [env ENGAGE_ACCOUNT_ID].")
@click.option("--base-url", help=f"Voice API base URL [env ENGAGE_BASE_URL; {DEFAULT_BASE_URL}].")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed batch.")
@click.option(
    "--report-json", metavar="FILE", help="Write the apply report as JSON (also on failure)."
)
@click.option(
    "--lock-timeout",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run's lock.",
)
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
@click.option(
    "--rate-scale",
    type=float,
    default=None,
    help="Run the rate-limit pacing this many times faster (emulator tests only).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0, 100),
    default=None,
    help="Retries of a failing call [env ENGAGE_SYNC_MAX_RETRIES; 6].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1),
    default=None,
    help="Seconds to wait for one answer [env ENGAGE_SYNC_TIMEOUT; 60].",
)
@click.option(
    "--look-first",
    type=click.Choice(["off", "probe", "all"]),
    default="off",
    show_default=True,
    help="Look creates up in Engage before posting them: the first batch of each campaign "
    "(all of them once one is found), or all.",
)
@global_options(debug=True)
@pass_ctx
def apply(ctx: Context, /, paths: tuple[str, ...], look_first: str, **flags: Any) -> int:
    """Stop calling what was removed, then post new, changed and replaced leads; record it all."""
    return run_apply(ctx, ApplyRequest(paths=paths, look_first=look_first, **flags))


def run_apply(ctx: Context, req: ApplyRequest) -> int:
    """The apply workflow: plan, the checksum or review gate, rails, confirm, post, record."""
    from ..reconcile import Applier, Report
    from ..reconcile import refresh as look
    from ..render import render_text
    from ..state import Journal, StateLock

    report: Report | None = None
    # Credentials and base URL first (no network): a misconfigured apply fails on its first line.
    client = make_client(ctx, req.base_url, req.rate_scale, req.max_retries, req.timeout)
    default_account = account_for(req.account, ctx)
    held_back: list[str] = []  # changes not carried out because nobody reviewed them
    try:
        with client, StateLock(ctx.state_path, "apply", req.lock_timeout):
            planned = workspace.build_plan(
                req.paths, ctx.config, ctx.state_path, incremental=not req.refresh
            )
            _check_accounts(planned.plan, default_account)
            show_problems(planned.sink.warnings, limit=PROBLEMS_SHOWN)
            offline = planned.plan
            plan = offline
            if req.refresh:
                plan = look(plan, planned.state, planned.sources, client, default_account)
            echo(render_text(plan, rails=planned.rails), nl=False)
            # a plan reviewed offline still matches: drift corrections only ever reduce calling
            mismatch = req.checksum is not None and req.checksum not in (
                plan.checksum,
                offline.checksum,
            )
            if req.reviewed is not None:
                coverage = cover(offline, req.reviewed)
                held_back = [i for i in coverage.unreviewed if not is_tombstone(i)]
                if coverage.unreviewed:
                    plan = only(plan, coverage.reviewed)
                _say_coverage(coverage, req.reviewed)
            refused = bool(planned.rails) and not req.force
            partial = refused or mismatch or bool(held_back)
            if refused or mismatch:
                plan = plan.tombstones_only()
            to_post = sum(ls.to_load for ls in plan.leadsets)
            to_remove = sum(ls.to_stop for ls in plan.leadsets)
            if mismatch and not to_remove:
                raise ChecksumMismatch(_mismatch(plan.checksum, req.checksum, "nothing posted"))
            if refused and to_remove:
                click.echo(
                    f"Refused by safety rails (see above); the {to_remove} tombstone(s) are "
                    "honoured all the same: removals never wait for --force.",
                    err=True,
                )
            elif refused:
                raise SafetyRailTripped(RAILS_MESSAGE)
            if to_post == 0 and to_remove == 0:
                click.echo("Nothing to post.")
                report = Report()
                if not held_back:
                    _seal_unchanged(planned)
                    return EXIT_OK
                raise NotReviewed(_held_back(held_back, req.reviewed or []))
            if not req.auto_approve:
                if not sys.stdin.isatty():
                    raise EngageSyncError(
                        "apply needs --auto-approve when not run on a terminal; nothing posted"
                    )
                question = f"Post {to_post} lead(s) to Engage?"
                if to_remove:
                    question = (
                        f"Stop calling {to_remove} lead(s) and post {to_post} lead(s) to Engage?"
                    )
                if not click.confirm(question, default=False):
                    click.echo("Cancelled; nothing posted.")
                    return EXIT_ERROR
            size = req.batch_size or ctx.config.batch_size or 500
            progress = _Progress(to_post)
            with Journal(planned.state) as journal:
                applier = Applier(client, journal, default_account, size, req.fail_fast, progress)
                applier.lookup_delay = number(
                    float, None, "ENGAGE_SYNC_LOOKUP_DELAY", ctx.config.lookup_delay or 2.0
                )
                applier.look_first = req.look_first
                sealed = 0
                try:
                    report = applier.run(plan, planned.sources)
                    if not partial:
                        sealed = workspace.record_seals(planned, _carried_out(report))
                finally:
                    progress.close()
                    journal.fold(seals=sealed > 0)
    finally:
        if req.report_json and report is not None:
            write_output(
                json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n", req.report_json
            )
    _show_report(report, ctx)
    if mismatch:
        raise ChecksumMismatch(_mismatch(offline.checksum, req.checksum, "only tombstones applied"))
    if refused:
        raise SafetyRailTripped(RAILS_MESSAGE.replace("nothing posted", "only tombstones applied"))
    if held_back:
        raise NotReviewed(_held_back(held_back, req.reviewed or []))
    if report.ok:
        return EXIT_OK
    click.echo("Apply did not complete: run it again to finish what is still missing.", err=True)
    if any(ls.action_failures for ls in report.leadsets):
        return EXIT_PARTIAL  # a removal not confirmed: someone may still be called
    posted = sum(ls.recorded for ls in report.leadsets)
    return EXIT_PARTIAL if posted else EXIT_ERROR


def _mismatch(actual: str, reviewed: str | None, done: str) -> str:
    return (
        f"the plan's checksum is {actual}, not the reviewed {reviewed}: the changes it would make "
        f"are not the ones reviewed; {done}"
    )


def _say_coverage(coverage: Coverage, reviewed: list[ChangeSet]) -> None:
    for line in coverage.unreviewed:
        if is_tombstone(line):
            click.echo(
                f"  {describe(line, reviewed)}: carried out all the same (stopping a call never "
                "waits for a review)",
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
    named = "\n".join(f"  {describe(line, reviewed)}" for line in lines[:SHOWN])
    more = f"\n  ... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    return (
        f"{len(lines)} change(s) on this commit were not in any reviewed plan and were not "
        f"applied (the reviewed changes and every tombstone were):\n{named}{more}\n"
        "To carry them out: open a pull request that shows them, or plan on main "
        "(`engage-sync ci plan`, the plan workflow's `workflow_dispatch`) and, once that plan "
        "is reviewed, apply with its checksum (the apply workflow's `workflow_dispatch` with "
        "`checksum`, or `engage-sync ci apply --checksum SHA`)"
    )


def _carried_out(report: Report) -> Callable[[int], bool]:
    """Whether apply did all a campaign's plan asked (a campaign with no work had nothing to do)."""
    reps = {rep.campaign_id: rep for rep in report.leadsets}

    def done(cid: int) -> bool:
        rep = reps.get(cid)
        if rep is None:
            return True
        return (
            rep.ok
            and rep.recorded >= rep.to_post
            and rep.removed >= rep.to_remove
            and not (rep.not_inserted or rep.action_failures or rep.in_doubt)
        )

    return done


def _seal_unchanged(planned: workspace.Planned) -> None:
    """Nothing to post, yet campaigns read in full whose state agrees: record that, so later
    plans skip their files (once, after an upgrade or an apply that was cut short)."""
    from ..state import journal_path, save_state

    if journal_path(planned.state).exists():
        return  # the next apply folds that journal first; it seals then
    if workspace.record_seals(planned, lambda cid: True):
        save_state(planned.state)


RAILS_MESSAGE = (
    "refused by safety rails (see above); nothing posted. Re-run with --force if "
    "this is intended, or change the thresholds under rails: in engage-sync.yaml"
)


def _show_report(report: Report, ctx: Context) -> None:
    for rep in report.leadsets:
        line = (
            f"campaign {rep.campaign_id}: posted {rep.posted}, accepted {rep.accepted}, "
            f"inserted {rep.inserted}, rejected {len(rep.rejected)}, failed {rep.failed}"
        )
        if rep.to_remove or rep.cancelled or rep.deleted:
            line += (
                f"; removed {rep.removed} of {rep.to_remove}, records cancelled {rep.cancelled}, "
                f"deleted {rep.deleted}"
            )
        click.echo(line)
        for r in rep.rejected[:50]:
            click.echo(f"  rejected {r['externId']}: {r['message']}", err=True)
        for e in rep.errors:
            echo(f"  error: {e}", err=True)
        for note in rep.notes:
            click.echo(f"  note: {note}", err=True)
    click.echo(f"Recorded {report.recorded} lead(s) in {ctx.state_path}.")


@click.command()
@click.option("--account", help="Engage account id [env ENGAGE_ACCOUNT_ID].")
@click.option("--base-url", help="Voice API base URL [env ENGAGE_BASE_URL].")
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
        click.echo(json.dumps(groups, indent=2, sort_keys=True))
        return EXIT_OK
    for g in groups:
        click.echo(
            f"dial group {g['dialGroupId']} {g.get('dialGroupName', '')}"
            f"{'' if g.get('isActive', True) else ' (inactive)'}"
        )
        for c in g["campaigns"]:
            active = "active" if c.get("isActive") in (1, True) else "inactive"
            click.echo(f"  {c['campaignId']:>8}  {c.get('campaignName', '')}  ({active})")
    return EXIT_OK


@click.command("force-unlock")
@click.argument("lock_id")
@global_options()
@pass_ctx
def force_unlock(ctx: Context, lock_id: str) -> int:
    """Remove a state lock left by a run that died (LOCK_ID from the lock error)."""
    from ..state import force_unlock as unlock

    holder = unlock(ctx.state_path, lock_id)
    click.echo(f"Removed lock {holder.describe()}.")
    return EXIT_OK
