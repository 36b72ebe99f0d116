"""`engage-sync ci plan|apply|drift`: the steps the workflows run, inside the package so that
pinning a newer engage-sync upgrades them. Each runs outside GitHub too (the tests run them)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..display import printable
from ..errors import ConfigError, EngageSyncError, ExitCode, GitHubError, StateNotSaved
from ..model import OutputFormat
from ..settings import resolve
from ..settings import table as settings
from .apply import run_apply
from .common import Context, annotate, global_options, pass_ctx, setting_option
from .connect import account_for
from .plan import exit_for, run_plan, write_drift, write_plan

if TYPE_CHECKING:  # the GitOps loop (and the HTTP stack under it) is imported when it runs
    from ..changeset import ChangeSet
    from ..gitops.git import Git
    from ..gitops.reviews import Rules


@click.group()
def ci() -> None:
    """The GitOps loop's CI steps: what the plan, apply and drift workflows run."""


def _github_output(**values: str) -> None:
    """Step outputs a workflow can use (`steps.<id>.outputs.<name>`), when GitHub asks."""
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for name, value in values.items():
                f.write(f"{name}={value}\n")


def _summary(text: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)


@ci.command("plan")
@setting_option(settings.PLAN_DIR)
@global_options(debug=True)
@pass_ctx
def ci_plan(ctx: Context, out_dir: str) -> int:
    """Plan for review: markdown, JSON and the change set in one pass; the job summary; one
    pull-request comment updated in place (GITHUB_TOKEN, GITHUB_REPOSITORY, PR_NUMBER).
    Invalid lead sets fail it. Needs no Engage credentials."""
    from ..reconcile.planning import PlanRequest

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, doc, changes = out / "plan.md", out / "plan.json", out / "changes.tsv"
    outcome = run_plan(ctx, PlanRequest(changes_to=changes))
    targets = [(OutputFormat.MARKDOWN.value, str(md)), (OutputFormat.JSON.value, str(doc))]
    markdown = write_plan(outcome, targets)[OutputFormat.MARKDOWN.value]
    count, checksum = outcome.counts.to_carry_out, outcome.checksum
    click.echo(
        f"Plan: {count} change(s) to carry out, {outcome.counts.orphaned} orphaned; "
        f"checksum {checksum}; written to {out}/"
    )
    _summary(markdown)
    _github_output(
        **{"has-changes": str(count > 0).lower(), "checksum": checksum, "plan-dir": out_dir}
    )
    _post_plan(markdown, checksum)
    return ExitCode.OK


def _post_plan(markdown: str, checksum: str) -> None:
    """The plan as the pull request's one plan comment, updated in place, its trailer naming
    the checksum and this run (PR_NUMBER, GITHUB_TOKEN, GITHUB_REPOSITORY)."""
    from ..gitops.github import GitHub
    from ..gitops.reviews import comment_body, upsert_comment

    pr = os.environ.get("PR_NUMBER")
    github = GitHub.from_env(os.environ)
    if github is not None and pr:
        with github:
            try:
                body = comment_body(markdown, checksum, _run_id())
                said = upsert_comment(github, int(pr), body, _bot())
                click.echo(said)
            except GitHubError as e:  # a fork's read-only token cannot comment
                annotate("warning", f"could not post the plan comment ({e}); see the job summary")
    elif not pr:
        click.echo(
            f"Not a pull request: review this plan, then apply it with its checksum "
            f"(`engage-sync ci apply --checksum {checksum}`, or the apply workflow's "
            "workflow_dispatch)."
        )


def _run_id() -> str | None:
    return os.environ.get("GITHUB_RUN_ID")


def _bot() -> str:
    """Who writes the plan comments: GITHUB_TOKEN's bot, or a GitHub App's."""
    bot: str = resolve(settings.BOT_LOGIN)
    return bot


@ci.command("apply")
@setting_option(settings.REVIEWED_CHECKSUM, metavar="SHA")
@setting_option(settings.REPORT_DIR)
@setting_option(settings.LOOK_FIRST)
@setting_option(settings.BRANCH)
@setting_option(settings.PLAN_WORKFLOW)
@setting_option(settings.APPLY_WORKFLOW)
@setting_option(settings.PUSH_ATTEMPTS)
@setting_option(settings.PUSH_BACKOFF)
@setting_option(settings.BATCH_SIZE, hidden=True)
@setting_option(settings.RATE_SCALE, hidden=True)
@global_options(debug=True)
@pass_ctx
def ci_apply(
    ctx: Context,
    checksum: str | None,
    report_dir: str,
    look_first: str,
    branch: str,
    plan_workflow: str,
    apply_workflow: str,
    push_attempts: int,
    push_backoff: float,
    batch_size: int | None,
    rate_scale: float | None,
) -> int:
    """On merge: carry out the plans reviewed on the pull requests merged since the last apply
    (tombstones always), name any change nobody reviewed (exit 5), and commit the state to the
    branch, rebased onto whatever landed meanwhile. Nothing posted, nothing committed."""
    from ..gitops.git import Git
    from ..gitops.reviews import Rules

    _check_ref(branch)
    token, server = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_SERVER_URL")
    auth = Git.token_auth(server, token) if token and server else None
    git = Git(Path.cwd(), branch=branch, auth=auth)
    reviewed = _restore_and_review(
        ctx,
        git,
        None if checksum else Rules(_bot(), plan_workflow, branch),
        apply_workflow,
        push_attempts,
        push_backoff,
    )
    report = Path(report_dir)
    report.mkdir(parents=True, exist_ok=True)
    head = git.head()
    failure: EngageSyncError | None = None
    code = ExitCode.OK
    try:
        code = run_apply(
            ctx,
            auto_approve=True,
            report_json=str(report / "apply-report.json"),
            checksum=checksum,
            reviewed=reviewed,
            # the state is shared through git: auto always probes here
            look_first="probe" if look_first == "auto" else look_first,
            batch_size=batch_size,
            rate_scale=rate_scale,
        )
    except EngageSyncError as e:  # the state records what did succeed: commit it all the same
        failure = e
    _commit_state(ctx, git, head, report, push_attempts, push_backoff, failure)
    if failure is not None:
        raise failure
    return code


def _commit_state(
    ctx: Context,
    git: Git,
    head: str,
    report: Path,
    push_attempts: int,
    push_backoff: float,
    failure: EngageSyncError | None,
) -> None:
    """Commit the state (and the report's evidence) to the branch, whether or not the apply
    failed: the state records what did succeed."""
    from ..gitops.loop import save_state

    try:
        saved = save_state(
            git, ctx.state_path, head, report, _run_id(), push_attempts, push_backoff
        )
    except StateNotSaved as e:
        message = str(e) + (f" The apply itself also failed: {failure}" if failure else "")
        annotate("error", message)
        raise StateNotSaved(message) from e
    if saved.message:
        click.echo(saved.message)


def _restore_and_review(
    ctx: Context,
    git: Git,
    rules: Rules | None,
    apply_workflow: str,
    push_attempts: int,
    push_backoff: float,
) -> list[ChangeSet] | None:
    """Bring back the state an earlier apply could only keep on a rescue branch, then find the
    change sets reviewed on the pull requests merged since the last apply (None without
    `rules`: apply is gated by a checksum instead)."""
    from ..gitops.github import GitHub
    from ..gitops.loop import restore_rescued, reviewed_since_last_apply

    github = GitHub.from_env(os.environ)
    try:
        restored = restore_rescued(
            git, github, ctx.state_path, push_attempts, push_backoff, apply_workflow
        )
        for rescued in restored.restored:
            click.echo(f"Restored the state an earlier apply kept on {printable(rescued)}.")
        for why in restored.refused:  # a branch anyone could name: escaped
            annotate("warning", why)
        if rules is None:
            return None
        found = reviewed_since_last_apply(git, github, os.environ, rules)
        click.echo(printable(found.summary))
        for note in found.notes:  # what GitHub answered, pull requests' names: escaped
            click.echo(f"  note: {printable(note)}")
        return found.changesets
    finally:
        if github is not None:
            github.close()


def _check_ref(branch: str) -> None:
    """In GitHub Actions, apply runs on the branch it applies, never on a ref a contributor
    chose (a workflow_dispatch on their branch runs their copy of the workflow)."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    ref = os.environ.get("GITHUB_REF", "")
    if ref and ref != f"refs/heads/{branch}":
        raise ConfigError(
            f"ci apply runs on {branch} only, and this run is on {ref}: nothing posted "
            "(restrict the engage-production environment to that branch: docs/gitops.md)"
        )


@ci.command("drift")
@setting_option(settings.DRIFT_DIR)
@global_options(debug=True)
@pass_ctx
def ci_drift(ctx: Context, out_dir: str) -> int:
    """The daily check: what changed in Engage outside engage-sync, and the opt-outs still to
    carry out. Exit 0 without drift, 2 with (the job fails visibly), 6 when an opt-out is past
    its deadline, 1 on error. The report never holds lead values."""
    from ..reconcile.planning import PlanRequest

    _check_drift_target(ctx)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text, doc = out / "drift.txt", out / "drift.json"
    request = PlanRequest(drift_only=True, default_account=account_for(None, ctx))
    outcome = run_plan(ctx, request, look=True)
    targets = [(OutputFormat.JSON.value, str(doc)), (OutputFormat.TEXT.value, str(text))]
    shown = write_drift(outcome, targets)[OutputFormat.TEXT.value]
    click.echo(shown, nl=False)
    _summary(f"## engage-sync drift\n\n```\n{shown}```\n")
    code = exit_for(outcome)
    if code == ExitCode.CHANGES:
        click.echo(
            "::error::Engage drifted from the lead sets: see above; `engage-sync apply "
            "--refresh` corrects duplicates, changed phones and reappeared leads"
        )
    elif code == ExitCode.OVERDUE:
        click.echo(
            "::error::an opt-out is past its deadline: see above; run the apply workflow now "
            "(it carries out tombstones before anything else)"
        )
    return code


def _check_drift_target(ctx: Context) -> None:
    """Drift looks where the last apply loaded, and nowhere else: a base URL changed since (a
    merge no apply has carried out yet) would send the credentials to a host no apply used."""
    from ..engage.hosts import engage_target
    from ..state import read_state

    recorded = read_state(ctx.state_path).base_url
    url = str(resolve(settings.BASE_URL, None, ctx.config.base_url))
    if recorded is not None and engage_target(url) != recorded:
        raise ConfigError(
            f"the state was applied to {recorded}, and this drift check would look at "
            f"{engage_target(url)}: nothing sent (run the apply workflow first: it carries out "
            "a reviewed change of baseUrl and records it)"
        )
