"""Loading what a command works on: settings, lead-set files, state, and the plan between them."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from . import leadsets
from .config import DEFAULT_LEADSETS, DEFAULT_STATE, Config, pick
from .errors import InputError, StateError, ValidationFailed
from .incremental import partial as partials
from .incremental import seal as seals
from .incremental.partial import Partial
from .incremental.seal import Chunk, Group, Seal
from .leadsets import DUPLICATE_EFFECT, Sink, Source, chunks
from .leadsets.chunks import Cut
from .model import Desired, Lead, LeadSetPlan, Plan, RemoveReason
from .optouts import Deadline, OptOutRules, Pending, requested_dates
from .optouts.history import blame
from .planner import plan as make_plan
from .progress import Meter, count_lines, counted
from .rails import tripped
from .state import CampaignState, State, load_state
from .state.file import MalformedEntry


def state_path(flag: str | None, config: Config) -> Path:
    return Path(pick(flag, "ENGAGE_SYNC_STATE", config.state, DEFAULT_STATE))


def leadset_paths(paths: Sequence[str], config: Config) -> tuple[list[str], bool]:
    """The paths to read, and whether they are the whole configured folder (not a subset)."""
    if paths:
        return list(paths), False
    return [str(pick(None, None, config.leadsets, DEFAULT_LEADSETS))], True


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


@dataclass
class Inputs:
    sources: list[Source]
    sink: Sink
    whole: bool  # the whole configured folder, not a subset
    skipped: dict[int, Seal] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)  # shown path -> sha256
    key: str = ""
    # campaigns whose leads all come from one leadsFile: its chunks (sealed with them), and
    # those of them read in part (incremental/partial.py)
    chunked: dict[int, Cut] = field(default_factory=dict)
    partials: dict[int, Partial] = field(default_factory=dict)


def read_sources(paths: Sequence[str], config: Config) -> tuple[list[Source], Sink, bool]:
    found = read_inputs(paths, config)
    return found.sources, found.sink, found.whole


def read_inputs(
    paths: Sequence[str],
    config: Config,
    state: State | None = None,
    partial: bool = True,
    sealing: bool = False,
) -> Inputs:
    """Parse the lead-set files; with a state, not those of campaigns it holds in sync, and of a
    sealed campaign whose leadsFile changed only the chunks that changed (`partial`). `sealing`:
    cut every leadsFile that may be sealed into chunks (what apply records).

    Every file is hashed before it is parsed: a file edited while it is read is recorded with
    its older bytes, so the next plan reads it again rather than trusting it.
    """
    chosen, whole = leadset_paths(paths, config)
    sink = Sink()
    files = leadsets.discover(chosen)
    load = functools.partial(
        leadsets.load_sources,
        defaults=config.options,
        sink=sink,
        prune=config.prune,
        prune_action=config.prune_action,
    )
    if state is None:
        return Inputs(load(files), sink, whole)
    shown = {leadsets.shown_path(f): f for f in files}
    digests: dict[str, str | None] = {}
    skipped, key = _trusted(state, config, shown, digests)
    sealed_files = {f for seal in skipped.values() for f in seal.files}
    sources = load([f for name, f in shown.items() if name not in sealed_files])
    # a new or changed file that declares a sealed campaign: read that campaign whole
    for cid in {s.meta.campaign.id for s in sources} & skipped.keys():
        sources += load([shown[name] for name in skipped.pop(cid).files])
    for cid, seal in skipped.items():  # what reading them would find, found without reading
        for file, line, name, message in seal.warnings:
            sink.add(file, line, name, message, warn=True)
        if seal.shared_phones:
            sink.shared_phones[cid] = seal.shared_phones
    order = {f: i for i, f in enumerate(files)}
    sources.sort(key=lambda s: order[s.path])
    found = Inputs(sources, sink, whole, skipped, digests, key)
    _chunk(found, state, partial, sealing)
    for source in sources:
        if source.leads_path is not None and source.meta.leads_file not in digests:
            assert source.meta.leads_file is not None
            digests[source.meta.leads_file] = seals.file_digest(source.leads_path)
    return found


def _chunk(found: Inputs, state: State, partial: bool, sealing: bool) -> None:
    """Of a sealed campaign whose leadsFile is its only lead source and whose other files are as
    sealed, read only the chunks that changed (incremental/partial.py); when `sealing`, cut the
    leadsFile of every such campaign read into chunks (its seal records them)."""
    by_campaign: dict[int, list[Source]] = {}
    for s in found.sources:
        by_campaign.setdefault(s.meta.campaign.id, []).append(s)
    for cid, group in by_campaign.items():
        source = group[0]
        if len(group) > 1 or source.inline or source.leads_path is None:
            continue
        seal = _chunked_seal(found, state.campaigns.get(cid), source) if partial else None
        if seal is None and not sealing:
            continue
        assert source.meta.leads_file is not None
        csv_file = source.leads_path.suffix.lower() == ".csv"
        cut = chunks.cut(source.leads_path, csv_file)
        if cut is None:
            continue
        found.digests[source.meta.leads_file] = cut.digest
        found.chunked[cid] = cut
        matched = partials.match(seal, cut, csv_file, state.campaigns[cid].leads) if seal else None
        if matched is not None:
            source.ranges = matched.ranges()
            found.partials[cid] = matched


def _chunked_seal(found: Inputs, camp: CampaignState | None, source: Source) -> Seal | None:
    """The campaign's seal, when it has chunks and holds but for the bytes of the leadsFile."""
    if camp is None or camp.seal is None or camp.in_doubt:
        return None
    seal = Seal.from_json(camp.seal)
    if (
        seal is None
        or not seal.chunks
        or seal.key != found.key
        or seal.leads != len(camp.leads)
        or seal.files != (source.meta.path,)
        or seal.leads_file != source.meta.leads_file
        or any(found.digests.get(p) != sha for p, sha in seal.inputs if p != seal.leads_file)
    ):
        return None
    return seal


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
            raise ValidationFailed(list(self._sink.problems))
        return self._plan


def plan_reading(
    desired: Sequence[Desired],
    state: State,
    sink: Sink,
    include_undeclared: bool,
    settings: Mapping[str, Any] | None = None,
) -> Unchecked:
    """Plan the lead sets while they are read and checked (their problems land in `sink`)."""
    plan = make_plan(
        desired,
        state,
        include_undeclared=include_undeclared and not sink.errors,
        settings=settings,
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


def _trusted(
    state: State, config: Config, shown: dict[str, Path], digests: dict[str, str | None]
) -> tuple[dict[int, Seal], str]:
    """The campaigns whose seals still hold for the files found now, and the settings key."""
    key = seals.settings_key(config.options, config.prune, config.prune_action)
    digests.update({name: seals.file_digest(f) for name, f in shown.items()})
    found: dict[int, Seal] = {}
    for cid, camp in state.campaigns.items():
        seal = seals.trusted(camp, key, shown, digests)
        if seal is not None:
            found[cid] = seal
    return found, key


def in_sync(state: State, config: Config) -> set[int]:
    """Campaigns a plan would not read (their files are as the last apply sealed them)."""
    chosen, _ = leadset_paths((), config)
    try:
        files = leadsets.discover(chosen)
    except InputError:
        return set()
    shown = {leadsets.shown_path(f): f for f in files}
    return set(_trusted(state, config, shown, {})[0])


def validate(
    paths: Sequence[str], config: Config, meter: Meter | None = None
) -> tuple[Sink, int, int]:
    """Read everything and report every problem; returns (sink, files, leads). `meter` counts
    the leads as they are read."""
    sources, sink, _ = read_sources(paths, config)
    count = 0
    for desired in metered(sources, leadsets.group(sources, sink), meter):
        for _lead in desired.leads:
            count += 1
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
    desired = metered(sources, leadsets.group(sources, sink), meter)
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
            desired, state, sink, include_undeclared=found.whole, settings=config.settings
        )
    except MalformedEntry as e:
        raise StateError(_where_in_state(state_file, e)) from e
    made: dict[int, tuple[Chunk, ...]] = {}
    if found.partials:
        if sink.errors:
            return None  # a full read finds every problem, exactly
        by_id = {ls.campaign.id: ls for ls in unchecked.plan_unchecked.leadsets}
        for cid, bit in found.partials.items():
            chunked = _settle(bit, by_id[cid], sources, sink)
            if chunked is None:
                return None
            made[cid] = chunked
    result = unchecked.checked()  # raises ValidationFailed, with every problem, on an error
    for cid, cut in found.chunked.items() if sealing else ():
        if cid not in made and cid in tallies:
            leads_file = next(s.meta.leads_file for s in sources if s.meta.campaign.id == cid)
            assert leads_file is not None
            made[cid] = tallies[cid].chunks(cut, sink.slow_lines(leads_file))
    handling = {d.campaign.id: str(d.options.get("duplicateHandling")) for d in desired}
    shared = tuple(
        f"campaign {cid}: {n} lead(s) share a phone with an earlier lead; with "
        f"duplicateHandling {handling[cid]} {DUPLICATE_EFFECT.get(handling[cid], '')}"
        for cid, n in sorted(sink.shared_phones.items())
    )
    result = replace(result, warnings=result.warnings + shared)
    result = with_deadlines(result, desired, state, config.opt_outs)
    return Planned(
        result,
        state,
        sources,
        sink,
        tripped(result, config.rails),
        frozenset(found.skipped),
        _seals(result, found, sources, made) if incremental and sealing else {},
        frozenset(found.partials),
    )


def _settle(
    bit: partials.Partial, ls: LeadSetPlan, sources: Sequence[Source], sink: Sink
) -> tuple[Chunk, ...] | None:
    """partial.settle, given the phones of the leads created or changed (noted as they were
    read: the planner tells them by the same hashes)."""
    changed = {c.extern_id for c in (*ls.updates, *ls.replaces, *ls.creates)}
    noted = bit.tally.phones
    if not changed <= noted.keys():
        return None  # not as the planner told them: read whole rather than guess
    source = next(s for s in sources if s.meta.campaign.id == ls.campaign.id)
    assert source.leads_path is not None
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


def _seals(
    result: Plan,
    found: Inputs,
    sources: Sequence[Source],
    chunked: Mapping[int, tuple[Chunk, ...]],
) -> dict[int, Seal]:
    """For each campaign read, the seal it gets if apply carries out all of its plan."""
    inputs: dict[int, list[tuple[str, str | None]]] = {}
    for s in sources:
        pairs = inputs.setdefault(s.meta.campaign.id, [])
        for name in (s.meta.path, s.meta.leads_file):
            if name is not None:
                pairs.append((name, found.digests.get(name)))
    made: dict[int, Seal] = {}
    for ls in result.leadsets:
        cid = ls.campaign.id
        if cid in found.skipped or cid not in inputs:
            continue
        shared = found.sink.shared_phones.get(cid, 0)
        parts = None
        if cid in chunked:
            leads_file = next(s.meta.leads_file for s in sources if s.meta.campaign.id == cid)
            assert leads_file is not None
            groups = found.sink.shared_groups.get(cid, [])
            ordered = sorted((tuple(sorted(g, key=lambda m: m[1])) for g in groups), key=_first)
            parts = (leads_file, chunked[cid], tuple(ordered))
        seal = seals.seal_for(ls, inputs[cid], found.key, found.sink.problems, shared, parts)
        if seal is not None:
            made[cid] = seal
    return made


def _first(group: Group) -> int:
    return group[0][1]


def record_seals(planned: Planned, done: Callable[[int], bool]) -> int:
    """After an apply: seal each campaign whose plan was clean and carried out (`done`), when
    the state agrees (the declared count of leads, none in doubt). Returns how many changed."""
    changed = 0
    for cid, seal in planned.seals.items():
        camp = planned.state.campaigns.get(cid)
        if camp is None or camp.in_doubt or len(camp.leads) != seal.leads or not done(cid):
            continue
        raw = seal.to_json()
        if camp.seal != raw:
            camp.seal = raw
            changed += 1
    return changed


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
