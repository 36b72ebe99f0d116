"""Pure planning: plan(desired lead sets, state) -> Plan. No I/O: leads arrive as iterables, and
each campaign's creates go to a spool (spool.py: the first thousands in memory, the rest in a
temporary file)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol

from ..changeset import SETTINGS, Checksum, escape, item, load_key, removal_key, settings_item
from ..donotcall.registry import Origin
from ..model import (
    PHONE_FIELDS,
    CampaignRef,
    Change,
    ChangeKind,
    Desired,
    Lead,
    LeadSetPlan,
    LoadOptions,
    Plan,
    RemoveReason,
    SettingsChange,
    describe_target,
    same_target,
)
from ..state.file import MalformedEntry
from .spool import Spool


class CampaignView(Protocol):
    """What the planner reads of a campaign's state (state.CampaignState); it changes nothing."""

    @property
    def leads(self) -> Mapping[str, str]: ...
    @property
    def in_doubt(self) -> AbstractSet[str]: ...
    @property
    def removed(self) -> AbstractSet[str]: ...
    @property
    def files(self) -> AbstractSet[str]: ...
    @property
    def options(self) -> Mapping[str, object] | None: ...
    @property
    def target(self) -> str | None: ...
    def changed_fields(self, lead: Lead) -> tuple[str, ...]: ...
    def reloading(self) -> AbstractSet[str]: ...


class StateView(Protocol):
    """A read-only view of the state (state.State)."""

    @property
    def lineage(self) -> str | None: ...
    @property
    def serial(self) -> int: ...
    @property
    def campaigns(self) -> Mapping[int, CampaignView]: ...
    @property
    def settings(self) -> Mapping[str, object] | None: ...
    @property
    def base_url(self) -> str | None: ...


def plan(
    desired: Iterable[Desired],
    state: StateView,
    include_undeclared: bool = False,
    creates_for: Callable[[int], Spool] = Spool,
    settings: Mapping[str, Any] | None = None,
    do_not_call: Callable[[Lead], Origin | None] | None = None,
    target_of: Callable[[str | None], str] | None = None,
) -> Plan:
    """Compare declared leads with the state by (campaign id, externId) and content hash.

    Pure: the state is only read, and each campaign's creates go where `creates_for` says (a
    spool: the first thousands in memory, the rest in a temporary file). The
    checksum covers the changes apply would carry out and nothing else (changeset.py): not the
    leads that stay unchanged, not orphans, not the state's serial.
    """
    leadsets: list[LeadSetPlan] = []
    digest = Checksum()
    declared_campaigns: set[int] = set()
    # `settings` (engage-sync.yaml as read now; None: not tracked) against the last apply's
    changed = None
    if settings is not None and settings != state.settings:
        changed = SettingsChange(state.settings, settings)
        digest.add(0, SETTINGS, settings_item(changed))
    for want in desired:
        cid = want.campaign.id
        declared_campaigns.add(cid)
        camp = state.campaigns.get(cid)
        target = target_of(want.account) if target_of is not None else None
        moved: Moved | None = None
        # where the state says its leads are (a campaign applied before targets were recorded
        # per campaign: the service the state's last apply sent to)
        recorded = camp.target if camp is not None else None
        if camp is not None and recorded is None and state.base_url is not None:
            recorded = f"@{state.base_url}"
        if camp is not None and recorded is not None and not same_target(recorded, target):
            moved, camp = Moved(recorded, len(camp.leads)), None
        applied = camp.leads if camp is not None else {}
        creates = creates_for(cid)
        updates: list[Change] = []
        replaces: list[Change] = []
        blocked: list[Change] = []
        unchanged = 0
        # owned leads no file declares any more (orphans, prune): start from every owned
        # externId and strike out each one found; no copy of the declared ones is kept
        remaining: set[str] | None = None
        if applied and not want.unread and not want.targeted:
            remaining = set(applied)
        strike = remaining.discard if remaining is not None else None
        in_doubt = camp.in_doubt if camp is not None else set()
        # owned leads whose record an update stopped without loading since: loaded again even
        # when their file says what the state recorded (a revert), as an update with no field
        reloading = camp.reloading() if camp is not None else set()
        doubt: list[str] = []
        key = load_key(target if target is not None else want.account, want.options)
        created = digest.part(cid, ChangeKind.CREATE).update
        head = f"{cid}\tcreate\t"
        tail = f"\t{key}\n"
        get = applied.get
        for lead in want.leads:  # the hot loop: a million leads, keep it lean
            eid = lead.extern_id
            entry = get(eid)
            if in_doubt and eid in in_doubt:
                doubt.append(eid)
            if do_not_call is not None:
                origin = do_not_call(lead)
                if origin is not None:
                    if strike is not None and entry is not None:
                        strike(eid)
                    stop = Change(
                        ChangeKind.BLOCKED, cid, eid, lead.file, lead.line, (), None,
                        lead.digest, entry[:8] if entry is not None else None, origin.where(),
                    )  # fmt: skip
                    blocked.append(stop)
                    digest.add(cid, ChangeKind.BLOCKED, item(stop, key))
                    continue
            if entry is None:
                creates.add(eid, lead.file, lead.line, lead.digest)
                created(f"{head}{escape(eid)}\t\t{lead.digest}{tail}".encode())
                continue
            if strike is not None:
                strike(eid)
            if entry.startswith(lead.digest) and not (reloading and eid in reloading):
                unchanged += 1
                continue
            assert camp is not None
            try:
                fields = camp.changed_fields(lead)
            except MalformedEntry as e:
                e.campaign = cid
                raise
            action = ChangeKind.REPLACE if PHONE_FIELDS.intersection(fields) else ChangeKind.UPDATE
            change = Change(
                action, cid, eid, lead.file, lead.line, fields, None, lead.digest, entry[:8]
            )
            (replaces if action is ChangeKind.REPLACE else updates).append(change)
            digest.add(cid, action, item(change, key))
        if (
            want.unread
        ):  # its leads are the state's, but for the few re-read (incremental/partial.py)
            owned_blocked = sum(1 for c in blocked if c.before is not None)
            unchanged = len(applied) - len(updates) - len(replaces) - owned_blocked
        removals = _tombstoned(want, applied, camp.removed if camp is not None else set())
        tombstoned = {t.extern_id for t in want.tombstones}
        # nothing owned, or a sealed campaign (every owned lead is declared): nothing dropped
        dropped = sorted(remaining - tombstoned) if remaining is not None else []
        if want.prune:
            removals += [
                Change(
                    ChangeKind.REMOVE,
                    cid,
                    eid,
                    None,
                    None,
                    reason=RemoveReason.PRUNE,
                    before=applied[eid][:8],
                )
                for eid in dropped
            ]
            orphans: tuple[Change, ...] = ()
        else:
            orphans = tuple(Change(ChangeKind.ORPHAN, cid, eid, None, None) for eid in dropped)
        gone = removal_key(want.prune_action)
        for change in removals:
            digest.add(cid, ChangeKind.REMOVE, item(change, gone))
        previous = camp.options if camp is not None else None
        leadsets.append(
            _leadset(
                want,
                Changes(creates, updates, replaces, removals, orphans, blocked),
                unchanged,
                len(applied),
                doubt,
                previous,
                target,
                moved,
            )
        )
    if include_undeclared:
        for cid in sorted(state.campaigns.keys() - declared_campaigns):
            camp = state.campaigns[cid]
            if not camp.leads:
                continue
            orphans = tuple(
                Change(ChangeKind.ORPHAN, cid, eid, None, None) for eid in sorted(camp.leads)
            )
            leadsets.append(
                LeadSetPlan(
                    CampaignRef(cid),
                    None,
                    tuple(sorted(camp.files)),
                    LoadOptions(),
                    (),
                    (),
                    orphans,
                    0,
                    len(camp.leads),
                    warnings=("no lead-set file declares this campaign any more",),
                )
            )
    leadsets.sort(key=lambda ls: ls.campaign.id)
    return Plan(tuple(leadsets), state.lineage, state.serial, digest.hexdigest(), settings=changed)


def _tombstoned(
    want: Desired, applied: Mapping[str, str], removed: AbstractSet[str]
) -> list[Change]:
    """A tombstone is work until its removal is recorded: then it stays in git and costs nothing."""
    found: dict[str, Change] = {}
    for t in want.tombstones:
        done = t.extern_id in removed and t.extern_id not in applied
        if not done and t.extern_id not in found:
            entry = applied.get(t.extern_id)
            found[t.extern_id] = Change(
                ChangeKind.REMOVE,
                want.campaign.id,
                t.extern_id,
                t.file,
                t.line,
                reason=RemoveReason.REMOVED,
                before=entry[:8] if entry is not None else None,
                note=None if t.opt_out else NOT_AN_OPT_OUT,
            )
    return [found[k] for k in sorted(found)]


NOT_AN_OPT_OUT = "not an opt-out"  # `optOut: false`: its phones stay off the do-not-call set


@dataclass(frozen=True, slots=True)
class Moved:
    """Where the state says a campaign's leads were loaded, when a plan is for somewhere else."""

    target: str
    leads: int


@dataclass(frozen=True, slots=True)
class Changes:
    creates: Spool
    updates: list[Change]
    replaces: list[Change]
    removals: list[Change]
    orphans: tuple[Change, ...]
    blocked: list[Change]


def _leadset(
    want: Desired,
    changes: Changes,
    unchanged: int,
    applied: int,
    doubt: list[str],
    previous: Mapping[str, object] | None,
    target: str | None = None,
    moved: Moved | None = None,
) -> LeadSetPlan:
    creates, updates, orphans = changes.creates, changes.updates, changes.orphans
    warnings: list[str] = []
    if moved is not None and target is not None:
        warnings.append(
            f"the last apply loaded this campaign into {describe_target(moved.target)}, and "
            f"this plan is for {describe_target(target)}: every lead is a create there; the "
            f"{moved.leads} lead(s) loaded before stay in the other account, and this state "
            "stops tracking them once apply posts here"
        )
    changed = option_changes(previous, want.options.body())
    if changed:
        warnings.append(
            f"options changed since the last apply ({'; '.join(changed)}): they apply to the "
            "leads posted from now on; unchanged leads are not posted again"
        )
    if orphans:
        warnings.append(
            f"{len(orphans)} lead(s) are no longer declared and stay dialable in Engage: list them "
            "under `removed:` to stop calling them, or set `prune: true` to cancel every lead "
            "no file declares"
        )
    if doubt:
        warnings.append(
            f"{len(doubt)} lead(s) were in flight when an earlier apply stopped and may already be "
            "in Engage; apply looks them up first and posts only those Engage does not hold "
            f"(updates are posted again): {', '.join(sorted(doubt)[:20])}"
            + (" ..." if len(doubt) > 20 else "")
        )
    return LeadSetPlan(
        campaign=want.campaign,
        account=want.account,
        files=want.files,
        options=want.options,
        creates=creates,
        updates=tuple(updates),
        orphans=orphans,
        replaces=tuple(changes.replaces),
        removals=tuple(changes.removals),
        blocked=tuple(changes.blocked),
        prune=want.prune,
        prune_action=want.prune_action,
        unchanged=unchanged,
        applied_before=applied,
        in_doubt=tuple(sorted(doubt)),
        warnings=tuple(warnings),
        option_changes=tuple(changed),
        previous_options=LoadOptions.of(previous) if previous is not None else None,
        target=target,
        moved_from=moved.target if moved is not None else None,
    )


def option_changes(old: Mapping[str, object] | None, new: dict[str, object]) -> list[str]:
    """`dialPriority: "NORMAL" -> "IMMEDIATE"` per option that differs (a small structural diff)."""
    if old is None or dict(old) == new:
        return []
    # imported here: deepdiff costs 60 ms of every command's start, and options rarely change
    from deepdiff import DeepDiff

    diff = DeepDiff(dict(old), new, ignore_order=True)
    return [
        f"{key}: {_show(old.get(key))} -> {_show(new.get(key))}"
        for key in sorted(diff.affected_root_keys, key=str)
    ]


def _show(value: object) -> str:
    return "(unset)" if value is None else json.dumps(value)
