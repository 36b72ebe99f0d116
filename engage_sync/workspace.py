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
from .display import printable
from .donotcall.keys import resolve as resolve_key
from .donotcall.registry import Origin, Registry
from .errors import ConfigError, InputError, StateError
from .incremental import partial as partials
from .incremental import seal as seals
from .incremental.partial import Partial
from .incremental.seal import Chunk, Group, Seal
from .leadsets import DUPLICATE_EFFECT, Sink, Source, boundary, chunks, dnclists
from .leadsets.chunks import Cut
from .model import Desired, Lead, LeadSetPlan, PhoneStop, Plan, RemoveReason
from .optouts import (
    DateSource,
    Deadline,
    OptOutRules,
    Pending,
    Requested,
    requested_dates,
)
from .optouts.history import blame
from .planner import plan as make_plan
from .progress import Meter, count_lines, counted
from .rails import tripped
from .state import CampaignState, State, load_state
from .state.file import MalformedEntry
from .store import FileStore, Item, Store, as_store, open_store
from .store.files import beside


def state_store(flag: str | None, config: Config) -> Store:
    """Where the state is kept: the file --state or ENGAGE_SYNC_STATE names (the user chose
    it), else the store `state: {backend: ...}` names, else the file (`state_path`)."""
    if config.state_store is not None and pick(flag, "ENGAGE_SYNC_STATE", None, None) is None:
        return open_store(config.state_store)
    return FileStore.beside(state_path(flag, config))


def state_path(flag: str | None, config: Config) -> Path:
    """The state file: --state or ENGAGE_SYNC_STATE anywhere (the user chose it); else the
    `state:` setting or the default, which must resolve inside the repository (a repository
    setting or a symbolic link committed there must not send the state, its journal, lock or
    evidence ledger elsewhere). Whichever it is, none of them may be other than a regular file.
    """
    chosen = pick(flag, "ENGAGE_SYNC_STATE", None, None)
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
    kept = beside(path)
    for item in (Item.STATE, Item.JOURNAL, Item.LOCK, Item.LEDGER):
        boundary.check_file(kept[item], str(kept[item]), inside, missing_ok=True)
    return path


def leadset_paths(paths: Sequence[str], config: Config) -> tuple[list[str], bool]:
    """The paths to read, and whether they are the whole configured folder (not a subset). The
    configured folder must lie inside the repository; paths given may be anywhere."""
    folder = str(pick(None, None, config.leadsets, DEFAULT_LEADSETS))
    if paths and not any(_same(p, folder) for p in paths):
        return list(paths), False
    inside = boundary.root()
    if not Path(folder).resolve().is_relative_to(inside):
        raise InputError(
            f"leadsets: {printable(folder)}: outside the repository (symbolic links followed); "
            "lead sets elsewhere are read when named on the command line"
        )
    return [folder], True


def _same(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


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
    # the do-not-call set the leads are checked against (issue #30)
    registry: Registry = field(default_factory=Registry)


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
    root = boundary.root()
    files = leadsets.discover(chosen, root)
    load = functools.partial(
        leadsets.load_sources,
        defaults=config.options,
        sink=sink,
        prune=config.prune,
        prune_action=config.prune_action,
        root=root,
    )
    if state is None:
        sources = load(files)
        return Inputs(sources, sink, whole, registry=do_not_call(sink, sources, None, config))
    shown = {leadsets.shown_path(f): f for f in files}
    digests: dict[str, str | None] = {}
    skipped, key = _trusted(state, config, shown, digests)
    sealed_files = {f for seal in skipped.values() for f in seal.files}
    sources = load([f for name, f in shown.items() if name not in sealed_files])
    # do-not-call lists are never sealed: read now, they decide which seals still hold
    registry = do_not_call(sink, sources, state, config)
    fingerprint = registry.fingerprint()
    # a new or changed file that declares a sealed campaign, or another do-not-call set: read
    # that campaign whole
    changed = {s.meta.campaign.id for s in sources}
    changed |= {cid for cid, seal in skipped.items() if seal.dnc != fingerprint}
    for cid in sorted(changed & skipped.keys()):
        more = load([shown[name] for name in skipped.pop(cid).files])
        _tombstone_phones(registry, more)
        sources += more
    for cid, seal in skipped.items():  # what reading them would find, found without reading
        for file, line, name, message in seal.warnings:
            sink.add(file, line, name, message, warn=True)
        if seal.shared_phones:
            sink.shared_phones[cid] = seal.shared_phones
    order = {f: i for i, f in enumerate(files)}
    sources.sort(key=lambda s: order[s.path])
    found = Inputs(sources, sink, whole, skipped, digests, key, registry=registry)
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
        or seal.dnc != found.registry.fingerprint()
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


def _where_in_state(store: Store, e: MalformedEntry) -> str:
    """The malformed entry's line in the state, and what to do about it."""
    needle = (json.dumps(e.extern_id) + ":").encode()
    line = 0
    with contextlib.suppress(StateError):
        blob = store.read(Item.STATE)
        lines = blob.data.split(b"\n") if blob is not None else []
        line = next((n for n, text in enumerate(lines, 1) if text.startswith(needle)), 0)
    name = store.where(Item.STATE)
    where = f"{name}:{line}" if line else name
    return (
        f"{where}: {e}: {store.restore(Item.STATE)}, or drop the lead "
        f"with `engage-sync state rm {e.campaign or 'CAMPAIGN'} {e.extern_id}` so the next "
        "apply loads it again"
    )


def _trusted(
    state: State, config: Config, shown: dict[str, Path], digests: dict[str, str | None]
) -> tuple[dict[int, Seal], str]:
    """The campaigns whose seals still hold for the files found now, and the settings key."""
    key = seals.settings_key(config.options, config.prune, config.prune_action, config.target())
    digests.update({name: seals.file_digest(f) for name, f in shown.items()})
    found: dict[int, Seal] = {}
    for cid, camp in state.campaigns.items():
        seal = seals.trusted(camp, key, shown, digests)
        if seal is not None:
            found[cid] = seal
    return found, key


def in_sync(state: State, config: Config) -> set[int]:
    """Campaigns a plan would not read (their files are as the last apply sealed them)."""
    try:
        chosen, _ = leadset_paths((), config)
        files = leadsets.discover(chosen, boundary.root())
    except InputError:
        return set()
    shown = {leadsets.shown_path(f): f for f in files}
    return set(_trusted(state, config, shown, {})[0])


def validate(
    paths: Sequence[str], config: Config, meter: Meter | None = None
) -> tuple[Sink, int, int]:
    """Read everything and report every problem; returns (sink, files, leads). `meter` counts
    the leads as they are read."""
    found = read_inputs(paths, config)
    sources, sink = found.sources, found.sink
    registry = found.registry
    with contextlib.suppress(StateError):  # validate checks lead sets; plan, the state
        store = state_store(None, config)
        if store.exists(Item.STATE):  # the phones stopped before block too (issue #30)
            registry = do_not_call(Sink(), sources, load_state(store), config, sink)
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
    where: Store | Path,
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
    state = load_state(as_store(where))
    build = functools.partial(_build, paths, config, state, incremental, meter=meter)
    planned = build(partial=incremental, sealing=sealing)
    if planned is None:  # a partial read did not hold: read those campaigns whole
        planned = build(partial=False, sealing=sealing)
        assert planned is not None
    return planned


def _build(
    paths: Sequence[str],
    config: Config,
    state: State,
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
        raise StateError(_where_in_state(state.store, e)) from e
    made: dict[int, tuple[Chunk, ...]] = {}
    if found.partials:
        if sink.errors or any(ls.blocked for ls in unchecked.plan_unchecked.leadsets):
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
        _seals(result, found, sources, made) if incremental and sealing else {},
        frozenset(found.partials),
        found.registry,
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


def _seals(
    result: Plan,
    found: Inputs,
    sources: Sequence[Source],
    chunked: Mapping[int, tuple[Chunk, ...]],
) -> dict[int, Seal]:
    """For each campaign read, the seal it gets if apply carries out all of its plan (none when
    more warnings were found than kept: a seal replays them all)."""
    if found.sink.unkept:
        return {}
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
        seal = seals.seal_for(
            ls,
            inputs[cid],
            found.key,
            found.sink.problems,
            shared,
            parts,
            found.registry.fingerprint(),
        )
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


def do_not_call(
    sink: Sink,
    sources: Sequence[Source],
    state: State | None,
    config: Config,
    lists_from: Sink | None = None,
) -> Registry:
    """The do-not-call set (issue #30): the phones of the lists found among the lead sets
    (`lists_from`, else `sink`: problems go to `sink`), of the tombstones that keep them, and
    the hashes of the phones the state records as stopped, with the key they were made with
    (a key that cannot be had leaves them unusable here: a warning says so)."""
    recorded = state.do_not_call if state is not None else None
    key, why = resolve_key(recorded.key if recorded is not None else None)
    if why:
        sink.add("engage-sync.yaml", 0, "doNotCall", why, warn=True)
    hashes = recorded.hashes if recorded is not None else frozenset()
    registry = Registry(config.opt_outs.phone_region, key, hashes)
    for found in (lists_from or sink).do_not_call:
        try:
            for entry in dnclists.entries(found, sink, registry.region):
                origin = Origin(entry.file, entry.line, entry.requested, entry.source)
                registry.add(entry.phone, origin)
        except InputError as e:
            sink.add_fatal(str(e))
    _tombstone_phones(registry, sources)
    return registry


def _tombstone_phones(registry: Registry, sources: Sequence[Source]) -> None:
    """Every opt-out tombstone's own phones join the set (not `optOut: false`)."""
    for source in sources:
        for t in source.meta.tombstones:
            if t.opt_out:
                for phone in t.phones:
                    registry.add(phone, Origin(t.file, t.line, t.requested, "tombstone"), False)
