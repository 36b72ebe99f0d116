"""Loading what a command works on: settings, lead-set files, state, and the plan between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from . import leadsets
from .config import DEFAULT_LEADSETS, DEFAULT_STATE, Config, pick
from .errors import ValidationFailed
from .leadsets import DUPLICATE_EFFECT, Sink, Source
from .model import Lead, Plan
from .planner import plan as make_plan
from .rails import tripped
from .state import State, load_state


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


def read_sources(paths: Sequence[str], config: Config) -> tuple[list[Source], Sink, bool]:
    chosen, whole = leadset_paths(paths, config)
    sink = Sink()
    files = leadsets.discover(chosen)
    sources = leadsets.load_sources(
        files, config.options, sink, prune=config.prune, prune_action=config.prune_action
    )
    return sources, sink, whole


def validate(paths: Sequence[str], config: Config) -> tuple[Sink, int, int]:
    """Read everything and report every problem; returns (sink, files, leads)."""
    sources, sink, _ = read_sources(paths, config)
    count = 0
    for desired in leadsets.group(sources, sink):
        for _lead in desired.leads:
            count += 1
    return sink, len(sources), count


def build_plan(paths: Sequence[str], config: Config, state_file: Path) -> Planned:
    """Validate, then plan against the state. Any error raises ValidationFailed with all of them."""
    sources, sink, whole = read_sources(paths, config)
    state = load_state(state_file)
    desired = leadsets.group(sources, sink)
    result = make_plan(desired, state, include_undeclared=whole and not sink.errors)
    if sink.errors:
        raise ValidationFailed(list(sink.problems))
    handling = {d.campaign.id: str(dict(d.options).get("duplicateHandling")) for d in desired}
    shared = tuple(
        f"campaign {cid}: {n} lead(s) share a phone with an earlier lead; with "
        f"duplicateHandling {handling[cid]} {DUPLICATE_EFFECT.get(handling[cid], '')}"
        for cid, n in sorted(sink.shared_phones.items())
    )
    result = replace(result, warnings=result.warnings + shared)
    return Planned(result, state, sources, sink, tripped(result, config.rails))


def leads_by_key(
    sources: Sequence[Source], wanted: set[tuple[int, str]]
) -> dict[tuple[int, str], Lead]:
    """Stream the lead sets again and keep only the wanted leads (for --show-pii)."""
    found: dict[tuple[int, str], Lead] = {}
    sink = Sink()
    for source in sources:
        cid = source.meta.campaign.id
        for lead in leadsets.iter_leads(source, sink):
            if (cid, lead.extern_id) in wanted:
                found[(cid, lead.extern_id)] = lead
    return found
