"""The default store: files beside the lead sets, the state committed to git by `ci apply`.

`engage-sync.state.json` is replaced atomically (a temporary file beside it, fsynced, renamed over
it, the folder fsynced), its journal, lock and pacing memory sit beside it with a suffix, and the
evidence ledger is `engage-sync.evidence.jsonl`. There is no revision to compare: the lock keeps
writers apart on one machine, and git keeps every committed copy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO

from .base import Blob, Item, StoreError, Tail

_NOUNS = {
    Item.STATE: "state",
    Item.JOURNAL: "journal",
    Item.LOCK: "lock",
    Item.LEDGER: "the evidence ledger",
    Item.PACING: "pacing memory",
}


# An appended record is durable once its bytes and the file's size are: fdatasync says so without
# writing the file's times too (a third of fsync's cost on Linux, once per batch sent and once
# per answer); where there is none (macOS), fsync.
_sync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def ledger_path(state_path: Path) -> Path:
    """`engage-sync.state.json` -> `engage-sync.evidence.jsonl` (`x.json` -> `x.evidence.jsonl`)."""
    name = state_path.name
    for suffix in (".state.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return state_path.with_name(f"{name}.evidence.jsonl")


def beside(state_path: Path) -> dict[Item, Path]:
    """Where each item of a state file lives."""
    return {
        Item.STATE: state_path,
        Item.JOURNAL: state_path.with_name(state_path.name + ".journal"),
        Item.LOCK: state_path.with_name(state_path.name + ".lock"),
        Item.PACING: state_path.with_name(state_path.name + ".pacing"),
        Item.LEDGER: ledger_path(state_path),
    }


class FileStore:
    """Each item a file; `FileStore.beside(path)` for a state file and its companions."""

    def __init__(self, paths: Mapping[Item, Path]) -> None:
        self.paths = dict(paths)

    @classmethod
    def beside(cls, state_path: Path) -> FileStore:
        return cls(beside(state_path))

    def path(self, item: Item) -> Path:
        return self.paths[item]

    def __repr__(self) -> str:
        return f"FileStore({self.paths.get(Item.STATE) or list(self.paths.values())})"

    def where(self, item: Item) -> str:
        return str(self.paths[item])

    def restore(self, item: Item) -> str:
        path = self.paths[item]
        if item is Item.LEDGER:
            return (
                f"it is committed with the state: `git diff -- {path}` shows what changed since "
                f"the last commit and `git log -p -- {path}` each line as it was appended; "
                "restore the damaged line from there"
            )
        return f"restore the file from git (`git checkout -- {path}`)"

    def local_file(self) -> Path | None:
        return self.paths.get(Item.STATE)

    def read(self, item: Item) -> Blob | None:
        path = self.paths[item]
        try:
            return Blob(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as e:
            raise StoreError(f"{path}: cannot read {_NOUNS[item]}: {e.strerror}") from e

    def exists(self, item: Item) -> bool:
        return self.paths[item].exists()

    def tail(self, item: Item, lines: int) -> Tail | None:
        path = self.paths[item]
        try:
            with path.open("rb") as f:
                start, data = last_lines(f, lines)
        except (FileNotFoundError, NotADirectoryError):  # absent: writing it says what stops it
            return None
        except OSError as e:
            raise StoreError(f"{path}: cannot read {_NOUNS[item]}: {e.strerror}") from e
        return Tail(data, start)

    def swap(self, item: Item, data: bytes | Iterable[bytes], over: str | None) -> str:
        self.replace(item, data)
        return ""

    def replace(self, item: Item, data: bytes | Iterable[bytes]) -> None:
        write_atomic(self.paths[item], data, _NOUNS[item])

    def create(self, item: Item, data: bytes) -> bool:
        path = self.paths[item]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as e:
            raise StoreError(f"{path}: cannot create {_NOUNS[item]}: {e.strerror}") from e
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return True

    def delete(self, item: Item) -> None:
        self.paths[item].unlink(missing_ok=True)

    def append(self, item: Item, data: bytes, over: str | None, torn: bool) -> None:
        path = self.paths[item]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab+") as f:
                if f.tell():
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":  # a line torn by a crash, or a last line end lost
                        _end_cleanly(f, torn)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise StoreError(f"{path}: cannot append to {_NOUNS[item]}: {e.strerror}") from e

    def appender(self, item: Item) -> _FileAppender:
        path = self.paths[item]
        try:
            return _FileAppender(path.open("ab"))
        except OSError as e:
            raise StoreError(f"{path}: cannot write {_NOUNS[item]}: {e.strerror}") from e

    def set_aside(self, item: Item, suffix: str) -> str:
        path = self.paths[item]
        kept = path.with_name(path.name + suffix)
        try:
            path.replace(kept)
        except OSError as e:
            raise StoreError(f"{path}: cannot move it aside: {e.strerror}") from e
        return str(kept)


class _FileAppender:
    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def write(self, record: bytes) -> None:
        self._file.write(record)
        self._file.flush()
        _sync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _end_cleanly(f: IO[bytes], torn: bool) -> None:
    """Before appending: drop a torn last line, or end an intact one that lost its line end."""
    if not torn:
        f.write(b"\n")
        return
    start, _ = last_lines(f, 0)  # the torn line alone, read from the end
    f.truncate(start)
    f.seek(0, os.SEEK_END)


_BLOCK = 1 << 16


def last_lines(f: IO[bytes], lines: int) -> tuple[int, bytes]:
    """The file's last `lines` whole lines (and any cut-short last one), and where they start:
    read backwards a block at a time."""
    end = f.seek(0, os.SEEK_END)
    start, data = end, b""
    while start > 0 and data.count(b"\n") <= lines:
        step = min(_BLOCK, start)
        start -= step
        f.seek(start)
        data = f.read(step) + data
    parts = data.split(b"\n")  # whole lines, then what follows the last line end
    if len(parts) - 1 > lines or start > 0:  # the last `lines`: the first one read may be cut
        data = b"\n".join(parts[-(lines + 1) :])
        start = end - len(data)
    return start, data


def write_atomic(path: Path, data: bytes | Iterable[bytes], noun: str = "state") -> None:
    """Write a file whole or not at all: readers see the old one or the new one, never half.
    `data` may come piece by piece (written as it comes, to the temporary file)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                for piece in (data,) if isinstance(data, bytes) else data:
                    f.write(piece)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise StoreError(f"{path}: cannot write {noun}: {e.strerror}") from e
