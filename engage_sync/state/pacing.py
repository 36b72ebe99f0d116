"""The calls the last runs on this machine made, so the next apply's pacing counts them.

Engage's limits are sliding windows (30 loader calls per 10 s and 120 per 60 s), and a run that
starts with empty windows a moment after another ended meets a wall of 429s (issue #31). So an
apply reads, at its start, the times of the recent calls kept beside the state's lock
(`engage-sync.state.json.pacing`, an item of the state's store), per Engage service (the base
URL as the state records it), account and endpoint, and writes them back at its end, atomically.
The file belongs to one machine (it is in the scaffolded `.gitignore`; in an object store it is
shared by the runs that use it): times are wall-clock seconds, older ones are dropped, and a
damaged file is ignored (with a debug note): it only ever saves a wait.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import StateError
from ..store import FileStore, Item, Store

log = logging.getLogger("engage_sync.pacing")

VERSION = 1
KEEP_SECONDS = 3600.0  # no window Engage documents is longer than a minute
MAX_CALLS = 10_000  # per endpoint: more than any window admits, a bound on a hostile file

# (target, account, endpoint) -> wall-clock times of its calls
Calls = dict[tuple[str, str, str], list[float]]


def pacing_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".pacing")


def _store(where: Store | Path) -> Store:
    """The state's store, or the pacing file itself."""
    return FileStore({Item.PACING: where}) if isinstance(where, Path) else where


def read_pacing(where: Store | Path, now: float | None = None) -> Calls:
    """The recent calls kept (none when absent or damaged)."""
    now = time.time() if now is None else now
    store = _store(where)
    shown = store.where(Item.PACING)
    try:
        blob = store.read(Item.PACING)
        if blob is None:
            return {}
        raw = json.loads(blob.data)
    except (StateError, ValueError) as e:
        log.info("%s: ignored, pacing starts from empty windows (%s)", shown, e)
        return {}
    calls = _parse(raw, now)
    if calls is None:
        log.info("%s: ignored, pacing starts from empty windows (not a pacing file)", shown)
        return {}
    return calls


def _parse(raw: Any, now: float) -> Calls | None:
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        return None
    targets = raw.get("calls")
    if not isinstance(targets, dict):
        return None
    found: Calls = {}
    for target, accounts in targets.items():
        if not isinstance(accounts, dict):
            return None
        for account, kinds in accounts.items():
            if not isinstance(kinds, dict):
                return None
            for kind, times in kinds.items():
                if not isinstance(times, list):
                    return None
                kept = sorted(
                    float(t)
                    for t in times[-MAX_CALLS:]
                    if isinstance(t, (int, float))
                    and math.isfinite(t)
                    and now - KEEP_SECONDS < t <= now + 1.0
                )
                if kept:
                    found[(str(target), str(account), str(kind))] = kept
    return found


def write_pacing(
    where: Store | Path,
    calls: Mapping[tuple[str, str, str], Sequence[float]],
    now: float | None = None,
) -> None:
    """Keep these calls, and the recent ones of other services and accounts kept, replacing
    them whole. Memory that cannot be written is a debug note, not a failure."""
    now = time.time() if now is None else now
    store = _store(where)
    merged = {k: list(v) for k, v in read_pacing(store, now).items() if k not in calls}
    merged.update({k: list(v) for k, v in calls.items()})
    doc: dict[str, dict[str, dict[str, list[float]]]] = {}
    for (target, account, kind), times in sorted(merged.items()):
        recent = [round(t, 3) for t in sorted(times) if now - KEEP_SECONDS < t <= now + 1.0]
        if recent:
            doc.setdefault(target, {}).setdefault(account, {})[kind] = recent[-MAX_CALLS:]
    try:
        if not doc and not store.exists(Item.PACING):
            return
        data = json.dumps({"version": VERSION, "calls": doc}, sort_keys=True) + "\n"
        store.replace(Item.PACING, data.encode())
    except StateError as e:
        log.info("pacing memory not kept: %s", e)
