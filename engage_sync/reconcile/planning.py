"""The plan operation, beside the apply operation (operation.py): what `plan`, `ci plan` and
`ci drift` render.

It reads the lead sets against the state (offline), looks at Engage when given a client
(`--refresh`), writes the change set the checksum covers when asked, and returns a `PlanOutcome`:
the plan as shown and the facts the commands decide on (counts, the checksum, whether anything
calls for attention) as typed values. The commands render it and choose exit codes from it; none
reads another command's text back (issue #33).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Protocol

from .. import workspace
from ..changeset import write_changeset
from ..config import Config
from ..engage import EngageApi
from ..leadsets.problems import Sink
from ..leadsets.sources import Source
from ..model import ALARMING_DRIFT, ChangeKind, Lead, Plan
from ..progress import Meter
from ..render import opt_out_counts
from .refresh import refresh as look


class Attention(enum.Enum):
    """What a plan calls for; the commands map it to an exit code (`--detailed-exitcode`)."""

    NONE = "none"
    CHANGES = "changes"  # changes to carry out, or Engage drifted (the drift check: drift only)
    OVERDUE = "overdue"  # an opt-out past its deadline: before anything else


@dataclass(frozen=True)
class PlanRequest:
    """What one plan is asked for (the `plan` flags; `ci plan` and `ci drift` set their own)."""

    paths: tuple[str, ...] = ()
    # only what changed in Engage outside engage-sync (`--refresh-only`, the drift check): the
    # plan's own changes neither call for attention nor make a change set
    drift_only: bool = False
    default_account: str | None = None  # for the look at Engage
    changes_to: Path | None = None  # write the change set the checksum covers here


class PlanHooks(Protocol):
    """How the operation shows what it does on the way; the command implements it."""

    def reading(self) -> Meter | None:
        """What counts the leads as the lead sets are read (None: nothing does)."""

    def read(self, sink: Sink) -> None:
        """The lead sets are read (warnings in `sink`), before Engage is looked at."""


@dataclass(frozen=True, slots=True)
class PlanCounts:
    """A plan's numbers, as its summary line shows them."""

    create: int
    update: int
    replace: int
    remove: int
    orphaned: int
    blocked: int
    unchanged: int
    settings: bool  # engage-sync.yaml changed since the last apply: one item more
    overdue: int  # opt-outs (and do-not-call phones) past their deadline
    drifted: bool  # Engage changed in a way the drift check fails on, or holds opt-outs to pull

    @classmethod
    def of(cls, plan: Plan) -> PlanCounts:
        drifted = any(d.kind in ALARMING_DRIFT for ls in plan.leadsets for d in ls.drift)
        return cls(
            create=plan.count(ChangeKind.CREATE),
            update=plan.count(ChangeKind.UPDATE),
            replace=plan.count(ChangeKind.REPLACE),
            remove=plan.count(ChangeKind.REMOVE),
            orphaned=plan.count(ChangeKind.ORPHAN),
            blocked=plan.count(ChangeKind.BLOCKED),
            unchanged=plan.unchanged,
            settings=plan.settings is not None,
            overdue=opt_out_counts(plan)["overdue"],
            drifted=drifted or bool(plan.engage_opt_outs),
        )

    @property
    def to_carry_out(self) -> int:
        """The change set's items: every change but the orphans (apply does nothing with them)."""
        loads = self.create + self.update + self.replace
        return loads + self.remove + self.blocked + int(self.settings)


@dataclass(frozen=True)
class PlanOutcome:
    plan: Plan  # as shown: with Engage's drift when it looked
    offline: Plan  # the files against the state: what a review covers and apply checks
    rails: tuple[str, ...]
    drift_only: bool
    counts: PlanCounts
    written: int | None = None  # the change set's items, when one was written
    sources: list[Source] = field(default_factory=list, repr=False)

    @property
    def checksum(self) -> str:
        """The checksum a reviewer approves (the change set's; drift corrections are no part)."""
        return self.offline.checksum

    @property
    def attention(self) -> Attention:
        """The one rule for which outcome wins: a late opt-out, then changes or drift."""
        if self.counts.overdue:
            return Attention.OVERDUE
        changed = self.counts.drifted
        if not self.drift_only:
            changed = changed or self.plan.has_changes
        return Attention.CHANGES if changed else Attention.NONE

    def leads_shown(self, limit: int) -> Mapping[tuple[int, str], Lead]:
        """The leads of the first `limit` loads of each lead set (`--show-pii`), by key."""
        wanted = {
            (c.campaign_id, c.extern_id)
            for ls in self.plan.leadsets
            for c in islice(chain(ls.creates, ls.updates, ls.replaces), limit)
        }
        return workspace.leads_by_key(self.sources, wanted)


def plan(
    request: PlanRequest,
    config: Config,
    state_path: Path,
    client: EngageApi | None,
    hooks: PlanHooks,
) -> PlanOutcome:
    """Read, plan, look at Engage when given a client, write the change set when asked.
    Raises for invalid lead sets (all their problems at once) and what Engage refuses."""
    # a look compares the declared phones with Engage's: it reads every lead set
    planned = workspace.build_plan(
        request.paths,
        config,
        state_path,
        incremental=client is None,
        meter=hooks.reading(),
    )
    hooks.read(planned.sink)
    shown = planned.plan
    if client is not None:
        with client:
            shown = look(
                shown,
                planned.state,
                planned.sources,
                client,
                request.default_account,
                planned.registry,
                config.opt_outs,
            )
    written = None
    if request.changes_to is not None and not request.drift_only:
        written = write_changeset(planned.plan, request.changes_to)  # offline: drift is none
    return PlanOutcome(
        plan=shown,
        offline=planned.plan,
        rails=tuple(planned.rails),
        drift_only=request.drift_only,
        counts=PlanCounts.of(shown),
        written=written,
        sources=planned.sources,
    )
