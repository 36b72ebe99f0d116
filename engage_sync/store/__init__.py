"""Where the state, its journal, its lock, the pacing memory and the evidence ledger are kept.

base.py   the interface (`Store`): read, compare-and-swap, create-if-absent, append, delete
files.py  the default: files beside the lead sets, the state committed to git by `ci apply`
s3.py     an S3-compatible object store with conditional writes (boto3, an optional extra)

The rest of engage-sync sees a `Store`, never a path or a bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Appender, Blob, Conflict, Item, Store, StoreError, Tail
from .files import FileStore, ledger_path, write_atomic
from .s3 import S3Settings

__all__ = [
    "Appender",
    "Blob",
    "Conflict",
    "FileStore",
    "Item",
    "S3Settings",
    "Store",
    "StoreError",
    "Tail",
    "as_store",
    "ledger_path",
    "open_store",
    "write_atomic",
]


def as_store(where: Store | Path) -> Store:
    """A store as it is, a path as the file store of the state file it names."""
    return FileStore.beside(where) if isinstance(where, Path) else where


def open_store(settings: Mapping[str, Any]) -> Store:
    """The store `state: {backend: ...}` in engage-sync.yaml names, as the schema checked it
    (schemas/config.schema.json), other than files (workspace.state_store: those are checked to
    lie inside the repository); a backend is a module here and a line below."""
    if settings["backend"] == "s3":
        from .s3 import S3Store

        return S3Store(S3Settings(settings["bucket"], settings["key"], settings.get("region")))
    raise ConfigError(f"state: backend {settings['backend']!r} is not one engage-sync has")
