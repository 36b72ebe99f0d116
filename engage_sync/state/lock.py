"""A lock beside the state so two applies never run at once.

The lock is an item of the state's store created only where there is none (a file opened with
O_EXCL, an object written with `If-None-Match: *`) holding who took it (id, host, pid, start
time). A lock whose process is gone (same host, pid not running) is reported as stale; it is
never taken over silently: `engage-sync force-unlock ID` removes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LockError
from ..store import FileStore, Item, Store, StoreError, as_store


@dataclass(frozen=True, slots=True)
class LockInfo:
    id: str
    host: str
    pid: int
    started: str
    operation: str

    def describe(self) -> str:
        return f"{self.id} (pid {self.pid} on {self.host}, {self.operation} since {self.started})"

    def is_stale(self) -> bool:
        """True when the holder ran on this host and is no longer running."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


def read_lock(where: Store | Path) -> LockInfo | None:
    """Who holds the lock (None: no one). `where`: the state's store, or the lock file."""
    store = FileStore({Item.LOCK: where}) if isinstance(where, Path) else where
    try:
        blob = store.read(Item.LOCK)
        if blob is None:
            return None
        data = json.loads(blob.data.decode("utf-8"))
        return LockInfo(
            str(data["id"]),
            str(data["host"]),
            int(data["pid"]),
            str(data["started"]),
            str(data.get("operation", "apply")),
        )
    except (StoreError, ValueError, KeyError, TypeError):
        return LockInfo("unknown", "unknown", 0, "unknown", "unreadable lock file")


class StateLock:
    def __init__(self, state: Store | Path, operation: str, timeout: float = 0.0) -> None:
        self.store = as_store(state)
        self.operation = operation
        self.timeout = timeout
        self.info: LockInfo | None = None

    def __enter__(self) -> StateLock:
        deadline = time.monotonic() + self.timeout
        while True:
            info = LockInfo(
                id=uuid.uuid4().hex[:12],
                host=socket.gethostname(),
                pid=os.getpid(),
                started=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                operation=self.operation,
            )
            try:
                taken = self.store.create(Item.LOCK, json.dumps(_asdict(info)).encode())
            except StoreError as e:
                raise LockError(str(e)) from e
            if not taken:
                holder = read_lock(self.store)
                if holder is None:
                    continue  # released between our open and our read
                if holder.is_stale():
                    raise LockError(
                        f"the state is locked by {holder.describe()}, a process that is no longer "
                        f"running; if no engage-sync is running, remove the lock with "
                        f"`engage-sync force-unlock {holder.id}`"
                    ) from None
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"the state is locked by {holder.describe()}; wait for it to finish or "
                        "pass --lock-timeout"
                    ) from None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
                continue
            self.info = info
            return self

    def __exit__(self, *exc: object) -> None:
        if self.info is not None:
            current = read_lock(self.store)
            if current is not None and current.id == self.info.id:
                self.store.delete(Item.LOCK)
            self.info = None


def _asdict(info: LockInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "started": info.started,
        "operation": info.operation,
    }


def force_unlock(state: Store | Path, lock_id: str) -> LockInfo:
    store = as_store(state)
    holder = read_lock(store)
    if holder is None:
        raise LockError(f"{store.where(Item.LOCK)}: the state is not locked")
    if holder.id != lock_id:
        raise LockError(f"the lock's id is {holder.id}, not {lock_id}: nothing removed")
    store.delete(Item.LOCK)
    return holder
