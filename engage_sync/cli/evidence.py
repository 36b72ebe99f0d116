"""`engage-sync evidence`: when each opt-out was carried out, and how engage-sync knows, from the
evidence ledger beside the state. No credentials, no lead values."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import click

from ..display import printable
from ..errors import EngageSyncError, ExitCode
from ..optouts import OptOutRules
from ..optouts import ledger as ledgers
from ..store import Item
from .common import Context, global_options, pass_ctx, write_output

CSV_COLUMNS = (
    "campaignId",
    "externId",
    "requested",
    "requestedFrom",
    "commit",
    "due",
    "confirmed",
    "businessDays",
    "met",
    "actions",
    "leadIds",
    "actedAt",
    "account",  # a phone's row: the account it was stopped in (a row for each)
)


@click.command()
@click.option(
    "--extern-id",
    "extern_ids",
    multiple=True,
    metavar="ID",
    help="Only this person (repeat for several): when did we stop calling them?",
)
@click.option(
    "--phone",
    "phones",
    multiple=True,
    metavar="NUMBER",
    help="Only this phone, in any formatting (repeat for several): when did we stop calling "
    "this number, which records, which campaigns? The ledger holds a keyed hash, never the "
    "number.",
)
@click.option("--campaign", type=int, help="Only this campaign id.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only removals confirmed on or after this day (YYYY-MM-DD, in optOuts.timezone).",
)
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only removals confirmed on or before this day.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "csv", "json"]),
    default="text",
    show_default=True,
    help="csv and json are for an auditor's spreadsheet or tool.",
)
@click.option("--out", metavar="FILE", help="Write to FILE instead of standard output.")
@global_options()
@pass_ctx
def evidence(
    ctx: Context,
    extern_ids: tuple[str, ...],
    phones: tuple[str, ...],
    campaign: int | None,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    out: str | None,
) -> int:
    """When each opt-out (tombstone) was carried out, and the evidence: the Engage lead ids
    cancelled or deleted, when the search that found nothing dialable ran, the business days it
    took and whether it met its deadline. Read from the ledger beside the state file."""
    rules = ctx.config.opt_outs
    path = ctx.store.where(Item.LEDGER)
    first, last = (since.date() if since else None), (until.date() if until else None)
    if first and last and last < first:
        raise click.UsageError("--until is before --since")
    wanted = set(extern_ids)
    hashes = _phone_hashes(ctx, phones)  # number -> its keyed hash
    found = [
        e
        for e in ledgers.read(ctx.store)
        if (not (wanted or hashes) or e.get("externId") in wanted or _phone_of(e, hashes))
        and (campaign is None or e.get("campaign") == campaign or campaign in _campaigns(e))
        and _within(_confirmed_day(e, rules), first, last)
    ]
    if fmt == "json":
        doc = {"ledger": path, "removals": found}
        write_output(json.dumps(doc, indent=2, sort_keys=True) + "\n", out)
    elif fmt == "csv":
        write_output(to_csv(found), out)
    else:
        write_output(to_text(found, rules, path), out)
    missing = sorted(wanted - {str(e.get("externId")) for e in found})
    stopped = {str(e.get("phone")) for e in found}
    missing += [number for number, digest in hashes.items() if digest not in stopped]
    if missing:
        raise EngageSyncError(
            f"no removal of {', '.join(missing)} is recorded in {path}"
            + (" in that range" if first or last or campaign else "")
            + ": a tombstone not carried out yet shows in `engage-sync plan` with its deadline"
        )
    return ExitCode.OK


def _phone_hashes(ctx: Context, numbers: Sequence[str]) -> dict[str, str]:
    """Each number, as typed, to the keyed hash the ledger holds for it (any formatting: it is
    read in E.164 first, with optOuts.phoneRegion for one without a country code)."""
    if not numbers:
        return {}
    from ..donotcall.keys import resolve
    from ..donotcall.phones import e164
    from ..state import read_state

    recorded = read_state(ctx.store).do_not_call.key
    if recorded is None:
        raise EngageSyncError(
            f"{ctx.state_name} records no phone stopped by do not call yet: nothing to look up"
        )
    key, why = resolve(recorded)
    if key is None:
        raise EngageSyncError(f"cannot look a phone up: {why}")
    found = {}
    for number in numbers:
        phone = e164(number, ctx.config.opt_outs.phone_region)
        if phone is None:
            raise click.UsageError(f"--phone {number!r} is not a phone number")
        found[number] = key.digest(phone)
    return found


def _phone_of(entry: Mapping[str, Any], hashes: Mapping[str, str]) -> bool:
    return "phone" in entry and entry["phone"] in hashes.values()


def _campaigns(entry: Mapping[str, Any]) -> list[Any]:
    found = entry.get("campaigns")
    return found if isinstance(found, list) else []


def _confirmed_day(entry: Mapping[str, Any], rules: OptOutRules) -> date | None:
    try:
        moment = datetime.strptime(str(entry.get("confirmed")), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return rules.date_of(moment)


def _within(day: date | None, first: date | None, last: date | None) -> bool:
    if day is None:
        return first is None and last is None
    return (first is None or day >= first) and (last is None or day <= last)


def _acts(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    acts = entry.get("acts")
    return [a for a in acts if isinstance(a, dict)] if isinstance(acts, list) else []


# what a spreadsheet takes for a formula at the start of a cell (OWASP, "CSV injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A value as a spreadsheet shows it, never as a formula it runs: an externId comes from a
    lead-set file anyone who can push may write (`=HYPERLINK(...)`), so text that starts like a
    formula gets a leading apostrophe, as spreadsheets themselves mark text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        acts = _acts(e)
        writer.writerow(
            _cell(v)
            for v in [
                e.get("campaign") if "phone" not in e else " ".join(map(str, _campaigns(e))),
                e.get("externId") if "phone" not in e else f"phone #{e.get('phone')}",
                e.get("requested"),
                e.get("requestedFrom"),
                e.get("commit") or "",
                e.get("due"),
                e.get("confirmed"),
                e.get("businessDays"),
                "yes" if e.get("met") else "no",
                " ".join(str(a.get("action")) for a in acts),
                " ".join(str(i) for a in acts for i in a.get("leadIds", [])),
                min((str(a.get("at")) for a in acts if a.get("at")), default=""),
                e.get("account") or "",
            ]
        )
    return buffer.getvalue()


def _phone_text(e: Mapping[str, Any], rules: OptOutRules) -> list[str]:
    """A phone stopped by do not call: its hash (never the number), the records, the campaigns."""
    met = "met" if e.get("met") else "MISSED"
    scope = e.get("scope")
    account = f"account {e['account']}" if e.get("account") else "the account"
    where = f"every campaign of {account}" if scope == "account" else f"campaigns {scope}"
    lines = [
        f"phone #{str(e.get('phone'))[:12]}: stopped {_confirmed_day(e, rules)}, "
        f"{e.get('businessDays')} business day(s) after the request (due {e.get('due')}: {met})",
        f"  requested {e.get('requested')} ({e.get('requestedFrom')}"
        + (f", {e.get('source')}" if e.get("source") else "")
        + ")",
    ]
    for a in _acts(e):
        ids = ", ".join(str(i) for i in a.get("leadIds", []))
        answer = (
            f"answered {a.get('at')}"
            if a.get("answered")
            else f"sent {a.get('at')}, no answer (it may have been carried out)"
        )
        lines.append(
            f"  {a.get('action')} of Engage lead id(s) {ids} in campaign {a.get('campaign')}: "
            f"{answer}"
        )
    if not _acts(e):
        lines.append("  no dialable record with it was found, so none had to be cancelled")
    lines.append(
        f"  a search by phone at {e.get('confirmed')} found no dialable record with it in {where}"
    )
    return lines


def to_text(entries: Sequence[Mapping[str, Any]], rules: OptOutRules, where: str) -> str:
    lines: list[str] = []
    for e in entries:
        if "phone" in e:
            lines.extend(_phone_text(e, rules))
            continue
        met = "met" if e.get("met") else "MISSED"
        lines.append(
            f"campaign {e.get('campaign')} {e.get('externId')}: stopped "
            f"{_confirmed_day(e, rules)} ({rules.timezone}), {e.get('businessDays')} business "
            f"day(s) after the request (due {e.get('due')}: {met})"
        )
        commit = e.get("commit")
        lines.append(
            f"  requested {e.get('requested')} ({e.get('requestedFrom')})"
            + (f"; tombstoned in commit {commit}" if commit else "")
        )
        acts = _acts(e)
        for a in acts:
            ids = ", ".join(str(i) for i in a.get("leadIds", []))
            answer = (
                f"answered {_utc(a.get('at'))}"
                if a.get("answered")
                else f"sent {_utc(a.get('at'))}, no answer (it may have been carried out)"
            )
            lines.append(f"  {a.get('action')} of Engage lead id(s) {ids}: {answer}")
        if not acts:
            lines.append("  no dialable record was found, so none had to be cancelled")
        lines.append(f"  a search at {_utc(e.get('confirmed'))} found no dialable record")
    lines.append(
        f"{len(entries)} removal(s) from {where}. Days are dates in {rules.timezone} "
        "(optOuts.timezone); times are UTC."
    )
    # the ledger is a file in the repository: what it says is shown escaped
    return "\n".join(map(printable, lines)) + "\n"


def _utc(stamp: object) -> str:
    """A ledger time (`2026-12-03T22:00:00Z`) as a person reads it, its zone named."""
    try:
        moment = datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return str(stamp)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
