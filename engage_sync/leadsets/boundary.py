"""Which files engage-sync reads and writes: those of the repository, and nothing else (issue #29).

Whoever can push to the repository decides what its files say, and through a symbolic link or
a `leadsFile: ../../x` what they point at. A lead set, its leadsFile and the state a repository
setting names must therefore resolve, symbolic links followed, inside the repository's root
(the working directory, where engage-sync.yaml is read); a path the user gives on the command
line or in the environment may point anywhere, as the user chose it. Whatever the path, only a
regular file is read: never a FIFO (it would block), a device, a folder, or a file of /proc,
/sys or /dev (their "regular" files hold the environment, memory, keys). docs/leadsets.md
("Where files may be") is the rule for users.

The checks run before a file is opened. A file swapped for a link between the check and the
open is out of scope: the repository's content is fixed while a run reads it (a checkout in
CI), and whoever can change files on the machine meanwhile needs no link to read them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..display import UNSAFE, printable
from ..errors import InputError

_SYSTEM = (Path("/proc"), Path("/sys"), Path("/dev"))


def root() -> Path:
    """The repository's root: the working directory, symbolic links resolved."""
    return Path.cwd().resolve()


def lexically_inside(path: Path, folder: Path) -> bool:
    """Whether the path, as written (`..` applied, links not followed), lies in the folder."""
    return Path(os.path.abspath(path)).is_relative_to(folder)


def limit_for(path: Path, root_dir: Path | None) -> Path:
    """What a path given (a folder, a lead set) and the files it names must stay in: the root
    when the path lies in it as written, else the folder itself, or a file's folder (a lead set
    named on the command line outside the repository is read where it is, and what it names
    stays beside it)."""
    if root_dir is not None and lexically_inside(path, root_dir):
        return root_dir
    return Path(os.path.abspath(path if path.is_dir() else path.parent)).resolve()


def check_name(path: Path, shown: str) -> None:
    """A file name with a control character (a line break, an escape) is refused: it would be
    printed in every problem, plan line and log that names the file."""
    if UNSAFE.search(str(path)):
        raise InputError(
            f"{printable(shown)}: the file name holds a control character (a line break, tab, "
            "escape or bidi control): rename it"
        )


def check_file(path: Path, shown: str, inside: Path | None, missing_ok: bool = False) -> None:
    """Refuse the path unless it is a regular file that resolves inside `inside` (None: the
    user chose it, anywhere). `missing_ok`: a file not there yet (the state) is fine, where it
    would be is still checked. Raises InputError saying why; the file is never opened."""
    check_name(path, shown)
    shown = printable(shown)
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as e:  # a loop of links
        raise InputError(f"{shown}: cannot be resolved (a loop of symbolic links?)") from e
    link = " through a symbolic link" if real != Path(os.path.abspath(path)) else ""
    if any(real.is_relative_to(system) for system in _SYSTEM):
        raise InputError(f"{shown}: a system file{link} (/proc, /sys or /dev): not read")
    if inside is not None and not real.is_relative_to(inside):
        raise InputError(
            f"{shown}: outside the repository{link}: not read (lead sets, their leadsFiles "
            f"and the state stay inside {inside})"
        )
    try:
        mode = os.stat(real).st_mode  # stat, not open: a FIFO would block an open
    except FileNotFoundError as e:
        if missing_ok:
            return
        raise InputError(f"{shown}: file not found") from e
    except OSError as e:
        raise InputError(f"{shown}: cannot read: {e.strerror}") from e
    if not stat.S_ISREG(mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(mode)
            else "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device or socket"
        )
        raise InputError(f"{shown}: {kind}{link}, not a regular file: not read")
