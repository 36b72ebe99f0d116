"""A lock beside the state file so two applies never run at once.

The lock is a file created with O_EXCL holding who took it (id, host, pid, start time). A lock whose
process is gone (same host, pid not running) is reported as stale; it is never taken over silently:
`engage-sync force-unlock ID` removes it.
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


def read_lock(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(
            str(data["id"]),
            str(data["host"]),
            int(data["pid"]),
            str(data["started"]),
            str(data.get("operation", "apply")),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return LockInfo("unknown", "unknown", 0, "unknown", "unreadable lock file")


class StateLock:
    def __init__(self, state_path: Path, operation: str, timeout: float = 0.0) -> None:
        self.path = lock_path(state_path)
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
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = read_lock(self.path)
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
            except OSError as e:
                raise LockError(f"{self.path}: cannot create lock: {e.strerror}") from e
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(_asdict(info), f)
                f.flush()
                os.fsync(f.fileno())
            self.info = info
            return self

    def __exit__(self, *exc: object) -> None:
        if self.info is not None:
            current = read_lock(self.path)
            if current is not None and current.id == self.info.id:
                self.path.unlink(missing_ok=True)
            self.info = None


def _asdict(info: LockInfo) -> dict[str, object]:
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "started": info.started,
        "operation": info.operation,
    }


def force_unlock(state_path: Path, lock_id: str) -> LockInfo:
    path = lock_path(state_path)
    holder = read_lock(path)
    if holder is None:
        raise LockError(f"{path}: the state is not locked")
    if holder.id != lock_id:
        raise LockError(f"the lock's id is {holder.id}, not {lock_id}: nothing removed")
    path.unlink(missing_ok=True)
    return holder
