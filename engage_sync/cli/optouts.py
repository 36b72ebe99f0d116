"""`engage-sync optouts pull`: Engage's own opt-outs brought home (issue #30). The phones of the
records Engage holds as DO-NOT-CALL (or `optOuts.engageStates`) that no do-not-call list of the
repository names are appended to a list's CSV file (`source: engage`, today's date), so a pull
request brings them into git. It writes phones, by the user's explicit request, into the
repository's own list: the user's data, like the lead sets. It prints only counts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from .. import workspace
from ..errors import ConfigError, EngageSyncError, ExitCode
from ..settings import resolve
from ..settings import table as settings
from .common import Context, global_options, pass_ctx, setting_option
from .connect import account_for, make_client

LIST_NAME = "engage-opt-outs"


@click.group()
def optouts() -> None:
    """Opt-outs: bring Engage's own do-not-call records into the repository."""


@optouts.command("pull")
@setting_option(settings.ACCOUNT)
@setting_option(settings.BASE_URL)
@click.option(
    "--file",
    "out",
    metavar="CSV",
    help=f"The do-not-call CSV to append to [default: <leadsets>/{LIST_NAME}.csv, with "
    f"<leadsets>/{LIST_NAME}.yaml naming it, made when absent].",
)
@global_options(debug=True)
@pass_ctx
def pull(ctx: Context, account: str | None, base_url: str | None, out: str | None) -> int:
    """Append the phones Engage holds as do-not-call that no list names to a do-not-call CSV
    (phone,requested,source: E.164, today, engage). Commit it in a pull request."""
    from ..reconcile.donotcall import engage_opt_outs

    client = make_client(ctx, base_url)
    planned = workspace.build_plan((), ctx.config, ctx.state_path)
    rules = ctx.config.opt_outs
    default = account_for(account, ctx)
    accounts: dict[str, set[int]] = {}
    for ls in planned.plan.leadsets:
        acct = ls.account or default
        if acct:
            accounts.setdefault(acct, set()).add(ls.campaign.id)
    if not accounts and default:
        accounts[default] = set()
    if not accounts:
        raise ConfigError("no account: pass --account, set ENGAGE_ACCOUNT_ID or `account:`")
    found: set[str] = set()
    with client:
        for acct, campaigns in sorted(accounts.items()):
            scope = sorted(campaigns) if rules.scope == "campaign" else None
            found |= engage_opt_outs(client, acct, planned.registry, rules.engage_states, scope)
    folder = Path(str(resolve(settings.LEADSETS, None, ctx.config.leadsets)))
    target = Path(out) if out else folder / f"{LIST_NAME}.csv"
    added = _append(target, sorted(found), rules.today().isoformat())
    if not out and target.exists():
        _name_it(folder / f"{LIST_NAME}.yaml", target.name)
    click.echo(
        f"{added} phone(s) Engage holds as do-not-call added to {target}"
        + (
            ": commit it in a pull request, so plans block them and apply records them"
            if added
            else ""
        )
    )
    return ExitCode.OK


def _append(path: Path, phones: list[str], day: str) -> int:
    """Append rows for phones the file does not hold yet; returns how many were added."""
    have: set[str] = set()
    text = ""
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise EngageSyncError(f"{path}: cannot read: {e}") from e
        have = {row.get("phone", "") for row in csv.DictReader(io.StringIO(text))}
    new = [p for p in phones if p not in have]
    if not new:
        return 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if not text:
        writer.writerow(["phone", "requested", "source"])
    for phone in new:
        writer.writerow([phone, day, "engage"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8", newline="") as f:
            if text and not text.endswith("\n"):
                f.write("\n")
            f.write(buffer.getvalue())
    except OSError as e:
        raise EngageSyncError(f"{path}: cannot write: {e.strerror}") from e
    return len(new)


def _name_it(path: Path, csv_name: str) -> None:
    """The list file naming the CSV, made when absent (a user's own is left alone)."""
    if path.exists():
        return
    path.write_text(
        "# Phones Engage holds as do-not-call, brought home by `engage-sync optouts pull`\n"
        f"doNotCallFile: {csv_name}\n",
        encoding="utf-8",
    )
