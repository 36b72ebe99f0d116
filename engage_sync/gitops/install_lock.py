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
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from ..display import printable
from ..engage.redaction import Redactor, excerpt
from ..errors import PipError

DEFAULT_PATH = ".github/engage-sync.lock"  # the scaffolded workflows look for it there
DEFAULT_PYTHON = "3.11"  # the workflows' actions/setup-python
DEFAULT_PLATFORM = "manylinux_2_39_x86_64"  # ubuntu-latest (Ubuntu 24.04, glibc 2.39)
ROUNDS = 4  # pip runs at most: each may ask for packages the previous one's markers left out
METADATA_CAP = 4 * 1024 * 1024  # bytes of a wheel's METADATA read (it is a few KB)

_PYTHON = re.compile(r"3\.\d{1,2}")
_GLIBC = re.compile(r"manylinux_2_(\d{1,3})_([a-z0-9_]+)")
_LEGACY = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}  # PEP 600's aliases
_MUSL = re.compile(r"musllinux_1_(\d{1,3})_([a-z0-9_]+)")
_PLAIN = re.compile(r"linux_([a-z0-9_]+)")
# a URL's user and password (an index URL may carry a token there), up to the last @ before
# the host's end
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")


@dataclass(frozen=True, slots=True)
class Target:
    """The interpreter and platform the workflows run on: CPython `python` on `platform`."""

    python: str = DEFAULT_PYTHON
    platform: str = DEFAULT_PLATFORM

    def __post_init__(self) -> None:
        if not _PYTHON.fullmatch(self.python):
            raise ValueError(f"{printable(self.python)}: give a Python version like 3.11")
        self.pip_platforms()  # refuses one that is not a Linux wheel platform

    def pip_platforms(self) -> list[str]:
        """The wheel platform tags the target accepts, best first: pip expands none of PEP 600's
        `manylinux_2_Y` names to the older ones a glibc 2.Y system also runs (a package may ship
        `manylinux2014_x86_64` wheels only)."""
        name = _LEGACY_NAME.sub(_legacy_to_glibc, self.platform)
        if m := _GLIBC.fullmatch(name):
            newest, arch = int(m.group(1)), m.group(2)
            oldest = 5 if arch in ("x86_64", "i686") else 17
            tags = []
            for minor in range(newest, oldest - 1, -1):
                tags.append(f"manylinux_2_{minor}_{arch}")
                alias = next((k for k, v in _LEGACY.items() if v == minor), None)
                if alias and (minor == 17 or arch in ("x86_64", "i686")):
                    tags.append(f"{alias}_{arch}")
            return tags
        if m := _MUSL.fullmatch(name):
            newest, arch = int(m.group(1)), m.group(2)
            return [f"musllinux_1_{minor}_{arch}" for minor in range(newest, 0, -1)]
        if _PLAIN.fullmatch(name):
            return [name]
        raise ValueError(
            f"{printable(self.platform)}: give a Linux wheel platform such as "
            f"{DEFAULT_PLATFORM} (the workflows run on Linux)"
        )

    def environment(self) -> dict[str, str]:
        """The values dependency markers are evaluated with, as on the target."""
        full = f"{self.python}.99"  # setup-python installs the newest patch release
        return {
            "python_version": self.python,
            "python_full_version": full,
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "sys_platform": "linux",
            "platform_system": "Linux",
            "os_name": "posix",
            "platform_machine": _machine(self.platform),
        }

    def describe(self) -> str:
        return f"CPython {self.python} on {self.platform}"


_LEGACY_NAME = re.compile(r"\A(manylinux2014|manylinux2010|manylinux1)_")


def _legacy_to_glibc(m: re.Match[str]) -> str:
    return f"manylinux_2_{_LEGACY[m.group(1)]}_"


def _machine(platform: str) -> str:
    for pattern in (_GLIBC, _MUSL, _PLAIN):
        if m := pattern.fullmatch(_LEGACY_NAME.sub(_legacy_to_glibc, platform)):
            return m.group(m.lastindex or 1)
    return platform


@dataclass(frozen=True, slots=True)
class Sources:
    """Where pip looks besides its own configuration (pip.conf, `PIP_INDEX_URL`, which it reads
    as usual): an internal index, more indexes, a folder of wheels."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def pip_args(self) -> list[str]:
        args = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for place in self.find_links:
            args += ["--find-links", place]
        return [*args, "--no-index"] if self.no_index else args

    def redactor(self) -> Redactor:
        """Redacts the user names and passwords of these URLs wherever they appear."""
        secrets: list[str] = []
        for url in (self.index_url or "", *self.extra_index_urls, *self.find_links):
            parts = urlsplit(url) if "://" in url else None
            if parts and parts.username:
                secrets.append(parts.username)
                secrets.append(unquote(parts.username))
            if parts and parts.password:
                secrets.append(parts.password)
                secrets.append(unquote(parts.password))
        return Redactor(secrets)

    def describe(self) -> str:
        """Where pip looked, as it may be shown: no URL's user or password."""
        shown = [*([self.index_url] if self.index_url else []), *self.extra_index_urls]
        shown += self.find_links
        if not self.no_index and not self.index_url:
            shown.insert(0, "pip's configured index")
        return ", ".join(redact_urls(s) for s in shown)


def redact_urls(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by `****`."""
    return _USERINFO.sub(r"\1****@", text)


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
            _download(pip, asked, target, sources, Path(tmp))
            wheels: dict[str, Wheel] = {}
            for path in sorted(Path(tmp).iterdir()):
                wheel = Wheel.read(path)
                wheels[canonicalize_name(wheel.name)] = wheel
        names, missing = needed(wanted, wheels, target.environment())
        if not missing:
            pins = [_pin(wheels[n]) for n in sorted(names)]
            return Lock(root, target, tuple(pins))
        asked += [str(m) for m in missing if str(m) not in asked]
    raise PipError(
        f"pip did not find everything {root} needs on {target.describe()} in {ROUNDS} runs "
        f"(missing: {', '.join(map(str, missing))}): lock with Python {target.python}"
    )


def _pin(wheel: Wheel) -> Pin:
    return Pin(canonicalize_name(wheel.name), str(wheel.version), (wheel.sha256,))


def _download(
    pip: Sequence[str], asked: Iterable[str], target: Target, sources: Sources, dest: Path
) -> None:
    command = [
        *pip,
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
        str(dest),
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        target.python,
        *(arg for tag in target.pip_platforms() for arg in ("--platform", tag)),
        *sources.pip_args(),
        *asked,
    ]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            errors="replace",
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PIP_NO_INPUT": "1"},
        )
    except OSError as e:
        raise PipError(f"cannot run pip ({printable(pip[0])}): {e.strerror}") from e
    if done.returncode != 0:
        raise PipError(_failure(done.stdout + "\n" + done.stderr, sources, pip))


def _failure(output: str, sources: Sources, pip: Sequence[str]) -> str:
    """pip's failure as it may be shown: its ERROR lines (or its last line), no credentials."""
    if re.search(r"No module named \S*pip\b", output):
        return f"pip is not installed for {printable(pip[0])}: install it (python -m ensurepip)"
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    said = "; ".join(errors or lines[-1:]) or "no message"
    said = excerpt(redact_urls(sources.redactor().secrets(said)), 600)
    return (
        f"pip download failed: {said}. `engage-sync lock` needs network access to the package "
        f"index (looked in: {sources.describe()}), and the release it locks on that index "
        "(or --find-links DIR with its wheel)"
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
