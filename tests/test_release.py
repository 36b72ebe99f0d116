"""The release: what `scripts/release.sh` builds and checks (the release workflow runs it before
publishing), the notes taken from the CHANGELOG, the composite action, the release workflow."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, engage_sync, user_env

from engage_sync import __version__


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        cwd=REPO,
        env=user_env({"PYTHON": sys.executable, "RELEASE_NO_ISOLATION": "1", **(env or {})}),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_the_release_is_built_checked_installed_and_smoke_tested(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    done = script("scripts/release.sh", str(out), env={"RELEASE_TAG": f"v{__version__}"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"release {__version__}:" in done.stdout and "smoke-tested" in done.stdout
    (wheel,) = out.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for packaged in (
        "engage_sync/py.typed",
        "engage_sync/schemas/leadset.schema.json",
        "engage_sync/templates/apply.yml",
        "engage_sync/emulator/engage_schemas.json",
        f"engage_sync-{__version__}.dist-info/licenses/LICENSE",
    ):
        assert packaged in names, packaged
    schema = zipfile.ZipFile(wheel).read("engage_sync/schemas/leadset.schema.json")
    assert schema == (REPO / "schemas" / "leadset.schema.json").read_bytes()
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "action.yml", "tests/conftest.py"} <= members


def test_a_tag_that_is_not_the_version_stops_the_release_before_building(tmp_path: Path) -> None:
    done = script("scripts/release.sh", str(tmp_path / "dist"), env={"RELEASE_TAG": "v9.9.9"})
    assert done.returncode == 1
    assert f"the tag is v9.9.9 but the package version is {__version__}" in done.stderr
    assert not (tmp_path / "dist").exists()


def test_release_notes_are_the_versions_changelog_section() -> None:
    notes = script("scripts/release-notes.sh", f"v{__version__}")
    assert notes.returncode == 0, notes.stderr
    assert notes.stdout.startswith("The first release.") and "## [" not in notes.stdout
    missing = script("scripts/release-notes.sh", "9.9.9")
    assert missing.returncode == 1 and "no section for 9.9.9" in missing.stderr


def test_one_version_everywhere() -> None:
    assert importlib.metadata.version("engage-sync") == __version__
    assert engage_sync("--version").out == f"engage-sync, version {__version__}\n"


def test_the_release_workflow_publishes_with_trusted_publishing_only() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}
    jobs = workflow["jobs"]
    minting = [name for name, job in jobs.items() if "id-token" in job["permissions"]]
    assert minting == ["publish"] and jobs["publish"]["environment"] == "pypi"
    assert jobs["publish"]["needs"] == "build" and jobs["github-release"]["needs"] == "publish"
    build_runs = [s.get("run", "") for s in jobs["build"]["steps"]]
    assert "scripts/release.sh dist" in build_runs
    uses = [s["uses"] for job in jobs.values() for s in job["steps"] if "uses" in s]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    assert not any("password" in str(s) for job in jobs.values() for s in job["steps"])


def test_the_composite_action_installs_a_pinned_engage_sync_and_runs_one_ci_command(
    tmp_path: Path,
) -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == {"command", "version", "python-version", "working-directory"}
    assert set(action["outputs"]) == {"has-changes", "checksum", "plan-dir"}
    steps = action["runs"]["steps"]
    assert all(
        "@" in s["uses"] and len(s["uses"].split("@")[1]) == 40 for s in steps if "uses" in s
    )
    run = next(s for s in steps if s.get("id") == "run")
    refused = subprocess.run(
        ["bash", "-c", run["run"]],
        env={**os.environ, "COMMAND": "destroy"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert refused.returncode == 64 and "must be plan, apply or drift" in refused.stdout
    # a plan through the action's own step: engage-sync ci plan, its outputs for later steps
    outputs = tmp_path / "outputs"
    repo = tmp_path / "repo"
    assert engage_sync("init", str(repo)).code == 0
    env = {**user_env(), "COMMAND": "plan", "GITHUB_OUTPUT": str(outputs)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    planned = subprocess.run(
        ["bash", "-c", run["run"]], env=env, capture_output=True, text=True, cwd=repo
    )
    assert planned.returncode == 0, planned.stderr
    assert "has-changes=true" in outputs.read_text()
