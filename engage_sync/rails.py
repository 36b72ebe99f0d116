"""Safety rails: plans apply refuses unless --force (thresholds in engage-sync.yaml `rails:`).

Tombstones are never refused: apply carries them out even when a rail trips (issue #10)."""

from __future__ import annotations

from .config import Rails
from .model import ChangeKind, DialPriority, Plan, RemoveReason


def tripped(plan: Plan, rails: Rails) -> list[str]:
    """Why apply would refuse this plan; empty when every rail holds."""
    found: list[str] = []
    for ls in plan.leadsets:
        cid = ls.campaign.id
        applied = ls.applied_before
        changed = len(ls.updates) + len(ls.replaces)
        if applied >= rails.min_applied_for_update_rail and changed:
            fraction = changed / applied
            if fraction > rails.max_update_fraction:
                found.append(
                    f"campaign {cid}: {changed} updates are {fraction:.0%} of its "
                    f"{applied} applied leads "
                    f"(rails.maxUpdateFraction: {rails.max_update_fraction:g})"
                )
        pruned = sum(1 for c in ls.removals if c.reason is RemoveReason.PRUNE)
        if applied >= rails.min_applied_for_prune_rail and pruned:
            fraction = pruned / applied
            if fraction > rails.max_prune_fraction:
                found.append(
                    f"campaign {cid}: prune would remove {pruned} leads, {fraction:.0%} of its "
                    f"{applied} applied leads "
                    f"(rails.maxPruneFraction: {rails.max_prune_fraction:g})"
                )
        tombstoned = sum(1 for c in ls.removals if c.reason is RemoveReason.REMOVED)
        # a lead blocked by do not call is declared all the same: its file was not emptied
        if applied > tombstoned and ls.declared + len(ls.blocked) == 0:
            found.append(
                f"campaign {cid}: declares no leads but {applied} were applied before "
                "(an emptied file or a broken export?)"
            )
        before = ls.previous_options.dial_priority if ls.previous_options else None
        now = ls.options.dial_priority
        if now is DialPriority.IMMEDIATE and before is not DialPriority.IMMEDIATE:
            posting = ls.to_load
            if posting > rails.max_immediate_leads:
                found.append(
                    f"campaign {cid}: would post {posting} leads with dialPriority IMMEDIATE, "
                    f"ahead of everything in the dialer (rails.maxImmediateLeads: "
                    f"{rails.max_immediate_leads})"
                )
    creates = plan.count(ChangeKind.CREATE)
    if creates > rails.max_creates:
        found.append(
            f"this run would create {creates} leads (rails.maxCreates: {rails.max_creates})"
        )
    return found
