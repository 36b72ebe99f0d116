"""What a command reads, campaign by campaign, read once (issue #33): the lead-set files, the one
leadsFile when a campaign has one, the seal the state holds for it and that file's chunks, and
the do-not-call set the leads are checked against.

A campaign's `CampaignInputs` is built here and nowhere else; the plan, the seals an apply
records and the apply's own pass over the leads (reconcile/applier.py) all take it from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import leadsets, settings
from ..config import Config
from ..display import printable
from ..donotcall.keys import resolve as resolve_key
from ..donotcall.registry import Origin, Registry
from ..errors import InputError
from ..leadsets import Sink, Source, boundary, chunks, dnclists
from ..leadsets.chunks import Cut
from ..model import Lead, Plan
from ..settings import table
from ..state import State
from . import partial as partials
from . import seal as seals
from .partial import Partial
from .seal import Chunk, Group, Seal


@dataclass
class CampaignInputs:
    """One campaign's inputs: the files read now (none when its seal holds for all of them),
    and what incremental reading knows of them."""

    campaign: int
    sources: list[Source] = field(default_factory=list)  # in the order the files were found
    # the state's seal when it holds: for every file (`skipped`), or for all but the leadsFile
    # (then `partial` says which of its chunks are read)
    seal: Seal | None = None
    cut: Cut | None = None  # the leadsFile's chunks, when it was cut (its seal records them)
    partial: Partial | None = None

    @property
    def skipped(self) -> bool:
        """Not read at all: its files are as the last apply sealed them."""
        return not self.sources and self.seal is not None

    @property
    def leads_file(self) -> Source | None:
        """The campaign's one lead-set file when all of its leads come from its leadsFile."""
        if len(self.sources) != 1:
            return None
        source = self.sources[0]
        return None if source.inline or source.leads_path is None else source

    def leads(self) -> Iterator[tuple[Source, Lead]]:
        """Every lead as declared, file by file, with its file: one more pass over files the
        plan validated (no problem collected, no duplicate checked: the plan did both)."""
        for source in self.sources:
            for lead in leadsets.stream(source):
                yield source, lead


@dataclass
class Inputs:
    sources: list[Source]
    sink: Sink
    whole: bool  # the whole configured folder, not a subset
    campaigns: dict[int, CampaignInputs] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)  # shown path -> sha256
    key: str = ""
    # the do-not-call set the leads are checked against (issue #30)
    registry: Registry = field(default_factory=Registry)

    @property
    def skipped(self) -> dict[int, Seal]:
        return {c.campaign: c.seal for c in self.campaigns.values() if c.skipped and c.seal}

    @property
    def chunked(self) -> dict[int, Cut]:
        return {c.campaign: c.cut for c in self.campaigns.values() if c.cut is not None}

    @property
    def partials(self) -> dict[int, Partial]:
        return {c.campaign: c.partial for c in self.campaigns.values() if c.partial is not None}

    def of(self, campaign: int) -> CampaignInputs:
        return self.campaigns.setdefault(campaign, CampaignInputs(campaign))


def leadset_paths(paths: Sequence[str], config: Config) -> tuple[list[str], bool]:
    """The paths to read, and whether they are the whole configured folder (not a subset). The
    configured folder must lie inside the repository; paths given may be anywhere."""
    folder = str(settings.resolve(table.LEADSETS, None, config.leadsets))
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


def read_sources(paths: Sequence[str], config: Config) -> tuple[list[Source], Sink, bool]:
    found = read_inputs(paths, config)
    return found.sources, found.sink, found.whole


def _group(found: Inputs) -> None:
    """Each source under its campaign: the one place a campaign's files are gathered."""
    for cid, sources in leadsets.by_campaign(found.sources).items():
        found.of(cid).sources = sources


def read_inputs(
    paths: Sequence[str],
    config: Config,
    state: State | None = None,
    partial: bool = True,
    sealing: bool = False,
    hashed: Mapping[str, str | None] | None = None,
) -> Inputs:
    """Parse the lead-set files; with a state, not those of campaigns it holds in sync, and of a
    sealed campaign whose leadsFile changed only the chunks that changed (`partial`). `sealing`:
    cut every leadsFile that may be sealed into chunks (what apply records).

    Every file is hashed before it is parsed: a file edited while it is read is recorded with
    its older bytes, so the next plan reads it again rather than trusting it. `hashed`: the
    digests of files already made (by their shown path), not made again.
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
        found = Inputs(sources, sink, whole, registry=do_not_call(sink, sources, None, config))
        _group(found)
        return found
    shown = {leadsets.shown_path(f): f for f in files}
    digests: dict[str, str | None] = dict(hashed or {})
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
    found = Inputs(sources, sink, whole, digests=digests, key=key, registry=registry)
    for cid, seal in skipped.items():
        found.of(cid).seal = seal
    _group(found)
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
    for cid, inputs in found.campaigns.items():
        source = inputs.leads_file
        if source is None:
            continue
        assert source.leads_path is not None and source.meta.leads_file is not None
        seal = None
        if partial:
            seal = seals.holds(
                state.campaigns.get(cid),
                found.key,
                found.digests,
                found.registry.fingerprint(),
                but=source.meta.leads_file,
            )
            if seal is not None and (
                not seal.chunks
                or seal.files != (source.meta.path,)
                or seal.leads_file != source.meta.leads_file
            ):
                seal = None
        if seal is None and not sealing:
            continue
        csv_file = source.leads_path.suffix.lower() == ".csv"
        cut = chunks.cut(source.leads_path, csv_file)
        if cut is None:
            continue
        found.digests[source.meta.leads_file] = cut.digest
        inputs.cut = cut
        matched = partials.match(seal, cut, csv_file, state.campaigns[cid].leads) if seal else None
        if matched is not None:
            source.ranges = matched.ranges()
            inputs.seal, inputs.partial = seal, matched


def _trusted(
    state: State, config: Config, shown: dict[str, Path], digests: dict[str, str | None]
) -> tuple[dict[int, Seal], str]:
    """The campaigns whose seals still hold for the files found now, and the settings key."""
    key = seals.settings_key(config.options, config.prune, config.prune_action, config.target())
    digests.update({name: seals.file_digest(f) for name, f in shown.items() if name not in digests})
    found: dict[int, Seal] = {}
    for cid, camp in state.campaigns.items():
        seal = seals.holds(camp, key, digests)
        if seal is not None and set(seal.files) <= shown.keys():
            found[cid] = seal
    return found, key


def in_sync(state: State, config: Config) -> set[int]:
    """Campaigns a plan would not read: their files are as the last apply sealed them, no new
    or changed file declares them, and the do-not-call lists are the ones they were sealed with.
    That is `read_inputs`'s decision, so it is asked: the files no seal covers are parsed, as a
    plan parses them."""
    try:
        chosen, _ = leadset_paths((), config)
        files = leadsets.discover(chosen, boundary.root())
        shown = {leadsets.shown_path(f): f for f in files}
        digests: dict[str, str | None] = {}
        if not _trusted(state, config, shown, digests)[0]:
            return set()  # no seal holds: nothing to parse to know that
        return set(read_inputs((), config, state, partial=False, hashed=digests).skipped)
    except InputError:
        return set()


def make_seals(
    result: Plan, found: Inputs, chunked: Mapping[int, tuple[Chunk, ...]]
) -> dict[int, Seal]:
    """For each campaign read, the seal it gets if apply carries out all of its plan (none when
    more warnings were found than kept: a seal replays them all)."""
    if found.sink.unkept:
        return {}
    made: dict[int, Seal] = {}
    for ls in result.leadsets:
        cid = ls.campaign.id
        inputs = found.campaigns.get(cid)
        if inputs is None or inputs.skipped or not inputs.sources:
            continue
        pairs = [
            (name, found.digests.get(name))
            for s in inputs.sources
            for name in (s.meta.path, s.meta.leads_file)
            if name is not None
        ]
        shared = found.sink.shared_phones.get(cid, 0)
        parts = None
        if cid in chunked:
            leads_file = inputs.sources[0].meta.leads_file
            assert leads_file is not None
            groups = found.sink.shared_groups.get(cid, [])
            ordered = sorted((tuple(sorted(g, key=lambda m: m[1])) for g in groups), key=_first)
            parts = (leads_file, chunked[cid], tuple(ordered))
        # read in part, the leads of the chunks not read were checked against the set of an
        # earlier plan: only the set as it is now (the campaign is read whole next time)
        registry = found.registry
        dnc = registry.fingerprint() if inputs.partial is not None else registry.after_stops()
        seal = seals.seal_for(ls, pairs, found.key, found.sink.problems, shared, parts, dnc)
        if seal is not None:
            made[cid] = seal
    return made


def _first(group: Group) -> int:
    return group[0][1]


def record_seals(state: State, made: Mapping[int, Seal], done: Callable[[int], bool]) -> int:
    """After an apply: seal each campaign whose plan was clean and carried out (`done`), when
    the state agrees (the declared count of leads, none in doubt). Returns how many changed."""
    changed = 0
    for cid, seal in made.items():
        camp = state.campaigns.get(cid)
        if camp is None or camp.in_doubt or camp.count() != seal.leads or not done(cid):
            continue
        if camp.acts and camp.reloading():  # a stopped record to load again: read next time
            continue
        raw = seal.to_json()
        if camp.seal != raw:
            camp.seal = raw
            changed += 1
    return changed


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
