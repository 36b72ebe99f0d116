"""State commands (list, show, rm, path) and `import`: look after the state without posting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .. import leadsets, workspace
from ..display import printable
from ..errors import EngageSyncError, ExitCode
from ..leadsets import boundary
from ..model import Lead
from ..settings import table as settings
from ..state import StateLock, journal_path, load_state, recover_state, save_state
from .common import (
    Context,
    global_options,
    lock_timeout_option,
    pass_ctx,
    setting_option,
    show_problems,
)
from .connect import account_for, make_client


@click.group()
def state() -> None:
    """Inspect or edit the state file (lead values are never in it)."""


@state.command("path")
@global_options()
@pass_ctx
def state_path(ctx: Context) -> int:
    """Print the state file's path (flag > ENGAGE_SYNC_STATE > engage-sync.yaml > default)."""
    click.echo(str(ctx.state_path))
    return ExitCode.OK


@state.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@global_options()
@pass_ctx
def state_list(ctx: Context, fmt: str) -> int:
    """Campaigns, their lead sets and lead counts, with the state's serial and lineage."""
    current = load_state(ctx.state_path)
    sealed = workspace.in_sync(current, ctx.config)
    campaigns: list[dict[str, Any]] = [
        {
            "campaignId": cid,
            "leads": len(c.leads),
            "inDoubt": len(c.in_doubt),
            "removed": len(c.removed),
            "files": sorted(c.files),
            "synced": cid in sealed,  # sealed, and its files are still as sealed
        }
        for cid, c in sorted(current.campaigns.items())
        if c.leads or c.in_doubt or c.removed
    ]
    if fmt == "json":
        doc = {
            "path": str(ctx.state_path),
            "lineage": current.lineage,
            "serial": current.serial,
            "campaigns": campaigns,
        }
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return ExitCode.OK
    if not current.exists:
        click.echo(f"{ctx.state_path}: no state yet (nothing applied)")
        return ExitCode.OK
    click.echo(f"{ctx.state_path}: serial {current.serial}, lineage {printable(current.lineage)}")
    for c in campaigns:
        doubt = f", {c['inDoubt']} in doubt" if c["inDoubt"] else ""
        removed = f", {c['removed']} removed" if c["removed"] else ""
        files = printable(", ".join(c["files"])) or "no file recorded"  # the state is a file
        synced = ", in sync (unchanged files are not read)" if c["synced"] else ""
        click.echo(
            f"  campaign {c['campaignId']}: {c['leads']} lead(s){doubt}{removed} ({files}){synced}"
        )
    click.echo(f"{current.lead_count()} lead(s) in {len(campaigns)} campaign(s).")
    return ExitCode.OK


@state.command("show")
@click.argument("campaign", type=int)
@click.argument("extern_id")
@global_options()
@pass_ctx
def state_show(ctx: Context, campaign: int, extern_id: str) -> int:
    """What the state records about one lead: its hashes and field names (never values)."""
    current = load_state(ctx.state_path)
    camp = current.campaigns.get(campaign)
    if camp is None or (extern_id not in camp.leads and extern_id not in camp.in_doubt):
        raise EngageSyncError(f"campaign {campaign}: no lead {extern_id!r} in {ctx.state_path}")
    click.echo(f"campaign {campaign}, externId {printable(extern_id)}")
    if extern_id in camp.leads:
        click.echo(f"  content hash: {printable(camp.hash_of(extern_id))}")
        for name, digest in camp.field_hashes(extern_id).items():
            click.echo(f"  {printable(name)}: field hash {printable(digest)}")
    if extern_id in camp.in_doubt:
        click.echo("  in doubt: an apply stopped while this lead was being posted")
    return ExitCode.OK


@state.command("rm")
@click.argument("campaign", type=int)
@click.argument("extern_ids", nargs=-1, required=True)
@lock_timeout_option
@global_options()
@pass_ctx
def state_rm(ctx: Context, campaign: int, extern_ids: tuple[str, ...], lock_timeout: float) -> int:
    """Forget leads, so the next apply creates them again (nothing is deleted in Engage)."""
    with StateLock(ctx.state_path, "state rm", lock_timeout):
        current = load_state(ctx.state_path)
        camp = current.campaigns.get(campaign)
        known = set(camp.leads) | camp.in_doubt if camp is not None else set()
        missing = [e for e in extern_ids if e not in known]
        if camp is None or missing:
            raise EngageSyncError(
                f"campaign {campaign}: not in the state: {', '.join(missing or extern_ids)}; "
                "nothing removed"
            )
        camp.drop(extern_ids)
        save_state(current)
    click.echo(
        f"Removed {len(extern_ids)} lead(s) of campaign {campaign} from {ctx.state_path} "
        f"(serial {current.serial}); the next apply creates them again."
    )
    return ExitCode.OK


@state.command("recover")
@lock_timeout_option
@global_options()
@pass_ctx
def state_recover(ctx: Context, lock_timeout: float) -> int:
    """Fold a damaged journal: keep every line that reads, and have the next apply look up in
    Engage, before posting it, every lead the lead sets would post (nothing is posted now)."""
    with StateLock(ctx.state_path, "state recover", lock_timeout):
        current, damaged = recover_state(ctx.state_path)
        if not damaged:
            load_state(ctx.state_path)  # a journal that reads whole is folded by the next apply
            click.echo(f"{ctx.state_path}: nothing to recover (no damaged journal line)")
            return ExitCode.OK
        sources, sink, _ = workspace.read_sources((), ctx.config)
        if sink.errors:
            raise sink.failure()
        doubted = 0
        for desired in leadsets.group(sources, sink):
            camp = current.campaign(desired.campaign.id)
            posted = [
                lead.extern_id
                for lead in desired.leads
                if not camp.leads.get(lead.extern_id, "").startswith(lead.digest)
            ]
            camp.doubt(posted)
            doubted += len(posted)
        if sink.errors:
            raise sink.failure()
        save_state(current)
        journal = journal_path(current)
        kept = journal.with_name(journal.name + ".damaged")
        try:
            journal.replace(kept)
        except OSError as e:
            raise EngageSyncError(f"{journal}: cannot move it aside: {e.strerror}") from e
    lines = ", ".join(map(str, damaged))
    click.echo(
        f"Folded the intact lines of {journal} into {ctx.state_path} (serial {current.serial}); "
        f"damaged line(s) {lines} skipped, the journal kept as {kept}. {doubted} lead(s) the "
        "lead sets would post are in doubt: the next apply looks each one up in Engage before "
        "posting it."
    )
    return ExitCode.OK


@click.command("import")
@click.option("--campaign", "campaign", type=int, required=True, help="Campaign id.")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--from-engage",
    is_flag=True,
    help="Adopt the declared leads Engage already holds once, with the declared phone "
    "(needs credentials; nothing is posted).",
)
@setting_option(settings.ACCOUNT, ", with --from-engage")
@setting_option(settings.BASE_URL, ", with --from-engage")
@lock_timeout_option
@global_options(debug=True)
@pass_ctx
def import_leads(
    ctx: Context,
    campaign: int,
    file: Path | None,
    from_engage: bool,
    account: str | None,
    base_url: str | None,
    lock_timeout: float,
) -> int:
    """Record leads loaded outside engage-sync as applied, without posting them.

    FILE is a lead set (.yaml/.json) of that campaign, or a CSV/JSON Lines file of leads. With
    --from-engage instead, the campaign's declared leads are looked up in Engage and those with
    exactly one dialable record carrying the declared phone are adopted; the rest are listed.
    """
    if from_engage == (file is not None):
        raise click.UsageError("give either FILE or --from-engage")
    if from_engage:
        return _adopt(ctx, campaign, account, base_url, lock_timeout)
    assert file is not None
    sink = leadsets.Sink()
    if file.suffix.lower() in leadsets.SUFFIXES:
        source = leadsets.load_source(file, ctx.config.options, sink, root=boundary.root())
        if source is not None and source.meta.campaign.id != campaign:
            raise EngageSyncError(
                f"{file}: declares campaign {source.meta.campaign.id}, "
                f"not {campaign}; nothing imported"
            )
    else:
        source = leadsets.leads_file_source(file, campaign)
    leads = list(leadsets.campaign_leads(campaign, [source], sink)) if source is not None else []
    if sink.errors:
        raise sink.failure()
    show_problems(sink.warnings, totals=sink.totals)
    serial = _record(ctx, campaign, leads, [leadsets.shown_path(file)], lock_timeout)
    click.echo(
        f"Recorded {len(leads)} lead(s) of campaign {campaign} in {ctx.state_path} "
        f"(serial {serial}) without posting them."
    )
    return ExitCode.OK


def _record(
    ctx: Context, campaign: int, leads: list[Lead], files: list[str], lock_timeout: float
) -> int:
    with StateLock(ctx.state_path, "import", lock_timeout):
        current = load_state(ctx.state_path)
        camp = current.campaign(campaign)
        for lead in leads:
            camp.record(lead)
        camp.files.update(files)
        save_state(current)
    return current.serial


def _adopt(
    ctx: Context, campaign: int, account: str | None, base_url: str | None, lock_timeout: float
) -> int:
    """import --from-engage: teams that loaded leads by hand start without re-posting anyone."""
    client = make_client(ctx, base_url)  # credentials first
    sources, sink, _ = workspace.read_sources((), ctx.config)
    mine = leadsets.by_campaign(sources).get(campaign, [])
    if not mine:
        raise EngageSyncError(f"no lead set declares campaign {campaign}; nothing imported")
    leads = list(leadsets.campaign_leads(campaign, mine, sink))
    if sink.errors:
        raise sink.failure()
    acct = mine[0].meta.account or account_for(account, ctx)
    if not acct:
        raise EngageSyncError(
            "no account: pass --account, set ENGAGE_ACCOUNT_ID or `account:`; nothing imported"
        )
    from ..reconcile.adopt import adopt

    with client:
        adoption = adopt(client, acct, campaign, leads)
    adopted, rest = adoption.adopted, adoption.lines
    serial = _record(ctx, campaign, adopted, [s.meta.path for s in mine], lock_timeout)
    click.echo(
        f"Adopted {len(adopted)} of {len(leads)} declared lead(s) of campaign {campaign} from "
        f"Engage into {ctx.state_path} (serial {serial}) without posting them."
    )
    for line in rest:
        click.echo(printable(line))  # externIds, and Engage's lead states
    return ExitCode.OK
