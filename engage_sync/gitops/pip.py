"""The pip runs of `engage-sync lock` (install_lock.py): for which Python and platform
(`Target`), from where (`Sources`: an index, more indexes, a folder of wheels, besides pip's own
configuration), and pip's failure as one line that carries no credentials (an index URL may
hold a user and a password or token)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..display import printable
from ..errors import PipError

DEFAULT_PYTHON = "3.11"  # the workflows' actions/setup-python
DEFAULT_PLATFORM = "manylinux_2_39_x86_64"  # ubuntu-latest (Ubuntu 24.04, glibc 2.39)
REDACTED = "[redacted]"
SHOWN = 600  # characters of pip's error messages shown

_PYTHON = re.compile(r"3\.\d{1,2}")
_PLATFORM = re.compile(
    r"(?P<family>manylinux)_2_(?P<minor>\d{1,3})_(?P<arch>[a-z0-9_]+)"
    r"|(?P<legacy>manylinux2014|manylinux2010|manylinux1)_(?P<legacy_arch>[a-z0-9_]+)"
    r"|(?P<musl>musllinux)_1_(?P<musl_minor>\d{1,3})_(?P<musl_arch>[a-z0-9_]+)"
    r"|linux_(?P<plain_arch>[a-z0-9_]+)"
)
LEGACY = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}  # PEP 600's aliases
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
        self._parsed()  # refuses one that is not a Linux wheel platform

    def _parsed(self) -> tuple[str, int, str]:
        """(manylinux, glibc minor, arch), (musllinux, musl minor, arch) or (linux, 0, arch)."""
        m = _PLATFORM.fullmatch(self.platform)
        if m is None:
            raise ValueError(
                f"{printable(self.platform)}: give a Linux wheel platform such as "
                f"{DEFAULT_PLATFORM} (the workflows run on Linux)"
            )
        if m["family"]:
            return "manylinux", int(m["minor"]), m["arch"]
        if m["legacy"]:
            minor = next(k for k, v in LEGACY.items() if v == m["legacy"])
            return "manylinux", minor, m["legacy_arch"]
        if m["musl"]:
            return "musllinux", int(m["musl_minor"]), m["musl_arch"]
        return "linux", 0, m["plain_arch"]

    def pip_platforms(self) -> list[str]:
        """The wheel platform tags the target accepts, best first: pip expands none of PEP 600's
        `manylinux_2_Y` names to the older ones a glibc 2.Y system also runs (a package may ship
        `manylinux2014_x86_64` wheels only)."""
        family, newest, arch = self._parsed()
        if family == "musllinux":
            return [f"musllinux_1_{minor}_{arch}" for minor in range(newest, 0, -1)]
        if family == "linux":
            return [self.platform]
        oldest = 5 if arch in ("x86_64", "i686") else 17  # manylinux1 and 2010: x86 only
        tags = []
        for minor in range(newest, oldest - 1, -1):
            tags.append(f"manylinux_2_{minor}_{arch}")
            if minor in LEGACY:
                tags.append(f"{LEGACY[minor]}_{arch}")
        return tags

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
            "platform_machine": self._parsed()[2],
        }

    def describe(self) -> str:
        return f"CPython {self.python} on {self.platform}"


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

    def secrets(self) -> list[str]:
        """The user names and passwords in these URLs, as written and decoded, longest first."""
        found: set[str] = set()
        for url in (self.index_url or "", *self.extra_index_urls, *self.find_links):
            parts = urlsplit(url) if "://" in url else None
            for part in (parts.username, parts.password) if parts else ():
                if part and len(part) >= 3:  # shorter ones would blot out every word
                    found |= {part, unquote(part)}
        return sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """`text` with no URL's user or password, nor these URLs' anywhere else in it."""
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return redact_urls(text)

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


def download(
    pip: Sequence[str], asked: Iterable[str], target: Target, sources: Sources, dest: Path
) -> None:
    """Have pip save the wheels of `asked` and everything they need (as pip sees it) in
    `dest`. Raises PipError."""
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
    said = " ".join(sources.redact(said).split())
    if len(said) > SHOWN:
        said = said[: SHOWN - 3] + "..."
    return (
        f"pip download failed: {said}. `engage-sync lock` needs network access to the package "
        f"index (looked in: {sources.describe()}), and the release it locks on that index "
        "(or --find-links DIR with its wheel)"
    )
