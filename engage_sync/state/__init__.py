"""The state, the journal of an apply in progress, and the lock that keeps runs apart, each an
item of the state's store (engage_sync/store/: files beside the lead sets, or an object store).

file.py     the versioned state file: what Engage accepted, by (campaign, externId) and hash
journal.py  append-only record of an apply in progress
replay.py   reading it back on load (and what `state recover` keeps of a damaged one)
lock.py     one run at a time per state file
pacing.py   the recent calls of the last runs on this machine, for the next run's pacing
"""

from __future__ import annotations

from pathlib import Path

from ..store import Store, write_atomic
from .file import CampaignState, State, read_state, render_state, save_state
from .journal import Journal
from .lock import StateLock, force_unlock
from .pacing import pacing_path, read_pacing, write_pacing
from .replay import DamagedJournal, journal_path, replay, salvage

__all__ = [
    "CampaignState",
    "DamagedJournal",
    "Journal",
    "State",
    "StateLock",
    "force_unlock",
    "journal_path",
    "load_state",
    "pacing_path",
    "read_pacing",
    "read_state",
    "recover_state",
    "render_state",
    "save_state",
    "write_atomic",
    "write_pacing",
]


def load_state(where: Store | Path) -> State:
    """Read the state (absent is an empty state) and replay any journal an apply left."""
    state = read_state(where)
    replay(state)
    return state


def recover_state(where: Store | Path) -> tuple[State, tuple[int, ...]]:
    """Read the state and every intact line of a damaged journal; returns the state and the
    numbers of the journal's damaged lines (none: the journal read whole, or there is none)."""
    state = read_state(where)
    return state, tuple(d.number for d in salvage(state))
