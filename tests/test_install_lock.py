"""`engage-sync lock` (gitops/install_lock.py, cli/lock.py): the hashed lock the scaffolded
workflows install from. Fast tests lock wheels made here through the real pip with `--no-index`;
the end-to-end ones build engage-sync's wheel, lock it with its dependencies from the package
index, and run the workflows' install step with that lock in a fresh virtual environment."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, engage_sync, user_env
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from engage_sync import __version__
from engage_sync.errors import PipError
from engage_sync.gitops.install_lock import Lock, Pin, lock, needed, pinned_version
from engage_sync.gitops.pip import Sources, Target

HASH = re.compile(r"    --hash=sha256:[0-9a-f]{64}")


def wheel(folder: Path, name: str, version: str, *requires: str) -> Path:
    """A minimal wheel of `name` that asks for `requires` (Requires-Dist lines)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{dist}.dist-info/METADATA", metadata)
        archive.writestr(
            f"{dist}.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the file format


def test_a_lock_is_a_requirements_file_of_pinned_packages_each_with_its_hashes(
    tmp_path: Path,
) -> None:
    made = Lock(
        f"engage-sync=={__version__}",
        Target(),
        (
            Pin("click", "8.1.7", ("a" * 64,)),
            Pin("engage-sync", __version__, ("b" * 64, "c" * 64)),
        ),
    )
    text = made.render()
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert "CPython 3.11 on manylinux_2_39_x86_64" in comments[1]
    assert "#   python -m pip install --require-hashes --no-deps -r .github/engage-sync.lock" in (
        comments
    )
    body = text.splitlines()[len(comments) :]
    assert body == [
        "click==8.1.7 \\",
        f"    --hash=sha256:{'a' * 64}",
        f"engage-sync=={__version__} \\",
        f"    --hash=sha256:{'b' * 64} \\",
        f"    --hash=sha256:{'c' * 64}",
    ]
    assert all(len(line) <= 100 for line in text.splitlines())
    path = tmp_path / "engage-sync.lock"
    path.write_text(text)
    assert pinned_version(path) == __version__
    assert pinned_version(path, "Click") == "8.1.7"
    assert pinned_version(path, "httpx") is None
    assert pinned_version(tmp_path / "none.lock") is None


# -- resolving for the target


def test_what_the_target_needs_follows_its_markers_and_extras() -> None:
    def w(name: str, version: str, *requires: str) -> Any:
        from packaging.version import Version

        from engage_sync.gitops.install_lock import Wheel

        return Wheel(name, Version(version), "0" * 64, tuple(Requirement(r) for r in requires))

    wheels = {
        "root": w("root", "1", 'old; python_version < "3.11"', "fast[speed]>=2"),
        "fast": w("fast", "2.1", 'rocket; extra == "speed"', 'slow; extra == "never"'),
        "rocket": w("rocket", "1"),
        "new": w("new", "1"),
    }
    names, missing = needed(Requirement("root==1"), wheels, Target("3.10").environment())
    assert names == ["root", "fast", "rocket"]
    assert [str(m) for m in missing] == ["old"]  # asked for again, without its marker
    names, missing = needed(Requirement("root==1"), wheels, Target("3.11").environment())
    assert names == ["root", "fast", "rocket"] and missing == []
    wheels["fast"] = w("fast", "1.9")
    with pytest.raises(PipError, match=r"pip chose fast 1\.9, but fast\[speed\]>=2 asks"):
        needed(Requirement("root==1"), wheels, Target().environment())


def test_a_lock_made_on_another_python_holds_what_the_target_needs(tmp_path: Path) -> None:
    """pip evaluates markers on the Python running it: the lock asks again for what they cut
    off on the target, and leaves out what only the running Python needs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, "demo-root", "1.0", 'demo-old; python_version < "3.11"', "demo-any")
    wheel(wheels, "demo-any", "2.0", 'demo-new; python_version >= "3.11"')
    for name in ("demo-old", "demo-new"):
        wheel(wheels, name, "3.0")
    sources = Sources(find_links=(str(wheels),), no_index=True)
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = "3.10" if running != "3.10" else "3.11"
    made = lock("demo-root==1.0", Target(other), sources)
    expected = {"demo-root", "demo-any", "demo-old" if other < "3.11" else "demo-new"}
    assert {p.name for p in made.pins} == expected
    for pin in made.pins:
        (path,) = wheels.glob(f"{pin.name.replace('-', '_')}-*.whl")
        assert pin.hashes == (sha256(path),)


def saving(folder: Path) -> tuple[str, ...]:
    """A stand-in for pip that saves every file of `folder` wherever it is asked to."""
    script = (
        "import shutil, sys; from pathlib import Path; "
        "dest = sys.argv[sys.argv.index('--dest') + 1]; "
        f"[shutil.copy(f, dest) for f in Path({str(folder)!r}).iterdir()]"
    )
    return (sys.executable, "-c", script)


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({"notes.txt": b"x"}, "pip saved notes.txt, which is not a wheel"),
        ({"demo_root-1.0-py3-none-any.whl": b"not a zip"}, "cannot read the wheel demo_root"),
        ({"demo_root-1.0-py3-none-any.whl": None}, "no single .dist-info/METADATA"),
        ({"demo_root-1.0-py3-none-any.whl": "Requires-Dist: ((("}, "Requires-Dist (((:"),
        ({"demo_root-1.0-py3-none-any.whl": "Requires-Dist: demo-gone"}, "in 4 runs"),
        ({"demo_root-1.0-py3-none-any.whl": "", "demo_root-2.0-py3-none-any.whl": ""}, "two"),
    ],
)
def test_what_pip_saved_is_checked_before_it_is_locked(
    tmp_path: Path, files: dict[str, Any], said: str
) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    for name, content in files.items():
        if isinstance(content, str):  # a wheel whose METADATA has these lines
            _, version = name.split("-")[:2]
            made = wheel(folder, "demo-root", version, *([content[15:]] if content else []))
            assert made.name == name
        elif content is None:  # a zip without METADATA
            with zipfile.ZipFile(folder / name, "w") as archive:
                archive.writestr("demo_root/__init__.py", "")
        else:
            (folder / name).write_bytes(content)
    with pytest.raises(PipError, match=re.escape(said)):
        lock("demo-root", Target(), Sources(), pip=saving(folder))


# -- the command


@pytest.fixture
def own_wheel(tmp_path: Path) -> Path:
    """A folder with a stand-in wheel of this engage-sync release that needs nothing."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(folder, "engage-sync", __version__)
    return folder


def test_lock_writes_the_default_path_and_says_what_it_pinned(
    run: Any, own_wheel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("lock", "--find-links", str(own_wheel), "--no-index")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"Locked engage-sync {__version__} and 0 packages it needs, for CPython 3.11 on "
        f"manylinux_2_39_x86_64, from {own_wheel}: wrote .github/engage-sync.lock.",
        "Commit it: the workflows install from it (pip --require-hashes).",
    ]
    text = (tmp_path / ".github" / "engage-sync.lock").read_text()
    (path,) = own_wheel.glob("*.whl")
    assert f"engage-sync=={__version__} \\\n    --hash=sha256:{sha256(path)}\n" in text
    elsewhere = run("lock", "--find-links", str(own_wheel), "--no-index", "--out", "x.lock")
    assert elsewhere.code == 0 and (tmp_path / "x.lock").read_text() == text
    assert "The workflows install from .github/engage-sync.lock, not x.lock." in elsewhere.out


def test_with_the_state_in_s3_the_lock_holds_the_s3_extra(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "wheels"
    folder.mkdir()
    wheel(folder, "engage-sync", __version__, 'boto3>=1.35; extra == "s3"')
    wheel(folder, "boto3", "1.40.0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "engage-sync.yaml").write_text(
        "state: {backend: s3, bucket: acme-state, key: engage-sync.state.json}\n"
    )
    result = run("lock", "--find-links", str(folder), "--no-index")
    assert result.code == 0, result.err
    assert "and 1 packages it needs" in result.out
    text = (tmp_path / ".github" / "engage-sync.lock").read_text()
    assert "boto3==1.40.0 \\\n" in text and f"engage-sync=={__version__} \\\n" in text


def test_lock_that_cannot_reach_the_index_says_so_and_keeps_the_old_lock(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # none of this machine's local indexes
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    old = tmp_path / ".github" / "engage-sync.lock"
    old.parent.mkdir()
    old.write_text("engage-sync==0.0.1\n")
    # a port bound here but not listening stands for an index that cannot be reached
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://ci-user:hunter2-pass@127.0.0.1:{closed.getsockname()[1]}/simple"
        result = run("lock", "--index-url", url)
    assert result.code == 1
    (line,) = result.err.splitlines()
    assert line.startswith("error: pip download failed: ")
    assert "needs network access to the package index" in line
    assert "looked in: http://****@127.0.0.1:" in line
    assert "hunter2" not in result.out + result.err and "ci-user" not in result.err
    assert "Traceback" not in result.err
    assert old.read_text() == "engage-sync==0.0.1\n"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--platform", "win_amd64"], "give a Linux wheel platform"),
        (["--python-version", "3"], "give a Python version like 3.11"),
    ],
)
def test_lock_refuses_a_target_it_cannot_lock_for(run: Any, args: list[str], said: str) -> None:
    result = run("lock", *args)
    assert result.code == 64 and said in result.err


def test_lock_says_in_its_help_that_it_needs_the_index(run: Any) -> None:
    result = run("lock", "--help")
    assert "Needs network access to the package index" in " ".join(result.out.split())


# -- end to end: the real wheel, the real index, the workflows' own install step


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """engage-sync's wheel, built once per session from this checkout."""
    out = tmp_path_factory.mktemp("wheelhouse")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return out


def index_reachable(tmp_path: Path) -> str | None:
    """None when pip can download from the configured index, else what pip said."""
    probe = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"),
            *("--dest", str(tmp_path / "probe"), "click"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["?"])[-1]


@pytest.fixture(scope="module")
def locked(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository `engage-sync init` made, locked by the installed `engage-sync lock` with
    the built wheel and its dependencies from the package index."""
    repo = tmp_path_factory.mktemp("locked") / "repo"
    assert engage_sync("init", str(repo)).code == 0
    done = engage_sync("lock", "--find-links", str(wheelhouse), cwd=repo, timeout=600)
    if done.code != 0:
        unreachable = index_reachable(tmp_path_factory.mktemp("probe"))
        if unreachable:
            pytest.skip(f"the package index is unreachable from here: {unreachable}")
    assert done.code == 0, done.err
    return repo


@pytest.fixture(scope="module")
def venv_with_pip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtual environment with pip, copied by each test (ensurepip takes seconds)."""
    venv = tmp_path_factory.mktemp("venv") / "template"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return venv


def install_step(repo: Path, venv: Path, wheelhouse: Path) -> subprocess.CompletedProcess[str]:
    """The scaffolded workflows' install step as the runner runs it, `python` being the
    virtual environment's (setup-python's), and pip finding the built wheel besides the index."""
    steps = []
    for name in ("plan.yml", "apply.yml", "drift.yml"):
        (job,) = yaml.safe_load((repo / ".github" / "workflows" / name).read_text())[
            "jobs"
        ].values()
        steps.append(next(s for s in job["steps"] if s.get("name") == "Install engage-sync"))
    assert steps[0] == steps[1] == steps[2]
    links = f"{wheelhouse} {os.environ.get('PIP_FIND_LINKS', '')}".strip()
    env = user_env(
        {
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "PIP_FIND_LINKS": links,
            **steps[0]["env"],
        }
    )
    return subprocess.run(
        ["bash", "-e", "-c", steps[0]["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.e2e
@pytest.mark.slow
def test_the_workflows_install_engage_sync_and_its_dependencies_from_the_lock(
    locked: Path, wheelhouse: Path, venv_with_pip: Path, tmp_path: Path
) -> None:
    text = (locked / ".github" / "engage-sync.lock").read_text()
    (built,) = wheelhouse.glob("*.whl")
    assert f"engage-sync=={__version__} \\\n    --hash=sha256:{sha256(built)}\n" in text
    body = [line for line in text.splitlines() if not line.startswith("#")]
    for line in body:
        assert re.fullmatch(r"[a-z0-9-]+==\S+ \\", line) or HASH.fullmatch(line.rstrip(" \\"))
    pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+) \\$", text, re.M))
    for dependency in importlib.metadata.requires("engage-sync") or []:
        req = Requirement(dependency)
        if req.marker is None:  # not an extra (dev)
            assert req.specifier.contains(pins[canonicalize_name(req.name)]), dependency
    venv = tmp_path / "venv"
    shutil.copytree(venv_with_pip, venv, symlinks=True)
    installed = install_step(locked, venv, wheelhouse)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    version = subprocess.run(
        [str(venv / "bin" / "engage-sync"), "--version"], capture_output=True, text=True
    )
    assert version.stdout == f"engage-sync, version {__version__}\n"
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout  # every dependency is there, none missing


@pytest.mark.e2e
@pytest.mark.slow
def test_a_tampered_hash_in_the_lock_stops_the_install(
    locked: Path, wheelhouse: Path, venv_with_pip: Path, tmp_path: Path
) -> None:
    text = (locked / ".github" / "engage-sync.lock").read_text()
    # a dependency's wheel that is not the one locked, as a compromised index would serve it
    tampered, count = re.subn(
        r"^(click==\S+ \\\n    --hash=sha256:)[0-9a-f]{64}",
        lambda m: m.group(1) + hashlib.sha256(b"not the wheel locked").hexdigest(),
        text,
        flags=re.M,
    )
    assert count == 1
    repo = tmp_path / "repo"
    shutil.copytree(locked / ".github", repo / ".github")
    (repo / ".github" / "engage-sync.lock").write_text(tampered)
    venv = tmp_path / "venv"
    shutil.copytree(venv_with_pip, venv, symlinks=True)
    installed = install_step(repo, venv, wheelhouse)
    assert installed.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in installed.stderr
    assert re.search(r"click==\S+ from .*\n\s+Expected sha256 ", installed.stderr)
    assert not (venv / "bin" / "engage-sync").exists()
