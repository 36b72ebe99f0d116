"""The one small interface every place the state is kept implements (like Terraform's backends).

Five things live there, each an `Item`: the state (replaced whole, by a compare-and-swap against
the revision that was read), the journal of an apply in progress (records appended one at a
time, each durable when `write` returns), the lock (created only where none is), the evidence
ledger (lines appended after the last whole one) and the pacing memory (replaced whole, last
writer wins). A store names each item for messages (`where`) and says how to get back an earlier
copy of it (`restore`), so no caller ever builds a path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import StateError


class Item(enum.Enum):
    STATE = "state"
    JOURNAL = "journal"
    LOCK = "lock"
    LEDGER = "ledger"
    PACING = "pacing"


@dataclass(frozen=True, slots=True)
class Blob:
    """An item's bytes and the store's revision of them (an ETag; "" where none is kept)."""

    data: bytes
    revision: str = ""


@dataclass(frozen=True, slots=True)
class Tail:
    """An item's last lines (and any cut-short last one), the offset they start at, and the
    store's revision of the whole item."""

    data: bytes
    start: int
    revision: str = ""


class StoreError(StateError):
    """An item cannot be read or written (a file system error, an object store's answer)."""


class Conflict(StoreError):
    """A compare-and-swap found the item changed since it was read: nothing was written."""


class Appender(Protocol):
    """Appends records to an item; each is durable when `write` returns."""

    def write(self, record: bytes) -> None: ...

    def close(self) -> None: ...


class Store(Protocol):
    def where(self, item: Item) -> str:
        """How messages name the item (a path, an s3:// URL)."""

    def restore(self, item: Item) -> str:
        """What to do to get back an earlier copy of the item (an imperative clause)."""

    def local_file(self) -> Path | None:
        """The state file when it lives in the work tree (`ci apply` commits it), else None."""

    def read(self, item: Item) -> Blob | None:
        """The item's bytes and revision; None when it is absent."""

    def exists(self, item: Item) -> bool: ...

    def tail(self, item: Item, lines: int) -> Tail | None:
        """The item's last `lines` whole lines and what follows them; None when it is absent.
        A file is read from its end: what it costs follows `lines`, not the item's size."""

    def swap(self, item: Item, data: bytes | Iterable[bytes], over: str | None) -> str:
        """Replace the item whole, only over the revision `over` that was read (None: only
        where there is none); returns the new revision. Conflict when it changed meanwhile.
        `data` may come piece by piece (a state of millions of leads is never whole in memory
        on its way to a file)."""

    def replace(self, item: Item, data: bytes | Iterable[bytes]) -> None:
        """Replace the item whole, whatever is there (last writer wins)."""

    def create(self, item: Item, data: bytes) -> bool:
        """Write the item only where there is none; False when there is one."""

    def delete(self, item: Item) -> None:
        """Remove the item (absent already is fine)."""

    def append(self, item: Item, data: bytes, over: str | None, torn: bool) -> None:
        """Add lines after the item's last whole line, over the revision read (None: none
        read); `torn`: what follows the last line end is a write cut short, dropped first."""

    def appender(self, item: Item) -> Appender:
        """A writer of records to the item, which must be absent (the journal of one apply)."""

    def set_aside(self, item: Item, suffix: str) -> str:
        """Move the item to a name with `suffix` added, for inspection; returns that name."""
