"""Plan -> text, JSON or markdown. Never lead values: only externIds, file:line and field names.

Every value from the files, the state or Engage goes through display.py: escaped in text, a
code span in markdown (nothing in it renders); JSON escapes by itself."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TextIO
from urllib.parse import quote

from .display import md_code, md_text, printable
from .model import Change, ChangeKind, DriftKind, Joined, Lead, LeadSetPlan, Plan, RemoveReason
from .optouts import Deadline, Status

MARKER = "<!-- engage-sync-plan -->"
MORE = "--format json lists them all"  # `plan` has --format; apply names the command that does
MORE_APPLYING = "`engage-sync plan --format json` lists them all"
MARKDOWN_BUDGET = 60_000
FORMAT_VERSION = 2
_SYMBOL = {
    ChangeKind.CREATE: "+",
    ChangeKind.UPDATE: "~",
    ChangeKind.REPLACE: "-/+",
    ChangeKind.REMOVE: "-",
    ChangeKind.ORPHAN: "?",  # not a removal: nothing is done, it stays dialable
    ChangeKind.BLOCKED: "x",  # on the do-not-call set: never loaded
}


def summary_line(plan: Plan) -> str:
    n = plan.count
    blocked = n(ChangeKind.BLOCKED)
    return (
        f"Plan: {n(ChangeKind.CREATE)} to create, {n(ChangeKind.UPDATE)} to update, "
        f"{n(ChangeKind.REPLACE)} to replace, {n(ChangeKind.REMOVE)} to remove, "
        + (f"{blocked} blocked (do not call), " if blocked else "")
        + f"{n(ChangeKind.ORPHAN)} orphaned, {plan.unchanged} unchanged."
    )


def settings_lines(plan: Plan, limit: int = 20) -> list[str]:
    """engage-sync.yaml changed since the last apply: what changed (values are settings, never
    lead data; JSON-quoted, so no control character gets through)."""
    change = plan.settings
    if change is None:
        return []
    head = (
        "settings: engage-sync.yaml is not recorded yet (the first apply records it)"
        if change.before is None
        else "settings: engage-sync.yaml changed since the last apply"
    )
    lines = [head + " (apply carries out every change under these settings):"]
    changed = change.changed()
    for key, old, new in changed[:limit]:
        lines.append(f"  {key}: {_setting(old)} -> {_setting(new)}")
    if len(changed) > limit:
        lines.append(f"  ... and {len(changed) - limit} more")
    return lines


def _setting(value: object) -> str:
    return "(unset)" if value is None else json.dumps(value, sort_keys=True)[:200]


def counts_line(ls: LeadSetPlan) -> str:
    return (
        f"{len(ls.creates)} to create, {len(ls.updates)} to update, {len(ls.replaces)} to "
        f"replace, {len(ls.removals)} to remove, "
        + (f"{len(ls.blocked)} blocked (do not call), " if ls.blocked else "")
        + f"{len(ls.orphans)} orphaned, {ls.unchanged} unchanged"
    )


def opt_out_counts(plan: Plan) -> dict[str, int]:
    deadlines = [d for ls in plan.leadsets for d in ls.deadlines.values()]
    deadlines += [s.deadline for s in plan.stops]  # do not call: a phone's deadline counts too
    return {
        "pending": len(deadlines),
        "dueSoon": sum(1 for d in deadlines if d.status is Status.SOON),
        "overdue": sum(1 for d in deadlines if d.status is Status.OVERDUE),
    }


def due_soon(ls: LeadSetPlan) -> list[str]:
    """The warning of a lead set whose opt-outs are close to their deadline."""
    soon = sorted((d.due, eid) for eid, d in ls.deadlines.items() if d.status is Status.SOON)
    if not soon:
        return []
    within = next(iter(ls.deadlines.values())).rules.warn_within
    named = ", ".join(f"{printable(eid)} (due {due})" for due, eid in soon[:20])
    more = f" and {len(soon) - 20} more" if len(soon) > 20 else ""
    return [
        f"{len(soon)} opt-out(s) due within {within} business day(s): {named}{more}; apply "
        "carries them out first"
    ]


def overdue(plan: Plan, limit: int = 20, then: str = "apply now") -> list[str]:
    """One line per opt-out past its deadline (the first `limit`, then a count), ending with
    what to do (`then`)."""
    late = sorted(
        (d.due, ls.campaign.id, eid, d)
        for ls in plan.leadsets
        for eid, d in ls.deadlines.items()
        if d.status is Status.OVERDUE
    )
    lines = [
        f"opt-out past its deadline: campaign {cid} {printable(eid)}: {d.describe()}; {then}"
        for _, cid, eid, d in late[:limit]
    ]
    late_phones = [s for s in plan.stops if s.deadline.status is Status.OVERDUE]
    lines += [
        f"do-not-call phone past its deadline: {s.file}:{s.line}: {s.deadline.describe()}; "
        "apply now"
        for s in late_phones[: max(0, limit - len(lines))]
    ]
    total = len(late) + len(late_phones)
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more opt-out(s) past their deadline")
    return lines


def opt_out_lines(plan: Plan, limit: int = 20) -> list[str]:
    """The opt-outs still to carry out, the most urgent first (the drift report's section)."""
    pending = sorted(
        (d.due, ls.campaign.id, eid, d) for ls in plan.leadsets for eid, d in ls.deadlines.items()
    )
    if not pending:
        return []
    lines = ["Opt-outs not carried out yet:"]
    for _, cid, eid, d in pending[:limit]:
        mark = (
            "error" if d.status is Status.OVERDUE else "warning" if d.status is Status.SOON else ""
        )
        lines.append(
            f"  {mark + ': ' if mark else ''}campaign {cid} {printable(eid)}: {d.describe()}"
        )
    if len(pending) > limit:
        lines.append(f"  ... and {len(pending) - limit} more (--format json lists them all)")
    return lines


def stop_lines(plan: Plan, limit: int = 20) -> list[str]:
    """The do-not-call phones apply stops first (never the number: where the list names it)."""
    if not plan.stops:
        return []
    lines = [
        f"Do not call: {len(plan.stops)} phone(s) to stop first, everywhere the scope says "
        "(never held back):"
    ]
    for s in plan.stops[:limit]:
        how = f"{s.source}; " if s.source else ""
        lines.append(f"  - phone at {s.file}:{s.line}  ({how}{s.deadline.describe()})")
    if len(plan.stops) > limit:
        lines.append(f"  ... and {len(plan.stops) - limit} more (--format json lists them all)")
    return lines


def stop_document(plan: Plan) -> list[dict[str, object]]:
    return [
        {"file": s.file, "line": s.line, "source": s.source, **_deadline_fields(s.deadline)}
        for s in plan.stops
    ]


def opt_out_document(plan: Plan) -> list[dict[str, object]]:
    return [
        {"campaignId": ls.campaign.id, "externId": eid, **_deadline_fields(d)}
        for ls in plan.leadsets
        for eid, d in sorted(ls.deadlines.items(), key=lambda kv: (kv[1].due, kv[0]))
    ]


def _deadline_fields(d: Deadline) -> dict[str, object]:
    return {
        "requested": d.requested.day.isoformat(),
        "requestedFrom": d.requested.source.value,
        "commit": d.requested.commit,
        "due": d.due.isoformat(),
        "businessDaysElapsed": d.elapsed,
        "businessDaysLeft": d.left,
        "deadline": d.status.value,
    }


def _title(ls: LeadSetPlan) -> str:
    name = f' "{printable(ls.campaign.name)}"' if ls.campaign.name else ""
    return f"campaign {ls.campaign.id}{name}"


def _where(change: Change) -> str:
    if change.file:
        return printable(f"{change.file}:{change.line}")
    if change.reason is RemoveReason.PRUNE:
        return "(no longer declared; prune)"
    return "(not declared)"


def _note(change: Change, deadline: Deadline | None = None) -> str:
    if change.fields:
        return f"  ({printable(', '.join(change.fields))})"
    if change.kind is ChangeKind.REMOVE and change.reason is RemoveReason.REMOVED:
        return f"  (removed; {deadline.describe()})" if deadline else "  (removed)"
    if change.kind is ChangeKind.ORPHAN:
        return "  (stays in Engage)"
    if change.kind is ChangeKind.BLOCKED:
        return f"  (do not call: {change.note}; never loaded)"
    if change.kind in (ChangeKind.UPDATE, ChangeKind.REPLACE):  # `reloading`: no field changed
        return "  (loaded again: an earlier update stopped its record and did not load)"
    return ""


def render_text(
    plan: Plan,
    limit: int = 20,
    rails: Sequence[str] = (),
    pii: Mapping[tuple[int, str], Lead] | None = None,
    applying: bool = False,
    force: bool = False,
) -> str:
    """The plan as `plan` prints it; `applying`: as apply prints the plan it is carrying out
    (an opt-out past its deadline is being cancelled, not an error; with `force` a rail that
    trips is overridden, not refusing)."""
    more = MORE_APPLYING if applying else MORE
    lines: list[str] = []
    for ls in plan.leadsets:
        lines.append(f"{_title(ls)} ({printable(', '.join(ls.files)) or 'no file'})")
        lines.append(f"  {counts_line(ls)}")
        if ls.prune:
            lines.append(f"  prune: on ({ls.prune_action.value} what no file declares)")
        changes = ls.changes()
        for change in changes[:limit]:
            symbol, where = _SYMBOL[change.kind], _where(change)
            note = _note(change, ls.deadlines.get(change.extern_id))
            lines.append(f"  {symbol} {printable(change.extern_id)}  {where}{note}")
            lead = pii.get((change.campaign_id, change.extern_id)) if pii else None
            if lead is not None:
                lines.extend(f"      {printable(k)} = {printable(v)}" for k, v in lead.fields)
        if len(changes) > limit:
            lines.append(f"  ... and {len(changes) - limit} more ({more})")
        lines.extend(f"  warning: {printable(w)}" for w in (*ls.warnings, *due_soon(ls)))
        lines.append("")
    lines.extend(settings_lines(plan, limit))
    lines.extend(stop_lines(plan, limit))
    lines.extend(drift_lines(plan, limit, more))
    if applying:  # tombstones go first, whatever holds the rest back
        lines.extend(f"overdue: {e}" for e in overdue(plan, limit, "cancelling it now, first"))
    else:
        lines.extend(f"error: {e}" for e in overdue(plan, limit))
    lines.extend(f"warning: {printable(w)}" for w in plan.warnings)
    rail = "past a safety rail, applied as --force asks" if applying and force else None
    lines.extend(f"{rail or 'refused unless --force'}: {printable(r)}" for r in rails)
    if not plan.leadsets:
        lines.append("No lead sets.")
    lines.append(summary_line(plan))
    return "\n".join(lines) + "\n"


# -- drift (plan --refresh) ------------------------------------------------------------------------
DRIFT_HEADING = "Changed outside engage-sync since the last apply:"
EXPLAIN = {
    DriftKind.MISSING: "recorded as loaded, no record in Engage (not re-created; "
    "`engage-sync state rm` it to load it again)",
    DriftKind.STOPPED: "no record is dialable any more",
    DriftKind.DUPLICATE: "more than one dialable record (apply --refresh keeps one: the "
    "declared phone and content first, then the newest)",
    DriftKind.CHANGED: "the dialable record differs from the file (apply --refresh loads the "
    "declared lead again)",
    DriftKind.REAPPEARED: "removed, but dialable again (apply --refresh cancels it)",
}
# the ones to act on first; stopped is the normal end of a lead's life in a dialer
_DRIFT_ORDER = {
    DriftKind.REAPPEARED: 0,
    DriftKind.DUPLICATE: 1,
    DriftKind.CHANGED: 2,
    DriftKind.MISSING: 3,
    DriftKind.STOPPED: 4,
}


def drift_counts(plan: Plan) -> dict[str, int]:
    return {
        kind.value: sum(1 for ls in plan.leadsets for d in ls.drift if d.kind is kind)
        for kind in DriftKind
    }


def drift_summary(plan: Plan) -> str:
    counts = drift_counts(plan)
    unmanaged = sum(ls.unmanaged or 0 for ls in plan.leadsets)
    kinds = ", ".join(f"{n} {k}" for k, n in counts.items())
    return f"Drift: {kinds}; {unmanaged} unmanaged record(s)."


def drift_lines(plan: Plan, limit: int = 20, more: str = MORE) -> list[str]:
    """The drift section of the text plan (empty when the plan was not refreshed)."""
    if not plan.refreshed:
        return []
    lines = [DRIFT_HEADING]
    for ls in plan.leadsets:
        if ls.unmanaged is None:
            continue
        counts = ", ".join(
            f"{sum(1 for d in ls.drift if d.kind is k)} {k.value}" for k in DriftKind
        )
        partial = "" if ls.refresh_complete else " (at least: the server's paging hid some)"
        lines.append(f"  {_title(ls)}: {counts}; {ls.unmanaged} unmanaged record(s){partial}")
        ordered = sorted(ls.drift, key=lambda d: (_DRIFT_ORDER[d.kind], d.extern_id))
        for d in ordered[:limit]:
            state = f" ({printable(d.lead_state)})" if d.lead_state else ""
            named = f" [{printable(', '.join(d.fields))}]" if d.fields else ""
            eid = printable(d.extern_id)
            lines.append(f"  ! {eid}  {d.kind.value}{named}{state}: {EXPLAIN[d.kind]}")
        if len(ordered) > limit:
            lines.append(f"  ... and {len(ordered) - limit} more ({more})")
    if plan.engage_opt_outs:
        lines.append(engage_line(plan.engage_opt_outs))
    lines.append(drift_summary(plan))
    lines.append("")
    return lines


def engage_line(count: int) -> str:
    return (
        f"  ! Engage holds {count} phone(s) as do-not-call that no do-not-call list names: "
        "`engage-sync optouts pull` writes them into one, for a pull request"
    )


def render_drift_text(plan: Plan, limit: int = 20) -> str:
    """`plan --refresh-only`: the drift alone."""
    return "\n".join(drift_lines(plan, limit)) + "\n"


def _change_items(plan: Plan) -> Iterator[dict[str, object]]:
    for ls in plan.leadsets:
        for c in ls.changes():
            d = ls.deadlines.get(c.extern_id) if c.reason is RemoveReason.REMOVED else None
            item: dict[str, object] = {
                "action": c.kind.value,
                "campaignId": c.campaign_id,
                "externId": c.extern_id,
                "file": c.file,
                "line": c.line,
            }
            if c.kind in (ChangeKind.UPDATE, ChangeKind.REPLACE):
                item["fields"] = list(c.fields)
            if c.reason is not None:
                item["reason"] = c.reason.value
            if c.kind is ChangeKind.BLOCKED:
                item["doNotCall"] = c.note
            if d is not None:
                item["optOut"] = _deadline_fields(d)
            yield item


def plan_document(
    plan: Plan, rails: Sequence[str] = (), with_changes: bool = True
) -> dict[str, object]:
    """The JSON plan as one value (every change held at once: `write_json` streams instead)."""
    changes = list(_change_items(plan)) if with_changes else []
    return {
        "format_version": FORMAT_VERSION,
        "summary": {
            "create": plan.count(ChangeKind.CREATE),
            "update": plan.count(ChangeKind.UPDATE),
            "replace": plan.count(ChangeKind.REPLACE),
            "remove": plan.count(ChangeKind.REMOVE),
            "unchanged": plan.unchanged,
            "orphaned": plan.count(ChangeKind.ORPHAN),
            "blocked": plan.count(ChangeKind.BLOCKED),
            "doNotCall": len(plan.stops),
            "optOuts": opt_out_counts(plan),
            **({"drift": drift_counts(plan)} if plan.refreshed else {}),
        },
        "leadsets": [
            {
                "campaignId": ls.campaign.id,
                "campaignName": ls.campaign.name,
                "files": list(ls.files),
                "create": len(ls.creates),
                "update": len(ls.updates),
                "replace": len(ls.replaces),
                "remove": len(ls.removals),
                "prune": ls.prune_action.value if ls.prune else False,
                "orphaned": len(ls.orphans),
                "blocked": len(ls.blocked),
                "unchanged": ls.unchanged,
                "inDoubt": list(ls.in_doubt),
                "warnings": list(ls.warnings),
            }
            for ls in plan.leadsets
        ],
        "settings": _settings_document(plan),
        "refreshed": plan.refreshed,
        "doNotCall": stop_document(plan),
        **(_drift_document(plan) if plan.refreshed else {}),
        "rails": list(rails),
        "warnings": list(plan.warnings),
        "changes": changes,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "checksum": plan.checksum,
    }


def _settings_document(plan: Plan) -> dict[str, object] | None:
    change = plan.settings
    if change is None:
        return None
    return {
        "recorded": change.before is not None,
        "changed": [
            {"setting": k, "before": old, "after": new} for k, old, new in change.changed()
        ],
        "before": change.digest_before,
        "after": change.digest_after,
    }


def _drift_document(plan: Plan) -> dict[str, object]:
    return {
        "engageOptOuts": plan.engage_opt_outs,
        "drift": [
            {
                "campaignId": d.campaign_id,
                "externId": d.extern_id,
                "kind": d.kind.value,
                "leadState": d.lead_state,
                **({"fields": list(d.fields)} if d.fields else {}),
            }
            for ls in plan.leadsets
            for d in sorted(ls.drift, key=lambda d: (_DRIFT_ORDER[d.kind], d.extern_id))
        ],
        "unmanaged": {
            str(ls.campaign.id): ls.unmanaged for ls in plan.leadsets if ls.unmanaged is not None
        },
    }


def write_json(plan: Plan, out: TextIO, rails: Sequence[str] = ()) -> None:
    """The JSON plan, written change by change: byte for byte what `json.dumps(plan_document(...),
    indent=2, sort_keys=True)` gives, without a million-entry document in memory (issue #13).
    `changes` sorts first among the keys, so the rest of the document follows it."""
    skeleton = json.dumps(plan_document(plan, rails, with_changes=False), indent=2, sort_keys=True)
    head, marker, tail = skeleton.partition('  "changes": [],\n')
    assert marker, "the plan document lost its changes key"
    out.write(head)
    changes = ((c, ls.deadlines) for ls in plan.leadsets for c in ls.changes())
    first = next(changes, None)
    if first is None:
        out.write(marker)
    else:
        out.write('  "changes": [\n')
        out.write(_change_text(*first))
        for change, deadlines in changes:
            out.write(",\n")
            out.write(_change_text(change, deadlines))
        out.write("\n  ],\n")
    out.write(tail)
    out.write("\n")


# what json.dumps does to one string (ASCII, escaped): the C function JSONEncoder.encode calls
_text = json.encoder.encode_basestring_ascii


def _change_text(c: Change, deadlines: Mapping[str, Deadline]) -> str:
    """One change as `json.dumps(item, indent=2, sort_keys=True)` indents it at depth 2, made
    directly: a million changes would spend most of their time in json.dumps's own set-up."""
    if c.kind is ChangeKind.CREATE and c.line is not None and c.file is not None:  # most of them
        return (
            f'    {{\n      "action": "create",\n      "campaignId": {c.campaign_id},\n'
            f'      "externId": {_text(c.extern_id)},\n      "file": {_file_text(c.file)},\n'
            f'      "line": {c.line}\n    }}'
        )
    lines = [
        "    {",
        f'      "action": "{c.kind.value}",',
        f'      "campaignId": {c.campaign_id},',
    ]
    if c.kind is ChangeKind.BLOCKED:
        lines.append(f'      "doNotCall": {_text(c.note or "")},')
    lines.append(f'      "externId": {_text(c.extern_id)},')
    if c.kind in (ChangeKind.UPDATE, ChangeKind.REPLACE):
        if c.fields:
            names = ",\n".join(f"        {_text(f)}" for f in c.fields)
            lines.append(f'      "fields": [\n{names}\n      ],')
        else:
            lines.append('      "fields": [],')
    lines.append(f'      "file": {_text(c.file) if c.file is not None else "null"},')
    line = str(c.line) if c.line is not None else "null"
    d = deadlines.get(c.extern_id) if c.reason is RemoveReason.REMOVED else None
    if d is not None:
        lines.append(f'      "line": {line},')
        fields = json.dumps(_deadline_fields(d), indent=2, sort_keys=True)
        lines.append('      "optOut": ' + fields.replace("\n", "\n      ") + ",")
        lines.append(f'      "reason": "{RemoveReason.REMOVED.value}"')
    elif c.reason is not None:
        lines.append(f'      "line": {line},')
        lines.append(f'      "reason": "{c.reason.value}"')
    else:
        lines.append(f'      "line": {line}')
    lines.append("    }")
    return "\n".join(lines)


@functools.lru_cache(maxsize=256)
def _file_text(file: str) -> str:
    return _text(file)


def _md_where(change: Change, source_url: str | None) -> str:
    text = md_code(_where(change))
    if not (source_url and change.file and change.line):
        return text
    target = quote(change.file.replace("\\", "/")) + f"#L{change.line}"
    return f"[{text}]({source_url}{target})"


def render_markdown(
    plan: Plan,
    rails: Sequence[str] = (),
    budget: int = MARKDOWN_BUDGET,
    source_url: str | None = None,
) -> str:
    """A pull-request comment: summary, warnings, changes in <details>, checksum; under budget.

    With `source_url` (`https://github.com/OWNER/REPO/blob/SHA/`), each `where` cell links to
    that line of that file, as tfcmt and Atlantis link to their sources.
    """
    head = [MARKER, "## engage-sync plan", "", f"**{summary_line(plan)}**", ""]
    if plan.leadsets:
        head += [
            "| campaign | name | remove | replace | update | create | orphaned | unchanged |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        head += [
            f"| {ls.campaign.id} | {md_code(ls.campaign.name or '')} | {len(ls.removals)} | "
            f"{len(ls.replaces)} | {len(ls.updates)} | {len(ls.creates)} | {len(ls.orphans)} | "
            f"{ls.unchanged} |"
            for ls in plan.leadsets
        ]
        head.append("")
    # values from the files or the state in these lines (externIds, option values) are shown
    # as code when they could render as anything but themselves (display.md_text)
    warnings = [
        f"- :warning: campaign {ls.campaign.id}: {md_text(w)}"
        for ls in plan.leadsets
        for w in ls.warnings
    ]
    warnings += [
        f"- :warning: campaign {ls.campaign.id}: {md_text(w)}"
        for ls in plan.leadsets
        for w in due_soon(ls)
    ]
    warnings += [
        f"- :no_entry_sign: campaign {ls.campaign.id}: {len(ls.blocked)} lead(s) blocked: their "
        "phone is on the do-not-call set, so apply never loads them"
        for ls in plan.leadsets
        if ls.blocked
    ]
    warnings = [f"- :x: {md_text(e)}" for e in overdue(plan, limit=20)] + warnings
    warnings += [f"- :warning: {md_text(w)}" for w in plan.warnings]
    warnings += [f"- :no_entry: apply will refuse unless `--force`: {md_text(r)}" for r in rails]
    if warnings:
        head += ["### Warnings", "", *warnings, ""]
    shown = settings_lines(plan)
    if shown:
        head += ["### Settings", "", md_text(shown[0]), ""]
        head += [f"- {md_code(line.strip(), table=False)}" for line in shown[1:]]
    if plan.stops:
        head += ["### Do not call", ""]
        head += [f"- {md_text(line.strip())}" for line in stop_lines(plan, limit=20)]
        head.append("")
    if plan.refreshed:
        head += ["### Changed outside engage-sync since the last apply", ""]
        head += [f"- {md_text(line.strip())}" for line in drift_lines(plan, limit=10)[1:-1]]
        head.append("")
    tail = [
        "",
        f"Plan checksum: `{plan.checksum}`",
        "",
        f"Apply exactly this plan with `engage-sync apply --checksum {plan.checksum}`.",
        "",
    ]
    budget -= 200  # room for the "N more change(s) not shown" line
    used = sum(len(x) + 1 for x in head + tail)
    body: list[str] = []
    hidden = 0
    for ls in plan.leadsets:
        # removals stop calls and replacements and updates touch what is already in Engage: list
        # them before the creates, so they are the ones shown when a large plan goes past budget
        changes = Joined((ls.removals, ls.blocked, ls.replaces, ls.updates, ls.orphans, ls.creates))
        if not changes:
            continue
        opening = [
            f"<details><summary>campaign {ls.campaign.id}: {len(changes)} change(s)</summary>",
            "",
            "| action | externId | where | fields / reason |",
            "| --- | --- | --- | --- |",
        ]
        closing = ["", "</details>", ""]
        cost = sum(len(x) + 1 for x in opening + closing)
        if used + cost > budget:
            hidden += len(changes)
            continue
        used += cost
        body += opening
        for i, c in enumerate(changes):
            detail = ", ".join(c.fields) or (c.reason.value if c.reason else "")
            if c.kind is ChangeKind.BLOCKED:
                detail = f"do not call: {c.note}; never loaded"
            d = ls.deadlines.get(c.extern_id) if c.reason is RemoveReason.REMOVED else None
            if d is not None:
                detail += f"; {d.describe()}"
            row = (
                f"| {c.kind.value} | {md_code(c.extern_id)} | {_md_where(c, source_url)} | "
                f"{md_text(detail, table=True)} |"
            )
            if used + len(row) + 1 > budget:
                hidden += len(changes) - i
                break
            body.append(row)
            used += len(row) + 1
        body += closing
    if hidden:
        body.append(
            f"_{hidden} more change(s) not shown to keep this comment under GitHub's size "
            "limit; the JSON plan artifact lists them all._"
        )
    return "\n".join(head + body + tail)
