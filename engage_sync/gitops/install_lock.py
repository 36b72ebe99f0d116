"""The hashed lock the scaffolded workflows install from (`engage-sync lock`): engage-sync and
every package it needs, each pinned to one version and the SHA-256 of its wheel, for the Python
and the platform the workflows run on. With it, a compromised index or a new release of a
dependency cannot put code into the apply job beside the production credentials: pip refuses
any file whose hash is not in the lock (`--require-hashes`).

pip resolves and downloads (`pip download --only-binary=:all:` for the target's Python and
platform); this module hashes what pip saved, reads each wheel's name and version from its file
name and its dependencies from its metadata, and checks that the set is complete for the
target. pip evaluates dependency markers (`typing-extensions; python_version < "3.13"`) on the
Python running it, not on the target's, so a lock made on another Python could miss a package
the target needs (it is then asked for by name and pip resolves again) or hold one the target
does not (it is left out).
"""

from __future__ import annotations

import email.parser
import hashlib
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from ..display import printable
from ..errors import PipError
from .pip import Sources, Target, download

DEFAULT_PATH = ".github/engage-sync.lock"  # the scaffolded workflows look for it there
ROUNDS = 4  # pip runs at most: each may ask for packages the previous one's markers left out
METADATA_CAP = 4 * 1024 * 1024  # bytes of a wheel's METADATA read (it is a few KB)


@dataclass(frozen=True, slots=True)
class Pin:
    """One package of the lock: its normalised name, its version and its wheels' hashes."""

    name: str
    version: str
    hashes: tuple[str, ...]

    def render(self) -> str:
        return " \\\n".join(
            [f"{self.name}=={self.version}", *(f"    --hash=sha256:{h}" for h in self.hashes)]
        )


@dataclass(frozen=True, slots=True)
class Lock:
    """What the workflows install: `root` (engage-sync) and every package it needs, for `target`."""

    root: str
    target: Target
    pins: tuple[Pin, ...]

    def render(self) -> str:
        root = next(
            p for p in self.pins if p.name == canonicalize_name(Requirement(self.root).name)
        )
        header = [
            f"# {root.name} {root.version} and every package it needs, each pinned to the SHA-256 "
            "of its wheel, for",
            f"# {self.target.describe()}. Written by `engage-sync lock`: run it again after",
            f"# upgrading engage-sync. The workflows install from {DEFAULT_PATH} when it exists:",
            f"#   python -m pip install --require-hashes --no-deps -r {DEFAULT_PATH}",
            "# Review a change to this file like a change to the workflows.",
        ]
        return "\n".join([*header, *(p.render() for p in self.pins)]) + "\n"


@dataclass(frozen=True, slots=True)
class Wheel:
    """A wheel pip saved: its name, version, hash and the requirements in its metadata."""

    name: str
    version: Version
    sha256: str
    requires: tuple[Requirement, ...]

    @classmethod
    def read(cls, path: Path) -> Wheel:
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename as e:
            raise PipError(f"pip saved {printable(path.name)}, which is not a wheel: {e}") from e
        digest = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            requires = _requirements(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise PipError(f"cannot read the wheel {printable(path.name)}: {e}") from e
        return cls(str(name), version, digest.hexdigest(), requires)


def _requirements(path: Path) -> tuple[Requirement, ...]:
    with zipfile.ZipFile(path) as wheel:
        found = [
            n
            for n in wheel.namelist()
            if len(PurePosixPath(n).parts) == 2
            and PurePosixPath(n).parts[0].endswith(".dist-info")
            and PurePosixPath(n).name == "METADATA"
        ]
        if len(found) != 1:
            raise PipError(f"{printable(path.name)}: no single .dist-info/METADATA in the wheel")
        with wheel.open(found[0]) as f:
            data = f.read(METADATA_CAP + 1)
    if len(data) > METADATA_CAP:
        raise PipError(f"{printable(path.name)}: its METADATA is larger than {METADATA_CAP} bytes")
    metadata = email.parser.BytesParser().parsebytes(data, headersonly=True)
    requires = []
    for line in metadata.get_all("Requires-Dist") or []:
        try:
            requires.append(Requirement(str(line)))
        except InvalidRequirement as e:
            raise PipError(f"{printable(path.name)}: Requires-Dist {printable(line)}: {e}") from e
    return tuple(requires)


def needed(
    root: Requirement, wheels: Mapping[str, Wheel], environment: Mapping[str, str]
) -> tuple[list[str], list[Requirement]]:
    """The wheels `root` needs on the target (by name, in the order found), and the requirements
    among them that no wheel in `wheels` answers (their markers cut off)."""
    kept: dict[str, set[str]] = {}  # name -> extras asked for
    missing: list[Requirement] = []
    queue = [root]
    while queue:
        req = queue.pop(0)
        name = canonicalize_name(req.name)
        wheel = wheels.get(name)
        if wheel is None:
            bare = Requirement(str(req))
            bare.marker = None
            if str(bare) not in map(str, missing):
                missing.append(bare)
            continue
        if not req.specifier.contains(wheel.version, prereleases=True):
            raise PipError(
                f"pip chose {name} {wheel.version}, but {req} asks for another version: lock "
                "with the Python the workflows run (--python-version)"
            )
        extras = {canonicalize_name(e) for e in req.extras}
        if name in kept and extras <= kept[name]:
            continue
        kept.setdefault(name, set()).update(extras)
        for dep in wheel.requires:
            if dep.marker is None or any(
                _holds(dep.marker, environment, extra) for extra in ["", *sorted(kept[name])]
            ):
                queue.append(dep)
    return list(kept), missing


def _holds(marker: Marker, environment: Mapping[str, str], extra: str) -> bool:
    return marker.evaluate({**environment, "extra": extra})


def lock(
    root: str,
    target: Target,
    sources: Sources,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> Lock:
    """Resolve `root` (`engage-sync==<version>`) and everything it needs for `target` through
    pip, from the index (network access to it), and hash each wheel. Raises PipError."""
    wanted = Requirement(root)
    asked = [root]
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory(prefix="engage-sync-lock-") as tmp:
            download(pip, asked, target, sources, Path(tmp))
            wheels: dict[str, Wheel] = {}
            hashes: dict[str, set[str]] = {}
            for path in sorted(Path(tmp).iterdir()):
                wheel = Wheel.read(path)
                name = canonicalize_name(wheel.name)
                if name in wheels and wheels[name].version != wheel.version:
                    raise PipError(
                        f"pip saved two versions of {name}: {wheels[name].version} and "
                        f"{wheel.version}"
                    )
                wheels[name] = wheel
                hashes.setdefault(name, set()).add(wheel.sha256)
        names, missing = needed(wanted, wheels, target.environment())
        if not missing:
            pins = [Pin(n, str(wheels[n].version), tuple(sorted(hashes[n]))) for n in sorted(names)]
            return Lock(root, target, tuple(pins))
        asked += [str(m) for m in missing if str(m) not in asked]
    raise PipError(
        f"pip did not find everything {root} needs on {target.describe()} in {ROUNDS} runs "
        f"(missing: {', '.join(map(str, missing))}): lock with Python {target.python}"
    )


def write(lock_: Lock, path: Path) -> None:
    """Write the lock atomically: the old file or the new one, never half of one."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(lock_.render())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise PipError(f"{path}: cannot write the lock: {e.strerror}") from e


def pinned_version(path: Path, name: str = "engage-sync") -> str | None:
    """The version of `name` a lock file pins, or None (no file, or not in it)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    wanted = canonicalize_name(name)
    for line in text.splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        if m and canonicalize_name(m.group(1)) == wanted:
            return m.group(2)
    return None
