"""The plan between the lead sets and the state: validated, read incrementally where it can be
(incremental/inputs.py reads the inputs, campaign by campaign), with its deadlines and stops."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Any

from . import leadsets, settings
from .config import DEFAULT_STATE, Config
from .display import printable
from .donotcall.registry import Registry
from .errors import ConfigError, StateError
from .incremental import partial as partials
from .incremental.inputs import (
    CampaignInputs,
    Inputs,
    do_not_call,
    in_sync,
    leadset_paths,
    make_seals,
    read_inputs,
    read_sources,
)
from .incremental.inputs import record_seals as _record_seals
from .incremental.seal import Chunk, Seal
from .leadsets import DUPLICATE_EFFECT, Sink, Source, boundary
from .model import Desired, Lead, LeadSetPlan, PhoneStop, Plan, RemoveReason
from .optouts import (
    DateSource,
    Deadline,
    OptOutRules,
    Pending,
    Requested,
    ledger_path,
    requested_dates,
)
from .optouts.history import blame
from .planner import plan as make_plan
from .progress import Meter, count_lines, counted
from .rails import tripped
from .settings import table
from .state import State, load_state
from .state.file import MalformedEntry
from .state.lock import lock_path

__all__ = [
    "CampaignInputs",
    "Inputs",
    "Planned",
    "build_plan",
    "do_not_call",
    "in_sync",
    "leadset_paths",
    "read_inputs",
    "read_sources",
    "record_seals",
    "state_path",
    "validate",
]


def state_path(flag: str | None, config: Config) -> Path:
    """The state file: --state or ENGAGE_SYNC_STATE anywhere (the user chose it); else the
    `state:` setting or the default, which must resolve inside the repository (a repository
    setting or a symbolic link committed there must not send the state, its journal, lock or
    evidence ledger elsewhere). Whichever it is, none of them may be other than a regular file.
    """
    chosen = settings.chosen(table.STATE, flag)  # not the file's: that one is checked below
    inside = None
    if chosen is not None:
        path = Path(chosen)
    else:
        path, inside = Path(config.state or DEFAULT_STATE), boundary.root()
        # a setting that names a place outside (a link inside that leads out: check_file says)
        if not (boundary.lexically_inside(path, inside) or path.resolve().is_relative_to(inside)):
            raise ConfigError(
                f"state: {printable(path)}: outside the repository; a state kept elsewhere is "
                "named by --state or ENGAGE_SYNC_STATE"
            )
    for each in (path, path.with_name(path.name + ".journal"), lock_path(path), ledger_path(path)):
        boundary.check_file(each, str(each), inside, missing_ok=True)
    return path


@dataclass
class Planned:
    plan: Plan
    state: State
    sources: list[Source]
    sink: Sink
    rails: list[str]
    # campaigns not read (their files are what the last apply recorded), and the seal each
    # read campaign gets if apply carries all of its plan out (see incremental/seal.py)
    skipped: frozenset[int] = frozenset()
    seals: dict[int, Seal] = field(default_factory=dict)
    partial: frozenset[int] = frozenset()  # campaigns of which only changed chunks were read
    registry: Registry = field(default_factory=Registry)  # the do-not-call set (issue #30)
    # each campaign's inputs, read once (incremental/inputs.py): apply's pass over the leads
    # takes them from here
    inputs: dict[int, CampaignInputs] = field(default_factory=dict)


def record_seals(planned: Planned, done: Callable[[int], bool]) -> int:
    """After an apply: seal each campaign whose plan was clean and carried out (`done`), when
    the state agrees (the declared count of leads, none in doubt). Returns how many changed."""
    return _record_seals(planned.state, planned.seals, done)


class Unchecked:
    """A plan made in the pass that also validated its leads (one read of a million rows, not
    two): it counts only once that reading is known to be free of errors, so the plan is had
    through `checked` alone."""

    def __init__(self, plan: Plan, sink: Sink) -> None:
        self._plan, self._sink = plan, sink

    @property
    def plan_unchecked(self) -> Plan:
        """The plan before its reading is known to be clean: only to check a partial read."""
        return self._plan

    def checked(self) -> Plan:
        if self._sink.errors:
            raise self._sink.failure()
        return self._plan


def plan_reading(
    desired: Sequence[Desired],
    state: State,
    sink: Sink,
    include_undeclared: bool,
    registry: Registry | None = None,
    settings: Mapping[str, Any] | None = None,
    target_of: Callable[[str | None], str] | None = None,
) -> Unchecked:
    """Plan the lead sets while they are read and checked (their problems land in `sink`)."""
    plan = make_plan(
        desired,
        state,
        include_undeclared=include_undeclared and not sink.errors,
        do_not_call=registry.blocked_by if registry else None,
        settings=settings,
        target_of=target_of,
    )
    return Unchecked(plan, sink)


def _where_in_state(path: Path, e: MalformedEntry) -> str:
    """The malformed entry's line in the state file, and what to do about it."""
    needle = json.dumps(e.extern_id) + ":"
    line = 0
    with contextlib.suppress(OSError, UnicodeDecodeError), path.open(encoding="utf-8") as f:
        line = next((n for n, text in enumerate(f, 1) if text.startswith(needle)), 0)
    where = f"{path}:{line}" if line else str(path)
    return (
        f"{where}: {e}: restore the file from git (`git checkout -- {path}`), or drop the lead "
        f"with `engage-sync state rm {e.campaign or 'CAMPAIGN'} {e.extern_id}` so the next "
        "apply loads it again"
    )


def validate(
    paths: Sequence[str], config: Config, meter: Meter | None = None
) -> tuple[Sink, int, int]:
    """Read everything and report every problem; returns (sink, files, leads). `meter` counts
    the leads as they are read."""
    found = read_inputs(paths, config)
    sources, sink = found.sources, found.sink
    registry = found.registry
    state_file = state_path(None, config)
    if state_file.exists():  # the phones stopped before block too (issue #30)
        with contextlib.suppress(StateError):  # validate checks lead sets; plan, the state
            registry = do_not_call(Sink(), sources, load_state(state_file), config, sink)
    count = 0
    for desired in metered(sources, leadsets.group(sources, sink), meter):
        for lead in desired.leads:
            count += 1
            origin = registry.blocked_by(lead) if registry else None
            if origin is not None:
                sink.add(
                    lead.file,
                    lead.line,
                    "leadPhone",
                    f"on the do-not-call set ({origin.where()}): plan blocks it, apply never "
                    "loads it",
                    warn=True,
                )
    return sink, len(sources), count


def metered(
    sources: Sequence[Source], desired: list[Desired], meter: Meter | None
) -> list[Desired]:
    """Each campaign's leads counted by `meter` as they are read, knowing how many lines each
    file read whole has (so it can say what remains)."""
    if meter is None:
        return desired
    for source in sources:
        if source.ranges is not None:  # read in part: how far into the file says little
            continue
        if source.leads_path is not None and source.meta.leads_file is not None:
            path, name = source.leads_path, source.meta.leads_file
        elif source.inline:
            path, name = source.path, source.meta.path
        else:
            continue
        with contextlib.suppress(OSError):
            meter.expect(name, count_lines(path))
    return [replace(d, leads=counted(d.leads, meter)) for d in desired]


def build_plan(
    paths: Sequence[str],
    config: Config,
    state_file: Path,
    incremental: bool = True,
    sealing: bool = False,
    meter: Meter | None = None,
) -> Planned:
    """Validate, then plan against the state. Any error raises ValidationFailed with all of them.

    `incremental`: campaigns the state holds in sync are not read (incremental/seal.py), and of
    a sealed campaign whose leadsFile changed only the chunks that changed (incremental/
    partial.py; read whole when that does not hold); off when every lead must be streamed
    (`--refresh` looks up declared phones). `sealing`: also make the seals apply records
    (`Planned.seals`, with each leadsFile's chunks: about a second a million leads; a plan
    leaves them out). `meter` counts the leads as they are read.
    """
    state = load_state(state_file)
    build = functools.partial(_build, paths, config, state, state_file, incremental, meter=meter)
    planned = build(partial=incremental, sealing=sealing)
    if planned is None:  # a partial read did not hold: read those campaigns whole
        planned = build(partial=False, sealing=sealing)
        assert planned is not None
    return planned


def _build(
    paths: Sequence[str],
    config: Config,
    state: State,
    state_file: Path,
    incremental: bool,
    partial: bool,
    sealing: bool = False,
    meter: Meter | None = None,
) -> Planned | None:
    found = read_inputs(paths, config, state if incremental else None, partial, sealing)
    sources, sink = found.sources, found.sink
    if not incremental:  # the state's stopped phones block all the same (issue #30)
        found.registry = do_not_call(Sink(), sources, state, config, sink)
    desired = metered(sources, leadsets.group(sources, sink), meter)
    pruning = []
    if not found.whole:  # like Terraform's -target: what was not read is never removed
        pruning = [d.campaign.id for d in desired if d.prune]
        desired = [replace(d, prune=False, targeted=True) for d in desired]
    tallies: dict[int, partials.Tally] = {}
    for i, d in enumerate(desired):
        cid, bit = d.campaign.id, found.partials.get(d.campaign.id)
        if bit is not None:
            tallies[cid] = bit.tally
        elif sealing and cid in found.chunked:
            tallies[cid] = partials.Tally(found.chunked[cid].spans)
        else:
            continue
        desired[i] = replace(d, leads=tallies[cid].wrap(d.leads), unread=bit is not None)
    desired += [seal.desired(cid) for cid, seal in found.skipped.items()]
    desired.sort(key=lambda d: d.campaign.id)  # the checksum follows this order
    try:
        unchecked = plan_reading(
            desired,
            state,
            sink,
            found.whole,
            found.registry,
            settings=config.settings,
            target_of=config.target,
        )
    except MalformedEntry as e:
        raise StateError(_where_in_state(state_file, e)) from e
    made: dict[int, tuple[Chunk, ...]] = {}
    if found.partials:
        if sink.errors or any(ls.blocked for ls in unchecked.plan_unchecked.leadsets):
            return None  # a full read finds every problem, exactly
        by_id = {ls.campaign.id: ls for ls in unchecked.plan_unchecked.leadsets}
        for cid, bit in found.partials.items():
            chunked = _settle(bit, by_id[cid], found.campaigns[cid], sink)
            if chunked is None:
                return None
            made[cid] = chunked
    result = unchecked.checked()  # raises ValidationFailed, with every problem, on an error
    for cid, cut in found.chunked.items() if sealing else ():
        if cid not in made and cid in tallies:
            leads_file = found.campaigns[cid].sources[0].meta.leads_file
            assert leads_file is not None
            made[cid] = tallies[cid].chunks(cut, sink.shapes(leads_file))
    handling = {d.campaign.id: str(d.options.get("duplicateHandling")) for d in desired}
    shared = tuple(
        f"campaign {cid}: {n} lead(s) share a phone with an earlier lead; with "
        f"duplicateHandling {handling[cid]} {DUPLICATE_EFFECT.get(handling[cid], '')}"
        for cid, n in sorted(sink.shared_phones.items())
    )
    limited = (
        (
            "this plan reads only the paths given: leads that other files declare are not "
            "looked at, so nothing is pruned or reported as orphaned"
            + (f" (prune is on for campaign(s) {', '.join(map(str, pruning))})" if pruning else "")
            + "; plan the whole folder for that",
        )
        if not found.whole
        else ()
    )
    result = replace(result, warnings=result.warnings + shared + limited)
    result = with_deadlines(result, desired, state, config.opt_outs)
    result = with_stops(result, found.registry, config.opt_outs)
    return Planned(
        result,
        state,
        sources,
        sink,
        tripped(result, config.rails),
        frozenset(found.skipped),
        make_seals(result, found, made) if incremental and sealing else {},
        frozenset(found.partials),
        found.registry,
        found.campaigns,
    )


def _settle(
    bit: partials.Partial, ls: LeadSetPlan, inputs: CampaignInputs, sink: Sink
) -> tuple[Chunk, ...] | None:
    """partial.settle, given the phones of the leads created or changed (noted as they were
    read: the planner tells them by the same hashes)."""
    changed = {c.extern_id for c in chain(ls.updates, ls.replaces, ls.creates)}
    noted = bit.tally.phones
    if not changed <= noted.keys():
        return None  # not as the planner told them: read whole rather than guess
    source = inputs.leads_file
    assert source is not None and source.leads_path is not None
    phones = {eid: noted[eid] for eid in changed}
    return partials.settle(bit, ls, sink, source.leads_path, phones)


def with_deadlines(
    result: Plan, desired: Sequence[Desired], state: State, rules: OptOutRules
) -> Plan:
    """Each tombstone still to carry out gets when it was asked for and its deadline (optouts/).
    Not part of the checksum: the plan a reviewer approved stays that plan the next day."""
    marks = {d.campaign.id: {t.extern_id: t for t in d.tombstones} for d in desired}
    today: date | None = None
    leadsets = []

    def dated(file: str, lines: Iterable[int]) -> dict[int, tuple[str, date]]:
        return blame(Path(file), lines, rules.zone)

    for ls in result.leadsets:
        mine = marks.get(ls.campaign.id, {})
        pending = [
            Pending(c.extern_id, c.file, c.line, mine[c.extern_id].requested)
            for c in ls.removals
            if c.reason is RemoveReason.REMOVED and c.extern_id in mine and c.file and c.line
        ]
        if not pending:
            leadsets.append(ls)
            continue
        today = today or rules.today()
        camp = state.campaigns.get(ls.campaign.id)
        recorded = camp.requested if camp is not None else {}
        dates = requested_dates(pending, recorded, dated, today)
        deadlines = {eid: Deadline(r, today, rules) for eid, r in dates.items()}
        leadsets.append(replace(ls, deadlines=deadlines))
    return replace(result, leadsets=tuple(leadsets)) if today is not None else result


def with_stops(result: Plan, registry: Registry, rules: OptOutRules) -> Plan:
    """The phones apply stops first (issue #30), each with its deadline; not in the checksum."""
    pending = registry.pending()
    if not pending:
        return result
    today = rules.today()
    stops = []
    for p in pending:
        day = p.origin.requested
        requested = Requested(day or today, DateSource.LEAD_SET if day else DateSource.FIRST_SEEN)
        stops.append(
            PhoneStop(
                p.origin.file, p.origin.line, p.origin.source, Deadline(requested, today, rules)
            )
        )
    stops.sort(key=lambda s: (s.deadline.due, s.file, s.line))
    return replace(result, stops=tuple(stops))


def leads_by_key(
    sources: Sequence[Source], wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], Lead]:
    """Stream the lead sets again and keep only the wanted leads (for --show-pii)."""
    found: dict[tuple[int, str], Lead] = {}
    for source in sources:
        cid = source.meta.campaign.id
        for lead in leadsets.stream(source):
            if (cid, lead.extern_id) in wanted:
                found[(cid, lead.extern_id)] = lead
    return found
